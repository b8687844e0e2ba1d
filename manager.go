package session

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math/rand/v2"
	"net"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/crumbs-go/session/chunking"
	"github.com/crumbs-go/session/driver"
	"github.com/crumbs-go/session/internal/errs"
	"github.com/crumbs-go/session/internal/sid"
	"github.com/crumbs-go/session/internal/timex"
	"github.com/crumbs-go/session/metrics"
)

// maxBackoff caps the wait between two attempts of a conflicting commit.
const maxBackoff = 32 * time.Millisecond

// updateStripes is how many locks serialise Updates of one session within
// a process.
const updateStripes = 256

// stripe picks the lock of a session ID (FNV-1a).
func stripe(id string) int {
	h := uint32(2166136261)
	for i := 0; i < len(id); i++ {
		h = (h ^ uint32(id[i])) * 16777619
	}
	return int(h % updateStripes)
}

// maxAge is the longest a session may last, and the longest Max-Age
// browsers keep: 400 days (RFC 6265bis).
const maxAge = timex.MaxAge

// A Manager is the session middleware: it gives every request a lazily
// loaded Session and commits it just before the response headers go out.
// Outside HTTP handlers, Load and Session.Commit do the same with a token.
// It is immutable and safe for concurrent use.
type Manager struct {
	store  Store
	cfg    config
	codec  Codec
	encode func(map[string][]byte) ([]byte, error) // driver.Commit.Encode: the codec's EncodeMap, bound once
	chunks *chunking.Codec
	log    *slog.Logger
	rl     *rateLog         // the lines a request may repeat: the first at once, the repeats counted
	now    func() time.Time // injectable clock
	http   transport        // the middleware's: the cookie, or a header token
	rec    metrics.Recorder // WithMetrics; nil without

	warnInsecure sync.Once // the SecureAuto warning, logged once
	warnPlain    sync.Once // a cookie without Secure, logged once
	warnKept     sync.Once // a re-seal that does not fit, logged once
	warnHeader   sync.Once // a Cookie header near proxies' limits, logged once

	importing  []importing    // WithImport's cookie names and deletion lines
	migrated   []atomic.Int64 // sessions each driver.Importer migrated
	sharesName bool           // an driver.Importer reads the crumbs cookie's own name
	indexes    bool           // the store keeps a per-user index (driver.Indexer): sessions bind to their user

	// updating serialises, within this process, the commits of one
	// session that carry Update's checks: they would only conflict with
	// each other. Striped by session ID; a channel, so that waiting obeys
	// the request's context.
	updating [updateStripes]chan struct{}
}

// New returns a Manager over store. With no options, it uses a cookie named
// "session", Path=/, HttpOnly, SameSite=Lax, Secure except on plain HTTP
// from this machine to a loopback host (SecureAuto), a persistent cookie, a
// 24-hour absolute timeout and no idle timeout, JSON values, at most 2
// cookies of 4000 bytes, up to 2 s of retries when parallel Updates of
// one key conflict, and 10 s for the store calls of a request's load and of
// each commit, which a client that disconnects does not cancel. A contradictory or
// invalid configuration fails here with an error that says what to fix.
func New(store Store, opts ...Option) (*Manager, error) {
	if store == nil {
		return nil, errors.New("session: New(nil): give a Store, such as one from cookiestore.New")
	}
	c := config{
		name:            "session",
		path:            "/",
		sameSite:        http.SameSiteLaxMode,
		lifetime:        24 * time.Hour,
		codec:           JSON,
		logger:          slog.Default(),
		conflictTimeout: 2 * time.Second,
		storeTimeout:    storeTimeout,
		now:             time.Now,
	}
	for _, o := range opts {
		if err := o(&c); err != nil {
			return nil, err
		}
	}
	if err := c.check(); err != nil {
		return nil, err
	}
	if cf, ok := store.(driver.CookieFormat); ok && c.header != nil {
		// Its token is another library's cookie, bound to the cookie's
		// name: it has no header form (spec/header-token-v1.md §1).
		return nil, fmt.Errorf("session: WithHeaderToken: the %s store's token is a cookie; header tokens need a crumbs store", cf.CookieFormat())
	}
	chunks, err := chunking.New(c.name, c.chunkOpts...)
	if err != nil {
		return nil, fmt.Errorf("session: %w", err)
	}
	if err := partitionedFits(c.partitioned, chunks, "WithCookie"); err != nil {
		return nil, err
	}
	m := &Manager{store: store, cfg: c, codec: c.codec, encode: encodeWith(c.codec), chunks: chunks, log: c.logger, rl: newRateLog(c.logger, logWindow), now: c.now, rec: c.recorder}
	if m.cfg.errorHandler == nil {
		m.cfg.errorHandler = defaultErrorHandler
	}
	if h := c.header; h != nil {
		m.http = headerTransport{m: m, request: h.request, response: h.response, bearer: h.bearer}
	} else {
		m.http = newCookieTransport(m)
	}
	m.importing, m.migrated = newImporting(c.importers), make([]atomic.Int64, len(c.importers))
	if err := checkImporters(&c, chunks); err != nil {
		return nil, err
	}
	for _, im := range m.importing {
		for _, name := range im.names {
			m.sharesName = m.sharesName || chunks.Owns(name)
		}
	}
	for i := range m.updating {
		m.updating[i] = make(chan struct{}, 1)
	}
	if x, ok := store.(driver.Indexer); ok {
		_, err := x.Sessions(context.Background(), "", time.Now()) // answers at once
		m.indexes = err == nil
	}
	return m, nil
}

