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

	"github.com/redis/go-redis/v9"

	"github.com/crumbs-go/session"
	"github.com/crumbs-go/session/serverstore/redisstore/express"
)

func main() {
	client := redis.NewClient(&redis.Options{Addr: cmp.Or(os.Getenv("REDIS_ADDR"), "127.0.0.1:6379")})
	defer client.Close()
	prefix := cmp.Or(os.Getenv("EXPRESS_PREFIX"), "sess:")
	// readme:begin
	secrets := os.Getenv("EXPRESS_SECRETS") // express-session's secret option, comma-separated, in its order
	if secrets == "" {
		log.Fatal("set EXPRESS_SECRETS to the Express app's session({secret})")
	}
	store, err := express.New(client, express.Config{
		Secrets: strings.Split(secrets, ","),
		Prefix:  prefix,    // connect-redis's prefix ("sess:" by default)
		MaxAge:  time.Hour, // express-session's cookie.maxAge
		// The rest of the Express app's cookie options, as its session({cookie}) has them
		// (Secure: true when it sets cookie.secure):
		Path: "/", SameSite: "lax",
	})
	if err != nil {
		log.Fatal("EXPRESS_SECRETS: ", err)
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
