package fuzz

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/crumbs-go/session"
	"github.com/crumbs-go/session/driver"
)

// The requests of a parallel group run on goroutines of their own, each
// through a Manager of its own over the one backend (instances of an app
// behind a load balancer), and meet at the Store boundary: every Load,
// Save, Retire and Delete waits there until the scheduler lets it through,
// one at a time, in the order the fuzzer's bytes choose; so does the
// delivery of each response to the browser. An interleaving that fails is
// thus reproducible, and the fuzzer minimises it like any input.

// call is one step at the boundary, as it happened.
type call struct {
	req int    // the group request
	op  string // Load, Save, Retire, Delete, deliver
	id  string // the session ID it was about (Save: the record's; Retire: the old one)
	err error
}

// sched is a parallel group's scheduler.
type sched struct {
	arrive chan int      // a goroutine reached the boundary (its index)
	gates  []chan func() // per goroutine: the scheduler's go-ahead
	log    []call
}

// gated is a Store whose calls wait for the scheduler.
type gated struct {
	session.Store
	s *sched
	i int
}

// gatedFormat is a gated driver.CookieFormat (the Express format): the
// Manager keeps its one-cookie token.
type gatedFormat struct {
	*gated
	format string
}

func (g gatedFormat) CookieFormat() string { return g.format }

// gate wraps store for request i of a group.
func gate(store session.Store, s *sched, i int) session.Store {
	g := &gated{Store: store, s: s, i: i}
	if cf, ok := store.(driver.CookieFormat); ok {
		return gatedFormat{g, cf.CookieFormat()}
	}
	return g
}

// at parks goroutine g.i at the boundary until the scheduler picks it,
// then runs f and records it.
func (g *gated) at(op, id string, f func() error) {
	g.s.arrive <- g.i
	<-g.s.gates[g.i]
	err := f()
	g.s.log = append(g.s.log, call{req: g.i, op: op, id: id, err: err})
}

func (g *gated) Load(ctx context.Context, name, token string, now time.Time) (rec *driver.Record, err error) {
	g.at("Load", "", func() error { rec, err = g.Store.Load(ctx, name, token, now); return err })
	if rec != nil {
		g.s.log[len(g.s.log)-1].id = rec.ID
	}
	return rec, err
}

func (g *gated) Save(ctx context.Context, name string, c *driver.Commit, now time.Time) (token string, err error) {
	g.at("Save", c.Record.ID, func() error { token, err = g.Store.Save(ctx, name, c, now); return err })
	return token, err
}

func (g *gated) Retire(ctx context.Context, name string, old, next *driver.Record, now time.Time) (rec *driver.Record, err error) {
	g.at("Retire", old.ID, func() error { rec, err = g.Store.Retire(ctx, name, old, next, now); return err })
	return rec, err
}

func (g *gated) Delete(ctx context.Context, name string, rec *driver.Record, now time.Time) (err error) {
	g.at("Delete", rec.ID, func() error { return g.Store.Delete(ctx, name, rec, now) })
	return err
}

// groupRequest is one request of a group, as it ran.
type groupRequest struct {
	kind  PKind
	key   string // PSet: its key; PFlash: its message
	isNew bool   // what the handler saw at load
	res   *http.Response
	err   []error
}