// check validates the configuration as a whole.
func (c *config) check() error {
	probe := http.Cookie{Name: c.name, Value: "x", Path: c.path, Domain: c.domain}
	if err := probe.Valid(); err != nil {
		return fmt.Errorf("session: cookie name %q, path %q, domain %q: %w", c.name, c.path, c.domain, err)
	}
	if strings.Contains(c.domain, "..") || strings.HasPrefix(c.domain, ".") && len(c.domain) == 1 {
		return fmt.Errorf("session: WithCookie: Domain %q: not a valid cookie domain", c.domain)
	}
	needSecure := ""
	lower := strings.ToLower(c.name) // browsers match the prefixes case-insensitively
	switch {
	case strings.HasPrefix(lower, "__host-"):
		if c.path != "/" || c.domain != "" {
			return fmt.Errorf("session: cookie name %q: the __Host- prefix requires Path=/ and no Domain", c.name)
		}
		needSecure = "the __Host- prefix"
	case strings.HasPrefix(lower, "__secure-"):
		needSecure = "the __Secure- prefix"
	case c.sameSite == http.SameSiteNoneMode:
		needSecure = "SameSite=None"
	case c.partitioned:
		needSecure = "Partitioned"
	}
	if needSecure != "" {
		if c.secure == SecureNever {
			return fmt.Errorf("session: %s requires Secure cookies; drop Secure: SecureNever from WithCookie", needSecure)
		}
		c.secure = SecureAlways
	}
	if c.header != nil && len(headerBinding(c.name)) > 256 {
		return fmt.Errorf("session: cookie name %q: with WithHeaderToken it may be at most %d bytes", c.name, 256-len(headerBinding("")))
	}
	if c.lifetime == 0 && c.idle == 0 {
		return errors.New("session: no lifetime and no idle timeout would make sessions that never end; set WithLifetime or WithIdleTimeout")
	}
	return nil
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
		s := &Session{exchange: exchange{m: m, t: m.http, detach: true}}
		s.parent, _ = r.Context().Value(ctxKey{}).(*Session)
		s.ctx = context.WithValue(r.Context(), ctxKey{}, s)
		s.r = r.WithContext(s.ctx)
		s.wr = writer{rw: w, s: s}
		s.w = &s.wr
		next.ServeHTTP(s.w, s.r)
		m.finish(s)
	})
}

// NewContext returns a copy of ctx that carries s, for FromContext: how code
// that loaded a session with Load hands it to functions that expect one.
func NewContext(ctx context.Context, s *Session) context.Context {
	return context.WithValue(ctx, ctxKey{}, s)
}

// FromContext returns the Session that the innermost Manager.Handler (or
// NewContext) put in ctx. It panics when there is none: the handler is not
// wrapped by Manager.Handler, a bug to fix, not a runtime condition.
func FromContext(ctx context.Context) *Session {
	s, ok := ctx.Value(ctxKey{}).(*Session)
	if !ok {
		panic("session: no session in the request context: wrap the handler with Manager.Handler")
	}
	return s
}

// From returns the request's Session: FromContext(r.Context()).
func From(r *http.Request) *Session { return FromContext(r.Context()) }

// partitionedCap is the most bytes of partitioned cookies (names and
// values) Chrome keeps per embedded site: CHIPS' per-partition limit.
const partitionedCap = 10 << 10

// partitionedFits refuses partitioned cookies whose largest set Chrome
// would not keep.
func partitionedFits(partitioned bool, chunks *chunking.Codec, where string) error {
	if partitioned && chunks.MaxHeaderBytes() > partitionedCap {
		return fmt.Errorf("session: %s: Partitioned: the session's cookies may take %d bytes, and Chrome keeps at most %d bytes of partitioned cookies per embedded site (it drops the excess): lower WithTotalBudget or WithMaxChunks, leaving room for the site's other partitioned cookies", where, chunks.MaxHeaderBytes(), partitionedCap)
	}
	return nil
}

// nearHeaderLimit is the size of a request's Cookie header from which the
// Manager warns (once): 6 KiB, three quarters of the 8 KiB per header line
// that a default nginx accepts (large_client_header_buffers). Other limits
// in front of applications: fasthttp's 4 KiB for all headers
// (ReadBufferSize), API Gateway's 10 KiB, Node's 16 KiB
// (--max-http-header-size), 16 KiB per header on AWS ALB and on
// Cloudflare.
const nearHeaderLimit = 6 << 10

// noteHeaderSize warns once when a request's Cookie header comes near the
// header limits of common proxies and platforms.
func (m *Manager) noteHeaderSize(s *Session) {
	n := 0
	for _, v := range s.r.Header["Cookie"] {
		n += len(v)
	}
	if n < nearHeaderLimit {
		return
	}
	m.warnHeader.Do(func() {
		m.log.LogAttrs(s.ctx, slog.LevelWarn, "session: a request carried a Cookie header near the header limits of common proxies: nginx refuses a header line over 8 KiB by default (large_client_header_buffers), API Gateway 10 KiB of headers, fasthttp 4 KiB; keep sessions smaller (server mode, or fewer values) or raise those limits",
			slog.Int("bytes", n), s.where())
	})
}

// RequestHeaderBytes returns the most bytes the session adds to a request's
// headers: its cookies in the Cookie header, names and separators included
// (at most WithTotalBudget, 8000 by default, plus 3 per chunk), or with
// WithHeaderToken the token and "Bearer ". Size the header buffers of the
// servers and proxies in front of the application above it, with room for
// the other headers: fasthttp's ReadBufferSize (4096 by default, too small
// for a full-size cookie), nginx's large_client_header_buffers (8 KiB per
// line by default).
func (m *Manager) RequestHeaderBytes() int {
	if m.cfg.header != nil {
		return len("Bearer ") + MaxTokenSize
	}
	return m.chunks.MaxHeaderBytes()
}

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

