package gorillastore_test

import (
	"context"
	"encoding/gob"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/sessions"

	"github.com/crumbs-go/session"
	"github.com/crumbs-go/session/adapters/gorillastore"
	"github.com/crumbs-go/session/adapters/internal/flowtest"
	"github.com/crumbs-go/session/serverstore"
	_ "github.com/crumbs-go/session/serverstore/redisstore"
)

// User is what the application stores and type-asserts, as with gorilla.
type User struct {
	Name  string
	Admin bool
}

func init() { gob.Register(User{}); gob.Register(map[string]int{}) }

var secret = []byte("gorillastore-test-secret-0123456789abcdef")

// crumbsStore opens a crumbs store for mode: "cookie", "memory" or
// "redis" (a key prefix of its own, cleared at the end).
func crumbsStore(t *testing.T, mode string) session.Store {
	t.Helper()
	config := mode
	if mode == "redis" {
		config = fmt.Sprintf("redis://127.0.0.1:6379/0?crumbs_prefix=crumbs-gorillastore:%d:", time.Now().UnixNano())
	}
	st, err := session.OpenStore(context.Background(), config, [][]byte{secret})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if s, ok := st.(*serverstore.Store); ok {
			if c, ok := s.Backend().(serverstore.Clearer); ok {
				c.Clear(context.Background())
			}
		}
		if c, ok := st.(io.Closer); ok {
			c.Close()
		}
	})
	return st
}

func modes(t *testing.T) []string {
	return append(flowtest.Modes(t), "memory") // cookie, redis (when present; always under CI), memory
}

func quiet() session.Option { return session.WithLogger(slog.New(slog.DiscardHandler)) }

// gorillaApp is a handler written against gorilla/sessions only.
func gorillaApp(store sessions.Store) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/login", func(w http.ResponseWriter, r *http.Request) {
		s, err := store.Get(r, "app")
		if err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		s.Values["user"] = User{Name: r.URL.Query().Get("name"), Admin: true}
		s.Values["visits"] = 0
		s.AddFlash("welcome")
		if err := s.Save(r, w); err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		fmt.Fprint(w, "ok")
	})
	mux.HandleFunc("/show", func(w http.ResponseWriter, r *http.Request) {
		s, err := store.Get(r, "app")
		if err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		u, _ := s.Values["user"].(User) // the Go type survives
		n, _ := s.Values["visits"].(int)
		flashes := s.Flashes()
		isNew := s.IsNew
		s.Values["visits"] = n + 1
		if err := s.Save(r, w); err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		fmt.Fprintf(w, "user=%s admin=%v visits=%d flashes=%v new=%v", u.Name, u.Admin, n, flashes, isNew)
	})
	mux.HandleFunc("/set", func(w http.ResponseWriter, r *http.Request) {
		s, _ := store.Get(r, "app")
		s.Values[r.URL.Query().Get("k")] = r.URL.Query().Get("v")
		if err := s.Save(r, w); err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
	})
	mux.HandleFunc("/keys", func(w http.ResponseWriter, r *http.Request) {
		s, _ := store.Get(r, "app")
		fmt.Fprint(w, len(s.Values))
	})
	mux.HandleFunc("/logout", func(w http.ResponseWriter, r *http.Request) {
		s, _ := store.Get(r, "app")
		s.Options.MaxAge = -1
		if err := s.Save(r, w); err != nil {
			http.Error(w, err.Error(), 500)
		}
	})
	mux.HandleFunc("/badkey", func(w http.ResponseWriter, r *http.Request) {
		s, _ := store.Get(r, "app")
		s.Values[42] = "int key"
		s.Values["ok"] = "set"
		if err := s.Save(r, w); err != nil {
			http.Error(w, err.Error(), 400)
		}
	})
	return mux
}

type client struct {
	t   *testing.T
	srv *httptest.Server
	c   *http.Client
}

func newClient(t *testing.T, srv *httptest.Server) *client {
	jar, _ := cookiejar.New(nil)
	return &client{t: t, srv: srv, c: &http.Client{Jar: jar}}
}

