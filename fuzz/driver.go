package fuzz

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/crumbs-go/session"
	"github.com/crumbs-go/session/driver"
	"github.com/crumbs-go/session/serverstore"
)

// Backend is one store under test: a line of the table every fuzz target
// runs over.
type Backend struct {
	Name string
	// Server: the cookie names a stored session (serverstore); else the
	// cookie carries it (cookiestore).
	Server bool
	// EngineClock: the backend takes the clock it is given (see
	// Config.EngineClock).
	EngineClock bool
	// Express: the store is the Express format (a driver.CookieFormat),
	// held to the model's Express variant (Config.Express), with cookies
	// only.
	Express bool
	// Shared: the scenarios of a process share the backend (a Redis
	// prefix, a PostgreSQL schema), so a user's index may list sessions of
	// other scenarios: the index check asks only that the scenario's live
	// sessions are listed.
	Shared bool
	// Revocation: a cookie store with a revocation store checked on every
	// request, without grace (Config.Revocation).
	Revocation bool
	// Open returns the constructor of this scenario's stores: every Store
	// it builds (one per secret epoch, one per parallel instance) shares one
	// backend. now is the scenario's clock.
	Open func(t testing.TB, now func() time.Time) func(secrets [][]byte) (session.Store, error)
}

// clock is the scenario's clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time  { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) set(t time.Time) { c.mu.Lock(); c.t = t; c.mu.Unlock() }

// jarCookie is a cookie a client holds.
type jarCookie struct {
	value   string
	expires time.Time // zero: until the browser closes
}

// client is a browser or device: its cookies (or header token) and what
// the model says they hold, one Token per Manager.
type client struct {
	jar        map[string]jarCookie
	header     string
	tok        []Token
	keepChunks bool
	copy       *client // Snapshot
}

func (c *client) clone() *client {
	return &client{jar: maps.Clone(c.jar), header: c.header, tok: slices.Clone(c.tok), keepChunks: c.keepChunks}
}

// world runs one scenario through real Managers and the model side by side.
type world struct {
	t      testing.TB
	sc     *Scenario
	b      Backend
	model  *Model
	clock  *clock
	open   func(secrets [][]byte) (session.Store, error)
	store  session.Store // of the current epoch
	mgrs   []*session.Manager
	probes []tokenProbe // where replay sends a client's token
	h      http.Handler
	cl     []*client
	serial map[int]string // model ID → real ID
	real   map[string]int // real ID → model ID
	order  *bytes         // the interleaving choices of parallel groups
	step   int
	log    strings.Builder // the scenario as it ran, for a failure

	mu       sync.Mutex
	reported []error // what the error handlers heard, this request
	exchange *exchange
}

// exchange is the request in flight: its ops and the model's view.
type exchange struct {
	ops  []Op
	reqs []*Request // one per Manager
	fail func(format string, args ...any)
}

// start is the scenario clock's origin: whole seconds, an hour ahead of
// real time, so that Redis and PostgreSQL (which expire by their own
// clocks) never reach a deadline the scenario sets while it runs.
func start() time.Time { return time.Now().Add(time.Hour).Truncate(time.Second) }

// Run decodes data into a scenario and runs it on b, failing t at the
// first observation that differs from the model.
func Run(t testing.TB, b Backend, data []byte, header, parallel, hostile bool) {
	sc := Decode(data, b.Server, header, parallel, hostile)
	sc.EngineClock = b.EngineClock && b.Server
	RunScenario(t, b, sc)
}

