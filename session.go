package session

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"net/http"
	"slices"
	"time"
)

// A Session is one request's view of a user's session. Reach it from a
// handler with FromContext(r.Context()) (or From(r)). Nothing is read from
// the cookie or the store until a method needs it, so a handler that never
// touches its session costs no decoding and no Set-Cookie.
//
// A Session belongs to one request and is not safe for concurrent use by
// several goroutines.
type Session struct {
	w   writer // the response writer the middleware hands on
	m   *Manager
	r   *http.Request
	ctx context.Context

	loaded    bool
	isNew     bool
	rec       Record            // ID, deadlines, flags; Data is consumed on load
	raw       map[string][]byte // every key: its encoded value, nil when set in this request
	vals      map[string]any    // decoded or set values, by key; nil until needed
	modified  bool              // values or settings changed since the last commit
	touched   bool              // Touch was called
	destroyed bool              // Destroy was called and not yet committed
	ended     bool              // Destroy was called in this request: only a new value saves
	oldRec    *Record
	committed bool // a commit happened: headers carry its cookies
	dirtyLate bool // changed after the headers were written

	parent      *Session // the session of an outer Manager, if any
	clearCookie bool     // the request's cookie was rejected: expire it
	set         []string // the Set-Cookie lines this session added

	// What this request changed, key by key, for server stores to merge
	// onto a version another request stored meanwhile.
	changes map[string]bool // key: true = set, false = deleted
	cleared bool            // all values were removed first
}

// track records a key-level change.
func (s *Session) track(key string, set bool) {
	if s.changes == nil {
		s.changes = make(map[string]bool)
	}
	s.changes[key] = set
}

// merge re-applies this request's changes onto data, the encoded values of
// a newer stored version.
func (s *Session) merge(data []byte) ([]byte, error) {
	cur := map[string][]byte{}
	if !s.cleared {
		var err error
		if cur, err = s.m.codec.DecodeMap(data); err != nil {
			return nil, err
		}
	}
	for k, set := range s.changes {
		if set {
			cur[k] = s.raw[k]
		} else {
			delete(cur, k)
		}
	}
	return s.m.codec.EncodeMap(cur)
}

// load reads the session from the request on first use.
func (s *Session) load() {
	if s.loaded {
		return
	}
	s.loaded = true
	s.m.load(s)
}

func (s *Session) change() {
	s.modified = true
	if s.w.wroteHeader {
		s.dirtyLate = true
	}
}

// ID returns the session's identifier: 43 base64url characters. It changes
// with Regenerate and Destroy.
func (s *Session) ID() string { s.load(); return s.rec.ID }

// IsNew reports whether the request carried no valid session: this session
// was created for it.
func (s *Session) IsNew() bool { s.load(); return s.isNew }

// IsModified reports whether the session changed in this request in a way
// that will be saved.
func (s *Session) IsModified() bool { s.load(); return s.modified }

// Get returns the value stored under key, decoded by the Codec, or nil.
// Prefer the typed Get function.
func (s *Session) Get(key string) any {
	var v any
	if !lookup(s, key, &v) {
		return nil
	}
	return v
}

// Has reports whether key holds a value.
func (s *Session) Has(key string) bool {
	s.load()
	_, ok := s.raw[key]
	return ok
}

// Set stores v under key. v must be encodable by the Codec (JSON by
// default); the error handler hears of it at commit when it is not. A value
// obtained from Get and changed in place is saved only if Set again.
func (s *Session) Set(key string, v any) {
	s.load()
	if s.vals == nil {
		s.vals = make(map[string]any)
	}
	s.raw[key], s.vals[key] = nil, v
	s.track(key, true)
	s.change()
}

// Delete removes key. Deleting an absent key changes nothing.
func (s *Session) Delete(key string) {
	s.load()
	if _, ok := s.raw[key]; ok {
		delete(s.raw, key)
		delete(s.vals, key)
		s.track(key, false)
		s.change()
	}
}

// Clear removes every value, keeping the session and its ID.
func (s *Session) Clear() {
	s.load()
	if len(s.raw) > 0 {
		s.clearValues()
		s.change()
	}
}

