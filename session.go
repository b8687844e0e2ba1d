package session

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/crumbs-go/session/driver"
	"github.com/crumbs-go/session/internal/hook"
)

// A Session is one request's view of a user's session. Reach it from a
// handler with FromContext(r.Context()) (or From(r)). Nothing is read from
// the cookie or the store until a method needs it, so a handler that never
// touches its session costs no decoding and no Set-Cookie.
//
// A Session belongs to one request and is not safe for concurrent use by
// several goroutines.
type Session struct {
	exchange // the request: kept across Reload
	view     // the session as this request loaded and changed it: Reload starts it anew

	// The context of the store calls of the load or commit under way
	// (beginStore): scp, a phase's own, for a request of the middleware.
	scp *storeCtx
	// spare holds the first phases' storeCtx (the load's and the first
	// commit's): with the Session, not one allocation each. used counts
	// those handed out; each is used once, as newStoreCtx's would be.
	spare      [2]storeCtx
	used       int
	storeDepth int
}

// view is the session as a request loaded and changed it.
type view struct {
	state                  state
	isNew                  bool          // the request brought no valid session (or Destroy ended it)
	touched                bool          // Touch was called
	rejected               bool          // the request's token was rejected or names no session: expire it
	late                   bool          // changed after the headers were written
	lateRead               bool          // first read after the headers were written
	loadErr                error         // the store failure of the load, for Manager.Load
	parts                  int           // cookies the request's token took (cookie transport)
	carried                int           // the session's cookies the request carried, ignored ones included
	setLife                bool          // SetLifetime: the store writes the absolute deadline
	lifetime               time.Duration // the span SetLifetime gave, for Cookie
	sentBytes, sentCookies int           // what the last token written took (WithMetrics)
	recordBytes            int           // the encoded values the last save stored (WithMetrics)
	setKind                bool          // SetBrowserSession, SetCookie: the store writes the cookie kind and attributes
	sentCookie             []byte        // the attributes the request's cookies were set with (rec.Cookie as loaded)
	dropped                bool          // changes were dropped: the token names an ID a login retired
	moved                  bool          // the request's token names an ID a Regenerate retired
	nextStored             string        // the new ID a Regenerate stored, before its old one is retired
	bindDue                bool          // a session with an identity value but no binding: the commit binds it
	graceRead              bool          // the token's ID is retired; the store let it read its successor (a grace)
	badKey                 error         // a key Set that no store keeps faithfully
	foreign                []int         // the Importers whose cookies the response expires
	migrated               int           // 1 + the driver.Importer whose session this is, until its first save
	identity               []byte        // WithIdentityKey: the identity's encoded value as loaded or last saved; nil: none

	rec  driver.Record     // ID, deadlines, flags; Values and Data are consumed on load
	raw  map[string][]byte // every key: its encoded value, nil when set in this request
	vals map[string]any    // decoded or set values, by key; nil until needed
	old  *driver.Record    // the stored session that Regenerate retires or Destroy deletes
	from *driver.Record    // the retired record a moved token names, for Destroy

	// What this request changed since it loaded the session (or since its
	// last commit): the change set a server store applies.
	changes map[string]bool    // key: true = set, false = deleted
	cleared bool               // all values were removed first
	updates map[string]*update // keys changed through Update: re-run on a conflict
}

// exchange is what a Session keeps for its whole request: where the token
// comes from and goes to, and what the request's commits did. Reload keeps
// it and reloads the rest.
type exchange struct {
	m      *Manager
	ctx    context.Context
	t      transport // where the token comes from and goes to
	w      *writer   // the response writer of the HTTP middleware (&wr); nil otherwise
	wr     writer
	r      *http.Request
	parent *Session // the session of an outer Manager, if any
	detach bool     // a request of the middleware: its store calls outlive its client (storeCtx)

	committed bool    // a commit happened: the transport carries its token
	saved     *string // the token of the last commit ("" once ended), for Reload
	nextToken string  // the token of the new ID a Regenerate stored, before its old one is retired
	attempted string  // the ID this request last tried to create
	// attemptedUser and nextUser are the users the records of attempted
	// and nextStored were bound to.
	attemptedUser, nextUser string
	// set names the keys this request set (Set, Update, AddFlash), across
	// its commits: what an identity change keeps (WithIdentityKey).
	set map[string]bool
	// changedAny records that the request changed a value or a setting,
	// in any of its commits: its Regenerate is not ID-only (a second factor
	// saved before the rotation is a privilege raise all the same).
	changedAny bool
}