// parallel runs a group of requests of one client in parallel.
func (w *world) parallel(st Step) []Observed {
	c := w.cl[st.Client]
	c.tok[0] = w.model.Drop(c.tok[0])
	s0, ok := w.live(c.tok[0])
	if !ok || len(w.mgrs) > 1 {
		return nil // the promises are about a session the client holds
	}
	if _, ok := w.serial[s0.ID]; !ok {
		// The session got its ID at a commit's own Regenerate (an identity
		// change), which no handler has seen yet: learn it.
		w.bind(s0.ID, w.probeJar(c).id)
	}
	w.pause()
	k := len(st.Group)
	sc := &sched{arrive: make(chan int), gates: make([]chan func(), k)}
	reqs := make([]*groupRequest, k)
	handlers := make([]http.Handler, k)
	for i, kind := range st.Group {
		sc.gates[i] = make(chan func())
		store, err := w.open(secrets(w.model.Epoch))
		if err != nil {
			w.fatalf("store: %v", err)
		}
		m := w.manager(gate(store, sc, i), w.sc.Names[0])
		gr := &groupRequest{kind: kind}
		switch kind {
		case PSet:
			gr.key = fmt.Sprintf("p%d.%d", w.step, i)
		case PFlash:
			gr.key = fmt.Sprintf("f%d.%d", w.step, i)
		}
		reqs[i] = gr
		handlers[i] = m.Handler(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
			s := session.From(r)
			gr.isNew = s.IsNew()
			switch gr.kind {
			case PSet:
				s.Set(gr.key, "x")
			case PUpdate:
				if _, err := session.Update(s, "n", func(n int) int { return n + 1 }); err != nil {
					gr.err = append(gr.err, err)
				}
			case PFlash:
				s.AddFlash(gr.key)
			case PRead:
				s.Get("a")
			case PTouch:
				s.Touch()
			case PDestroy:
				s.Destroy()
			case PRegenerate:
				s.Regenerate(true)
			case PDelete:
				s.Delete("a")
			}
		}))
	}
	done := make(chan int)
	for i := range k {
		r := w.newRequest(c)
		go func() {
			rec := httptest.NewRecorder()
			defer func() {
				if p := recover(); p != nil {
					reqs[i].err = append(reqs[i].err, fmt.Errorf("panic: %v\n%s", p, debug.Stack()))
					rec.Code = http.StatusInternalServerError
				}
				reqs[i].res = rec.Result()
				done <- i
			}()
			handlers[i].ServeHTTP(rec, r)
		}()
	}
	// The scheduler: wait until every request not yet delivered is parked
	// (at the boundary, or finished and waiting for its delivery), let one
	// through, and again.
	parked, finished, live, delivered := map[int]bool{}, map[int]bool{}, k, []int{}
	for live > 0 {
		for len(parked) < live {
			select {
			case i := <-sc.arrive:
				parked[i] = true
			case i := <-done:
				parked[i], finished[i] = true, true
			case <-time.After(time.Minute):
				// A request blocked elsewhere than at the Store boundary:
				// the interleaving cannot go on.
				w.fatalf("a parallel group is stuck: %d of %d requests parked", len(parked), live)
			}
		}
		ready := slices.Sorted(maps.Keys(parked))
		i := ready[w.order.intn(len(ready))]
		delete(parked, i)
		if finished[i] {
			live--
			delivered = append(delivered, i)
			sc.log = append(sc.log, call{req: i, op: "deliver"})
			continue
		}
		sc.gates[i] <- nil
	}
	var trace []string
	for _, cl := range sc.log {
		e := ""
		if cl.err != nil {
			e = " → " + cl.err.Error()
		}
		trace = append(trace, fmt.Sprintf("r%d %s %.8s%s", cl.req, cl.op, cl.id, e))
	}
	fmt.Fprintf(&w.log, "      interleaving: %s\n", strings.Join(trace, "; "))
	obs := make([]Observed, 0, k)
	for _, gr := range reqs {
		if gr.res.StatusCode != http.StatusOK || len(gr.err) > 0 {
			w.fatalf("a parallel %v answered %d (%v)", gr.kind, gr.res.StatusCode, gr.err)
		}
		vary := strings.Join(gr.res.Header.Values("Vary"), ",")
		if want := map[bool]string{false: "Cookie", true: "Authorization"}[w.sc.Header]; !strings.Contains(vary, want) {
			w.fatalf("a parallel %v that used the session has Vary %q", gr.kind, vary)
		}
		if ok, _, _ := w.outOf(gr.res); ok && gr.res.Header.Get("Cache-Control") != "no-store" {
			w.fatalf("a parallel %v that sets or expires the token has Cache-Control %q", gr.kind, gr.res.Header.Get("Cache-Control"))
		}
		obs = append(obs, Observed{Status: gr.res.StatusCode})
	}
	if w.sc.Server {
		w.checkServerGroup(c, s0, reqs, sc.log, delivered)
	} else {
		w.checkCookieGroup(c, reqs, delivered)
	}
	return obs
}

// live returns the session a client's token opens, by the model.
func (w *world) live(t Token) (*Session, bool) {
	m := w.model
	if t.Kind != Valid || t.Epoch < m.Epoch-1 {
		return nil, false
	}
	if !w.sc.Server {
		return t.Snap, t.Snap.live(m.Now)
	}
	if _, moved := m.Retired(t.ID); moved {
		return nil, false
	}
	return m.Stored(t.ID)
}

