package cookiestore

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/crumbs-go/session/crypto"
	"github.com/crumbs-go/session/driver"
	"github.com/crumbs-go/session/internal/errs"
	"github.com/crumbs-go/session/internal/hook"
	"github.com/crumbs-go/session/internal/params"
	"github.com/crumbs-go/session/internal/registry"
	"github.com/crumbs-go/session/internal/sid"
	"github.com/crumbs-go/session/serverstore"
)

// A Spill keeps each session in its cookie, sealed as a Store seals it,
// while the sealed value fits SpillAt bytes, and on a server store once it
// outgrows them: the commit that grows it past SpillAt stores it there,
// and the cookie carries a signed ID instead (the Manager expires the
// chunks it no longer needs). When a commit leaves it under ReturnAt
// bytes, it goes back into the cookie, and its server record ends once
// ReturnGrace has passed. Handlers never know which form a session is in,
// and the session keeps its ID in both. spec/spill-over-v1.md has the
// rules; the configuration string is "cookie+" before a server store's
// ("cookie+redis://127.0.0.1:6379/0?crumbs_spill_at=3000").
//
// What it costs: a load reads the cookie (a server-form session reads its
// record, as server mode does); every save of a cookie-form session first
// reads the record its ID would have (one backend read), because a
// parallel request may have moved the session to the server meanwhile, and
// a save through a copy of the cookie from before the move must change the
// record rather than replace the browser's cookie. A move out writes the
// whole session once; a move back writes a mark and reads the record, and
// during ReturnGrace every load of the session reads the record too.
//
// What each form guarantees is what that mode guarantees (README, "Cookie
// or server mode"): parallel requests on a cookie-form session share one
// cookie, and the last response's cookie wins, as in cookie mode; on the
// server form each key lands, as in server mode. Across a move nothing is
// lost: a request that read the cookie form and saves after a move out
// changes the record key by key; a request that read the server form and
// saves after a move back lands in the record, which the cookie form reads
// during ReturnGrace and merges by its next save after it. A Destroy or a
// Regenerate in the cookie form leaves a tombstone, so that a request
// carrying the old cookie that saves within serverstore.TombstoneTTL is
// refused as in server mode (later, or without saving, a copy of a cookie
// reads what it holds, as in cookie mode).
//
// Spill is not a driver.Indexer: a cookie-form session is in no per-user
// index, so package devices cannot list it.
type Spill struct {
	cookie *Store
	server *serverstore.Store
	at     int // SpillAt
	back   int // ReturnAt
	grace  time.Duration
}

var _ driver.Store = (*Spill)(nil)

// DefaultSpillAt is the sealed size, in bytes of the cookie value, past
// which a Spill stores a session on the server by default: what one
// cookie of the Manager's default budget (4000 bytes) holds beside a
// name of up to 200 bytes. The default ReturnAt is half of SpillAt.
const DefaultSpillAt = 3800

// ReturnGrace is how long, by default, after a session returned to its
// cookie the server record stays live, taking the writes of requests that
// read the server form before the return, and how long every load of the
// session reads the record for them (WithReturnGrace). The first save
// after it merges the record into the cookie and ends the record (a
// tombstone, for serverstore.TombstoneTTL).
const ReturnGrace = time.Minute

// Tombstone successors of the spill-over store (spec/spill-over-v1.md §4):
// the session returned to its cookie, or was destroyed in its cookie
// form. Shorter than any key (22 characters at the least), so that no
// session's key can be one.
const (
	formCookie = 1 // driver.Record.Form: sealed in the cookie
	formServer = 2 // a signed ID

	markCookie = "crumbs-cookie"
	markEnded  = "crumbs-ended"
)

// returningKey is the record value that marks a session returning to its
// cookie: u64 milliseconds since the epoch of the return. Not a key a
// handler can set (session keys never start with a NUL byte here: Save
// refuses one).
const returningKey = "\x00crumbs.returning"

// blankKey marks the record a tombstone is written over (spec/spill-over-v1.md §4).
const blankKey = "\x00crumbs.blank"

type spillConfig struct {
	at, back int
	backSet  bool
	grace    time.Duration
}

// WithReturnGrace sets how long a returned session's record stays live
// (ReturnGrace): longer than your requests take, since a request that read
// the server form and saves later than that is refused. 1 s to
// serverstore.TombstoneTTL; ReturnGrace by default. The configuration
// string's form is crumbs_return_grace=30s.
func WithReturnGrace(d time.Duration) SpillOption {
	return func(c *spillConfig) error {
		if d < time.Second || d > serverstore.TombstoneTTL {
			return fmt.Errorf("cookiestore: WithReturnGrace(%v): give 1s to %v", d, serverstore.TombstoneTTL)
		}
		c.grace = d
		return nil
	}
}