// track records a key-level change.
func (s *Session) track(key string, set bool) {
	if s.changes == nil {
		s.changes = make(map[string]bool)
	}
	s.changes[key] = set
	delete(s.updates, key) // a plain Set or Delete after an Update is unconditional
	if set {
		s.noteSet(key)
	}
}

// noteSet records a key this request set (WithIdentityKey).
func (s *Session) noteSet(key string) {
	if s.m.cfg.identityKey == "" {
		return
	}
	if s.set == nil {
		s.set = make(map[string]bool)
	}
	s.set[key] = true
}

// load reads the session from the request on first use.
func (s *Session) load() {
	if s.state == unloaded {
		s.m.load(s)
	}
}

func init() {
	hook.Stored = func(x any) (id, handle string) {
		s := x.(*Session)
		s.load()
		switch {
		case s.graceRead && s.old == nil:
			return s.rec.ID, s.rec.Handle // the session the retired ID read
		case s.old != nil:
			return s.old.ID, s.old.Handle
		}
		return s.rec.ID, ""
	}
}

// ID returns the session's identifier: 43 base64url characters. It changes
// with Regenerate and Destroy.
func (s *Session) ID() string { s.load(); return s.rec.ID }

// IsNew reports whether the request carried no valid session: this session
// was created for it (or Destroy ended the one it carried).
func (s *Session) IsNew() bool { s.load(); return s.isNew }

// IsModified reports whether the session changed in this request in a way
// that the next commit will save.
func (s *Session) IsModified() bool {
	s.load()
	switch s.state {
	case changed, created, regenerated, destroyed:
		return true
	}
	return false
}

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
// default) and key valid UTF-8 without NUL bytes (what JSON and every store
// keep faithfully); the error handler hears of either at commit otherwise.
// A value obtained from Get and changed in place is saved only if Set again.
func (s *Session) Set(key string, v any) {
	s.load()
	s.checkKey(key)
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
	s.changedAny = true
	clear(s.raw)
	clear(s.vals)
	clear(s.changes)
	clear(s.updates)
	s.cleared = true
}

const flashKey = "_flash"

// AddFlash queues a message for the next request that reads Flashes, such as
// the page a redirect leads to. Parallel requests' messages all land
// (Update).
func (s *Session) AddFlash(msg string) {
	Update(s, flashKey, func(msgs []string) []string { return append(msgs, msg) }) // a []string always encodes
}

// Flashes returns the queued messages, oldest first, and removes them.
func (s *Session) Flashes() []string {
	msgs, _ := Pop[[]string](s, flashKey)
	return msgs
}

// Regenerate gives the session a new ID, as on login, so that an ID known
// before (a fixation attack) is worthless after. With keep, the values stay;
// otherwise they are cleared. In server mode the old ID is retired when the
// response commits, and values that parallel requests stored under it
// meanwhile move with the session. If another request destroyed the session
// meanwhile (a logout), the destruction wins: nothing is saved, the token is
// expired, and the error handler is not called (the log says so).
func (s *Session) Regenerate(keep bool) {
	s.load()
	switch s.state {
	case loaded, changed:
		old := s.rec
		s.old = &old
		s.state = regenerated
	case fresh, destroyed:
		s.state = created
	}
	s.rec.ID = s.m.generateID(s.r)
	if !keep {
		s.clearValues()
	}
	s.noteLate()
}

// Destroy ends the session: its values are cleared, the store's record is
// deleted, and every token of it (every chunk cookie) expires when the
// response commits. Setting a value afterwards starts a new session with a
// new ID.
func (s *Session) Destroy() {
	s.load()
	switch {
	case s.state == loaded || s.state == changed:
		old := s.rec
		s.old = &old
	case s.from != nil:
		// The token names an ID a login retired (the request's session is
		// fresh, or created since): a logout that raced the login ends the
		// login's session too.
		s.old = s.from
	}
	s.clearValues()
	s.rec = s.m.freshRecord(s.r, s.m.now())
	s.state, s.isNew = destroyed, true
	s.noteLate()
}

