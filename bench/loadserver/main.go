// Command loadserver serves one session library, set up as its users
// would, for the HTTP load harness (bench/loadtest) and the fault scripts
// (bench/faults):
//
//	GET /prime       stores the payload (SMALL or LARGE, internal/fixtures)
//	                 and "views": 42; answers with the session cookie
//	GET /prime-big   the same, and 3,300 random bytes (base64): a session
//	                 of two cookies in cookie mode
//	GET /read        reads "views"; 500 if the session was lost
//	GET /bump        reads "views" and sets it one higher
//	GET /change?k=N&v=V  reads "views" and sets the key kN to V (to N
//	                 without v): parallel requests that share one session
//	                 each change one key
//	GET /values      the keys k0…k99 the session holds, and their values,
//	                 as JSON
//	GET /count       the number of keys k0…k99 the session holds
//	GET /put?v=N     sets "n" to N (the fault scripts: one writer per
//	                 session, which checks the last N it saw acknowledged)
//	GET /get         answers "n"
//	GET /stats       {"requests":…,"mallocs":…,"goroutines":…} as JSON,
//	                 for allocations per request and leaked goroutines
//
// The systems: bare (no session: the handlers do nothing), crumbs with any
// store its configuration string names (-store: cookie, memory,
// redis://…, postgres://…), gorilla/sessions' CookieStore (signed and
// encrypted, as crumbs always is), and scs with its memory or Redis store.
package main

import (
	"bytes"
	"context"
	crand "crypto/rand"
	"encoding/base64"
	"encoding/gob"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"log/slog"
	"maps"
	"net/http"
	"net/http/pprof"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	scsredis "github.com/alexedwards/scs/redisstore"
	"github.com/alexedwards/scs/v2"
	"github.com/alexedwards/scs/v2/memstore"
	"github.com/gomodule/redigo/redis"
	"github.com/gorilla/securecookie"
	"github.com/gorilla/sessions"

	"github.com/crumbs-go/session"
	_ "github.com/crumbs-go/session/cookiestore"
	"github.com/crumbs-go/session/internal/fixtures"
	_ "github.com/crumbs-go/session/serverstore/pgstore"
	_ "github.com/crumbs-go/session/serverstore/redisstore"
)

// secret is the load test's own key: these servers hold no real session.
var secret = bytes.Repeat([]byte("k"), 32)

// handlers are one library's answers to the harness's requests.
type handlers struct {
	wrap   func(http.Handler) http.Handler
	prime  func(w http.ResponseWriter, r *http.Request, values map[string]any)
	read   func(r *http.Request) int // "views"
	get    func(r *http.Request, key string) int
	change func(w http.ResponseWriter, r *http.Request, key string, n int)
	count  func(r *http.Request) int // keys k0…k99
}

