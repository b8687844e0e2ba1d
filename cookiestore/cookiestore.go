// Package cookiestore is the stateless session store: the whole session is
// sealed into the cookie value (spec/cookie-v1.md) and nothing is kept on
// the server, for serverless functions and edge deployments without shared
// storage. The [session.Manager] splits the value across cookies when it
// needs more than one; [New] takes the secrets, which
// [session.ParseSecrets] reads from an environment variable.
//
// A cookie store cannot revoke a session before its deadline: a copy of the
// cookie stays valid until it expires. Keep lifetimes short, or use server
// mode where revocation matters.
package cookiestore

import (
	"context"
	"crypto/fips140"
	"encoding/binary"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unsafe"

	"github.com/crumbs-go/session/crypto"
	"github.com/crumbs-go/session/driver"
	"github.com/crumbs-go/session/internal/errs"
	"github.com/crumbs-go/session/internal/params"
	"github.com/crumbs-go/session/internal/sid"
	"github.com/crumbs-go/session/internal/timex"
	"github.com/crumbs-go/session/serverstore"
)

// A Store seals sessions into cookie values. It is immutable and safe for
// concurrent use.
type Store struct {
	ring *crypto.Ring
	rev  *revocation // WithRevocation; nil without
}

var (
	_ driver.Store   = (*Store)(nil)
	_ driver.Indexer = (*Store)(nil)
)

type config struct {
	ring []crypto.Option

	rev      serverstore.Backend
	interval *time.Duration
	timeout  time.Duration
	failOpen bool
	grace    *time.Duration
	signIns  bool
}

// An Option configures a Store.
type Option func(*config) error

// WithCompressionThreshold sets the encoded session size, in bytes, from
// which values are Zstandard-compressed when that makes them smaller. The
// default is 512; 0 turns compression off.
func WithCompressionThreshold(n int) Option {
	return func(c *config) error { c.ring = append(c.ring, crypto.WithCompressionThreshold(n)); return nil }
}

// WithCipher sets the AEAD that seals cookies: crypto.XChaCha20Poly1305
// (the default, spec/cookie-v1.md §3) or crypto.AES256GCM (§3.4: AES-256-GCM
// under a key derived for each cookie with HKDF-SHA256, approved under FIPS
// 140-3, 4 bytes longer). Cookies of either kind open whatever the setting,
// so switching is a plain deploy: a cookie sealed before is re-sealed with
// the new cipher on its next response. A session within 6 bytes of the
// cookie budget no longer fits: it keeps its old cookie, which still opens,
// without an idle refresh (it ends at its idle deadline unless a change
// that fits re-seals it; the Manager warns once): raise the budget
// (session.WithTotalBudget) before switching if sessions run that close.
// In FIPS 140-only mode (GODEBUG=fips140=only) New requires
// crypto.AES256GCM, and an XChaCha20-Poly1305 cookie yields a fresh
// session. The configuration
// string's form is "cookie?crumbs_cipher=aes-256-gcm".
func WithCipher(c crypto.Cipher) Option {
	return func(cfg *config) error { cfg.ring = append(cfg.ring, crypto.WithCipher(c)); return nil }
}

// WithPadding pads every sealed session to a multiple of bucket bytes
// (16 to 4096; 0, the default, pads nothing), so that the cookie's length
// tells a network observer, or the client, the length of the session's
// compressed data only to within bucket bytes: against guessing a secret
// value from the length of its compressed form when the session also holds
// data an attacker chooses (SECURITY.md). A cookie grows by up to bucket+1
// bytes. Cookies open whatever the setting. The configuration string's form
// is "cookie?crumbs_padding=256".
func WithPadding(bucket int) Option {
	return func(c *config) error { c.ring = append(c.ring, crypto.WithPadding(bucket)); return nil }
}

// WithMaxDataSize sets the largest encoded session, in bytes, that is sealed
// or decompressed. The default is 128 KiB; at most 16 MiB. A compressed
// cookie that would expand past it is rejected without allocating past it.
func WithMaxDataSize(n int) Option {
	return func(c *config) error { c.ring = append(c.ring, crypto.WithMaxDataSize(n)); return nil }
}