// Reload discards this request's changes and reads the session again from
// the store: through the token of this request's last commit (Save), or
// the request's own.
func (s *Session) Reload() {
	s.view = view{}
	s.load()
}

// Touch extends the idle deadline without changing any value: the cookie
// (cookie mode) or the record's deadline (server mode) is refreshed on
// commit.
func (s *Session) Touch() {
	s.load()
	s.touched = true
	s.noteLate()
}

// SetBrowserSession chooses the kind of cookie for this session: true gives
// a cookie without Max-Age that the browser drops when it closes (no
// "remember me"); false gives a persistent cookie that lasts until the
// session's deadline. The choice is saved with the session.
func (s *Session) SetBrowserSession(on bool) {
	s.load()
	if s.rec.BrowserSession != on {
		s.rec.BrowserSession = on
		s.setKind = true
		s.change()
	}
}

// SetCookie gives this session's cookie its own attributes, for a session
// that needs others than the Manager's (WithCookie): a stricter SameSite
// for an administrator, Secure always, Partitioned for an embedded widget.
// A zero field keeps the Manager's; SetCookie(Cookie{}) restores them all.
// The attributes are saved with the session, so every later response that
// writes its cookie (a refresh, a Regenerate) keeps them. The cookie stays
// HttpOnly.
//
// SetCookie refuses, and changes nothing, what the Manager's configuration
// forbids or a browser would drop: a Path or Domain other than the
// Manager's (a session with a scope of its own would leave the browser two
// cookies of one name, which no request can tell apart: use a Manager per
// path), invalid values, Secure: SecureNever where the Manager's cookies
// may be Secure (a session cannot weaken them), and SameSite=None or
// Partitioned without Secure. Header tokens (WithHeaderToken) have no
// attributes: SetCookie is saved but changes nothing they carry.
func (s *Session) SetCookie(ck Cookie) error {
	s.load()
	if err := ck.check("SetCookie"); err != nil {
		return err
	}
	cfg := &s.m.cfg
	if ck.Secure == SecureNever && cfg.secure != SecureNever {
		return errors.New("session: SetCookie: Secure: SecureNever is refused where the Manager's cookies may be Secure; a session cannot weaken them")
	}
	if eff := cfg.cookieOf(encodeCookie(ck)); eff.Secure == SecureNever && (eff.SameSite == http.SameSiteNoneMode || eff.Partitioned) {
		return errors.New("session: SetCookie: SameSite=None and Partitioned need Secure cookies, which the Manager's configuration (SecureNever) forbids")
	}
	if err := partitionedFits(ck.Partitioned, s.m.chunks, "SetCookie"); err != nil {
		return err
	}
	if ck.Path != "" && ck.Path != cfg.path || ck.Domain != "" && ck.Domain != cfg.domain {
		return fmt.Errorf("session: SetCookie: Path %q, Domain %q: a session's scope is the Manager's (Path %q, Domain %q); with its own, the browser would hold two cookies of one name that no request can tell apart: use a Manager per path", ck.Path, ck.Domain, cfg.path, cfg.domain)
	}
	if enc := encodeCookie(ck); !bytes.Equal(enc, s.rec.Cookie) {
		s.rec.Cookie = enc
		s.setKind = true
		s.change()
	}
	return nil
}

// SetLifetime sets this session's absolute deadline to d from now, as a
// "remember me" for longer (or shorter) than the Manager's lifetime. d is
// capped at 400 days, the longest browsers keep a cookie; d <= 0 restores
// the Manager's lifetime (WithLifetime). A session always keeps a deadline.
func (s *Session) SetLifetime(d time.Duration) {
	s.load()
	if d <= 0 {
		d = s.m.cfg.lifetime
	}
	s.rec.Expires = time.Time{}
	if d > 0 {
		s.rec.Expires = s.m.now().Add(min(d, maxAge)).Truncate(time.Second)
	}
	s.setLife, s.lifetime = true, min(d, maxAge)
	s.change()
}

