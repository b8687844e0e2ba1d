// Package fuzz holds the reference model of a crumbs session and the
// harness that holds every store to it.
//
// The model (this file) is the executable form of the semantics the root
// package's doc.go states: plain Go, no crypto, no I/O. A Model is the
// world the Manager serves (the clock, the secrets' epoch and, in server
// mode, the stored sessions); a Request is one request's view of one
// session, with the operations a handler may call and the decision the
// commit takes. The driver (driver.go) runs the same scenario through a real
// Manager and compares every observation with the model's.
package fuzz

import (
	"encoding/json"
	"maps"
	"slices"
	"strconv"
	"time"
)

// TombstoneTTL is how long a Regenerate's retired ID keeps naming its
// successor (serverstore.TombstoneTTL).
const TombstoneTTL = 10 * time.Minute

// maxAge is the longest a cookie lives and a deadline lies ahead: 400 days.
const maxAge = 400 * 24 * time.Hour

// Config is the part of a Manager's configuration that decides what a
// session does.
type Config struct {
	Server            bool // the cookie names a stored session; else it holds the session
	Header            bool // tokens travel in headers: no Max-Age, a token is dropped only when told
	Lifetime, Idle    time.Duration
	Rolling, Resave   bool
	SaveUninitialized bool
	UnsetDestroy      bool // WithDestroyEmpty(true)
	BrowserSession    bool // WithBrowserSessionCookie
	// IdentityKey is WithIdentityKey's key ("" for none): a commit of a
	// loaded session whose value under it was set, changed or removed
	// regenerates it with only the values the request set (across its
	// commits).
	IdentityKey string
	// EngineClock: the backend expires records and tombstones by the
	// model's clock (the memory backend with the fake clock). Redis and
	// PostgreSQL expire by their own clocks, which a scenario's few real
	// seconds never bring near a deadline set by the fake clock (always
	// ahead of real time): for them a tombstone outlives the scenario,
	// while the Manager still enforces every session deadline by the
	// model's clock.
	EngineClock bool
	// Express is the variant of the Express format (express-session's
	// semantics, spec/express-v1.md), in server mode with cookies only.
	// There a session's idle span is its cookie's originalMaxAge (Span),
	// which a request's SetLifetime sets ("remember me") and a Regenerate
	// starts anew; its idle deadline is the Redis key's TTL, which Redis
	// counts by its own clock, which the scenario's does not move: a load
	// sees the TTL that the last write set, from now, a moment less (the
	// real time since: the driver waits 2 ms before a load, so that it is
	// never zero). So under the scenario's clock only the absolute deadline
	// (_crumbsExpires) ends a session; a Go read past it deletes the
	// record.
	Express bool
	// Revocation is cookie mode with a revocation store
	// (cookiestore.WithRevocation) checked on every request, without grace:
	// a cookie of a session bound to a user (the identity value) that a
	// Destroy ended is refused (a fresh session, the cookie expired), one
	// that a Regenerate superseded reads as a retired ID does in server
	// mode (a fresh session, not saved, the cookie left alone), while the
	// revocation lasts: until the earlier of the ending cookie's absolute
	// deadline and, with an idle timeout, now plus it, plus a second (400
	// days without either).
	Revocation bool
}

// Session is a session between requests: what a server store holds, or
// what a cookie carries.
type Session struct {
	ID                   int               // the model's name for the ID: 1, 2, 3 … in order of creation
	Values               map[string]string // key: the value's JSON
	Expires, IdleExpires time.Time         // zero: none
	Browser              bool              // a cookie without Max-Age
	// Seen is when a server-mode write last stored it, in whole seconds:
	// the last-seen time of a session bound to a user (package devices).
	Seen time.Time
	// Express (Config.Express): the cookie's originalMaxAge (0: null), and
	// the TTL the last write gave the record.
	Span, TTL time.Duration
}

func (s *Session) clone() *Session {
	c := *s
	c.Values = maps.Clone(s.Values)
	if c.Values == nil {
		c.Values = map[string]string{}
	}
	return &c
}

