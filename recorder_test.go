package session_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/crumbs-go/session"
	"github.com/crumbs-go/session/cookiestore"
	"github.com/crumbs-go/session/metrics"
	"github.com/crumbs-go/session/serverstore"
)

// events records what a Manager reports, as "kind:detail" lines.
type events struct {
	mu   sync.Mutex
	list []string
	cmt  []metrics.Sizes
}

func (e *events) add(line string) { e.mu.Lock(); e.list = append(e.list, line); e.mu.Unlock() }

func (e *events) Load(_ context.Context, o metrics.Outcome, r metrics.Reason) {
	e.add(fmt.Sprintf("load:%s:%s", o, r))
}

func (e *events) Commit(_ context.Context, op metrics.Op, s metrics.Sizes) {
	e.mu.Lock()
	e.cmt = append(e.cmt, s)
	e.mu.Unlock()
	e.add("commit:" + string(op))
}

func (e *events) Conflict(_ context.Context, retries int, ok bool) {
	e.add(fmt.Sprintf("conflict:%t", ok && retries > 0))
}

func (e *events) Backend(_ context.Context, op metrics.BackendOp, d time.Duration, err error) {
	if d < 0 {
		e.add("backend:negative")
	}
	e.add(fmt.Sprintf("backend:%s:%t", op, err == nil))
}

// take returns the lines recorded since the last take.
func (e *events) take() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	l := e.list
	e.list = nil
	return l
}

// TestMetrics: each request's load outcome and refusal reason, each
// commit's operation and sizes, and in server mode each store call, as
// the Recorder hears them, in cookie and server mode.
func TestMetrics(t *testing.T) {
	t.Parallel()
	ev := map[string]*events{"cookie": {}, "memory": {}}
	hs := map[string]*harness{}
	for mode := range ev {
		hs[mode] = modes(t, session.WithMetrics(ev[mode]), session.WithIdleTimeout(time.Hour))[mode]
	}
	for mode, h := range hs {
		e := ev[mode]
		server := mode == "memory"
		step := func(name string, f http.HandlerFunc, want ...string) {
			t.Helper()
			h.do(t, f)
			got := e.take()
			if !server { // cookie mode makes no store calls worth timing: drop them
				got = slices.DeleteFunc(got, func(l string) bool { return strings.HasPrefix(l, "backend:") })
			}
			if !slices.Equal(got, want) {
				t.Fatalf("%s: %s: recorded %q, want %q", mode, name, got, want)
			}
		}
		b := func(op string) []string {
			if server {
				return []string{"backend:" + op + ":true"}
			}
			return nil
		}
		step("first visit", counter, append([]string{"load:new:"}, append(b("save"), "commit:created")...)...)
		if s := ev[mode].cmt[len(ev[mode].cmt)-1]; s.Cookies != 1 || s.TokenBytes < 50 || s.RecordBytes != len(`{"n":1}`) {
			t.Fatalf("%s: created sizes %+v", mode, s)
		}
		step("a change", counter, slices.Concat([]string{}, b("load"), []string{"load:loaded:"}, b("save"), []string{"commit:saved"})...)
		step("a touch", func(_ http.ResponseWriter, r *http.Request) { session.From(r).Touch() },
			slices.Concat([]string{}, b("load"), []string{"load:loaded:"}, b("save"), []string{"commit:refreshed"})...)
		step("a regenerate", func(_ http.ResponseWriter, r *http.Request) { session.From(r).Regenerate(true) },
			slices.Concat([]string{}, b("load"), []string{"load:loaded:"}, b("save"), b("retire"), []string{"commit:regenerated"})...)
		saved := h.jar["session"]
		step("a destroy", func(_ http.ResponseWriter, r *http.Request) { session.From(r).Destroy() },
			slices.Concat([]string{}, b("load"), []string{"load:loaded:"}, b("delete"), []string{"commit:destroyed"})...)
		// A flipped character of the tag (the last but one: the last has
		// unused bits).
		i, c := len(saved)-2, "A"
		if saved[i] == 'A' {
			c = "B"
		}
		h.jar["session"] = saved[:i] + c + saved[i+1:]
		step("a tampered token", counter, slices.Concat(b("load"), []string{"load:refused:bad_seal"}, b("save"), []string{"commit:created"})...)
		if server {
			h.jar["session"] = saved // destroyed: the store no longer has it
			step("a destroyed session's token", counter, slices.Concat(b("load"), []string{"load:refused:not_found"}, b("save"), []string{"commit:created"})...)
		}
		h.clock.add(2 * time.Hour)
		wantExpired := []string{"load:refused:expired"}
		if server {
			wantExpired = []string{"backend:load:true", "load:refused:not_found"} // the store expired it first
		}
		step("an expired session", counter, slices.Concat(wantExpired, b("save"), []string{"commit:created"})...)
	}
	// Refusal reasons from other secrets and chunk sets (cookie mode).
	h := newHarness(t, session.WithMetrics(ev["cookie"]))
	other := newHarnessSecrets(t, [][]byte{secret(9)})
	other.do(t, counter)
	h.jar["session"] = other.jar["session"]
	h.do(t, func(http.ResponseWriter, *http.Request) {})
	h.do(t, func(_ http.ResponseWriter, r *http.Request) { session.From(r).Has("x") })
	if got := ev["cookie"].take(); !slices.Contains(got, "load:refused:unknown_key") {
		t.Fatalf("a cookie of another secret: %q", got)
	}
	delete(h.jar, "session")
	h.do(t, func(_ http.ResponseWriter, r *http.Request) { session.From(r).Has("x") }, func(r *http.Request) { r.Header.Set("Cookie", "session.1=AAAA") })
	if got := ev["cookie"].take(); !slices.Contains(got, "load:refused:forged_chunk") {
		t.Fatalf("a chunk without its base: %q", got)
	}
}

