package cookiestore

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/crumbs-go/session/driver"
	"github.com/crumbs-go/session/internal/errs"
	"github.com/crumbs-go/session/internal/timex"
	"github.com/crumbs-go/session/serverstore"
)

// Revocation (spec/cookie-v1.md §10.2 and §10.3): a sealed cookie stays
// valid until its deadline, so a copy of it outlives a sign-out. With
// WithRevocation, a session bound to a user (session.WithIdentityKey)
// carries, sealed, when it was bound and when it was last checked; once
// per check interval its cookie is checked against a record per user in a
// server backend, which Destroy, a sign-out and devices.Index.EndAll
// write. Between checks the cookie stays stateless, as ASP.NET Core's
// security stamp does.

const (
	// DefaultCheckInterval is how long, by default, a checked cookie goes
	// on without another check (WithCheckInterval).
	DefaultCheckInterval = time.Minute
	// MaxCheckInterval is the longest check interval: a copied cookie works
	// at most this long after its session was revoked.
	MaxCheckInterval = 10 * time.Minute
	// DefaultCheckTimeout bounds a check's round trip by default
	// (WithCheckTimeout).
	DefaultCheckTimeout = 500 * time.Millisecond
	// DefaultGrace is how long, by default, a cookie that a Regenerate of
	// the same user superseded keeps reading its own session (WithGrace).
	DefaultGrace = 10 * time.Second
	// MaxRevoked is the most revoked sessions a user's record lists. A
	// revocation beyond it ends every session of the user instead (a
	// not-before time), which covers all that the record listed: all but
	// the session a rotation moves to; a Destroy or End that overflows it
	// signs the user out everywhere.
	MaxRevoked = 1000
)

type revocation struct {
	b        serverstore.Backend
	bound    bool // b is serverstore.ContextBound: called without a goroutine
	interval time.Duration
	timeout  time.Duration
	failOpen bool
	grace    time.Duration
	signIns  bool // WithSignInGuard
}

// WithRevocation checks the cookies of sessions bound to a user
// (session.WithIdentityKey) against b, any server backend
// (serverstore.NewMemory for one process; a redisstore or pgstore backend,
// or session.OpenStore(…).(*serverstore.Store).Backend(), for several), so
// that a copy of a cookie stops working after a sign-out:
//
//   - Session.Destroy records the session there, until the latest deadline
//     a copy of its cookie can have;
//   - a Regenerate records the old session as superseded: requests still
//     carrying its cookie get a fresh session that is not saved, and their
//     responses leave the browser's newer cookie alone (as server mode's
//     retired ID); after a Regenerate that keeps the identity value (an
//     ID rotation) the old cookie reads its own session, without saving,
//     for a grace (WithGrace);
//   - devices.Index.EndAll records a "not before" time for the user: every
//     session bound up to then is refused, but the one it keeps and that
//     one's rotations; devices.Index.End records one session by its
//     handle.
//
// A cookie is checked on its first load after the check interval
// (WithCheckInterval); the time of the check is sealed in the cookie, which
// the response writes again, so that requests before the next interval
// make no round trip. A response that would write the cookie of a session
// this request did not check (a change of values, an idle refresh) checks
// it first, so that it never writes a revoked or superseded cookie back
// over the browser's newer one, and a copy cannot regenerate itself out of
// its revocation. A check is one Get of the user's record, bounded by
// WithCheckTimeout. A refused cookie gives a fresh session, its cookie is
// expired, and the log says why. When the check cannot run (the backend is
// down, or slower than the timeout) the request fails closed by default:
// the Manager answers with its error handler (503), as server mode does
// when its store is down, and leaves the cookie alone; WithFailOpen
// accepts the cookie unchecked instead, with a warning in the log.
//
// Sessions bound to no user, and Stores without WithRevocation, never make
// a round trip. A request checks at most twice (at its load, when due, and
// before a write it did not check): with WithRolling or WithResave, every
// response writes, so every request checks. Each user with a revocation
// has one record, which lists the revoked sessions until their cookies'
// deadlines (at most MaxRevoked), and a not-before time for 400 days.
// Records are keyed by the user alone: applications that share a
// revocation backend share their users' revocations (give each its own
// backend, or Redis prefix).
//
// What it does not cover: a cookie sealed before the session was bound (a
// sign-in before WithIdentityKey was set) carries no binding, so its
// copies are never checked; they end at their own deadline. A revocation
// lasts as long as the revoking cookie could: a copy with a later absolute
// deadline (one that called SetLifetime itself, before the revocation)
// outlives it by the difference. A response to a request that checked its
// cookie before a parallel request revoked it may write the cookie back;
// it is refused at its next check. The records must not be evicted: give a memory
// backend of its own (not one bounded by WithMaxEntries and shared with
// sessions), and Redis a policy that evicts no keys without a TTL
// (noeviction or volatile-*), as server mode needs anyway.
func WithRevocation(b serverstore.Backend) Option {
	return func(c *config) error {
		if b == nil {
			return errors.New("cookiestore: WithRevocation(nil): give a server backend, such as serverstore.NewMemory()")
		}
		c.rev = b
		return nil
	}
}

