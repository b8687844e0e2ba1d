package storetest

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/crumbs-go/session"
	"github.com/crumbs-go/session/cookiestore"
	"github.com/crumbs-go/session/driver"
	"github.com/crumbs-go/session/serverstore"
)

// spills holds the spill-over options of each RunSpill, by the name of
// its test: every Manager a scenario under it builds over a backend
// (wrapped for fault injection or not) is a cookiestore.Spill over it.
var spills sync.Map // test name prefix → []cookiestore.SpillOption

// spilling returns the options of the RunSpill t runs under.
func spilling(t *testing.T) ([]cookiestore.SpillOption, bool) {
	var opts []cookiestore.SpillOption
	found := false
	spills.Range(func(k, v any) bool {
		if strings.HasPrefix(t.Name(), k.(string)+"/") {
			opts, found = v.([]cookiestore.SpillOption), true
			return false
		}
		return true
	})
	return opts, found
}

// RunSpill runs, over a server store on newBackend's backends, the
// spill-over store's own scenarios (Moves: a session moved out and back,
// a request that read one form and saves after a move, Destroy and
// Regenerate in both forms), with the default marks; then the suite's
// scenarios of what users see through a session.Manager (sessions, the
// lifecycle, races, cookie attributes, Regenerate's failures, fault
// injection included) with cookiestore.Spill and opts. With
// cookiestore.WithSpillAt(0) every session lives on the server, and must
// pass as server mode does (parallel requests on a session in its cookie
// share one cookie, as in cookie mode: the Moves cover the cookie form).
func RunSpill(t *testing.T, newBackend func(t *testing.T) serverstore.Backend, opts ...cookiestore.SpillOption) {
	t.Run("Moves", func(t *testing.T) {
		for name, f := range map[string]func(*testing.T, func(*testing.T) serverstore.Backend){
			"GrowAndShrink":           spillGrowAndShrink,
			"StaleCookieAfterMoveOut": spillStaleCookieAfterMoveOut,
			"LateWriterAfterReturn":   spillLateWriterAfterReturn,
			"DestroyInCookieForm":     spillDestroyInCookieForm,
			"Regenerate":              spillRegenerate,
			"LogoutThroughOldCookie":  spillLogoutThroughOldCookie,
			"RegenerateMerges":        spillRegenerateMerges,
			"LateIDWriterAfterRetire": spillLateIDWriterAfterRetire,
			"FailedDestroyKeeps":      spillFailedDestroyKeeps,
			"FailedLoginRetried":      spillFailedLoginRetried,
			"DestroyDuringMoveOut":    spillDestroyDuringMoveOut,
			"MalformedTokens":         spillMalformedTokens,
			"SecondCommit":            spillSecondCommit,
			"RetireGrown":             spillRetireGrown,
			"BlankRace":               spillBlankRace,
			"ClearWhileReturning":     spillClearWhileReturning,
			"LateIDWriterEvicted":     spillLateIDWriterEvicted,
			"ParallelLastSave":        spillParallelLastSave,
			"ShortID":                 spillShortID,
			"LifetimeOnReturn":        spillLifetimeOnReturn,
			"ParallelRetire":          spillParallelRetire,
			"RecreateMeetsMoveOut":    spillRecreateMeetsMoveOut,
			"RefusedRegenerate":       spillRefusedRegenerate,
		} {
			t.Run(name, func(t *testing.T) { t.Parallel(); f(t, newBackend) })
		}
	})
	t.Run("Manager", func(t *testing.T) {
		spills.Store(t.Name(), opts)
		t.Cleanup(func() { spills.Delete(t.Name()) })
		nf := func(t *testing.T) (any, clock) { return newBackend(t), realClock{} }
		t.Run("Session", func(t *testing.T) { testSession(t, nf) })
		t.Run("Lifecycle", func(t *testing.T) { testLifecycle(t, nf) })
		t.Run("Races", func(t *testing.T) { testRaces(t, nf) })
		t.Run("CookieAttributes", func(t *testing.T) { testCookieAttributes(t, nf) })
		t.Run("RegenerateFailures", func(t *testing.T) { testRegenerateFailures(t, nf) })
	})
}

// spillRig is a Manager over a Spill on the memory backend, with a clock
// the test moves, and a handler that runs the op a request names.
type spillRig struct {
	t       *testing.T
	mu      sync.Mutex
	now     time.Time
	spill   *cookiestore.Spill
	server  *serverstore.Store
	backend serverstore.Backend
	h       http.Handler
	hold    chan struct{} // op=hold blocks on it after its load
	loaded  chan struct{} // op=hold signals it after its load
}

