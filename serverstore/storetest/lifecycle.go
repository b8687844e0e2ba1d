package storetest

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/crumbs-go/session"
	"github.com/crumbs-go/session/cookiestore"
	"github.com/crumbs-go/session/driver"
	"github.com/crumbs-go/session/serverstore"
)

// browser is one client with one cookie, against a Manager built with the
// defaults users get (only the options a test names).
type browser struct {
	h      http.Handler
	mu     sync.Mutex
	cookie string
	agent  string // the User-Agent it sends, if any
}

type sessionFunc func(*session.Session)

func newBrowser(t *testing.T, target any, c clock, opts ...session.Option) *browser {
	t.Helper()
	var store driver.Store
	switch x := target.(type) {
	case driver.Store:
		store = x
	case serverstore.Backend:
		var err error
		if store, err = serverstore.New(x, secrets); err != nil {
			t.Fatal(err)
		}
		if opts, ok := spilling(t); ok {
			// RunSpill: the same backend, behind the spill-over store.
			cookie, err := cookiestore.New(secrets)
			if err != nil {
				t.Fatal(err)
			}
			if store, err = cookiestore.NewSpill(cookie, store.(*serverstore.Store), opts...); err != nil {
				t.Fatal(err)
			}
		}
	default:
		t.Fatalf("newBrowser(%T)", target)
	}
	m, err := session.New(store, append([]session.Option{session.WithCookieName("sid"), session.WithClock(c.now),
		session.WithLogger(testLogger(t))}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	return &browser{h: m.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if f, ok := r.Context().Value(handlerKey{}).(sessionFunc); ok && f != nil {
			f(session.From(r))
		}
		io.WriteString(w, "ok")
	}))}
}

// send makes a request with cookie and returns the response and the cookie
// the browser holds afterwards.
func (c *browser) send(cookie string, f sessionFunc) (*httptest.ResponseRecorder, string) {
	r := httptest.NewRequest("GET", "/", nil)
	if cookie != "" {
		r.Header.Set("Cookie", cookie)
	}
	if c.agent != "" {
		r.Header.Set("User-Agent", c.agent)
	}
	r = r.WithContext(contextWith(r, f))
	w := httptest.NewRecorder()
	c.h.ServeHTTP(w, r)
	for _, ck := range w.Result().Cookies() {
		if ck.Name == "sid" {
			if ck.MaxAge < 0 {
				cookie = ""
			} else {
				cookie = "sid=" + ck.Value
			}
		}
	}
	return w, cookie
}

// do sends a request with the browser's cookie and keeps what it sets.
func (c *browser) do(f sessionFunc) *httptest.ResponseRecorder {
	c.mu.Lock()
	cookie := c.cookie
	c.mu.Unlock()
	w, cookie := c.send(cookie, f)
	c.mu.Lock()
	c.cookie = cookie
	c.mu.Unlock()
	return w
}

func (c *browser) current() string { c.mu.Lock(); defer c.mu.Unlock(); return c.cookie }

