// Package devices lists the sessions a user is signed in with, and ends
// them: what an "active sessions" page needs, with "sign out this device"
// and "sign out everywhere else".
//
// A session belongs to a user when the Manager binds it: with
// session.WithIdentityKey("user"), setting that value at sign-in both
// regenerates the session and binds it to the value, a string or an integer
// (session.Session.Set("user", u.ID)). Server mode keeps the binding with
// the record, and a per-user index next to it, in the same backend: a map
// in memory, a sorted set per user in Redis (one extra round trip on the
// writes of a bound session), a column and an index in PostgreSQL.
//
//	idx, err := devices.New(store) // the store session.New was given
//	…
//	list, err := idx.List(ctx, user)              // oldest first
//	here := idx.Handle(session.From(r))           // this request's session
//	n, err := idx.EndAll(ctx, user, here)         // sign out everywhere else
//	ok, err := idx.End(ctx, user, list[0].Handle) // sign out that device
//
// A session is named by a handle: 22 characters derived from its storage
// key under the first secret. It is never the session ID, and cannot be
// used as a cookie. Handles change when the first secret does.
//
// What a listing shows: when the session signed in (was stored under its
// current ID), when a request last wrote it — kept to within 10 minutes:
// a request that reads a bound session whose stored time is older writes it
// again, so plain reads write at most once per 10 minutes per session —
// and, only where the operator opted in (serverstore.WithClientDetails, or
// crumbs_client_details=true in the configuration string), the User-Agent
// and address of the request that signed in.
//
// The index stays exact: a session that expires, is regenerated or
// destroyed leaves it, and a user's index in Redis expires with the last
// of the user's sessions. An ended session is gone at its next request,
// which gets a fresh session.
//
// Cookie mode keeps no list of sessions. With a revocation store
// (cookiestore.WithRevocation) New accepts a cookie store: Handle, End and
// EndAll work — EndAll records a "not before" time for the user, which
// every cookie bound earlier meets at its next check, and returns 0, since
// nothing counts the cookies out there — and List reports
// errors.ErrUnsupported. Without one, New refuses a cookie store. So it
// does the Express format, whose records hold no binding.
package devices

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/crumbs-go/session"
	"github.com/crumbs-go/session/driver"
	"github.com/crumbs-go/session/internal/hook"
)

// An Index lists and ends the sessions of users, in one store.
type Index struct {
	x   driver.Indexer
	now func() time.Time
}

// An Option configures an Index.
type Option func(*Index)

// WithClock makes the Index read the time from now instead of time.Now:
// give it the clock given to session.WithClock.
func WithClock(now func() time.Time) Option { return func(i *Index) { i.now = now } }

// A Device is one session of a user, as an "active sessions" page shows it.
type Device struct {
	// Handle names the session for End and EndAll.
	Handle string
	// Created is when the session was stored under its current ID: the
	// sign-in. LastSeen is when a request last wrote it, within 10 minutes.
	Created, LastSeen time.Time
	// UserAgent and Addr are those of the request that signed in; "" unless
	// the store keeps them (serverstore.WithClientDetails).
	UserAgent, Addr string
}

// New returns the index of store, which must keep one: a server store over
// a backend with a per-user index (memory, Redis, PostgreSQL).
func New(store session.Store, opts ...Option) (*Index, error) {
	x, ok := store.(driver.Indexer)
	if !ok {
		return nil, fmt.Errorf("devices: a %T keeps no per-user index: use a server store (memory, Redis or PostgreSQL)", store)
	}
	if _, err := x.Sessions(context.Background(), "", time.Now()); err != nil {
		if errors.Is(err, errors.ErrUnsupported) {
			return nil, fmt.Errorf("devices: %w", err)
		}
		return nil, err
	}
	i := &Index{x: x, now: time.Now}
	for _, o := range opts {
		o(i)
	}
	return i, nil
}

// List returns the live sessions bound to user, oldest first.
func (i *Index) List(ctx context.Context, user string) ([]Device, error) {
	if user == "" {
		return nil, errors.New("devices: List(ctx, \"\"): give the user the sessions are bound to")
	}
	ls, err := i.x.Sessions(ctx, user, i.now())
	if err != nil {
		return nil, fmt.Errorf("devices: list: %w", err)
	}
	out := make([]Device, len(ls))
	for k, l := range ls {
		out[k] = Device{Handle: l.Handle, Created: l.Created, LastSeen: l.Seen, UserAgent: l.Agent, Addr: l.Addr}
	}
	return out, nil
}

// Handle returns the handle of the request's session as it is stored, to
// mark it in a listing or to spare it in EndAll: while a Regenerate of the
// request is pending (a password change that then signs out everywhere
// else), the session it is moving from, which the commit moves to the new
// ID; for a request whose retired ID reads the new session within a grace
// (serverstore.WithGrace), that session. A session not stored yet has a
// handle that no listing holds.
func (i *Index) Handle(s *session.Session) string {
	id, handle := hook.Stored(s)
	if handle != "" {
		return handle
	}
	return i.x.Handle(id)
}

// End ends user's session named by handle, as its Destroy would: its next
// request gets a fresh session. It reports false when user has no such
// session (ended, expired, or another user's). To sign out the request's
// own session, call its Destroy instead, which also expires the cookie.
func (i *Index) End(ctx context.Context, user, handle string) (bool, error) {
	if user == "" || handle == "" {
		return false, nil
	}
	ok, err := i.x.End(ctx, user, handle, i.now())
	if err != nil {
		return ok, fmt.Errorf("devices: end: %w", err)
	}
	return ok, nil
}

// EndAll ends every session of user except the one named by keep, and
// returns how many it ended: keep = Handle(s) signs out everywhere else;
// keep = "" signs out everywhere (the request's own session included:
// Destroy it too, so that its cookie goes). When keep names none of the
// user's sessions — a parallel request moved the request's session to a
// new ID (a rotation) or ended it — EndAll ends nothing and returns an
// error wrapping session.ErrMoved: the browser holds the new session,
// which ending all would sign out; reload and try again.
func (i *Index) EndAll(ctx context.Context, user, keep string) (int, error) {
	if user == "" {
		return 0, errors.New("devices: EndAll(ctx, \"\", …): give the user whose sessions end")
	}
	n, err := i.x.EndAll(ctx, user, keep, i.now())
	if err != nil {
		return n, fmt.Errorf("devices: end all: %w", err)
	}
	return n, nil
}