// WithCheckInterval sets how long a cookie checked against the revocation
// backend goes on without another check: 0 checks on every request; at
// most MaxCheckInterval; DefaultCheckInterval (1 minute) by default. A
// revoked session's copies stop working at most this long after the
// revocation. Needs WithRevocation.
func WithCheckInterval(d time.Duration) Option {
	return func(c *config) error {
		if d < 0 || d > MaxCheckInterval {
			return fmt.Errorf("cookiestore: WithCheckInterval(%v): give 0 (every request) to %v", d, MaxCheckInterval)
		}
		c.interval = &d
		return nil
	}
}

// WithCheckTimeout bounds the round trip of a revocation check:
// DefaultCheckTimeout (500 ms) by default, at most 10 s. A check that takes
// longer counts as the backend being down (WithFailOpen). Needs
// WithRevocation.
func WithCheckTimeout(d time.Duration) Option {
	return func(c *config) error {
		if d <= 0 || d > 10*time.Second {
			return fmt.Errorf("cookiestore: WithCheckTimeout(%v): give more than 0, at most 10s", d)
		}
		c.timeout = d
		return nil
	}
}

// WithFailOpen accepts a cookie whose revocation check cannot run (the
// backend is down or slower than WithCheckTimeout), with a warning in the
// Manager's log, and checks it again on its next request. By default the
// request fails closed: the Manager's error handler answers it (503). Only
// checks fail open: a Destroy or a sign-out whose revocation cannot be
// recorded still fails, with the session kept. Needs WithRevocation.
func WithFailOpen() Option {
	return func(c *config) error { c.failOpen = true; return nil }
}

// WithGrace sets how long a cookie superseded by a Regenerate that kept the
// user (an ID rotation of a signed-in session) keeps loading: requests the
// browser sent before the Regenerate's response arrived then still see the
// user signed in. Such a request reads its own session and saves nothing;
// its response neither sets nor expires the cookie, so the newer one
// stands; a Destroy through it ends the new session too. The old cookie is
// recognised at its check, so only a cookie due for a check (every request
// with WithCheckInterval(0)) is held to this. DefaultGrace (10 s) by
// default; 0 refuses the old cookie at once; at most 1 minute. Needs
// WithRevocation.
func WithGrace(d time.Duration) Option {
	return func(c *config) error {
		if d < 0 || d > time.Minute {
			return fmt.Errorf("cookiestore: WithGrace(%v): give 0 to 1m", d)
		}
		c.grace = &d
		return nil
	}
}

// WithSignInGuard makes a sign-in hold against requests the browser sent
// with its anonymous cookie before the sign-in's response arrived: a
// Regenerate of a session bound to no user (a sign-in, with
// session.WithIdentityKey) records the old session in the revocation
// backend for SignInGuardTTL, and a response that would write a session
// bound to no user first looks it up (one Get), and leaves the cookie alone
// when a sign-in superseded it. Without it, such a response (a cart, a
// flash message written while the sign-in was in flight) can replace the
// signed-in cookie with the anonymous one: the user is signed out. It costs
// one write per Regenerate of an anonymous session (a sign-in) and one
// round trip per write of an anonymous session (reads still cost
// nothing); a lookup that fails lets the write go on (a warning in the
// log). Each of those writes is a key that lasts SignInGuardTTL: an
// endpoint that regenerates anonymous sessions on request lets anyone add
// keys at that rate. Needs WithRevocation.
func WithSignInGuard() Option {
	return func(c *config) error { c.signIns = true; return nil }
}

// SignInGuardTTL is how long WithSignInGuard remembers a sign-in: as long
// as server mode keeps a retired ID (serverstore.TombstoneTTL).
const SignInGuardTTL = serverstore.TombstoneTTL

// signInKey is the backend key that records a sign-in from the anonymous
// session hashed h.
func signInKey(h [hashSize]byte) string { return "crumbs-signed-in:" + handleOf(h) }