// A CookieInfo is a session's cookie as this request sees it, the way
// express-session's req.session.cookie shows it: its attributes and its
// times. Session.Cookie returns it.
type CookieInfo struct {
	// Cookie holds the attributes in effect, every field set: the
	// Manager's (WithCookie) with the session's own (SetCookie) over them.
	// Secure is SecureAlways where the cookie name, SameSite=None or
	// Partitioned require it.
	Cookie
	// OriginalMaxAge is the span a response that refreshes the session
	// gives its cookie, express-session's cookie.originalMaxAge: the idle
	// timeout (WithIdleTimeout) or the lifetime (WithLifetime, or
	// SetLifetime called in this request; a SetLifetime of an earlier
	// request shows in Expires), whichever is shorter. 0 for a
	// browser-session cookie.
	OriginalMaxAge time.Duration
	// Expires is the cookie's Expires: the session's deadline as this
	// request's response will leave it (Deadline, or later when the
	// response writes or refreshes the session: a change, Touch, a due idle
	// refresh). Zero for a browser-session cookie (SetBrowserSession),
	// which has none.
	Expires time.Time
	// MaxAge is the time left until Expires as of now, never negative:
	// express-session's cookie.maxAge. 0 when Expires is zero.
	MaxAge time.Duration
}

// Cookie returns the session's cookie as this request sees it: its
// attributes, the span a refresh gives it, its expiry and the time left
// (see CookieInfo). With header tokens (WithHeaderToken) no cookie is sent;
// the times apply to the token.
func (s *Session) Cookie() CookieInfo {
	s.load()
	m := s.m
	info := CookieInfo{Cookie: m.cfg.cookieOf(s.rec.Cookie)}
	if info.SameSite == http.SameSiteNoneMode || info.Partitioned {
		info.Secure = SecureAlways
	}
	if s.rec.BrowserSession {
		return info
	}
	life := m.cfg.lifetime
	if s.setLife {
		life = s.lifetime
	}
	info.OriginalMaxAge = life
	if m.cfg.idle > 0 && (life == 0 || m.cfg.idle < life) {
		info.OriginalMaxAge = m.cfg.idle
	}
	now := m.now()
	idle := s.rec.IdleExpires
	if m.cfg.idle > 0 && (idle.IsZero() || s.touched || m.cfg.rolling || m.cfg.resave || s.rec.Stale || s.state != loaded || idle.Sub(now) < m.cfg.idle/2) {
		// This response writes the session, or refreshes it: its idle
		// deadline moves, as the Manager will move it.
		idle = now.Add(m.cfg.idle).Truncate(time.Second)
	}
	if info.Expires = earliest(s.rec.Expires, idle); !info.Expires.IsZero() {
		info.MaxAge = max(info.Expires.Sub(now), 0)
	}
	return info
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
// again with the headers. When another request's Regenerate moved the
// session since this one loaded it, Save drops the changes and returns
// nil, and the rest of the request is as one whose token names a retired
// ID: its changes are dropped too, and its response leaves the newer
// cookie alone (Commit reports ErrMoved).
func (s *Session) Save() error {
	if s.w != nil && s.w.wroteHeader {
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

// An update is the Update functions a request applied to one key, kept to
// be re-run when another request changed the key meanwhile.
type update struct {
	old    []byte // the value the first function saw (the stored one)
	hadOld bool
	fns    []func(old []byte, had bool) ([]byte, error) // none: a resave, which rewrites the value as it was read
}

// Update changes the value under key atomically: fn receives the current
// value as a T (the zero value when the key is absent) and returns the new
// one, which Update stores and returns. Use it for read-modify-write of one
// key, such as a counter or a list that parallel requests append to.
//
// In server mode, when another request changed the key between this
// request's load and its commit, the commit re-runs fn on the newer value
// (with a jittered backoff, bounded by WithConflictTimeout and the
// request's context), so no update is lost. fn must therefore be pure: it
// may run more than once, and only its last result is stored. Update
// returns the value as of this request's load; when fn was re-run, Get
// after Save returns the value stored. Several Updates of one key in one
// request compose, in order. A Set or Delete of the key after an Update
// makes that key's change unconditional.
//
// In cookie mode there is nothing shared to update: the browser keeps the
// cookie of the last response it receives, so of parallel requests only
// one's changes survive, whatever they used.
//
// The error is that of the Codec, when the current value does not decode
// as a T or the new one does not encode; the session is then unchanged.
func Update[T any](s *Session, key string, fn func(T) T) (T, error) {
	s.load()
	var result T
	if !validKey(key) {
		return result, fmt.Errorf("session: Update(%q): a key must be valid UTF-8 without NUL bytes", key)
	}
	step := func(old []byte, had bool) ([]byte, error) {
		var v T
		if had {
			if err := s.m.codec.Unmarshal(old, &v); err != nil {
				return nil, err
			}
		}
		result = fn(v)
		return s.m.codec.Marshal(result)
	}
	cur, had := s.raw[key]
	u := s.updates[key]
	if _, changedHere := s.changes[key]; changedHere && u == nil || s.cleared {
		// Changed by a plain Set or Delete in this request, or after Clear:
		// unconditional.
		var err error
		if had {
			if cur, err = s.encodeValue(key); err != nil {
				return result, err
			}
		}
		b, err := step(cur, had)
		if err != nil {
			return result, fmt.Errorf("session: Update(%q): %w", key, err)
		}
		s.raw[key] = b
		delete(s.vals, key)
		s.track(key, true)
		s.change()
		return result, nil
	}
	b, err := step(cur, had)
	if err != nil {
		return result, fmt.Errorf("session: Update(%q): %w", key, err)
	}
	if u == nil {
		u = &update{old: cur, hadOld: had}
		if s.updates == nil {
			s.updates = make(map[string]*update)
		}
	}
	u.fns = append(u.fns, step)
	if s.changes == nil {
		s.changes = make(map[string]bool)
	}
	s.raw[key], s.changes[key], s.updates[key] = b, true, u
	delete(s.vals, key)
	s.noteSet(key)
	s.change()
	return result, nil
}

// rebase re-runs the Update functions on the values another request stored
// meanwhile (cur: the stored value of every checked key that exists).
func (s *Session) rebase(cur map[string][]byte) error {
	for key, u := range s.updates {
		old, had := cur[key]
		if len(u.fns) == 0 && !had {
			// A resave of a value another request deleted: it stays deleted.
			delete(s.raw, key)
			delete(s.vals, key)
			delete(s.changes, key)
			delete(s.updates, key)
			continue
		}
		b, h := old, had
		for _, fn := range u.fns {
			var err error
			if b, err = fn(b, h); err != nil {
				return fmt.Errorf("session: Update(%q) on the newer value: %w", key, err)
			}
			h = true
		}
		u.old, u.hadOld = old, had
		s.raw[key] = b
		delete(s.vals, key)
	}
	return nil
}

// changeSet lists what the request changed, for the store. It runs after
// encode, so every value set is encoded.
func (s *Session) changeSet() driver.Changes {
	c := driver.Changes{Clear: s.cleared}
	if len(s.changes) == 0 {
		return c
	}
	c.List = make([]driver.Change, 0, len(s.changes))
	for k, set := range s.changes {
		ch := driver.Change{Key: k, Delete: !set}
		if set {
			ch.Value = s.raw[k]
		}
		if u := s.updates[k]; u != nil {
			ch.Check, ch.Old, ch.HadOld = true, u.old, u.hadOld
		}
		c.List = append(c.List, ch)
	}
	return c
}

// encodeValue returns the encoded value of key, encoding it if it was set
// in this request.
func (s *Session) encodeValue(key string) ([]byte, error) {
	if b := s.raw[key]; b != nil {
		return b, nil
	}
	b, err := s.m.codec.Marshal(s.vals[key])
	if err != nil {
		return nil, fmt.Errorf("session: value %q does not encode: %w", key, err)
	}
	s.raw[key] = b
	return b, nil
}

// checkKey records a key no store can keep faithfully, for the commit.
func (s *Session) checkKey(key string) {
	if s.badKey == nil && !validKey(key) {
		s.badKey = fmt.Errorf("session: key %q: a key must be valid UTF-8 without NUL bytes", key)
	}
}

func validKey(key string) bool { return utf8.ValidString(key) && strings.IndexByte(key, 0) < 0 }

// encode encodes every value set in this request.
func (s *Session) encode() error {
	if s.badKey != nil {
		return s.badKey
	}
	for k, raw := range s.raw {
		if raw == nil {
			if _, err := s.encodeValue(k); err != nil {
				return err
			}
		}
	}
	return nil
}