func newSpillRig(t *testing.T, backend serverstore.Backend, opts ...cookiestore.SpillOption) *spillRig {
	t.Helper()
	r := &spillRig{t: t, now: time.Now().Truncate(time.Second), hold: make(chan struct{}), loaded: make(chan struct{}, 8)}
	r.backend = backend
	var err error
	if r.server, err = serverstore.New(r.backend, secrets); err != nil {
		t.Fatal(err)
	}
	cookie, err := cookiestore.New(secrets)
	if err != nil {
		t.Fatal(err)
	}
	if r.spill, err = cookiestore.NewSpill(cookie, r.server, opts...); err != nil {
		t.Fatal(err)
	}
	m, err := session.New(r.spill, session.WithCookieName("sid"), session.WithClock(r.clock),
		session.WithLogger(testLogger(t)))
	if err != nil {
		t.Fatal(err)
	}
	r.h = m.Handler(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		s := session.From(req)
		q := req.URL.Query()
		switch q.Get("op") {
		case "set":
			n, _ := strconv.Atoi(q.Get("n"))
			s.Set(q.Get("k"), noise(n)) // incompressible: n bytes sealed
		case "del":
			s.Delete(q.Get("k"))
		case "hold": // load, wait, then set
			s.Len()
			r.loaded <- struct{}{}
			<-r.hold
			s.Set(q.Get("k"), "late")
		case "holdregen": // load, wait, then delete k and regenerate
			s.Len()
			r.loaded <- struct{}{}
			<-r.hold
			s.Delete(q.Get("k"))
			s.Regenerate(true)
		case "setregen": // a sign-in: set k, regenerate
			n, _ := strconv.Atoi(q.Get("n"))
			s.Set(q.Get("k"), noise(n))
			s.Regenerate(true)
		case "twice": // set k, commit (Save), then set k2: two commits
			n, _ := strconv.Atoi(q.Get("n"))
			s.Set(q.Get("k"), noise(n))
			if err := s.Save(); err != nil {
				http.Error(w, err.Error(), 500)
				return
			}
			s.Set(q.Get("k2"), noise(n))
		case "clearset":
			n, _ := strconv.Atoi(q.Get("n"))
			s.Clear()
			s.Set(q.Get("k"), noise(n))
		case "life": // SetLifetime(3h), then delete k
			s.SetLifetime(3 * time.Hour)
			if k := q.Get("k"); k != "" {
				s.Delete(k)
			}
			if q.Get("browser") != "" {
				s.SetBrowserSession(true)
			}
			fmt.Fprintf(w, "expires-in=%v ", s.Deadline().Sub(r.clock()).Round(time.Minute))
		case "destroy":
			s.Destroy()
		case "regenerate":
			s.Regenerate(true)
		case "deadline":
			fmt.Fprintf(w, "expires-in=%v ", s.Deadline().Sub(r.clock()).Round(time.Minute))
		}
		keys := s.Keys()
		slices.Sort(keys)
		for _, k := range keys {
			v, _ := s.Get(k).(string)
			fmt.Fprintf(w, "%s=%d ", k, len(v))
		}
	}))
	return r
}

// noise is n bytes that do not compress.
func noise(n int) string {
	rng := rand.New(rand.NewPCG(uint64(n), 7))
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	b := make([]byte, n)
	for i := range b {
		b[i] = alphabet[rng.IntN(len(alphabet))]
	}
	return string(b)
}

func (r *spillRig) clock() time.Time { r.mu.Lock(); defer r.mu.Unlock(); return r.now }
func (r *spillRig) advance(d time.Duration) {
	r.mu.Lock()
	r.now = r.now.Add(d)
	r.mu.Unlock()
}

// A jar is the cookies a browser holds, by name.
type jar map[string]string

func (j jar) header() string {
	var parts []string
	for _, k := range slices.Sorted(func(yield func(string) bool) {
		for k := range j {
			if !yield(k) {
				return
			}
		}
	}) {
		parts = append(parts, k+"="+j[k])
	}
	return strings.Join(parts, "; ")
}

func (j jar) clone() jar {
	out := jar{}
	for k, v := range j {
		out[k] = v
	}
	return out
}

// do sends a request with the jar's cookies, applies the response's to it,
// and returns the body and whether the response set or expired a cookie.
func (r *spillRig) do(j jar, query string) (body string, touched bool) {
	r.t.Helper()
	body, touched, err := r.send(j, query)
	if err != nil {
		r.t.Fatal(err)
	}
	return body, touched
}

// send is do for another goroutine than the test's: it returns the error.
func (r *spillRig) send(j jar, query string) (body string, touched bool, err error) {
	req := httptest.NewRequest("GET", "/?"+query, nil)
	if h := j.header(); h != "" {
		req.Header.Set("Cookie", h)
	}
	w := httptest.NewRecorder()
	r.h.ServeHTTP(w, req)
	if w.Code != http.StatusOK {
		return "", false, fmt.Errorf("%s: status %d: %s", query, w.Code, w.Body)
	}
	for _, c := range w.Result().Cookies() {
		touched = true
		if c.MaxAge < 0 {
			delete(j, c.Name)
		} else {
			j[c.Name] = c.Value
		}
	}
	return w.Body.String(), touched, nil
}

// form says where the session of j lives: "cookie" (sealed, no record),
// "server" (a signed ID), "returning" (sealed, its record marked), and its
// ID.
func (r *spillRig) form(j jar) (form, id string) {
	r.t.Helper()
	tok := j["sid"]
	if rec, err := r.server.Load(context.Background(), "sid", tok, r.clock()); err == nil || errors.Is(err, driver.ErrMoved) {
		return "server", rec.ID
	}
	if _, ok := j["sid.1"]; ok {
		r.t.Fatalf("the browser holds chunk cookies: %v", j)
	}
	c, err := cookiestore.New(secrets)
	if err != nil {
		r.t.Fatal(err)
	}
	rec, err := c.Load(context.Background(), "sid", tok, r.clock())
	if err != nil {
		r.t.Fatalf("the browser's cookie is neither form: %v", err)
	}
	e, err := r.backend.Get(context.Background(), r.server.Key(rec.ID))
	switch {
	case errors.Is(err, serverstore.ErrNotFound), errors.Is(err, serverstore.ErrMoved):
		return "cookie", rec.ID
	case err != nil:
		r.t.Fatal(err)
	}
	if _, ok := e.Values["\x00crumbs.returning"]; ok {
		return "returning", rec.ID
	}
	r.t.Fatalf("a sealed cookie whose record is live and not returning: %q", e.Values)
	return "", ""
}