// New returns a Store that seals with secrets[0] and opens with any of
// secrets. Each secret must be at least 32 random bytes; New names the
// position of one that is too short or repeated. To rotate, put the new
// secret first and keep the old one after it: cookies sealed under the old
// one are re-sealed under the new one on their next response.
func New(secrets [][]byte, opts ...Option) (*Store, error) {
	var c config
	for _, o := range opts {
		if err := o(&c); err != nil {
			return nil, err
		}
	}
	ring, err := crypto.New(secrets, c.ring...)
	if err != nil {
		return nil, fmt.Errorf("cookiestore: %w", err)
	}
	// FIPS 140-only mode (GODEBUG=fips140=only) refuses XChaCha20-Poly1305:
	// fail here, not on the first request.
	if fips140.Enforced() {
		if _, err := ring.Seal("crumbs", crypto.Payload{IssuedAt: time.Unix(0, 0)}); err != nil {
			return nil, fmt.Errorf("cookiestore: %w (in FIPS 140-only mode, seal with cookiestore.WithCipher(crypto.AES256GCM), or crumbs_cipher=aes-256-gcm in the configuration string)", err)
		}
	}
	rev, err := newRevocation(&c)
	if err != nil {
		return nil, err
	}
	return &Store{ring: ring, rev: rev}, nil
}

// The cookie store's configuration string: "cookie", or with parameters
// "cookie?crumbs_cipher=aes-256-gcm&crumbs_padding=256" (WithCipher,
// WithPadding).
func init() {
	driver.Register("cookie", func(_ context.Context, config string, secrets [][]byte) (driver.Store, error) {
		const usage = "cookiestore: the cookie store's configuration string is \"cookie\", or with parameters \"cookie?crumbs_cipher=aes-256-gcm&crumbs_padding=256\" (crumbs_cipher: xchacha20-poly1305 or aes-256-gcm)"
		rest, ok := strings.CutPrefix(config, "cookie")
		if !ok || (rest != "" && rest[0] != '?') {
			return nil, errors.New(usage)
		}
		q, err := url.ParseQuery(strings.TrimPrefix(rest, "?"))
		if err != nil {
			return nil, errors.New(usage)
		}
		var opts []Option
		const pkg = "cookiestore"
		err = params.Each(pkg, q, func(string) bool { return true }, func(name, v string) error {
			switch name {
			case "crumbs_padding":
				n, err := strconv.Atoi(v)
				if err != nil {
					return params.Bad(pkg, name, v, "a bucket in bytes, 16 to 4096, or 0")
				}
				opts = append(opts, WithPadding(n))
				return nil
			case "crumbs_cipher":
			default:
				return fmt.Errorf("cookiestore: unknown parameter %q of the cookie store (its parameters are crumbs_cipher and crumbs_padding)", name)
			}
			c, err := crypto.ParseCipher(v)
			if err != nil {
				return params.Bad(pkg, name, v, fmt.Sprintf("%q or %q", crypto.XChaCha20Poly1305, crypto.AES256GCM))
			}
			opts = append(opts, WithCipher(c))
			return nil
		})
		if err != nil {
			return nil, err
		}
		return New(secrets, opts...)
	})
}

// The sealed data of a session (spec/cookie-v1.md §10):
// flags(1) || u8(len(id)) || id || [u16(len(cookie)) || cookie] ||
// [u8(len(user)) || user || u64(bound) || u64(checked)] ||
// [u64(returned)] || values, the cookie attributes present when flagCookie
// is set, the binding when flagBinding is, the time the session returned
// from a server record when flagReturned is (spec/spill-over-v1.md).
const (
	flagBrowserSession = 1 << 0
	flagCookie         = 1 << 1
	flagBinding        = 1 << 2
	flagReturned       = 1 << 3
	flagsKnown         = flagBrowserSession | flagCookie | flagBinding | flagReturned
)

// Load opens the sealed value. The ring enforces the sealed deadlines.
func (s *Store) Load(ctx context.Context, name, value string, now time.Time) (*driver.Record, error) {
	rec, _, err := s.open(ctx, name, value, now)
	return rec, err
}

