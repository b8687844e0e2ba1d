package fuzz_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"

	"github.com/crumbs-go/session"
	"github.com/crumbs-go/session/cookiestore"
	"github.com/crumbs-go/session/fuzz"
	"github.com/crumbs-go/session/internal/leakcheck"
	"github.com/crumbs-go/session/serverstore"
	"github.com/crumbs-go/session/serverstore/dynamostore"
	"github.com/crumbs-go/session/serverstore/dynamostore/dynamotest"
	"github.com/crumbs-go/session/serverstore/mongostore"
	"github.com/crumbs-go/session/serverstore/mongostore/mongotest"
	"github.com/crumbs-go/session/serverstore/pgstore"
	"github.com/crumbs-go/session/serverstore/redisstore"
	"github.com/crumbs-go/session/serverstore/redisstore/express"
	"github.com/crumbs-go/session/serverstore/storetest"
)

// backends is every store the fuzz targets hold to the model: adding a
// backend is adding a line. services marks those that need a server.
var backends = []struct {
	fuzz.Backend
	services bool
}{
	{fuzz.Backend{Name: "cookie", Open: openCookie}, false},
	{fuzz.Backend{Name: "cookie (revocation)", Revocation: true, Open: openCookieRevocation}, false},
	{fuzz.Backend{Name: "memory", Server: true, EngineClock: true, Open: openMemory(true)}, false},
	{fuzz.Backend{Name: "memory (real engine clock)", Server: true, Open: openMemory(false)}, false},
	{fuzz.Backend{Name: "redis", Server: true, Shared: true, Open: openRedis}, true},
	{fuzz.Backend{Name: "postgres", Server: true, Shared: true, Open: openPostgres}, true},
	{fuzz.Backend{Name: "dynamodb", Server: true, Shared: true, Open: openDynamo}, true},
	{fuzz.Backend{Name: "mongodb", Server: true, Shared: true, Open: openMongo}, true},
	{fuzz.Backend{Name: "spill (memory)", Server: true, EngineClock: true, Open: spilled(openMemory(true))}, false},
	{fuzz.Backend{Name: "spill (memory, real engine clock)", Server: true, Open: spilled(openMemory(false))}, false},
	{fuzz.Backend{Name: "spill (redis)", Server: true, Shared: true, Open: spilled(openRedis)}, true},
	{fuzz.Backend{Name: "express", Server: true, Express: true, Open: openExpress}, true},
	{fuzz.Backend{Name: "express (from its configuration string)", Server: true, Express: true, Open: openExpressString}, true},
}

func backend(name string) fuzz.Backend {
	for _, b := range backends {
		if b.Name == name {
			return b.Backend
		}
	}
	panic("no backend " + name)
}

// spilled puts the spill-over store, every session on the server (spill
// mark 0), in front of a server store: the model holds it to server mode.
// Its moves between the forms have a fuzz target of their own
// (cookiestore's FuzzSpillMoves).
func spilled(open func(testing.TB, func() time.Time) func([][]byte) (session.Store, error)) func(testing.TB, func() time.Time) func([][]byte) (session.Store, error) {
	return func(t testing.TB, now func() time.Time) func([][]byte) (session.Store, error) {
		inner := open(t, now)
		return func(secrets [][]byte) (session.Store, error) {
			st, err := inner(secrets)
			if err != nil {
				return nil, err
			}
			cookie, err := cookiestore.New(secrets)
			if err != nil {
				return nil, err
			}
			return cookiestore.NewSpill(cookie, st.(*serverstore.Store), cookiestore.WithSpillAt(0))
		}
	}
}

func openCookie(testing.TB, func() time.Time) func([][]byte) (session.Store, error) {
	return func(secrets [][]byte) (session.Store, error) { return cookiestore.New(secrets) }
}