// checkCookieGroup: in cookie mode each request acts on the cookie it
// carried, and the browser keeps the cookie of the last response that set
// one. Each response must carry what the model gives that request alone.
func (w *world) checkCookieGroup(c *client, reqs []*groupRequest, delivered []int) {
	start := c.tok[0]
	for _, i := range delivered {
		gr := reqs[i]
		mr := w.model.Begin(start)
		if mr.IsNew() != gr.isNew {
			w.fatalf("parallel r%d: IsNew %t, model %t", i, gr.isNew, mr.IsNew())
		}
		switch gr.kind {
		case PSet:
			mr.Set(gr.key, `"x"`)
		case PUpdate:
			mr.Update("n")
		case PFlash:
			mr.AddFlash(gr.key)
		case PRead:
			mr.Get("a")
		case PTouch:
			mr.Touch()
		case PDestroy:
			mr.Destroy()
		case PRegenerate:
			mr.Regenerate(true)
		case PDelete:
			mr.Delete("a")
		}
		mr.End()
		w.check(gr.res, 0, mr)
		if mr.Out != Nothing {
			c.tok[0] = mr.OutToken
		}
		w.deliver(c, gr.res)
	}
}

// checkServerGroup holds a group's outcome to the concurrency promises of
// doc.go, whatever the interleaving, and then has the model adopt it:
// different keys all land; Update loses nothing; a destroy wins over every
// save and over a Regenerate; values stored before a Regenerate retired the
// old ID move to the new one, later ones are dropped.
func (w *world) checkServerGroup(c *client, s0 *Session, reqs []*groupRequest, log []call, delivered []int) {
	m := w.model
	oldReal, oldToken := w.serial[s0.ID], w.held(c)
	ended := -1                   // the position in log of the first Delete or Retire of the old ID that succeeded
	regen, destroyed := -1, false // regen: the Regenerate that retired the old ID
	var regens []int
	for i, gr := range reqs {
		switch gr.kind {
		case PRegenerate:
			regens = append(regens, i)
		case PDestroy:
			destroyed = true
		}
	}
	for p, cl := range log {
		if ended < 0 && cl.id == oldReal && cl.err == nil && (cl.op == "Delete" || cl.op == "Retire") {
			ended = p
		}
		if cl.op == "Retire" && cl.id == oldReal && cl.err == nil {
			regen = cl.req
		}
		if cl.op == "Delete" && cl.id == oldReal {
			destroyed = true // a Destroy, or a Regenerate of an empty session under UnsetDestroy
		}
	}
	// A request saw the session iff its load came before it ended, or
	// after a same-user Regenerate retired it (within the grace the
	// retired ID reads the new session) and before a Delete ended that.
	bound := m.SameUser(s0.Values, s0.Values) // Regenerate(true) keeps the identity value
	retiredAt, deletedAt := -1, -1
	for p, cl := range log {
		if cl.id == oldReal && cl.err == nil && cl.op == "Retire" && retiredAt < 0 {
			retiredAt = p
		}
		if cl.id == oldReal && cl.err == nil && cl.op == "Delete" && deletedAt < 0 {
			deletedAt = p
		}
	}
	for p, cl := range log {
		if cl.op != "Load" {
			continue
		}
		// (Whether such a load resolves depends on whether parallel writes
		// merged into the new session meanwhile: both outcomes are right.)
		mayResolve := bound && retiredAt >= 0 && retiredAt == ended && p > retiredAt && (deletedAt < 0 || p < deletedAt)
		if want := ended >= 0 && p > ended; reqs[cl.req].isNew != want && !(mayResolve && !reqs[cl.req].isNew) {
			w.fatalf("parallel r%d (%v) loaded at step %d, the session ended at step %d: IsNew %t", cl.req, reqs[cl.req].kind, p, ended, reqs[cl.req].isNew)
		}
	}
	// landed: the request's changes reached the old ID before it ended.
	landed := func(i int) bool {
		for p, cl := range log {
			if cl.req == i && cl.op == "Save" && cl.id == oldReal && cl.err == nil && (ended < 0 || p < ended) {
				return true
			}
		}
		return false
	}
	// The browser keeps the last response that set or expired the cookie.
	var last *groupRequest
	for _, i := range delivered {
		if ok, _, _ := w.outOf(reqs[i].res); ok {
			last = reqs[i]
		}
		w.deliver(c, reqs[i].res)
	}
	jar := w.probe(w.held(c))
	old := w.probe(oldToken)

	// What the session must hold if it survived (under its ID or the new one).
	want := maps.Clone(s0.Values)
	n, _ := strconv.Atoi(want["n"])
	var flashes []string
	json.Unmarshal([]byte(want[FlashKey]), &flashes)
	wrote := false
	for i, gr := range reqs {
		if gr.kind == PRegenerate || !(ended < 0 || landed(i)) {
			continue
		}
		switch gr.kind {
		case PSet:
			want[gr.key] = `"x"`
		case PUpdate:
			n++
			want["n"] = strconv.Itoa(n)
		case PFlash:
			flashes = append(flashes, gr.key)
		case PDelete:
			delete(want, "a")
		}
	}
	if len(flashes) > 0 {
		want[FlashKey] = ""
	}
	loaded := m.Loaded(s0)
	for _, gr := range reqs {
		_, hadA := s0.Values["a"]
		changes := gr.kind != PRead && (gr.kind != PDelete || hadA)
		wrote = wrote || changes || w.sc.Rolling || w.sc.Resave || c.tok[0].Epoch < m.Epoch ||
			(w.sc.Idle > 0 && (loaded.IdleExpires.IsZero() || loaded.IdleExpires.Sub(m.Now) < w.sc.Idle/2))
	}
	survivor := s0.clone()
	if m.Cfg.Express {
		survivor.IdleExpires = loaded.IdleExpires
	}
	if wrote && w.sc.Idle > 0 {
		survivor.IdleExpires = m.Now.Add(w.sc.Idle).Truncate(time.Second)
	}
	// In the Express variant every write of the group, at one instant,
	// gives the record the same deadlines; a Regenerate's new record is a
	// create.
	stamp := func(s *Session, create bool) {
		if m.Cfg.Express {
			m.stamp(s, create, false, false)
		}
	}
	if wrote && len(regens) == 0 {
		stamp(survivor, false)
	}
	same := func(p *probed, what string) {
		if p.isNew {
			w.fatalf("%s: the session is gone; model: it holds %v", what, want)
		}
		if !slices.Equal(p.keys(), slices.Sorted(maps.Keys(want))) {
			w.fatalf("%s: keys %q, the promises say %q", what, p.keys(), slices.Sorted(maps.Keys(want)))
		}
		for k, v := range want {
			if k == FlashKey {
				var got []string
				json.Unmarshal([]byte(p.vals[k]), &got)
				slices.Sort(got)
				if !slices.Equal(got, slices.Sorted(slices.Values(flashes))) {
					w.fatalf("%s: flashes %q, the promises say %q", what, got, flashes)
				}
				continue
			}
			if p.vals[k] != v {
				w.fatalf("%s: %s = %q, the promises say %q", what, k, p.vals[k], v)
			}
		}
		survivor.Values = maps.Clone(p.vals)
	}
	switch {
	case destroyed:
		// Nothing of the session survives under any token; what the browser
		// holds now is, at most, a session a request started after the end.
		if !old.isNew {
			w.fatalf("the old token still opens the destroyed session: %v", old.vals)
		}
		for _, i := range regens {
			if t := w.tokenOf(reqs[i].res); t != "" {
				if p := w.probe(t); !p.isNew && !reqs[i].isNew {
					w.fatalf("a Regenerate brought the destroyed session back under its new ID: %v", p.vals)
				}
			}
		}
		m.destroyChain(s0.ID)
		allowed := map[string]bool{}
		for _, gr := range reqs {
			if gr.isNew {
				allowed[gr.key], allowed["n"], allowed[FlashKey] = true, true, true
			}
		}
		for _, k := range jar.keys() {
			if !allowed[k] {
				w.fatalf("after a destroy the browser's session holds %q = %q, which no request that started after the destroy set", k, jar.vals[k])
			}
		}
		c.tok[0] = w.tokenFor(s0, last) // a dead ID: the next request that uses it expires it
		if !jar.isNew {
			s := &Session{ID: m.NewID(), Values: jar.vals, Browser: w.sc.BrowserSession}
			if w.sc.Lifetime > 0 {
				s.Expires = m.Now.Add(w.sc.Lifetime).Truncate(time.Second)
			}
			if w.sc.Idle > 0 {
				s.IdleExpires = m.Now.Add(w.sc.Idle).Truncate(time.Second)
			}
			stamp(s, true)
			w.bind(s.ID, jar.id)
			m.Adopt(s)
			c.tok[0] = w.tokenFor(s, last)
		}
	case len(regens) > 0:
		if regen < 0 {
			w.fatalf("no Regenerate retired the old ID, and no destroy raced them")
		}
		t := w.tokenOf(reqs[regen].res)
		if t == "" {
			w.fatalf("a Regenerate that no destroy raced set no cookie")
		}
		p := w.probe(t)
		same(&p, "under the new ID")
		resolved := !old.isNew
		switch {
		case resolved && !m.SameUser(s0.Values, p.vals):
			w.fatalf("the retired ID still opens a session: %v", old.vals)
		case resolved && !maps.Equal(old.vals, p.vals):
			// An ID-only Regenerate's retired ID reads the new session only
			// while it holds the values the rotation saw (whether parallel
			// writes merged in since decides that: both outcomes are right).
			w.fatalf("the retired ID of an ID-only Regenerate reads %v, the new session %v", old.vals, p.vals)
		}
		survivor.ID = m.NewID()
		stamp(survivor, true)
		w.bind(survivor.ID, p.id)
		m.Retire(s0.ID, survivor, resolved) // a group's Regenerate changes nothing else; the grace holds if the probe saw it
		m.Adopt(survivor)
		c.tok[0] = w.tokenFor(survivor, last)
		if w.tokenOf(last.res) != t {
			// A response that saved before the Regenerate reached the
			// browser after the Regenerate's: the jar names the retired ID.
			c.tok[0].ID = s0.ID
		}
	default:
		same(&jar, "the session")
		if jar.id != oldReal {
			w.fatalf("the session changed its ID without a Regenerate")
		}
		m.Adopt(survivor)
		if last != nil {
			c.tok[0] = w.tokenFor(survivor, last)
		}
	}
}

