// Command express is the README's Go service sharing sessions with an
// Express app (express-session + connect-redis) on the same Redis: the
// same cookie (connect.sid), the same secrets (EXPRESS_SECRETS,
// comma-separated), the same records.
package main

import (
	"cmp"
	"fmt"
	"log"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/crumbs-go/session"
	"github.com/crumbs-go/session/serverstore/redisstore"
	"github.com/redis/go-redis/v9"
)

func main() {
	client := redis.NewClient(&redis.Options{Addr: cmp.Or(os.Getenv("REDIS_ADDR"), "127.0.0.1:6379")})
	defer client.Close()
	secrets := strings.Split(cmp.Or(os.Getenv("EXPRESS_SECRETS"), "keyboard cat"), ",")
	prefix := cmp.Or(os.Getenv("EXPRESS_PREFIX"), "sess:")
	// readme:begin
	store, err := redisstore.NewExpress(client, redisstore.Express{
		Secrets: secrets,   // express-session's secret option, in its order
		Prefix:  prefix,    // connect-redis's prefix ("sess:" by default)
		MaxAge:  time.Hour, // express-session's cookie.maxAge
	})
	if err != nil {
		log.Fatal(err)
	}
	m, err := session.New(store, session.WithCookieName("connect.sid"), session.WithIdleTimeout(time.Hour))
	// readme:end
	if err != nil {
		log.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		views, _ := session.Update(session.From(r), "views", func(n int) int { return n + 1 })
		fmt.Fprintf(w, "views=%d\n", views)
	})
	log.Fatal(http.ListenAndServe(cmp.Or(os.Getenv("ADDR"), "127.0.0.1:8080"), m.Handler(mux)))
}