// signIn records that a Regenerate (a sign-in) superseded the anonymous
// session old. A session a sign-in superseded already is refused
// (ErrMoved): a request sent with its cookie before that sign-in's response
// arrived must not Regenerate it into a cookie that replaces the signed-in
// one. When the record cannot be written, the sign-in fails (503), or
// with WithFailOpen goes on unguarded.
func (r *revocation) signIn(ctx context.Context, old *driver.Record, now time.Time) error {
	ctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	v := binary.BigEndian.AppendUint64(nil, uint64(now.Unix()))
	err := r.b.Create(ctx, signInKey(sessionHash(old.ID)), &serverstore.Entry{Meta: revocationMeta,
		Values: map[string][]byte{"at": v}}, now.Add(SignInGuardTTL))
	switch {
	case err == nil:
		return nil
	case errors.Is(err, serverstore.ErrExists), errors.Is(err, serverstore.ErrMoved):
		return fmt.Errorf("cookiestore: a sign-in superseded the anonymous session already (WithSignInGuard): %w", driver.ErrMoved)
	case r.failOpen:
		return nil
	}
	return fmt.Errorf("cookiestore: recording the sign-in (WithSignInGuard): %w", err)
}

// checkSignIn returns ErrMoved when a sign-in superseded the anonymous
// session rec.
func (r *revocation) checkSignIn(ctx context.Context, rec *driver.Record) error {
	_, err := r.get(ctx, signInKey(sessionHash(rec.ID)))
	switch {
	case err == nil:
		return fmt.Errorf("cookiestore: a sign-in superseded the anonymous session (WithSignInGuard): %w", driver.ErrMoved)
	case errors.Is(err, serverstore.ErrNotFound), errors.Is(err, serverstore.ErrMoved):
		return nil
	}
	// A guard, not a check: the write goes on, with a warning.
	return &errs.Unchecked{Err: fmt.Errorf("cookiestore: looking up a sign-in (WithSignInGuard): %w; wrote the cookie unchecked", err)}
}

func newRevocation(c *config) (*revocation, error) {
	if c.rev == nil {
		if c.interval != nil || c.timeout != 0 || c.failOpen || c.grace != nil || c.signIns {
			return nil, errors.New("cookiestore: WithCheckInterval, WithCheckTimeout, WithFailOpen, WithGrace and WithSignInGuard configure revocation: add WithRevocation(backend)")
		}
		return nil, nil
	}
	cb, ok := c.rev.(serverstore.ContextBound)
	r := &revocation{b: c.rev, bound: ok && cb.ContextBound(), interval: DefaultCheckInterval, timeout: DefaultCheckTimeout, failOpen: c.failOpen, grace: DefaultGrace, signIns: c.signIns}
	if c.interval != nil {
		r.interval = *c.interval
	}
	if c.timeout != 0 {
		r.timeout = c.timeout
	}
	if c.grace != nil {
		r.grace = *c.grace
	}
	return r, nil
}

// The record of a user (spec/cookie-v1.md §10.3): values by key.
const (
	keyVersion    = "v"  // u64, raised by every write (the compare-and-set)
	keyNotBefore  = "nb" // u64 not-before || [16-byte hash of the kept session]
	prefixEntry   = "s:" // "s:" || handle: one revoked session
	userKeyPrefix = "crumbs-revoked:"

	kindEnded      = 1 // u8 kind || u64 until
	kindSuperseded = 2 // u8 kind || u64 until || u64 at || 16-byte hash of the successor (same user)
	kindMoved      = 3 // u8 kind || u64 until || u64 at: a Regenerate to another user, or to none
	hashSize       = 16
	handleLabel    = "github.com/crumbs-go/session/v1/cookie-handle"
	writeTimeout   = 5 * time.Second // how long a revocation retries its compare-and-set
	maxTime        = 1 << 62
)

// revocationMeta is the header of a user's record: format 2 of
// server-id-v1.md §4.1, no flags, no deadlines (the backend expires the
// record by the expiry of each write).
var revocationMeta = []byte{2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}

// RevocationKey is the backend key of user's record: "crumbs-revoked:"
// and the base64url SHA-256 of the user, cut to 16 bytes.
func RevocationKey(user string) string {
	h := sha256.Sum256([]byte(user))
	return userKeyPrefix + base64.RawURLEncoding.EncodeToString(h[:hashSize])
}

