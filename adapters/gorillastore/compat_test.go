package gorillastore_test

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	ginsessions "github.com/gin-contrib/sessions"
	"github.com/gin-gonic/gin"
	"github.com/gorilla/sessions"
	echosession "github.com/labstack/echo-contrib/session"
	"github.com/labstack/echo/v4"

	"github.com/crumbs-go/session"
	"github.com/crumbs-go/session/adapters/gorillastore"
	"github.com/crumbs-go/session/adapters/gorillastore/gincontrib"
	"github.com/crumbs-go/session/migrate"
)

// TestEchoContrib: an echo v4 application on echo-contrib/session changes
// only its store.
func TestEchoContrib(t *testing.T) {
	for _, mode := range modes(t) {
		t.Run(mode, func(t *testing.T) {
			gs, err := gorillastore.New(crumbsStore(t, mode), quiet())
			if err != nil {
				t.Fatal(err)
			}
			e := echo.New()
			e.Use(echosession.Middleware(gs))
			e.GET("/login", func(c echo.Context) error {
				s, err := echosession.Get("app", c)
				if err != nil {
					return err
				}
				s.Values["user"] = User{Name: "alice"}
				if err := s.Save(c.Request(), c.Response()); err != nil {
					return err
				}
				return c.String(200, "ok")
			})
			e.GET("/show", func(c echo.Context) error {
				s, err := echosession.Get("app", c)
				if err != nil {
					return err
				}
				u, _ := s.Values["user"].(User)
				return c.String(200, "user="+u.Name)
			})
			srv := httptest.NewServer(e)
			defer srv.Close()
			c := newClient(t, srv)
			c.get("/login")
			if _, got := c.get("/show"); got != "user=alice" {
				t.Fatalf("got %q", got)
			}
		})
	}
}

// TestGinContrib: a gin application on gin-contrib/sessions changes only
// its store; its Options reach the cookie.
func TestGinContrib(t *testing.T) {
	gin.SetMode(gin.ReleaseMode)
	for _, mode := range modes(t) {
		t.Run(mode, func(t *testing.T) {
			gs, err := gorillastore.New(crumbsStore(t, mode), quiet())
			if err != nil {
				t.Fatal(err)
			}
			store := gincontrib.Store(gs)
			store.Options(ginsessions.Options{Path: "/", MaxAge: 3600})
			r := gin.New()
			r.Use(ginsessions.Sessions("app", store))
			r.GET("/login", func(c *gin.Context) {
				s := ginsessions.Default(c)
				s.Set("user", User{Name: "alice"})
				s.Set("count", 1)
				if err := s.Save(); err != nil {
					c.String(500, err.Error())
					return
				}
				c.String(200, "ok")
			})
			r.GET("/show", func(c *gin.Context) {
				s := ginsessions.Default(c)
				u, _ := s.Get("user").(User)
				n, _ := s.Get("count").(int)
				s.Set("count", n+1)
				s.Save()
				c.String(200, "user=%s count=%d", u.Name, n)
			})
			srv := httptest.NewServer(r)
			defer srv.Close()
			c := newClient(t, srv)
			res, err := c.c.Get(srv.URL + "/login")
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
			line := res.Header.Get("Set-Cookie")
			if !strings.Contains(line, "Max-Age=3600") || !strings.Contains(line, "HttpOnly") {
				t.Errorf("Options did not reach the cookie: %s", line)
			}
			for i := range 2 {
				if _, got := c.get("/show"); got != "user=alice count="+string(rune('1'+i)) {
					t.Fatalf("read %d: %q", i, got)
				}
			}
		})
	}
}

// TestFromRealGorillaCookieStore: cookies minted by the real
// gorilla/sessions CookieStore open as crumbs sessions with equal values,
// through migrate.FromGorilla, whether the application moves to crumbs'
// own API or to this Store under the same cookie name; a cookie of
// another key is rejected.
func TestFromRealGorillaCookieStore(t *testing.T) {
	hash, block := []byte("hash-key-0123456789abcdef0123456789abcdef"), []byte("block-key-0123456789abcdef012345")
	old := sessions.NewCookieStore(hash, block)
	mint := func(s *sessions.CookieStore) []*http.Cookie {
		r := httptest.NewRequest("GET", "http://localhost/", nil)
		w := httptest.NewRecorder()
		gsess, _ := s.Get(r, "app")
		gsess.Values["user"] = User{Name: "alice", Admin: true}
		gsess.Values["visits"] = 41
		gsess.AddFlash("hello")
		if err := gsess.Save(r, w); err != nil {
			t.Fatal(err)
		}
		return w.Result().Cookies()
	}
	im, err := migrate.FromGorilla(migrate.Gorilla{Name: "app", KeyPairs: [][]byte{hash, block}})
	if err != nil {
		t.Fatal(err)
	}
	for _, mode := range modes(t) {
		t.Run(mode, func(t *testing.T) {
			gs, err := gorillastore.New(crumbsStore(t, mode), quiet(), session.WithImport(im))
			if err != nil {
				t.Fatal(err)
			}
			srv := httptest.NewServer(gorillaApp(gs))
			defer srv.Close()
			c := newClient(t, srv)
			u, _ := url.Parse(srv.URL)
			c.c.Jar.SetCookies(u, mint(old))
			if _, got := c.get("/show"); got != "user=alice admin=true visits=41 flashes=[hello] new=false" {
				t.Fatalf("the migrated session: %s", got)
			}
			if _, got := c.get("/show"); got != "user=alice admin=true visits=42 flashes=[] new=false" {
				t.Fatalf("as a crumbs session: %s", got)
			}
			if n := gs.Migrations()["gorilla/sessions"]; n != 1 {
				t.Errorf("Migrations = %d, want 1", n)
			}
			// A cookie of another application's key opens nothing.
			other := newClient(t, srv)
			other.c.Jar.SetCookies(u, mint(sessions.NewCookieStore([]byte("another-hash-key-0123456789abcdef"))))
			if _, got := other.get("/show"); !strings.HasSuffix(got, "new=true") {
				t.Fatalf("a cookie under another key: %s", got)
			}
		})
	}
}