// LoadRequest is Load for an HTTP request outside Handler: it reads r's
// session now, for code that commits on its own instead of through Handler: an adapter to another session API, such as
// gorillastore's implementation of gorilla/sessions' Store. Nothing is
// saved unless Session.Save is called; each Save writes its Set-Cookie
// lines into w's headers, so it must come before the response's headers
// are written. The error is a store failure (wrapping ErrBackend): the
// session is then fresh and empty, and the error handler is not called.
// Importers (WithImport) run as in Handler. The session is not safe for
// concurrent use.
func (m *Manager) LoadRequest(w http.ResponseWriter, r *http.Request) (*Session, error) {
	s := &Session{exchange: exchange{m: m, t: m.http, r: r, ctx: r.Context()}}
	s.load() // with no writer yet, a failure is kept, not answered
	s.wr = writer{rw: w, s: s}
	s.w = &s.wr
	return s, s.loadErr
}

// load reads the session from the request's token and the store. Whatever
// the request carried, the handler gets a usable session.
func (m *Manager) load(s *Session) {
	s.beginStore()
	defer s.endStore()
	now := m.now()
	s.state = loaded
	if s.w != nil && s.w.wroteHeader && !s.w.hijacked {
		s.lateRead = true // a hijacked connection has no response to cache
	}
	rec, err := m.read(s, now)
	if err == nil {
		s.raw = rec.Values
		if s.raw == nil {
			s.raw, err = m.codec.DecodeMap(rec.Data)
		}
		if err == nil {
			rec.Values, rec.Data = nil, nil
			s.rec = *rec
			s.sentCookie = rec.Cookie
			if m.cfg.identityKey != "" {
				s.identity = s.raw[m.cfg.identityKey]
			}
			m.expireOld(s)
			m.recordLoad(s, metrics.Loaded, nil)
			return
		}
		err = fmt.Errorf("session: stored values do not decode (%w): %w", err, driver.ErrInvalid)
	}
	if errors.Is(err, ErrMoved) && s.nextToken != "" && s.saved == nil {
		// This request's own Regenerate retired the ID, but did not hear
		// back (a lost reply), and the handler reloads: the session lives
		// under the new ID, whose token the response must carry.
		tok := s.nextToken
		s.saved, s.touched, s.nextStored, s.nextToken = &tok, true, "", ""
		m.load(s)
		return
	}
	if (errors.Is(err, driver.ErrNotFound) || errors.Is(err, driver.ErrInvalid)) && m.importOld(s) {
		// Another library's session: it becomes a new crumbs session with
		// its values, stored by this response.
		s.rec = m.freshRecord(s.r, now)
		s.state, s.rejected = created, false
		m.recordLoad(s, metrics.Imported, nil)
		return
	}
	switch {
	case errors.Is(err, ErrMoved):
		// A Regenerate (a login) of another request retired the ID after
		// this request was sent: its response carries the new token, which
		// this one must neither expire nor replace.
		s.moved, s.from = true, &driver.Record{ID: rec.ID}
		m.recordLoad(s, metrics.Moved, nil)
		if (rec.Values != nil || rec.Data != nil) && m.readMoved(s, rec, now) {
			return
		}
		m.log.LogAttrs(s.ctx, slog.LevelInfo, "session: the token names an ID another request's Regenerate retired; this request gets a fresh session that is not saved", s.where())
	case errors.Is(err, driver.ErrNotFound):
		s.rejected = s.saved == nil && s.t.carried(s) // a session the store no longer has
		if s.rejected {
			m.recordLoad(s, metrics.Refused, err)
		} else {
			m.recordLoad(s, metrics.New, nil)
		}
	case errors.Is(err, driver.ErrInvalid):
		s.rejected = true
		m.recordLoad(s, metrics.Refused, err)
		if m.sharesName && len(s.foreign) > 0 {
			break // the cookie was the other library's: its importer logged why
		}
		m.rl.logAttrs(s.ctx, slog.LevelInfo, "session: rejected the session token; starting a fresh session",
			slog.String("reason", err.Error()), s.where())
	default:
		// The store failed: answer with the error handler now, and give the
		// handler an empty session so that it runs to its end harmlessly.
		s.loadErr = fmt.Errorf("session: load: %w: %w", ErrBackend, err)
		m.recordLoad(s, metrics.Failed, err)
		m.fail(s, s.loadErr)
	}
	s.raw = map[string][]byte{}
	s.rec = m.freshRecord(s.r, now)
	s.state, s.isNew = fresh, true
}

// readMoved gives the request the session its retired ID moved to, which
// the store resolved within the grace of a same-user Regenerate
// (serverstore.WithGrace): the request reads it; its changes are not
// saved, and its response leaves the token alone.
func (m *Manager) readMoved(s *Session, rec *driver.Record, now time.Time) bool {
	if !rec.Expires.IsZero() && !now.Before(rec.Expires) || !rec.IdleExpires.IsZero() && !now.Before(rec.IdleExpires) {
		return false
	}
	raw := rec.Values
	if raw == nil {
		var err error
		if raw, err = m.codec.DecodeMap(rec.Data); err != nil {
			return false
		}
	}
	rec.Values, rec.Data = nil, nil
	s.raw, s.rec, s.isNew, s.graceRead = raw, *rec, false, true
	if m.cfg.identityKey != "" {
		s.identity = s.raw[m.cfg.identityKey]
	}
	m.log.LogAttrs(s.ctx, slog.LevelInfo, "session: the token names an ID a Regenerate of the same user retired moments ago; this request reads the session it moved to, saves no change and leaves the cookie alone", s.where())
	return true
}