// openCookieRevocation is cookie mode with a revocation store in a memory
// backend on the scenario's clock, checked on every request, without grace
// (fuzz.Config.Revocation): every epoch's store shares it.
func openCookieRevocation(_ testing.TB, now func() time.Time) func([][]byte) (session.Store, error) {
	rev := serverstore.NewMemory(serverstore.WithClock(now))
	return func(secrets [][]byte) (session.Store, error) {
		return cookiestore.New(secrets, cookiestore.WithRevocation(rev), cookiestore.WithCheckInterval(0), cookiestore.WithGrace(0))
	}
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
// runs: each process writes under a Redis prefix "crumbs-fuzz:<run>:" or a
// PostgreSQL schema "crumbs_fuzz_<run>", and shows it is alive (a Redis key
// with a 60 s TTL it renews, a PostgreSQL advisory lock it holds on a
// connection of its own). The first scenario of a process starts a sweep,
// in the background, of the prefixes and schemas of processes that no
// longer show it. Session IDs are random, so the scenarios of one process
// share its prefix or table.
var run = fmt.Sprintf("%d_%d", time.Now().Unix(), os.Getpid())

// runOf reads the run out of a key "crumbs-fuzz:<run>:…".
func runOf(key string) string {
	run, _, _ := strings.Cut(strings.TrimPrefix(key, "crumbs-fuzz:"), ":")
	return run
}

const aliveTTL = time.Minute

// sweepRedis deletes the keys of runs whose alive key is gone.
func sweepRedis(c *redis.Client) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	dead := map[string]bool{}
	var batch []string
	flush := func() {
		if len(batch) > 0 {
			c.Unlink(ctx, batch...)
			batch = batch[:0]
		}
	}
	iter := c.Scan(ctx, 0, "crumbs-fuzz:*", 1000).Iterator()
	for iter.Next(ctx) {
		key := iter.Val()
		r := runOf(key)
		gone, ok := dead[r]
		if !ok {
			n, err := c.Exists(ctx, "crumbs-fuzz-alive:"+r).Result()
			gone = err == nil && n == 0
			dead[r] = gone
		}
		if gone {
			if batch = append(batch, key); len(batch) == 500 {
				flush()
			}
		}
	}
	flush()
	if err := iter.Err(); err != nil {
		fmt.Fprintf(os.Stderr, "fuzz: sweeping old Redis keys: %v\n", err)
	}
}

var (
	redisOnce   sync.Once
	redisBack   *redisstore.Backend
	redisClient *redis.Client
	redisErr    error
)

// The process's shared clients and their goroutines, which TestMain ends.
var (
	shared  sync.WaitGroup
	closing = make(chan struct{})
)

// closeShared stops the goroutines of the shared clients and closes them.
// What the process stored stays until a later process's sweep finds its
// run dead (its alive key expired, its lock gone).
func closeShared() {
	close(closing)
	shared.Wait()
	if redisClient != nil {
		redisClient.Close()
	}
	if pgHeld != nil {
		pgHeld.Release()
	}
	if pgPool != nil {
		pgPool.Close()
	}
}

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
		alive := "crumbs-fuzz-alive:" + run
		if redisErr = c.Set(ctx, alive, 1, aliveTTL).Err(); redisErr != nil {
			return
		}
		redisClient = c
		shared.Go(func() {
			tick := time.NewTicker(aliveTTL / 3)
			defer tick.Stop()
			for {
				select {
				case <-tick.C:
					c.Set(context.Background(), alive, 1, aliveTTL)
				case <-closing:
					return
				}
			}
		})
		shared.Go(func() { sweepRedis(c) })
		redisBack, redisErr = redisstore.New(c, redisstore.WithPrefix("crumbs-fuzz:"+run+":"))
	})
	if redisErr != nil {
		storetest.Unavailable(t, "Redis at "+redisAddr(), redisErr)
	}
	return func(secrets [][]byte) (session.Store, error) { return serverstore.New(redisBack, secrets) }
}

// openExpress: the Express format over the shared client, under the
// process's prefix (its tombstones too, so that the sweep finds them).
func openExpress(t testing.TB, now func() time.Time) func([][]byte) (session.Store, error) {
	openRedis(t, now)
	pre := "crumbs-fuzz:" + run + ":"
	return func(secrets [][]byte) (session.Store, error) {
		var strs []string
		for _, sec := range secrets {
			strs = append(strs, string(sec))
		}
		return express.New(redisBack.Client(), express.Config{Secrets: strs,
			Prefix: pre + "sess:", TombstonePrefix: pre + "moved:", Logger: slog.New(slog.DiscardHandler)})
	}
}