func (r *spillRig) wantForm(j jar, want string) string {
	r.t.Helper()
	got, id := r.form(j)
	if got != want {
		r.t.Fatalf("the session is in the %s form, want %s", got, want)
	}
	return id
}

// recordState is what the backend holds under id: "none", "live",
// "tombstone:SUCCESSOR".
func (r *spillRig) recordState(id string) string {
	r.t.Helper()
	e, err := r.backend.Get(context.Background(), r.server.Key(id))
	switch {
	case errors.Is(err, serverstore.ErrNotFound):
		return "none"
	case errors.Is(err, serverstore.ErrMoved):
		return "tombstone:" + e.Successor
	case err != nil:
		r.t.Fatal(err)
	}
	return "live"
}

// overlap sends held (an op that loads, then waits) with a copy of j's
// cookies; runs between while it waits; then lets it finish, and returns
// the copy, with its response's cookies, and whether that response set or
// expired one.
func (r *spillRig) overlap(j jar, held string, between func()) (after jar, touched bool) {
	r.t.Helper()
	after = j.clone()
	errc := make(chan error, 1)
	go func() {
		var err error
		_, touched, err = r.send(after, held)
		errc <- err
	}()
	<-r.loaded
	between()
	r.hold <- struct{}{}
	if err := <-errc; err != nil {
		r.t.Fatal(err)
	}
	return after, touched
}

// spillGrowAndShrink: a session moves to the server when it outgrows
// the spill mark and back when it shrinks under the return mark, and the
// record ends after the grace; the values and deadlines are the same
// whatever the form.
func spillGrowAndShrink(t *testing.T, newBackend func(t *testing.T) serverstore.Backend) {
	r := newSpillRig(t, newBackend(t))
	j := jar{}
	if body, _ := r.do(j, "op=set&k=a&n=100"); body != "a=100 " {
		t.Fatalf("body %q", body)
	}
	id := r.wantForm(j, "cookie")
	if s := r.recordState(id); s != "none" {
		t.Fatalf("a cookie-form session has a record: %s", s)
	}
	// Past the mark (3800 bytes sealed, by default), it moves out.
	if body, _ := r.do(j, "op=set&k=b&n=6000"); body != "a=100 b=6000 " {
		t.Fatalf("body %q", body)
	}
	if got := r.wantForm(j, "server"); got != id {
		t.Fatalf("the ID changed on the move: %s, want %s", got, id)
	}
	old := j.clone()
	if body, _ := r.do(j, ""); body != "a=100 b=6000 " {
		t.Fatalf("after the move: %q", body)
	}
	// A little smaller, above the return mark: it stays.
	r.do(j, "op=set&k=b&n=3000")
	r.wantForm(j, "server")
	// Under the return mark (1900), it comes back, marked.
	if body, _ := r.do(j, "op=del&k=b"); body != "a=100 " {
		t.Fatalf("body %q", body)
	}
	r.wantForm(j, "returning")
	if body, _ := r.do(j, "op=set&k=c&n=10"); body != "a=100 c=10 " {
		t.Fatalf("body %q", body)
	}
	r.wantForm(j, "returning")
	// After the grace, the next save ends the record.
	r.advance(cookiestore.ReturnGrace + time.Second)
	if body, _ := r.do(j, "op=set&k=d&n=10"); body != "a=100 c=10 d=10 " {
		t.Fatalf("body %q", body)
	}
	r.wantForm(j, "cookie")
	if s := r.recordState(id); s != "tombstone:crumbs-cookie" {
		t.Fatalf("after the grace the record is %s, want its tombstone", s)
	}
	// The ID cookie from before the return names a retired ID: a fresh
	// session, and the browser's cookie is left alone.
	if body, touched := r.do(old, "op=set&k=z&n=1"); body != "z=1 " || touched {
		t.Fatalf("the old ID cookie read %q and touched its cookie: %v", body, touched)
	}
	if body, _ := r.do(j, ""); body != "a=100 c=10 d=10 " {
		t.Fatalf("after the old ID's request: %q", body)
	}
	// It grows again past the mark: out again, under the same ID.
	r.do(j, "op=set&k=b&n=6000")
	if got := r.wantForm(j, "server"); got != id {
		t.Fatalf("the ID changed on the second move: %s", got)
	}
	if body, _ := r.do(j, ""); body != "a=100 b=6000 c=10 d=10 " {
		t.Fatalf("after the second move: %q", body)
	}
}

// spillStaleCookieAfterMoveOut: a request that read the cookie form
// and saves after a parallel request moved the session out changes the
// record; it does not write its cookie over the ID.
func spillStaleCookieAfterMoveOut(t *testing.T, newBackend func(t *testing.T) serverstore.Backend) {
	r := newSpillRig(t, newBackend(t))
	j := jar{}
	r.do(j, "op=set&k=a&n=10")
	r.wantForm(j, "cookie")
	r.overlap(j, "op=hold&k=x", func() { // it read the cookie form
		r.do(j, "op=set&k=b&n=6000")
		r.wantForm(j, "server")
	})
	if body, _ := r.do(j, ""); body != "a=10 b=6000 x=4 " {
		t.Fatalf("after a stale cookie-form save: %q", body)
	}
}

