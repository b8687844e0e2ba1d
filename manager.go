package session

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
	"unsafe"

	"github.com/crumbs-go/session/chunking"
)

// maxCookieAge is the longest Max-Age browsers keep: 400 days (RFC 6265bis).
const maxCookieAge = 400 * 24 * time.Hour

// A Manager is the session middleware: it gives every request a lazily
// loaded Session and commits it just before the response headers go out.
// It is immutable and safe for concurrent use.
type Manager struct {
	store  Store
	cfg    config
	codec  Codec
	chunks *chunking.Codec
	log    *slog.Logger
	now    func() time.Time // injectable clock
	// Constant tails of Set-Cookie: attributes after Max-Age, with and
	// without Secure; and whole deletion lines of the chunk names.
	tail, tailSecure string
	del, delSecure   map[string]string
}

// New returns a Manager over store. With no options, it uses a cookie named
// "session", Path=/, HttpOnly, SameSite=Lax, Secure on TLS requests, a
// persistent cookie, a 24-hour absolute timeout and no idle timeout, JSON
// values, and at most 2 cookies of 4000 bytes. A contradictory or invalid
// configuration fails here with an error that says what to fix.
func New(store Store, opts ...Option) (*Manager, error) {
	if store == nil {
		return nil, errors.New("session: New(nil): give a Store, such as one from cookiestore.New")
	}
	c := config{
		name:     "session",
		path:     "/",
		httpOnly: true,
		sameSite: http.SameSiteLaxMode,
		lifetime: 24 * time.Hour,
		codec:    JSON,
		logger:   slog.Default(),
	}
	for _, o := range opts {
		if err := o(&c); err != nil {
			return nil, err
		}
	}
	needSecure := ""
	switch {
	case strings.HasPrefix(c.name, "__Host-"):
		if c.path != "/" || c.domain != "" {
			return nil, fmt.Errorf("session: cookie name %q: the __Host- prefix requires Path=/ and no Domain", c.name)
		}
		needSecure = "the __Host- prefix"
	case strings.HasPrefix(c.name, "__Secure-"):
		needSecure = "the __Secure- prefix"
	case c.sameSite == http.SameSiteNoneMode:
		needSecure = "SameSite=None"
	case c.partitioned:
		needSecure = "Partitioned"
	}
	if needSecure != "" {
		if c.secure == SecureNever {
			return nil, fmt.Errorf("session: %s requires Secure cookies; drop WithSecure(SecureNever)", needSecure)
		}
		c.secure = SecureAlways
	}
	if c.lifetime == 0 && c.idle == 0 && !c.browserSession {
		return nil, errors.New("session: no lifetime, no idle timeout and persistent cookies would make sessions that never end; set WithLifetime or WithIdleTimeout")
	}
	chunks, err := chunking.New(c.name, c.chunkOpts...)
	if err != nil {
		return nil, fmt.Errorf("session: %w", err)
	}
	m := &Manager{store: store, cfg: c, codec: c.codec, chunks: chunks, log: c.logger, now: time.Now}
	if m.cfg.errorHandler == nil {
		m.cfg.errorHandler = defaultErrorHandler
	}
	m.tail = m.attributes(false)
	m.tailSecure = m.attributes(true)
	m.del, m.delSecure = map[string]string{}, map[string]string{}
	for _, name := range chunks.Stale(func(func(string, string) bool) {}, 0) {
		m.del[name] = m.deletion(name, false)
		m.delSecure[name] = m.deletion(name, true)
	}
	return m, nil
}

// attributes renders the Set-Cookie attributes every session cookie shares.
func (m *Manager) attributes(secure bool) string {
	var b strings.Builder
	b.WriteString("; Path=")
	b.WriteString(m.cfg.path)
	if m.cfg.domain != "" {
		b.WriteString("; Domain=")
		b.WriteString(m.cfg.domain)
	}
	if m.cfg.httpOnly {
		b.WriteString("; HttpOnly")
	}
	if secure {
		b.WriteString("; Secure")
	}
	switch m.cfg.sameSite {
	case http.SameSiteStrictMode:
		b.WriteString("; SameSite=Strict")
	case http.SameSiteNoneMode:
		b.WriteString("; SameSite=None")
	default:
		b.WriteString("; SameSite=Lax")
	}
	if m.cfg.partitioned {
		b.WriteString("; Partitioned")
	}
	return b.String()
}

// deletion renders the Set-Cookie line that expires the cookie name.
func (m *Manager) deletion(name string, secure bool) string {
	tail := m.tail
	if secure {
		tail = m.tailSecure
	}
	return name + "=; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Max-Age=0" + tail
}

