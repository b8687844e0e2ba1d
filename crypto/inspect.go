package crypto

import (
	"time"

	"github.com/crumbs-go/session/internal/errs"
)

// An Envelope is what a value's bytes say about it, for tools that explain
// a value to an operator (the crumbs command's inspect and rotate): see
// Inspect and InspectSigned. Applications use Open and Verify.
type Envelope struct {
	// Version is the envelope's version byte: 1 (XChaCha20-Poly1305) or 2
	// (AES-256-GCM) for a sealed value, 1 for a signed one; 0 when the
	// value is not canonical base64url or too short to hold a key ID.
	Version int
	// KeyID is the key ID of the secret that sealed or signed the value.
	KeyID [KeyIDSize]byte
	// Secret is the position in the ring of the secret with that key ID,
	// or -1 when the ring has none (a secret since removed, or another
	// application's).
	Secret int
	// Size is the value's length in bytes once decoded (of the signature
	// alone, for a signed value).
	Size int
	// Compressed reports a sealed value whose data was compressed, and
	// Padded one whose body was padded (WithPadding); known only once the
	// value opened.
	Compressed, Padded bool
}

// Inspect reads a value sealed for the cookie called name as Open does,
// and says what it holds even when Open would refuse it: the envelope's
// version, key ID and the position of its secret, and once authenticated,
// the payload with its times, also past its deadlines (the error then says
// which one passed, as Open's would). Every error wraps ErrInvalid.
func (r *Ring) Inspect(name, value string, now time.Time) (Envelope, Payload, error) {
	env := Envelope{Secret: -1}
	if b, err := b64.DecodeString(value); err == nil && len(b) >= 1+KeyIDSize && !hasLineBreak(value) {
		env.Version, env.Size = int(b[0]), len(b)
		copy(env.KeyID[:], b[1:])
		_, env.Secret = r.key(b[1 : 1+KeyIDSize])
	}
	// The epoch passes every deadline check: the times are read whatever
	// they are, and checked against now below.
	p, _, flags, err := r.open(name, value, time.Unix(0, 0))
	if err != nil {
		return env, Payload{}, err
	}
	env.Compressed, env.Padded = flags&flagZstd != 0, flags&flagPadded != 0
	sec := now.Unix()
	switch {
	case !p.Expires.IsZero() && sec >= p.Expires.Unix():
		return env, p, errs.Reason("crypto: expired (absolute deadline)")
	case !p.IdleExpires.IsZero() && sec >= p.IdleExpires.Unix():
		return env, p, errs.Reason("crypto: expired (idle deadline)")
	}
	return env, p, nil
}

// InspectSigned reads a value signed for the cookie called name as Verify
// does, and says what its signature holds even when Verify would refuse
// it: version, key ID and the position of its secret. Every error wraps
// ErrInvalid.
func (r *Ring) InspectSigned(name, signed string) (Envelope, string, error) {
	env := Envelope{Secret: -1}
	if len(signed) >= sigChars {
		if b, err := b64.DecodeString(signed[len(signed)-sigChars:]); err == nil && len(b) == sigBytes {
			env.Version, env.Size = int(b[0]), len(b)
			copy(env.KeyID[:], b[1:])
			_, env.Secret = r.key(b[1 : 1+KeyIDSize])
		}
	}
	payload, _, err := r.Verify(name, signed)
	return env, payload, err
}
