// Package serverstore is server mode: the token carries a signed session ID
// (spec/server-id-v1.md) and the session lives in a Backend — memory here,
// Redis and PostgreSQL in the redisstore and pgstore modules.
//
// A forged or unsigned ID is rejected before any backend round trip; an ID
// that verifies but is not in the backend gives a fresh session with a new
// ID (an ID from the client is never adopted). An external backend keys
// records by a hash of the ID, so a copy of its data cannot be replayed as
// cookies; the memory backend, whose keys never leave the process (which
// holds the secrets too), by the ID itself.
//
// # Concurrency
//
// A record keeps each value under its own key, and a save applies only what
// its request changed — keys set, keys deleted, all cleared — in one atomic
// step of the backend (one Redis script, one SQL statement, one locked map
// operation). Parallel requests that change different keys therefore never
// conflict and need no retry; two that set the same key end with one of the
// two values. Only session.Update compares: its change applies if the key
// still holds the value the request read, and otherwise the Manager re-runs
// the update on the newer value. A deadline refresh rewrites the record's
// header and expiry, never its values. A session destroyed by one request is
// not brought back by another's save or Regenerate: a Regenerate stores the
// session under its new ID, then retires the old one with one atomic step
// on the old key (a tombstone naming the new key) and gives up if the old
// record is gone, so no step ever spans two keys, which a Redis Cluster
// could not make atomic.
package serverstore

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"iter"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/crumbs-go/session/crypto"
	"github.com/crumbs-go/session/driver"
	"github.com/crumbs-go/session/internal/errs"
	"github.com/crumbs-go/session/internal/sid"
	"github.com/crumbs-go/session/internal/timex"
)

var (
	// ErrNotFound is returned by a Backend when the key is absent or
	// expired. The same value as driver.ErrNotFound.
	ErrNotFound = errs.ErrNotFound
	// ErrMoved is returned by a Backend for a key that a Regenerate
	// retired (a tombstone). The same value as driver.ErrMoved.
	ErrMoved = driver.ErrMoved
	// ErrExists is returned by a Backend's Create when the key is taken.
	// The same value as driver.ErrExists.
	ErrExists = driver.ErrExists
	// ErrLegacy is returned by a Backend's Apply for a record of the
	// format-1 layout, unless the Write converts it: the Store then
	// rewrites the record whole, in the current layout.
	ErrLegacy = errors.New("serverstore: the record has the format-1 layout")
	// ErrConverted is returned by a Backend's Apply for a Write that
	// converts a format-1 record when the record is no longer format 1
	// (another request converted it first): the Store then applies its
	// own changes instead.
	ErrConverted = errors.New("serverstore: the record was converted meanwhile")
)

// A Backend stores session records by key. Each record is a header (Meta)
// and a map of values, changed key by key. It must be safe for concurrent
// use, and each method must be atomic. Values handed in are the caller's:
// a Backend copies what it keeps. Values handed out are the caller's too,
// the Entry and its map included: the Store decodes into them in place.
type Backend interface {
	// Get returns the record under key: ErrNotFound when it is absent or
	// expired, ErrMoved when a Regenerate retired it (with an Entry holding
	// the Successor its tombstone names, when the backend can read it); any
	// other error means the backend failed.
	Get(ctx context.Context, key string) (*Entry, error)

	// Create stores e under key until expires. It returns ErrExists when
	// key holds a live record or a tombstone, except a tombstone naming
	// e.Replaces (when set), which gives way in the same atomic step.
	Create(ctx context.Context, key string, e *Entry, expires time.Time) error

	// Apply changes the record under key as w says, all or nothing, and
	// returns the header it holds afterwards. It returns ErrNotFound,
	// ErrMoved, ErrLegacy (a format-1 record, and w does not convert it),
	// ErrConverted (w converts, and the record is not format 1), or a
	// *driver.ConflictError when a checked change finds another value:
	// then nothing is written, and the error holds the stored value of
	// every checked key that exists.
	Apply(ctx context.Context, key string, w *Write) (meta []byte, err error)

	// Retire replaces the record under key by a tombstone naming successor
	// (the key of the session it moved to) that lasts until until, and
	// returns what the record held, in one atomic step. It returns
	// ErrNotFound as Get does, and for a key that is a tombstone already,
	// ErrMoved with an Entry holding only the Successor it names.
	Retire(ctx context.Context, key, successor string, until time.Time) (*Entry, error)

	// Delete removes key, record or tombstone, and returns the successor
	// a tombstone named ("" otherwise): the Store deletes it in turn, so
	// that a logout through a retired ID ends the session it moved to.
	// Deleting an absent key is not an error.
	Delete(ctx context.Context, key string) (successor string, err error)
}

