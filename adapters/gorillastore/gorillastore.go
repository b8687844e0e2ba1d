// Package gorillastore is an implementation of gorilla/sessions' Store
// backed by any crumbs store, so that an application written against
// gorilla/sessions (directly, through echo-contrib/session, or through
// gin-contrib/sessions with package gincontrib) gains crumbs' sealed,
// compressed and chunked cookies, key rotation, deadlines and server mode
// by changing its store's constructor:
//
//	store, err := gorillastore.New(crumbsStore) // instead of sessions.NewCookieStore(key)
//	s, _ := store.Get(r, "app")
//	s.Values["user"] = User{Name: "alice"}
//	err = s.Save(r, w)
//
// Each session name gets a crumbs Manager with that cookie name and the
// options given to New. Values are encoded with session.Gob, so code that
// type-asserts them (s.Values["user"].(User)) keeps working; register the
// types with gob.Register, as for gorilla. Keys must be strings: Save
// refuses another key, naming it, and saves nothing. Save writes only the
// keys that changed since Get, so in server mode parallel requests that
// change different keys all land, as with crumbs' own API.
//
// A session's Options start as the store's (SetOptions; gincontrib's
// Options) and are honoured on each Save, as gorilla honours them.
// MaxAge < 0 destroys the session, 0 makes a browser-session cookie, and
// another value makes the session last that long from each Save (gorilla
// stamps the cookie on every Save); it starts as DefaultMaxAge, gorilla's
// 30 days. SameSite, Secure and Partitioned become the session's own
// cookie attributes (session.Session.SetCookie), saved with it. Where
// crumbs refuses what gorilla would send, it keeps its own attribute and
// logs the difference once, at Warn, with slog.Default:
//
//   - HttpOnly false: session cookies are always HttpOnly;
//   - Secure false: crumbs' SecureAuto (Secure except on plain HTTP from
//     this machine to localhost); a session cannot turn off a Secure the
//     store's Options turned on;
//   - a session's own Path or Domain: the scope is the store's (SetOptions;
//     "/" for an empty Path, where gorilla sends none), since with its own
//     the browser would hold two cookies of one name; likewise a session
//     cannot drop the store's SameSite or Partitioned, only change them;
//   - SameSite: gorilla/sessions 1.4's CookieStore defaults to None with
//     Secure; this Store defaults to Lax, which keeps cross-site requests
//     from carrying the session (CSRF).
//
// Flash messages: use gorilla's (AddFlash and Flashes on the gorilla
// session) or crumbs' (on Crumbs), not both for one key: they are stored
// as different Go types ([]interface{} and []string). For what
// gorilla/sessions has no word for (Regenerate on login, Update of a
// counter), Crumbs returns the crumbs session.
package gorillastore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"reflect"
	"sync"

	"github.com/gorilla/sessions"

	"github.com/crumbs-go/session"
)

// Store is a gorilla/sessions Store over a crumbs store. It is safe for
// concurrent use.
type Store struct {
	store session.Store
	opts  []session.Option

	mu       sync.Mutex
	managers map[string]*session.Manager
	retired  []*session.Manager // replaced by SetOptions: their counts stay
	options  sessions.Options   // what a session's Options start as
	warned   map[string]bool    // the differences from gorilla logged so far
}

var _ sessions.Store = (*Store)(nil)

var defaultsOnce sync.Once // the difference of defaults, logged once

// DefaultMaxAge is the Options.MaxAge sessions start with, gorilla's
// CookieStore default: 30 days, in seconds.
const DefaultMaxAge = 86400 * 30