func defaultErrorHandler(w http.ResponseWriter, _ *http.Request, err error) {
	status := http.StatusInternalServerError
	switch {
	case errors.Is(err, ErrHeadersWritten):
		return // the response has started; the Manager logged it
	case errors.Is(err, ErrBackend):
		status = http.StatusServiceUnavailable
	}
	http.Error(w, http.StatusText(status), status)
}

type ctxKey struct{}

// Handler wraps next: every request gets a Session, loaded on first use and
// committed just before the headers are written (by WriteHeader, Write,
// ReadFrom or Flush) or when next returns. The writer next receives keeps
// http.ResponseController, Flusher and Hijacker working.
func (m *Manager) Handler(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s := &Session{m: m}
		s.parent, _ = r.Context().Value(ctxKey{}).(*Session)
		s.ctx = context.WithValue(r.Context(), ctxKey{}, s)
		s.r = r.WithContext(s.ctx)
		s.w = writer{rw: w, s: s}
		next.ServeHTTP(&s.w, s.r)
		m.finish(s)
	})
}

// FromContext returns the Session that the innermost Manager.Handler put in
// ctx. It panics when there is none: the handler is not wrapped by
// Manager.Handler, a bug to fix, not a runtime condition.
func FromContext(ctx context.Context) *Session {
	s, ok := ctx.Value(ctxKey{}).(*Session)
	if !ok {
		panic("session: no session in the request context: wrap the handler with Manager.Handler")
	}
	return s
}

// From returns the request's Session: FromContext(r.Context()).
func From(r *http.Request) *Session { return FromContext(r.Context()) }

// Session returns this Manager's Session of the request, for applications
// that wrap handlers in several Managers (several named sessions). It
// panics when r did not pass through m.Handler.
func (m *Manager) Session(r *http.Request) *Session {
	for s, _ := r.Context().Value(ctxKey{}).(*Session); s != nil; s = s.parent {
		if s.m == m {
			return s
		}
	}
	panic("session: no session of this Manager in the request context: wrap the handler with its Handler")
}

// pairs iterates over the request's cookies: every name=value pair of its
// Cookie headers, as substrings (no allocation). Values are not unquoted or
// filtered the way net/http does: the session's own cookies must be plain
// base64url, and chunking rejects anything else.
func (s *Session) pairs() iter.Seq2[string, string] {
	return func(yield func(string, string) bool) {
		for _, line := range s.r.Header["Cookie"] {
			for line != "" {
				var part string
				part, line, _ = strings.Cut(line, ";")
				part = strings.TrimSpace(part)
				name, value, ok := strings.Cut(part, "=")
				if !ok || name == "" {
					continue
				}
				if !yield(name, value) {
					return
				}
			}
		}
	}
}

// load reads the session from the request's cookies and the store. Whatever
// the request carried, the handler gets a usable session.
func (m *Manager) load(s *Session) {
	now := m.now()
	rec, err := m.read(s, now)
	if err == nil {
		if s.raw, err = m.codec.DecodeMap(rec.Data); err == nil {
			rec.Data = nil
			s.rec = *rec
			return
		}
		err = fmt.Errorf("session: stored values do not decode (%w): %w", err, ErrInvalid)
	}
	switch {
	case errors.Is(err, ErrNotFound):
		if s.hasCookie() {
			s.clearCookie = true // a session the store no longer has
		}
	case errors.Is(err, ErrInvalid):
		s.clearCookie = true
		m.log.LogAttrs(s.ctx, slog.LevelInfo, "session: rejected the session cookie; starting a fresh session",
			slog.String("reason", err.Error()), slog.String("path", s.r.URL.Path))
	default:
		// The store failed: answer with the error handler now, and give the
		// handler an empty session so that it runs to its end harmlessly.
		m.fail(s, fmt.Errorf("session: load: %w: %w", ErrBackend, err))
	}
	s.raw = map[string][]byte{}
	s.rec = m.freshRecord(now)
	s.isNew = true
}

func (s *Session) hasCookie() bool {
	for name := range s.pairs() {
		if name == s.m.cfg.name {
			return true
		}
	}
	return false
}

// read joins the chunks and loads the record, enforcing its deadlines.
func (m *Manager) read(s *Session, now time.Time) (*Record, error) {
	value, err := m.chunks.Join(s.pairs())
	if err != nil {
		return nil, err
	}
	rec, err := m.store.Load(s.ctx, m.cfg.name, value, now)
	if err != nil {
		return nil, err
	}
	if !rec.Expires.IsZero() && !now.Before(rec.Expires) {
		return nil, fmt.Errorf("session: expired (absolute deadline): %w", ErrInvalid)
	}
	if !rec.IdleExpires.IsZero() && !now.Before(rec.IdleExpires) {
		return nil, fmt.Errorf("session: expired (idle deadline): %w", ErrInvalid)
	}
	return rec, nil
}