// RunScenario runs sc on b.
func RunScenario(t testing.TB, b Backend, sc *Scenario) *History {
	if b.Express {
		sc.Express, sc.Header = true, false
	}
	w := &world{t: t, sc: sc, b: b, clock: &clock{t: start()}, serial: map[int]string{}, real: map[string]int{},
		order: &bytes{b: sc.Order}}
	sc.Config.Revocation = b.Revocation && !b.Server
	w.model = NewModel(sc.Config, w.clock.now())
	w.open = b.Open(t, w.clock.now)
	w.build()
	for range sc.Clients {
		w.cl = append(w.cl, &client{jar: map[string]jarCookie{}, tok: make([]Token, len(sc.Names))})
	}
	hist := &History{}
	fmt.Fprintf(&w.log, "%s on %s\n", sc.Options.String(), b.Name)
	for i, st := range sc.Steps {
		w.step = i
		fmt.Fprintf(&w.log, "  %2d. %v\n", i, st)
		switch st.Kind {
		case StepRequest:
			hist.add(w.request(st.Client, st.Ops))
		case StepAdvance:
			w.model.Advance(st.D)
			w.clock.set(w.model.Now)
			w.checkEngineExpiry()
		case StepRotate:
			w.model.Rotate()
			w.build()
		case StepHostile:
			w.hostile(st)
		case StepParallel:
			hist.add(w.parallel(st)...)
		}
		if t.Failed() {
			return hist
		}
	}
	w.checkIndex()
	return hist
}

// checkEngineExpiry holds a backend that expires records by the
// scenario's clock (Config.EngineClock) to the model's deadlines: a
// session a second or more past its deadline (the absolute one, or the
// idle one) is gone from the backend itself, not only refused by the
// deadlines its record holds. The record's time to live must be capped
// by both.
func (w *world) checkEngineExpiry() {
	st, ok := w.store.(*serverstore.Store)
	if !ok || !w.sc.EngineClock {
		return
	}
	now := w.clock.now()
	for id, s := range w.model.Sessions() {
		real, seen := w.serial[id]
		d := s.deadline()
		if !seen || d.IsZero() || now.Sub(d) < time.Second {
			continue
		}
		if _, err := st.Backend().Get(context.Background(), st.Key(real)); !errors.Is(err, driver.ErrNotFound) {
			w.fatalf("session %d is %v past its deadline (absolute %v, idle %v) and its backend still holds it (Get: %v)",
				id, now.Sub(d), s.Expires.Sub(now), s.IdleExpires.Sub(now), err)
		}
	}
}

// checkIndex holds a store's per-user index (package devices) to the
// model, after a scenario with an identity key: every live session bound
// to a user is listed under that user (a "sign out everywhere" ends it),
// and every listed session is one the model stores for that user — live,
// or, on a backend that expires by its own clock, past the model's
// deadline but not yet gone (on a Shared backend, or one of another
// scenario).
func (w *world) checkIndex() {
	x, ok := w.store.(driver.Indexer)
	if !ok || !w.sc.Server || w.sc.Express || w.sc.IdentityKey == "" {
		return
	}
	if _, err := x.Sessions(context.Background(), "", w.clock.now()); err != nil {
		return // a backend without an index (a fault-injecting wrapper)
	}
	type entry struct{ live bool }
	want := map[string]map[string]entry{} // user → handle → …
	for id, s := range w.model.Sessions() {
		user := boundTo(s.Values[w.sc.IdentityKey])
		real, seen := w.serial[id]
		if user == "" || !seen {
			continue
		}
		if want[user] == nil {
			want[user] = map[string]entry{}
		}
		want[user][x.Handle(real)] = entry{live: w.model.Alive(s)}
	}
	for user, handles := range want {
		got, err := x.Sessions(context.Background(), user, w.clock.now())
		if err != nil {
			w.fatalf("index: Sessions(%q): %v", user, err)
		}
		listed := map[string]bool{}
		for _, l := range got {
			listed[l.Handle] = true
			if e, ok := handles[l.Handle]; (!ok && !w.b.Shared) || (ok && !e.live && w.sc.EngineClock) {
				w.fatalf("index: %q lists a session the model does not store for it (live %v)\n%s", user, ok, w.log.String())
			}
		}
		for h, e := range handles {
			if e.live && !listed[h] {
				w.fatalf("index: a live session bound to %q is not listed: ending all its sessions would leave it\n%s", user, w.log.String())
			}
		}
	}
}

