package session_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/crumbs-go/session"
	"github.com/crumbs-go/session/cookiestore"
	"github.com/crumbs-go/session/serverstore"
)

// apiClient is a mobile app: it keeps the token the responses return.
type apiClient struct {
	h     http.Handler
	token string
}

func (c *apiClient) do(t *testing.T, f func(*session.Session), mod ...func(*http.Request)) *http.Response {
	t.Helper()
	r := httptest.NewRequest("GET", "https://api.example.com/", nil)
	if c.token != "" {
		r.Header.Set("Authorization", "Bearer "+c.token)
	}
	for _, m := range mod {
		m(r)
	}
	w := httptest.NewRecorder()
	c.h.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), fkey{}, f)))
	res := w.Result()
	if v, ok := res.Header["Session-Token"]; ok {
		c.token = v[0] // "" drops it
	}
	return res
}

type fkey struct{}

func apiHandler(m *session.Manager) http.Handler {
	return m.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if f, _ := r.Context().Value(fkey{}).(func(*session.Session)); f != nil {
			f(session.From(r))
		}
		w.Write([]byte("ok"))
	}))
}

func TestHeaderToken(t *testing.T) {
	t.Parallel()
	cookieStore, err := cookiestore.New([][]byte{secret(1)})
	if err != nil {
		t.Fatal(err)
	}
	serverStore, err := serverstore.New(serverstore.NewMemory(), [][]byte{secret(1)})
	if err != nil {
		t.Fatal(err)
	}
	for name, store := range map[string]session.Store{"cookie mode": cookieStore, "server mode": serverStore} {
		t.Run(name, func(t *testing.T) {
			m, err := session.New(store, session.WithHeaderToken("", ""), session.WithLogger(discard()))
			if err != nil {
				t.Fatal(err)
			}
			c := &apiClient{h: apiHandler(m)}
			res := c.do(t, func(s *session.Session) { s.Set("user", "ada") })
			if c.token == "" || len(res.Header.Values("Set-Cookie")) != 0 {
				t.Fatalf("a save returned token %q and Set-Cookie %q", c.token, res.Header.Values("Set-Cookie"))
			}
			if v, cc, ex := res.Header.Get("Vary"), res.Header.Get("Cache-Control"), res.Header.Get("Access-Control-Expose-Headers"); v != "Authorization" || cc != "no-store" || ex != "Session-Token" {
				t.Fatalf("Vary %q, Cache-Control %q, Expose %q", v, cc, ex)
			}
			var user string
			res = c.do(t, func(s *session.Session) { user, _ = session.Get[string](s, "user") })
			if user != "ada" {
				t.Fatalf("the token did not carry the session: user %q", user)
			}
			if _, sent := res.Header["Session-Token"]; sent || res.Header.Get("Cache-Control") != "private, no-cache" {
				t.Fatalf("a read-only request: token header %t, Cache-Control %q", sent, res.Header.Get("Cache-Control"))
			}
			// The request's cookies are ignored: a cookie value is never a token.
			cookie := &apiClient{h: c.h}
			cookie.do(t, func(s *session.Session) {
				user, _ = session.Get[string](s, "user")
			}, func(r *http.Request) { r.Header.Set("Cookie", "session="+c.token) })
			if user != "" {
				t.Fatal("a header token was accepted as a cookie")
			}
			// A tampered token: a fresh session, and the client is told to drop it.
			good := c.token
			c.token = tamper(good)
			var isNew bool
			res = c.do(t, func(s *session.Session) { isNew = s.IsNew() })
			if res.StatusCode != 200 || !isNew || c.token != "" {
				t.Fatalf("a tampered token: status %d, IsNew %t, token %q", res.StatusCode, isNew, c.token)
			}
			c.token = good
			c.do(t, func(s *session.Session) { s.Destroy() })
			if c.token != "" {
				t.Fatal("Destroy did not tell the client to drop its token")
			}
			c.token = good
			c.do(t, func(s *session.Session) { user, _ = session.Get[string](s, "user") })
			if name == "server mode" && user != "" {
				t.Fatal("the destroyed session's token still opens it")
			}
		})
	}
	// A named request header carries the token whole; Authorization of
	// another scheme is the application's.
	m, err := session.New(cookieStore, session.WithHeaderToken("X-Session", "X-Session"))
	if err != nil {
		t.Fatal(err)
	}
	h := apiHandler(m)
	w := httptest.NewRecorder()
	r := httptest.NewRequest("GET", "/", nil).WithContext(context.WithValue(context.Background(), fkey{}, func(s *session.Session) { s.Set("n", 1) }))
	h.ServeHTTP(w, r)
	tok := w.Result().Header.Get("X-Session")
	if tok == "" {
		t.Fatal("no token in the named header")
	}
	var n int
	r = httptest.NewRequest("GET", "/", nil).WithContext(context.WithValue(context.Background(), fkey{}, func(s *session.Session) { n, _ = session.Get[int](s, "n") }))
	r.Header.Set("X-Session", tok)
	r.Header.Set("Authorization", "Basic dXNlcjpwYXNz")
	h.ServeHTTP(httptest.NewRecorder(), r)
	if n != 1 {
		t.Fatal("the named header's token did not load")
	}
	for _, bad := range [][2]string{{"Bad Header", ""}, {"", "Set-Cookie"}, {"Cookie", ""}} {
		if _, err := session.New(cookieStore, session.WithHeaderToken(bad[0], bad[1])); err == nil {
			t.Errorf("WithHeaderToken(%q, %q) was accepted", bad[0], bad[1])
		}
	}
}

