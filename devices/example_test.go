package devices_test

import (
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"

	"github.com/crumbs-go/session"
	"github.com/crumbs-go/session/devices"
	"github.com/crumbs-go/session/serverstore"
)

// An "active sessions" page: sign in from two browsers, list, sign out
// everywhere else.
func Example() {
	secret := make([]byte, 32)
	rand.Read(secret) // in an application: session.ParseSecrets(os.Getenv(…))
	store, err := serverstore.New(serverstore.NewMemory(), [][]byte{secret})
	if err != nil {
		panic(err)
	}
	// Setting "user" at sign-in regenerates the session and binds it.
	m, err := session.New(store, session.WithIdentityKey("user"))
	if err != nil {
		panic(err)
	}
	idx, err := devices.New(store)
	if err != nil {
		panic(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /login", func(w http.ResponseWriter, r *http.Request) {
		session.From(r).Set("user", "ada") // after checking the password
	})
	mux.HandleFunc("GET /sessions", func(w http.ResponseWriter, r *http.Request) {
		s := session.From(r)
		user, ok := session.Get[string](s, "user")
		if !ok {
			http.Error(w, "sign in first", http.StatusUnauthorized)
			return
		}
		list, err := idx.List(r.Context(), user)
		if err != nil {
			http.Error(w, "try again later", http.StatusServiceUnavailable)
			return
		}
		for _, d := range list {
			fmt.Fprintf(w, "signed in %s, this device: %v\n", d.Created.Format("Jan 2"), d.Handle == idx.Handle(s))
		}
	})
	mux.HandleFunc("POST /sessions/end-others", func(w http.ResponseWriter, r *http.Request) {
		s := session.From(r)
		user, ok := session.Get[string](s, "user")
		if !ok {
			http.Error(w, "sign in first", http.StatusUnauthorized)
			return
		}
		n, err := idx.EndAll(r.Context(), user, idx.Handle(s))
		if err != nil {
			http.Error(w, "try again later", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintf(w, "signed out %d other sessions\n", n)
	})
	h := m.Handler(mux)

	// Two browsers sign in; the first looks at its sessions, then ends the other.
	send := func(method, path, cookie string) (string, string) {
		r := httptest.NewRequest(method, "http://localhost"+path, nil)
		if cookie != "" {
			r.Header.Set("Cookie", cookie)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		for _, c := range w.Result().Cookies() {
			cookie = c.Name + "=" + c.Value
		}
		body, _ := io.ReadAll(w.Result().Body)
		return cookie, string(body)
	}
	laptop, _ := send("POST", "/login", "")
	phone, _ := send("POST", "/login", "")
	_, page := send("GET", "/sessions", laptop)
	fmt.Print(len(page) > 0, "\n")
	_, done := send("POST", "/sessions/end-others", laptop)
	fmt.Print(done)
	list, _ := idx.List(context.Background(), "ada")
	fmt.Println(len(list), "session left")
	_, page = send("GET", "/sessions", phone)
	fmt.Printf("the phone's page: %q\n", page)
	// Output:
	// true
	// signed out 1 other sessions
	// 1 session left
	// the phone's page: "sign in first\n"
}