// A SpillOption configures a Spill.
type SpillOption func(*spillConfig) error

// WithSpillAt sets the sealed size, in bytes of the cookie value, past
// which a session moves to the server: DefaultSpillAt by default, 0 to
// keep every session on the server, at most 64 KiB. Keep it under what
// the Manager's cookies hold (session.WithTotalBudget): a session between
// the two fails to save. The configuration string's form is
// crumbs_spill_at=N.
func WithSpillAt(n int) SpillOption {
	return func(c *spillConfig) error {
		if n < 0 || n > 64<<10 {
			return fmt.Errorf("cookiestore: WithSpillAt(%d): give 0 to %d bytes", n, 64<<10)
		}
		c.at = n
		return nil
	}
}

// WithReturnAt sets the sealed size, in bytes, under which a session on
// the server moves back into its cookie: half of SpillAt by default, 0 to
// keep a session that moved out on the server for good. It must be under
// SpillAt: the gap is the hysteresis that keeps a session whose size
// hovers around one mark from moving on every request (each move writes
// the whole session). The configuration string's form is
// crumbs_return_at=N.
func WithReturnAt(n int) SpillOption {
	return func(c *spillConfig) error {
		if n < 0 {
			return fmt.Errorf("cookiestore: WithReturnAt(%d): give 0 or more bytes", n)
		}
		c.back, c.backSet = n, true
		return nil
	}
}

// NewSpill returns a Spill that seals with cookie and spills to server.
// The cookie store must not record revocations (WithRevocation): a
// Spill's server form ends sessions itself.
func NewSpill(cookie *Store, server *serverstore.Store, opts ...SpillOption) (*Spill, error) {
	if cookie == nil || server == nil {
		return nil, errors.New("cookiestore: NewSpill needs a cookie store (cookiestore.New) and a server store (serverstore.New)")
	}
	if cookie.rev != nil {
		return nil, errors.New("cookiestore: NewSpill: the cookie store records revocations (WithRevocation); a Spill ends sessions on its server store: give a cookie store without it")
	}
	c := spillConfig{at: DefaultSpillAt, grace: ReturnGrace}
	for _, o := range opts {
		if err := o(&c); err != nil {
			return nil, err
		}
	}
	if !c.backSet {
		c.back = c.at / 2
	}
	if c.back >= c.at && !(c.at == 0 && c.back == 0) {
		return nil, fmt.Errorf("cookiestore: the return mark (%d bytes) must be under the spill mark (%d bytes): lower WithReturnAt (crumbs_return_at), or raise WithSpillAt (crumbs_spill_at)", c.back, c.at)
	}
	return &Spill{cookie: cookie, server: server, at: c.at, back: c.back, grace: c.grace}, nil
}

// SpillAt and ReturnAt return the marks, in bytes of the sealed value.
func (s *Spill) SpillAt() int  { return s.at }
func (s *Spill) ReturnAt() int { return s.back }

// Close closes the server store.
func (s *Spill) Close() error { return s.server.Close() }

// Ping pings the server store: a Spill needs it for every save.
func (s *Spill) Ping(ctx context.Context) error { return s.server.Ping(ctx) }

