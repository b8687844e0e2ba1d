package fuzz_test

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"

	"github.com/crumbs-go/session"
	"github.com/crumbs-go/session/cookiestore"
	"github.com/crumbs-go/session/fuzz"
	"github.com/crumbs-go/session/serverstore"
	"github.com/crumbs-go/session/serverstore/pgstore"
	"github.com/crumbs-go/session/serverstore/redisstore"
	"github.com/crumbs-go/session/serverstore/storetest"
)

// backends is every store the fuzz targets hold to the model: adding a
// backend is adding a line. services marks those that need a server.
var backends = []struct {
	fuzz.Backend
	services bool
}{
	{fuzz.Backend{Name: "cookie", Open: openCookie}, false},
	{fuzz.Backend{Name: "memory", Server: true, EngineClock: true, Open: openMemory(true)}, false},
	{fuzz.Backend{Name: "memory (real engine clock)", Server: true, Open: openMemory(false)}, false},
	{fuzz.Backend{Name: "redis", Server: true, Open: openRedis}, true},
	{fuzz.Backend{Name: "postgres", Server: true, Open: openPostgres}, true},
}

func backend(name string) fuzz.Backend {
	for _, b := range backends {
		if b.Name == name {
			return b.Backend
		}
	}
	panic("no backend " + name)
}

func openCookie(testing.TB, func() time.Time) func([][]byte) (session.Store, error) {
	return func(secrets [][]byte) (session.Store, error) { return cookiestore.New(secrets) }
}

// openMemory: with engineClock, the memory backend expires records and
// tombstones by the scenario's clock; without, by real time, as Redis and
// PostgreSQL do.
func openMemory(engineClock bool) func(testing.TB, func() time.Time) func([][]byte) (session.Store, error) {
	return func(_ testing.TB, now func() time.Time) func([][]byte) (session.Store, error) {
		var opts []serverstore.MemoryOption
		if engineClock {
			opts = append(opts, serverstore.WithClock(now))
		}
		mem := serverstore.NewMemory(opts...)
		return func(secrets [][]byte) (session.Store, error) { return serverstore.New(mem, secrets) }
	}
}

// A fuzz worker is killed at the time limit, so deferred cleanup never
// runs: each process writes under a prefix (Redis) or schema (PostgreSQL)
// named by its start time, and the first scenario of a process sweeps
// those of processes that started over sweepAge ago. Session IDs are
// random, so the scenarios of one process share its prefix or table.
const sweepAge = 15 * time.Minute

var run = fmt.Sprintf("%d_%d", time.Now().Unix(), os.Getpid())

// started reads the start time out of a run name "<unix>_<pid>…".
func started(name string) (time.Time, bool) {
	unix, _, ok := strings.Cut(name, "_")
	n, err := strconv.ParseInt(unix, 10, 64)
	return time.Unix(n, 0), ok && err == nil
}

var (
	redisOnce sync.Once
	redisBack *redisstore.Backend
	redisErr  error
)

func redisAddr() string {
	if a := os.Getenv("CRUMBS_REDIS_ADDR"); a != "" {
		return a
	}
	return "127.0.0.1:6379"
}

func openRedis(t testing.TB, _ func() time.Time) func([][]byte) (session.Store, error) {
	redisOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		c := redis.NewClient(&redis.Options{Addr: redisAddr()})
		if redisErr = c.Ping(ctx).Err(); redisErr != nil {
			return
		}
		iter := c.Scan(ctx, 0, "crumbs-fuzz:*", 1000).Iterator()
		for iter.Next(ctx) {
			key := iter.Val()
			if at, ok := started(strings.TrimPrefix(key, "crumbs-fuzz:")); ok && time.Since(at) > sweepAge {
				c.Del(ctx, key)
			}
		}
		redisBack, redisErr = redisstore.New(c, redisstore.WithPrefix("crumbs-fuzz:"+run+":"))
	})
	if redisErr != nil {
		storetest.Unavailable(t, "Redis at "+redisAddr(), redisErr)
	}
	return func(secrets [][]byte) (session.Store, error) { return serverstore.New(redisBack, secrets) }
}

var (
	pgOnce sync.Once
	pgBack *pgstore.Backend
	pgErr  error
)

func pgURL() string {
	if u := os.Getenv("CRUMBS_PG_URL"); u != "" {
		return u
	}
	return "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
}

func openPostgres(t testing.TB, _ func() time.Time) func([][]byte) (session.Store, error) {
	pgOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		var p *pgxpool.Pool
		if p, pgErr = pgxpool.New(ctx, pgURL()); pgErr != nil {
			return
		}
		if pgErr = p.Ping(ctx); pgErr != nil {
			return
		}
		rows, err := p.Query(ctx, `SELECT nspname FROM pg_namespace WHERE nspname LIKE 'crumbs_fuzz_%'`)
		if err == nil {
			var old []string
			for rows.Next() {
				var name string
				if rows.Scan(&name) == nil {
					if at, ok := started(strings.TrimPrefix(name, "crumbs_fuzz_")); ok && time.Since(at) > sweepAge {
						old = append(old, name)
					}
				}
			}
			rows.Close()
			for _, name := range old {
				p.Exec(ctx, `DROP SCHEMA IF EXISTS `+name+` CASCADE`)
			}
		}
		schema := "crumbs_fuzz_" + run
		if _, pgErr = p.Exec(ctx, `CREATE SCHEMA IF NOT EXISTS `+schema); pgErr != nil {
			return
		}
		pgBack, pgErr = pgstore.New(ctx, p, pgstore.WithTable(schema, "sessions"))
	})
	if pgErr != nil {
		storetest.Unavailable(t, "PostgreSQL at "+pgURL(), pgErr)
	}
	return func(secrets [][]byte) (session.Store, error) { return serverstore.New(pgBack, secrets) }
}
