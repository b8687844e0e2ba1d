package app_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/crumbs-go/session"
	"github.com/crumbs-go/session/cookiestore"
	"github.com/crumbs-go/session/devices"
	"github.com/crumbs-go/session/examples/demo/app"
	"github.com/crumbs-go/session/serverstore"
	_ "github.com/crumbs-go/session/serverstore/redisstore"
)

// TestDemoFlows drives the demo with a cookie jar: counter, login, a cart that
// grows into several chunks and shrinks back, a session over the budget, and
// logout.
func TestDemoFlows(t *testing.T) {
	store, err := cookiestore.New([][]byte{[]byte("0123456789abcdef0123456789abcdef")})
	if err != nil {
		t.Fatal(err)
	}
	m, err := session.New(store, session.WithCookieName("demo"), session.WithMaxChunks(3), session.WithErrorHandler(app.ErrorHandler))
	if err != nil {
		t.Fatal(err)
	}
	flows(t, m, nil)
}

// TestDemoServerMode runs the same handlers, unchanged, on each server
// backend chosen by its configuration string.
func TestDemoServerMode(t *testing.T) {
	configs := []string{"memory"}
	if redisUp() {
		configs = append(configs, "redis://127.0.0.1:6379/0?prefix=crumbs-demo-test:"+strconv.FormatInt(time.Now().UnixNano(), 36)+":")
	} else if os.Getenv("CI") != "" {
		t.Fatal("no Redis at 127.0.0.1:6379 (CI=true: the service must run)")
	}
	for _, config := range configs {
		t.Run(strings.SplitN(config, ":", 2)[0], func(t *testing.T) {
			store, err := session.OpenStore(context.Background(), config, [][]byte{[]byte("0123456789abcdef0123456789abcdef")})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() {
				if c, ok := store.(*serverstore.Store).Backend().(serverstore.Clearer); ok {
					c.Clear(context.Background())
				}
			})
			m, err := session.New(store, session.WithCookieName("demo"), session.WithIdentityKey("user"), session.WithErrorHandler(app.ErrorHandler))
			if err != nil {
				t.Fatal(err)
			}
			idx, err := devices.New(store)
			if err != nil {
				t.Fatal(err)
			}
			flows(t, m, idx)
		})
	}
}

func redisUp() bool {
	c, err := net.DialTimeout("tcp", "127.0.0.1:6379", time.Second)
	if err == nil {
		c.Close()
	}
	return err == nil
}