// boundTo is the user a session whose identity value has the JSON v is
// bound to: a string, or an integer, of 1 to 255 bytes.
func boundTo(v string) string {
	var x any
	if v == "" || json.Unmarshal([]byte(v), &x) != nil {
		return ""
	}
	var s string
	switch x := x.(type) {
	case string:
		s = x
	case float64:
		if x == math.Trunc(x) && math.Abs(x) <= 1<<53 {
			s = strconv.FormatInt(int64(x), 10)
		}
	}
	if len(s) > 255 {
		return ""
	}
	return s
}

func (o Options) String() string {
	return fmt.Sprintf("server=%t express=%t header=%t lifetime=%v idle=%v rolling=%t resave=%t saveUninitialized=%t unsetDestroy=%t browserSession=%t identityKey=%q names=%q maxChunks=%d budget=%d",
		o.Server, o.Express, o.Header, o.Lifetime, o.Idle, o.Rolling, o.Resave, o.SaveUninitialized, o.UnsetDestroy, o.BrowserSession, o.IdentityKey, o.Names, o.MaxChunks, o.Budget)
}

// fatalf fails the scenario, with its steps so far.
func (w *world) fatalf(format string, args ...any) {
	w.t.Helper()
	w.t.Fatalf("%s\nstep %d: %s", w.log.String(), w.step, fmt.Sprintf(format, args...))
}

// secrets is the key ring of the model's epoch: the epoch's secret first,
// the previous one after it.
func secrets(epoch int) [][]byte {
	s := func(e int) []byte { return []byte(fmt.Sprintf("crumbs-fuzz-secret-of-epoch-%04d", e)) }
	if epoch == 0 {
		return [][]byte{s(0)}
	}
	return [][]byte{s(epoch), s(epoch - 1)}
}

// options are the Manager options of the scenario.
func (w *world) options(name string) []session.Option {
	return w.optionsFor(name, w.sc.Options.Header)
}

// optionsFor are the scenario's options with the transport header says.
func (w *world) optionsFor(name string, header bool) []session.Option {
	o := &w.sc.Options
	opts := []session.Option{
		session.WithCookieName(name), session.WithClock(w.clock.now),
		session.WithLifetime(o.Lifetime), session.WithIdleTimeout(o.Idle),
		session.WithRolling(o.Rolling), session.WithResave(o.Resave), session.WithSaveUninitialized(o.SaveUninitialized),
		session.WithBrowserSessionCookie(o.BrowserSession), session.WithMaxChunks(o.MaxChunks),
		session.WithLogger(slog.New(slog.DiscardHandler)),
		session.WithErrorHandler(func(rw http.ResponseWriter, r *http.Request, err error) {
			w.mu.Lock()
			w.reported = append(w.reported, err)
			w.mu.Unlock()
			http.Error(rw, err.Error(), http.StatusInternalServerError)
		}),
	}
	if o.UnsetDestroy {
		opts = append(opts, session.WithDestroyEmpty(true))
	}
	if o.IdentityKey != "" {
		opts = append(opts, session.WithIdentityKey(o.IdentityKey))
	}
	if o.Budget > 0 {
		opts = append(opts, session.WithCookieBudget(o.Budget))
	}
	if header {
		opts = append(opts, session.WithHeaderToken("", ""))
	}
	return opts
}

// probeName is the cookie name of the probe that reads a token under
// another name: no scenario's.
const probeName = "probe"

