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
	"github.com/crumbs-go/session/internal/hook"
	"github.com/crumbs-go/session/internal/params"
	"github.com/crumbs-go/session/internal/registry"
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
}

var _ driver.Store = (*Spill)(nil)

// DefaultSpillAt is the sealed size, in bytes of the cookie value, past
// which a Spill stores a session on the server by default: what one
// cookie of the Manager's default budget (4000 bytes) holds beside a
// name of up to 200 bytes. The default ReturnAt is half of SpillAt.
const DefaultSpillAt = 3800

// ReturnGrace is how long after a session returned to its cookie the
// server record stays live, taking the writes of requests that read the
// server form before the return, and how long every load of the session
// reads the record for them. The first save after it merges the record
// into the cookie and ends the record (a tombstone, for
// serverstore.TombstoneTTL).
const ReturnGrace = time.Minute

// Tombstone successors of the spill-over store (spec/spill-over-v1.md §4):
// the session returned to its cookie, or was destroyed in its cookie
// form. Shorter than any key (22 characters at the least), so that no
// session's key can be one.
const (
	markCookie = "crumbs-cookie"
	markEnded  = "crumbs-ended"
)

// returningKey is the record value that marks a session returning to its
// cookie: u64 milliseconds since the epoch of the return. Not a key a
// handler can set (session keys never start with a NUL byte here: Save
// refuses one).
const returningKey = "\x00crumbs.returning"

type spillConfig struct {
	at, back       int
	atSet, backSet bool
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
		c.at, c.atSet = n, true
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
	c := spillConfig{at: DefaultSpillAt}
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
	return &Spill{cookie: cookie, server: server, at: c.at, back: c.back}, nil
}

// SpillAt and ReturnAt return the marks, in bytes of the sealed value.
func (s *Spill) SpillAt() int  { return s.at }
func (s *Spill) ReturnAt() int { return s.back }

// Server returns the server store the sessions spill to.
func (s *Spill) Server() *serverstore.Store { return s.server }

// Close closes the server store.
func (s *Spill) Close() error { return s.server.Close() }

// Ping pings the server store: a Spill needs it for every save.
func (s *Spill) Ping(ctx context.Context) error { return s.server.Ping(ctx) }