// New returns a Store over store. opts configure every session name's
// Manager, as for session.New (WithIdleTimeout, WithCookie, WithImport …);
// WithCookieName is set to the session name and WithCodec to session.Gob.
// A session's lifetime is its Options.MaxAge, set on every Save (see the
// package documentation): use SetOptions for the store's, not
// WithLifetime. New fails on options session.New refuses.
func New(store session.Store, opts ...session.Option) (*Store, error) {
	defaultsOnce.Do(func() {
		slog.Info("gorillastore: cookies default to SameSite=Lax and are always HttpOnly; gorilla/sessions 1.4's CookieStore defaults to SameSite=None with Secure (set Options to change SameSite)")
	})
	s := &Store{store: store, opts: opts, managers: map[string]*session.Manager{},
		options: sessions.Options{Path: "/", MaxAge: DefaultMaxAge, HttpOnly: true, SameSite: http.SameSiteLaxMode}}
	if _, err := s.manager("session"); err != nil {
		return nil, err
	}
	return s, nil
}

// SetOptions replaces the cookie attributes of every session name (Path,
// Domain, Secure, SameSite, Partitioned) and its lifetime (MaxAge > 0; 0
// gives browser-session cookies; < 0 is refused), as gin-contrib's Options
// does for its stores. HttpOnly stays on: JavaScript has no use for a
// session cookie, and a zero Options would turn it off. Secure false
// keeps crumbs' default, Secure except on plain HTTP to localhost; true
// always sets it. It takes effect for sessions opened afterwards.
func (s *Store) SetOptions(o sessions.Options) error {
	if o.MaxAge < 0 {
		return fmt.Errorf("gorillastore: SetOptions: MaxAge %d: give the lifetime in seconds, or 0 for browser-session cookies", o.MaxAge)
	}
	o.HttpOnly = true
	if o.Path == "" {
		o.Path = "/"
	}
	s.mu.Lock()
	old := s.options
	for _, m := range s.managers {
		if len(s.retired) < 256 { // SetOptions is set-up code; bound it anyway
			s.retired = append(s.retired, m)
		}
	}
	s.options, s.managers = o, map[string]*session.Manager{}
	s.mu.Unlock()
	if _, err := s.manager("session"); err != nil {
		s.mu.Lock()
		s.options = old
		s.mu.Unlock()
		return err
	}
	return nil
}

// manager returns the Manager of the session name.
func (s *Store) manager(name string) (*session.Manager, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if m := s.managers[name]; m != nil {
		return m, nil
	}
	o := s.options
	ck := session.Cookie{Path: o.Path, Domain: o.Domain, Partitioned: o.Partitioned}
	if o.Secure {
		ck.Secure = session.SecureAlways
	}
	switch o.SameSite {
	case http.SameSiteLaxMode, http.SameSiteStrictMode, http.SameSiteNoneMode:
		ck.SameSite = o.SameSite
	}
	opts := []session.Option{session.WithCookie(ck)}
	if o.MaxAge == 0 {
		opts = append(opts, session.WithBrowserSessionCookie(true))
	} else {
		opts = append(opts, session.WithLifetime(seconds(o.MaxAge)))
	}
	opts = append(opts, s.opts...)
	opts = append(opts, session.WithCookieName(name), session.WithCodec(session.Gob))
	m, err := session.New(s.store, opts...)
	if err != nil {
		return nil, fmt.Errorf("gorillastore: session %q: %w", name, err)
	}
	if len(s.managers) < 64 { // names come from code, not requests; bound it anyway
		s.managers[name] = m
	}
	return m, nil
}

// Get returns the session name of r, from r's registry when an earlier
// Get of this request opened it, as gorilla's stores do.
func (s *Store) Get(r *http.Request, name string) (*sessions.Session, error) {
	return sessions.GetRegistry(r).Get(s, name)
}