// open is Load, and the time the session returned to the cookie from a
// server record (spec/spill-over-v1.md), zero for none.
func (s *Store) open(ctx context.Context, name, value string, now time.Time) (*driver.Record, time.Time, error) {
	p, stale, err := s.ring.Open(name, value, now)
	if err != nil {
		return nil, time.Time{}, err
	}
	d := p.Data
	if len(d) < 2 || d[0]&^flagsKnown != 0 {
		return nil, time.Time{}, errs.Reason("cookiestore: malformed session data")
	}
	n := int(d[1])
	if len(d) < 2+n {
		return nil, time.Time{}, errs.Reason("cookiestore: malformed session ID")
	}
	values := d[2+n:]
	var cookie []byte
	if d[0]&flagCookie != 0 {
		if len(values) < 2 {
			return nil, time.Time{}, errs.Reason("cookiestore: malformed cookie attributes")
		}
		m := int(binary.BigEndian.Uint16(values))
		if m == 0 || m > driver.MaxCookieAttributes || len(values) < 2+m {
			return nil, time.Time{}, errs.Reason("cookiestore: malformed cookie attributes")
		}
		cookie, values = values[2:2+m:2+m], values[2+m:]
	}
	var user string
	var bound, checked uint64
	if d[0]&flagBinding != 0 {
		if len(values) < 1 {
			return nil, time.Time{}, errs.Reason("cookiestore: malformed binding")
		}
		m := int(values[0])
		if m == 0 || len(values) < 1+m+16 {
			return nil, time.Time{}, errs.Reason("cookiestore: malformed binding")
		}
		user = string(values[1 : 1+m])
		bound, checked = binary.BigEndian.Uint64(values[1+m:]), binary.BigEndian.Uint64(values[9+m:])
		if bound == 0 || bound >= 1<<62 || checked >= 1<<62 {
			return nil, time.Time{}, errs.Reason("cookiestore: malformed binding")
		}
		values = values[17+m:]
	}
	var returned time.Time
	if d[0]&flagReturned != 0 {
		if len(values) < 8 {
			return nil, time.Time{}, errs.Reason("cookiestore: malformed return time")
		}
		t := binary.BigEndian.Uint64(values)
		if t == 0 || t >= 1<<62 {
			return nil, time.Time{}, errs.Reason("cookiestore: malformed return time")
		}
		returned, values = time.UnixMilli(int64(t)), values[8:]
	}
	// The ID and the values are views of d, the plaintext Open allocated
	// for this call alone: nothing writes it again, so the string may
	// share its memory (no copy on the load path).
	id := unsafe.String(unsafe.SliceData(d[2:]), n)
	if !sid.Readable(id) {
		return nil, time.Time{}, errs.Reason("cookiestore: malformed session ID")
	}
	rec := &driver.Record{
		ID:             id,
		Data:           values,
		Expires:        p.Expires,
		IdleExpires:    p.IdleExpires,
		BrowserSession: d[0]&flagBrowserSession != 0,
		Cookie:         cookie,
		Stale:          stale,
		User:           user,
		Created:        timex.FromUnix(bound),
	}
	if s.rev == nil || user == "" {
		return rec, returned, nil // Seen stays zero: no check to seal again
	}
	rec, err = s.rev.check(ctx, rec, bound, time.Unix(int64(checked), 0), now)
	return rec, returned, err
}

// Save seals the whole session, whatever the commit's Op: the cookie is the
// only copy. Its error wraps session.ErrTooLarge when the data is over the
// maximum data size. With WithRevocation, a session bound to a user that
// this request has not checked yet is checked before it is sealed again
// (not a new one): ErrNotFound when it was revoked, ErrMoved when a
// Regenerate superseded it, so that a response never writes a revoked or
// older cookie over the browser's.
func (s *Store) Save(ctx context.Context, name string, c *driver.Commit, now time.Time) (string, error) {
	return s.seal(ctx, name, c, now, time.Time{})
}

