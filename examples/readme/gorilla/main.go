// Command gorilla is the README's migration from gorilla/sessions: the
// handlers keep gorilla's API, the store becomes crumbs', and the cookies
// the old CookieStore wrote ("app", under GORILLA_HASH_KEY) open as crumbs
// sessions on the users' next request.
package main

import (
	"cmp"
	"fmt"
	"log"
	"net/http"
	"os"

	"github.com/crumbs-go/session"
	"github.com/crumbs-go/session/adapters/gorillastore"
	"github.com/crumbs-go/session/cookiestore"
	"github.com/crumbs-go/session/migrate"
)

func main() {
	secrets, err := session.ParseSecrets(os.Getenv("SESSION_SECRETS"))
	if err != nil {
		log.Fatal(err)
	}
	crumbs, err := cookiestore.New(secrets)
	if err != nil {
		log.Fatal(err)
	}
	// readme:begin
	hashKey := os.Getenv("GORILLA_HASH_KEY") // the key given to sessions.NewCookieStore
	if hashKey == "" {
		log.Fatal("set GORILLA_HASH_KEY to the hash key of the app's sessions.NewCookieStore")
	}
	old, err := migrate.FromGorilla(migrate.Gorilla{Name: "app", KeyPairs: [][]byte{[]byte(hashKey)}})
	if err != nil {
		log.Fatal("GORILLA_HASH_KEY: ", err)
	}
	// was: store := sessions.NewCookieStore(hashKey)
	store, err := gorillastore.New(crumbs, session.WithImport(old))
	// readme:end
	if err != nil {
		log.Fatal(err)
	}
	http.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		s, _ := store.Get(r, "app") // gorilla's API, unchanged
		n, _ := s.Values["views"].(int)
		s.Values["views"] = n + 1
		if err := s.Save(r, w); err != nil {
			http.Error(w, "could not save the session", http.StatusInternalServerError)
			return
		}
		fmt.Fprintf(w, "views=%d\n", n+1)
	})
	log.Fatal(http.ListenAndServe(cmp.Or(os.Getenv("ADDR"), "127.0.0.1:8080"), nil))
}
