// Command demo serves the crumbs demo on localhost.
//
//	go run ./examples/demo
//
// CRUMBS_STORE chooses the backend with one configuration string, and the
// handlers never change: "cookie" (the default: no storage at all),
// "memory", "redis://127.0.0.1:6379/0", or
// "postgres://postgres@127.0.0.1:5432/test?sslmode=disable".
//
// CRUMBS_SECRETS is a comma-separated list of base64 secrets of 32 bytes or
// more (openssl rand -base64 32; see session.ParseSecrets): the first seals
// (or signs IDs), all open. Without it the demo draws
// one at start and warns that sessions will not survive a restart.
// CRUMBS_ADDR sets the listen address (default 127.0.0.1:8080). In server
// mode, /sessions lists the signed-in user's sessions (add
// crumbs_client_details=true to the configuration string to see their
// browsers and addresses). In cookie mode, CRUMBS_REVOCATION names a server
// store ("memory", "redis://…", "postgres://…") that keeps what is revoked
// (cookiestore.WithRevocation): /sessions then signs out this browser, and
// every other one, for good.
//
// /metrics serves the Manager's metrics in Prometheus' format
// (metrics/prommetrics): sessions loaded and refused by reason, commits,
// token sizes, store latency.
package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"log"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/crumbs-go/session"
	"github.com/crumbs-go/session/cookiestore"
	"github.com/crumbs-go/session/devices"
	"github.com/crumbs-go/session/examples/demo/app"
	"github.com/crumbs-go/session/metrics/prommetrics"
	"github.com/crumbs-go/session/serverstore"
	_ "github.com/crumbs-go/session/serverstore/pgstore"
	_ "github.com/crumbs-go/session/serverstore/redisstore"
)

func main() {
	addr := envOr("CRUMBS_ADDR", "127.0.0.1:8080")
	h, err := setup()
	if err != nil {
		log.Fatal(err)
	}
	srv := &http.Server{Addr: addr, Handler: h, ReadHeaderTimeout: 10 * time.Second}
	slog.Info("crumbs demo listening", "url", "http://"+addr+"/", "store", redact(envOr("CRUMBS_STORE", "cookie")))
	log.Fatal(srv.ListenAndServe())
}

// setup builds the demo's handler from the environment: the pages, under
// the session middleware, and /metrics beside them.
func setup() (http.Handler, error) {
	config := envOr("CRUMBS_STORE", "cookie")
	secrets := loadSecrets()
	var store session.Store
	var err error
	if rev := os.Getenv("CRUMBS_REVOCATION"); rev != "" && config == "cookie" {
		store, err = revocable(rev, secrets)
	} else {
		store, err = session.OpenStore(context.Background(), config, secrets)
	}
	if err != nil {
		return nil, err
	}
	reg := prometheus.NewRegistry()
	rec, err := prommetrics.New(reg)
	if err != nil {
		return nil, err
	}
	const name = "demo"
	m, err := session.New(store,
		session.WithMetrics(rec),
		session.WithCookieName(name),
		session.WithMaxChunks(4), // room to show chunking in cookie mode; the default is 2
		session.WithIdleTimeout(2*time.Hour),
		session.WithIdentityKey("user"), // binds sessions to their user: the active sessions page
		session.WithErrorHandler(app.ErrorHandler),
	)
	if err != nil {
		return nil, err
	}
	idx, _ := devices.New(store) // nil in cookie mode without a revocation store: the page says so
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	mux.Handle("/", m.Handler(app.Handler(name, idx)))
	return mux, nil
}

// revocable is cookie mode with a revocation store: the backend of the
// server store config names.
func revocable(config string, secrets [][]byte) (session.Store, error) {
	srv, err := session.OpenStore(context.Background(), config, secrets)
	if err != nil {
		return nil, err
	}
	ss, ok := srv.(*serverstore.Store)
	if !ok {
		return nil, fmt.Errorf("CRUMBS_REVOCATION=%s: give a server store (memory, redis://…, postgres://…)", redact(config))
	}
	slog.Info("cookie mode with a revocation store", "store", redact(config))
	return cookiestore.New(secrets, cookiestore.WithRevocation(ss.Backend()), cookiestore.WithSignInGuard())
}

// redact hides a password in a configuration URL for the log.
func redact(config string) string {
	if i, j := strings.Index(config, "://"), strings.LastIndex(config, "@"); i >= 0 && j > i {
		if k := strings.Index(config[i+3:j], ":"); k >= 0 {
			return config[:i+3+k] + ":***" + config[j:]
		}
	}
	return config
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
	secrets, err := session.ParseSecrets(env)
	if err != nil {
		log.Fatal("CRUMBS_SECRETS: ", err)
	}
	return secrets
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}