func main() {
	system := flag.String("system", "crumbs", "bare, crumbs, gorilla, scs-memory or scs-redis")
	store := flag.String("store", "memory", "crumbs: the store's configuration string (session.OpenStore)")
	size := flag.String("size", "small", "small or large: the session's values")
	addr := flag.String("addr", "127.0.0.1:18080", "listen address")
	redisAddr := flag.String("redis", "127.0.0.1:6379", "scs-redis: the Redis address")
	prefix := flag.String("prefix", "crumbs-load:", "scs-redis: the key prefix")
	storeTimeout := flag.Duration("store-timeout", 10*time.Second, "crumbs: WithStoreTimeout (10 s: its default)")
	logErrors := flag.Bool("log", false, "crumbs: log to stderr (the errors of a fault), instead of discarding")
	blockRate := flag.Int("block-rate", 0, "runtime.SetBlockProfileRate, for /debug/pprof/block")
	mutexFraction := flag.Int("mutex-fraction", 0, "runtime.SetMutexProfileFraction, for /debug/pprof/mutex")
	flag.Parse()
	runtime.SetBlockProfileRate(*blockRate)
	runtime.SetMutexProfileFraction(*mutexFraction)
	gob.Register(map[string]any{}) // the payload's nested values, for gorilla's and scs's gob
	gob.Register([]any{})

	payload := fixtures.Small
	if *size == "large" {
		payload = fixtures.Large
	}
	var values map[string]any
	if err := json.Unmarshal(payload, &values); err != nil {
		log.Fatal(err)
	}
	values["views"] = 42

	var h handlers
	switch *system {
	case "bare":
		h = bare()
	case "crumbs":
		var err error
		if h, err = crumbs(*store, *storeTimeout, *logErrors); err != nil {
			log.Fatal(err)
		}
	case "gorilla":
		h = gorilla()
	case "scs-memory":
		h = scsWith(memstore.New())
	case "scs-redis":
		pool := &redis.Pool{MaxIdle: 64, Dial: func() (redis.Conn, error) { return redis.Dial("tcp", *redisAddr) }}
		h = scsWith(scsredis.NewWithPrefix(pool, *prefix))
	default:
		log.Fatalf("-system %q: bare, crumbs, gorilla, scs-memory or scs-redis", *system)
	}

	var requests atomic.Int64
	mux := http.NewServeMux()
	mux.HandleFunc("/prime", func(w http.ResponseWriter, r *http.Request) { h.prime(w, r, values) })
	mux.HandleFunc("/prime-big", func(w http.ResponseWriter, r *http.Request) {
		blob := make([]byte, 3300)
		crand.Read(blob)
		big := maps.Clone(values)
		big["blob"] = base64.RawURLEncoding.EncodeToString(blob)
		h.prime(w, r, big)
	})
	mux.HandleFunc("/read", func(w http.ResponseWriter, r *http.Request) {
		if h.read(r) < 42 {
			http.Error(w, "lost the session", http.StatusInternalServerError)
			return
		}
		io.WriteString(w, "ok")
	})
	mux.HandleFunc("/bump", func(w http.ResponseWriter, r *http.Request) {
		n := h.read(r)
		if n < 42 {
			http.Error(w, "lost the session", http.StatusInternalServerError)
			return
		}
		h.change(w, r, "views", n+1)
		io.WriteString(w, "ok")
	})
	mux.HandleFunc("/change", func(w http.ResponseWriter, r *http.Request) {
		n, _ := strconv.Atoi(r.URL.Query().Get("k"))
		v := n
		if s := r.URL.Query().Get("v"); s != "" {
			v, _ = strconv.Atoi(s)
		}
		if h.read(r) < 42 {
			http.Error(w, "lost the session", http.StatusInternalServerError)
			return
		}
		h.change(w, r, "k"+strconv.Itoa(n), v)
		io.WriteString(w, "ok")
	})
	mux.HandleFunc("/values", func(w http.ResponseWriter, r *http.Request) {
		out := map[string]int{}
		for i := range 100 {
			if v := h.get(r, "k"+strconv.Itoa(i)); v != 0 {
				out["k"+strconv.Itoa(i)] = v
			}
		}
		json.NewEncoder(w).Encode(out)
	})
	mux.HandleFunc("/count", func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, h.count(r)) })
	mux.HandleFunc("/put", func(w http.ResponseWriter, r *http.Request) {
		n, _ := strconv.Atoi(r.URL.Query().Get("v"))
		h.change(w, r, "n", n)
		io.WriteString(w, "ok")
	})
	mux.HandleFunc("/get", func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, h.get(r, "n")) })
	app := h.wrap(mux)
	root := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Profiles under load: go tool pprof http://ADDR/debug/pprof/profile?seconds=10
		// (CPU), …/block and …/mutex with -block-rate and -mutex-fraction,
		// …/goroutine?debug=1.
		if r.URL.Path == "/debug/pprof/profile" {
			pprof.Profile(w, r)
			return
		}
		if strings.HasPrefix(r.URL.Path, "/debug/pprof/") {
			pprof.Index(w, r)
			return
		}
		if r.URL.Path == "/stats" {
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			json.NewEncoder(w).Encode(map[string]int64{"requests": requests.Load(), "mallocs": int64(ms.Mallocs), "goroutines": int64(runtime.NumGoroutine())})
			return
		}
		requests.Add(1)
		app.ServeHTTP(w, r)
	})
	srv := &http.Server{Addr: *addr, Handler: root, ReadHeaderTimeout: 10 * time.Second}
	fmt.Fprintf(os.Stderr, "loadserver: %s (%s, %s) on %s\n", *system, *store, *size, *addr)
	log.Fatal(srv.ListenAndServe())
}