// A cookie-mode session too large for one header token goes to the error
// handler; the client keeps its token.
func TestHeaderTokenTooLarge(t *testing.T) {
	t.Parallel()
	h := newHarness(t, session.WithHeaderToken("", ""))
	c := &apiClient{h: h.m.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		session.From(r).Set("blob", randomText(12000))
	}))}
	res := c.do(t, nil)
	if res.StatusCode != 500 || c.token != "" || len(h.errors()) != 1 || !strings.Contains(h.errors()[0].Error(), "8000") {
		t.Fatalf("status %d, token %q, errors %v", res.StatusCode, c.token, h.errors())
	}
}

// Load and Commit carry a session without HTTP: a job worker, a WebSocket.
func TestLoadCommit(t *testing.T) {
	t.Parallel()
	for name, store := range map[string]func(now func() time.Time) session.Store{
		"cookie mode": func(func() time.Time) session.Store { s, _ := cookiestore.New([][]byte{secret(4)}); return s },
		"server mode": func(now func() time.Time) session.Store {
			s, _ := serverstore.New(serverstore.NewMemory(serverstore.WithClock(now)), [][]byte{secret(4)})
			return s
		},
	} {
		t.Run(name, func(t *testing.T) {
			clk := &clock{t: time.Unix(1764201600, 0)}
			m, err := session.New(store(clk.now), session.WithIdleTimeout(time.Hour), session.WithClock(clk.now), session.WithLogger(discard()))
			if err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			s, err := m.Load(ctx, "")
			if err != nil || !s.IsNew() {
				t.Fatalf("Load(\"\") = %v, IsNew %t", err, s.IsNew())
			}
			s.Set("jobs", 1)
			tok, deadline, err := s.Commit()
			if err != nil || tok == "" || !deadline.Equal(clk.now().Add(time.Hour)) {
				t.Fatalf("Commit = %q, %v, %v", tok, deadline, err)
			}
			clk.add(40 * time.Minute)
			s, _ = m.Load(ctx, tok)
			if n, _ := session.Get[int](s, "jobs"); n != 1 || s.IsNew() {
				t.Fatalf("Load(token): jobs %d", n)
			}
			if _, err := session.Update(s, "jobs", func(n int) int { return n + 1 }); err != nil {
				t.Fatal(err)
			}
			tok2, _, err := s.Commit()
			if err != nil || tok2 == "" {
				t.Fatal(err)
			}
			clk.add(40 * time.Minute) // 80 minutes after the first save, 40 after the second
			s, _ = m.Load(ctx, tok2)
			if n, _ := session.Get[int](s, "jobs"); n != 2 {
				t.Fatalf("after Update and 40 minutes: jobs %d", n)
			}
			same, _, _ := s.Commit()
			if same == "" {
				t.Fatal("an unchanged session's Commit returned no token")
			}
			ctx2 := session.NewContext(ctx, s)
			session.FromContext(ctx2).Destroy()
			if gone, _, err := s.Commit(); gone != "" || err != nil {
				t.Fatalf("Commit after Destroy = %q, %v; want \"\"", gone, err)
			}
			s, _ = m.Load(ctx, strings.Repeat("A", 9000))
			if !s.IsNew() {
				t.Fatal("a 9000-byte token opened")
			}
			// A cookie value is not a token.
			w := httptest.NewRecorder()
			m.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { session.From(r).Set("n", 1) })).ServeHTTP(w, newRequest())
			cv := strings.SplitN(strings.TrimPrefix(w.Result().Header.Get("Set-Cookie"), "session="), ";", 2)[0]
			if s, _ = m.Load(ctx, cv); !s.IsNew() {
				t.Fatal("a cookie value opened as a token")
			}
		})
	}
}

// Update in cookie mode applies at once; several compose; a Set after it
// is unconditional; the handler sees the result.
func TestUpdate(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.do(t, func(w http.ResponseWriter, r *http.Request) {
		s := session.From(r)
		for range 3 {
			if _, err := session.Update(s, "n", func(n int) int { return n + 1 }); err != nil {
				t.Error(err)
			}
		}
		got, err := session.Update(s, "list", func(l []string) []string { return append(l, "a") })
		if err != nil || len(got) != 1 {
			t.Errorf("Update = %v, %v", got, err)
		}
		if _, err := session.Update(s, "list", func(n int) int { return n }); err == nil {
			t.Error("Update with the wrong type succeeded")
		}
	})
	var n int
	var list []string
	h.do(t, func(w http.ResponseWriter, r *http.Request) {
		s := session.From(r)
		n, _ = session.Get[int](s, "n")
		list, _ = session.Get[[]string](s, "list")
		s.Set("n", 10)
		session.Update(s, "n", func(n int) int { return n * 2 })
	})
	if n != 3 || len(list) != 1 {
		t.Fatalf("after three Updates: n %d, list %q", n, list)
	}
	h.do(t, func(w http.ResponseWriter, r *http.Request) { n, _ = session.Get[int](session.From(r), "n") })
	if n != 20 {
		t.Fatalf("Set then Update: n %d, want 20", n)
	}
}