// New opens the session name of r. It returns a new, empty session and the
// error when the crumbs store failed (wrapping session.ErrBackend); an
// invalid, expired or forged cookie gives a new session and no error, as
// in gorilla, and the Manager logs why.
func (s *Store) New(r *http.Request, name string) (*sessions.Session, error) {
	gs := sessions.NewSession(s, name)
	s.mu.Lock()
	o := s.options
	s.mu.Unlock()
	gs.Options, gs.IsNew = &o, true
	m, err := s.manager(name)
	if err != nil {
		return gs, err
	}
	e := &entry{w: &lateWriter{}}
	cs, err := m.LoadRequest(e.w, r)
	e.cs = cs
	state(r)[name] = e
	if err != nil {
		return gs, err
	}
	gs.ID, gs.IsNew = cs.ID(), cs.IsNew()
	e.snap = make(map[string][]byte, cs.Len())
	for _, k := range cs.Keys() {
		v := cs.Get(k)
		gs.Values[k] = v
		if b, err := session.Gob.Marshal(v); err == nil {
			e.snap[k] = b
		}
	}
	return gs, nil
}

// Save commits gs: the keys that changed since it was opened are set or
// deleted, and the session cookie is written into w's headers (before the
// response's headers go out, as for gorilla). Options.MaxAge < 0 destroys
// it. A key that is not a string, or a value gob cannot encode, fails
// Save before anything is written.
func (s *Store) Save(r *http.Request, w http.ResponseWriter, gs *sessions.Session) error {
	e := state(r)[gs.Name()]
	if e == nil || e.cs == nil {
		// Not opened by this Store in this request: open it now.
		if _, err := s.New(r, gs.Name()); err != nil {
			return err
		}
		if e = state(r)[gs.Name()]; e == nil || e.cs == nil {
			return fmt.Errorf("gorillastore: session %q could not be opened", gs.Name())
		}
	}
	e.w.w = w
	cs := e.cs
	if gs.Options != nil && gs.Options.MaxAge < 0 {
		cs.Destroy()
		clear(gs.Values)
		e.snap = map[string][]byte{}
		return cs.Save()
	}
	vals := make(map[string][]byte, len(gs.Values))
	for k, v := range gs.Values {
		key, ok := k.(string)
		if !ok {
			return fmt.Errorf("gorillastore: session %q: key %v is a %T; crumbs keys are strings", gs.Name(), k, k)
		}
		b, err := session.Gob.Marshal(v)
		if err != nil {
			return fmt.Errorf("gorillastore: session %q: value %q (%T): %w", gs.Name(), key, v, err)
		}
		vals[key] = b
	}
	for k, b := range vals {
		if !e.unchanged(k, gs.Values[k], b) {
			cs.Set(k, gs.Values[k])
		}
	}
	for k := range e.snap {
		if _, ok := vals[k]; !ok {
			cs.Delete(k)
		}
	}
	if gs.Options != nil {
		if err := cs.SetCookie(s.cookie(gs.Options)); err != nil {
			return fmt.Errorf("gorillastore: session %q: Options: %w", gs.Name(), err)
		}
		// gorilla stamps the cookie with MaxAge on every Save: the
		// session lasts MaxAge from its last Save.
		switch age := gs.Options.MaxAge; {
		case age == 0:
			cs.SetBrowserSession(true)
		case age > 0:
			cs.SetBrowserSession(false)
			cs.SetLifetime(seconds(age))
		}
	}
	if err := cs.Save(); err != nil {
		return err
	}
	e.snap = vals
	gs.ID, gs.IsNew = cs.ID(), false
	return nil
}

// cookie maps a session's Options to its own cookie attributes: the fields
// that differ from the store's Options, which its Manager has already.
// What crumbs cannot send is logged once.
func (s *Store) cookie(o *sessions.Options) session.Cookie {
	s.mu.Lock()
	base := s.options
	s.mu.Unlock()
	var ck session.Cookie
	if o.Path != base.Path || o.Domain != base.Domain {
		s.warn("scope", "a Path or Domain of its own: a session's scope is the store's (SetOptions), since with its own the browser would hold two cookies of one name that no request can tell apart; the cookie keeps the store's")
	}
	if o.SameSite != base.SameSite {
		switch o.SameSite {
		case http.SameSiteLaxMode, http.SameSiteStrictMode, http.SameSiteNoneMode:
			ck.SameSite = o.SameSite
		default:
			s.warn("SameSite", "SameSite unset: a session cannot drop the store's SameSite; the cookie keeps it")
		}
	}
	switch {
	case o.Secure:
		ck.Secure = session.SecureAlways
	case base.Secure:
		s.warn("Secure", "Secure false: a session cannot turn off the store's Secure; the cookie keeps it")
	}
	if o.Partitioned && !base.Partitioned {
		ck.Partitioned = true
	} else if !o.Partitioned && base.Partitioned {
		s.warn("Partitioned", "Partitioned false: a session cannot drop the store's Partitioned; the cookie keeps it")
	}
	if !o.HttpOnly {
		s.warn("HttpOnly", "HttpOnly false: session cookies are always HttpOnly; the cookie keeps it")
	}
	return ck
}