// read takes the token from the transport (or from this request's last
// commit) and loads its record, enforcing its deadlines.
func (m *Manager) read(s *Session, now time.Time) (*driver.Record, error) {
	var token string
	switch {
	case s.saved == nil:
		var err error
		if token, err = s.t.read(s); err != nil {
			return nil, err
		}
	case *s.saved == "":
		return nil, driver.ErrNotFound // the session ended in this request
	default:
		token = *s.saved
	}
	start := m.started()
	rec, err := m.store.Load(s.storeContext(), s.t.binding(), token, now)
	m.recordBackend(s, metrics.BackendLoad, start, err)
	if err != nil && rec != nil {
		if u := (*errs.Unchecked)(nil); errors.As(err, &u) {
			m.log.LogAttrs(s.ctx, slog.LevelWarn, "session: "+strings.TrimPrefix(u.Error(), "session: "), s.where())
			err = nil
		}
	}
	if err != nil {
		return rec, err
	}
	if !rec.Expires.IsZero() && !now.Before(rec.Expires) {
		return nil, fmt.Errorf("session: expired (absolute deadline): %w", driver.ErrInvalid)
	}
	if !rec.IdleExpires.IsZero() && !now.Before(rec.IdleExpires) {
		return nil, fmt.Errorf("session: expired (idle deadline): %w", driver.ErrInvalid)
	}
	return rec, nil
}

// where names the request in log lines.
func (s *Session) where() slog.Attr {
	if s.r != nil {
		return slog.String("path", s.r.URL.Path)
	}
	return slog.String("path", "")
}

// freshRecord is a new session. Deadlines are whole seconds, as every store
// keeps them, so that the one enforced and a backend's expiry agree.
func (m *Manager) freshRecord(r *http.Request, now time.Time) driver.Record {
	rec := driver.Record{ID: m.generateID(r), BrowserSession: m.cfg.browserSession}
	if m.cfg.lifetime > 0 {
		rec.Expires = now.Add(m.cfg.lifetime).Truncate(time.Second)
	}
	return rec
}