// spillLateWriterAfterReturn: a request that read the server form and
// saves after a parallel request moved the session back into the cookie
// loses nothing: the cookie form reads it during the grace, and keeps it
// after.
func spillLateWriterAfterReturn(t *testing.T, newBackend func(t *testing.T) serverstore.Backend) {
	r := newSpillRig(t, newBackend(t))
	j := jar{}
	r.do(j, "op=set&k=a&n=10")
	r.do(j, "op=set&k=b&n=6000")
	r.wantForm(j, "server")
	r.overlap(j, "op=hold&k=x", func() { // it read the server form
		r.do(j, "op=del&k=b")
		r.wantForm(j, "returning")
	})
	if body, _ := r.do(j, ""); body != "a=10 x=4 " {
		t.Fatalf("within the grace, the cookie form reads %q", body)
	}
	r.advance(cookiestore.ReturnGrace + time.Second)
	r.do(j, "op=set&k=c&n=1")
	r.wantForm(j, "cookie")
	if body, _ := r.do(j, ""); body != "a=10 c=1 x=4 " {
		t.Fatalf("after the grace: %q", body)
	}
}

// spillDestroyInCookieForm: a request that read the cookie form and
// saves after a Destroy is refused, and brings nothing back.
func spillDestroyInCookieForm(t *testing.T, newBackend func(t *testing.T) serverstore.Backend) {
	r := newSpillRig(t, newBackend(t))
	j := jar{}
	r.do(j, "op=set&k=a&n=10")
	id := r.wantForm(j, "cookie")
	old := j.clone()
	r.do(j, "op=destroy")
	if _, ok := j["sid"]; ok {
		t.Fatal("the Destroy left the cookie")
	}
	if s := r.recordState(id); s != "tombstone:crumbs-ended" {
		t.Fatalf("after a Destroy in the cookie form the record is %s", s)
	}
	r.do(old, "op=set&k=b&n=10")
	if _, ok := old["sid"]; ok {
		t.Fatal("a save through a copy of the destroyed cookie kept a cookie")
	}
	if s := r.recordState(id); s != "tombstone:crumbs-ended" {
		t.Fatalf("after the late save the record is %s", s)
	}
}

// spillRegenerate: a Regenerate works in either form, and a request
// that still carries the old cookie and saves is refused, leaving the new
// one alone.
func spillRegenerate(t *testing.T, newBackend func(t *testing.T) serverstore.Backend) {
	for _, size := range []int{10, 6000} {
		t.Run(strconv.Itoa(size), func(t *testing.T) {
			r := newSpillRig(t, newBackend(t))
			j := jar{}
			r.do(j, "op=set&k=a&n="+strconv.Itoa(size))
			_, id := r.form(j)
			old := j.clone()
			r.do(j, "op=regenerate")
			_, next := r.form(j)
			if next == id {
				t.Fatal("the ID did not change")
			}
			want := fmt.Sprintf("a=%d ", size)
			if body, _ := r.do(j, ""); body != want {
				t.Fatalf("after the Regenerate: %q", body)
			}
			if _, touched := r.do(old, "op=set&k=z&n=1"); touched {
				t.Fatal("a save through the old cookie touched the cookie")
			}
			if body, _ := r.do(j, ""); body != want {
				t.Fatalf("after the old cookie's save: %q", body)
			}
		})
	}
}

// spillLogoutThroughOldCookie: a Destroy through the cookie from
// before a Regenerate (a logout that raced the login) ends the session
// the login moved to, in either form: its next save is refused.
func spillLogoutThroughOldCookie(t *testing.T, newBackend func(t *testing.T) serverstore.Backend) {
	for _, size := range []int{10, 6000} {
		t.Run(strconv.Itoa(size), func(t *testing.T) {
			r := newSpillRig(t, newBackend(t))
			j := jar{}
			r.do(j, "op=set&k=a&n="+strconv.Itoa(size))
			old := j.clone()
			r.do(j, "op=regenerate")
			_, next := r.form(j)
			r.do(old, "op=destroy")
			if s := r.recordState(next); s != "tombstone:crumbs-ended" {
				t.Fatalf("the session the login moved to is %s after the logout", s)
			}
			// Its next save is refused (a cookie-form session reads what its
			// cookie holds until then, as in cookie mode), or it loads as
			// gone: the values never come back.
			r.do(j, "op=set&k=b&n=1")
			if body, _ := r.do(j, ""); strings.Contains(body, "a=") {
				t.Fatalf("after the logout, the login's session reads %q", body)
			}
		})
	}
}

// faulty wraps a backend for the spill-over scenarios: Retire fails while
// failRetire > 0 (after skipRetire calls), and beforeCreate runs once
// before the next Create.
type faulty struct {
	serverstore.Backend
	failRetire, skipRetire atomic.Int32
	mu                     sync.Mutex
	beforeCreate           func()
	beforeRetire           func()
	beforeApply            func()
}