func (m *Manager) freshRecord(now time.Time) Record {
	r := Record{ID: m.generateID(), BrowserSession: m.cfg.browserSession}
	if m.cfg.lifetime > 0 {
		r.Expires = now.Add(m.cfg.lifetime)
	}
	return r
}

// generateID draws a new session ID.
func (m *Manager) generateID() string {
	if m.cfg.newID != nil {
		if id := m.cfg.newID(); validID(id) {
			return id
		}
		m.log.Error("session: the ID generator returned an invalid ID; using a random one")
	}
	return newID()
}

// finish runs after the handler: commit if nothing was written, else report
// changes that came too late.
func (m *Manager) finish(s *Session) {
	switch {
	case s.w.failed:
	case !s.w.wroteHeader:
		s.w.commit()
	case s.dirtyLate:
		m.report(s.w.rw, s, ErrHeadersWritten)
	}
}

// fail hands err to the error handler, once, and drops the handler's output.
func (m *Manager) fail(s *Session, err error) {
	if s.w.failed {
		return
	}
	s.w.failed = true
	m.removeCookies(s)
	m.report(s.w.rw, s, err)
}

func (m *Manager) report(w http.ResponseWriter, s *Session, err error) {
	m.log.LogAttrs(s.ctx, slog.LevelError, "session: "+strings.TrimPrefix(err.Error(), "session: "), slog.String("path", s.r.URL.Path))
	m.cfg.errorHandler(w, s.r, err)
}

// commit writes the session's cookies into the response headers, and saves
// or deletes its record. Nothing is written unless everything succeeded.
func (m *Manager) commit(s *Session) error {
	if !s.loaded || s.w.failed {
		return nil
	}
	now := m.now()
	if s.destroyed && !s.modified {
		return m.commitDestroy(s)
	}
	if m.cfg.unset == UnsetDestroy && s.modified && !s.isNew && len(s.raw) == 0 {
		s.destroyed = true
		return m.commitDestroy(s)
	}
	save := s.modified || s.touched || s.rec.Stale ||
		(s.isNew && m.cfg.saveUninitialized && !s.ended) ||
		((m.cfg.rolling || m.cfg.resave) && !s.isNew) ||
		(!s.isNew && m.cfg.idle > 0 && !s.rec.IdleExpires.IsZero() && s.rec.IdleExpires.Sub(now) < m.cfg.idle/2)
	if !save {
		if s.clearCookie && !s.committed {
			m.writeCookies(s, nil, m.chunks.Stale(s.pairs(), 0), now)
		}
		return nil
	}
	data, err := s.encode()
	if err != nil {
		return err
	}
	rec := s.rec
	rec.Data, rec.Stale, rec.Unchanged = data, s.rec.Stale, !s.modified && !m.cfg.resave
	if rec.Version > 0 {
		rec.Merge = s.merge // only a versioned (server) record can conflict; cookie mode skips the allocation
	}
	if m.cfg.idle > 0 {
		rec.IdleExpires = now.Add(m.cfg.idle)
	}
	value, err := m.store.Save(s.ctx, m.cfg.name, &rec, now)
	switch {
	case errors.Is(err, ErrNotFound):
		// Another request destroyed the session meanwhile: the destruction
		// wins over this request's changes.
		m.log.LogAttrs(s.ctx, slog.LevelInfo, "session: destroyed by another request; this request's changes are dropped",
			slog.String("path", s.r.URL.Path))
		s.clearValues()
		s.rec = m.freshRecord(now)
		s.modified, s.touched, s.destroyed, s.isNew = false, false, false, true
		m.writeCookies(s, nil, m.chunks.Stale(s.pairs(), 0), now)
		return nil
	case errors.Is(err, ErrTooLarge):
		return fmt.Errorf("session: save: %w", err)
	case err != nil:
		return fmt.Errorf("session: save: %w: %w", ErrBackend, err)
	}
	parts, err := m.chunks.Split(value)
	if err != nil {
		var tl *chunking.TooLargeError
		if errors.As(err, &tl) {
			return fmt.Errorf("session: the session (%d bytes of values) needs %d bytes of cookies in %d cookies, over the budget of %d cookies of at most %d bytes and %d bytes in all (WithMaxChunks, WithCookieBudget, WithTotalBudget): %w",
				len(data), tl.Size, tl.Chunks, tl.MaxChunks, tl.CookieBudget, tl.TotalBudget, ErrTooLarge)
		}
		return fmt.Errorf("session: %w", err)
	}
	if s.oldRec != nil && s.oldRec.ID != rec.ID {
		if err := m.store.Delete(s.ctx, m.cfg.name, s.oldRec); err != nil {
			return fmt.Errorf("session: delete the replaced session: %w: %w", ErrBackend, err)
		}
		s.oldRec = nil
	}
	rec.Data, rec.Merge, rec.Stale = nil, nil, false
	s.rec = rec
	s.modified, s.touched, s.destroyed = false, false, false
	clear(s.changes)
	s.cleared = false
	m.writeCookies(s, parts, m.chunks.Stale(s.pairs(), len(parts)), now)
	return nil
}