// sessionHash names a session in a record: SHA-256 of a label and its ID,
// cut to 16 bytes. It depends on the ID alone, so that a revocation
// outlives a rotation of the secrets.
func sessionHash(id string) [hashSize]byte {
	h := sha256.New()
	h.Write([]byte(handleLabel))
	h.Write([]byte(id))
	var out [hashSize]byte
	copy(out[:], h.Sum(nil))
	return out
}

func handleOf(h [hashSize]byte) string { return base64.RawURLEncoding.EncodeToString(h[:]) }

// A verdict is what a user's record says of one cookie.
type verdict struct {
	revoked    string // why the cookie is refused; "" when it is not
	superseded bool   // within the grace of a same-user Regenerate: read, not saved
	moved      bool   // a Regenerate superseded it: a fresh session, not saved, the cookie left alone
	successor  [hashSize]byte
}

// A record is a user's record, decoded.
type record struct {
	hasNB     bool
	notBefore uint64
	keep      []byte // nil, or 16 bytes
	entries   map[[hashSize]byte]entry
	other     map[string][]byte // values of names this version does not know: kept as they are
}

type entry struct {
	kind      byte
	until, at uint64
	successor [hashSize]byte
	raw       []byte // an entry of a kind this version does not know, kept as it is
}

// decodeRecord reads a user's record; an error means it is malformed.
// Names it does not know (a later version's) are kept, not refused.
func decodeRecord(values map[string][]byte) (*record, error) {
	r := &record{entries: make(map[[hashSize]byte]entry, len(values))}
	for k, v := range values {
		switch {
		case k == keyVersion:
			if len(v) != 8 {
				return nil, errors.New("cookiestore: malformed revocation record (version)")
			}
		case k == keyNotBefore:
			if len(v) != 8 && len(v) != 8+hashSize {
				return nil, errors.New("cookiestore: malformed revocation record (not-before)")
			}
			r.hasNB, r.notBefore = true, binary.BigEndian.Uint64(v)
			if len(v) > 8 {
				r.keep = v[8:]
			}
			if r.notBefore >= maxTime {
				return nil, errors.New("cookiestore: malformed revocation record (not-before)")
			}
		case strings.HasPrefix(k, prefixEntry):
			raw, err := base64.RawURLEncoding.DecodeString(k[len(prefixEntry):])
			if err != nil || len(raw) != hashSize || base64.RawURLEncoding.EncodeToString(raw) != k[len(prefixEntry):] {
				return nil, errors.New("cookiestore: malformed revocation record (entry name)")
			}
			var e entry
			switch {
			case len(v) == 9 && v[0] == kindEnded:
			case len(v) == 9+8+hashSize && v[0] == kindSuperseded:
				e.at = binary.BigEndian.Uint64(v[9:])
				copy(e.successor[:], v[17:])
			case len(v) == 9+8 && v[0] == kindMoved:
				e.at = binary.BigEndian.Uint64(v[9:])
			case len(v) >= 9 && v[0] > kindMoved:
				// A later version's kind: it refuses the session, as an
				// ended one, until its time; writers keep it.
				e.raw = bytes.Clone(v)
			default:
				return nil, errors.New("cookiestore: malformed revocation record (entry)")
			}
			e.kind, e.until = v[0], binary.BigEndian.Uint64(v[1:])
			if e.until >= maxTime || e.at >= maxTime {
				return nil, errors.New("cookiestore: malformed revocation record (entry time)")
			}
			r.entries[[hashSize]byte(raw)] = e
		default:
			if r.other == nil {
				r.other = map[string][]byte{}
			}
			r.other[k] = v
		}
	}
	return r, nil
}

// judge says what r makes of the session hashed h, bound at created (Unix
// seconds), at now.
func (r *record) judge(h [hashSize]byte, created uint64, now time.Time, grace time.Duration) verdict {
	sec := uint64(now.Unix())
	if r.hasNB && created < r.notBefore && (r.keep == nil || [hashSize]byte(r.keep) != h) {
		return verdict{revoked: "cookiestore: revoked: every session of its user bound before " + time.Unix(int64(r.notBefore), 0).UTC().Format(time.RFC3339) + " was ended"}
	}
	e, ok := r.entries[h]
	if !ok || e.until <= sec {
		return verdict{}
	}
	at := time.Unix(int64(e.at), 0)
	switch e.kind {
	case kindSuperseded:
		if n, ok := r.entries[e.successor]; ok && n.until > sec && n.kind != kindSuperseded && n.kind != kindMoved {
			return verdict{revoked: "cookiestore: revoked: the session a Regenerate moved it to was ended"}
		}
		if now.Before(at.Add(grace)) {
			return verdict{superseded: true, successor: e.successor}
		}
		fallthrough
	case kindMoved:
		if now.Before(at.Add(serverstore.TombstoneTTL)) {
			return verdict{moved: true}
		}
		// As server mode's tombstone, the "moved" answer lasts 10 minutes:
		// then the cookie is refused, so that a browser left holding it (a
		// lost response) is not locked out until its deadline.
		return verdict{revoked: "cookiestore: revoked: a Regenerate superseded the session more than 10 minutes ago"}
	}
	return verdict{revoked: "cookiestore: revoked: the session was destroyed or ended"}
}