// generateID draws a new session ID for the request r.
func (m *Manager) generateID(r *http.Request) string {
	if m.cfg.newID != nil {
		if r == nil { // a session of Manager.Load: no HTTP request
			r = placeholderRequest()
		}
		if id := m.cfg.newID(r); sid.Valid(id) {
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
	case s.late:
		m.report(s, ErrHeadersWritten)
	case s.lateRead:
		m.report(s, errLateRead)
	}
}

// fail hands err to the error handler, once, and drops the handler's output.
func (m *Manager) fail(s *Session, err error) {
	if s.w == nil {
		return // no HTTP response: Load and driver.Commit return the error
	}
	if s.w.failed {
		return
	}
	s.w.failed = true
	s.t.unwrite(s)
	m.report(s, err)
}

func (m *Manager) report(s *Session, err error) {
	m.rl.logAttrs(s.ctx, slog.LevelError, "session: "+strings.TrimPrefix(err.Error(), "session: "), s.where())
	if s.w != nil {
		m.cfg.errorHandler(s.w.rw, s.r, err)
	}
}

// commit carries out what plan decides: it persists the session, then
// writes its token (or the token's expiry) and the cache headers. Nothing is
// written unless the store succeeded.
func (m *Manager) commit(s *Session) error {
	if s.state == unloaded || (s.w != nil && s.w.failed) {
		return nil
	}
	if m.cfg.identityKey != "" && s.state == changed {
		if err := m.rotateIdentity(s); err != nil {
			return err
		}
	}
	if m.indexes && m.cfg.identityKey != "" && s.rec.User == "" && (s.state == loaded || s.state == changed) {
		// A session signed in before its store kept the index (or before
		// WithIdentityKey): bind it now, in place; the store adds the
		// binding to a record that has none.
		if user := m.identityText(s, true); user != "" {
			s.rec.User, s.bindDue = user, true
		}
	}
	s.beginStore()
	defer s.endStore()
	now := m.now()
	act := plan(s.planInput(now), &m.cfg)
	wrote, err := m.carryOut(s, act, now)
	if err != nil {
		return err
	}
	s.t.finish(s, wrote || s.committed)
	return nil
}

// rotateIdentity regenerates a loaded session whose identity value
// (WithIdentityKey) the request set, changed or removed; the new session
// keeps only the values this request set.
func (m *Manager) rotateIdentity(s *Session) error {
	key := m.cfg.identityKey
	_, present := s.raw[key]
	if present == (s.identity != nil) && (!present || m.sameIdentity(s)) {
		return nil
	}
	what := "changed"
	switch {
	case s.identity == nil:
		what = "set"
	case !present:
		what = "removed"
	}
	type kept struct {
		raw    []byte
		val    any
		hasVal bool
	}
	keep := map[string]kept{}
	for k := range s.set {
		if raw, ok := s.raw[k]; ok {
			v, hasVal := s.vals[k]
			keep[k] = kept{raw, v, hasVal}
		}
	}
	s.Regenerate(false)
	for k, v := range keep {
		s.raw[k] = v.raw
		if v.hasVal {
			if s.vals == nil {
				s.vals = make(map[string]any)
			}
			s.vals[k] = v.val
		}
		s.track(k, true)
	}
	m.log.LogAttrs(s.ctx, slog.LevelInfo, "session: the identity value was "+what+" (WithIdentityKey): the session is regenerated with the values this request set", s.where())
	return nil
}

// sameIdentity reports whether the identity value is the one the session
// had, as a value: Gob writes maps in random order, and another writer
// (an Express application) may order JSON members otherwise.
func (m *Manager) sameIdentity(s *Session) bool {
	key := m.cfg.identityKey
	cur := s.raw[key]
	if cur != nil && bytes.Equal(cur, s.identity) {
		return true
	}
	v, hasVal := s.vals[key]
	if cur == nil {
		if !hasVal {
			return false
		}
		var err error
		if cur, err = m.codec.Marshal(v); err != nil {
			return false
		}
		if bytes.Equal(cur, s.identity) {
			return true
		}
	}
	var a, b any
	if m.codec.Unmarshal(cur, &a) == nil && m.codec.Unmarshal(s.identity, &b) == nil {
		return reflect.DeepEqual(a, b)
	}
	if !hasVal || v == nil {
		return false
	}
	old := reflect.New(reflect.TypeOf(v))
	return m.codec.Unmarshal(s.identity, old.Interface()) == nil && reflect.DeepEqual(old.Elem().Interface(), v)
}

// carryOut persists the session as act says and writes the token; wrote
// reports whether the transport now carries a token or its expiry.
func (m *Manager) carryOut(s *Session, act action, now time.Time) (wrote bool, err error) {
	switch act {
	case doNothing:
		if s.moved && s.state != fresh && s.state != loaded {
			s.dropped = true
			m.log.LogAttrs(s.ctx, slog.LevelInfo, "session: changes to a session whose ID another request retired are dropped", s.where())
		}
		return s.t.tidy(s), nil
	case doExpire:
		if s.committed {
			return false, nil // an earlier commit of this request answered already
		}
		s.t.expire(s)
		return true, nil
	case doDestroy:
		if s.old == nil && s.state == changed { // WithDestroyEmpty: the last value went
			old := s.rec
			s.old = &old
		}
		if s.old != nil {
			start := m.started()
			err := m.store.Delete(s.storeContext(), s.t.binding(), m.gone(s.old, now), now)
			m.recordBackend(s, metrics.BackendDelete, start, err)
			if err != nil && !errors.Is(err, driver.ErrNotFound) {
				return false, fmt.Errorf("session: destroy: %w: %w", ErrBackend, err)
			}
			s.old = nil
		}
		s.t.expire(s)
		s.ended()
		m.recordCommit(s, doDestroy)
		return true, nil
	}
	if err := s.encode(); err != nil {
		return false, err
	}
	if m.cfg.idle > 0 {
		s.rec.IdleExpires = now.Add(m.cfg.idle).Truncate(time.Second)
	}
	token, err := m.persist(s, act, now)
	switch {
	case errors.Is(err, driver.ErrNotFound):
		// Another request destroyed the session meanwhile: the destruction
		// wins over this request's changes.
		m.log.LogAttrs(s.ctx, slog.LevelInfo, "session: destroyed by another request; this request's changes are dropped", slog.String("reason", err.Error()), s.where())
		s.discard()
		s.t.expire(s)
		return true, nil
	case errors.Is(err, ErrMoved):
		// A Regenerate of another request (a login) moved the session: its
		// response carries the new token, which this one must not undo.
		m.log.LogAttrs(s.ctx, slog.LevelInfo, "session: moved to a new ID by another request; this request's changes are dropped", s.where())
		from := s.rec.ID
		s.discard()
		s.dropped = true // Commit and Save say so
		// From now on the request is one whose token names a retired ID: a
		// later commit of it (after Save) leaves the newer cookie alone, or
		// with a Destroy ends the session it moved to.
		s.moved, s.from = true, &driver.Record{ID: from}
		return false, nil
	case errors.Is(err, ErrTooLarge) && m.keepOld(s, act):
		return s.t.tidy(s), nil
	case errors.Is(err, ErrTooLarge):
		return false, fmt.Errorf("session: save: %w", err)
	case err != nil:
		if errors.As(err, new(*encodeError)) {
			return false, err
		}
		return false, fmt.Errorf("session: save: %w: %w", ErrBackend, err)
	}
	if err := s.t.write(s, token, now); err != nil {
		if errors.Is(err, ErrTooLarge) && m.keepOld(s, act) {
			return s.t.tidy(s), nil
		}
		return false, err
	}
	s.saved = &token
	m.counted(s)
	m.recordCommit(s, act)
	s.settle(loaded)
	return true, nil
}

// keepOld reports whether a session that no longer fits may keep the
// token its request carried: a refresh of a session whose values did not
// change, which only a cookie store's re-seal under another cipher makes
// longer (cookiestore.WithCipher: 4 bytes), while the old cookie still
// opens. Its idle deadline then stays as it was: such a session ends there
// unless a change that fits re-seals it first (the warning says to raise
// the budget). The first is logged. Failing instead would answer every
// request with an error until that same deadline.
func (m *Manager) keepOld(s *Session, act action) bool {
	if act != doRefresh || s.state != loaded || !s.rec.Stale {
		return false
	}
	m.warnKept.Do(func() {
		m.log.LogAttrs(s.ctx, slog.LevelWarn, "session: a session re-sealed under the store's current cipher does not fit its cookies; it keeps its old cookie, which still opens, and its idle deadline is not extended: raise WithTotalBudget (or WithCookieBudget, WithMaxChunks)", s.where())
	})
	return true
}

// persist hands the session to the store.
func (m *Manager) persist(s *Session, act action, now time.Time) (string, error) {
	c := driver.Commit{Record: s.rec, SetLifetime: s.setLife, SetKind: s.setKind}
	switch act {
	case doRefresh:
		c.Op = driver.OpRefresh
	case doResave:
		// Every value is rewritten as it was read, checked like an Update:
		// one that a parallel request changed or deleted meanwhile is left
		// as that request stored it.
		c.Op = driver.OpUpdate
		if s.changes == nil {
			s.changes = make(map[string]bool, len(s.raw))
		}
		if s.updates == nil {
			s.updates = make(map[string]*update, len(s.raw))
		}
		for k, v := range s.raw {
			s.changes[k], s.updates[k] = true, &update{old: v, hadOld: true}
		}
	case doUpdate:
		c.Op = driver.OpUpdate
	case doCreate:
		if s.old != nil { // Destroy, then a value: the old session goes
			start := m.started()
			err := m.store.Delete(s.storeContext(), s.t.binding(), m.gone(s.old, now), now)
			m.recordBackend(s, metrics.BackendDelete, start, err)
			if err != nil {
				return "", err
			}
			s.old = nil
		}
		c.Op = driver.OpCreate
		return m.create(s, &c, now)
	case doRegenerate:
		return m.regenerate(s, &c, now)
	}
	return m.save(s, &c, false, now)
}

// create stores a new session. A create that meets its own ID is an
// earlier attempt of this request whose reply was lost: it is rewritten.
func (m *Manager) create(s *Session, c *driver.Commit, now time.Time) (string, error) {
	m.bind(s, now)
	if s.attempted == s.rec.ID && s.attemptedUser != s.rec.User {
		// An earlier attempt of this request, whose outcome is unknown,
		// stored this ID bound to another user; a record's binding never
		// changes: drop that one, and store the session under a new ID
		// (nobody has its token yet).
		m.dropRecord(s, s.rec.ID)
		s.rec.ID = m.generateID(s.r)
	}
	c.Record.ID, c.Record.User, c.Record.Created, c.Record.Seen = s.rec.ID, s.rec.User, s.rec.Created, s.rec.Seen
	c.Record.Agent, c.Record.Addr = s.rec.Agent, s.rec.Addr
	again := s.attempted == s.rec.ID
	s.attempted, s.attemptedUser = s.rec.ID, s.rec.User
	token, err := m.save(s, c, false, now)
	if again && errors.Is(err, driver.ErrExists) {
		// The record is this request's own: a rewrite of it sets no
		// lifetime or kind the request did not set (a store may read
		// SetLifetime as "remember me").
		c.Op, c.SetLifetime, c.SetKind = driver.OpUpdate, s.setLife, s.setKind
		return m.save(s, c, true, now)
	}
	return token, err
}

// bind records who a new record belongs to, for a store that keeps a
// per-user index: the identity value (WithIdentityKey) as text, and when
// and from where the session was created.
func (m *Manager) bind(s *Session, now time.Time) {
	s.rec.User = "" // a binding comes from the identity value only
	if m.cfg.identityKey != "" {
		s.rec.User = m.identityText(s, false)
	}
	s.rec.Created, s.rec.Seen = now.Truncate(time.Second), time.Time{}
	s.rec.Agent, s.rec.Addr = "", ""
	if s.r != nil {
		s.rec.Agent = cutText(s.r.UserAgent(), driver.MaxClientDetail)
		s.rec.Addr = cutText(clientAddr(s.r, m.cfg.trustProxy), driver.MaxClientDetail)
	}
}

// identityText is the identity value as the user a session is bound to,
// read from its encoded form (what the store keeps, so that every commit
// reads the same text whatever the handler did with the value): a string,
// or an integer in decimal (exactly, however large: JSON numbers are not
// read through float64); "" (bound to no user) when absent, and for a value
// of another kind or over driver.MaxUser bytes, which the log reports
// unless quiet.
func (m *Manager) identityText(s *Session, quiet bool) string {
	raw, ok := s.raw[m.cfg.identityKey]
	if !ok {
		return ""
	}
	var text string
	var str string
	var i int64
	var u uint64
	switch {
	case m.codec.Unmarshal(raw, &str) == nil:
		text = str
	case m.codec.Unmarshal(raw, &i) == nil:
		text = strconv.FormatInt(i, 10)
	case m.codec.Unmarshal(raw, &u) == nil:
		text = strconv.FormatUint(u, 10)
	}
	if (text == "" || len(text) > driver.MaxUser) && !quiet {
		m.log.LogAttrs(s.ctx, slog.LevelWarn, fmt.Sprintf("session: the identity value (WithIdentityKey) is not a string of 1 to %d bytes or an integer: the session is bound to no user", driver.MaxUser), s.where())
		return ""
	}
	if len(text) > driver.MaxUser {
		return ""
	}
	return text
}

// clientAddr is the client's address: the connection's peer, or behind a
// trusted proxy (WithTrustProxy) the right-most X-Forwarded-For entry, the
// one that proxy appended.
func clientAddr(r *http.Request, trustProxy bool) string {
	if trustProxy {
		if v, ok := lastForwarded(r.Header["X-Forwarded-For"]); ok {
			return v
		}
	}
	if host, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		return host
	}
	return r.RemoteAddr
}

