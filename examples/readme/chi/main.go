// Command chi is the README's chi example: chi takes the Manager's
// net/http middleware as it is.
package main

import (
	"cmp"
	"fmt"
	"log"
	"net/http"
	"os"

	"github.com/go-chi/chi/v5"

	"github.com/crumbs-go/session"
	"github.com/crumbs-go/session/cookiestore"
)

func main() {
	m := manager()
	r := chi.NewRouter()
	// readme:begin
	r.Use(m.Handler)
	r.Get("/", func(w http.ResponseWriter, r *http.Request) {
		views, _ := session.Update(session.From(r), "views", func(n int) int { return n + 1 })
		fmt.Fprintf(w, "views=%d\n", views)
	})
	// readme:end
	log.Fatal(http.ListenAndServe(cmp.Or(os.Getenv("ADDR"), "127.0.0.1:8080"), r))
}

func manager() *session.Manager {
	secrets, err := session.ParseSecrets(os.Getenv("SESSION_SECRETS"))
	if err != nil {
		log.Fatal(err)
	}
	store, err := cookiestore.New(secrets)
	if err != nil {
		log.Fatal(err)
	}
	m, err := session.New(store)
	if err != nil {
		log.Fatal(err)
	}
	return m
}