// lookup is one check: the verdict of the user's record on rec, bound at
// created. Its error is the backend's failure, or a malformed record.
func (r *revocation) lookup(ctx context.Context, rec *driver.Record, created uint64, now time.Time) (verdict, error) {
	e, err := r.get(ctx, RevocationKey(rec.User))
	if errors.Is(err, serverstore.ErrNotFound) {
		return verdict{}, nil
	}
	if err != nil {
		return verdict{}, fmt.Errorf("cookiestore: revocation check: %w", err)
	}
	rd, err := decodeRecord(e.Values)
	if err != nil {
		return verdict{}, fmt.Errorf("cookiestore: revocation check: %w (a Destroy, End or EndAll of the user rewrites it)", err)
	}
	return rd.judge(sessionHash(rec.ID), created, now, r.grace), nil
}

// due reports whether a cookie checked at checked needs a check at now: an
// interval has passed, or checked is in the future (another server's clock
// ran ahead), or it was never checked.
func (r *revocation) due(checked, now time.Time) bool {
	since := now.Sub(checked)
	return since >= r.interval || since < 0 || checked.Unix() <= 0
}

// check is the revocation check of a loaded cookie bound to a user, when
// one is due. It sets rec.Seen (the check time, sealed again) and returns
// ErrMoved with rec for a superseded cookie within the grace, an ErrInvalid
// reason for a revoked one, and the backend's failure (as *errs.Unchecked
// with WithFailOpen).
func (r *revocation) check(ctx context.Context, rec *driver.Record, created uint64, checked time.Time, now time.Time) (*driver.Record, error) {
	rec.Seen = checked
	if !r.due(checked, now) {
		return rec, nil
	}
	v, err := r.lookup(ctx, rec, created, now)
	if err != nil {
		if r.failOpen {
			return rec, &errs.Unchecked{Err: fmt.Errorf("%w; accepted the cookie unchecked (WithFailOpen)", err)}
		}
		return nil, err
	}
	switch {
	case v.revoked != "":
		return nil, errs.Reason(v.revoked)
	case v.superseded:
		rec.Handle = handleOf(v.successor)
		return rec, driver.ErrMoved
	case v.moved:
		// As server mode's retired ID: a Regenerate's response carries the
		// newer cookie, which this request's must leave alone.
		return &driver.Record{ID: rec.ID}, driver.ErrMoved
	}
	rec.Seen = now                          // with its fraction of a second: checked in this request (checkedHere)
	rec.Stale = rec.Stale || r.interval > 0 // seal the check's time
	return rec, nil
}

// checkWrite checks a bound session before its cookie is written again,
// unless this request checked it already (rec.Seen is now): a response
// to a request sent with a cookie that was revoked or superseded since
// its last check must not write it back over the browser's newer cookie.
// It returns ErrNotFound for a revoked session (the Manager drops the
// changes and expires the cookie, as for a destroyed one), ErrMoved for a
// superseded one (the changes are dropped, the cookie left alone).
func (r *revocation) checkWrite(ctx context.Context, rec *driver.Record, now time.Time) error {
	if checkedHere(rec) {
		return nil
	}
	created, _ := timex.Unix(rec.Created)
	v, err := r.lookup(ctx, rec, created, now)
	switch {
	case err != nil && r.failOpen:
		return &errs.Unchecked{Err: fmt.Errorf("%w; wrote the cookie unchecked (WithFailOpen)", err)}
	case err != nil:
		return err
	case v.revoked != "":
		return fmt.Errorf("%s: %w", v.revoked, driver.ErrNotFound)
	case v.superseded, v.moved:
		return fmt.Errorf("cookiestore: a Regenerate superseded the session: %w", driver.ErrMoved)
	}
	rec.Seen = now
	return nil
}

// checkedHere reports whether this request checked rec already: a check
// sets Seen to the time it ran, fraction of a second included, where the
// checked-at time sealed in a cookie is in whole seconds. A clock without
// fractions makes a write check again: one round trip more, never one less.
func checkedHere(rec *driver.Record) bool { return rec.Seen.Nanosecond() != 0 }