// Load reads a sealed cookie, or a signed ID and its record. A cookie that
// returned from the server less than ReturnGrace ago reads the record,
// which holds what requests of the server form wrote since.
func (s *Spill) Load(ctx context.Context, name, token string, now time.Time) (*driver.Record, error) {
	rec, returned, err := s.cookie.open(ctx, name, token, now)
	if err == nil && !sid.Valid(rec.ID) {
		// A cookie-mode session whose ID (1 to 64 characters there) could
		// not name a server record: a fresh session instead.
		return nil, errs.Reason("cookiestore: the sealed session's ID is not one the spill-over store can move to the server (22 to 64 characters)")
	}
	if err == nil {
		rec.Form = formCookie
		if returned.IsZero() || !now.Before(returned.Add(s.grace)) {
			return rec, nil
		}
		cur, succ, err := s.lookup(ctx, rec.ID)
		switch {
		case err == nil:
			// The record is what the session holds: the cookie's values and
			// what late writers of the server form added.
			delete(cur.Values, returningKey)
			rec.Values, rec.Data = cur.Values, cur.Data
			rec.Expires, rec.IdleExpires = cur.Expires, cur.IdleExpires
			rec.BrowserSession, rec.Cookie = cur.BrowserSession, cur.Cookie
			return rec, nil
		case errors.Is(err, driver.ErrMoved):
			switch succ {
			case markCookie:
				return rec, nil // merged into the cookie already
			case markEnded:
				return nil, fmt.Errorf("cookiestore: the session was destroyed: %w", driver.ErrNotFound)
			}
			return &driver.Record{ID: rec.ID, Form: formCookie}, driver.ErrMoved
		case errors.Is(err, driver.ErrNotFound):
			return rec, nil // the record is gone (evicted): the cookie holds all but the late writes
		}
		return nil, err
	}
	if !errors.Is(err, driver.ErrInvalid) {
		return nil, err
	}
	rec, serr := s.server.Load(ctx, name, token, now)
	if rec != nil {
		rec.Form = formServer
	}
	switch {
	case serr == nil && isBlank(rec.Values):
		return &driver.Record{ID: rec.ID, Form: formServer}, driver.ErrMoved // a tombstone being written
	case serr == nil:
		delete(rec.Values, returningKey)
		return rec, nil
	case errors.Is(serr, driver.ErrMoved) && rec != nil && rec.Values == nil && rec.Data == nil:
		if _, succ, _ := s.lookup(ctx, rec.ID); succ == markEnded {
			return nil, fmt.Errorf("cookiestore: the session was destroyed: %w", driver.ErrNotFound)
		}
		return rec, serr
	case errors.Is(serr, driver.ErrMoved):
		delete(rec.Values, returningKey)
		return rec, serr
	case errors.Is(serr, driver.ErrInvalid) && len(token) > 1074:
		return nil, err // longer than any signed ID: the cookie's reason says why
	}
	return rec, serr
}

// lookup reads the record of id on the server. A blank record (a
// tombstone's write that failed half way) is errBlank.
func (s *Spill) lookup(ctx context.Context, id string) (*driver.Record, string, error) {
	rec, succ, err := hook.ServerLookup(s.server, ctx, id)
	if err == nil && isBlank(rec.Values) {
		return nil, "", errBlank
	}
	return rec, succ, err
}

// errBlank is a key that holds a blank record: nothing, to the session.
var errBlank = fmt.Errorf("cookiestore: a blank record: %w", driver.ErrNotFound)

func isBlank(values map[string][]byte) bool { _, ok := values[blankKey]; return ok }

// blank is what the record a tombstone is written over holds, until it is
// retired (spec/spill-over-v1.md §4).
func blank() map[string][]byte { return map[string][]byte{blankKey: {1}} }

// classify names what a write that met a tombstone met: ErrNotFound for
// a destroyed session, else err.
func (s *Spill) classify(ctx context.Context, id string, err error) error {
	if !errors.Is(err, driver.ErrMoved) {
		return err
	}
	if _, succ, lerr := s.lookup(ctx, id); errors.Is(lerr, driver.ErrMoved) && succ == markEnded {
		return fmt.Errorf("cookiestore: the session was destroyed: %w", driver.ErrNotFound)
	}
	return err
}

// Save seals the session while it fits SpillAt, and stores it on the
// server once it does not; a session on the server comes back into the
// cookie under ReturnAt.
func (s *Spill) Save(ctx context.Context, name string, c *driver.Commit, now time.Time) (string, error) {
	tok, server, err := s.save(ctx, name, c, now)
	if err == nil {
		c.Record.Form = formCookie
		if server {
			c.Record.Form = formServer
		}
	}
	return tok, err
}