// buildProbes makes the Managers that a token the client holds is
// replayed to, over the same store: one of the other transport under the
// same name (a cookie value as a bearer token, a bearer token as a
// cookie), and, for cookies, one under another name. Each must read the
// token as no session: tokens are bound to their transport and name.
func (w *world) buildProbes(store session.Store) {
	w.probes = w.probes[:0]
	name := w.sc.Names[0]
	type probe struct {
		header bool
		name   string
	}
	var ps []probe
	// The Express format's token is express-session's cookie: it has no
	// header form, and its signature covers the ID alone, not the name (as
	// express-session's does): it is not probed.
	if !w.b.Express {
		ps = append(ps, probe{!w.sc.Header, name})
		if !w.sc.Header && !slices.Contains(w.sc.Names, probeName) {
			ps = append(ps, probe{false, probeName})
		}
	}
	for _, p := range ps {
		opts := append(w.optionsFor(p.name, p.header), session.WithSaveUninitialized(false),
			session.WithErrorHandler(func(rw http.ResponseWriter, r *http.Request, err error) {
				http.Error(rw, err.Error(), http.StatusInternalServerError)
			}))
		m, err := session.New(store, opts...)
		if err != nil {
			w.fatalf("New (probe %v): %v", p, err)
		}
		w.probes = append(w.probes, tokenProbe{m: m, header: p.header, name: p.name})
	}
}

// A tokenProbe is a Manager a token is replayed to.
type tokenProbe struct {
	m      *session.Manager
	header bool
	name   string
}

// replay sends the token the client now holds for Manager 0 to every
// probe, which must find no session in it.
func (w *world) replay(c *client) {
	name := w.sc.Names[0]
	token := c.header
	if !w.sc.Header {
		k, ok := c.jar[name]
		if !ok || declared(k.value) > 1 {
			return // a token in chunks has no one-cookie form to replay
		}
		token = k.value
	}
	if token == "" {
		return
	}
	for _, p := range w.probes {
		r := httptest.NewRequest(http.MethodGet, "http://localhost/", nil)
		if p.header {
			r.Header.Set("Authorization", "Bearer "+token)
		} else {
			r.Header.Set("Cookie", p.name+"="+token)
		}
		var fresh bool
		var n int
		rec := httptest.NewRecorder()
		p.m.Handler(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
			s := session.From(r)
			n, fresh = s.Len(), s.IsNew()
		})).ServeHTTP(rec, r)
		if rec.Code != http.StatusOK || !fresh || n != 0 {
			from, to := "a cookie "+strconv.Quote(name), "a bearer token"
			if w.sc.Header {
				from, to = "a bearer token", "a cookie "+strconv.Quote(p.name)
			} else if !p.header {
				to = "a cookie " + strconv.Quote(p.name)
			}
			w.fatalf("%s replayed as %s was read as a session (HTTP %d, new %t, %d values)", from, to, rec.Code, fresh, n)
		}
	}
}

// manager builds one Manager of the scenario over store.
func (w *world) manager(store session.Store, name string) *session.Manager {
	m, err := session.New(store, w.options(name)...)
	if err != nil {
		w.fatalf("New: %v", err)
	}
	return m
}

// build makes the Managers of the current epoch and the handler that runs
// the exchange in flight.
func (w *world) build() {
	store, err := w.open(secrets(w.model.Epoch))
	if err != nil {
		w.fatalf("store: %v", err)
	}
	w.store = store
	w.buildProbes(store)
	w.mgrs = w.mgrs[:0]
	for _, name := range w.sc.Names {
		w.mgrs = append(w.mgrs, w.manager(store, name))
	}
	var h http.Handler = http.HandlerFunc(w.serve)
	for i := len(w.mgrs) - 1; i >= 0; i-- {
		h = w.mgrs[i].Handler(h)
	}
	w.h = h
}

// bigValue is a value of n characters that compresses poorly.
func bigValue(n, seed int) string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	b := make([]byte, n)
	x := uint64(seed)*0x9E3779B97F4A7C15 + uint64(n)
	for i := range b {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		b[i] = alphabet[x&63]
	}
	return string(b)
}

// size is what the model's values take encoded, roughly.
func size(vals map[string]string) int {
	n := 2
	for k, v := range vals {
		n += len(k) + len(v) + 6
	}
	return n
}

