package cookiestore_test

import (
	"bytes"
	"fmt"
	"net/http"
	"net/http/httptest"

	"github.com/crumbs-go/session"
	"github.com/crumbs-go/session/cookiestore"
	"github.com/crumbs-go/session/serverstore"
)

func ExampleNew() {
	// Load real secrets from a vault: at least 32 random bytes each. The
	// first seals; the others only open, during a rotation.
	store, err := cookiestore.New([][]byte{bytes.Repeat([]byte("k"), 32)})
	if err != nil {
		panic(err)
	}
	m, err := session.New(store)
	if err != nil {
		panic(err)
	}
	views := m.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s := session.From(r)
		n, _ := session.Get[int](s, "views")
		s.Set("views", n+1)
		fmt.Fprintf(w, "views: %d", n+1)
	}))

	var cookies []*http.Cookie
	for range 3 {
		r := httptest.NewRequest("GET", "/", nil)
		for _, c := range cookies {
			r.AddCookie(c)
		}
		w := httptest.NewRecorder()
		views.ServeHTTP(w, r)
		cookies = nil
		for _, c := range w.Result().Cookies() {
			if c.MaxAge >= 0 { // leave out the chunk cookies it expires
				cookies = append(cookies, c)
			}
		}
		fmt.Println(w.Body.String(), len(cookies), "cookie")
	}
	// Output:
	// views: 1 1 cookie
	// views: 2 1 cookie
	// views: 3 1 cookie
}

// ExampleWithRevocation: a copy of a signed-in cookie stops working once
// the user signs out. The revocation backend is memory here; several
// instances share a Redis or PostgreSQL backend.
func ExampleWithRevocation() {
	store, err := cookiestore.New([][]byte{bytes.Repeat([]byte("k"), 32)},
		cookiestore.WithRevocation(serverstore.NewMemory()),
		cookiestore.WithCheckInterval(0)) // every request; the default is a minute
	if err != nil {
		panic(err)
	}
	m, err := session.New(store, session.WithIdentityKey("user"))
	if err != nil {
		panic(err)
	}
	h := m.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s := session.From(r)
		switch r.URL.Path {
		case "/login":
			s.Set("user", "ada") // binds the session to ada, with a new ID
		case "/logout":
			s.Destroy() // recorded in the revocation backend
		}
		user, _ := session.Get[string](s, "user")
		fmt.Fprintf(w, "user=%q", user)
	}))
	get := func(path string, c *http.Cookie) (string, *http.Cookie) {
		r := httptest.NewRequest("GET", "http://localhost"+path, nil)
		if c != nil {
			r.AddCookie(c)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		for _, set := range w.Result().Cookies() {
			c = set
		}
		return w.Body.String(), c
	}
	_, cookie := get("/login", nil)
	stolen := cookie
	body, _ := get("/", stolen)
	fmt.Println("copy before the sign-out:", body)
	get("/logout", cookie)
	body, _ = get("/", stolen)
	fmt.Println("copy after the sign-out:", body)
	// Output:
	// copy before the sign-out: user="ada"
	// copy after the sign-out: user=""
}