// An Entry is a stored record, as a Backend keeps it.
type Entry struct {
	// Meta is the record's header: format, flags, deadlines
	// (spec/server-id-v1.md §4).
	Meta []byte
	// Values are the session's values by key, each in its stored form (a
	// tag byte, then the bytes).
	Values map[string][]byte
	// Legacy is a whole record of the format-1 layout, read from a store
	// written by an earlier release; Meta and Values are then nil.
	Legacy []byte
	// Successor is the key a tombstone names (Retire's ErrMoved).
	Successor string
	// Replaces, for Create, names the successor of a tombstone the new
	// record may take the place of: the spill-over store
	// (cookiestore.Spill) moves a session out again over the tombstone its
	// return left, and only over that one (a Destroy's, written meanwhile,
	// stands).
	Replaces string
	// Binding is the user the record is bound to, with when it was created
	// and last seen (spec/server-id-v1.md §7); nil for a record bound to
	// no user. Get and Retire return it from a Backend that keeps a
	// UserIndex; Create stores it there. Other Backends ignore it.
	Binding *Binding
}

// Parts of a stored header (spec/server-id-v1.md §4.1) that a Write
// replaces; the idle deadline is always replaced, the format never.
type HeaderPart uint8

const (
	HeaderFlags    HeaderPart = 1 << iota // the flags byte: the cookie kind
	HeaderAbsolute                        // the absolute deadline
)

// A Write is what Apply does to a record.
type Write struct {
	// Meta is the new header; Apply takes from it the idle deadline, and
	// the parts Header names (all of it when Convert is set), keeping the
	// rest as stored, so that a refresh does not undo a parallel request's
	// SetLifetime or SetBrowserSession. Without HeaderAbsolute the backend
	// expires the record at the earlier of Expires and the stored absolute
	// deadline.
	Meta   []byte
	Header HeaderPart
	// Convert rewrites a format-1 record in the current layout (with Clear
	// and every value in Changes); it applies only to a format-1 record.
	Convert bool
	// Clear removes every value first.
	Clear bool
	// Changes are applied after Clear; their Value and Old are in stored
	// form. A Write without Changes only refreshes the header and expiry.
	Changes []driver.Change
	// Expires is when the backend may drop the record.
	Expires time.Time
	// User is the user the record is bound to ("" for none), Seen the time
	// of this write, Binding the whole binding, and Until when the record
	// expires at the latest as the writer sees it (its absolute deadline
	// included). A Backend with a UserIndex stores Seen as the record's
	// last-seen time, stores Binding on a record that has none (a session
	// bound after it was created; a binding never changes otherwise), and
	// keeps the record in User's index until at least Until. All are zero
	// for an unbound record.
	User    string
	Seen    time.Time
	Binding *Binding
	Until   time.Time
}