func (f *faulty) Retire(ctx context.Context, key, successor string, until time.Time) (*serverstore.Entry, error) {
	f.mu.Lock()
	hook := f.beforeRetire
	f.beforeRetire = nil
	f.mu.Unlock()
	if hook != nil {
		hook()
	}
	if f.failRetire.Load() > 0 && f.skipRetire.Add(-1) < 0 && f.failRetire.Add(-1) >= 0 {
		return nil, errors.New("injected: retire failed")
	}
	return f.Backend.Retire(ctx, key, successor, until)
}

func (f *faulty) Apply(ctx context.Context, key string, w *serverstore.Write) ([]byte, error) {
	f.mu.Lock()
	hook := f.beforeApply
	f.beforeApply = nil
	f.mu.Unlock()
	if hook != nil {
		hook()
	}
	return f.Backend.Apply(ctx, key, w)
}

func (f *faulty) Create(ctx context.Context, key string, e *serverstore.Entry, expires time.Time) error {
	f.mu.Lock()
	hook := f.beforeCreate
	f.beforeCreate = nil
	f.mu.Unlock()
	if hook != nil {
		hook()
	}
	return f.Backend.Create(ctx, key, e, expires)
}

// spillRegenerateMerges: a Regenerate whose old record took a parallel
// write keeps it, in either form of the new session (an outside review:
// the merged rewrite's token was dropped, and a cookie-form session lost
// the write).
func spillRegenerateMerges(t *testing.T, newBackend func(t *testing.T) serverstore.Backend) {
	for _, at := range []int{cookiestore.DefaultSpillAt, 0} {
		t.Run(strconv.Itoa(at), func(t *testing.T) {
			r := newSpillRig(t, newBackend(t), cookiestore.WithSpillAt(at))
			j := jar{}
			r.do(j, "op=set&k=a&n=10")
			r.do(j, "op=set&k=b&n=6000")
			held, _ := r.overlap(j, "op=holdregen&k=b", func() {
				r.do(j.clone(), "op=set&k=x&n=10") // a parallel write to the old record
			})
			if body, _ := r.do(held, ""); body != "a=10 x=10 " {
				t.Fatalf("after the Regenerate the session reads %q, want the parallel write too", body)
			}
		})
	}
}

// spillLateIDWriterAfterRetire: a request that read the server form,
// still in flight after the return's grace and the save that ended the
// record, is refused: it neither brings back what it read nor touches the
// cookie (an outside review: it wrote its old view back).
func spillLateIDWriterAfterRetire(t *testing.T, newBackend func(t *testing.T) serverstore.Backend) {
	r := newSpillRig(t, newBackend(t))
	j := jar{}
	r.do(j, "op=set&k=a&n=10")
	r.do(j, "op=set&k=b&n=6000")
	id := r.wantForm(j, "server")
	_, touched := r.overlap(j, "op=hold&k=x", func() { // it read the server form: a, b
		r.do(j, "op=del&k=b")
		r.advance(cookiestore.ReturnGrace + time.Second)
		r.do(j, "op=set&k=c&n=10")
		r.wantForm(j, "cookie")
	})
	if touched {
		t.Error("the late save through the old ID set or expired the cookie")
	}
	if s := r.recordState(id); s != "tombstone:crumbs-cookie" {
		t.Errorf("after the late save the record is %s", s)
	}
	if body, _ := r.do(j, ""); body != "a=10 c=10 " {
		t.Errorf("the session reads %q", body)
	}
}

// spillFailedDestroyKeeps: a Destroy in the cookie form whose tombstone
// write fails half way answers with an error, and leaves the session as
// it was: its values and deadline (an outside review: the blank record it
// left wiped them on the next save).
func spillFailedDestroyKeeps(t *testing.T, newBackend func(t *testing.T) serverstore.Backend) {
	f := &faulty{Backend: newBackend(t)}
	r := newSpillRig(t, f)
	j := jar{}
	r.do(j, "op=set&k=a&n=10")
	r.wantForm(j, "cookie")
	before, _ := r.do(j, "op=deadline")
	f.skipRetire.Store(1) // the first, on the absent key, answers ErrNotFound
	f.failRetire.Store(1)
	if _, _, err := r.send(j.clone(), "op=destroy"); err == nil {
		t.Fatal("the destroy did not fail")
	}
	r.do(j, "op=set&k=c&n=10")
	if body, _ := r.do(j, "op=deadline"); body != strings.TrimSuffix(before, " ")+" c=10 " {
		t.Fatalf("after a failed destroy and a save the session reads %q; before, %q", body, before)
	}
	// A big change moves it out over the blank record.
	r.do(j, "op=set&k=d&n=6000")
	r.wantForm(j, "server")
	if body, _ := r.do(j, ""); body != "a=10 c=10 d=6000 " {
		t.Fatalf("after the move out the session reads %q", body)
	}
}

// spillFailedLoginRetried: a sign-in (a Set and a Regenerate) in the
// cookie form whose retirement fails answers with an error; tried again,
// it keeps every value (an outside review: the retry merged onto the
// blank record, and lost them).
func spillFailedLoginRetried(t *testing.T, newBackend func(t *testing.T) serverstore.Backend) {
	f := &faulty{Backend: newBackend(t)}
	r := newSpillRig(t, f)
	j := jar{}
	r.do(j, "op=set&k=a&n=10")
	r.wantForm(j, "cookie")
	f.failRetire.Store(1)
	if _, _, err := r.send(j.clone(), "op=setregen&k=b&n=6000"); err == nil {
		t.Fatal("the first attempt did not fail")
	}
	r.do(j, "op=setregen&k=b&n=6000")
	if body, _ := r.do(j, ""); body != "a=10 b=6000 " {
		t.Fatalf("the retried sign-in reads %q", body)
	}
}