// cutText shortens s to at most n bytes, dropping a character the cut
// split and any invalid UTF-8.
func cutText(s string, n int) string {
	if len(s) > n {
		s = s[:n]
	}
	return strings.ToValidUTF8(s, "")
}

// asConflict returns the ConflictError in err's chain, if any; errors.As
// with a variable of the caller's would allocate it on every save.
func asConflict(err error) *driver.ConflictError {
	if err == nil {
		return nil
	}
	var c *driver.ConflictError
	if errors.As(err, &c) {
		return c
	}
	return nil
}

// encodeError is a Codec's failure to encode a session's values, which
// the store met through driver.Commit.Encode: not a store failure.
type encodeError struct{ err error }

func (e *encodeError) Error() string { return "session: the values do not encode: " + e.err.Error() }
func (e *encodeError) Unwrap() error { return e.err }

// encodeWith is driver.Commit.Encode for codec.
func encodeWith(codec Codec) func(map[string][]byte) ([]byte, error) {
	return func(values map[string][]byte) ([]byte, error) {
		data, err := codec.EncodeMap(values)
		if err != nil {
			return nil, &encodeError{err}
		}
		return data, nil
	}
}

// save is the store's Save with the conflict loop of Update: while
// parallel Updates of the same keys conflict, it re-runs the functions on
// the newer values after a jittered, doubling backoff, within
// WithConflictTimeout and the request's context. whole rewrites every
// value (a record nobody else knows of yet) instead of the change set.
func (m *Manager) save(s *Session, c *driver.Commit, whole bool, now time.Time) (string, error) {
	if len(s.updates) > 0 && !whole {
		// Parallel requests of this process that Update this session take
		// turns: each then conflicts at most with what the one before it
		// stored (and with other processes), and re-runs once, instead of
		// all of them colliding until some run out of time.
		lock := m.updating[stripe(s.rec.ID)]
		select {
		case lock <- struct{}{}:
		default:
			ctx := s.storeContext()
			select {
			case lock <- struct{}{}:
			case <-ctx.Done():
				return "", ctx.Err()
			}
			s.restartStore() // the wait is not the store's time
		}
		defer func() { <-lock }()
	}
	var deadline time.Time
	backoff := time.Millisecond
	retries := 0
	for {
		// Data stays nil: a store that keeps the values in one piece (the
		// cookie store seals them) encodes them with c.Encode; a server
		// store applies the change set and never needs them whole.
		c.Record.Values, c.Record.Data, c.Encode = s.raw, nil, m.encode
		if whole {
			c.Changes = driver.Changes{Clear: true, List: make([]driver.Change, 0, len(s.raw))}
			for k, v := range s.raw {
				c.Changes.List = append(c.Changes.List, driver.Change{Key: k, Value: v})
			}
		} else {
			c.Changes = s.changeSet()
		}
		start := m.started()
		token, err := m.store.Save(s.storeContext(), s.t.binding(), c, now)
		m.recordBackend(s, metrics.BackendSave, start, err)
		if err != nil {
			if enc := (*encodeError)(nil); errors.As(err, &enc) {
				return "", enc
			}
		}
		if err != nil && token != "" {
			if u := (*errs.Unchecked)(nil); errors.As(err, &u) {
				m.log.LogAttrs(s.ctx, slog.LevelWarn, "session: "+strings.TrimPrefix(u.Error(), "session: "), s.where())
				err = nil
			}
		}
		if m.rec != nil && err == nil {
			s.recordBytes = len(c.Record.Data)
			if c.Record.Data == nil { // a server store: measured for the metrics only
				if n, err := encodedSize(m.codec, s.raw); err == nil {
					s.recordBytes = n
				}
			}
		}
		conflict := asConflict(err)
		if conflict == nil {
			if retries > 0 && m.rec != nil {
				m.rec.Conflict(s.ctx, retries, err == nil)
			}
			if err == nil {
				// The token goes out with what the store holds.
				s.rec.Expires, s.rec.IdleExpires = c.Record.Expires, c.Record.IdleExpires
				s.rec.BrowserSession, s.rec.Cookie = c.Record.BrowserSession, c.Record.Cookie
				s.rec.Seen, s.rec.Form = c.Record.Seen, c.Record.Form
				if c.Merged && c.Record.Values != nil {
					// The token holds what the store merged: so does the
					// request, for its next read and commit.
					s.raw = c.Record.Values
					clear(s.vals)
				}
			}
			return token, err
		}
		if deadline.IsZero() {
			deadline = time.Now().Add(m.cfg.conflictTimeout)
			if d, ok := s.storeContext().Deadline(); ok && d.Before(deadline) {
				deadline = d
			}
		}
		wait := rand.N(backoff + 1) // full jitter: parallel requests spread out
		if time.Now().Add(wait).After(deadline) {
			if m.rec != nil {
				m.rec.Conflict(s.ctx, retries, false)
			}
			return "", fmt.Errorf("still conflicting after %v of retries (WithConflictTimeout): %w", m.cfg.conflictTimeout, err)
		}
		t := time.NewTimer(wait)
		ctx := s.storeContext()
		select {
		case <-ctx.Done():
			t.Stop()
			if m.rec != nil {
				m.rec.Conflict(s.ctx, retries, false)
			}
			return "", ctx.Err()
		case <-t.C:
		}
		backoff = min(2*backoff, maxBackoff)
		if err := s.rebase(conflict.Values); err != nil {
			if m.rec != nil {
				m.rec.Conflict(s.ctx, retries, false)
			}
			return "", err
		}
		retries++
	}
}

