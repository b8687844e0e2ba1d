// Command quickstart is the README's first example: cookie mode, nothing
// stored on the server.
package main

import (
	"cmp"
	"fmt"
	"log"
	"net/http"
	"os"
	"time"

	"github.com/crumbs-go/session"
	"github.com/crumbs-go/session/cookiestore"
)

func main() {
	// Comma-separated base64 secrets, newest first: openssl rand -base64 32
	secrets, err := session.ParseSecrets(os.Getenv("SESSION_SECRETS"))
	if err != nil {
		log.Fatal(err)
	}
	store, err := cookiestore.New(secrets)
	if err != nil {
		log.Fatal(err)
	}
	m, err := session.New(store, session.WithIdleTimeout(30*time.Minute))
	if err != nil {
		log.Fatal(err)
	}

	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		s := session.From(r)
		views, _ := session.Update(s, "views", func(n int) int { return n + 1 })
		user, _ := session.Get[string](s, "user") // typed, no registration
		fmt.Fprintf(w, "views=%d user=%s\n", views, user)
	})
	mux.HandleFunc("POST /login", func(w http.ResponseWriter, r *http.Request) {
		s := session.From(r)
		s.Regenerate(true) // a new ID at every privilege change; keep the values
		s.Set("user", r.FormValue("name"))
		http.Redirect(w, r, "/", http.StatusSeeOther)
	})
	mux.HandleFunc("POST /logout", func(w http.ResponseWriter, r *http.Request) {
		session.From(r).Destroy()
		http.Redirect(w, r, "/", http.StatusSeeOther)
	})
	log.Fatal(http.ListenAndServe(cmp.Or(os.Getenv("ADDR"), "127.0.0.1:8080"), m.Handler(mux)))
}
