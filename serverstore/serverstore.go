// Package serverstore is server mode: the cookie carries a signed session ID
// (spec/server-id-v1.md) and the session lives in a Backend — memory here,
// Redis and PostgreSQL in the redisstore and pgstore modules.
//
// A forged or unsigned ID is rejected before any backend round trip; an ID
// that verifies but is not in the backend gives a fresh session with a new
// ID (an ID from the client is never adopted). The backend keys records by a
// hash of the ID, so a copy of its data cannot be replayed as cookies.
//
// # Concurrency
//
// Every record has a version. A request saves only over the version it
// loaded; when another request saved meanwhile, the store reloads the newer
// version, re-applies this request's key-level changes (the keys it set,
// deleted or cleared) and tries again, a bounded number of times. Parallel
// requests that change different keys therefore all land; two that change
// the same key end with one of the two values, never a mix; and a session
// destroyed by one request is not brought back by another's save.
package serverstore

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"iter"
	"time"

	"github.com/crumbs-go/session"
	"github.com/crumbs-go/session/crypto"
	"github.com/crumbs-go/session/internal/b64"
	"github.com/crumbs-go/session/internal/errs"
)

var (
	// ErrNotFound is returned by a Backend's Get when the key is absent or
	// expired, and by Set when it writes over a version that no longer
	// exists. The same value as session.ErrNotFound.
	ErrNotFound = errs.ErrNotFound
	// ErrConflict is returned by a Backend's Set when the stored version is
	// not the one given.
	ErrConflict = errors.New("serverstore: version conflict")
)

// A Backend stores opaque session records by key, with a version for
// optimistic concurrency. It must be safe for concurrent use, and each
// method must be atomic.
type Backend interface {
	// Get returns the record stored under key and its version (at least 1).
	// It returns ErrNotFound when key is absent or expired; any other error
	// means the backend failed.
	Get(ctx context.Context, key string) (blob []byte, version uint64, err error)

	// Set stores blob under key until expires, if the stored version is
	// version, and returns the new version. version 0 means "create": the
	// key must be absent (or expired). Set returns ErrConflict when the
	// stored version differs, and ErrNotFound when version > 0 and the key
	// is absent.
	Set(ctx context.Context, key string, blob []byte, version uint64, expires time.Time) (uint64, error)

	// Delete removes key. Deleting an absent key is not an error.
	Delete(ctx context.Context, key string) error
}

// A Toucher moves a record's expiry without rewriting it. Optional.
type Toucher interface {
	// Touch sets the expiry of key; an absent key is ErrNotFound.
	Touch(ctx context.Context, key string, expires time.Time) error
}

// A Counter counts the live records. Optional.
type Counter interface {
	Count(ctx context.Context) (int, error)
}

// A Clearer removes every record. Optional.
type Clearer interface {
	Clear(ctx context.Context) error
}

// An Iterator lists the keys of the live records. Optional.
type Iterator interface {
	// Keys yields every live key, or an error that ends the iteration.
	Keys(ctx context.Context) iter.Seq2[string, error]
}

// A Store is a session.Store over a Backend.
type Store struct {
	backend Backend
	ring    *crypto.Ring
	rawIDs  bool
	retries int
}

var _ session.Store = (*Store)(nil)

type config struct {
	rawIDs  bool
	retries int
}

// An Option configures a Store.
type Option func(*config) error

// WithRawIDs keys records by the session ID itself instead of its SHA-256
// hash, for backends shared with other applications that look sessions up
// by ID. A copy of the backend's keys can then be replayed as (unsigned)
// IDs, which the signature still stops without the secret. Off by default.
func WithRawIDs() Option { return func(c *config) error { c.rawIDs = true; return nil } }

// WithMaxRetries sets how many times Save reloads, merges and retries when
// another request saved the same session meanwhile. The default is 8; the
// range is 0 to 100.
func WithMaxRetries(n int) Option {
	return func(c *config) error {
		if n < 0 || n > 100 {
			return fmt.Errorf("serverstore: WithMaxRetries(%d): give 0 to 100", n)
		}
		c.retries = n
		return nil
	}
}

// New returns a Store over backend that signs IDs with secrets[0] and
// verifies them with any of secrets (each at least 32 random bytes). An ID
// signed with an older secret is signed again with the first on its next
// response.
func New(backend Backend, secrets [][]byte, opts ...Option) (*Store, error) {
	if backend == nil {
		return nil, errors.New("serverstore: New(nil, …): give a Backend, such as NewMemory()")
	}
	c := config{retries: 8}
	for _, o := range opts {
		if err := o(&c); err != nil {
			return nil, err
		}
	}
	ring, err := crypto.New(secrets)
	if err != nil {
		return nil, fmt.Errorf("serverstore: %w", err)
	}
	return &Store{backend: backend, ring: ring, rawIDs: c.rawIDs, retries: c.retries}, nil
}

// Backend returns the store's backend.
func (s *Store) Backend() Backend { return s.backend }