var (
	expressMu     sync.Mutex
	expressStores = map[string]session.Store{}
)

// openExpressString: the same, opened by session.OpenStore from its
// configuration string (one store per key ring, kept for the process).
func openExpressString(t testing.TB, now func() time.Time) func([][]byte) (session.Store, error) {
	openRedis(t, now)
	pre := "crumbs-fuzz:" + run + ":"
	return func(secrets [][]byte) (session.Store, error) {
		expressMu.Lock()
		defer expressMu.Unlock()
		key := string(bytes.Join(secrets, []byte{0}))
		if st, ok := expressStores[key]; ok {
			return st, nil
		}
		st, err := session.OpenStore(context.Background(), "express+redis://"+redisAddr()+"/0?crumbs_prefix="+url.QueryEscape(pre+"string:")+
			"&crumbs_tombstone_prefix="+url.QueryEscape(pre+"moved:"), secrets)
		if err == nil {
			expressStores[key] = st
		}
		return st, err
	}
}

var (
	pgOnce sync.Once
	pgBack *pgstore.Backend
	pgPool *pgxpool.Pool
	pgHeld *pgxpool.Conn // holds the run's advisory lock
	pgErr  error
)

func pgURL() string {
	if u := os.Getenv("CRUMBS_PG_URL"); u != "" {
		return u
	}
	return "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
}

// sweepPostgres drops the schemas of runs whose advisory lock nobody holds.
func sweepPostgres(p *pgxpool.Pool) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	rows, err := p.Query(ctx, `SELECT nspname FROM pg_namespace WHERE nspname LIKE 'crumbs\_fuzz\_%'`)
	if err != nil {
		return
	}
	schemas, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return
	}
	conn, err := p.Acquire(ctx)
	if err != nil {
		return
	}
	defer conn.Release()
	for _, name := range schemas {
		var free bool
		if conn.QueryRow(ctx, `SELECT pg_try_advisory_lock(hashtext($1))`, name).Scan(&free) != nil || !free {
			continue // alive (or unknown)
		}
		conn.Exec(ctx, `DROP SCHEMA IF EXISTS `+pgx.Identifier{name}.Sanitize()+` CASCADE`)
		conn.Exec(ctx, `SELECT pg_advisory_unlock(hashtext($1))`, name)
	}
}

func openPostgres(t testing.TB, _ func() time.Time) func([][]byte) (session.Store, error) {
	pgOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		var p *pgxpool.Pool
		if p, pgErr = pgxpool.New(ctx, pgURL()); pgErr != nil {
			return
		}
		schema := "crumbs_fuzz_" + run
		// The lock on a connection of its own shows this process alive; it
		// goes when the process does.
		var held *pgxpool.Conn
		if held, pgErr = p.Acquire(ctx); pgErr != nil {
			return
		}
		if _, pgErr = held.Exec(ctx, `SELECT pg_advisory_lock(hashtext($1))`, schema); pgErr != nil {
			return
		}
		if _, pgErr = p.Exec(ctx, `CREATE SCHEMA IF NOT EXISTS `+pgx.Identifier{schema}.Sanitize()); pgErr != nil {
			return
		}
		pgPool, pgHeld = p, held
		shared.Go(func() { sweepPostgres(p) })
		pgBack, pgErr = pgstore.New(ctx, p, pgstore.WithTable(schema, "sessions"))
	})
	if pgErr != nil {
		storetest.Unavailable(t, "PostgreSQL at "+pgURL(), pgErr)
	}
	return func(secrets [][]byte) (session.Store, error) { return serverstore.New(pgBack, secrets) }
}