// save is Save; server reports a signed ID.
func (s *Spill) save(ctx context.Context, name string, c *driver.Commit, now time.Time) (tok string, server bool, err error) {
	for _, ch := range c.Changes.List {
		if strings.HasPrefix(ch.Key, "\x00") {
			return "", false, fmt.Errorf("cookiestore: the session key %q starts with a NUL byte, which the spill-over store keeps for itself", ch.Key)
		}
	}
	if c.Op == driver.OpCreate {
		tok, err := s.cookie.seal(ctx, name, c, now, time.Time{})
		if err == nil && len(tok) <= s.at {
			// As a server store's Create: the ID must name nothing yet, so
			// that a later save never writes into another session's record
			// (an ID generator a client can steer: session.WithIDGenerator).
			switch _, succ, lerr := s.lookup(ctx, c.Record.ID); {
			case errors.Is(lerr, driver.ErrMoved) && succ == markEnded:
				// The Manager stores a session again under the ID it just
				// destroyed (session.WithDestroyEmpty, then a save): as
				// over a server store's deleted record, the create stands,
				// and the tombstone goes.
				if _, err := s.server.Backend().Delete(ctx, s.server.Key(c.Record.ID)); err != nil {
					return "", false, err
				}
			case errors.Is(lerr, errBlank), lerr == nil, errors.Is(lerr, driver.ErrMoved):
				return "", false, driver.ErrExists
			case !errors.Is(lerr, driver.ErrNotFound):
				return "", false, lerr
			}
			return tok, false, nil
		}
		if err != nil && !errors.Is(err, driver.ErrTooLarge) {
			return "", false, err
		}
		tok, err = hook.ServerCreateOver(s.server, ctx, name, c, now, markEnded) // the same, on the server
		return tok, true, err
	}
	cur, succ, err := s.lookup(ctx, c.Record.ID)
	switch {
	case err == nil:
		return s.onServer(ctx, name, c, cur, now)
	case errors.Is(err, driver.ErrNotFound) && c.Record.Form == formServer:
		// Read from a record that is gone since (expired, evicted, or a
		// blank one being made a tombstone: a Destroy always leaves
		// crumbs-ended). The save does not bring it back, and its response
		// leaves alone the cookie the browser holds, which may be the
		// session's cookie form.
		return "", false, driver.ErrMoved
	case errors.Is(err, driver.ErrNotFound):
		return s.inCookie(ctx, name, c, now, false)
	case errors.Is(err, driver.ErrMoved):
		switch {
		case succ == markCookie && c.Record.Form == formServer:
			// Read from the record before it returned to the cookie, at
			// least ReturnGrace ago: the cookie form, which it never read,
			// must not be replaced by its view.
			return "", false, driver.ErrMoved
		case succ == markCookie:
			return s.inCookie(ctx, name, c, now, true)
		case succ == markEnded:
			return "", false, fmt.Errorf("cookiestore: the session was destroyed: %w", driver.ErrNotFound)
		}
		return "", false, driver.ErrMoved
	}
	return "", false, err
}

// inCookie saves a session that has no live record: sealed, or moved out
// when it outgrew SpillAt. tombstone says that a tombstone of its return
// holds its key (which a move out replaces).
func (s *Spill) inCookie(ctx context.Context, name string, c *driver.Commit, now time.Time, tombstone bool) (string, bool, error) {
	tok, err := s.cookie.seal(ctx, name, c, now, time.Time{})
	if err == nil && len(tok) <= s.at {
		return tok, false, nil
	}
	if err != nil && !errors.Is(err, driver.ErrTooLarge) {
		return "", false, err
	}
	// Out: the whole session, under its ID (over the tombstone of its
	// return, and only that one: a Destroy's, written meanwhile, stands).
	whole := *c
	whole.Op = driver.OpCreate
	replaces := ""
	if tombstone {
		replaces = markCookie
	}
	tok, err = hook.ServerCreateOver(s.server, ctx, name, &whole, now, replaces)
	c.Record = whole.Record
	if !errors.Is(err, driver.ErrExists) {
		return tok, true, s.classify(ctx, c.Record.ID, err)
	}
	// A parallel request moved it out first: change that record.
	cur, succ, err := s.lookup(ctx, c.Record.ID)
	switch {
	case err == nil:
		return s.onServer(ctx, name, c, cur, now)
	case errors.Is(err, errBlank):
		// The blank record of a Destroy or Regenerate that failed half way
		// (it answered with an error: the session lives on): the session
		// takes its place, whole, unless it changed meanwhile.
		conv := *c
		conv.Op, conv.SetLifetime, conv.SetKind = driver.OpUpdate, true, true
		list := make([]driver.Change, 0, len(c.Record.Values)+1)
		for k, v := range c.Record.Values {
			list = append(list, driver.Change{Key: k, Value: v})
		}
		list = append(list, driver.Change{Key: blankKey, Delete: true, Check: true, Old: []byte{1}, HadOld: true})
		conv.Changes = driver.Changes{Clear: true, List: list}
		tok, err := s.server.Save(ctx, name, &conv, now)
		if !errors.Is(err, driver.ErrConflict) {
			c.Record = conv.Record
			return tok, true, s.classify(ctx, c.Record.ID, err)
		}
		// Converted by a parallel move out meanwhile: change that record.
		switch cur, succ, err := s.lookup(ctx, c.Record.ID); {
		case err == nil:
			return s.onServer(ctx, name, c, cur, now)
		case errors.Is(err, driver.ErrMoved) && succ == markEnded:
			return "", false, fmt.Errorf("cookiestore: the session was destroyed: %w", driver.ErrNotFound)
		case err != nil && !errors.Is(err, driver.ErrMoved):
			return "", false, err
		}
		return "", false, driver.ErrMoved
	case errors.Is(err, driver.ErrMoved) && succ == markEnded:
		return "", false, fmt.Errorf("cookiestore: the session was destroyed: %w", driver.ErrNotFound)
	case errors.Is(err, driver.ErrMoved):
		return "", false, driver.ErrMoved
	}
	return "", false, err
}