// deadline is the earlier of the two deadlines; zero means none.
func (s *Session) deadline() time.Time {
	switch {
	case s.Expires.IsZero():
		return s.IdleExpires
	case s.IdleExpires.IsZero() || s.Expires.Before(s.IdleExpires):
		return s.Expires
	}
	return s.IdleExpires
}

func (s *Session) live(now time.Time) bool {
	d := s.deadline()
	return d.IsZero() || now.Before(d)
}

// TokenKind is what a client holds for one Manager.
type TokenKind uint8

const (
	NoToken TokenKind = iota // nothing: no cookie, no header
	Valid                    // a token a response gave
	Broken                   // tampered with, truncated, forged: no secret opens it
)

// Token is a token as the model knows it: which session it names (server
// mode) or carries (cookie mode), and under which secret it was sealed.
type Token struct {
	Kind  TokenKind
	ID    int      // server mode: the session it names
	Snap  *Session // cookie mode: the session it carries
	Epoch int      // the secret epoch that sealed or signed it
	// JarExpires is when the browser drops the cookie (its Max-Age); zero
	// for a cookie without Max-Age and for header tokens.
	JarExpires time.Time
}

// revocation is what a revocation store holds of one session.
type revocation struct {
	until time.Time
	moved bool      // a Regenerate superseded it; else a Destroy ended it
	at    time.Time // when: a moved answer lasts TombstoneTTL, then the cookie is refused
	succ  int       // moved by a Regenerate to the same user: the session it moved to
}

// tomb is a retired ID: it names its successor until until.
type tomb struct {
	to    int
	until time.Time
	at    time.Time         // when the Regenerate retired it
	same  bool              // an ID-only Regenerate of a bound session: the grace applies
	vals  map[string]string // the values then: the grace reads the new session only while it holds them
}

// Grace is how long an ID-only Regenerate's old ID reads the session it
// moved to (serverstore.DefaultGrace).
const Grace = 10 * time.Second

// Revoked returns what the revocation store holds of session id now
// (Config.Revocation): a bound session ended or superseded, while that
// lasts.
func (m *Model) Revoked(id int) (revocation, bool) {
	rv, ok := m.revoked[id]
	return rv, ok && m.Now.Unix() < rv.until.Unix()
}

// revoke ends a bound session's cookies (Config.Revocation), as a Destroy
// or (moved) a Regenerate: rec is the session as the ending request held
// it when it called Destroy or Regenerate.
func (m *Model) revoke(id int, rec *Session, moved bool) {
	if !m.Cfg.Revocation || !m.bound[id] || rec.ID != id {
		return
	}
	d := rec.Expires
	if m.Cfg.Idle > 0 {
		if idle := m.Now.Add(m.Cfg.Idle).Truncate(time.Second); d.IsZero() || idle.Before(d) {
			d = idle
		}
	}
	if d.IsZero() || d.Sub(m.Now) > maxAge {
		d = m.Now.Add(maxAge)
	}
	until := time.Unix(d.Unix()+1, 0)
	if prev, ok := m.revoked[id]; !moved && ok && !prev.moved && prev.until.After(until) {
		until = prev.until
	}
	m.revoked[id] = revocation{until: until, moved: moved, at: m.Now}
}

// SameUser reports whether two sessions' values bind them to one user (a
// same-user Regenerate, whose old ID reads the new session for Grace).
func (m *Model) SameUser(old, next map[string]string) bool {
	c := m.Cfg
	if !c.Server || c.Express || c.IdentityKey == "" {
		return false
	}
	u := boundTo(old[c.IdentityKey])
	return u != "" && u == boundTo(next[c.IdentityKey])
}

// Resolves reports whether a retired ID reads its successor now: within
// the grace of an ID-only Regenerate, while the successor holds the values
// it had then.
func (m *Model) Resolves(id int) bool {
	t, ok := m.retired[id]
	if !ok || !t.same || m.Now.Sub(t.at) >= Grace {
		return false
	}
	s, ok := m.store[t.to]
	return ok && maps.Equal(s.Values, t.vals)
}