// regenerate moves the session to its new ID in three steps, none of which
// spans two keys: store the session under the new ID; retire the old ID
// (one atomic step on the old key, leaving a tombstone); add what parallel
// requests stored under the old ID meanwhile. If the old session was
// destroyed meanwhile, the new one is deleted again: the destruction wins.
// A failure before the retirement leaves the old token valid; a retirement
// whose outcome is unknown (a lost reply) keeps the new record, and a retry
// recognises its own tombstone.
func (m *Manager) regenerate(s *Session, c *driver.Commit, now time.Time) (string, error) {
	b := s.t.binding()
	// An ID-only Regenerate (an ID rotation of a signed-in user, nothing
	// else changed by the request, in any of its commits) is the one whose old ID a store may let
	// read the new session for a grace (driver.Record.IDOnly).
	idOnly := m.cfg.identityKey != "" && s.old != nil && s.old.User != "" && !s.changedAny &&
		len(s.changes) == 0 && len(s.updates) == 0 && !s.cleared && !s.setLife && !s.setKind
	if m.cfg.identityKey != "" && s.nextStored == s.rec.ID && s.nextUser != m.identityText(s, true) {
		// An earlier attempt stored the new ID bound to another user (the
		// identity changed since), and whether it retired the old ID is
		// unknown: as for a second Regenerate, finish that move, then move
		// on to another new ID, bound anew.
		s.rec.ID = m.generateID(s.r)
	}
	if s.nextStored != "" && s.nextStored != s.rec.ID {
		// An earlier attempt stored another new ID, and whether it retired
		// the old one is unknown (Regenerate was called again since): finish
		// that move first, so the old ID names a record that exists, then
		// move on from there.
		prev := &driver.Record{ID: s.nextStored}
		start := m.started()
		_, err := m.store.Retire(s.storeContext(), b, m.gone(s.old, now), prev, now)
		m.recordBackend(s, metrics.BackendRetire, start, err)
		if err != nil {
			if errors.Is(err, driver.ErrNotFound) || errors.Is(err, ErrMoved) {
				m.dropRecord(s, prev.ID)
				s.nextStored = ""
			}
			return "", err
		}
		s.old, s.nextStored = prev, ""
	}
	c.Op = driver.OpCreate
	var token string
	var err error
	if s.nextStored == s.rec.ID {
		// An earlier attempt created it: rewrite it, setting no lifetime
		// or kind the request did not set.
		c.Op, c.SetLifetime, c.SetKind = driver.OpUpdate, s.setLife, s.setKind
		token, err = m.save(s, c, true, now)
	} else {
		token, err = m.create(s, c, now)
	}
	if err != nil {
		return "", err
	}
	s.nextStored, s.nextToken, s.nextUser = s.rec.ID, token, s.rec.User
	next := s.rec
	next.IDOnly = idOnly && next.User == s.old.User
	if next.IDOnly {
		next.Values = s.raw // what the old ID could read: the store's grace compares them
	}
	start := m.started()
	cur, err := m.store.Retire(s.storeContext(), b, m.gone(s.old, now), &next, now)
	m.recordBackend(s, metrics.BackendRetire, start, err)
	switch {
	case errors.Is(err, driver.ErrNotFound), errors.Is(err, ErrMoved):
		m.dropRecord(s, s.rec.ID) // refused: the old session was destroyed, or moved by another login
		s.nextStored, s.nextToken = "", ""
		return "", err
	case err != nil:
		return "", err // unknown outcome: keep the new record for a retry
	}
	s.old, s.nextStored, s.nextToken = nil, "", ""
	if cur == nil || s.cleared {
		return token, nil
	}
	// Parallel requests may have written under the old ID between this
	// request's load and the retirement: replay this request's changes on
	// what was stored then, and rewrite the new record if it differs.
	merged, err := s.replay(cur)
	if err != nil {
		return "", err
	}
	rec := s.rec
	if !s.setLife {
		rec.Expires = cur.Expires
	}
	if !s.setKind {
		rec.BrowserSession, rec.Cookie = cur.BrowserSession, cur.Cookie
	}
	if maps.EqualFunc(merged, s.raw, bytes.Equal) && rec.Expires.Equal(s.rec.Expires) && rec.BrowserSession == s.rec.BrowserSession && bytes.Equal(rec.Cookie, s.rec.Cookie) {
		return token, nil
	}
	// The rewrite sets the lifetime and kind only where the request set
	// them or the old record's differ (a parallel request's): a store may
	// read SetLifetime as "remember me" (the Express format does).
	setLife := s.setLife || !rec.Expires.Equal(s.rec.Expires)
	setKind := s.setKind || rec.BrowserSession != s.rec.BrowserSession || !bytes.Equal(rec.Cookie, s.rec.Cookie)
	s.raw, s.rec = merged, rec
	clear(s.vals)
	c.Record, c.Op, c.SetLifetime, c.SetKind = rec, driver.OpUpdate, setLife, setKind
	rewritten, err := m.save(s, c, true, now)
	if err != nil {
		// The login holds (the new record has this request's values): only
		// what parallel requests wrote meanwhile did not move. Say so.
		m.log.LogAttrs(s.ctx, slog.LevelError, "session: Regenerate: the values parallel requests stored under the old ID could not be moved to the new one",
			slog.String("error", err.Error()), s.where())
		return token, nil
	}
	// The rewrite's token: the same for a server store, a new one where the
	// token holds the values (the spill-over store's cookie form).
	return rewritten, nil
}

