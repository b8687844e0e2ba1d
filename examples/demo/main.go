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
// token sizes, store latency. The home page inspects its own token (its
// cookies against the 4 096-byte limit, format, key ID, which secret,
// deadlines) and shows the counters; in cookie mode its "Rotate the
// secrets" button (POST /rotate) puts a new secret first, keeping two
// older ones, so that the next page shows the cookie re-sealed.
package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"log"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/crumbs-go/session"
	"github.com/crumbs-go/session/chunking"
	"github.com/crumbs-go/session/cookiestore"
	"github.com/crumbs-go/session/crypto"
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
// the session middleware, and beside them /metrics and, in cookie mode,
// /rotate.
func setup() (http.Handler, error) {
	reg := prometheus.NewRegistry()
	rec, err := prommetrics.New(reg)
	if err != nil {
		return nil, err
	}
	d := &demo{config: envOr("CRUMBS_STORE", "cookie"), reg: reg, rec: rec}
	if err := d.build(loadSecrets()); err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	if d.rotatable() {
		mux.HandleFunc("POST /rotate", d.rotate)
	}
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) { d.current.Load().h.ServeHTTP(w, r) })
	// Forms post to the demo (sign-in, cart, rotate): refuse cross-site
	// POSTs, as SECURITY.md advises, since SameSite=Lax alone does not.
	return http.NewCrossOriginProtection().Handler(mux), nil
}

const cookieName = "demo"

// demo is the running demo: its Manager and key ring, replaced whole when
// the secrets rotate.
type demo struct {
	config  string
	reg     *prometheus.Registry
	rec     *prommetrics.Recorder
	mu      sync.Mutex // serialises rotations
	current atomic.Pointer[built]
}

type built struct {
	h       http.Handler
	secrets [][]byte
	ring    *crypto.Ring
}

// rotatable: cookie mode without a revocation store, where a new Manager
// over new secrets loses nothing (the sessions are in the cookies).
func (d *demo) rotatable() bool { return d.config == "cookie" && os.Getenv("CRUMBS_REVOCATION") == "" }

func (d *demo) build(secrets [][]byte) error {
	var store session.Store
	var err error
	if rev := os.Getenv("CRUMBS_REVOCATION"); rev != "" && d.config == "cookie" {
		store, err = revocable(rev, secrets)
	} else {
		store, err = session.OpenStore(context.Background(), d.config, secrets)
	}
	if err != nil {
		return err
	}
	m, err := session.New(store,
		session.WithMetrics(d.rec),
		session.WithCookieName(cookieName),
		session.WithMaxChunks(4), // room to show chunking in cookie mode; the default is 2
		session.WithIdleTimeout(2*time.Hour),
		session.WithIdentityKey("user"), // binds sessions to their user: the active sessions page
		session.WithErrorHandler(app.ErrorHandler),
	)
	if err != nil {
		return err
	}
	ring, err := crypto.New(secrets)
	if err != nil {
		return err
	}
	idx, _ := devices.New(store) // nil in cookie mode without a revocation store: the page says so
	opts := []app.Option{app.WithInspector(d.inspect), app.WithMetrics(d.summary)}
	if d.rotatable() {
		opts = append(opts, app.WithRotateButton())
	}
	d.current.Store(&built{h: m.Handler(app.Handler(cookieName, idx, opts...)), secrets: secrets, ring: ring})
	return nil
}

// rotate puts a new secret first and keeps the two before it: cookies
// sealed under those still open, and are re-sealed on their next response.
func (d *demo) rotate(w http.ResponseWriter, r *http.Request) {
	d.mu.Lock()
	defer d.mu.Unlock()
	fresh := make([]byte, 32)
	rand.Read(fresh)
	old := d.current.Load().secrets
	if err := d.build(append([][]byte{fresh}, old[:min(len(old), 2)]...)); err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	slog.Info("the demo's secrets rotated: a new one goes first")
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

// inspect explains the request's token with the current secrets.
func (d *demo) inspect(r *http.Request) *app.Envelope {
	b := d.current.Load()
	codec, err := chunking.New(cookieName, chunking.WithMaxChunks(4))
	if err != nil {
		return nil
	}
	value, err := codec.Join(func(yield func(string, string) bool) {
		for _, c := range r.Cookies() {
			if !yield(c.Name, c.Value) {
				return
			}
		}
	})
	if errors.Is(err, chunking.ErrNotFound) {
		return nil
	}
	e := &app.Envelope{Mode: "cookie", Secrets: len(b.secrets)}
	var env crypto.Envelope
	if err == nil {
		if strings.HasPrefix(d.config, "cookie") {
			var p crypto.Payload
			env, p, err = b.ring.Inspect(cookieName, value, time.Now())
			e.Issued, e.Idle, e.Absolute = p.IssuedAt, p.IdleExpires, p.Expires
			if env.Version == int(crypto.XChaCha20Poly1305) || env.Version == int(crypto.AES256GCM) {
				e.Cipher = crypto.Cipher(env.Version).String()
			}
			if spill := strings.HasPrefix(d.config, "cookie+"); spill && err != nil {
				// The spill-over store: a session that outgrew its cookie
				// is on the server, and the cookie holds its signed ID.
				if senv, _, serr := b.ring.InspectSigned(cookieName, value); serr == nil {
					e = &app.Envelope{Mode: "server (spilled over: the session outgrew its cookie)", Secrets: len(b.secrets)}
					env, err = senv, nil
				}
			} else if spill {
				e.Mode = "cookie (spill-over: it moves to the server if it outgrows the cookie)"
			}
		} else {
			e.Mode = "server"
			env, _, err = b.ring.InspectSigned(cookieName, value)
		}
	}
	e.Version, e.KeyID, e.Secret = env.Version, hex.EncodeToString(env.KeyID[:]), env.Secret+1
	e.Compressed, e.Padded = env.Compressed, env.Padded
	if err != nil {
		e.Problem = err.Error()
	}
	return e
}

// summary reads the Manager's counters back from the registry.
func (d *demo) summary() []app.Metric {
	families, err := d.reg.Gather()
	if err != nil {
		return nil
	}
	var out []app.Metric
	for _, f := range families {
		if f.GetName() != "crumbs_session_loads_total" && f.GetName() != "crumbs_session_commits_total" {
			continue
		}
		for _, m := range f.GetMetric() {
			name := strings.TrimPrefix(strings.TrimSuffix(f.GetName(), "_total"), "crumbs_session_")
			for _, l := range m.GetLabel() {
				if l.GetValue() != "" {
					name += " " + l.GetValue()
				}
			}
			out = append(out, app.Metric{Name: name, Value: m.GetCounter().GetValue()})
		}
	}
	return out
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