// serve is the handler: it runs the exchange's ops on the real sessions
// and the model's, comparing as it goes.
func (w *world) serve(rw http.ResponseWriter, r *http.Request) {
	ex := w.exchange
	for i, o := range ex.ops {
		s, mr := w.mgrs[o.Mgr].Session(r), ex.reqs[o.Mgr]
		where := fmt.Sprintf("op %d %v", i, o)
		switch o.Kind {
		case OpGet:
			got, ok := raw(s, o.Key)
			want, wok := mr.Get(o.Key)
			if ok != wok || got != want {
				ex.fail("%s: got %q (%t), model %q (%t)", where, got, ok, want, wok)
			}
		case OpSet, OpSetBig, OpAddFlash, OpUpdate:
			next := mr.Values()
			val := strconv.Quote(o.Val)
			switch o.Kind {
			case OpSet:
				next[o.Key] = val
			case OpSetBig:
				val = strconv.Quote(bigValue(o.Size, w.step))
				next["big"] = val
			case OpAddFlash:
				next[FlashKey] = strings.Repeat("x", len(next[FlashKey])+len(val)+1)
			case OpUpdate:
				next["n"] = "12345678"
			}
			if size(next) > w.sc.valueCap() {
				break // a session that may not fit its cookies: the model cannot tell
			}
			switch o.Kind {
			case OpSet:
				s.Set(o.Key, o.Val)
				mr.Set(o.Key, val)
			case OpSetBig:
				s.Set("big", bigValue(o.Size, w.step))
				mr.Set("big", val)
			case OpAddFlash:
				s.AddFlash(o.Val)
				mr.AddFlash(o.Val)
			case OpUpdate:
				got, err := session.Update(s, "n", func(n int) int { return n + 1 })
				if want := mr.Update("n"); err != nil || got != want {
					ex.fail("%s: got %d, %v; model %d", where, got, err, want)
				}
			}
		case OpDelete:
			s.Delete(o.Key)
			mr.Delete(o.Key)
		case OpClear:
			s.Clear()
			mr.Clear()
		case OpPop:
			v, ok := session.Pop[json.RawMessage](s, o.Key)
			got := string(v)
			want, wok := mr.Pop(o.Key)
			if ok != wok || got != want {
				ex.fail("%s: got %q (%t), model %q (%t)", where, got, ok, want, wok)
			}
		case OpFlashes:
			got, want := s.Flashes(), mr.Flashes()
			if !slices.Equal(got, want) {
				ex.fail("%s: got %q, model %q", where, got, want)
			}
		case OpRegenerate:
			s.Regenerate(o.Keep)
			mr.Regenerate(o.Keep)
		case OpDestroy:
			s.Destroy()
			mr.Destroy()
		case OpTouch:
			s.Touch()
			mr.Touch()
		case OpSetLifetime:
			s.SetLifetime(o.D)
			mr.SetLifetime(o.D)
		case OpSetBrowserSession:
			s.SetBrowserSession(o.On)
			mr.SetBrowserSession(o.On)
		case OpReload:
			w.pause()
			s.Reload()
			mr.Reload()
		case OpSave:
			err := s.Save()
			if ok := mr.Save(); ok != (err == nil) || (!ok && !errors.Is(err, session.ErrHeadersWritten)) {
				ex.fail("%s: Save returned %v; model: succeeds %t", where, err, ok)
			}
		case OpWrite:
			rw.WriteHeader(http.StatusOK)
			for _, mr := range ex.reqs {
				mr.WriteHeader()
			}
		case OpDeadline:
			if got, want := s.Deadline(), mr.Deadline(); !got.Equal(want) && !(w.sc.Express && got.Sub(want).Abs() < time.Second) {
				ex.fail("%s: deadline %v, model %v", where, got, want)
			}
		}
		w.compare(ex, s, mr, where)
	}
}

// raw reads a value's JSON.
func raw(s *session.Session, key string) (string, bool) {
	v, ok := session.Get[json.RawMessage](s, key)
	return string(v), ok
}

