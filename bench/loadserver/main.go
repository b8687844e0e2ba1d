// Command loadserver serves one session library on the local Redis for an
// HTTP load test (bench/wrk.sh): GET /prime starts a session, GET /set?k=N
// sets the session key kN, so parallel requests sharing one session cookie
// each change one key.
package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"log"
	"log/slog"
	"net/http"
	"strconv"

	scsredis "github.com/alexedwards/scs/redisstore"
	"github.com/alexedwards/scs/v2"
	"github.com/gomodule/redigo/redis"
	goredis "github.com/redis/go-redis/v9"

	"github.com/crumbs-go/session"
	"github.com/crumbs-go/session/serverstore"
	"github.com/crumbs-go/session/serverstore/redisstore"
)

func main() {
	system := flag.String("system", "crumbs", "crumbs or scs")
	addr := flag.String("addr", "127.0.0.1:18080", "listen address")
	redisAddr := flag.String("redis", "127.0.0.1:6379", "Redis address")
	prefix := flag.String("prefix", "crumbs-wrk:", "Redis key prefix")
	flag.Parse()

	key := func(r *http.Request) (string, int) {
		n, _ := strconv.Atoi(r.URL.Query().Get("k"))
		return "k" + strconv.Itoa(n), n
	}
	var h http.Handler
	switch *system {
	case "crumbs":
		c := goredis.NewClient(&goredis.Options{Addr: *redisAddr})
		be, err := redisstore.New(c, redisstore.WithPrefix(*prefix))
		if err != nil {
			log.Fatal(err)
		}
		defer be.Clear(context.Background())
		store, err := serverstore.New(be, [][]byte{bytes.Repeat([]byte("k"), 32)})
		if err != nil {
			log.Fatal(err)
		}
		m, err := session.New(store, session.WithLogger(slog.New(slog.DiscardHandler)))
		if err != nil {
			log.Fatal(err)
		}
		mux := http.NewServeMux()
		mux.HandleFunc("/prime", func(w http.ResponseWriter, r *http.Request) { session.From(r).Set("start", true) })
		mux.HandleFunc("/set", func(w http.ResponseWriter, r *http.Request) {
			k, n := key(r)
			session.From(r).Set(k, n)
		})
		mux.HandleFunc("/count", func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, session.From(r).Len()) })
		h = m.Handler(mux)
	case "scs":
		pool := &redis.Pool{MaxIdle: 64, Dial: func() (redis.Conn, error) { return redis.Dial("tcp", *redisAddr) }}
		sm := scs.New()
		sm.Store = scsredis.NewWithPrefix(pool, *prefix)
		mux := http.NewServeMux()
		mux.HandleFunc("/prime", func(w http.ResponseWriter, r *http.Request) { sm.Put(r.Context(), "start", true) })
		mux.HandleFunc("/set", func(w http.ResponseWriter, r *http.Request) {
			k, n := key(r)
			sm.Put(r.Context(), k, n)
		})
		mux.HandleFunc("/count", func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, len(sm.Keys(r.Context()))) })
		h = sm.LoadAndSave(mux)
	default:
		log.Fatalf("-system %q: crumbs or scs", *system)
	}
	log.Fatal(http.ListenAndServe(*addr, h))
}