// onServer saves a session whose record is live: the commit's changes,
// key by key, then the form the record's size calls for. A session on the
// server starts its return when this request's view of it seals under
// ReturnAt; a returning one stays in the cookie while what the record
// holds seals under SpillAt (the view of a request that read it before
// the return is no measure), and ends its record after ReturnGrace.
func (s *Spill) onServer(ctx context.Context, name string, c *driver.Commit, cur *driver.Record, now time.Time) (string, bool, error) {
	since, returning := returnedAt(cur.Values)
	start := false
	if !returning && s.back > 0 && c.Encode != nil {
		view, err := s.cookie.seal(ctx, name, c, now, time.Time{})
		if err != nil && !errors.Is(err, driver.ErrTooLarge) {
			return "", false, err
		}
		start = err == nil && len(view) <= s.back
	}
	w := *c
	if returning && c.Changes.Clear {
		// A Clear must not take the return's mark with the values.
		w.Changes = withChange(c.Changes, driver.Change{Key: returningKey, Value: cur.Values[returningKey]})
	}
	if start {
		since = now
		w.Changes = withChange(c.Changes, driver.Change{Key: returningKey, Value: binary.BigEndian.AppendUint64(nil, uint64(now.UnixMilli()))})
		if w.Op == driver.OpRefresh {
			w.Op = driver.OpUpdate
		}
	}
	tok, err := s.server.Save(ctx, name, &w, now)
	c.Record = w.Record
	if err != nil {
		return s.afterMoved(ctx, name, c, now, err)
	}
	if !returning && !start {
		return tok, true, nil
	}
	if c.Encode == nil {
		return tok, true, nil // no codec to seal what the record holds: it stays on the server
	}
	back, err := s.readBack(ctx, c.Record.ID, s.lookup)
	if err != nil {
		// Ended meanwhile by a parallel request's last save of the return
		// (its changes applied before): this one's are in what that sealed.
		return s.afterMoved(ctx, name, c, now, err)
	}
	sealed, err := s.sealBack(ctx, name, c, back, now, since)
	if err != nil && !errors.Is(err, driver.ErrTooLarge) {
		return "", false, err
	}
	if err != nil || len(sealed) > s.at {
		// It grew past the spill mark meanwhile: it stays on the server.
		w = *c
		w.Op, w.Changes = driver.OpUpdate, driver.Changes{List: []driver.Change{{Key: returningKey, Delete: true}}}
		w.SetLifetime, w.SetKind = false, false
		return s.toServer(ctx, name, &w, now)
	}
	if returning && !now.Before(since.Add(s.grace)) {
		// The grace is over: end the record, and seal what it held last.
		back, err = s.readBack(ctx, c.Record.ID, func(ctx context.Context, id string) (*driver.Record, string, error) {
			return hook.ServerRetire(s.server, ctx, s.server.Key(id), markCookie, now.Add(serverstore.TombstoneTTL))
		})
		if err != nil {
			return s.afterMoved(ctx, name, c, now, err)
		}
		sealed, err = s.sealBack(ctx, name, c, back, now, time.Time{})
		if err != nil && !errors.Is(err, driver.ErrTooLarge) {
			return "", false, err
		}
		if err != nil || len(sealed) > s.at {
			// A parallel write grew it past the spill mark between the
			// read-back and the end: it goes back to the server, whole, in
			// place of the tombstone just written.
			again := *c
			again.Op, again.Record.Values = driver.OpCreate, back.Values
			tok, err := hook.ServerCreateOver(s.server, ctx, name, &again, now, markCookie)
			c.Record = again.Record
			c.Merged = true
			if errors.Is(err, driver.ErrExists) {
				// A parallel move out re-created it first: what the retired
				// record held goes into that one, key by key.
				cur, _, lerr := s.lookup(ctx, c.Record.ID)
				if lerr != nil {
					return s.afterMoved(ctx, name, c, now, lerr)
				}
				merge := again
				merge.Op, merge.Merged = driver.OpUpdate, false
				merge.Changes = driver.Changes{List: make([]driver.Change, 0, len(back.Values))}
				for k, v := range back.Values {
					merge.Changes.List = append(merge.Changes.List, driver.Change{Key: k, Value: v})
				}
				tok, srv, err := s.onServer(ctx, name, &merge, cur, now)
				c.Record, c.Merged = merge.Record, false
				return tok, srv, err
			}
			return tok, true, s.classify(ctx, c.Record.ID, err)
		}
	}
	return sealed, false, nil
}

