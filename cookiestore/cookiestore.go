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
	"time"
	"unsafe"

	"github.com/crumbs-go/session/crypto"
	"github.com/crumbs-go/session/driver"
	"github.com/crumbs-go/session/internal/errs"
	"github.com/crumbs-go/session/internal/sid"
)

// A Store seals sessions into cookie values. It is immutable and safe for
// concurrent use.
type Store struct {
	ring *crypto.Ring
}

var _ driver.Store = (*Store)(nil)

type config struct {
	ring []crypto.Option
}

// An Option configures a Store.
type Option func(*config) error

// WithCompressionThreshold sets the encoded session size, in bytes, from
// which values are Zstandard-compressed when that makes them smaller. The
// default is 512; 0 turns compression off.
func WithCompressionThreshold(n int) Option {
	return func(c *config) error { c.ring = append(c.ring, crypto.WithCompressionThreshold(n)); return nil }
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
	// Cookie mode seals with XChaCha20-Poly1305: fail here, not on the
	// first request, where it cannot (GODEBUG=fips140=only).
	if fips140.Enforced() {
		if _, err := ring.Seal("crumbs", crypto.Payload{IssuedAt: time.Unix(0, 0)}); err != nil {
			return nil, fmt.Errorf("cookiestore: %w (cookie mode cannot run in FIPS 140-only mode; server mode can)", err)
		}
	}
	return &Store{ring: ring}, nil
}

func init() {
	driver.Register("cookie", func(_ context.Context, config string, secrets [][]byte) (driver.Store, error) {
		if config != "cookie" {
			return nil, errors.New("cookiestore: the cookie store takes no parameters; write \"cookie\"")
		}
		return New(secrets)
	})
}

// The sealed data of a session (spec/cookie-v1.md §10):
// flags(1) || u8(len(id)) || id || [u16(len(cookie)) || cookie] || values,
// the cookie attributes present when flagCookie is set.
const (
	flagBrowserSession = 1 << 0
	flagCookie         = 1 << 1
)

// Load opens the sealed value. The ring enforces the sealed deadlines.
func (s *Store) Load(_ context.Context, name, value string, now time.Time) (*driver.Record, error) {
	p, stale, err := s.ring.Open(name, value, now)
	if err != nil {
		return nil, err
	}
	d := p.Data
	if len(d) < 2 || d[0]&^(flagBrowserSession|flagCookie) != 0 {
		return nil, errs.Reason("cookiestore: malformed session data")
	}
	n := int(d[1])
	if len(d) < 2+n {
		return nil, errs.Reason("cookiestore: malformed session ID")
	}
	values := d[2+n:]
	var cookie []byte
	if d[0]&flagCookie != 0 {
		if len(values) < 2 {
			return nil, errs.Reason("cookiestore: malformed cookie attributes")
		}
		m := int(binary.BigEndian.Uint16(values))
		if m == 0 || m > driver.MaxCookieAttributes || len(values) < 2+m {
			return nil, errs.Reason("cookiestore: malformed cookie attributes")
		}
		cookie, values = values[2:2+m:2+m], values[2+m:]
	}
	// The ID and the values are views of d, the plaintext Open allocated
	// for this call alone: nothing writes it again, so the string may
	// share its memory (no copy on the load path).
	id := unsafe.String(unsafe.SliceData(d[2:]), n)
	if !sid.Readable(id) {
		return nil, errs.Reason("cookiestore: malformed session ID")
	}
	return &driver.Record{
		ID:             id,
		Data:           values,
		Expires:        p.Expires,
		IdleExpires:    p.IdleExpires,
		BrowserSession: d[0]&flagBrowserSession != 0,
		Cookie:         cookie,
		Stale:          stale,
	}, nil
}

// Save seals the whole session, whatever the commit's Op: the cookie is the
// only copy. Its error wraps session.ErrTooLarge when the data is over the
// maximum data size.
func (s *Store) Save(_ context.Context, name string, c *driver.Commit, now time.Time) (string, error) {
	rec := &c.Record
	if !sid.Readable(rec.ID) {
		return "", fmt.Errorf("cookiestore: session ID %q: it must be 1 to %d base64url characters", rec.ID, sid.MaxLen)
	}
	if len(rec.Cookie) > driver.MaxCookieAttributes {
		return "", fmt.Errorf("cookiestore: cookie attributes of %d bytes, over %d", len(rec.Cookie), driver.MaxCookieAttributes)
	}
	data := make([]byte, 0, 2+len(rec.ID)+2+len(rec.Cookie)+len(rec.Data))
	var flags byte
	if rec.BrowserSession {
		flags |= flagBrowserSession
	}
	if len(rec.Cookie) > 0 {
		flags |= flagCookie
	}
	data = append(data, flags, byte(len(rec.ID)))
	data = append(data, rec.ID...)
	if len(rec.Cookie) > 0 {
		data = binary.BigEndian.AppendUint16(data, uint16(len(rec.Cookie)))
		data = append(data, rec.Cookie...)
	}
	data = append(data, rec.Data...)
	v, err := s.ring.Seal(name, crypto.Payload{Data: data, IssuedAt: now, Expires: rec.Expires, IdleExpires: rec.IdleExpires})
	if err != nil {
		return "", fmt.Errorf("cookiestore: %w", err)
	}
	return v, nil
}

// Retire does nothing and returns no values: the cookie is the only copy of
// a session, and the Manager seals it under the new ID.
func (s *Store) Retire(context.Context, string, *driver.Record, *driver.Record, time.Time) (*driver.Record, error) {
	return nil, nil
}

// Delete does nothing: a cookie store keeps nothing to delete. The Manager
// expires the cookies.
func (s *Store) Delete(context.Context, string, *driver.Record) error { return nil }

// Close does nothing: cookie mode holds no connection. It makes every
// store session.OpenStore returns an io.Closer.
func (s *Store) Close() error { return nil }

// Ping returns nil: cookie mode has no service to be down.
func (s *Store) Ping(context.Context) error { return nil }