// spillDestroyDuringMoveOut: a session that returned to its cookie and
// grows again moves out over its return's tombstone, and only over it: a
// Destroy from another tab just before stands (an outside review: the
// move out deleted the key unconditionally, and undid the Destroy).
func spillDestroyDuringMoveOut(t *testing.T, newBackend func(t *testing.T) serverstore.Backend) {
	f := &faulty{Backend: newBackend(t)}
	r := newSpillRig(t, f)
	j := jar{}
	r.do(j, "op=set&k=a&n=10")
	r.do(j, "op=set&k=b&n=6000")
	id := r.wantForm(j, "server")
	r.do(j, "op=del&k=b")
	r.advance(cookiestore.ReturnGrace + time.Second)
	r.do(j, "op=set&k=c&n=10")
	if s := r.recordState(id); s != "tombstone:crumbs-cookie" {
		t.Fatalf("the record is %s", s)
	}
	other := j.clone()
	f.mu.Lock()
	f.beforeCreate = func() { r.do(other, "op=destroy") } // a logout in another tab, in the window
	f.mu.Unlock()
	r.do(j, "op=set&k=d&n=6000")
	if s := r.recordState(id); s != "tombstone:crumbs-ended" {
		t.Fatalf("the destroy was undone: the record is %s", s)
	}
	if body, _ := r.do(j, ""); strings.Contains(body, "a=") {
		t.Fatalf("after the logout the session reads %q", body)
	}
}

// spillMalformedTokens: a cookie that is neither form, or a cut or
// lengthened one of either, gives a fresh session, never an error.
func spillMalformedTokens(t *testing.T, newBackend func(t *testing.T) serverstore.Backend) {
	r := newSpillRig(t, newBackend(t))
	j := jar{}
	r.do(j, "op=set&k=a&n=10")
	small := j["sid"]
	r.do(j, "op=set&k=b&n=6000")
	big := j["sid"]
	for _, tok := range []string{"x", strings.Repeat("A", 1074), strings.Repeat("A", 1075), strings.Repeat("A", 5000),
		small[:len(small)-1], small + "A", big[:len(big)-1], big + "A", big + small} {
		if body, _, err := r.send(jar{"sid": tok}, "op=set&k=z&n=1"); err != nil || body != "z=1 " {
			t.Errorf("token %.20q…: %q, %v", tok, body, err)
		}
	}
}

// spillSecondCommit: the first save after the grace merges the record's
// late write (x) into the cookie; a second commit of the same request
// must not drop it again.
func spillSecondCommit(t *testing.T, newBackend func(t *testing.T) serverstore.Backend) {
	r := newSpillRig(t, newBackend(t))
	j := jar{}
	r.do(j, "op=set&k=a&n=10")
	r.do(j, "op=set&k=b&n=6000")
	r.wantForm(j, "server")
	r.overlap(j, "op=hold&k=x", func() {
		r.do(j, "op=del&k=b")
		r.wantForm(j, "returning")
	})
	r.advance(cookiestore.ReturnGrace + time.Second)
	r.do(j, "op=twice&k=c&k2=d&n=1")
	r.wantForm(j, "cookie")
	if body, _ := r.do(j, ""); body != "a=10 c=1 d=1 x=4 " {
		t.Fatalf("after two commits past the grace the session reads %q, want the late write x too", body)
	}
}

// spillRetireGrown: the return's last save retires a record that a
// parallel write grew past the spill mark after the save's read-back:
// the session must stay on the server (or not lose the write), not go
// out as an oversized cookie.
func spillRetireGrown(t *testing.T, newBackend func(t *testing.T) serverstore.Backend) {
	f := &faulty{Backend: newBackend(t)}
	r := newSpillRig(t, f)
	j := jar{}
	r.do(j, "op=set&k=a&n=10")
	r.do(j, "op=set&k=b&n=6000")
	id := r.wantForm(j, "server")
	old := j.clone()
	r.do(j, "op=del&k=b")
	r.wantForm(j, "returning")
	r.advance(cookiestore.ReturnGrace + time.Second)
	f.mu.Lock()
	f.beforeRetire = func() { r.do(old, "op=set&k=y&n=6000") } // a parallel write through the ID
	f.mu.Unlock()
	body, _, err := r.send(j, "op=set&k=c&n=1")
	t.Logf("save: %q %v; record %s; cookies %d", body, err, r.recordState(id), len(j))
	for k, v := range j {
		t.Logf("cookie %s: %d bytes", k, len(v))
	}
	if body, _, err := r.send(j, ""); err != nil || body != "a=10 c=1 y=6000 " {
		t.Fatalf("the session reads %q (%v), want the parallel write too", body, err)
	}
	r.wantForm(j, "server")
}