// Key returns the backend key of a session ID: base64url(SHA-256(id)), or
// the ID itself with WithRawIDs.
func (s *Store) Key(id string) string {
	if s.rawIDs {
		return id
	}
	sum := sha256.Sum256([]byte(id))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

const (
	minIDLen    = 22 // 128 bits, base64url
	maxIDLen    = 64
	blobFormat  = 1
	blobHeader  = 1 + 1 + 8 + 8
	flagBrowser = 1 << 0
	// maxTTL bounds a record without deadlines, like a cookie's Max-Age.
	maxTTL = 400 * 24 * time.Hour
)

// Load verifies the signed ID, then reads the record: one backend round trip.
func (s *Store) Load(ctx context.Context, name, value string, now time.Time) (*session.Record, error) {
	id, stale, err := s.ring.Verify(name, value)
	if err != nil {
		return nil, err
	}
	if len(id) < minIDLen || len(id) > maxIDLen || !b64.Valid(id) {
		return nil, errs.Reason("serverstore: the signed value is not a session ID")
	}
	blob, version, err := s.backend.Get(ctx, s.Key(id))
	if err != nil {
		return nil, err
	}
	rec, err := decodeBlob(blob)
	if err != nil {
		return nil, err
	}
	rec.ID, rec.Version, rec.Stale = id, version, stale
	return rec, nil
}

// Save writes rec with a version check, merging over newer versions, and
// returns the signed ID for the cookie.
func (s *Store) Save(ctx context.Context, name string, rec *session.Record, now time.Time) (string, error) {
	if len(rec.ID) < minIDLen || len(rec.ID) > maxIDLen || !b64.Valid(rec.ID) {
		return "", fmt.Errorf("serverstore: session ID %q is not 22 to 64 base64url characters", rec.ID)
	}
	value, err := s.ring.Sign(name, rec.ID)
	if err != nil {
		return "", err
	}
	key, expires := s.Key(rec.ID), expiry(rec, now)
	if rec.Unchanged && rec.Version > 0 {
		if t, ok := s.backend.(Toucher); ok {
			return value, t.Touch(ctx, key, expires)
		}
	}
	blob := encodeBlob(rec, rec.Data)
	for attempt := 0; ; attempt++ {
		v, err := s.backend.Set(ctx, key, blob, rec.Version, expires)
		if err == nil {
			rec.Version = v
			return value, nil
		}
		if !errors.Is(err, ErrConflict) || attempt >= s.retries {
			return "", err
		}
		// Another request saved meanwhile: merge this request's changes
		// onto its version and try again over that version.
		cur, version, err := s.backend.Get(ctx, key)
		if err != nil {
			return "", err // ErrNotFound: destroyed meanwhile, which wins
		}
		curRec, err := decodeBlob(cur)
		if err != nil {
			return "", fmt.Errorf("serverstore: stored record: %w", err)
		}
		data := rec.Data
		if rec.Merge != nil {
			if data, err = rec.Merge(curRec.Data); err != nil {
				return "", fmt.Errorf("serverstore: merge: %w", err)
			}
		}
		rec.Version, blob = version, encodeBlob(rec, data)
	}
}

// Delete removes the record.
func (s *Store) Delete(ctx context.Context, _ string, rec *session.Record) error {
	return s.backend.Delete(ctx, s.Key(rec.ID))
}

// expiry is when the backend may drop the record: the session's deadline.
func expiry(rec *session.Record, now time.Time) time.Time {
	d := rec.Expires
	if !rec.IdleExpires.IsZero() && (d.IsZero() || rec.IdleExpires.Before(d)) {
		d = rec.IdleExpires
	}
	if d.IsZero() || d.Sub(now) > maxTTL {
		d = now.Add(maxTTL)
	}
	return d
}

// encodeBlob lays out a record (spec/server-id-v1.md §4):
// format(1) || flags(1) || u64 absolute || u64 idle || data.
func encodeBlob(rec *session.Record, data []byte) []byte {
	b := make([]byte, blobHeader, blobHeader+len(data))
	b[0] = blobFormat
	if rec.BrowserSession {
		b[1] |= flagBrowser
	}
	binary.BigEndian.PutUint64(b[2:], unix(rec.Expires))
	binary.BigEndian.PutUint64(b[10:], unix(rec.IdleExpires))
	return append(b, data...)
}

func decodeBlob(b []byte) (*session.Record, error) {
	if len(b) < blobHeader || b[0] != blobFormat || b[1]&^flagBrowser != 0 {
		return nil, errs.Reason("serverstore: malformed stored record")
	}
	abs, idle := binary.BigEndian.Uint64(b[2:]), binary.BigEndian.Uint64(b[10:])
	if abs > 1<<62 || idle > 1<<62 {
		return nil, errs.Reason("serverstore: malformed stored record")
	}
	return &session.Record{
		Data:           b[blobHeader:],
		Expires:        fromUnix(abs),
		IdleExpires:    fromUnix(idle),
		BrowserSession: b[1]&flagBrowser != 0,
	}, nil
}

func unix(t time.Time) uint64 {
	if t.IsZero() || t.Unix() < 0 {
		return 0
	}
	return uint64(t.Unix())
}

func fromUnix(s uint64) time.Time {
	if s == 0 {
		return time.Time{}
	}
	return time.Unix(int64(s), 0)
}