// tokenFor is the model's token of s as response last set it.
func (w *world) tokenFor(s *Session, last *groupRequest) Token {
	t := Token{Kind: Valid, ID: s.ID, Epoch: w.model.Epoch}
	switch _, v, age := w.outOf(last.res); {
	case v == "":
		return Token{}
	case age > 0:
		t.JarExpires = w.model.Now.Add(time.Duration(age) * time.Second)
	}
	return t
}

// outOf reports whether a response set or expired the session's token
// (Manager 0), the token it set ("" for an expiry), and its Max-Age.
func (w *world) outOf(res *http.Response) (ok bool, token string, age int) {
	if w.sc.Header {
		v, ok := res.Header["Session-Token"]
		if !ok || len(v) != 1 {
			return false, "", 0
		}
		return true, v[0], 0
	}
	for _, line := range res.Header.Values("Set-Cookie") {
		if k, err := http.ParseSetCookie(line); err == nil && k.Name == w.sc.Names[0] {
			ok, token, age = true, k.Value, k.MaxAge
			if k.MaxAge < 0 {
				token, age = "", 0
			}
		}
	}
	return ok, token, age
}

// tokenOf is the token a response set, or "".
func (w *world) tokenOf(res *http.Response) string { _, t, _ := w.outOf(res); return t }