// Load reads a sealed cookie, or a signed ID and its record. A cookie that
// returned from the server less than ReturnGrace ago reads the record,
// which holds what requests of the server form wrote since.
func (s *Spill) Load(ctx context.Context, name, token string, now time.Time) (*driver.Record, error) {
	rec, returned, err := s.cookie.open(ctx, name, token, now)
	if err == nil {
		if returned.IsZero() || !now.Before(returned.Add(ReturnGrace)) {
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
			return &driver.Record{ID: rec.ID}, driver.ErrMoved
		case errors.Is(err, driver.ErrNotFound):
			return rec, nil // the record is gone (evicted): the cookie holds all but the late writes
		}
		return nil, err
	}
	if !errors.Is(err, driver.ErrInvalid) {
		return nil, err
	}
	rec, serr := s.server.Load(ctx, name, token, now)
	switch {
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

// lookup reads the record of id on the server.
func (s *Spill) lookup(ctx context.Context, id string) (*driver.Record, string, error) {
	return hook.ServerLookup(s.server, ctx, id)
}

// Save seals the session while it fits SpillAt, and stores it on the
// server once it does not; a session on the server comes back into the
// cookie under ReturnAt.
func (s *Spill) Save(ctx context.Context, name string, c *driver.Commit, now time.Time) (string, error) {
	for _, ch := range c.Changes.List {
		if strings.HasPrefix(ch.Key, "\x00") {
			return "", fmt.Errorf("cookiestore: the session key %q starts with a NUL byte, which the spill-over store keeps for itself", ch.Key)
		}
	}
	if c.Op == driver.OpCreate {
		tok, err := s.cookie.seal(ctx, name, c, now, time.Time{})
		if err == nil && len(tok) <= s.at {
			return tok, nil
		}
		if err != nil && !errors.Is(err, driver.ErrTooLarge) {
			return "", err
		}
		return s.server.Save(ctx, name, c, now)
	}
	cur, succ, err := s.lookup(ctx, c.Record.ID)
	switch {
	case err == nil:
		return s.onServer(ctx, name, c, cur, now)
	case errors.Is(err, driver.ErrNotFound):
		return s.inCookie(ctx, name, c, now, false)
	case errors.Is(err, driver.ErrMoved):
		switch succ {
		case markCookie:
			return s.inCookie(ctx, name, c, now, true)
		case markEnded:
			return "", fmt.Errorf("cookiestore: the session was destroyed: %w", driver.ErrNotFound)
		}
		return "", driver.ErrMoved
	}
	return "", err
}

// inCookie saves a session that has no live record: sealed, or moved out
// when it outgrew SpillAt. tombstone says that a tombstone of its return
// holds its key (which a move out replaces).
func (s *Spill) inCookie(ctx context.Context, name string, c *driver.Commit, now time.Time, tombstone bool) (string, error) {
	tok, err := s.cookie.seal(ctx, name, c, now, time.Time{})
	if err == nil && len(tok) <= s.at {
		return tok, nil
	}
	if err != nil && !errors.Is(err, driver.ErrTooLarge) {
		return "", err
	}
	// Out: the whole session, under its ID.
	if tombstone {
		if _, err := s.server.Backend().Delete(ctx, s.server.Key(c.Record.ID)); err != nil {
			return "", err
		}
	}
	whole := *c
	whole.Op = driver.OpCreate
	tok, err = s.server.Save(ctx, name, &whole, now)
	c.Record = whole.Record
	if !errors.Is(err, driver.ErrExists) {
		return tok, err
	}
	// A parallel request moved it out first: change that record.
	cur, succ, err := s.lookup(ctx, c.Record.ID)
	switch {
	case err == nil:
		return s.onServer(ctx, name, c, cur, now)
	case errors.Is(err, driver.ErrMoved) && succ == markEnded:
		return "", fmt.Errorf("cookiestore: the session was destroyed: %w", driver.ErrNotFound)
	case errors.Is(err, driver.ErrMoved):
		return "", driver.ErrMoved
	}
	return "", err
}

// onServer saves a session whose record is live: the commit's changes,
// key by key, then the form the record's size calls for. A session on the
// server starts its return when this request's view of it seals under
// ReturnAt; a returning one stays in the cookie while what the record
// holds seals under SpillAt (the view of a request that read it before
// the return is no measure), and ends its record after ReturnGrace.
func (s *Spill) onServer(ctx context.Context, name string, c *driver.Commit, cur *driver.Record, now time.Time) (string, error) {
	since, returning := returnedAt(cur.Values)
	start := false
	if !returning && s.back > 0 && c.Encode != nil {
		view, err := s.cookie.seal(ctx, name, c, now, time.Time{})
		if err != nil && !errors.Is(err, driver.ErrTooLarge) {
			return "", err
		}
		start = err == nil && len(view) <= s.back
	}
	w := *c
	if start {
		since = now
		w.Changes = withChange(c.Changes, driver.Change{Key: returningKey, Value: binary.BigEndian.AppendUint64(nil, uint64(now.UnixMilli()))})
		if w.Op == driver.OpRefresh {
			w.Op = driver.OpUpdate
		}
	}
	tok, err := s.server.Save(ctx, name, &w, now)
	c.Record = w.Record
	if err != nil || !returning && !start {
		return tok, err
	}
	if c.Encode == nil {
		return tok, nil // no codec to seal what the record holds: it stays on the server
	}
	back, err := s.readBack(ctx, c.Record.ID, s.lookup)
	if err != nil {
		return "", err
	}
	sealed, err := s.sealBack(ctx, name, c, back, now, since)
	if err != nil && !errors.Is(err, driver.ErrTooLarge) {
		return "", err
	}
	if err != nil || len(sealed) > s.at {
		// It grew past the spill mark meanwhile: it stays on the server.
		w = *c
		w.Op, w.Changes = driver.OpUpdate, driver.Changes{List: []driver.Change{{Key: returningKey, Delete: true}}}
		w.SetLifetime, w.SetKind = false, false
		return s.server.Save(ctx, name, &w, now)
	}
	if returning && !now.Before(since.Add(ReturnGrace)) {
		// The grace is over: end the record, and seal what it held last.
		back, err = s.readBack(ctx, c.Record.ID, func(ctx context.Context, id string) (*driver.Record, string, error) {
			return hook.ServerRetire(s.server, ctx, s.server.Key(id), markCookie, now.Add(serverstore.TombstoneTTL))
		})
		if err != nil {
			return "", err
		}
		if sealed, err = s.sealBack(ctx, name, c, back, now, time.Time{}); err != nil {
			return "", fmt.Errorf("cookiestore: the session returned to its cookie does not seal: %w", err)
		}
	}
	return sealed, nil
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
		c.Record = out.Record
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
	key := s.server.Key(old.ID)
	switch {
	case err == nil:
		return s.retired(s.server.Retire(ctx, name, old, next, now))
	case errors.Is(err, driver.ErrMoved) && succ == markEnded:
		return nil, fmt.Errorf("cookiestore: the session was destroyed: %w", driver.ErrNotFound)
	case errors.Is(err, driver.ErrMoved) && succ == markCookie:
		// Back in its cookie, its record ended: the tombstone of the
		// return gives way to the Regenerate's.
		if _, err := s.server.Backend().Delete(ctx, key); err != nil {
			return nil, err
		}
	case errors.Is(err, driver.ErrMoved):
		return s.retired(s.server.Retire(ctx, name, old, next, now)) // its own tombstone (a retry), or another's: the server store tells
	case !errors.Is(err, driver.ErrNotFound):
		return nil, err
	}
	rec, succ, err := hook.ServerMark(s.server, ctx, key, s.server.Key(next.ID), now.Add(serverstore.TombstoneTTL))
	switch {
	case errors.Is(err, driver.ErrMoved) && succ == s.server.Key(next.ID):
		return nil, nil // this Regenerate's own, retried
	case errors.Is(err, driver.ErrMoved) && succ == markEnded:
		return nil, fmt.Errorf("cookiestore: the session was destroyed: %w", driver.ErrNotFound)
	case err != nil:
		return nil, err
	}
	if rec, _ = s.retired(rec, nil); rec != nil && len(rec.Values) == 0 {
		rec = nil // the blank record the mark created
	}
	return rec, nil
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
			return nil // ended now, or before
		case errors.Is(err, driver.ErrMoved) && succ == markCookie:
			if _, err := s.server.Backend().Delete(ctx, key); err != nil {
				return err
			}
			fallthrough
		case errors.Is(err, driver.ErrNotFound):
			// In its cookie: a tombstone all the same.
			_, succ, err := hook.ServerMark(s.server, ctx, key, markEnded, until)
			if err == nil || errors.Is(err, driver.ErrMoved) && (succ == markEnded || succ == markCookie) {
				return nil
			}
			if !errors.Is(err, driver.ErrMoved) {
				return err
			}
			key = successorKey(succ) // moved by a Regenerate meanwhile
		case errors.Is(err, driver.ErrMoved):
			key = successorKey(succ) // retired by a Regenerate: the session it moved to ends too
		default:
			return err
		}
	}
	return nil
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
		if open == nil || scheme == "cookie" || strings.HasSuffix(scheme, "+") {
			return nil, fmt.Errorf("cookiestore: no server store registered for %q after cookie+ (registered: %s); import its package, e.g. _ \"github.com/crumbs-go/session/serverstore/redisstore\"", scheme, strings.Join(known, ", "))
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