// spillBlankRace: two requests move a session out at once over the
// blank record a failed Destroy left: the one whose conversion comes
// second must land in the record, as over no record (ErrExists, then
// the record), not be dropped as moved.
func spillBlankRace(t *testing.T, newBackend func(t *testing.T) serverstore.Backend) {
	f := &faulty{Backend: newBackend(t)}
	r := newSpillRig(t, f)
	j := jar{}
	r.do(j, "op=set&k=a&n=10")
	f.skipRetire.Store(1)
	f.failRetire.Store(1)
	if _, _, err := r.send(j.clone(), "op=destroy"); err == nil {
		t.Fatal("the destroy did not fail")
	}
	other := j.clone()
	f.mu.Lock()
	f.beforeApply = func() { r.do(other, "op=set&k=e&n=5000") }
	f.mu.Unlock()
	body, touched := r.do(j, "op=set&k=d&n=6000")
	t.Logf("A's response: %q touched=%v", body, touched)
	if body, _ := r.do(other, ""); body != "a=10 d=6000 e=5000 " {
		t.Fatalf("the session reads %q: a parallel move out was dropped", body)
	}
}

// spillClearWhileReturning: a Clear in the cookie form during the grace
// must not drop the record's returning mark (the record would outlive the
// return, and the cookie form flip back to the ID).
func spillClearWhileReturning(t *testing.T, newBackend func(t *testing.T) serverstore.Backend) {
	r := newSpillRig(t, newBackend(t))
	j := jar{}
	r.do(j, "op=set&k=a&n=10")
	r.do(j, "op=set&k=b&n=6000")
	id := r.wantForm(j, "server")
	r.do(j, "op=del&k=b")
	r.wantForm(j, "returning")
	r.do(j, "op=clearset&k=c&n=2500") // between the marks: 2500 bytes seal over R (1900), under S
	e, _ := r.backend.Get(context.Background(), r.server.Key(id))
	if _, ok := e.Values["\x00crumbs.returning"]; !ok {
		t.Errorf("the Clear dropped the returning mark: %q", slices.Collect(func(y func(string) bool) {
			for k := range e.Values {
				if !y(k) {
					return
				}
			}
		}))
	}
	r.advance(cookiestore.ReturnGrace + time.Second)
	r.do(j, "op=set&k=d&n=1")
	if f, _ := r.form(j); f != "cookie" {
		t.Fatalf("after the grace the session is in the %s form, want cookie; record %s", f, r.recordState(id))
	}
}

// spillLateIDWriterEvicted: the record of a returning session is evicted
// (memory's bound, Redis's maxmemory); a request that read the server form
// before the return then saves. The browser holds the live cookie form:
// the late response must leave it alone.
func spillLateIDWriterEvicted(t *testing.T, newBackend func(t *testing.T) serverstore.Backend) {
	r := newSpillRig(t, newBackend(t))
	j := jar{}
	r.do(j, "op=set&k=a&n=10")
	r.do(j, "op=set&k=b&n=6000")
	id := r.wantForm(j, "server")
	after, touched := r.overlap(j, "op=hold&k=x", func() {
		r.do(j, "op=del&k=b")
		r.wantForm(j, "returning")
		r.backend.Delete(context.Background(), r.server.Key(id)) // evicted
	})
	if _, ok := after["sid"]; touched && !ok {
		t.Fatalf("the late ID-form response expired the browser's cookie (its session is live in the cookie form: %q)", func() string { b, _ := r.do(j, ""); return b }())
	}
}

// spillParallelLastSave: two cookie-form requests after the grace; one
// ends the record between the other's read and write. The other read the
// cookie form: as in cookie mode its cookie (or the record) keeps its
// write; it must not be dropped as moved.
func spillParallelLastSave(t *testing.T, newBackend func(t *testing.T) serverstore.Backend) {
	f := &faulty{Backend: newBackend(t)}
	r := newSpillRig(t, f)
	j := jar{}
	r.do(j, "op=set&k=a&n=10")
	r.do(j, "op=set&k=b&n=6000")
	r.do(j, "op=del&k=b")
	r.wantForm(j, "returning")
	r.advance(cookiestore.ReturnGrace + time.Second)
	j1 := j.clone()
	f.mu.Lock()
	f.beforeApply = func() { r.do(j1, "op=set&k=q1&n=1") }
	f.mu.Unlock()
	body, touched := r.do(j, "op=set&k=q2&n=1")
	t.Logf("Q2: %q touched=%v; Q1's cookie reads %q", body, touched, func() string { b, _ := r.do(j1.clone(), ""); return b }())
	if !touched {
		t.Fatalf("Q2, a cookie-form save, was dropped as moved: its write is in no cookie and no record")
	}
}

// spillShortID: cookie-v1.md §10 allows IDs of 1 to 64 characters in
// sealed data (a cookie-mode session, another implementation's); the
// spill-over store opens it, then fails every save.
func spillShortID(t *testing.T, newBackend func(t *testing.T) serverstore.Backend) {
	r := newSpillRig(t, newBackend(t))
	c, _ := cookiestore.New(secrets)
	tok, err := c.Save(context.Background(), "sid", &driver.Commit{Op: driver.OpCreate, Record: driver.Record{ID: "shortid", Expires: r.clock().Add(time.Hour), Data: []byte(`{"a":"x"}`)}}, r.clock())
	if err != nil {
		t.Fatal(err)
	}
	// A fresh session, not one whose every save fails.
	j := jar{"sid": tok}
	if body, _ := r.do(j.clone(), ""); body != "" {
		t.Fatalf("load: %q, want a fresh session", body)
	}
	if body, _, err := r.send(j, "op=set&k=b&n=1"); err != nil || body != "b=1 " {
		t.Fatalf("a save: %q %v", body, err)
	}
}