func (c *client) get(path string) (int, string) {
	c.t.Helper()
	res, err := c.c.Get(c.srv.URL + path)
	if err != nil {
		c.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, strings.TrimSpace(string(b))
}

func (c *client) cookies() []*http.Cookie {
	u, _ := url.Parse(c.srv.URL)
	return c.c.Jar.Cookies(u)
}

func TestGorillaAPI(t *testing.T) {
	for _, mode := range modes(t) {
		t.Run(mode, func(t *testing.T) {
			gs, err := gorillastore.New(crumbsStore(t, mode), quiet())
			if err != nil {
				t.Fatal(err)
			}
			srv := httptest.NewServer(gorillaApp(gs))
			defer srv.Close()
			c := newClient(t, srv)
			if code, body := c.get("/login?name=alice"); code != 200 {
				t.Fatal(code, body)
			}
			if _, got := c.get("/show"); got != "user=alice admin=true visits=0 flashes=[welcome] new=false" {
				t.Fatalf("first read: %s", got)
			}
			if _, got := c.get("/show"); got != "user=alice admin=true visits=1 flashes=[] new=false" {
				t.Fatalf("second read: %s", got)
			}
			if cs := c.cookies(); len(cs) != 1 || cs[0].Name != "app" {
				t.Fatalf("cookies %v", cs)
			}
			c.get("/logout")
			if _, got := c.get("/show"); got != "user= admin=false visits=0 flashes=[] new=true" {
				t.Fatalf("after logout: %s", got)
			}
		})
	}
}

// TestOldCookieAfterLogout: a copy of the cookie taken before the logout
// opens nothing afterwards in server mode.
func TestOldCookieAfterLogout(t *testing.T) {
	gs, _ := gorillastore.New(crumbsStore(t, "memory"), quiet())
	srv := httptest.NewServer(gorillaApp(gs))
	defer srv.Close()
	c := newClient(t, srv)
	c.get("/login?name=alice")
	stolen := c.cookies()
	c.get("/logout")
	thief := newClient(t, srv)
	u, _ := url.Parse(srv.URL)
	thief.c.Jar.SetCookies(u, stolen)
	if _, got := thief.get("/show"); !strings.HasPrefix(got, "user= ") {
		t.Fatalf("a destroyed session opened: %s", got)
	}
}

// TestParallelKeys: in server mode, parallel requests of one session that
// set different keys through gorilla's API all land.
func TestParallelKeys(t *testing.T) {
	for _, mode := range modes(t) {
		if mode == "cookie" {
			continue // the browser keeps the last response's cookie: nothing to merge
		}
		t.Run(mode, func(t *testing.T) {
			gs, _ := gorillastore.New(crumbsStore(t, mode), quiet())
			srv := httptest.NewServer(gorillaApp(gs))
			defer srv.Close()
			c := newClient(t, srv)
			c.get("/login?name=alice")
			var wg sync.WaitGroup
			for i := range 8 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					res, err := c.c.Get(fmt.Sprintf("%s/set?k=k%d&v=v", srv.URL, i))
					if err == nil {
						res.Body.Close()
					}
				}()
			}
			wg.Wait()
			if _, got := c.get("/keys"); got != "11" { // user, visits, _flash, k0…k7
				t.Fatalf("after 8 parallel writes of different keys: %s keys, want 11", got)
			}
		})
	}
}

func TestNonStringKeyRefused(t *testing.T) {
	gs, _ := gorillastore.New(crumbsStore(t, "cookie"), quiet())
	srv := httptest.NewServer(gorillaApp(gs))
	defer srv.Close()
	c := newClient(t, srv)
	code, body := c.get("/badkey")
	if code != 400 || !strings.Contains(body, "key 42 is a int") {
		t.Fatalf("%d %s", code, body)
	}
	if len(c.cookies()) != 0 {
		t.Error("a refused Save wrote a cookie")
	}
}

// TestMaxAge: a session's Options.MaxAge sets its cookie's lifetime; 0
// makes a browser-session cookie.
func TestMaxAge(t *testing.T) {
	gs, _ := gorillastore.New(crumbsStore(t, "cookie"), quiet())
	for _, tc := range []struct {
		age  int
		want string
	}{{3600, "Max-Age=3600"}, {0, ""}, {gorillastore.DefaultMaxAge, "Max-Age=2592000"}} {
		r := httptest.NewRequest("GET", "http://localhost/", nil)
		w := httptest.NewRecorder()
		s, _ := gs.Get(r, "app")
		s.Values["x"] = 1
		s.Options.MaxAge = tc.age
		if err := s.Save(r, w); err != nil {
			t.Fatal(err)
		}
		line := w.Header().Get("Set-Cookie")
		if tc.want == "" && strings.Contains(line, "Max-Age") || tc.want != "" && !strings.Contains(line, tc.want) {
			t.Errorf("MaxAge %d: %s", tc.age, line)
		}
	}
}

