// Command cookiesession is the README's migration from Node's
// cookie-session: the Go service reads the session and session.sig cookies
// the Node app signed with its keys (COOKIE_SESSION_KEYS, comma-separated)
// and replaces them with a crumbs cookie.
package main

import (
	"cmp"
	"fmt"
	"log"
	"net/http"
	"os"
	"strings"

	"github.com/crumbs-go/session"
	"github.com/crumbs-go/session/cookiestore"
	"github.com/crumbs-go/session/migrate"
)

func main() {
	secrets, err := session.ParseSecrets(os.Getenv("SESSION_SECRETS"))
	if err != nil {
		log.Fatal(err)
	}
	store, err := cookiestore.New(secrets)
	if err != nil {
		log.Fatal(err)
	}
	// readme:begin
	keys := os.Getenv("COOKIE_SESSION_KEYS") // the Node app's keys, comma-separated, in its order
	if keys == "" {
		log.Fatal("set COOKIE_SESSION_KEYS to the keys of the Node app's cookieSession({keys})")
	}
	old, err := migrate.FromCookieSession(migrate.CookieSession{Keys: strings.Split(keys, ",")})
	if err != nil {
		log.Fatal("COOKIE_SESSION_KEYS: ", err)
	}
	m, err := session.New(store, session.WithImport(old))
	// readme:end
	if err != nil {
		log.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		s := session.From(r)
		user, _ := session.Get[string](s, "user") // what the Node app stored
		views, _ := session.Update(s, "views", func(n int) int { return n + 1 })
		if user != "" {
			fmt.Fprintf(w, "views=%d user=%s\n", views, user)
			return
		}
		fmt.Fprintf(w, "views=%d\n", views)
	})
	log.Fatal(http.ListenAndServe(cmp.Or(os.Getenv("ADDR"), "127.0.0.1:8080"), m.Handler(mux)))
}