// Model is the world: the clock, the secret epoch (each rotation puts a
// new secret first and keeps one older one), and the server store.
type Model struct {
	Cfg     Config
	Now     time.Time
	Epoch   int
	store   map[int]*Session
	retired map[int]tomb
	serial  int
	bound   map[int]bool       // Revocation: sessions created bound to a user
	revoked map[int]revocation // Revocation: ended bound sessions
}

// NewModel starts a world at now.
func NewModel(cfg Config, now time.Time) *Model {
	return &Model{Cfg: cfg, Now: now, store: map[int]*Session{}, retired: map[int]tomb{}, bound: map[int]bool{}, revoked: map[int]revocation{}}
}

func (m *Model) newID() int { m.serial++; return m.serial }

// Rotate puts a new secret first: tokens of the previous epoch still open
// (and are sent again under the new one), older ones no longer do.
func (m *Model) Rotate() { m.Epoch++ }

// Advance moves the clock.
func (m *Model) Advance(d time.Duration) { m.Now = m.Now.Add(d) }

// Drop is the browser dropping what its jar holds past Max-Age.
func (m *Model) Drop(t Token) Token {
	if t.Kind != NoToken && !t.JarExpires.IsZero() && !m.Now.Before(t.JarExpires) {
		return Token{}
	}
	return t
}

// CloseBrowser is the browser closing: cookies without Max-Age go.
func (m *Model) CloseBrowser(t Token) Token {
	if !m.Cfg.Header && t.JarExpires.IsZero() {
		return Token{}
	}
	return t
}

// Stored returns the live session a server-mode token names, if any.
func (m *Model) Stored(id int) (*Session, bool) {
	s, ok := m.store[id]
	if !ok || !m.alive(s) {
		return nil, false
	}
	return s, true
}

// alive reports whether a stored session is live. In the Express variant
// only the absolute deadline ends it: the TTL runs by Redis's clock.
func (m *Model) alive(s *Session) bool {
	if m.Cfg.Express {
		return s.Expires.IsZero() || m.Now.Before(s.Expires)
	}
	return s.live(m.Now)
}

// Sessions returns the stored sessions, live or not, by model ID.
func (m *Model) Sessions() map[int]*Session { return m.store }

// Alive reports whether a stored session is live now.
func (m *Model) Alive(s *Session) bool { return m.alive(s) }

// Loaded is a stored session as a load sees it: in the Express variant
// its idle deadline is now plus the key's TTL, a moment less.
func (m *Model) Loaded(s *Session) Session {
	l := *s
	if m.Cfg.Express {
		l.IdleExpires = m.Now.Add(s.TTL - time.Nanosecond)
	}
	return l
}

// Adopt stores s as the session under its ID (after a parallel group,
// whose outcome the harness checks against the concurrency promises).
func (m *Model) Adopt(s *Session) {
	if s.ID > m.serial {
		m.serial = s.ID
	}
	m.store[s.ID] = s.clone()
}

// Forget removes a stored session and any tombstone of its ID.
func (m *Model) Forget(id int) { delete(m.store, id); delete(m.retired, id) }

// Retired reports the successor a tombstone names.
func (m *Model) Retired(id int) (int, bool) {
	t, ok := m.retired[id]
	if !ok || (m.Cfg.EngineClock && !m.Now.Before(t.until)) {
		return 0, false
	}
	return t.to, true
}

// NewID allocates an ID the harness saw appear (a parallel group's).
func (m *Model) NewID() int { return m.newID() }