// get is the check's one round trip, bounded by the check timeout even
// when the backend does not end a call at its context's deadline (a
// go-redis client does not unless its ContextTimeoutEnabled is set): the
// call then runs in a goroutine, which finishes in the background by the
// client's own timeouts. A serverstore.ContextBound backend is called
// directly.
func (r *revocation) get(ctx context.Context, key string) (*serverstore.Entry, error) {
	ctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel() // after the answer: a cancel before it would race it in the select
	if r.bound {
		e, err := r.b.Get(ctx, key)
		if err != nil && ctx.Err() != nil {
			return nil, fmt.Errorf("no answer within %v (WithCheckTimeout): %w", r.timeout, context.Cause(ctx))
		}
		return e, err
	}
	type result struct {
		e   *serverstore.Entry
		err error
	}
	done := make(chan result, 1)
	go func() {
		e, err := r.b.Get(ctx, key)
		done <- result{e, err}
	}()
	select {
	case res := <-done:
		return res.e, res.err
	case <-ctx.Done():
		return nil, fmt.Errorf("no answer within %v (WithCheckTimeout): %w", r.timeout, context.Cause(ctx))
	}
}

// until is the latest deadline a copy of rec's cookie can have, plus a
// second: its absolute deadline, or sooner its idle deadline as of now
// (the Manager hands Delete and Retire the idle deadline a copy refreshed
// now would have), but no sooner than a check interval from now: a copy
// refreshed between checks reaches its next check by then.
func (r *revocation) until(rec *driver.Record, now time.Time) uint64 {
	d := rec.Expires
	if !rec.IdleExpires.IsZero() {
		idle := rec.IdleExpires
		if late := now.Add(r.interval); idle.Before(late) {
			idle = late
		}
		if d.IsZero() || idle.Before(d) {
			d = idle
		}
	}
	if d.IsZero() || d.Sub(now) > timex.MaxAge {
		d = now.Add(timex.MaxAge)
	}
	return uint64(d.Unix()) + 1
}

// write changes user's record as f says, with a compare-and-set on its
// version, dropping what has expired. A record that does not decode is
// replaced by a not-before of now + 1 s, which refuses every session it
// could have listed, but keep (nil: none). So is a record that would list
// more than MaxRevoked sessions. An error f returns aborts the write and is
// returned as it is.
func (r *revocation) write(ctx context.Context, user string, now time.Time, keep *[hashSize]byte, f func(rd *record) error) error {
	key := RevocationKey(user)
	sec := uint64(now.Unix())
	wait := time.Millisecond
	deadline := time.Now().Add(writeTimeout)
	for try := 0; ; try++ {
		if try > 0 {
			// Another write of the user's record came first: back off, with
			// jitter, so that parallel sign-outs of one user all land.
			if time.Now().After(deadline) {
				return fmt.Errorf("cookiestore: revocation: the record of the user kept changing for %v; gave up", writeTimeout)
			}
			t := time.NewTimer(rand.N(wait) + wait/2)
			select {
			case <-ctx.Done():
				t.Stop()
				return fmt.Errorf("cookiestore: revocation: %w", ctx.Err())
			case <-t.C:
			}
			wait = min(2*wait, 32*time.Millisecond)
		}
		e, err := r.b.Get(ctx, key)
		var stored map[string][]byte
		switch {
		case errors.Is(err, serverstore.ErrNotFound):
		case err != nil:
			return fmt.Errorf("cookiestore: revocation: %w", err)
		default:
			stored = e.Values
		}
		rd, err := decodeRecord(stored)
		if err != nil {
			rd = &record{hasNB: true, notBefore: sec + 1, entries: map[[hashSize]byte]entry{}}
			if keep != nil {
				rd.keep = keep[:]
			}
		}
		maps.DeleteFunc(rd.entries, func(_ [hashSize]byte, e entry) bool { return e.until <= sec })
		if rd.hasNB && rd.notBefore+uint64(timex.MaxAge/time.Second) <= sec {
			rd.hasNB, rd.notBefore, rd.keep = false, 0, nil
		}
		if err := f(rd); err != nil {
			return err
		}
		if len(rd.entries) > MaxRevoked {
			// Every session it lists was bound before now: a not-before
			// time covers them all.
			rd.hasNB, rd.notBefore, rd.keep = true, sec+1, nil
			if keep != nil {
				rd.keep = keep[:]
			}
			clear(rd.entries)
		}
		values, expires := rd.encode(now)
		var version uint64
		oldV, hadV := stored[keyVersion]
		if len(oldV) == 8 {
			version = binary.BigEndian.Uint64(oldV)
		}
		values[keyVersion] = binary.BigEndian.AppendUint64(nil, version+1)
		if e == nil {
			err = r.b.Create(ctx, key, &serverstore.Entry{Meta: revocationMeta, Values: values}, expires)
			if errors.Is(err, serverstore.ErrExists) {
				continue
			}
		} else {
			changes := []driver.Change{{Key: keyVersion, Value: values[keyVersion], Check: true, Old: oldV, HadOld: hadV}}
			for k, v := range values {
				if old, ok := stored[k]; k != keyVersion && (!ok || !bytes.Equal(old, v)) {
					changes = append(changes, driver.Change{Key: k, Value: v})
				}
			}
			for k := range stored {
				if _, ok := values[k]; !ok {
					changes = append(changes, driver.Change{Key: k, Delete: true})
				}
			}
			_, err = r.b.Apply(ctx, key, &serverstore.Write{Meta: revocationMeta, Changes: changes, Expires: expires})
			var conflict *driver.ConflictError
			if errors.As(err, &conflict) || errors.Is(err, serverstore.ErrNotFound) {
				continue // another write came first, or the record expired meanwhile
			}
		}
		if err != nil {
			return fmt.Errorf("cookiestore: revocation: %w", err)
		}
		return nil
	}
}