// TestCrumbsRegenerate: the crumbs session behind a gorilla one gives a
// login its new ID.
func TestCrumbsRegenerate(t *testing.T) {
	gs, _ := gorillastore.New(crumbsStore(t, "memory"), quiet())
	r := httptest.NewRequest("GET", "http://localhost/", nil)
	w := httptest.NewRecorder()
	s, _ := gs.Get(r, "app")
	s.Values["user"] = "alice"
	s.Save(r, w)
	first := s.ID
	r2 := httptest.NewRequest("GET", "http://localhost/", nil)
	for _, c := range w.Result().Cookies() {
		r2.AddCookie(c)
	}
	w2 := httptest.NewRecorder()
	s2, _ := gs.Get(r2, "app")
	gs.Crumbs(r2, "app").Regenerate(true)
	if err := s2.Save(r2, w2); err != nil {
		t.Fatal(err)
	}
	if s2.ID == first || s2.Values["user"] != "alice" {
		t.Fatalf("ID %s (was %s), values %v", s2.ID, first, s2.Values)
	}
}

// TestUnchangedMapIsNotRewritten: a request that leaves a map value alone
// does not write it back over a parallel request's change to it (gob's
// encoding of a map varies from one call to the next).
func TestUnchangedMapIsNotRewritten(t *testing.T) {
	gs, _ := gorillastore.New(crumbsStore(t, "memory"), quiet())
	r := httptest.NewRequest("GET", "http://localhost/", nil)
	w := httptest.NewRecorder()
	s, _ := gs.Get(r, "app")
	prefs := map[string]int{}
	for i := range 20 {
		prefs[fmt.Sprint("k", i)] = i
	}
	s.Values["prefs"] = prefs
	if err := s.Save(r, w); err != nil {
		t.Fatal(err)
	}
	req := func() *http.Request {
		r := httptest.NewRequest("GET", "http://localhost/", nil)
		for _, c := range w.Result().Cookies() {
			r.AddCookie(c)
		}
		return r
	}
	ra, rb := req(), req()
	a, _ := gs.Get(ra, "app")
	b, _ := gs.Get(rb, "app")
	a.Values["prefs"].(map[string]int)["k0"] = 99 // changed in place, as gorilla code does
	if err := a.Save(ra, httptest.NewRecorder()); err != nil {
		t.Fatal(err)
	}
	b.Values["user"] = "alice"
	if err := b.Save(rb, httptest.NewRecorder()); err != nil {
		t.Fatal(err)
	}
	r3 := req()
	s3, _ := gs.Get(r3, "app")
	if got := s3.Values["prefs"].(map[string]int)["k0"]; got != 99 || s3.Values["user"] != "alice" {
		t.Fatalf("prefs[k0] = %d (want 99), user %v", got, s3.Values["user"])
	}
}

// TestRememberMe: a session's MaxAge turns a browser-session cookie into a
// persistent one, and each Save restarts it, as gorilla re-stamps its
// cookie on every Save.
func TestRememberMe(t *testing.T) {
	gs, _ := gorillastore.New(crumbsStore(t, "cookie"), quiet())
	if err := gs.SetOptions(sessions.Options{MaxAge: 0}); err != nil {
		t.Fatal(err)
	}
	r := httptest.NewRequest("GET", "http://localhost/", nil)
	w := httptest.NewRecorder()
	s, _ := gs.Get(r, "app")
	s.Values["user"] = "alice"
	s.Options.MaxAge = 30 * 86400
	if err := s.Save(r, w); err != nil {
		t.Fatal(err)
	}
	if line := w.Header().Get("Set-Cookie"); !strings.Contains(line, "Max-Age=2592000") {
		t.Fatalf("remember me: %s", line)
	}
}