func flows(t *testing.T, m *session.Manager, idx *devices.Index) {
	cookieMode := idx == nil
	srv := httptest.NewServer(m.Handler(app.Handler("demo", idx)))
	defer srv.Close()
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar}
	jar2, _ := cookiejar.New(nil)
	other := &http.Client{Jar: jar2} // the same user, in another browser
	u, _ := url.Parse(srv.URL)
	field := func(page, id string) int {
		t.Helper()
		m := regexp.MustCompile(`id="` + id + `">(\d+)<`).FindStringSubmatch(page)
		if m == nil {
			t.Fatalf("no %s on the page", id)
		}
		n, _ := strconv.Atoi(m[1])
		return n
	}
	get := func() string {
		res, err := c.Get(srv.URL + "/")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(res.Body)
		return string(b)
	}
	pageOf := func(c *http.Client, path string) string {
		res, err := c.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(res.Body)
		return string(b)
	}
	post := func(path string, form url.Values) (int, string) {
		res, err := c.PostForm(srv.URL+path, form)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b)
	}
	get()
	if n := field(get(), "views"); n != 2 {
		t.Fatalf("views = %d, want 2", n)
	}
	if _, page := post("/login", url.Values{"name": {"Ada"}}); !strings.Contains(page, `id="user">Ada<`) {
		t.Fatal("login did not show the user")
	}
	if cookieMode {
		if p := pageOf(c, "/sessions"); !strings.Contains(p, `id="no-index"`) {
			t.Fatalf("cookie mode: the sessions page says %.300q", p)
		}
	} else {
		// The active sessions page: two browsers of Ada's; the first signs
		// the other out.
		if res, err := other.PostForm(srv.URL+"/login", url.Values{"name": {"Ada"}}); err == nil {
			res.Body.Close()
		}
		p := pageOf(c, "/sessions")
		if field(p, "count") != 2 || strings.Count(p, `class="here"`) != 1 {
			t.Fatalf("the sessions page lists %d sessions (%d marked this browser), want 2 (1): %.500q", field(p, "count"), strings.Count(p, `class="here"`), p)
		}
		if _, p := post("/sessions/end-others", nil); field(p, "count") != 1 || !strings.Contains(p, "Signed out 1 other sessions.") {
			t.Fatalf("after signing out everywhere else: %.500q", p)
		}
		if p := pageOf(other, "/"); strings.Contains(p, `id="user"`) {
			t.Fatal("the other browser is still signed in")
		}
		// This device, from the list: signed out, no cookie left.
		h := regexp.MustCompile(`name="handle" value="([^"]+)"`).FindStringSubmatch(pageOf(c, "/sessions"))
		if h == nil {
			t.Fatal("no handle on the page")
		}
		if _, p := post("/sessions/end", url.Values{"handle": {h[1]}}); !strings.Contains(p, `id="signed-out"`) || len(jar.Cookies(u)) != 0 {
			t.Fatalf("signing out this browser from the list left %d cookies: %.300q", len(jar.Cookies(u)), p)
		}
		post("/login", url.Values{"name": {"Ada"}})
	}
	if !cookieMode {
		post("/cart/add", url.Values{"n": {"500"}})
		page := get()
		if field(page, "items") != 500 || field(page, "chunks") != 1 || len(jar.Cookies(u)) != 1 {
			t.Fatalf("server mode: %d items, %d cookies sent, %d in the jar; want 500 items behind one cookie",
				field(page, "items"), field(page, "chunks"), len(jar.Cookies(u)))
		}
		post("/logout", nil)
		if n := len(jar.Cookies(u)); n != 0 {
			t.Fatalf("after logout the browser holds %d cookies", n)
		}
		return
	}
	for len(jar.Cookies(u)) < 3 {
		if code, _ := post("/cart/add", url.Values{"n": {"500"}}); code != http.StatusOK {
			t.Fatalf("adding items: status %d", code)
		}
	}
	page := get()
	if field(page, "chunks") != 3 || field(page, "items") < 1000 {
		t.Fatalf("cart of %d items in %d chunks, want 3 chunks", field(page, "items"), field(page, "chunks"))
	}
	// Over the budget: a clear error page, and the cart is intact.
	code, body := post("/cart/add", url.Values{"n": {"500"}})
	for code == http.StatusOK {
		code, body = post("/cart/add", url.Values{"n": {"500"}})
	}
	if code != http.StatusRequestEntityTooLarge || !strings.Contains(body, "too large") || !strings.Contains(body, "budget") {
		t.Fatalf("over the budget: status %d, body %.200q", code, body)
	}
	before := field(get(), "items")
	post("/cart/clear", nil)
	if n := len(jar.Cookies(u)); n != 1 {
		t.Fatalf("after emptying the cart the browser holds %d cookies, want 1", n)
	}
	if before < 1000 {
		t.Fatalf("the cart lost its items after the failed save: %d", before)
	}
	post("/logout", nil)
	if n := len(jar.Cookies(u)); n != 0 {
		t.Fatalf("after logout the browser holds %d cookies", n)
	}
}

