// Command demo serves the crumbs demo on localhost in cookie mode.
//
//	go run ./examples/demo
//
// Secrets come from CRUMBS_SECRETS: a comma-separated list, first seals, all
// open, each at least 32 bytes. Without it the demo draws one at start and
// warns that sessions will not survive a restart. CRUMBS_ADDR sets the
// listen address (default 127.0.0.1:8080).
package main

import (
	"crypto/rand"
	"encoding/base64"
	"log"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/crumbs-go/session"
	"github.com/crumbs-go/session/cookiestore"
	"github.com/crumbs-go/session/examples/demo/app"
)

func main() {
	addr := envOr("CRUMBS_ADDR", "127.0.0.1:8080")
	secrets := loadSecrets()
	store, err := cookiestore.New(secrets)
	if err != nil {
		log.Fatal(err)
	}
	const name = "demo"
	m, err := session.New(store,
		session.WithCookieName(name),
		session.WithMaxChunks(4), // room to show chunking; the default is 2
		session.WithIdleTimeout(2*time.Hour),
		session.WithErrorHandler(app.ErrorHandler),
	)
	if err != nil {
		log.Fatal(err)
	}
	srv := &http.Server{Addr: addr, Handler: m.Handler(app.Handler(name)), ReadHeaderTimeout: 10 * time.Second}
	slog.Info("crumbs demo (cookie mode) listening", "url", "http://"+addr+"/")
	log.Fatal(srv.ListenAndServe())
}

func loadSecrets() [][]byte {
	env := os.Getenv("CRUMBS_SECRETS")
	if env == "" {
		b := make([]byte, 32)
		rand.Read(b)
		slog.Warn("CRUMBS_SECRETS is not set: using a random secret; sessions will not survive a restart",
			"example", "CRUMBS_SECRETS="+base64.RawURLEncoding.EncodeToString(b))
		return [][]byte{b}
	}
	var out [][]byte
	for _, s := range strings.Split(env, ",") {
		out = append(out, []byte(strings.TrimSpace(s)))
	}
	return out
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}