// A ContextBound Backend ends every call by its context's deadline or
// cancellation, whatever it is waiting for. Optional: a caller that must
// bound a call's time (a revocation check, cookiestore.WithCheckTimeout)
// otherwise runs the call in a goroutine of its own, at a cost of some
// microseconds.
type ContextBound interface {
	ContextBound() bool
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

// A Store is a driver.Store over a Backend.
type Store struct {
	backend   Backend
	ring      *crypto.Ring
	rawIDs    bool
	details   bool          // keep the client's User-Agent and address
	grace     time.Duration // WithGrace
	handleKey []byte        // names sessions in listings (spec/server-id-v1.md §7.3)
}

var (
	_ driver.Store   = (*Store)(nil)
	_ driver.Indexer = (*Store)(nil)
)

type config struct {
	rawIDs  bool
	details bool
	grace   time.Duration
}

// DefaultGrace is how long, by default, a session ID that an ID-only
// Regenerate retired keeps reading its successor (WithGrace).
const DefaultGrace = 10 * time.Second

// WithGrace sets how long a request that still carries a session's old ID
// after an ID-only Regenerate — a rotation of the ID of a signed-in user
// (session.WithIdentityKey) in a request that changed nothing else: no
// value, deadline or cookie kind, in any of its commits — reads the
// session the ID moved to, as long as that holds the values it held then
// (the old ID never reads a value it could not read before): requests the
// browser sent before the Regenerate's response arrived then see the user
// still signed in, instead of a fresh session. Such a request
// reads only: its changes are dropped (the log says so), its response
// neither sets nor expires the cookie, so the newer one stands, and
// devices.Index.Handle names the new session. A Destroy through it ends
// the new session. Any other Regenerate never resolves, whatever the
// grace: a sign-in, a sign-out, another user, and a same-user Regenerate
// that raises the session's privilege (a second factor: a value set in the
// same request), since the old ID may be one an attacker planted (session
// fixation). The grace needs a backend that keeps bindings (a UserIndex:
// memory, Redis, PostgreSQL). The default is DefaultGrace (10 s: requests
// in flight, not a thief's; rotate with WithGrace(0), or end the session,
// when the point is to shut out whoever holds the old ID); 0 turns it off;
// at most TombstoneTTL.
func WithGrace(d time.Duration) Option {
	return func(c *config) error {
		if d < 0 || d > TombstoneTTL {
			return fmt.Errorf("serverstore: WithGrace(%v): give 0 to %v (TombstoneTTL)", d, TombstoneTTL)
		}
		c.grace = d
		return nil
	}
}

// An Option configures a Store.
type Option func(*config) error

// WithRawIDs keys records by the session ID itself instead of its SHA-256
// hash, for backends shared with other applications that look sessions up
// by ID. A copy of the backend's keys can then be replayed as (unsigned)
// IDs, which the signature still stops without the secret. Off by default,
// but for the memory backend (NewMemory), whose keys never leave the
// process: it is always keyed by raw IDs.
func WithRawIDs() Option { return func(c *config) error { c.rawIDs = true; return nil } }

// New returns a Store over backend that signs IDs with secrets[0] and
// verifies them with any of secrets (each at least 32 random bytes). An ID
// signed with an older secret is signed again with the first on its next
// response.
func New(backend Backend, secrets [][]byte, opts ...Option) (*Store, error) {
	if backend == nil {
		return nil, errors.New("serverstore: New(nil, …): give a Backend, such as NewMemory()")
	}
	c := config{grace: DefaultGrace}
	for _, o := range opts {
		if err := o(&c); err != nil {
			return nil, err
		}
	}
	ring, err := crypto.New(secrets)
	if err != nil {
		return nil, fmt.Errorf("serverstore: %w", err)
	}
	hk, err := handleKey(secrets[0])
	if err != nil {
		return nil, fmt.Errorf("serverstore: %w", err)
	}
	// The memory backend keys its records by the ID itself: its keys never
	// leave the process, which holds the secrets too, so hashing them would
	// hide nothing (and cost two allocations a request).
	_, inProcess := backend.(*Memory)
	return &Store{backend: backend, ring: ring, rawIDs: c.rawIDs || inProcess, details: c.details, grace: c.grace, handleKey: hk}, nil
}

// Close releases what the backend holds, if it is an io.Closer: the
// client or pool a store opened from a configuration string, and any
// cleanup it started (a Backend given a client by the caller leaves the
// client open). Stores from session.OpenStore are all io.Closers:
//
//	if c, ok := store.(io.Closer); ok {
//		defer c.Close()
//	}
func (s *Store) Close() error {
	if c, ok := s.backend.(io.Closer); ok {
		return c.Close()
	}
	return nil
}

// A Pinger is a Backend that can tell whether its service answers.
type Pinger interface {
	Ping(ctx context.Context) error
}

// Ping reports whether the backend answers (Redis PING, a PostgreSQL
// round trip; nil for memory), for readiness probes. It bounds nothing
// itself: give ctx a deadline.
func (s *Store) Ping(ctx context.Context) error {
	if p, ok := s.backend.(Pinger); ok {
		return p.Ping(ctx)
	}
	return nil
}

// Backend returns the store's backend.
func (s *Store) Backend() Backend { return s.backend }

// Key returns the backend key of a session ID: base64url(SHA-256(id)), or
// the ID itself with WithRawIDs and on the memory backend (NewMemory), so
// that what Iterator.Keys and UserIndex.Bound list there are session IDs:
// log or show them as such.
func (s *Store) Key(id string) string {
	if s.rawIDs {
		return id
	}
	var b [64]byte // an ID is 43 characters; a longer one allocates here
	sum := sha256.Sum256(append(b[:0], id...))
	var out [43]byte // base64url of 32 bytes
	base64.RawURLEncoding.Encode(out[:], sum[:])
	return string(out[:])
}

// asConflict returns err's *driver.ConflictError, or nil.
func asConflict(err error) *driver.ConflictError {
	var c *driver.ConflictError
	if errors.As(err, &c) {
		return c
	}
	return nil
}

// TombstoneTTL is how long a retired ID answers ErrMoved rather than
// ErrNotFound, so that a request that overlapped a Regenerate (a login)
// leaves the new session's cookie alone instead of expiring it.
const TombstoneTTL = 10 * time.Minute

// Load verifies the signed ID, then reads the record: one backend round trip.
func (s *Store) Load(ctx context.Context, name, token string, now time.Time) (*driver.Record, error) {
	id, stale, err := s.ring.Verify(name, token)
	if err != nil {
		return nil, err
	}
	if !sid.Valid(id) {
		return nil, errs.Reason("serverstore: the signed value is not a session ID")
	}
	var e *Entry
	decoded := false
	if mem, ok := s.backend.(*Memory); ok {
		// On the stack: decode keeps none of it but its values, which
		// come out decoded.
		var me Entry
		e, err, decoded = &me, mem.getInto(s.Key(id), &me, s.decodeValue), true
	} else {
		e, err = s.backend.Get(ctx, s.Key(id))
	}
	if errors.Is(err, ErrMoved) {
		// Retired by a Regenerate: it names no session now, unless the
		// grace of a same-user Regenerate lets it read its successor.
		if rec, key := s.resolve(ctx, e, now); rec != nil {
			rec.ID, rec.Handle = id, s.handleOfKey(key)
			return rec, ErrMoved
		}
		return &driver.Record{ID: id}, ErrMoved
	}
	if err != nil {
		return nil, err
	}
	rec, err := s.decode(e, decoded)
	if err != nil {
		return nil, err
	}
	rec.ID, rec.Stale = id, stale
	return rec, nil
}

// binding is what a commit stores of rec's binding: nil when it is bound to
// no user, or the backend keeps no index.
func (s *Store) binding(rec *driver.Record, now time.Time) *Binding {
	if rec.User == "" {
		return nil
	}
	if _, ok := s.backend.(UserIndex); !ok {
		return nil
	}
	b := &Binding{User: rec.User, Created: rec.Created, Seen: now}
	if b.Created.IsZero() {
		b.Created = now
	}
	if s.details {
		b.Agent, b.Addr = rec.Agent, rec.Addr
	}
	return b
}

// Save persists the commit and returns the signed ID: one backend round
// trip (two when a checked change met a value that only looks different,
// or a format-1 record is converted).
func (s *Store) Save(ctx context.Context, name string, c *driver.Commit, now time.Time) (string, error) {
	return s.save(ctx, name, c, now, "")
}

// save is Save; an OpCreate takes the place of a tombstone naming replaces
// (Entry.Replaces), when set.
func (s *Store) save(ctx context.Context, name string, c *driver.Commit, now time.Time, replaces string) (string, error) {
	rec := &c.Record
	if !sid.Valid(rec.ID) {
		return "", fmt.Errorf("serverstore: session ID %q is not %d to %d base64url characters", rec.ID, sid.MinLen, sid.MaxLen)
	}
	if len(rec.Cookie) > driver.MaxCookieAttributes {
		return "", fmt.Errorf("serverstore: cookie attributes of %d bytes, over %d", len(rec.Cookie), driver.MaxCookieAttributes)
	}
	token, err := s.ring.Sign(name, rec.ID)
	if err != nil {
		return "", err
	}
	if len(rec.User) > driver.MaxUser {
		return "", fmt.Errorf("serverstore: a session bound to a user ID of %d bytes, over %d", len(rec.User), driver.MaxUser)
	}
	key, meta, expires := s.Key(rec.ID), encodeMeta(rec), expiry(rec, now)
	seen := now.Truncate(time.Second) // what every backend keeps of it
	bound := s.binding(rec, seen)
	rec.Seen = time.Time{}
	if bound != nil {
		rec.Seen = seen
	}
	if c.Op == driver.OpCreate {
		return token, s.backend.Create(ctx, key, &Entry{Meta: meta, Values: s.storedValues(rec.Values), Binding: bound, Replaces: replaces}, expires)
	}
	w := &Write{Meta: meta, Expires: expires}
	if bound != nil {
		w.User, w.Seen, w.Binding, w.Until = bound.User, seen, bound, expires
	}
	if c.SetKind {
		w.Header |= HeaderFlags
	}
	if c.SetLifetime {
		w.Header |= HeaderAbsolute
	} else {
		// The backend keeps the stored absolute deadline and expires the
		// record by it too.
		w.Expires = expiry(&driver.Record{IdleExpires: rec.IdleExpires}, now)
	}
	if c.Op == driver.OpUpdate {
		w.Clear = c.Changes.Clear
		w.Changes = s.storedChanges(c.Changes.List)
	}
	orig, retargeted := w, false
	for range 4 { // a conversion, a retarget: a few turns at most
		var stored []byte
		if mem, ok := s.backend.(*Memory); ok {
			stored, err = mem.apply(key, w, true) // w's values are this write's own
		} else {
			stored, err = s.backend.Apply(ctx, key, w)
		}
		var conflict *driver.ConflictError
		if err != nil {
			conflict = asConflict(err) // only here: its variable escapes
		}
		switch {
		case errors.Is(err, ErrLegacy) && !w.Convert:
			// A format-1 record: rewrite it whole, with this request's view
			// of every value (its deadlines and flags included).
			w = &Write{Meta: meta, Expires: expiry(rec, now), Convert: true, Clear: true, Header: HeaderFlags | HeaderAbsolute,
				Changes: s.storedChanges(allValues(rec.Values)), User: w.User, Seen: w.Seen, Binding: w.Binding, Until: w.Until}
			continue
		case errors.Is(err, ErrConverted) && w.Convert:
			w = orig // another request converted it first: apply the changes
			continue
		case conflict != nil && !retargeted:
			values, err := s.decodeValues(conflict.Values)
			if err != nil {
				return "", err
			}
			if !s.retarget(w.Changes, conflict.Values, values) {
				return "", &driver.ConflictError{Values: values}
			}
			retargeted = true
			continue // the values were equal in another stored form
		case conflict != nil:
			values, err := s.decodeValues(conflict.Values)
			if err != nil {
				return "", err
			}
			return "", &driver.ConflictError{Values: values}
		case err != nil:
			return "", err
		}
		// The token goes out with what the store holds: a parallel
		// request's SetLifetime or SetBrowserSession included.
		if h, err := readHeader(stored, formatV2); err == nil && validMeta(stored) {
			rec.Expires, rec.BrowserSession, rec.Cookie = h.expires, h.browser, nil
			if len(stored) > metaSize {
				rec.Cookie = bytes.Clone(stored[metaSize:])
			}
		}
		return token, nil
	}
	return "", fmt.Errorf("serverstore: the record of %q kept changing form: %w", rec.ID, err)
}

// resolve reads the successor a tombstone names, when the tombstone is of
// a same-user Regenerate less than the grace ago (spec/server-id-v1.md
// §4.3); nil otherwise.
func (s *Store) resolve(ctx context.Context, e *Entry, now time.Time) (*driver.Record, string) {
	if e == nil || s.grace <= 0 {
		return nil, ""
	}
	t := parseTombstone(e.Successor)
	if !t.marked || now.Before(t.at) || now.Sub(t.at) >= s.grace {
		return nil, ""
	}
	next, err := s.backend.Get(ctx, t.key)
	if err != nil {
		return nil, "" // gone, moved again, or the backend failed: moved all the same
	}
	rec, err := s.decode(next, false)
	if err != nil || rec.Values == nil || valuesDigest(rec.Values) != t.digest {
		// Its values changed since the rotation (a value merged in, a
		// privilege raised): the old ID could not read them before.
		return nil, ""
	}
	return rec, t.key
}

// valuesDigest names a session's values (the codec's bytes by key): 22
// base64url characters of SHA-256 over the sorted keys and values, each
// preceded by its length (spec/server-id-v1.md §4.3).
func valuesDigest(values map[string][]byte) string {
	h := sha256.New()
	var n [4]byte
	for _, k := range slices.Sorted(maps.Keys(values)) {
		binary.BigEndian.PutUint32(n[:], uint32(len(k)))
		h.Write(n[:])
		h.Write([]byte(k))
		binary.BigEndian.PutUint32(n[:], uint32(len(values[k])))
		h.Write(n[:])
		h.Write(values[k])
	}
	return base64.RawURLEncoding.EncodeToString(h.Sum(nil)[:16])
}

// tombstone is the marked tombstone of an ID-only Regenerate
// (spec/server-id-v1.md §4.3): the time of the Regenerate, the digest of
// the values the old ID could read, and the successor's key. Other
// tombstones hold the successor's key alone.
func tombstone(successor string, at time.Time, digest string) string {
	return "~" + strconv.FormatInt(at.UnixMilli(), 10) + "~" + digest + "~" + successor
}

// A tomb is a tombstone as read.
type tomb struct {
	key    string    // the successor's key
	marked bool      // an ID-only Regenerate's: at and digest are set
	at     time.Time // when the Regenerate retired the ID
	digest string    // valuesDigest of the values then
}

// parseTombstone reads a tombstone. A value that starts with "~" but does
// not parse as marked is the key after its last "~" (or, without another,
// the whole value), unmarked.
func parseTombstone(v string) tomb {
	rest, ok := strings.CutPrefix(v, "~")
	if !ok {
		return tomb{key: v}
	}
	parts := strings.SplitN(rest, "~", 3)
	if len(parts) != 3 {
		if i := strings.LastIndexByte(v, '~'); i > 0 {
			return tomb{key: v[i+1:]}
		}
		return tomb{key: v}
	}
	n, err := strconv.ParseInt(parts[0], 10, 64)
	if err != nil || n <= 0 || len(parts[1]) != 22 {
		return tomb{key: parts[2]}
	}
	return tomb{key: parts[2], marked: true, at: time.UnixMilli(n), digest: parts[1]}
}

// Retire tombstones the old ID of a Regenerate and returns its values. A
// key that is already a tombstone naming next is this Regenerate's own,
// retried after an error whose reply was lost: nil, nil.
func (s *Store) Retire(ctx context.Context, _ string, old, next *driver.Record, now time.Time) (*driver.Record, error) {
	successor := s.Key(next.ID)
	value := successor
	if s.grace > 0 && next.IDOnly && old.User != "" && old.User == next.User {
		value = tombstone(successor, now, valuesDigest(next.Values))
	}
	e, err := s.backend.Retire(ctx, s.Key(old.ID), value, now.Add(TombstoneTTL))
	if errors.Is(err, ErrMoved) && e != nil {
		if t := parseTombstone(e.Successor); t.key == successor {
			return nil, nil
		}
	}
	if err != nil {
		return nil, err
	}
	return s.decode(e, false)
}

// maxChain bounds how many retired IDs a Delete follows.
const maxChain = 8

// Delete removes the record, and the sessions a chain of Regenerates moved
// it to.
func (s *Store) Delete(ctx context.Context, _ string, rec *driver.Record, _ time.Time) error {
	key := s.Key(rec.ID)
	for range maxChain {
		next, err := s.backend.Delete(ctx, key)
		if err != nil || next == "" {
			return err
		}
		key = parseTombstone(next).key
	}
	return nil
}

// expiry is when the backend may drop the record: the session's deadline.
func expiry(rec *driver.Record, now time.Time) time.Time {
	d := rec.Expires
	if !rec.IdleExpires.IsZero() && (d.IsZero() || rec.IdleExpires.Before(d)) {
		d = rec.IdleExpires
	}
	if d.IsZero() || d.Sub(now) > timex.MaxAge {
		d = now.Add(timex.MaxAge)
	}
	return d
}
