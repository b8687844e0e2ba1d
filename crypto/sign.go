package crypto

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"hash"

	b64char "github.com/crumbs-go/session/internal/b64"
	"github.com/crumbs-go/session/internal/errs"
)

const (
	// MaxSignedPayload is the longest payload Sign accepts, in bytes.
	MaxSignedPayload = 1024

	sigBytes = 1 + KeyIDSize + sha256.Size
	sigChars = (sigBytes*8 + 5) / 6 // base64url without padding: 50
)

// Sign returns payload followed by its signature: base64url of the version,
// the key ID and an HMAC-SHA256 under the primary secret's signing key,
// bound to the cookie called name (spec/cookie-v1.md §7). The result is all
// base64url, so it can travel like a sealed value. payload must be 1 to
// MaxSignedPayload base64url characters; anything else is an error.
func (r *Ring) Sign(name, payload string) (string, error) {
	if err := checkName(name); err != nil {
		return "", err
	}
	if len(payload) == 0 || len(payload) > MaxSignedPayload || !signable(payload) {
		return "", fmt.Errorf("crypto: payload of %d bytes: it must be 1 to %d base64url characters", len(payload), MaxSignedPayload)
	}
	k := &r.keys[0]
	var sig [sigBytes]byte
	sig[0] = version
	copy(sig[1:], k.id[:])
	mac(k, sig[:1+KeyIDSize], name, payload, sig[1+KeyIDSize:1+KeyIDSize])
	out := make([]byte, len(payload)+sigChars)
	copy(out, payload)
	b64.Encode(out[len(payload):], sig[:])
	return stringOf(out), nil
}

// Verify checks a value made by Sign for the cookie called name and returns
// its payload. stale reports that a secret other than the first verified it:
// sign the payload again. Every failure wraps ErrInvalid.
func (r *Ring) Verify(name, signed string) (payload string, stale bool, err error) {
	if err := checkName(name); err != nil {
		return "", false, fmt.Errorf("%w: %w", err, errs.ErrInvalid)
	}
	if len(signed) > MaxSignedPayload+sigChars || len(signed) < 1+sigChars {
		return "", false, errs.Reason("crypto: signed value has the wrong length")
	}
	at := len(signed) - sigChars
	payload = signed[:at]
	if !signable(payload) || hasLineBreak(signed[at:]) {
		return "", false, errs.Reason("crypto: signed value is malformed")
	}
	var sig [sigBytes + 2]byte // DecodedLen(50) = 37, with slack
	n, err := b64.Decode(sig[:], bytesOf(signed[at:]))
	if err != nil || n != sigBytes {
		return "", false, errs.Reason("crypto: signature is not canonical base64url")
	}
	if sig[0] != version {
		return "", false, errs.Reason("crypto: unsupported version")
	}
	k, idx := r.key(sig[1 : 1+KeyIDSize])
	if k == nil {
		return "", false, errs.Reason("crypto: unknown key ID (signed with a secret that is not in the ring)")
	}
	var want [sha256.Size]byte
	mac(k, sig[:1+KeyIDSize], name, payload, want[:0])
	if !hmac.Equal(want[:], sig[1+KeyIDSize:sigBytes]) {
		return "", false, errs.Reason("crypto: signature does not verify")
	}
	return payload, idx != 0, nil
}

// mac writes HMAC-SHA256(k.mac, header || u16(len(name)) || name || payload)
// after dst's length, into its capacity (32 bytes).
func mac(k *ringKey, header []byte, name, payload string, dst []byte) {
	st := k.macs.Get().(*macState)
	defer k.macs.Put(st)
	st.h.Reset()
	// Through the hash.Hash interface every argument escapes: what goes in
	// and what comes out pass through st's own arrays, so that the
	// callers' stay on their stacks.
	n := copy(st.buf[:], header)
	binary.BigEndian.PutUint16(st.buf[n:], uint16(len(name)))
	st.h.Write(st.buf[:n+2])
	writeString(st.h, name)
	writeString(st.h, payload)
	copy(dst[len(dst):cap(dst)], st.h.Sum(st.sum[:0]))
}

// macState is an HMAC state of one key and its scratch space.
type macState struct {
	h   hash.Hash
	buf [1 + KeyIDSize + 2]byte
	sum [sha256.Size]byte
}

func writeString(h hash.Hash, s string) { h.Write(bytesOf(s)) }

func signable(s string) bool { return b64char.Valid(s) }