// compare checks what the handler sees of a session against the model:
// IsNew, the ID, every value.
func (w *world) compare(ex *exchange, s *session.Session, mr *Request, where string) {
	if got, want := s.IsNew(), mr.IsNew(); got != want {
		ex.fail("%s: IsNew %t, model %t", where, got, want)
	}
	w.sameID(ex.fail, where, mr.ID(), s.ID())
	want := mr.Values()
	if got := s.Keys(); !slices.Equal(got, slices.Sorted(maps.Keys(want))) {
		ex.fail("%s: keys %q, model %q", where, got, slices.Sorted(maps.Keys(want)))
		return
	}
	for k, v := range want {
		if got, _ := raw(s, k); got != v {
			ex.fail("%s: %s = %.80q, model %.80q", where, k, got, v)
		}
	}
}

// sameID checks that the real ID is the one the model names: the same
// real ID for one model ID, a new one for a new one.
func (w *world) sameID(fail func(string, ...any), where string, id int, real string) {
	if got, ok := w.serial[id]; ok {
		if got != real {
			fail("%s: ID %.8s…, model: the one it had as %.8s… (model ID %d)", where, real, got, id)
		}
		return
	}
	if other, ok := w.real[real]; ok {
		fail("%s: ID %.8s… is model ID %d's, model: a new one (%d)", where, real, other, id)
		return
	}
	w.serial[id], w.real[real] = real, id
}

// cookies returns the Cookie header a client sends now.
func (w *world) cookies(c *client) string {
	now := w.clock.now()
	var b []string
	for _, name := range slices.Sorted(maps.Keys(c.jar)) {
		k := c.jar[name]
		if !k.expires.IsZero() && !now.Before(k.expires) {
			delete(c.jar, name)
			continue
		}
		b = append(b, name+"="+k.value)
	}
	return strings.Join(b, "; ")
}

// newRequest is a request of client c.
func (w *world) newRequest(c *client) *http.Request {
	r := httptest.NewRequest(http.MethodGet, "http://localhost/", nil)
	if w.sc.Header {
		if c.header != "" {
			r.Header.Set("Authorization", "Bearer "+c.header)
		}
	} else if h := w.cookies(c); h != "" {
		r.Header.Set("Cookie", h)
	}
	return r
}

// Observed is what one response carried, normalised: the history two
// backends must agree on.
type Observed struct {
	Status int
	Out    []string // per Manager: nothing, set (with Max-Age), expire
}

// History is what a scenario's responses carried.
type History struct{ Responses []Observed }

func (h *History) add(o ...Observed) { h.Responses = append(h.Responses, o...) }

// pause lets Redis's clock move on by a millisecond or two before a load
// in the Express variant, so that a TTL read back is always less than the
// one written (the model's "a moment less").
func (w *world) pause() {
	if w.sc.Express {
		time.Sleep(2 * time.Millisecond)
	}
}

// request runs one request of client ci.
func (w *world) request(ci int, ops []Op) Observed {
	w.pause()
	c := w.cl[ci]
	ex := &exchange{ops: ops}
	var failures []string
	ex.fail = func(format string, args ...any) { failures = append(failures, fmt.Sprintf(format, args...)) }
	for j := range w.mgrs {
		c.tok[j] = w.model.Drop(c.tok[j])
		ex.reqs = append(ex.reqs, w.model.Begin(c.tok[j]))
	}
	w.exchange, w.reported = ex, nil
	r := w.newRequest(c)
	rec := httptest.NewRecorder()
	w.h.ServeHTTP(rec, r)
	res := rec.Result()
	for _, mr := range ex.reqs {
		mr.End()
	}
	if len(failures) > 0 {
		w.fatalf("%s", strings.Join(failures, "\n"))
	}
	obs := Observed{Status: res.StatusCode}
	late := false
	for _, mr := range ex.reqs {
		late = late || mr.Late
	}
	if res.StatusCode != http.StatusOK {
		w.fatalf("status %d: %v", res.StatusCode, w.reported)
	}
	for _, err := range w.reported {
		if !late || !errors.Is(err, session.ErrHeadersWritten) {
			w.fatalf("the error handler heard %v (model: late change %t)", err, late)
		}
	}
	if late && len(w.reported) == 0 {
		w.fatalf("a change after the headers went out was not reported")
	}
	for j, mr := range ex.reqs {
		obs.Out = append(obs.Out, w.check(res, j, mr))
		if mr.Out != Nothing {
			c.tok[j] = mr.OutToken
		}
	}
	if !w.sc.Header {
		w.hygiene(r, res)
	}
	w.deliver(c, res)
	if len(ex.reqs) > 0 && ex.reqs[0].Out == Set {
		w.replay(c) // the token just issued, to the other transport and name
	}
	return obs
}