// Retire records a Regenerate of old into next; idOnly: the regenerating
// request changed nothing else (the grace applies only then).
func (m *Model) Retire(old int, next *Session, idOnly bool) {
	var same bool
	if o, ok := m.store[old]; ok && idOnly {
		same = m.SameUser(o.Values, next.Values)
	}
	delete(m.store, old)
	m.retired[old] = tomb{to: next.ID, until: m.Now.Add(TombstoneTTL), at: m.Now, same: same, vals: maps.Clone(next.Values)}
}

// state is where a request's session stands (request.go in the root).
type state uint8

const (
	unloaded state = iota
	fresh
	loaded
	changed
	created
	regenerated
	destroyed
)

// Outcome is what a commit sends: nothing, a token (Set) or its expiry.
type Outcome uint8

const (
	Nothing Outcome = iota
	Set
	Expire
)

var outcomeNames = [...]string{"nothing", "set", "expire"}

func (o Outcome) String() string { return outcomeNames[o] }

// Request is one request's session.
type Request struct {
	m        *Model
	carried  Token // what the request carried
	saved    *Token
	state    state
	isNew    bool
	vals     map[string]string
	rec      Session // ID, deadlines, kind
	oldRec   Session // rec when Destroy or Regenerate set old
	oldUser  string  // the user old is bound to, when Regenerate set it
	touched  bool
	stale    bool
	rejected bool
	moved    bool
	from     int             // the ID a moved token names
	old      int             // the stored session Destroy deletes or Regenerate retires (0: none)
	setLife  bool            // SetLifetime: the absolute deadline is the request's
	setKind  bool            // SetBrowserSession changed the kind
	identity *string         // IdentityKey: the value as loaded or last committed (nil: none)
	setKeys  map[string]bool // keys the request set, across its commits and Reloads
	dirty    bool            // the request changed a value or setting, in any commit: its Regenerate is not ID-only
	late     bool            // a change, or the first read, after the headers went out
	written  bool            // the headers went out
	commits  bool            // a commit answered already

	// What the response carries, as the commits left it.
	Out      Outcome
	OutToken Token
	// MaxAge is the Max-Age of a Set cookie (0: none).
	MaxAge int64
	// Late reports a change, or the session's first read, after the
	// headers went out: the error handler hears of ErrHeadersWritten.
	Late bool
	// Used reports that a commit found the session in use: the response
	// varies on the token.
	Used bool
}

// Begin starts a request that carries tok.
func (m *Model) Begin(tok Token) *Request { return &Request{m: m, carried: tok} }

// fresh gives the request a new, unsaved session.
func (r *Request) freshRecord() {
	r.vals = map[string]string{}
	r.rec = Session{ID: r.m.newID(), Browser: r.m.Cfg.BrowserSession}
	if r.m.Cfg.Lifetime > 0 {
		r.rec.Expires = r.m.Now.Add(r.m.Cfg.Lifetime).Truncate(time.Second)
	}
	r.state, r.isNew = fresh, true
}

// load reads the session on first use.
func (r *Request) load() {
	if r.state != unloaded {
		return
	}
	m := r.m
	tok := r.carried
	carried := tok.Kind != NoToken
	if r.saved != nil {
		tok, carried = *r.saved, false
	}
	if r.written {
		// First read after the headers went out: the response has no
		// Vary nor Cache-Control; the error handler hears of it.
		r.late = true
	}
	r.state = loaded
	switch {
	case tok.Kind == NoToken:
	case tok.Kind == Broken || tok.Epoch < m.Epoch-1:
		r.rejected = true
	case m.Cfg.Server:
		if to, ok := m.Retired(tok.ID); ok {
			r.moved, r.from = true, tok.ID
			if s, live := m.Stored(to); live && m.Resolves(tok.ID) {
				// Within the grace of a same-user Regenerate: the request
				// reads the new session; its changes are not saved.
				r.vals, r.rec = maps.Clone(s.Values), m.Loaded(s)
				r.rec.ID, r.rec.Values = tok.ID, nil
				r.noteIdentity()
				return
			}
			break
		}
		s, ok := m.store[tok.ID]
		switch {
		case !ok:
			r.rejected = carried
		case !m.alive(s):
			r.rejected = true
			if m.Cfg.Express {
				delete(m.store, tok.ID) // the Go read deletes it
			}
		default:
			r.vals, r.rec = maps.Clone(s.Values), m.Loaded(s)
			r.rec.Values = nil
			r.stale = tok.Epoch < m.Epoch
			r.noteIdentity()
			return
		}
	default:
		if s := tok.Snap; s.live(m.Now) {
			if rv, ok := m.Revoked(s.ID); ok {
				if n, ok := m.Revoked(rv.succ); rv.succ != 0 && ok && !n.moved {
					// The session a same-user Regenerate moved it to was
					// ended: the old cookie is refused too.
					r.rejected = true
					break
				}
				if rv.moved && m.Now.Unix() < rv.at.Unix()+int64(TombstoneTTL/time.Second) {
					r.moved, r.from = true, s.ID
					break
				}
				r.rejected = true
				break
			}
			r.vals, r.rec = maps.Clone(s.Values), *s
			r.rec.Values = nil
			r.stale = tok.Epoch < m.Epoch
			r.noteIdentity()
			return
		}
		r.rejected = true
	}
	r.freshRecord()
}