// seal is Save, marking a session that returned from a server record at
// returned (not zero) as spec/spill-over-v1.md says.
func (s *Store) seal(ctx context.Context, name string, c *driver.Commit, now, returned time.Time) (string, error) {
	rec := &c.Record
	if !sid.Readable(rec.ID) {
		return "", fmt.Errorf("cookiestore: session ID %q: it must be 1 to %d base64url characters", rec.ID, sid.MaxLen)
	}
	if len(rec.User) > driver.MaxUser {
		return "", fmt.Errorf("cookiestore: binding of %d bytes, over %d", len(rec.User), driver.MaxUser)
	}
	if len(rec.Cookie) > driver.MaxCookieAttributes {
		return "", fmt.Errorf("cookiestore: cookie attributes of %d bytes, over %d", len(rec.Cookie), driver.MaxCookieAttributes)
	}
	var unchecked error
	if s.rev != nil && rec.User == "" && s.rev.signIns && c.Op != driver.OpCreate {
		// WithSignInGuard: an anonymous session a sign-in superseded is not
		// written back over the browser's signed-in cookie.
		if err := s.rev.checkSignIn(ctx, rec); err != nil {
			var u *errs.Unchecked
			if !errors.As(err, &u) {
				return "", err
			}
			unchecked = err
		}
	}
	if s.rev != nil && rec.User != "" && c.Op != driver.OpCreate {
		// A cookie due for no check at its load may have been revoked or
		// superseded since its last one: it is checked before it is written
		// back over the browser's cookie, which may be newer.
		if err := s.rev.checkWrite(ctx, rec, now); err != nil {
			var u *errs.Unchecked
			if !errors.As(err, &u) {
				return "", err
			}
			unchecked = err
		}
	}
	if rec.Data == nil && c.Encode != nil {
		// The values in one piece: the Manager leaves them to the store
		// that keeps them so (a server store never needs them).
		d, err := c.Encode(rec.Values)
		if err != nil {
			return "", err
		}
		rec.Data = d
	}
	data := make([]byte, 0, 2+len(rec.ID)+2+len(rec.Cookie)+17+len(rec.User)+8+len(rec.Data))
	var flags byte
	if !returned.IsZero() {
		flags |= flagReturned
	}
	if rec.BrowserSession {
		flags |= flagBrowserSession
	}
	if len(rec.Cookie) > 0 {
		flags |= flagCookie
	}
	if rec.User != "" {
		flags |= flagBinding
	}
	data = append(data, flags, byte(len(rec.ID)))
	data = append(data, rec.ID...)
	if len(rec.Cookie) > 0 {
		data = binary.BigEndian.AppendUint16(data, uint16(len(rec.Cookie)))
		data = append(data, rec.Cookie...)
	}
	if rec.User != "" {
		// Bound when the Manager created (or bound) the record; checked
		// when the revocation check last ran, else now.
		bound, checked := rec.Created, rec.Seen
		if bound.IsZero() {
			bound = now
		}
		switch {
		case s.rev == nil:
			checked = time.Time{} // never checked: due at once where a store checks
		case checked.IsZero():
			checked = now // a session bound now has nothing to be checked against
		}
		b, _ := timex.Unix(bound)
		c, _ := timex.Unix(checked)
		data = append(data, byte(len(rec.User)))
		data = append(data, rec.User...)
		data = binary.BigEndian.AppendUint64(data, max(b, 1))
		data = binary.BigEndian.AppendUint64(data, c)
	}
	if !returned.IsZero() {
		data = binary.BigEndian.AppendUint64(data, uint64(max(returned.UnixMilli(), 1)))
	}
	data = append(data, rec.Data...)
	v, err := s.ring.Seal(name, crypto.Payload{Data: data, IssuedAt: now, Expires: rec.Expires, IdleExpires: rec.IdleExpires})
	if err != nil {
		return "", fmt.Errorf("cookiestore: %w", err)
	}
	return v, unchecked
}

// Retire returns no values: the cookie is the only copy of a session, and
// the Manager seals it under the new ID. With WithRevocation, it records
// the old session of a user as revoked (superseded, for the grace, when
// next is bound to the same user).
func (s *Store) Retire(ctx context.Context, _ string, old, next *driver.Record, now time.Time) (*driver.Record, error) {
	switch {
	case s.rev != nil && old.User != "":
		return nil, s.rev.revoke(ctx, old, next, now)
	case s.rev != nil && s.rev.signIns:
		return nil, s.rev.signIn(ctx, old, now)
	}
	return nil, nil
}

// Delete keeps nothing to delete: the Manager expires the cookies. With
// WithRevocation, it records a session bound to a user as revoked until
// the latest deadline a copy of its cookie can have.
func (s *Store) Delete(ctx context.Context, _ string, rec *driver.Record, now time.Time) error {
	if s.rev != nil && rec.User != "" {
		return s.rev.revoke(ctx, rec, nil, now)
	}
	return nil
}

// Close does nothing: cookie mode holds no connection. It makes every
// store session.OpenStore returns an io.Closer.
func (s *Store) Close() error { return nil }

// Ping returns nil: cookie mode has no service to be down.
func (s *Store) Ping(context.Context) error { return nil }
