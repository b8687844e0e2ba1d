package serverstore_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/crumbs-go/session"
	"github.com/crumbs-go/session/serverstore"
	"github.com/crumbs-go/session/serverstore/storetest"
)

func TestMemoryConformance(t *testing.T) {
	storetest.RunClocked(t, func(t *testing.T, now func() time.Time) serverstore.Backend {
		return serverstore.NewMemory(serverstore.WithClock(now))
	})
}

// TestMemoryEvictsUnusedFirst: at capacity, the least recently created
// session that no later request used goes first, whatever its deadline.
func TestMemoryEvictsUnusedFirst(t *testing.T) {
	m := serverstore.NewMemory(serverstore.WithMaxEntries(3))
	ctx := context.Background()
	now := time.Now()
	create := func(key string, d time.Duration) {
		t.Helper()
		if err := m.Create(ctx, key, &serverstore.Entry{}, now.Add(d)); err != nil {
			t.Fatal(err)
		}
	}
	create("a", time.Hour) // expires soonest, but used again
	create("b", 3*time.Hour)
	create("c", 2*time.Hour)
	if _, err := m.Get(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	create("d", 4*time.Hour) // evicts b
	create("e", 4*time.Hour) // evicts c
	if n, _ := m.Count(ctx); n != 3 {
		t.Fatalf("Count = %d, want the bound 3", n)
	}
	for _, k := range []string{"b", "c"} {
		if _, err := m.Get(ctx, k); !errors.Is(err, serverstore.ErrNotFound) {
			t.Errorf("Get(%s) = %v: an unused session survived while a used one was there", k, err)
		}
	}
	for _, k := range []string{"a", "d", "e"} {
		if _, err := m.Get(ctx, k); err != nil {
			t.Errorf("Get(%s) = %v", k, err)
		}
	}
}

// TestMemoryChurnKeepsSignedInUsers: at capacity, anonymous one-request
// sessions (bots, first visits) are evicted before sessions used again, and
// those before signed-in ones (a Regenerate's successor); a login's
// tombstone outlives the churn, so a request still carrying the pre-login
// cookie does not sign the user out. With the Manager's defaults, through
// real HTTP.
func TestMemoryChurnKeepsSignedInUsers(t *testing.T) {
	const max = 100
	store, err := serverstore.New(serverstore.NewMemory(serverstore.WithMaxEntries(max)), [][]byte{bytes.Repeat([]byte("k"), 32)})
	if err != nil {
		t.Fatal(err)
	}
	m, err := session.New(store, session.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		s := session.From(r)
		views, _ := session.Update(s, "views", func(n int) int { return n + 1 })
		user, _ := session.Get[string](s, "user")
		fmt.Fprintf(w, "views=%d user=%s", views, user)
	})
	mux.HandleFunc("POST /login", func(w http.ResponseWriter, r *http.Request) {
		s := session.From(r)
		s.Regenerate(true)
		s.Set("user", "ada")
	})
	srv := httptest.NewServer(m.Handler(mux))
	defer srv.Close()
	u, _ := url.Parse(srv.URL)
	get := func(c *http.Client, req *http.Request) (string, *http.Response) {
		t.Helper()
		res, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return string(b), res
	}
	browser := func() *http.Client {
		jar, _ := cookiejar.New(nil)
		return &http.Client{Jar: jar}
	}
	page := func() *http.Request { r, _ := http.NewRequest("GET", srv.URL+"/", nil); return r }

	ada, bob := browser(), browser()
	get(ada, page())
	preLogin := ada.Jar.Cookies(u)
	login, _ := http.NewRequest("POST", srv.URL+"/login", nil)
	get(ada, login)
	get(bob, page())
	get(bob, page()) // an anonymous visitor who comes back
	for range 10 * max {
		get(http.DefaultClient, page()) // a bot: one request, no cookie jar
	}
	// A request sent before the login's response arrived, carrying the
	// pre-login cookie; its response reaches Ada's browser last.
	late := page()
	for _, c := range preLogin {
		late.AddCookie(c)
	}
	_, res := get(http.DefaultClient, late)
	ada.Jar.SetCookies(u, res.Cookies())

	if got, _ := get(ada, page()); !strings.HasSuffix(got, "user=ada") {
		t.Errorf("after %d anonymous sessions, the signed-in user sees %q", 10*max, got)
	}
	if got, _ := get(bob, page()); got != "views=3 user=" {
		t.Errorf("after %d anonymous sessions, the returning visitor sees %q, want views=3", 10*max, got)
	}
}

// TestMemoryLoginAtCapacity: a store full of signed-in users still lets
// the next user sign in: the login's own session (used by this very
// request) is not the one evicted to make room for its new ID (found by
// review: every login after the store filled with signed-in sessions was
// dropped).
func TestMemoryLoginAtCapacity(t *testing.T) {
	mem := serverstore.NewMemory(serverstore.WithMaxEntries(3))
	st, err := serverstore.New(mem, [][]byte{bytes.Repeat([]byte("k"), 32)})
	if err != nil {
		t.Fatal(err)
	}
	m, err := session.New(st, session.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(m.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s := session.From(r)
		switch r.URL.Path {
		case "/form": // the login page stores a CSRF token
			s.Set("csrf", "x")
		case "/login":
			s.Regenerate(true)
			s.Set("user", r.URL.Query().Get("u"))
		}
		fmt.Fprintf(w, "user=%v", s.Get("user"))
	})))
	defer srv.Close()
	for _, u := range []string{"ada", "bob", "cy", "dee", "eve"} {
		jar, _ := cookiejar.New(nil)
		c := &http.Client{Jar: jar}
		var got string
		for _, p := range []string{"/form", "/login?u=" + u, "/me"} {
			res, err := c.Get(srv.URL + p)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(res.Body)
			res.Body.Close()
			got = string(b)
		}
		if got != "user="+u {
			t.Errorf("the login of %s did not hold: %s", u, got)
		}
	}
}
