package bench

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/http"
	"os"
	"testing"
	"time"

	scsredis "github.com/alexedwards/scs/redisstore"
	"github.com/alexedwards/scs/v2"
	"github.com/gomodule/redigo/redis"
	goredis "github.com/redis/go-redis/v9"

	"github.com/crumbs-go/session"
	"github.com/crumbs-go/session/cookiestore"
	"github.com/crumbs-go/session/crypto"
	"github.com/crumbs-go/session/serverstore"
	"github.com/crumbs-go/session/serverstore/redisstore"
	"github.com/crumbs-go/session/serverstore/storetest"
)

// redisAddr is the Redis the benchmarks use: CRUMBS_BENCH_REDIS (bench/redis.sh
// starts a dedicated one, pinned to a core of its own), or the local one.
var redisAddr = cmp.Or(os.Getenv("CRUMBS_BENCH_REDIS"), "127.0.0.1:6379")

func redisClient(tb testing.TB) *goredis.Client {
	c := goredis.NewClient(&goredis.Options{Addr: redisAddr})
	if err := c.Ping(context.Background()).Err(); err != nil {
		storetest.Unavailable(tb, "Redis at "+redisAddr, err)
	}
	tb.Cleanup(func() { c.Close() })
	return c
}

func prefix() string {
	var b [4]byte
	rand.Read(b[:])
	return "crumbs-bench:" + hex.EncodeToString(b[:]) + ":"
}

// crumbsRedis is crumbs in server mode on the local Redis.
func crumbsRedis(tb testing.TB, c *goredis.Client, p payload) system {
	sys, _ := crumbsRedisPrefix(tb, c, p)
	return sys
}

func crumbsRedisPrefix(tb testing.TB, c *goredis.Client, p payload) (system, string) {
	store, pre := redisServerStore(tb, c)
	m, err := session.New(store)
	if err != nil {
		tb.Fatal(err)
	}
	sys := crumbs(tb, p)
	sys.name, sys.wrap = "crumbs-redis", m.Handler
	return sys, pre
}

// redisServerStore is a server store on Redis under a fresh prefix, and
// the prefix; the keys go at the end of the benchmark.
func redisServerStore(tb testing.TB, c *goredis.Client) (*serverstore.Store, string) {
	pre := prefix()
	be, err := redisstore.New(c, redisstore.WithPrefix(pre))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { be.Clear(context.Background()) })
	store, err := serverstore.New(be, [][]byte{secret})
	if err != nil {
		tb.Fatal(err)
	}
	return store, pre
}

// floorGetSet is the floor of a load + change + save on Redis: GET then
// SET of key, without HTTP, codecs or checks.
func floorGetSet(b *testing.B, c *goredis.Client, key string) {
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		v, err := c.Get(ctx, key).Bytes()
		if err != nil {
			b.Fatal(err)
		}
		if err := c.Set(ctx, key, v, time.Hour).Err(); err != nil {
			b.Fatal(err)
		}
	}
}

// scsRedis is scs with its Redis store (redigo pool).
func scsRedis(tb testing.TB, p payload) system {
	pool := &redis.Pool{MaxIdle: 10, Dial: func() (redis.Conn, error) { return redis.Dial("tcp", redisAddr) }}
	tb.Cleanup(func() { pool.Close() })
	sm := scs.New()
	sm.Store = scsredis.NewWithPrefix(pool, prefix())
	sys := scsMem(tb, p)
	sys.name, sys.wrap = "scs-redis", sm.LoadAndSave
	// scs's own handlers, bound to this manager.
	sys.populate = func(w http.ResponseWriter, r *http.Request) {
		for k, v := range p.values {
			sm.Put(r.Context(), k, v)
		}
	}
	sys.change = func(w http.ResponseWriter, r *http.Request) {
		sm.Put(r.Context(), "views", sm.GetInt(r.Context(), "views")+1)
	}
	sys.read = func(w http.ResponseWriter, r *http.Request) {
		if sm.GetInt(r.Context(), "views") < 42 {
			panic("scs: lost the session")
		}
	}
	return sys
}