// held is the token a client holds for Manager 0.
func (w *world) held(c *client) string {
	if w.sc.Header {
		return c.header
	}
	return c.jar[w.sc.Names[0]].value
}

func (w *world) bind(id int, real string) {
	w.sameID(func(f string, a ...any) { w.fatalf(f, a...) }, "after a parallel group", id, real)
}

// probeJar reads the session through everything the client holds: in
// cookie mode every chunk cookie of its jar (a probe with the base cookie
// alone read a multi-chunk session as absent, and learnt a fresh ID).
func (w *world) probeJar(c *client) probed {
	if w.sc.Header {
		return w.probe(c.header)
	}
	return w.probeCookies(w.cookies(c))
}

// probed is what a read through one token saw.
type probed struct {
	isNew bool
	id    string
	vals  map[string]string
}

func (p *probed) keys() []string { return slices.Sorted(maps.Keys(p.vals)) }

// probe reads the session a cookie value opens, through a Manager of its
// own. Its response is thrown away: at the group's instant a refresh it
// might store changes no deadline.
func (w *world) probe(token string) probed {
	if token == "" || w.sc.Header {
		return w.probeWith(token, "")
	}
	return w.probeCookies(w.sc.Names[0] + "=" + token)
}

// probeCookies reads the session a Cookie header carries.
func (w *world) probeCookies(header string) probed { return w.probeWith("", header) }

func (w *world) probeWith(token, cookies string) probed {
	store, err := w.open(secrets(w.model.Epoch))
	if err != nil {
		w.fatalf("store: %v", err)
	}
	m := w.manager(store, w.sc.Names[0])
	var p probed
	h := m.Handler(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		s := session.From(r)
		p.isNew, p.id, p.vals = s.IsNew(), s.ID(), map[string]string{}
		for _, k := range s.Keys() {
			p.vals[k], _ = raw(s, k)
		}
	}))
	r := httptest.NewRequest(http.MethodGet, "http://localhost/", nil)
	switch {
	case token != "":
		r.Header.Set("Authorization", "Bearer "+token)
	case cookies != "":
		r.Header.Set("Cookie", cookies)
	}
	h.ServeHTTP(httptest.NewRecorder(), r)
	return p
}