func bare() handlers {
	return handlers{
		wrap: func(h http.Handler) http.Handler { return h },
		prime: func(w http.ResponseWriter, r *http.Request, _ map[string]any) {
			http.SetCookie(w, &http.Cookie{Name: "bare", Value: "1"})
		},
		read:   func(*http.Request) int { return 42 },
		get:    func(*http.Request, string) int { return 0 },
		change: func(http.ResponseWriter, *http.Request, string, int) {},
		count:  func(*http.Request) int { return 0 },
	}
}

func crumbs(config string, timeout time.Duration, logErrors bool) (handlers, error) {
	store, err := session.OpenStore(context.Background(), config, [][]byte{secret})
	if err != nil {
		return handlers{}, err
	}
	logger := slog.New(slog.DiscardHandler)
	if logErrors {
		logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	// Secure is left to SecureAuto: plain HTTP on the loopback is
	// development, where the cookie goes out without it.
	m, err := session.New(store, session.WithLogger(logger), session.WithStoreTimeout(timeout))
	if err != nil {
		return handlers{}, err
	}
	return handlers{
		wrap: m.Handler,
		prime: func(w http.ResponseWriter, r *http.Request, values map[string]any) {
			s := session.From(r)
			for k, v := range values {
				s.Set(k, v)
			}
		},
		read: func(r *http.Request) int { n, _ := session.Get[int](session.From(r), "views"); return n },
		get:  func(r *http.Request, key string) int { n, _ := session.Get[int](session.From(r), key); return n },
		change: func(w http.ResponseWriter, r *http.Request, key string, n int) {
			session.From(r).Set(key, n)
		},
		count: func(r *http.Request) int {
			n := 0
			for _, k := range session.From(r).Keys() {
				if isK(k) {
					n++
				}
			}
			return n
		},
	}, nil
}

func isK(k string) bool {
	_, err := strconv.Atoi(strings.TrimPrefix(k, "k"))
	return strings.HasPrefix(k, "k") && err == nil
}

func gorilla() handlers {
	store := sessions.NewCookieStore(secret, bytes.Repeat([]byte("b"), 32))
	for _, c := range store.Codecs {
		c.(*securecookie.SecureCookie).MaxLength(0) // LARGE exceeds its 4096 default
	}
	get := func(r *http.Request) *sessions.Session {
		s, _ := store.Get(r, "s") // a new session on error, as its docs advise
		return s
	}
	save := func(w http.ResponseWriter, r *http.Request, s *sessions.Session) {
		if err := s.Save(r, w); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
		}
	}
	return handlers{
		wrap: func(h http.Handler) http.Handler { return h },
		prime: func(w http.ResponseWriter, r *http.Request, values map[string]any) {
			s := get(r)
			for k, v := range values {
				s.Values[k] = v
			}
			save(w, r, s)
		},
		read: func(r *http.Request) int { n, _ := get(r).Values["views"].(int); return n },
		get:  func(r *http.Request, key string) int { n, _ := get(r).Values[key].(int); return n },
		change: func(w http.ResponseWriter, r *http.Request, key string, n int) {
			s := get(r)
			s.Values[key] = n
			save(w, r, s)
		},
		count: func(r *http.Request) int {
			n := 0
			for k := range get(r).Values {
				if s, ok := k.(string); ok && isK(s) {
					n++
				}
			}
			return n
		},
	}
}

func scsWith(store scs.Store) handlers {
	sm := scs.New()
	sm.Store = store
	return handlers{
		wrap: sm.LoadAndSave,
		prime: func(w http.ResponseWriter, r *http.Request, values map[string]any) {
			for k, v := range values {
				sm.Put(r.Context(), k, v)
			}
		},
		read: func(r *http.Request) int { return sm.GetInt(r.Context(), "views") },
		get:  func(r *http.Request, key string) int { return sm.GetInt(r.Context(), key) },
		change: func(w http.ResponseWriter, r *http.Request, key string, n int) {
			sm.Put(r.Context(), key, n)
		},
		count: func(r *http.Request) int {
			n := 0
			for _, k := range sm.Keys(r.Context()) {
				if isK(k) {
					n++
				}
			}
			return n
		},
	}
}