// TestSweep: the sweep deletes what dead runs left and nothing of a live
// one (a run whose alive key exists, a schema whose lock is held).
func TestSweep(t *testing.T) {
	openRedis(t, time.Now)
	c := redis.NewClient(&redis.Options{Addr: redisAddr()})
	defer c.Close()
	ctx := context.Background()
	live, dead := "crumbs-fuzz:1_live"+run+":k", "crumbs-fuzz:1_dead"+run+":k"
	c.Set(ctx, "crumbs-fuzz-alive:1_live"+run, 1, time.Minute)
	c.Set(ctx, live, 1, time.Minute)
	c.Set(ctx, dead, 1, time.Minute)
	sweepRedis(c)
	if n, _ := c.Exists(ctx, live).Result(); n != 1 {
		t.Error("the sweep deleted a live run's key")
	}
	if n, _ := c.Exists(ctx, dead).Result(); n != 0 {
		t.Error("the sweep left a dead run's key")
	}
	c.Del(ctx, live, "crumbs-fuzz-alive:1_live"+run)

	openPostgres(t, time.Now)
	p, err := pgxpool.New(ctx, pgURL())
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	liveSchema, deadSchema := "crumbs_fuzz_1_live"+run, "crumbs_fuzz_1_dead"+run
	held, err := p.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer held.Release()
	held.Exec(ctx, `SELECT pg_advisory_lock(hashtext($1))`, liveSchema)
	for _, s := range []string{liveSchema, deadSchema} {
		if _, err := p.Exec(ctx, `CREATE SCHEMA `+pgx.Identifier{s}.Sanitize()); err != nil {
			t.Fatal(err)
		}
	}
	defer p.Exec(ctx, `DROP SCHEMA IF EXISTS `+pgx.Identifier{liveSchema}.Sanitize())
	sweepPostgres(p)
	var n int
	p.QueryRow(ctx, `SELECT count(*) FROM pg_namespace WHERE nspname = $1`, liveSchema).Scan(&n)
	if n != 1 {
		t.Error("the sweep dropped a live run's schema")
	}
	p.QueryRow(ctx, `SELECT count(*) FROM pg_namespace WHERE nspname = $1`, deadSchema).Scan(&n)
	if n != 0 {
		t.Error("the sweep left a dead run's schema")
	}
}

var (
	dynamoOnce sync.Once
	dynamoBack *dynamostore.Backend
	dynamoErr  error
)

// openDynamo: dynalite, started by this process (dynamotest), with one
// table for the process's scenarios; it goes with the process.
func openDynamo(t testing.TB, _ func() time.Time) func([][]byte) (session.Store, error) {
	c := dynamotest.Client(t)
	dynamoOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		table := "crumbs_fuzz_" + run
		if dynamoErr = dynamostore.CreateTable(ctx, c, table); errors.Is(dynamoErr, errors.ErrUnsupported) {
			dynamoErr = nil // dynalite has no TTL; reads enforce expiry
		}
		if dynamoErr == nil {
			dynamoBack, dynamoErr = dynamostore.New(c, table)
		}
	})
	if dynamoErr != nil {
		t.Fatalf("dynalite: %v", dynamoErr)
	}
	return func(secrets [][]byte) (session.Store, error) { return serverstore.New(dynamoBack, secrets) }
}

var (
	mongoOnce sync.Once
	mongoBack *mongostore.Backend
	mongoErr  error
)

// openMongo: FerretDB, embedded and started by this process (mongotest),
// over PostgreSQL, with one collection for the process's scenarios; the
// process's database goes with it.
func openMongo(t testing.TB, _ func() time.Time) func([][]byte) (session.Store, error) {
	db := mongotest.Database(t)
	mongoOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		coll := db.Collection("crumbs_fuzz_" + run)
		if mongoErr = mongostore.EnsureIndexes(ctx, coll); errors.Is(mongoErr, errors.ErrUnsupported) {
			mongoErr = nil // FerretDB has no TTL index; reads enforce expiry
		}
		if mongoErr == nil {
			mongoBack, mongoErr = mongostore.New(coll)
		}
	})
	if mongoErr != nil {
		t.Fatalf("FerretDB: %v", mongoErr)
	}
	return func(secrets [][]byte) (session.Store, error) { return serverstore.New(mongoBack, secrets) }
}

func TestMain(m *testing.M) {
	code := m.Run()
	closeShared()
	dynamotest.Stop()
	mongotest.Stop()
	os.Exit(leakcheck.Verify(code))
}