// warn logs a difference from gorilla/sessions once per Store.
func (s *Store) warn(field, msg string) {
	s.mu.Lock()
	seen := s.warned[field]
	if s.warned == nil {
		s.warned = map[string]bool{}
	}
	s.warned[field] = true
	s.mu.Unlock()
	if !seen {
		slog.Warn("gorillastore: a session's Options asked for " + msg)
	}
}

// Migrations returns how many sessions the importers of New's options
// (session.WithImport) migrated, by importer name, over every session
// name: when the count stops rising, the importer can go.
func (s *Store) Migrations() map[string]int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]int64{}
	for _, m := range s.retired {
		for k, n := range m.Migrations() {
			out[k] += n
		}
	}
	for _, m := range s.managers {
		for k, n := range m.Migrations() {
			out[k] += n
		}
	}
	return out
}

// Crumbs returns the crumbs session behind the session name of r, opening
// it if this request has not: for Regenerate on login, Update, Touch and
// the rest of crumbs' API. Changes made through it are saved by the next
// Save of the gorilla session, or by its own Save. It is nil when the
// session could not be opened (a store failure; Get returns the error).
func (s *Store) Crumbs(r *http.Request, name string) *session.Session {
	if _, err := s.Get(r, name); err != nil {
		return nil
	}
	if e := state(r)[name]; e != nil {
		return e.cs
	}
	return nil
}

// unchanged reports whether v (encoded as enc) equals the value key held
// when the session was opened (or last saved): the stored encoding decoded
// afresh, so that a value changed in place is seen as changed, and
// compared as values, since gob's encoding of a map differs from one call
// to the next.
func (e *entry) unchanged(key string, v any, enc []byte) bool {
	b, ok := e.snap[key]
	if !ok {
		return false
	}
	if bytes.Equal(enc, b) {
		return true
	}
	var was any
	if err := session.Gob.Unmarshal(b, &was); err != nil {
		return false
	}
	return reflect.DeepEqual(was, v)
}

// entry is one session of one request.
type entry struct {
	cs   *session.Session
	w    *lateWriter
	snap map[string][]byte // the encoded values as of the last open or Save
}

// lateWriter is the ResponseWriter the crumbs session writes its cookies
// into: the one Save is given, which Get does not know yet.
type lateWriter struct{ w http.ResponseWriter }

func (l *lateWriter) Header() http.Header {
	if l.w == nil {
		return http.Header{}
	}
	return l.w.Header()
}

func (l *lateWriter) Write(b []byte) (int, error) {
	if l.w == nil {
		return 0, errors.New("gorillastore: no response writer yet")
	}
	return l.w.Write(b)
}

func (l *lateWriter) WriteHeader(code int) {
	if l.w != nil {
		l.w.WriteHeader(code)
	}
}

type stateKey struct{}

// state returns the sessions this request opened, attaching the map to r's
// context the first time, in place, as gorilla's registry does.
func state(r *http.Request) map[string]*entry {
	if m, ok := r.Context().Value(stateKey{}).(map[string]*entry); ok {
		return m
	}
	m := map[string]*entry{}
	*r = *r.WithContext(context.WithValue(r.Context(), stateKey{}, m))
	return m
}