// change moves the state on a change of values or settings.
func (r *Request) change() {
	r.dirty = true
	switch r.state {
	case fresh, destroyed:
		r.state = created
	case loaded:
		r.state = changed
	}
	r.noteLate()
}

func (r *Request) noteLate() {
	if r.written {
		r.late = true
	}
}

// IsNew, ID and Values are what the handler sees.
func (r *Request) IsNew() bool { r.load(); return r.isNew }
func (r *Request) ID() int     { r.load(); return r.rec.ID }
func (r *Request) Values() map[string]string {
	r.load()
	return maps.Clone(r.vals)
}

// Get returns a value's JSON.
func (r *Request) Get(key string) (string, bool) {
	r.load()
	v, ok := r.vals[key]
	return v, ok
}

func (r *Request) Set(key, json string) {
	r.load()
	r.vals[key] = json
	r.track(key)
	r.change()
}

// track records a key set since the load or the last commit.
func (r *Request) track(key string) {
	if r.setKeys == nil {
		r.setKeys = map[string]bool{}
	}
	r.setKeys[key] = true
}

// noteIdentity records the identity value the session holds now.
func (r *Request) noteIdentity() {
	r.identity = nil
	if v, ok := r.vals[r.m.Cfg.IdentityKey]; ok && r.m.Cfg.IdentityKey != "" {
		r.identity = &v
	}
}

// rotateIdentity regenerates a loaded session whose identity value the
// request set, changed or removed (WithIdentityKey).
func (r *Request) rotateIdentity() {
	cur, ok := r.vals[r.m.Cfg.IdentityKey]
	if ok == (r.identity != nil) && (!ok || cur == *r.identity) {
		return
	}
	kept := map[string]string{}
	for k := range r.setKeys {
		if v, ok := r.vals[k]; ok {
			kept[k] = v
		}
	}
	r.Regenerate(false) // a sign-in, another user, a sign-out: what the request set stays
	for k, v := range kept {
		r.vals[k] = v
		r.track(k)
	}
}

func (r *Request) Delete(key string) {
	r.load()
	if _, ok := r.vals[key]; ok {
		delete(r.vals, key)
		r.change()
	}
}

func (r *Request) Clear() {
	r.load()
	if len(r.vals) > 0 {
		clear(r.vals)
		r.change()
	}
}

func (r *Request) Pop(key string) (string, bool) {
	v, ok := r.Get(key)
	r.Delete(key)
	return v, ok
}

// Update adds one to the integer under key and returns it.
func (r *Request) Update(key string) int {
	r.load()
	n, _ := strconv.Atoi(r.vals[key])
	n++
	r.vals[key] = strconv.Itoa(n)
	r.track(key)
	r.change()
	return n
}

const FlashKey = "_flash"