// encode returns rd's values, but the version, and the expiry of the
// record: the latest of its entries and its not-before time.
func (rd *record) encode(now time.Time) (map[string][]byte, time.Time) {
	values := make(map[string][]byte, len(rd.entries)+len(rd.other)+2)
	maps.Copy(values, rd.other)
	latest := uint64(0)
	if rd.hasNB {
		v := binary.BigEndian.AppendUint64(nil, rd.notBefore)
		values[keyNotBefore] = append(v, rd.keep...)
		latest = rd.notBefore + uint64(timex.MaxAge/time.Second)
	}
	for h, e := range rd.entries {
		v := e.raw
		if v == nil {
			v = binary.BigEndian.AppendUint64([]byte{e.kind}, e.until)
			switch e.kind {
			case kindSuperseded:
				v = binary.BigEndian.AppendUint64(v, e.at)
				v = append(v, e.successor[:]...)
			case kindMoved:
				v = binary.BigEndian.AppendUint64(v, e.at)
			}
		}
		values[prefixEntry+handleOf(h)] = v
		latest = max(latest, e.until)
	}
	if latest == 0 {
		return values, now.Add(time.Second) // nothing left to keep
	}
	return values, time.Unix(int64(latest), 0)
}

// Handle returns the handle of the session whose ID is id: what
// devices.Index.Handle shows, and End takes. It is not the ID, and cannot
// be replayed as a cookie.
func (s *Store) Handle(id string) string { return handleOf(sessionHash(id)) }

// Sessions reports errors.ErrUnsupported: a cookie store keeps no list of
// a user's sessions, only the ones revoked. With WithRevocation, it
// returns nil for the user "" (what devices.New and the Manager probe), so
// that End and EndAll can be reached through devices.Index.
func (s *Store) Sessions(_ context.Context, user string, _ time.Time) ([]driver.Listing, error) {
	if s.rev == nil {
		return nil, fmt.Errorf("cookiestore: cookie mode ends sessions before their deadline only with a revocation store (WithRevocation), and lists them only as a server store (memory, Redis or PostgreSQL) does: %w", errors.ErrUnsupported)
	}
	if user == "" {
		return nil, nil
	}
	return nil, fmt.Errorf("cookiestore: cookie mode keeps no list of a user's sessions, only of the revoked ones; End and EndAll work: %w", errors.ErrUnsupported)
}

// End revokes the session named by handle in user's record, until 400
// days from now (a handle does not say when its cookie expires). It
// reports false when the record had ended it already. Cookie mode cannot
// tell whose session a handle names: End with another user's handle
// records it under user, where it has no effect.
func (s *Store) End(ctx context.Context, user, handle string, now time.Time) (bool, error) {
	if s.rev == nil {
		return false, fmt.Errorf("cookiestore: End needs WithRevocation: %w", errors.ErrUnsupported)
	}
	raw, err := base64.RawURLEncoding.DecodeString(handle)
	if err != nil || len(raw) != hashSize || handleOf([hashSize]byte(raw)) != handle {
		return false, nil
	}
	ended := false
	err = s.rev.write(ctx, user, now, nil, func(rd *record) error {
		h := [hashSize]byte(raw)
		if e, ok := rd.entries[h]; ok && e.kind == kindEnded {
			ended = false
			return nil
		}
		rd.entries[h] = entry{kind: kindEnded, until: uint64(now.Add(timex.MaxAge).Unix())}
		ended = true
		return nil
	})
	return ended && err == nil, err
}