// afterMoved answers a write or read-back of a live record that met a
// tombstone meanwhile: a Destroy's (ErrNotFound); the return's last save,
// for a request that read the cookie form, whose save then goes on in the
// cookie (the last response's cookie wins, as in cookie mode); else
// ErrMoved.
func (s *Spill) afterMoved(ctx context.Context, name string, c *driver.Commit, now time.Time, err error) (string, bool, error) {
	var conflict *driver.ConflictError
	if errors.As(err, &conflict) {
		delete(conflict.Values, returningKey) // the store's own, never the handler's
	}
	if !errors.Is(err, driver.ErrMoved) && !errors.Is(err, driver.ErrNotFound) {
		return "", false, err
	}
	_, succ, lerr := s.lookup(ctx, c.Record.ID)
	switch {
	case errors.Is(lerr, driver.ErrMoved) && succ == markEnded:
		return "", false, fmt.Errorf("cookiestore: the session was destroyed: %w", driver.ErrNotFound)
	case errors.Is(lerr, driver.ErrMoved) && succ == markCookie && c.Record.Form != formServer:
		return s.inCookie(ctx, name, c, now, true)
	case errors.Is(lerr, driver.ErrNotFound) && !errors.Is(lerr, errBlank) && c.Record.Form != formServer:
		return s.inCookie(ctx, name, c, now, false) // the record is gone (evicted): the cookie form goes on
	}
	return "", false, driver.ErrMoved
}

// toServer is the server store's Save, reporting a signed ID.
func (s *Spill) toServer(ctx context.Context, name string, c *driver.Commit, now time.Time) (string, bool, error) {
	tok, err := s.server.Save(ctx, name, c, now)
	return tok, true, s.classify(ctx, c.Record.ID, err)
}

// readBack reads (or retires) the record a save just wrote.
func (s *Spill) readBack(ctx context.Context, id string, read func(context.Context, string) (*driver.Record, string, error)) (*driver.Record, error) {
	back, succ, err := read(ctx, id)
	switch {
	case errors.Is(err, driver.ErrMoved) && succ == markEnded:
		return nil, fmt.Errorf("cookiestore: the session was destroyed: %w", driver.ErrNotFound)
	case errors.Is(err, driver.ErrMoved):
		return nil, driver.ErrMoved
	case err != nil:
		return nil, err
	}
	return back, nil
}

// sealBack seals what a record holds, as c's session, into c.Record (its
// deadlines, kind and values become the record's).
func (s *Spill) sealBack(ctx context.Context, name string, c *driver.Commit, back *driver.Record, now, since time.Time) (string, error) {
	out := *c
	out.Record.Expires, out.Record.IdleExpires = back.Expires, back.IdleExpires
	out.Record.BrowserSession, out.Record.Cookie = back.BrowserSession, back.Cookie
	if back.Values != nil {
		delete(back.Values, returningKey)
		data, err := c.Encode(back.Values)
		if err != nil {
			return "", fmt.Errorf("cookiestore: the stored values do not encode: %w", err)
		}
		out.Record.Data = data
	} else {
		out.Record.Data = back.Data
	}
	out.Record.Values = back.Values
	tok, err := s.cookie.seal(ctx, name, &out, now, since)
	if err == nil {
		c.Record, c.Merged = out.Record, back.Values != nil
	}
	return tok, err
}

// withChange is changes with one more.
func withChange(ch driver.Changes, extra driver.Change) driver.Changes {
	list := make([]driver.Change, 0, len(ch.List)+1)
	list = append(list, ch.List...)
	return driver.Changes{Clear: ch.Clear, List: append(list, extra)}
}

// returnedAt reads the mark of a record returning to its cookie.
func returnedAt(values map[string][]byte) (time.Time, bool) {
	v, ok := values[returningKey]
	if !ok || len(v) != 8 {
		return time.Time{}, false
	}
	return time.UnixMilli(int64(binary.BigEndian.Uint64(v))), true
}