func (r *Request) AddFlash(msg string) {
	r.load()
	var msgs []string
	json.Unmarshal([]byte(r.vals[FlashKey]), &msgs)
	b, _ := json.Marshal(append(msgs, msg))
	r.vals[FlashKey] = string(b)
	r.track(FlashKey)
	r.change()
}

func (r *Request) Flashes() []string {
	v, _ := r.Pop(FlashKey)
	var msgs []string
	json.Unmarshal([]byte(v), &msgs)
	return msgs
}

func (r *Request) Regenerate(keep bool) {
	r.load()
	switch r.state {
	case loaded, changed:
		r.old, r.oldRec, r.state = r.rec.ID, r.rec, regenerated
		r.oldUser = ""
		if r.identity != nil {
			r.oldUser = boundTo(*r.identity)
		}
	case fresh, destroyed:
		r.state = created
	}
	r.rec.ID = r.m.newID()
	if !keep {
		clear(r.vals)
		r.dirty = true
	}
	r.noteLate()
}

func (r *Request) Destroy() {
	r.load()
	switch {
	case r.state == loaded || r.state == changed:
		r.old, r.oldRec = r.rec.ID, r.rec
	case r.moved:
		r.old = r.from // a logout through a retired token ends its successor too, whatever came before
	}
	clear(r.vals)
	r.dirty = true
	r.freshRecord()
	r.state = destroyed
	r.noteLate()
}

func (r *Request) Touch() {
	r.load()
	r.touched = true
	r.noteLate()
}

func (r *Request) SetBrowserSession(on bool) {
	r.load()
	if r.rec.Browser != on {
		r.rec.Browser = on
		r.setKind = true
		r.change()
	}
}

func (r *Request) SetLifetime(d time.Duration) {
	r.load()
	if d <= 0 {
		d = r.m.Cfg.Lifetime
	}
	r.rec.Expires = time.Time{}
	if d > 0 {
		r.rec.Expires = r.m.Now.Add(min(d, maxAge)).Truncate(time.Second)
	}
	r.setLife = true
	r.change()
}

// Deadline is the session's deadline as the handler sees it.
func (r *Request) Deadline() time.Time { r.load(); return r.rec.deadline() }

// Reload drops the request's changes and reads the session again, through
// the token of the request's last commit, or the request's own.
func (r *Request) Reload() {
	*r = Request{m: r.m, carried: r.carried, saved: r.saved, commits: r.commits, written: r.written, setKeys: r.setKeys, dirty: r.dirty,
		Out: r.Out, OutToken: r.OutToken, MaxAge: r.MaxAge, Late: r.Late, Used: r.Used}
	r.load()
}

// Save is Session.Save: it reports false when the headers went out.
func (r *Request) Save() bool {
	if r.written {
		return false
	}
	r.commit()
	return true
}

// WriteHeader is the handler writing its response: the session commits
// first; a later change cannot reach the client.
func (r *Request) WriteHeader() {
	if !r.written {
		r.commit()
		r.written = true
	}
}

// End is the handler returning.
func (r *Request) End() {
	if !r.written {
		r.commit()
		r.written = true
	} else if r.late {
		r.Late = true
	}
}