func spillLifetimeOnReturn(t *testing.T, newBackend func(t *testing.T) serverstore.Backend) {
	for _, how := range []string{"op=life&k=b", "op=life&k=b&browser=1"} {
		r := newSpillRig(t, newBackend(t))
		j := jar{}
		r.do(j, "op=set&k=a&n=10")
		r.do(j, "op=set&k=b&n=6000")
		r.wantForm(j, "server")
		b0, _ := r.do(j, "op=deadline")
		b1, _ := r.do(j, how)
		r.wantForm(j, "returning")
		b2, _ := r.do(j, "op=deadline")
		r.advance(cookiestore.ReturnGrace + time.Second)
		r.do(j, "op=set&k=c&n=1")
		r.wantForm(j, "cookie")
		b3, _ := r.do(j, "op=deadline")
		// The commit set 3 h; within the grace and after it, the session
		// keeps it (within the minute the clock moved).
		if !strings.HasPrefix(b1, "expires-in=3h0m0s") || !strings.HasPrefix(b2, "expires-in=3h0m0s") || !strings.HasPrefix(b3, "expires-in=2h59m0s") || b0 == b1 {
			t.Errorf("%s: before %q; the commit %q; within the grace %q; after %q", how, b0, b1, b2, b3)
		}
	}
}

// spillParallelRetire: two cookie-form requests after the grace both
// write the record and read it back; the other's retirement comes first.
// This one read the cookie form: as in cookie mode it must go on (its
// cookie, or its second commit), not be dropped as moved.
func spillParallelRetire(t *testing.T, newBackend func(t *testing.T) serverstore.Backend) {
	f := &faulty{Backend: newBackend(t)}
	r := newSpillRig(t, f)
	j := jar{}
	r.do(j, "op=set&k=a&n=10")
	r.do(j, "op=set&k=b&n=6000")
	r.do(j, "op=del&k=b")
	r.wantForm(j, "returning")
	r.advance(cookiestore.ReturnGrace + time.Second)
	j1 := j.clone()
	f.mu.Lock()
	f.beforeRetire = func() { r.do(j1, "op=set&k=q1&n=1") } // B: write, read back, retire: first
	f.mu.Unlock()
	body, touched := r.do(j, "op=twice&k=c&k2=d&n=1") // A: its retire meets B's tombstone
	t.Logf("A: %q touched=%v; B's cookie reads %q", body, touched, func() string { b, _ := r.do(j1.clone(), ""); return b }())
	browser := j1
	if touched {
		browser = j
	}
	if b, _ := r.do(browser.clone(), ""); !strings.Contains(b, "d=1") {
		t.Fatalf("A's second commit (d) is in no cookie: the browser reads %q", b)
	}
}

// spillRecreateMeetsMoveOut: the return's last save retires a record a
// parallel ID write grew; before it creates the record again, a parallel
// cookie-form request moves the session out over the return's tombstone.
func spillRecreateMeetsMoveOut(t *testing.T, newBackend func(t *testing.T) serverstore.Backend) {
	f := &faulty{Backend: newBackend(t)}
	r := newSpillRig(t, f)
	j := jar{}
	r.do(j, "op=set&k=a&n=10")
	r.do(j, "op=set&k=b&n=6000")
	old := j.clone()
	r.do(j, "op=del&k=b")
	r.wantForm(j, "returning")
	r.advance(cookiestore.ReturnGrace + time.Second)
	other := j.clone()
	f.mu.Lock()
	f.beforeRetire = func() {
		r.do(old, "op=set&k=y&n=6000") // grows the record through the ID
		f.mu.Lock()
		f.beforeCreate = func() { r.do(other, "op=set&k=z&n=6000") } // moves out over the tombstone
		f.mu.Unlock()
	}
	f.mu.Unlock()
	body, _, err := r.send(j, "op=set&k=c&n=1")
	after, _ := r.do(other.clone(), "")
	t.Logf("the browser (the move out's cookie) reads %q", after)
	if err != nil {
		t.Fatalf("the return's last save: %q %v", body, err)
	}
}

// creates counts a backend's Creates: the records and tombstones a
// scenario writes.
type creates struct {
	serverstore.Backend
	n atomic.Int32
}

func (c *creates) Create(ctx context.Context, key string, e *serverstore.Entry, expires time.Time) error {
	c.n.Add(1)
	return c.Backend.Create(ctx, key, e, expires)
}

// spillRefusedRegenerate: a copy of a cookie-form cookie from before a
// Regenerate, sent to an endpoint that regenerates, is refused, and leaves
// nothing on the server: no record, no tombstone (an outside review: each
// such request left a tombstone for ten minutes).
func spillRefusedRegenerate(t *testing.T, newBackend func(t *testing.T) serverstore.Backend) {
	c := &creates{Backend: newBackend(t)}
	r := newSpillRig(t, c)
	k := jar{}
	r.do(k, "op=set&k=a&n=10")
	stale := k.clone()
	r.do(k, "op=regenerate")
	c.n.Store(0)
	for range 3 {
		if _, touched := r.do(stale.clone(), "op=regenerate"); touched {
			t.Fatal("a refused Regenerate set or expired the cookie")
		}
	}
	if n := c.n.Load(); n != 0 {
		t.Fatalf("three refused Regenerates wrote %d records or tombstones", n)
	}
	if body, _ := r.do(k, ""); body != "a=10 " {
		t.Fatalf("the session reads %q", body)
	}
}