// TestDemoCookieModeRevocation: in cookie mode with a revocation store
// (memory, and Redis), the sessions page signs out every other browser of
// the user, and this one, and copies of their cookies stop working.
func TestDemoCookieModeRevocation(t *testing.T) {
	backends := map[string]string{"memory": "memory"}
	if redisUp() {
		backends["redis"] = "redis://127.0.0.1:6379/0?prefix=crumbs-demo-rev-test:" + strconv.FormatInt(time.Now().UnixNano(), 36) + ":"
	} else if os.Getenv("CI") != "" {
		t.Fatal("no Redis at 127.0.0.1:6379 (CI=true: the service must run)")
	}
	secrets := [][]byte{[]byte("0123456789abcdef0123456789abcdef")}
	for name, config := range backends {
		t.Run(name, func(t *testing.T) {
			srvStore, err := session.OpenStore(context.Background(), config, secrets)
			if err != nil {
				t.Fatal(err)
			}
			b := srvStore.(*serverstore.Store).Backend()
			t.Cleanup(func() {
				if c, ok := b.(serverstore.Clearer); ok {
					c.Clear(context.Background())
				}
			})
			store, err := cookiestore.New(secrets, cookiestore.WithRevocation(b), cookiestore.WithCheckInterval(0))
			if err != nil {
				t.Fatal(err)
			}
			m, err := session.New(store, session.WithCookieName("demo"), session.WithIdentityKey("user"), session.WithErrorHandler(app.ErrorHandler))
			if err != nil {
				t.Fatal(err)
			}
			idx, err := devices.New(store)
			if err != nil {
				t.Fatal(err)
			}
			srv := httptest.NewServer(m.Handler(app.Handler("demo", idx)))
			defer srv.Close()
			u, _ := url.Parse(srv.URL)
			browser := func() *http.Client { jar, _ := cookiejar.New(nil); return &http.Client{Jar: jar} }
			page := func(c *http.Client, method, path string) string {
				t.Helper()
				var res *http.Response
				var err error
				if method == "POST" {
					res, err = c.PostForm(srv.URL+path, url.Values{"name": {"Ada"}})
				} else {
					res, err = c.Get(srv.URL + path)
				}
				if err != nil {
					t.Fatal(err)
				}
				defer res.Body.Close()
				b, _ := io.ReadAll(res.Body)
				return string(b)
			}
			signedIn := func(c *http.Client) bool { return strings.Contains(page(c, "GET", "/"), `id="user">Ada<`) }
			a, other := browser(), browser()
			page(a, "POST", "/login")
			page(other, "POST", "/login")
			copied := browser()
			copied.Jar.SetCookies(u, other.Jar.Cookies(u))
			if !signedIn(a) || !signedIn(other) || !signedIn(copied) {
				t.Fatal("not signed in")
			}
			p := page(a, "GET", "/sessions")
			if !strings.Contains(p, `class="here"`) || !strings.Contains(p, `id="end-others"`) || strings.Contains(p, `id="no-index"`) {
				t.Fatalf("the cookie-mode sessions page: %.600q", p)
			}
			if p := page(a, "POST", "/sessions/end-others"); !strings.Contains(p, "Signed out every other session") {
				t.Fatalf("after signing out everywhere else: %.600q", p)
			}
			if signedIn(other) || signedIn(copied) {
				t.Fatal("another browser, or a copy of its cookie, is still signed in after 'sign out everywhere else'")
			}
			if !signedIn(a) {
				t.Fatal("this browser was signed out by 'sign out everywhere else'")
			}
			mine := browser()
			mine.Jar.SetCookies(u, a.Jar.Cookies(u))
			h := regexp.MustCompile(`name="handle" value="([^"]+)"`).FindStringSubmatch(page(a, "GET", "/sessions"))
			if h == nil {
				t.Fatal("no handle on the page")
			}
			res, err := a.PostForm(srv.URL+"/sessions/end", url.Values{"handle": {h[1]}})
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
			if signedIn(a) || signedIn(mine) {
				t.Fatal("this browser, or a copy of its cookie, is still signed in after 'sign out'")
			}
		})
	}
}