// TestMetricsConflict: Update under parallel requests in server mode
// reports its conflicts, and every one ends in success.
func TestMetricsConflict(t *testing.T) {
	t.Parallel()
	ev := &events{}
	h := modes(t, session.WithMetrics(ev))["memory"]
	h.do(t, counter)
	ev.take()
	// 20 parallel requests on the one session (the harness's jar is for
	// one request at a time: these carry its cookie themselves).
	cookie := "session=" + h.jar["session"]
	handler := h.m.Handler(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		session.Update(session.From(r), "views", func(n int) int { return n + 1 })
	}))
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			r := httptest.NewRequest("GET", "http://localhost/", nil)
			r.RemoteAddr = "127.0.0.1:50000"
			r.Header.Set("Cookie", cookie)
			handler.ServeHTTP(httptest.NewRecorder(), r)
		})
	}
	wg.Wait()
	var views int
	h.do(t, func(_ http.ResponseWriter, r *http.Request) { views, _ = session.Get[int](session.From(r), "views") })
	got := ev.take()
	if views != 20 || slices.Contains(got, "conflict:false") {
		t.Fatalf("views %d; recorded %q", views, got)
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// nop is a Recorder that does nothing: what the hook itself costs.
type nop struct{}

func (nop) Load(context.Context, metrics.Outcome, metrics.Reason)            {}
func (nop) Commit(context.Context, metrics.Op, metrics.Sizes)                {}
func (nop) Conflict(context.Context, int, bool)                              {}
func (nop) Backend(context.Context, metrics.BackendOp, time.Duration, error) {}

// BenchmarkMetricsHook: one request that loads, changes and saves a SMALL
// session, in cookie mode and in server mode (memory), without a Recorder
// and with one that does nothing: the hook's cost per request.
//
//	go test -run '^$' -bench MetricsHook -count 5 .
func BenchmarkMetricsHook(b *testing.B) {
	for _, mode := range []string{"cookie", "memory"} {
		for _, rec := range []metrics.Recorder{nil, nop{}} {
			var opts []session.Option
			name := mode + "/none"
			if rec != nil {
				opts, name = append(opts, session.WithMetrics(rec)), mode+"/nop"
			}
			var store session.Store = must(cookiestore.New([][]byte{secret(1)}))
			if mode == "memory" {
				store = must(serverstore.New(serverstore.NewMemory(), [][]byte{secret(1)}))
			}
			m := must(session.New(store, append(opts, session.WithLogger(discard()))...))
			h := m.Handler(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
				s := session.From(r)
				n, _ := session.Get[int](s, "n")
				s.Set("n", n+1)
			}))
			w := httptest.NewRecorder()
			h.ServeHTTP(w, httptest.NewRequest("GET", "https://example.com/", nil))
			cookie := strings.Split(w.Header().Get("Set-Cookie"), ";")[0]
			b.Run(name, func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					r := httptest.NewRequest("GET", "https://example.com/", nil)
					r.Header.Set("Cookie", cookie)
					h.ServeHTTP(httptest.NewRecorder(), r)
				}
			})
		}
	}
}