func (m *Manager) commitDestroy(s *Session) error {
	if s.oldRec != nil {
		if err := m.store.Delete(s.ctx, m.cfg.name, s.oldRec); err != nil {
			return fmt.Errorf("session: destroy: %w: %w", ErrBackend, err)
		}
		s.oldRec = nil
	}
	m.writeCookies(s, nil, m.chunks.Stale(s.pairs(), 0), m.now())
	s.destroyed = false
	return nil
}

// encode encodes the values: kept values as they were read, set ones anew.
func (s *Session) encode() ([]byte, error) {
	for k, raw := range s.raw {
		if raw == nil {
			b, err := s.m.codec.Marshal(s.vals[k])
			if err != nil {
				return nil, fmt.Errorf("session: value %q does not encode: %w", k, err)
			}
			s.raw[k] = b
		}
	}
	return s.m.codec.EncodeMap(s.raw)
}

// writeCookies replaces the session cookies of the response with parts and
// deletions of the stale names, and adds the cache headers.
func (m *Manager) writeCookies(s *Session, parts []chunking.Cookie, stale []string, now time.Time) {
	m.removeCookies(s)
	secure := m.secure(s.r)
	tail, del := m.tail, m.del
	if secure {
		tail, del = m.tailSecure, m.delSecure
	}
	if s.set == nil {
		s.set = make([]string, 0, len(parts)+len(stale))
	}
	age := int64(-1)
	if !s.rec.BrowserSession {
		d := maxCookieAge
		if dl := earliest(s.rec.Expires, s.rec.IdleExpires); !dl.IsZero() {
			d = min(dl.Sub(now), maxCookieAge)
		}
		age = max(int64((d+time.Second-1)/time.Second), 1)
	}
	h := s.w.rw.Header()
	for _, p := range parts {
		b := make([]byte, 0, len(p.Name)+len(p.Value)+len(tail)+len("=; Max-Age=")+8)
		b = append(append(append(b, p.Name...), '='), p.Value...)
		if age > 0 {
			b = strconv.AppendInt(append(b, "; Max-Age="...), age, 10)
		}
		b = append(b, tail...)
		s.set = append(s.set, unsafe.String(unsafe.SliceData(b), len(b)))
	}
	for _, name := range stale {
		line, ok := del[name]
		if !ok { // a name beyond the chunk range, carried by the request
			line = m.deletion(name, secure)
		}
		s.set = append(s.set, line)
	}
	if old := h["Set-Cookie"]; len(old) == 0 {
		h["Set-Cookie"] = s.set[:len(s.set):len(s.set)]
	} else {
		h["Set-Cookie"] = append(old, s.set...)
	}
	if v := h["Vary"]; len(v) == 0 {
		h["Vary"] = []string{"Cookie"}
	} else if !headerHasToken(h, "Vary", "Cookie") {
		h.Add("Vary", "Cookie")
	}
	if cc := h["Cache-Control"]; len(cc) == 0 {
		h["Cache-Control"] = []string{"no-store"}
	} else if !strings.Contains(cc[0], "no-store") && !strings.Contains(cc[0], "private") {
		h["Cache-Control"] = []string{"no-store"}
	}
	s.committed = true
}

// removeCookies takes back the Set-Cookie lines an earlier commit added.
func (m *Manager) removeCookies(s *Session) {
	if len(s.set) == 0 {
		return
	}
	h := s.w.rw.Header()
	h["Set-Cookie"] = slices.DeleteFunc(h["Set-Cookie"], func(v string) bool { return slices.Contains(s.set, v) })
	if len(h["Set-Cookie"]) == 0 {
		delete(h, "Set-Cookie")
	}
	s.set = s.set[:0]
}

// secure decides the Secure attribute for this request.
func (m *Manager) secure(r *http.Request) bool {
	switch m.cfg.secure {
	case SecureAlways:
		return true
	case SecureNever:
		return false
	}
	if r.TLS != nil {
		return true
	}
	return m.cfg.trustProxy && strings.EqualFold(strings.TrimSpace(strings.Split(r.Header.Get("X-Forwarded-Proto"), ",")[0]), "https")
}

func headerHasToken(h http.Header, key, token string) bool {
	for _, v := range h.Values(key) {
		for t := range strings.SplitSeq(v, ",") {
			if t = strings.TrimSpace(t); strings.EqualFold(t, token) || t == "*" {
				return true
			}
		}
	}
	return false
}