// commit decides and carries out what the request's session needs.
func (r *Request) commit() {
	if r.state == unloaded {
		return
	}
	if r.m.Cfg.IdentityKey != "" && r.state == changed {
		r.rotateIdentity()
	}
	r.Used = true
	m, c := r.m, &r.m.Cfg
	empty := len(r.vals) == 0
	idleDue := c.Idle > 0 && (r.rec.IdleExpires.IsZero() || r.rec.IdleExpires.Sub(m.Now) < c.Idle/2)
	// A session bound to a user (the identity value) whose last-seen time
	// is 10 minutes old is written again by a read (package devices).
	seenDue := c.Server && !c.Express && c.IdentityKey != "" && boundTo(r.vals[c.IdentityKey]) != "" &&
		!r.rec.Seen.IsZero() && m.Now.Sub(r.rec.Seen) >= 10*time.Minute
	unsetDestroy := c.UnsetDestroy && empty
	hasOld := r.old != 0

	const (
		none = iota
		expire
		refresh
		update
		create
		regenerate
		destroy
	)
	act := none
	switch {
	case r.moved:
		// The token names an ID a Regenerate retired: only a Destroy acts
		// (a Regenerate of a session read through the grace is dropped).
		if hasOld && r.state != regenerated {
			act = destroy
		}
	case r.state == fresh:
		switch {
		case c.SaveUninitialized:
			act = create
		case r.rejected:
			act = expire
		}
	case r.state == loaded:
		switch {
		case c.Resave:
			act = update
		case r.stale || r.touched || c.Rolling || idleDue || seenDue:
			act = refresh
		}
	case r.state == changed:
		act = update
		if unsetDestroy {
			act = destroy
		}
	case r.state == created:
		switch {
		case empty && !c.SaveUninitialized && hasOld, unsetDestroy && hasOld:
			act = destroy
		case empty && !c.SaveUninitialized:
			if r.rejected {
				act = expire
			}
		default:
			act = create
		}
	case r.state == regenerated:
		act = regenerate
		if unsetDestroy {
			act = destroy
		}
	case r.state == destroyed:
		act = destroy
	}

	switch act {
	case none:
		return
	case expire:
		if !r.commits {
			r.expire()
		}
		return
	case destroy:
		if r.old == 0 && r.state == changed {
			r.old, r.oldRec = r.rec.ID, r.rec
		}
		if r.old != 0 && c.Server {
			m.destroyChain(r.old)
		}
		if r.old != 0 {
			m.revoke(r.old, &r.oldRec, false)
		}
		r.old = 0
		r.expire()
		none := Token{}
		r.saved = &none
		r.settle(destroyed)
		return
	}
	if c.Idle > 0 {
		r.rec.IdleExpires = m.Now.Add(c.Idle).Truncate(time.Second)
	}
	if c.Express {
		m.stamp(&r.rec, act == create || act == regenerate, r.setLife, r.setKind)
	}
	s := r.rec
	s.Values = maps.Clone(r.vals)
	if c.Server && !c.Express {
		s.Seen = m.Now.Truncate(time.Second)
	}
	if c.Server {
		switch act {
		case create:
			if r.old != 0 {
				m.destroyChain(r.old)
				r.old = 0
			}
		case regenerate:
			m.Retire(r.old, &s, !r.dirty)
			r.old = 0
		case refresh:
			if st, ok := m.store[s.ID]; ok {
				s.Values = maps.Clone(st.Values)
			}
		}
		m.store[s.ID] = s.clone()
	}
	if !c.Server && (act == create || act == regenerate) {
		if r.old != 0 {
			// Destroy, then a value: the old session ends; a Regenerate:
			// the old session is superseded.
			m.revoke(r.old, &r.oldRec, act == regenerate)
			if act == regenerate && m.bound[r.old] && r.oldUser != "" && boundTo(s.Values[c.IdentityKey]) == r.oldUser {
				if rv, ok := m.revoked[r.old]; ok {
					rv.succ = s.ID
					m.revoked[r.old] = rv
				}
			}
			r.old = 0
		}
		if c.IdentityKey != "" && boundTo(s.Values[c.IdentityKey]) != "" {
			m.bound[s.ID] = true
		}
	}
	tok := Token{Kind: Valid, ID: s.ID, Epoch: m.Epoch}
	if !c.Server {
		tok.Snap = s.clone()
	}
	age := r.maxAge(&s)
	if age > 0 && !c.Header {
		tok.JarExpires = m.Now.Add(time.Duration(age) * time.Second)
	}
	r.Out, r.OutToken, r.MaxAge = Set, tok, age
	r.saved = &tok
	r.rec.Seen = s.Seen
	r.settle(loaded)
}