// Retire ends the old ID of a Regenerate. A session on the server is
// retired there; one in its cookie leaves a tombstone naming the new ID, so
// that a request that still carries the old cookie and saves is refused
// instead of writing the old session over the new one.
func (s *Spill) Retire(ctx context.Context, name string, old, next *driver.Record, now time.Time) (*driver.Record, error) {
	_, succ, err := s.lookup(ctx, old.ID)
	replaces := ""
	switch {
	case err == nil:
		rec, err := s.server.Retire(ctx, name, old, next, now)
		if !errors.Is(err, driver.ErrMoved) {
			return s.retired(rec, err)
		}
		// Retired meanwhile: by a return's last save, a Destroy, or
		// another Regenerate.
		if _, succ, _ = s.lookup(ctx, old.ID); succ != markCookie {
			return nil, s.classify(ctx, old.ID, err)
		}
		replaces = markCookie
	case errors.Is(err, driver.ErrMoved) && succ == markEnded:
		return nil, fmt.Errorf("cookiestore: the session was destroyed: %w", driver.ErrNotFound)
	case errors.Is(err, driver.ErrMoved) && succ == markCookie:
		replaces = markCookie // back in its cookie: the return's tombstone gives way
	case errors.Is(err, driver.ErrMoved):
		return s.retired(s.server.Retire(ctx, name, old, next, now)) // its own tombstone (a retry), or another's: the server store tells
	case !errors.Is(err, driver.ErrNotFound):
		return nil, err
	}
	nextKey := s.server.Key(next.ID)
	rec, succ, err := hook.ServerMark(s.server, ctx, s.server.Key(old.ID), nextKey, replaces, blank(), now.Add(serverstore.TombstoneTTL))
	switch {
	case errors.Is(err, driver.ErrMoved) && succ == nextKey:
		return nil, nil // this Regenerate's own, retried
	case errors.Is(err, driver.ErrMoved) && succ == markEnded:
		return nil, fmt.Errorf("cookiestore: the session was destroyed: %w", driver.ErrNotFound)
	case err != nil:
		return nil, err
	}
	if rec != nil && isBlank(rec.Values) {
		return nil, nil // the blank record the mark wrote (or one left by a failed attempt)
	}
	return s.retired(rec, nil) // a record a parallel request moved out meanwhile
}

// retired strips the spill-over store's own value from what Retire returns.
func (s *Spill) retired(rec *driver.Record, err error) (*driver.Record, error) {
	if rec != nil {
		delete(rec.Values, returningKey)
	}
	return rec, err
}

// Delete ends the session in either form, and the sessions Regenerates
// moved it to: each key gets a tombstone, so that a request that still
// carries a cookie of one and saves is refused.
func (s *Spill) Delete(ctx context.Context, name string, rec *driver.Record, now time.Time) error {
	until := now.Add(serverstore.TombstoneTTL)
	key := s.server.Key(rec.ID)
	for range 8 {
		_, succ, err := hook.ServerRetire(s.server, ctx, key, markEnded, until)
		switch {
		case err == nil || errors.Is(err, driver.ErrMoved) && succ == markEnded:
			return nil // ended now (a record, or a blank one), or before
		case errors.Is(err, driver.ErrNotFound) && rec.Form == 0 && key == s.server.Key(rec.ID):
			// A session this request created and drops (a refused
			// Regenerate's): nobody holds its token, nothing to refuse.
			return nil
		case errors.Is(err, driver.ErrMoved) && succ == markCookie,
			errors.Is(err, driver.ErrNotFound):
			// In its cookie: a tombstone all the same, over the return's.
			replaces := ""
			if err != nil && succ == markCookie {
				replaces = markCookie
			}
			_, succ, err = hook.ServerMark(s.server, ctx, key, markEnded, replaces, blank(), until)
			switch {
			case err == nil || errors.Is(err, driver.ErrMoved) && succ == markEnded:
				return nil
			case errors.Is(err, driver.ErrMoved) && succ == markCookie:
				continue // returned meanwhile: again
			case errors.Is(err, driver.ErrMoved):
				key = successorKey(succ) // moved by a Regenerate meanwhile
			default:
				return err
			}
		case errors.Is(err, driver.ErrMoved):
			// Retired by a Regenerate: the retired ID ends too (as server
			// mode's Delete removes its tombstone, so that its token reads
			// nothing), and so does the session it moved to.
			if _, _, merr := hook.ServerMark(s.server, ctx, key, markEnded, succ, blank(), until); merr != nil && !errors.Is(merr, driver.ErrMoved) {
				return merr // (ErrMoved: another request replaced that tombstone first)
			}
			key = successorKey(succ)
		default:
			return err
		}
	}
	return errors.New("cookiestore: Delete followed 8 tombstones without ending the session")
}

