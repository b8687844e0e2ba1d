// Command servermode is the README's server-mode example: the store is
// chosen by one configuration string (SESSION_STORE), the handlers are
// those of cookie mode.
package main

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"time"

	"github.com/crumbs-go/session"
	_ "github.com/crumbs-go/session/cookiestore"            // "cookie"
	_ "github.com/crumbs-go/session/serverstore"            // "memory"
	_ "github.com/crumbs-go/session/serverstore/pgstore"    // "postgres://…" (own module: pgx)
	_ "github.com/crumbs-go/session/serverstore/redisstore" // "redis://…" (own module: go-redis)
)

func main() {
	secrets, err := session.ParseSecrets(os.Getenv("SESSION_SECRETS"))
	if err != nil {
		log.Fatal(err)
	}
	// readme:begin
	ctx := context.Background()
	store, err := session.OpenStore(ctx, os.Getenv("SESSION_STORE"), secrets) // "redis://127.0.0.1:6379/0"
	if err != nil {
		log.Fatal(err) // a bad parameter is named; an unreachable server fails within 5 s
	}
	if c, ok := store.(io.Closer); ok {
		defer c.Close() // the Redis client or pgx pool, the cleanup goroutine
	}
	m, err := session.New(store, session.WithIdleTimeout(30*time.Minute))
	// readme:end
	if err != nil {
		log.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		views, _ := session.Update(session.From(r), "views", func(n int) int { return n + 1 })
		fmt.Fprintf(w, "views=%d\n", views)
	})
	srv := &http.Server{Addr: cmp.Or(os.Getenv("ADDR"), "127.0.0.1:8080"), Handler: m.Handler(mux)}
	log.Print(srv.ListenAndServe())
}