// expire ends the token: a header token is answered with an empty one; a
// cookie is expired if the request carried it, and otherwise the response
// sets none (an earlier commit's is taken back).
func (r *Request) expire() {
	r.Out, r.OutToken, r.MaxAge = Expire, Token{}, 0
	if !r.m.Cfg.Header && r.carried.Kind == NoToken {
		r.Out = Nothing
	}
}

// destroyChain deletes a stored session, following tombstones to the
// session they name.
func (m *Model) destroyChain(id int) {
	for range 8 {
		t, moved := m.retired[id]
		m.Forget(id)
		if !moved {
			return
		}
		id = t.to
	}
}

// maxAge is the cookie's Max-Age: until the earlier deadline, at most 400
// days, at least 1 s; none (0) for a browser-session cookie.
func (r *Request) maxAge(s *Session) int64 {
	if s.Browser || r.m.Cfg.Header {
		return 0
	}
	d := maxAge
	if dl := s.deadline(); !dl.IsZero() {
		d = min(dl.Sub(r.m.Now), maxAge)
	}
	return max(int64((d+time.Second-1)/time.Second), 1)
}

func (r *Request) settle(to state) {
	r.noteIdentity()
	r.state, r.touched, r.commits, r.setLife, r.setKind, r.stale = to, false, true, false, false, false
}

// ceilS rounds d up to whole seconds.
func ceilS(d time.Duration) time.Duration { return (d + time.Second - 1) / time.Second * time.Second }

// stamp is the Express format's write of rec at now (express.Store's
// stamp, spec/express-v1.md §2 "Deadlines on every write"), after the
// Manager has set the idle deadline: a create starts from a new cookie
// object (originalMaxAge null), any other write from the stored record.
// Without setLife the absolute deadline is the stored one, without setKind
// the kind. A persistent session's idle deadline is set by its own span
// (originalMaxAge): the span to the new absolute deadline after the
// request's SetLifetime ("remember me", on a create too), else the stored
// span; without one (a create, a browser-session record) it is the
// Manager's, never earlier than the key's TTL unless the request set the
// lifetime, and a create's span becomes the idle deadline's, or the
// absolute one's. The TTL runs to the earlier deadline.
func (m *Model) stamp(rec *Session, create, setLife, setKind bool) {
	remember := setLife          // the request's SetLifetime: "remember me"
	st := Session{Browser: true} // a new cookie object: originalMaxAge null
	if !create {
		if s, ok := m.store[rec.ID]; ok {
			st = *s
		}
		if !setLife {
			if end := m.Now.Add(st.TTL - time.Nanosecond); st.TTL > 0 && end.After(rec.IdleExpires) {
				rec.IdleExpires = end
			}
		}
	} else {
		setLife, setKind = true, true
	}
	if !setLife {
		rec.Expires = st.Expires
	}
	if !setKind {
		rec.Browser = st.Browser
	}
	kindChanged := setKind && rec.Browser != st.Browser
	span := st.Span
	remembered := remember && !rec.Expires.IsZero() && !rec.Browser
	switch {
	case remembered:
		span = max(ceilS(rec.Expires.Sub(m.Now)), time.Second)
		rec.IdleExpires = m.Now.Add(span)
	case span > 0 && !rec.Browser:
		rec.IdleExpires = m.Now.Add(span)
	}
	deadline := rec.deadline()
	if deadline.IsZero() {
		deadline = m.Now.Add(24 * time.Hour)
	}
	switch {
	case rec.Browser:
		span = 0
	case remembered, span > 0 && !kindChanged:
	case !rec.IdleExpires.IsZero():
		span = ceilS(rec.IdleExpires.Sub(m.Now))
	default:
		span = ceilS(deadline.Sub(m.Now))
	}
	rec.Span, rec.TTL = span, max(ceilS(deadline.Sub(m.Now)), time.Second)
}

// Keys returns the session's keys, sorted.
func (r *Request) Keys() []string {
	r.load()
	return slices.Sorted(maps.Keys(r.vals))
}