// Keys returns the keys that hold values, sorted.
func (s *Session) Keys() []string {
	s.load()
	keys := make([]string, 0, len(s.raw))
	for k := range s.raw {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// Len returns the number of values.
func (s *Session) Len() int { s.load(); return len(s.raw) }

func (s *Session) clearValues() {
	clear(s.raw)
	clear(s.vals)
	clear(s.changes)
	s.cleared = true
}

const flashKey = "_flash"

// AddFlash queues a message for the next request that reads Flashes, such as
// the page a redirect leads to.
func (s *Session) AddFlash(msg string) {
	msgs, _ := Get[[]string](s, flashKey)
	s.Set(flashKey, append(msgs, msg))
}

// Flashes returns the queued messages, oldest first, and removes them.
func (s *Session) Flashes() []string {
	msgs, _ := Pop[[]string](s, flashKey)
	return msgs
}

// Regenerate gives the session a new ID, as on login, so that an ID known
// before (a fixation attack) is worthless after. With keep, the values stay;
// otherwise they are cleared. In server mode the old record is deleted when
// the response commits.
func (s *Session) Regenerate(keep bool) {
	s.load()
	if !s.isNew && s.oldRec == nil {
		old := s.rec
		s.oldRec = &old
	}
	s.rec.ID = s.m.generateID()
	s.rec.Version = 0 // a new record
	if !keep {
		s.clearValues()
	}
	s.change()
}

// Destroy ends the session: its values are cleared, the store's record is
// deleted, and every cookie of it (every chunk) expires in the browser when
// the response commits. Setting a value afterwards starts a new session
// with a new ID.
func (s *Session) Destroy() {
	s.load()
	if !s.isNew && s.oldRec == nil {
		old := s.rec
		s.oldRec = &old
	}
	s.clearValues()
	s.rec = s.m.freshRecord(s.m.now())
	s.destroyed, s.ended, s.isNew = true, true, true
	s.modified = false
	if s.w.wroteHeader {
		s.dirtyLate = true
	}
}

// Reload discards this request's changes and reads the session again from
// the request's cookie and the store.
func (s *Session) Reload() {
	*s = Session{w: s.w, m: s.m, r: s.r, ctx: s.ctx, parent: s.parent, set: s.set, committed: s.committed}
	s.load()
}

// Touch extends the idle deadline without changing any value: the cookie
// (cookie mode) or the record's expiry (server mode) is refreshed on commit.
func (s *Session) Touch() {
	s.load()
	s.touched = true
	if s.w.wroteHeader {
		s.dirtyLate = true
	}
}

// SetBrowserSession chooses the kind of cookie for this session: true gives
// a cookie without Max-Age that the browser drops when it closes (no
// "remember me"); false gives a persistent cookie that lasts until the
// session's deadline. The choice is saved with the session.
func (s *Session) SetBrowserSession(on bool) {
	s.load()
	if s.rec.BrowserSession != on {
		s.rec.BrowserSession = on
		s.change()
	}
}

// SetLifetime sets this session's absolute deadline to d from now, as a
// "remember me" for longer (or shorter) than the Manager's lifetime. d <= 0
// removes the absolute deadline.
func (s *Session) SetLifetime(d time.Duration) {
	s.load()
	if d <= 0 {
		s.rec.Expires = time.Time{}
	} else {
		s.rec.Expires = s.m.now().Add(d)
	}
	s.change()
}

// Deadline returns the time the session ends if nothing extends it: the
// earlier of the absolute and idle deadlines; zero means none.
func (s *Session) Deadline() time.Time {
	s.load()
	return earliest(s.rec.Expires, s.rec.IdleExpires)
}

// Save commits the session now, before the response is written, and returns
// what went wrong (for example an error wrapping ErrTooLarge). The
// middleware commits on its own before the headers go out; Save is for
// handlers that want the error in hand. Changes after Save are committed
// again with the headers.
func (s *Session) Save() error {
	if s.w.wroteHeader {
		return ErrHeadersWritten
	}
	return s.m.commit(s)
}

func earliest(a, b time.Time) time.Time {
	switch {
	case a.IsZero():
		return b
	case b.IsZero() || a.Before(b):
		return a
	}
	return b
}

// newID returns 256 random bits as 43 base64url characters.
func newID() string {
	var b [32]byte
	rand.Read(b[:]) // never fails (crypto/rand panics on a broken source)
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// Get returns the value under key as a T. The second result is false when
// the key is absent or its value cannot be had as a T. A value read back
// from the store is decoded straight into T, so types survive the round
// trip: Get[int] reads an int, Get[[]Item] a slice of Item.
func Get[T any](s *Session, key string) (T, bool) {
	var v T
	ok := lookup(s, key, &v)
	return v, ok
}

// Pop is Get followed by Delete.
func Pop[T any](s *Session, key string) (T, bool) {
	v, ok := Get[T](s, key)
	s.Delete(key)
	return v, ok
}

// lookup stores the value under key into *dst.
func lookup[T any](s *Session, key string, dst *T) bool {
	s.load()
	raw, ok := s.raw[key]
	if !ok {
		return false
	}
	if v, ok := s.vals[key]; ok {
		if t, ok := v.(T); ok {
			*dst = t
			return true
		}
		if raw == nil {
			// Set in this request as another type: convert through the
			// codec, exactly as the next request would read it.
			var err error
			if raw, err = s.m.codec.Marshal(v); err != nil {
				return false
			}
		}
	}
	var v T
	if err := s.m.codec.Unmarshal(raw, &v); err != nil {
		return false
	}
	if _, ok := s.vals[key]; !ok {
		if s.vals == nil {
			s.vals = make(map[string]any)
		}
		s.vals[key] = v
	}
	*dst = v
	return true
}