// testLifecycle checks what the next request sees, over time and under
// parallel requests, with the default options.
func testLifecycle(t *testing.T, newBackend newFunc) {
	const idle = 3 * time.Second // the backends expire in whole seconds
	over := func(t *testing.T, name string, keep sessionFunc, opts ...session.Option) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			b, c := newBackend(t)
			br := newBrowser(t, b, c, append([]session.Option{session.WithIdleTimeout(idle)}, opts...)...)
			br.do(func(s *session.Session) { s.Set("user", "ada") })
			for elapsed := time.Duration(0); elapsed < 3*idle; elapsed += idle / 4 {
				c.sleep(idle / 4)
				var user string
				var isNew bool
				br.do(func(s *session.Session) { user, _ = session.Get[string](s, "user"); isNew = s.IsNew(); keep(s) })
				if isNew || user != "ada" {
					t.Fatalf("after %v of requests every %v (idle timeout %v) the session is gone", elapsed+idle/4, idle/4, idle)
				}
			}
		})
	}
	over(t, "ReaderSurvivesThreeIdlePeriods", func(*session.Session) {})
	over(t, "TouchSurvivesThreeIdlePeriods", func(s *session.Session) { s.Touch() })
	over(t, "RollingSurvivesThreeIdlePeriods", func(*session.Session) {}, session.WithRolling(true))
	gone := func(t *testing.T, name string, wait time.Duration, opts ...session.Option) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			b, c := newBackend(t)
			br := newBrowser(t, b, c, opts...)
			br.do(func(s *session.Session) { s.Set("user", "ada") })
			c.sleep(wait)
			var isNew bool
			var user string
			br.do(func(s *session.Session) { user, _ = session.Get[string](s, "user"); isNew = s.IsNew() })
			if !isNew || user != "" {
				t.Fatalf("a session past its deadline still answered (user %q)", user)
			}
		})
	}
	gone(t, "LeftAloneForOneIdlePeriodIsGone", idle+1100*time.Millisecond, session.WithIdleTimeout(idle))
	gone(t, "PastItsLifetimeIsGone", idle+1100*time.Millisecond, session.WithLifetime(idle))
	t.Run("ActiveReaderEndsAtItsLifetime", func(t *testing.T) {
		t.Parallel()
		b, c := newBackend(t)
		br := newBrowser(t, b, c, session.WithIdleTimeout(idle), session.WithLifetime(2*idle))
		br.do(func(s *session.Session) { s.Set("user", "ada") })
		var user string
		for elapsed := time.Duration(0); elapsed < 2*idle+time.Second; elapsed += idle / 4 {
			c.sleep(idle / 4)
			br.do(func(s *session.Session) { user, _ = session.Get[string](s, "user") })
		}
		if user != "" {
			t.Fatal("reads kept a session alive past its absolute deadline")
		}
	})
	t.Run("IdentityChangeRegenerates", func(t *testing.T) {
		// WithIdentityKey: a handler that signs in by setting the identity
		// value, without Regenerate, gets a new session ID holding only
		// what its request set (a value planted with the session goes); the
		// cookie from before (a planted one: session fixation) does not
		// open the signed-in session; setting the same value again rotates
		// nothing; another user keeps only what its request set; a sign-out
		// that removes the value rotates too.
		t.Parallel()
		b, c := newBackend(t)
		br := newBrowser(t, b, c, session.WithIdentityKey("user"))
		type seen struct {
			id, user, theme string
			cart            int
			isNew           bool
		}
		look := func() seen {
			var v seen
			br.do(func(s *session.Session) {
				v.id, v.isNew = s.ID(), s.IsNew()
				v.user, _ = session.Get[string](s, "user")
				v.theme, _ = session.Get[string](s, "theme")
				v.cart, _ = session.Get[int](s, "cart")
			})
			return v
		}
		br.do(func(s *session.Session) { s.Set("cart", 3); s.Set("theme", "planted") })
		planted := br.current()
		anon := look()
		br.do(func(s *session.Session) {
			cart, _ := session.Get[int](s, "cart")
			s.Set("cart", cart) // carried on purpose
			s.Set("user", "ada")
		})
		in := look()
		if in.id == anon.id || in.user != "ada" || in.cart != 3 || in.theme != "" {
			t.Fatalf("after a sign-in without Regenerate: %+v; want a new ID (not %.8s…), user ada, the cart its request carried, no planted theme", in, anon.id)
		}
		var user string
		br.send(planted, func(s *session.Session) { user, _ = session.Get[string](s, "user") })
		if user != "" {
			t.Fatalf("the cookie from before the sign-in opens the signed-in session (user %q)", user)
		}
		br.do(func(s *session.Session) { s.Set("user", "ada") })
		if again := look(); again.id != in.id {
			t.Fatalf("setting the same identity again changed the ID")
		}
		br.do(func(s *session.Session) { s.Set("user", "bob"); s.Set("theme", "dark") })
		bob := look()
		if bob.id == in.id || bob.user != "bob" || bob.theme != "dark" || bob.cart != 0 {
			t.Fatalf("after another user's sign-in: %+v; want a new ID, user bob, theme dark, and ada's cart gone", bob)
		}
		br.do(func(s *session.Session) { s.Delete("user") })
		out := look()
		if out.id == bob.id || out.user != "" || out.theme != "" {
			t.Fatalf("after a sign-out that removed the identity: %+v; want a new ID and bob's values gone", out)
		}
	})
	t.Run("CreatesKeepTheManagersDeadlineAndKind", func(t *testing.T) {
		// A new session, and the one a Regenerate creates, are stored with
		// the Manager's absolute deadline and cookie kind although the
		// request set neither (a create carries the request's own
		// SetLifetime and SetKind, false here).
		t.Parallel()
		b, c := newBackend(t)
		br := newBrowser(t, b, c, session.WithIdleTimeout(3*time.Hour), session.WithLifetime(time.Hour), session.WithBrowserSessionCookie(true))
		for _, step := range []struct {
			name string
			f    sessionFunc
		}{
			{"a new session", func(s *session.Session) { s.Set("user", "ada") }},
			{"a Regenerate", func(s *session.Session) { s.Regenerate(true) }},
		} {
			w := br.do(step.f)
			for _, ck := range w.Result().Cookies() {
				if ck.Name == "sid" && ck.MaxAge != 0 {
					t.Errorf("after %s: the cookie has Max-Age %d; want a browser-session cookie", step.name, ck.MaxAge)
				}
			}
			var dl time.Time
			var user string
			br.do(func(s *session.Session) {
				dl = s.Deadline()
				user, _ = session.Get[string](s, "user")
			})
			if d := dl.Sub(c.now()); dl.IsZero() || d > time.Hour+time.Second {
				t.Errorf("after %s: the next request's deadline is in %v; want the Manager's lifetime (1h)", step.name, d)
			}
			if user != "ada" {
				t.Errorf("after %s: user = %q, want ada", step.name, user)
			}
		}
	})
	t.Run("RegenerateAfterDestroyIsRefused", func(t *testing.T) {
		t.Parallel()
		b, c := newBackend(t)
		br := newBrowser(t, b, c)
		br.do(func(s *session.Session) { s.Set("user", "ada") })
		cookie := br.current()
		loaded, destroyed := make(chan struct{}), make(chan struct{})
		var w *httptest.ResponseRecorder
		var after string
		done := make(chan struct{})
		go func() {
			defer close(done)
			w, after = br.send(cookie, func(s *session.Session) {
				s.Get("user")
				close(loaded)
				<-destroyed
				s.Regenerate(true)
			})
		}()
		<-loaded
		br.send(cookie, func(s *session.Session) { s.Destroy() })
		close(destroyed)
		<-done
		if w.Code != http.StatusOK || after != "" {
			t.Fatalf("the refused regenerate answered %d and left the cookie %q", w.Code, after)
		}
		for _, ck := range []string{after, cookie} {
			var user string
			br.send(ck, func(s *session.Session) { user, _ = session.Get[string](s, "user") })
			if user != "" {
				t.Fatalf("a Regenerate racing a logout brought the session back (cookie %q holds user %q)", ck, user)
			}
		}
	})
	parallel := func(t *testing.T, name string, each func(i int) sessionFunc, check func(s *session.Session) error) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			b, c := newBackend(t)
			for run := range 10 {
				// Two Managers over one backend: two instances of the
				// application, so that requests conflict across them too.
				br, other := newBrowser(t, b, c), newBrowser(t, b, c)
				br.do(func(s *session.Session) { s.Set("start", true) })
				cookie := br.current()
				var wg sync.WaitGroup
				start := make(chan struct{})
				codes := make([]int, 50)
				for i := range 50 {
					wg.Go(func() {
						<-start
						via := br
						if i%2 == 1 {
							via = other
						}
						w, _ := via.send(cookie, each(i))
						codes[i] = w.Code
					})
				}
				close(start)
				wg.Wait()
				failed := 0
				for _, code := range codes {
					if code != http.StatusOK {
						failed++
					}
				}
				var err error
				br.send(cookie, func(s *session.Session) { err = check(s) })
				if failed > 0 || err != nil {
					t.Fatalf("run %d of 10: 50 parallel requests on one session: %d answered non-200; %v", run+1, failed, err)
				}
			}
		})
	}
	parallel(t, "ParallelKeysAllLand", func(i int) sessionFunc {
		return func(s *session.Session) { s.Set(fmt.Sprintf("k%02d", i), i) }
	}, func(s *session.Session) error {
		if n := s.Len(); n != 51 {
			return fmt.Errorf("the session holds %d of 51 keys", n)
		}
		return nil
	})
	t.Run("SpreadUpdatesLoseNothing", func(t *testing.T) {
		// 200 parallel requests over 20 sessions and two instances, each an
		// Update of its session's counter and a key of its own: every one
		// answers 200, every counter ends at 10, every key lands.
		t.Parallel()
		b, c := newBackend(t)
		br, other := newBrowser(t, b, c), newBrowser(t, b, c)
		const sessions, each = 20, 10
		cookies := make([]string, sessions)
		for i := range cookies {
			w, after := br.send("", func(s *session.Session) { s.Set("start", true) })
			if w.Code != http.StatusOK || after == "" {
				t.Fatalf("creating session %d: %d", i, w.Code)
			}
			cookies[i] = after
		}
		var wg sync.WaitGroup
		start := make(chan struct{})
		codes := make([]int, sessions*each)
		for i := range codes {
			wg.Go(func() {
				<-start
				via := br
				if i%2 == 1 {
					via = other
				}
				w, _ := via.send(cookies[i%sessions], func(s *session.Session) {
					if _, err := session.Update(s, "n", func(n int) int { return n + 1 }); err != nil {
						panic(err)
					}
					s.Set(fmt.Sprintf("k%03d", i), i)
				})
				codes[i] = w.Code
			})
		}
		close(start)
		wg.Wait()
		for i, code := range codes {
			if code != http.StatusOK {
				t.Errorf("request %d answered %d", i, code)
			}
		}
		for i, ck := range cookies {
			var n, keys int
			br.send(ck, func(s *session.Session) { n, _ = session.Get[int](s, "n"); keys = s.Len() })
			if n != each || keys != each+2 {
				t.Errorf("session %d: counter %d, %d keys; want %d and %d", i, n, keys, each, each+2)
			}
		}
	})
	t.Run("ChangesOutliveTheirClient", func(t *testing.T) {
		// A client that goes away mid-request (net/http then cancels the
		// request's context) cancels neither the load its handler still
		// reads nor the save of what the handler did: the next request
		// with the cookie sees it. Each case: the session holds n=1; a
		// request whose client leaves before the handler first reads its
		// session changes it; a later request reads the result.
		t.Parallel()
		b, c := newBackend(t)
		br := newBrowser(t, b, c)
		gone := func(cookie string, f sessionFunc) int {
			r := httptest.NewRequest("GET", "/", nil)
			r.Header.Set("Cookie", cookie)
			ctx, leave := context.WithCancel(r.Context())
			r = r.WithContext(contextWith(r.WithContext(ctx), func(s *session.Session) { leave(); f(s) }))
			w := httptest.NewRecorder()
			br.h.ServeHTTP(w, r)
			return w.Code
		}
		for _, tc := range []struct {
			name  string
			f     sessionFunc
			check func(s *session.Session) string
		}{
			{"Set", func(s *session.Session) { n, _ := session.Get[int](s, "n"); s.Set("n", n+1) }, func(s *session.Session) string {
				if n, _ := session.Get[int](s, "n"); n != 2 {
					return fmt.Sprintf("n is %d, want 2", n)
				}
				return ""
			}},
			{"Update", func(s *session.Session) {
				if _, err := session.Update(s, "n", func(n int) int { return n + 1 }); err != nil {
					panic(err)
				}
			}, func(s *session.Session) string {
				if n, _ := session.Get[int](s, "n"); n != 2 {
					return fmt.Sprintf("n is %d, want 2", n)
				}
				return ""
			}},
			{"Destroy", func(s *session.Session) { s.Destroy() }, func(s *session.Session) string {
				if !s.IsNew() {
					return "the session a request destroyed is still there"
				}
				return ""
			}},
		} {
			_, cookie := br.send("", func(s *session.Session) { s.Set("n", 1) })
			if code := gone(cookie, tc.f); code != http.StatusOK {
				t.Errorf("%s: the request whose client left answered %d", tc.name, code)
			}
			var problem string
			br.send(cookie, func(s *session.Session) { problem = tc.check(s) })
			if problem != "" {
				t.Errorf("%s after the client left: %s", tc.name, problem)
			}
		}
	})
	parallel(t, "ParallelUpdatesLoseNothing", func(int) sessionFunc {
		return func(s *session.Session) {
			if _, err := session.Update(s, "n", func(n int) int { return n + 1 }); err != nil {
				panic(err)
			}
		}
	}, func(s *session.Session) error {
		if n, _ := session.Get[int](s, "n"); n != 50 {
			return fmt.Errorf("the counter is %d, want 50", n)
		}
		return nil
	})
}

type handlerKey struct{}

func contextWith(r *http.Request, f sessionFunc) context.Context {
	return context.WithValue(r.Context(), handlerKey{}, f)
}

// testLogger logs errors (not the Info lines of rejected cookies) to t,
// until t ends: the Manager logs the counts of repeated errors up to 10 s
// later, and t.Log after the end of t panics.
func testLogger(t *testing.T) *slog.Logger {
	w := &testWriter{t: t}
	t.Cleanup(func() { w.mu.Lock(); w.done = true; w.mu.Unlock() })
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelError}))
}

type testWriter struct {
	t    *testing.T
	mu   sync.Mutex
	done bool
}

func (w *testWriter) Write(b []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.done {
		w.t.Log(strings.TrimSpace(string(b)))
	}
	return len(b), nil
}