// hygiene checks that a response which sets or expires a session's
// cookies also expires every chunk cookie of it the request carried
// beyond the new set: else the browser keeps a stale chunk, which a later
// set of fewer chunks would be read with. (A chunk the request did not
// carry, which a parallel response set, is left alone: it is ignored.)
func (w *world) hygiene(r *http.Request, res *http.Response) {
	set := map[string]*http.Cookie{}
	for _, line := range res.Header.Values("Set-Cookie") {
		if k, err := http.ParseSetCookie(line); err == nil {
			set[k.Name] = k
		}
	}
	for _, name := range w.sc.Names {
		base, ok := set[name]
		if !ok {
			continue
		}
		keep := 0 // chunks 1 … keep-1 stay
		if base.MaxAge >= 0 {
			keep = declared(base.Value)
		}
		for _, ck := range r.Cookies() {
			i, err := strconv.Atoi(strings.TrimPrefix(ck.Name, name+"."))
			if !strings.HasPrefix(ck.Name, name+".") || err != nil || i < 1 || i < keep || slices.Contains(w.sc.Names, ck.Name) {
				continue
			}
			if k, ok := set[ck.Name]; !ok || k.MaxAge >= 0 {
				w.fatalf("the response sets %q in %d cookies (Max-Age %d) but leaves the chunk %q the request carried: Set-Cookie %q",
					name, max(keep, 1), base.MaxAge, ck.Name, res.Header.Values("Set-Cookie"))
			}
		}
	}
}

// check compares what the response carries for Manager j with the model.
func (w *world) check(res *http.Response, j int, mr *Request) string {
	name := w.sc.Names[j]
	got, age := Nothing, int64(0)
	if w.sc.Header {
		if v, ok := res.Header["Session-Token"]; ok {
			got = Set
			if len(v) != 1 || v[0] == "" {
				got = Expire
			}
		}
	} else {
		n := 0
		for _, line := range res.Header.Values("Set-Cookie") {
			k, err := http.ParseSetCookie(line)
			if err != nil {
				w.fatalf("a Set-Cookie line does not parse: %q: %v", line, err)
			}
			if k.Name != name {
				continue
			}
			n++
			got, age = Set, int64(k.MaxAge)
			if k.MaxAge < 0 {
				got, age = Expire, 0
			}
		}
		if n > 1 {
			w.fatalf("%d Set-Cookie lines for %q", n, name)
		}
	}
	if got != mr.Out || age != mr.MaxAge {
		w.fatalf("cookie %q: %v (Max-Age %d), model %v (Max-Age %d); Set-Cookie %q", name, got, age, mr.Out, mr.MaxAge, res.Header.Values("Set-Cookie"))
	}
	if mr.Used {
		vary := strings.Join(res.Header.Values("Vary"), ",")
		if want := map[bool]string{false: "Cookie", true: "Authorization"}[w.sc.Header]; !strings.Contains(vary, want) {
			w.fatalf("a response that used the session has Vary %q", vary)
		}
		if cc := res.Header.Get("Cache-Control"); got != Nothing && cc != "no-store" {
			w.fatalf("a response that sets or expires the session has Cache-Control %q", cc)
		}
	}
	if got == Set {
		return fmt.Sprintf("set %d", age)
	}
	return got.String()
}