// successorKey is the key a tombstone names (a marked one ends with it:
// spec/server-id-v1.md §4.3).
func successorKey(succ string) string {
	if i := strings.LastIndexByte(succ, '~'); i >= 0 {
		return succ[i+1:]
	}
	return succ
}

// The spill-over store's configuration string: "cookie+" before a server
// store's, with the parameters crumbs_spill_at, crumbs_return_at and the
// cookie store's (crumbs_cipher, crumbs_padding) among the server store's.
func init() {
	driver.Register("cookie+", func(ctx context.Context, config string, secrets [][]byte) (driver.Store, error) {
		const pkg = "cookiestore"
		inner, ok := strings.CutPrefix(config, "cookie+")
		if !ok || inner == "" {
			return nil, errors.New("cookiestore: the spill-over store's configuration string is \"cookie+\" before a server store's, such as cookie+redis://127.0.0.1:6379/0 or cookie+memory")
		}
		base, query, _ := strings.Cut(inner, "?")
		var kept []string
		var cookieOpts []Option
		var spillOpts []SpillOption
		seen := map[string]bool{}
		if query != "" {
			for part := range strings.SplitSeq(query, "&") {
				k, v, _ := strings.Cut(part, "=")
				name, err1 := url.QueryUnescape(k)
				value, err2 := url.QueryUnescape(v)
				if err1 != nil || err2 != nil {
					kept = append(kept, part)
					continue
				}
				switch name {
				case "crumbs_spill_at", "crumbs_return_at", "crumbs_return_grace", "crumbs_padding", "crumbs_cipher":
					if seen[name] {
						return nil, fmt.Errorf("cookiestore: parameter %s given 2 times", name)
					}
					seen[name] = true
				}
				switch name {
				case "crumbs_spill_at", "crumbs_return_at":
					n, err := strconv.Atoi(value)
					if err != nil {
						return nil, params.Bad(pkg, name, value, "a size in bytes")
					}
					if name == "crumbs_spill_at" {
						spillOpts = append(spillOpts, WithSpillAt(n))
					} else {
						spillOpts = append(spillOpts, WithReturnAt(n))
					}
				case "crumbs_return_grace":
					d, err := params.Duration(pkg, name, value, time.Second)
					if err != nil {
						return nil, err
					}
					spillOpts = append(spillOpts, WithReturnGrace(d))
				case "crumbs_padding":
					n, err := strconv.Atoi(value)
					if err != nil {
						return nil, params.Bad(pkg, name, value, "a bucket in bytes, 16 to 4096, or 0")
					}
					cookieOpts = append(cookieOpts, WithPadding(n))
				case "crumbs_cipher":
					c, err := crypto.ParseCipher(value)
					if err != nil {
						return nil, params.Bad(pkg, name, value, fmt.Sprintf("%q or %q", crypto.XChaCha20Poly1305, crypto.AES256GCM))
					}
					cookieOpts = append(cookieOpts, WithCipher(c))
				default:
					kept = append(kept, part)
				}
			}
		}
		if len(kept) > 0 {
			base += "?" + strings.Join(kept, "&")
		}
		scheme := registry.Scheme(base)
		open, known := registry.Lookup(scheme)
		if open == nil || scheme == "cookie" || strings.Contains(scheme, "+") {
			var servers []string
			for _, k := range known {
				if k != "cookie" && !strings.Contains(k, "+") {
					servers = append(servers, k)
				}
			}
			what := "the text after cookie+ does not start with a server store's scheme"
			if registry.IsScheme(scheme) {
				what = fmt.Sprintf("no server store registered for %q after cookie+", scheme)
			}
			return nil, fmt.Errorf("cookiestore: %s (registered: %s); import its package, e.g. _ \"github.com/crumbs-go/session/serverstore/redisstore\"", what, strings.Join(servers, ", "))
		}
		st, err := open.(driver.Opener)(ctx, base, secrets)
		if err != nil {
			return nil, err
		}
		server, ok := st.(*serverstore.Store)
		if !ok {
			if c, ok := st.(io.Closer); ok {
				c.Close()
			}
			return nil, fmt.Errorf("cookiestore: the store after cookie+ (%s) is not a server store (serverstore.Store)", scheme)
		}
		cookie, err := New(secrets, cookieOpts...)
		if err != nil {
			server.Close()
			return nil, err
		}
		sp, err := NewSpill(cookie, server, spillOpts...)
		if err != nil {
			server.Close()
			return nil, err
		}
		return sp, nil
	})
}
