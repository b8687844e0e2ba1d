package session_test

import (
	"bytes"
	"fmt"
	"net/http"
	"net/http/httptest"

	"github.com/crumbs-go/session"
	"github.com/crumbs-go/session/cookiestore"
)

func ExampleManager_Handler() {
	store, _ := cookiestore.New([][]byte{bytes.Repeat([]byte("k"), 32)}) // load real secrets from a vault
	m, _ := session.New(store)

	mux := http.NewServeMux()
	mux.HandleFunc("POST /login", func(w http.ResponseWriter, r *http.Request) {
		s := session.From(r)
		s.Regenerate(false) // a new ID at every privilege change
		s.Set("user", "ada")
		s.AddFlash("Welcome back")
		http.Redirect(w, r, "/", http.StatusSeeOther)
	})
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		s := session.From(r)
		user, ok := session.Get[string](s, "user")
		fmt.Fprintln(w, user, ok, s.Flashes())
	})
	h := m.Handler(mux)

	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest("POST", "/login", nil))
	r := httptest.NewRequest("GET", "/", nil)
	for _, c := range w.Result().Cookies() {
		if c.MaxAge >= 0 {
			r.AddCookie(c)
		}
	}
	w = httptest.NewRecorder()
	h.ServeHTTP(w, r)
	fmt.Print(w.Body.String())
	// Output:
	// ada true [Welcome back]
}

func Example_keyRotation() {
	oldSecret := bytes.Repeat([]byte("o"), 32) // load real secrets from a vault
	newSecret := bytes.Repeat([]byte("n"), 32)
	handler := func(w http.ResponseWriter, r *http.Request) {
		s := session.From(r)
		n, _ := session.Get[int](s, "n")
		if r.Method == "POST" {
			s.Set("n", n+1)
		}
		fmt.Println("n =", n)
	}
	serve := func(secrets [][]byte, method string, cookies []*http.Cookie) []*http.Cookie {
		store, _ := cookiestore.New(secrets)
		m, _ := session.New(store)
		r := httptest.NewRequest(method, "/", nil)
		for _, c := range cookies {
			r.AddCookie(c)
		}
		w := httptest.NewRecorder()
		m.Handler(http.HandlerFunc(handler)).ServeHTTP(w, r)
		var out []*http.Cookie
		for _, c := range w.Result().Cookies() {
			if c.MaxAge >= 0 {
				out = append(out, c)
			}
		}
		return out
	}
	c := serve([][]byte{oldSecret}, "POST", nil)
	// Deploy the new secret first, the old one second: the session opens,
	// and the response re-seals it under the new secret, unasked.
	resealed := serve([][]byte{newSecret, oldSecret}, "GET", c)
	fmt.Println("re-sealed:", len(resealed) == 1)
	// Later, drop the old secret: the re-sealed cookie still opens.
	serve([][]byte{newSecret}, "GET", resealed)
	// Output:
	// n = 0
	// n = 1
	// re-sealed: true
	// n = 1
}