// deliver is the client taking a response's cookies (or token).
func (w *world) deliver(c *client, res *http.Response) {
	if w.sc.Header {
		if v, ok := res.Header["Session-Token"]; ok && len(v) == 1 {
			c.header = v[0]
		}
		return
	}
	now := w.clock.now()
	for _, line := range res.Header.Values("Set-Cookie") {
		k, err := http.ParseSetCookie(line)
		if err != nil {
			continue
		}
		base := slices.Contains(w.sc.Names, k.Name)
		switch {
		case k.MaxAge < 0:
			if base || !c.keepChunks {
				delete(c.jar, k.Name)
			}
		case k.MaxAge > 0:
			c.jar[k.Name] = jarCookie{value: k.Value, expires: now.Add(time.Duration(k.MaxAge) * time.Second)}
		default:
			c.jar[k.Name] = jarCookie{value: k.Value}
		}
	}
}

// declared is the number of cookies a base cookie value declares.
func declared(v string) int {
	if i := strings.IndexByte(v, '.'); i > 0 {
		if n, err := strconv.Atoi(v[:i]); err == nil {
			return n
		}
	}
	return 1
}

// hostile carries out what a hostile or lossy client does.
func (w *world) hostile(st Step) {
	c := w.cl[st.Client]
	w.cookies(c) // the browser has dropped what expired: nothing to tamper with
	for j := range c.tok {
		c.tok[j] = w.model.Drop(c.tok[j])
	}
	name := w.sc.Names[0]
	switch st.Hostile {
	case Tamper:
		if c.tok[0].Kind == Broken {
			return // already broken: a second change could undo the first
		}
		if w.sc.Header {
			if c.header != "" {
				c.header = tamper(c.header)
				c.tok[0] = Token{Kind: Broken}
			}
		} else if k, ok := c.jar[name]; ok {
			k.value = tamper(k.value)
			c.jar[name] = k
			c.tok[0].Kind = Broken
		}
	case Forge:
		v := strconv.Itoa(2+st.Other%8) + ".AAAA"
		if w.sc.Header {
			c.header = v
		} else {
			c.jar[name] = jarCookie{value: v}
		}
		c.tok[0] = Token{Kind: Broken}
	case DropAll:
		c.jar, c.header, c.tok = map[string]jarCookie{}, "", make([]Token, len(w.sc.Names))
	case DropChunk:
		k, ok := c.jar[name]
		if !ok || w.sc.Header {
			return
		}
		for i := 1; i < w.sc.MaxChunks; i++ {
			chunk := name + "." + strconv.Itoa(i)
			if _, ok := c.jar[chunk]; ok {
				delete(c.jar, chunk)
				if i < declared(k.value) {
					c.tok[0].Kind = Broken
				}
				return
			}
		}
	case Snapshot:
		c.copy = c.clone()
	case Replay:
		if c.copy != nil {
			cp := c.copy.clone()
			c.jar, c.header, c.tok = cp.jar, cp.header, cp.tok
		}
	case CopyFrom:
		o := w.cl[st.Other%len(w.cl)].clone()
		c.jar, c.header, c.tok = o.jar, o.header, o.tok
	case CloseBrowser:
		for n, k := range c.jar {
			if k.expires.IsZero() {
				delete(c.jar, n)
			}
		}
		for j := range c.tok {
			c.tok[j] = w.model.CloseBrowser(c.tok[j])
		}
	case KeepChunks:
		c.keepChunks = true
	}
}

// tamper changes the character in the middle of a value.
func tamper(v string) string {
	i := len(v) / 2
	ch := byte('A')
	if v[i] == ch {
		ch = 'B'
	}
	return v[:i] + string(ch) + v[i+1:]
}