// TestMetricsManagerLoad: a commit of a session Manager.Load read reports
// the token it returned (it reported none before).
func TestMetricsManagerLoad(t *testing.T) {
	t.Parallel()
	ev := &events{}
	m := must(session.New(mustCookieStore(t), session.WithMetrics(ev)))
	s, err := m.Load(t.Context(), "")
	if err != nil {
		t.Fatal(err)
	}
	s.Set("n", 1)
	tok, _, err := s.Commit()
	if err != nil {
		t.Fatal(err)
	}
	if got := ev.take(); !slices.Equal(got, []string{"load:new:", "backend:save:true", "commit:created"}) {
		t.Fatalf("recorded %q", got)
	}
	if c := ev.cmt[len(ev.cmt)-1]; c.TokenBytes != len(tok) || c.Cookies != 1 {
		t.Fatalf("sizes %+v, want the token's %d bytes", c, len(tok))
	}
}

// TestMetricsHookAddsNoAllocation: a Recorder that does nothing adds no
// allocation to a request that loads, changes and saves a session, in cookie
// mode and in server mode, and a server store's RecordBytes is the size of
// the encoded values, keys in any byte (README's claim; memory mode paid one
// more allocation, encoding the values again to measure them).
func TestMetricsHookAddsNoAllocation(t *testing.T) {
	for _, mode := range []string{"cookie", "memory"} {
		t.Run(mode, func(t *testing.T) {
			var allocs [2]float64
			for i, rec := range []metrics.Recorder{nil, nop{}} {
				var store session.Store = mustCookieStore(t)
				if mode == "memory" {
					store = must(serverstore.New(serverstore.NewMemory(), [][]byte{secret(1)}))
				}
				opts := []session.Option{session.WithLogger(discard())}
				if rec != nil {
					opts = append(opts, session.WithMetrics(rec))
				}
				m := must(session.New(store, opts...))
				flip := 0
				h := m.Handler(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
					s := session.From(r)
					_, _ = session.Get[int](s, "n")
					flip ^= 1
					s.Set("n", flip) // a small int: boxing it allocates nothing
				}))
				w := httptest.NewRecorder()
				h.ServeHTTP(w, httptest.NewRequest("GET", "https://example.com/", nil))
				r := httptest.NewRequest("GET", "https://example.com/", nil)
				r.Header.Set("Cookie", strings.Split(w.Header().Get("Set-Cookie"), ";")[0])
				allocs[i] = testing.AllocsPerRun(200, func() { h.ServeHTTP(httptest.NewRecorder(), r) })
			}
			if allocs[1] > allocs[0]+raceSlack {
				t.Errorf("%v allocations a request with a Recorder that does nothing, %v without", allocs[1], allocs[0])
			}
		})
	}
	t.Run("sizes", func(t *testing.T) {
		ev := &events{}
		m := must(session.New(must(serverstore.New(serverstore.NewMemory(), [][]byte{secret(1)})), session.WithMetrics(ev)))
		for _, values := range []map[string]any{
			{"n": 1},
			{"a": "x", "b": []int{1, 2}, "z": nil},
			{"é<>&\"\\\x01": 1, "plain": true},
		} {
			s := must(m.Load(t.Context(), ""))
			for k, v := range values {
				s.Set(k, v)
			}
			if _, _, err := s.Commit(); err != nil {
				t.Fatal(err)
			}
			raw := map[string][]byte{}
			for k, v := range values {
				raw[k] = must(json.Marshal(v))
			}
			want := must(session.JSON.EncodeMap(raw))
			if got := ev.cmt[len(ev.cmt)-1].RecordBytes; got != len(want) {
				t.Errorf("RecordBytes %d for %s, want %d", got, want, len(want))
			}
		}
	})
}