// gone is rec as a store's Delete or Retire gets it: with the idle
// deadline a copy of its token can have now (a parallel request may have
// refreshed it since this one loaded it), for a store that records the
// session as revoked until then (cookiestore.WithRevocation).
func (m *Manager) gone(rec *driver.Record, now time.Time) *driver.Record {
	if m.cfg.idle <= 0 {
		return rec
	}
	r := *rec
	r.IdleExpires = now.Add(m.cfg.idle).Truncate(time.Second)
	return &r
}

// dropRecord deletes a record a Regenerate created and must not keep.
func (m *Manager) dropRecord(s *Session, id string) {
	if err := m.store.Delete(s.storeContext(), s.t.binding(), &driver.Record{ID: id}, m.now()); err != nil {
		m.log.LogAttrs(s.ctx, slog.LevelError, "session: could not delete the session a refused Regenerate created; it expires at its deadline",
			slog.String("error", err.Error()), s.where())
	}
}

// replay applies this request's changes to cur, the values stored under
// the old ID when it was retired: Update functions run again on those
// values, Sets and Deletes apply as they are.
func (s *Session) replay(cur *driver.Record) (map[string][]byte, error) {
	base := cur.Values
	if base == nil {
		var err error
		if base, err = s.m.codec.DecodeMap(cur.Data); err != nil {
			return nil, fmt.Errorf("session: stored values do not decode: %w", err)
		}
	}
	merged := maps.Clone(base)
	if merged == nil {
		merged = map[string][]byte{}
	}
	for k, set := range s.changes {
		if u := s.updates[k]; u != nil {
			b, had := base[k]
			for _, fn := range u.fns {
				var err error
				if b, err = fn(b, had); err != nil {
					return nil, fmt.Errorf("session: Update(%q) on the values of the old ID: %w", k, err)
				}
				had = true
			}
			merged[k] = b
			continue
		}
		if set {
			merged[k] = s.raw[k]
		} else {
			delete(merged, k)
		}
	}
	return merged, nil
}

// settle records a successful commit: what was saved becomes the request's
// baseline, and later changes are tracked from there.
func (s *Session) settle(to state) {
	if s.m.cfg.identityKey != "" {
		s.identity = s.raw[s.m.cfg.identityKey]
	}
	s.state, s.touched, s.committed, s.setLife, s.setKind, s.bindDue = to, false, true, false, false, false
	s.rec.Values, s.rec.Data, s.rec.Stale = nil, nil, false
	clear(s.changes)
	clear(s.updates)
	s.cleared = false
}

// ended records a commit that ended the session: final for the request,
// until a value is set.
func (s *Session) ended() {
	none := ""
	s.saved = &none
	s.settle(destroyed)
}

// discard drops the request's changes after another request ended or
// moved the session, leaving a fresh, unsaved one.
func (s *Session) discard() {
	s.clearValues()
	s.rec = s.m.freshRecord(s.r, s.m.now())
	s.old = nil
	s.isNew, s.rejected = true, false
	s.ended()
}