// BenchmarkRedis compares crumbs server mode on Redis with scs on Redis and
// with the floor: go-redis GET then SET EX of crumbs's own stored record,
// without HTTP, codecs or checks.
func BenchmarkRedis(b *testing.B) {
	c := redisClient(b)
	ctx := context.Background()
	for _, p := range payloads(b) {
		for _, sys := range []system{crumbsRedis(b, c, p), scsRedis(b, p)} {
			base, _ := prime(b, sys)
			b.Run(p.name+"/change/"+sys.name, func(b *testing.B) { run(b, sys.wrap(sys.change), base) })
			b.Run(p.name+"/load/"+sys.name, func(b *testing.B) { run(b, sys.wrap(sys.read), base) })
		}
		// The floor moves the bytes crumbs stores for this payload.
		key := prefix() + "floor"
		blob := storedRecord(b, c, p)
		c.Set(ctx, key, blob, time.Hour)
		b.Run(p.name+"/change/floor-GET+SET", func(b *testing.B) { floorGetSet(b, c, key) })
		b.Run(p.name+"/load/floor-GET", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := c.Get(ctx, key).Bytes(); err != nil {
					b.Fatal(err)
				}
			}
		})
		c.Del(ctx, key)
	}
}

// storedRecord returns as many bytes as crumbs keeps in Redis for the
// payload, uncompressed: its hash's fields (the header and one per value,
// a compressed value inflated), end to end.
func storedRecord(tb testing.TB, c *goredis.Client, p payload) []byte {
	sys, pre := crumbsRedisPrefix(tb, c, p)
	prime(tb, sys)
	keys, err := c.Keys(context.Background(), pre+"*").Result()
	if err != nil || len(keys) != 1 {
		tb.Fatalf("%d stored records: %v", len(keys), err)
	}
	h, err := c.HGetAll(context.Background(), keys[0]).Result()
	if err != nil || len(h) < 2 {
		tb.Fatalf("the stored record: %d fields, %v", len(h), err)
	}
	ring, err := crypto.New([][]byte{secret})
	if err != nil {
		tb.Fatal(err)
	}
	var b []byte
	for f, v := range h {
		if f != "m" && len(v) > 0 && v[0] == 1 {
			raw, err := ring.Decompress([]byte(v[1:]))
			if err != nil {
				tb.Fatal(err)
			}
			v = "\x00" + string(raw)
		}
		b = append(append(b, f...), v...)
	}
	return b
}

func TestStoredRecord(t *testing.T) {
	c := redisClient(t)
	for _, p := range payloads(t) {
		if n := len(storedRecord(t, c, p)); n < 100 {
			t.Fatalf("%s: %d bytes stored", p.name, n)
		}
	}
}

func TestRedisSystemsWork(t *testing.T) {
	c := redisClient(t)
	for _, p := range payloads(t) {
		for _, sys := range []system{crumbsRedis(t, c, p), scsRedis(t, p)} {
			base, _ := prime(t, sys)
			w := &discard{h: http.Header{}}
			sys.wrap(sys.change).ServeHTTP(w, base)
			r := new(http.Request)
			*r = *base
			sys.wrap(sys.read).ServeHTTP(&discard{h: http.Header{}}, r)
		}
	}
}

// crumbsSpill is crumbs with the spill-over store over Redis: at is the
// spill mark (-1: the default), 0 keeps every session on the server.
func crumbsSpill(tb testing.TB, c *goredis.Client, p payload, at int) system {
	server, _ := redisServerStore(tb, c)
	cookie, err := cookiestore.New([][]byte{secret})
	if err != nil {
		tb.Fatal(err)
	}
	var opts []cookiestore.SpillOption
	name := "spill-redis(cookie-form)"
	if at >= 0 {
		opts, name = append(opts, cookiestore.WithSpillAt(at)), "spill-redis(server-form)"
	}
	store, err := cookiestore.NewSpill(cookie, server, opts...)
	if err != nil {
		tb.Fatal(err)
	}
	m, err := session.New(store)
	if err != nil {
		tb.Fatal(err)
	}
	sys := crumbs(tb, p)
	sys.name, sys.wrap = name, m.Handler
	return sys
}

// BenchmarkSpill compares the spill-over store over Redis, in each form,
// with cookie mode, server mode on Redis and the raw floor, in one run: a
// cookie-form save reads its record's key first (one GET), a server-form
// save reads it and then applies the change.
func BenchmarkSpill(b *testing.B) {
	c := redisClient(b)
	ctx := context.Background()
	for _, p := range payloads(b) {
		for _, sys := range []system{crumbs(b, p), crumbsSpill(b, c, p, -1), crumbsRedis(b, c, p), crumbsSpill(b, c, p, 0)} {
			base, _ := prime(b, sys)
			b.Run(p.name+"/change/"+sys.name, func(b *testing.B) { run(b, sys.wrap(sys.change), base) })
			b.Run(p.name+"/load/"+sys.name, func(b *testing.B) { run(b, sys.wrap(sys.read), base) })
		}
		key := prefix() + "floor"
		c.Set(ctx, key, storedRecord(b, c, p), time.Hour)
		b.Run(p.name+"/change/floor-GET+SET", func(b *testing.B) { floorGetSet(b, c, key) })
		c.Del(ctx, key)
	}
}
