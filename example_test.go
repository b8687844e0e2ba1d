package session_test

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"sync"

	"github.com/crumbs-go/session"
	"github.com/crumbs-go/session/cookiestore"
	"github.com/crumbs-go/session/serverstore"
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

// Update is a read-modify-write of one key that parallel requests cannot
// lose: in server mode, a commit that meets another request's change of the
// key re-runs the function on the newer value.
func ExampleUpdate() {
	store, _ := serverstore.New(serverstore.NewMemory(), [][]byte{bytes.Repeat([]byte("k"), 32)})
	m, _ := session.New(store)
	h := m.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		views, err := session.Update(session.From(r), "views", func(n int) int { return n + 1 })
		if err != nil {
			http.Error(w, "bad views", http.StatusInternalServerError)
			return
		}
		fmt.Fprint(w, views)
	}))

	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest("GET", "/", nil))
	cookie := w.Result().Cookies()[0]
	var wg sync.WaitGroup
	for range 20 { // twenty parallel requests of one browser
		wg.Go(func() {
			r := httptest.NewRequest("GET", "/", nil)
			r.AddCookie(cookie)
			h.ServeHTTP(httptest.NewRecorder(), r)
		})
	}
	wg.Wait()
	r := httptest.NewRequest("GET", "/", nil)
	r.AddCookie(cookie)
	w = httptest.NewRecorder()
	h.ServeHTTP(w, r)
	fmt.Println("views:", w.Body.String())
	// Output:
	// views: 22
}

// WithHeaderToken serves API and mobile clients: the token travels in
// Authorization: Bearer, and comes back in Session-Token when it changes.
func ExampleWithHeaderToken() {
	store, _ := cookiestore.New([][]byte{bytes.Repeat([]byte("k"), 32)})
	m, _ := session.New(store, session.WithHeaderToken("", ""))
	api := m.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s := session.From(r)
		if r.Method == "POST" {
			s.Regenerate(false)
			s.Set("user", "ada")
		}
		user, _ := session.Get[string](s, "user")
		fmt.Fprint(w, user)
	}))

	w := httptest.NewRecorder()
	api.ServeHTTP(w, httptest.NewRequest("POST", "/login", nil))
	token := w.Result().Header.Get("Session-Token") // the client keeps it

	r := httptest.NewRequest("GET", "/me", nil)
	r.Header.Set("Authorization", "Bearer "+token)
	w = httptest.NewRecorder()
	api.ServeHTTP(w, r)
	fmt.Println(w.Body.String(), w.Result().Header.Get("Vary"))
	// Output:
	// ada Authorization
}

// Load and Commit carry a session without HTTP: here a job that counts the
// work it did for a user, between two runs.
func ExampleManager_Load() {
	store, _ := cookiestore.New([][]byte{bytes.Repeat([]byte("k"), 32)})
	m, _ := session.New(store)
	ctx := context.Background()

	token := ""
	for range 3 {
		s, err := m.Load(ctx, token) // "" or an invalid token: a fresh session
		if err != nil {
			panic(err) // a store failure
		}
		session.Update(s, "runs", func(n int) int { return n + 1 })
		if token, _, err = s.Commit(); err != nil {
			panic(err)
		}
	}
	s, _ := m.Load(ctx, token)
	runs, _ := session.Get[int](s, "runs")
	fmt.Println("runs:", runs)
	// Output:
	// runs: 3
}

// ParseSecrets reads the secrets from where an application keeps them, an
// environment variable here: the newest first. These two encode readable
// text, for the example; make real ones with `openssl rand -base64 32`.
func ExampleParseSecrets() {
	os.Setenv("SESSION_SECRETS", "bmV3LXNlY3JldC1ieXRlcy0wMTIzNDU2Nzg5YWJjZGVm,b2xkLXNlY3JldC1ieXRlcy0wMTIzNDU2Nzg5YWJjZGVm")
	secrets, err := session.ParseSecrets(os.Getenv("SESSION_SECRETS"))
	if err != nil {
		fmt.Println(err)
		return
	}
	store, err := cookiestore.New(secrets)
	if err != nil {
		fmt.Println(err)
		return
	}
	_, err = session.New(store)
	fmt.Println(len(secrets), "secrets, the first seals:", err == nil)

	_, err = session.ParseSecrets("c2hvcnQ=")
	fmt.Println(err)
	// Output:
	// 2 secrets, the first seals: true
	// session: secret 1 of the list is 5 bytes once decoded; a secret needs 32 or more (generate one with: openssl rand -base64 32)
}

// A stricter cookie for an administrator's session: WithCookie sets every
// session's attributes, SetCookie one session's, saved with it.
func ExampleSession_SetCookie() {
	store, _ := cookiestore.New([][]byte{bytes.Repeat([]byte("k"), 32)}) // load real secrets from a vault
	m, _ := session.New(store, session.WithCookie(session.Cookie{SameSite: http.SameSiteLaxMode}))
	h := m.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s := session.From(r)
		s.Set("user", "root")
		if err := s.SetCookie(session.Cookie{SameSite: http.SameSiteStrictMode, Secure: session.SecureAlways}); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
		}
	}))
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest("POST", "https://example.com/admin/login", nil))
	c := w.Result().Cookies()[0]
	fmt.Println(c.SameSite == http.SameSiteStrictMode, c.Secure, c.HttpOnly)
	// Output: true true true
}

func ExampleWithIdentityKey() {
	backend := serverstore.NewMemory()
	store, _ := serverstore.New(backend, [][]byte{bytes.Repeat([]byte("k"), 32)}) // load real secrets from a vault
	m, _ := session.New(store, session.WithIdentityKey("user"))
	var ids []string
	h := m.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s := session.From(r)
		if r.URL.Path == "/login" {
			s.Set("user", "ada") // no Regenerate: the commit rotates the ID
		} else {
			s.Set("cart", 3)
		}
		ids = append(ids, s.ID())
	}))
	var cookie *http.Cookie
	for _, path := range []string{"/cart", "/login", "/"} {
		r := httptest.NewRequest("POST", "https://example.com"+path, nil)
		if cookie != nil {
			r.AddCookie(cookie)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if c := w.Result().Cookies(); len(c) > 0 {
			cookie = c[0]
		}
	}
	// The login request saw the anonymous ID; the next one has a new one.
	fmt.Println(ids[0] == ids[1], ids[1] != ids[2])
	// Output: true true
}