// EndAll records a not-before time for user: every cookie bound to user
// up to now is refused at its next check or write, except the session
// named by keep ("" keeps none; cookie mode cannot check that it is one of
// the user's) and the sessions it rotates to. Bindings are kept in whole
// seconds, so a session bound in the rest of this second is refused too
// (a sign-in right after EndAll may need to be made again). A cookie store
// cannot count the sessions it ends: EndAll returns 0.
func (s *Store) EndAll(ctx context.Context, user, keep string, now time.Time) (int, error) {
	if s.rev == nil {
		return 0, fmt.Errorf("cookiestore: EndAll needs WithRevocation: %w", errors.ErrUnsupported)
	}
	var kept *[hashSize]byte
	if keep != "" {
		raw, err := base64.RawURLEncoding.DecodeString(keep)
		if err != nil || len(raw) != hashSize || handleOf([hashSize]byte(raw)) != keep {
			return 0, fmt.Errorf("cookiestore: EndAll: keep %q is not a handle", keep)
		}
		kept = (*[hashSize]byte)(raw)
	}
	return 0, s.rev.write(ctx, user, now, kept, func(rd *record) error {
		rd.hasNB, rd.notBefore, rd.keep = true, uint64(now.Unix())+1, nil
		if kept != nil {
			// A handle taken before a rotation (the request that asks still
			// carried the old cookie) keeps the session it moved to.
			k := *kept
			for range 8 {
				e, ok := rd.entries[k]
				if !ok || e.kind != kindSuperseded {
					break
				}
				k = e.successor
			}
			rd.keep = k[:]
		}
		return nil
	})
}

// revoke records rec as ended (Destroy: next is nil), or as superseded by
// next (Retire). It first judges rec as a check would: a session the
// record refuses fails with ErrNotFound (a copy of a revoked cookie cannot
// regenerate itself, nor Destroy and set values, into a session the record
// does not name); a Retire of a superseded one with ErrMoved.
func (r *revocation) revoke(ctx context.Context, rec, next *driver.Record, now time.Time) error {
	h := sessionHash(rec.ID)
	u := r.until(rec, now)
	var keep *[hashSize]byte
	if next != nil && next.User == rec.User {
		n := sessionHash(next.ID)
		keep = &n
	}
	var refused error
	err := r.write(ctx, rec.User, now, keep, func(rd *record) error {
		prev, had := rd.entries[h]
		created, _ := timex.Unix(rec.Created)
		// The write goes on when the session is refused, recording nothing
		// of it: the record may have been repaired (a malformed one).
		switch v := rd.judge(h, created, now, r.grace); {
		case v.revoked != "":
			refused = fmt.Errorf("%s: %w", v.revoked, driver.ErrNotFound)
			return nil
		case (v.superseded || v.moved) && next != nil:
			refused = fmt.Errorf("cookiestore: a Regenerate superseded the session: %w", driver.ErrMoved)
			return nil
		case v.superseded || v.moved:
			// A Destroy through a superseded cookie: it ends what it can
			// (below), and a session the request then creates is refused.
			refused = fmt.Errorf("cookiestore: a Regenerate superseded the session: %w", driver.ErrNotFound)
		default:
			refused = nil
		}
		if keep != nil && rd.keep != nil && [hashSize]byte(rd.keep) == h {
			rd.keep = keep[:] // the session a not-before keeps moved: its successor is kept
		}
		switch {
		case next != nil && keep != nil:
			rd.entries[h] = entry{kind: kindSuperseded, until: u, at: uint64(now.Unix()), successor: *keep}
			return nil
		case next != nil:
			rd.entries[h] = entry{kind: kindMoved, until: u, at: uint64(now.Unix())}
			return nil
		}
		rd.entries[h] = entry{kind: kindEnded, until: max(u, prev.until)}
		if next == nil && had && prev.kind == kindSuperseded {
			// A Destroy through a cookie that a Regenerate of the same user
			// superseded ends the session it moved to as well (a logout
			// that raced the rotation wins).
			n := rd.entries[prev.successor]
			rd.entries[prev.successor] = entry{kind: kindEnded, until: max(u, n.until)}
		}
		return nil
	})
	if err != nil {
		return err
	}
	return refused
}
