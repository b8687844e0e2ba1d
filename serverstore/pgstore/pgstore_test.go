package pgstore_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/crumbs-go/session"
	"github.com/crumbs-go/session/serverstore"
	"github.com/crumbs-go/session/serverstore/pgstore"
	"github.com/crumbs-go/session/serverstore/storetest"
)

// dsn is the PostgreSQL server the tests use: CRUMBS_PG_URL, or the local one.
func dsn() string {
	if u := os.Getenv("CRUMBS_PG_URL"); u != "" {
		return u
	}
	return "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
}

// pool connects; without a server it skips, except under CI.
func pool(t testing.TB) *pgxpool.Pool {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	p, err := pgxpool.New(ctx, dsn())
	if err == nil {
		err = p.Ping(ctx)
	}
	if err != nil {
		storetest.Unavailable(t, "PostgreSQL at "+dsn(), err)
	}
	t.Cleanup(p.Close)
	return p
}

// schema creates a schema of the test's own and drops it (only it) after.
func schema(t testing.TB, p *pgxpool.Pool) string {
	var b [6]byte
	rand.Read(b[:])
	name := "crumbs_test_" + hex.EncodeToString(b[:])
	if _, err := p.Exec(context.Background(), `CREATE SCHEMA `+name); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Exec(context.Background(), `DROP SCHEMA `+name+` CASCADE`) })
	return name
}

func newBackend(t testing.TB, p *pgxpool.Pool) *pgstore.Backend {
	b, err := pgstore.New(context.Background(), p, pgstore.WithTable(schema(t, p), "sessions"))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestConformance(t *testing.T) {
	p := pool(t)
	storetest.Run(t, func(t *testing.T) serverstore.Backend { return newBackend(t, p) })
}

func TestSchemaAndCleanup(t *testing.T) {
	p := pool(t)
	ctx := context.Background()
	s := schema(t, p)
	sql, err := pgstore.Schema(pgstore.WithTable(s, "sessions"))
	if err != nil || !strings.Contains(sql, "CREATE TABLE IF NOT EXISTS") || !strings.Contains(sql, "(expires)") {
		t.Fatalf("Schema = %q, %v", sql, err)
	}
	b, err := pgstore.New(ctx, p, pgstore.WithTable(s, "sessions"))
	if err != nil {
		t.Fatal(err)
	}
	// New is idempotent: the table and index exist now.
	if _, err := pgstore.New(ctx, p, pgstore.WithTable(s, "sessions")); err != nil {
		t.Fatal(err)
	}
	var idx int
	p.QueryRow(ctx, `SELECT count(*) FROM pg_indexes WHERE schemaname = $1 AND indexname = 'sessions_expires_idx'`, s).Scan(&idx)
	if idx != 1 {
		t.Fatal("the expiry index was not created")
	}
	p.QueryRow(ctx, `SELECT count(*) FROM pg_indexes WHERE schemaname = $1 AND indexname = 'sessions_usr_idx' AND indexdef LIKE '%WHERE (usr IS NOT NULL)%'`, s).Scan(&idx)
	if idx != 1 {
		t.Fatal("the partial index on usr (package devices) was not created")
	}
	for i, d := range []time.Duration{-time.Hour, -time.Minute, time.Hour} {
		if err := b.Create(ctx, string(rune('a'+i)), &serverstore.Entry{Meta: make([]byte, 18)}, time.Now().Add(d)); err != nil {
			t.Fatal(err)
		}
	}
	if n, err := b.DeleteExpired(ctx); err != nil || n != 2 {
		t.Fatalf("DeleteExpired = %d, %v; want the 2 expired rows", n, err)
	}
	var rows int
	p.QueryRow(ctx, `SELECT count(*) FROM `+s+`.sessions`).Scan(&rows)
	if rows != 1 {
		t.Fatalf("%d rows left, want 1", rows)
	}
	// The interval cleanup deletes expired rows; its stop function, and
	// Close, end its goroutine. Only the goroutines running pgstore's code
	// are counted: a stop that lands on a DELETE in flight cancels it, and
	// pgx then closes that connection in goroutines of the pool's own
	// (a cancel request, the destructor), which outlive stop by as long as
	// PostgreSQL takes to answer; they are not the cleanup's.
	for _, end := range []string{"stop", "Close"} {
		b.Create(ctx, "z", &serverstore.Entry{Meta: make([]byte, 18)}, time.Now().Add(-time.Second))
		base := len(storeGoroutines())
		stop := b.StartCleanup(20*time.Millisecond, func(err error) { t.Error(err) })
		if n := len(storeGoroutines()); n != base+1 {
			t.Fatalf("%d goroutines run pgstore's code after StartCleanup, want %d", n, base+1)
		}
		for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
			p.QueryRow(ctx, `SELECT count(*) FROM `+s+`.sessions`).Scan(&rows)
			if rows == 1 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("the interval cleanup left %d rows after 5 s, want 1", rows)
			}
		}
		if end == "stop" {
			stop()
		} else {
			b.Close()
		}
		// stop returns once the goroutine is done; it may still be returning.
		for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
			g := storeGoroutines()
			if len(g) <= base {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("the cleanup goroutine runs 5 s after %s:\n%s", end, strings.Join(g, "\n\n"))
			}
		}
	}
	// A pool given to New is the caller's: Close leaves it open.
	if err := p.Ping(ctx); err != nil {
		t.Fatalf("Close closed a pool given to New: %v", err)
	}
	if _, err := pgstore.Schema(pgstore.WithTable("", "")); err == nil {
		t.Fatal("an empty table name was accepted")
	}
	// Any name PostgreSQL allows works: it is quoted.
	odd, err := pgstore.New(ctx, p, pgstore.WithTable(s, `Web "Sessions"`))
	if err != nil {
		t.Fatal(err)
	}
	if err := odd.Create(ctx, "k", &serverstore.Entry{Meta: make([]byte, 18)}, time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
}

// storeGoroutines returns the stacks of the goroutines running pgstore's own
// code (not the test's goroutine, not pgx's).
func storeGoroutines() []string {
	pkg := reflect.TypeFor[pgstore.Backend]().PkgPath() + "."
	buf := make([]byte, 1<<16)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	var gs []string
	for _, g := range strings.Split(string(buf), "\n\n") {
		if strings.Contains(g, pkg) && !strings.Contains(g, "testing.tRunner") {
			gs = append(gs, g)
		}
	}
	return gs
}

// TestOpenStore: the configuration string sets the table, pgx's pool and
// run-time parameters, the cleanup; the store is used, pinged and closed,
// and Close stops the cleanup and releases the pool.
func TestOpenStore(t *testing.T) {
	p := pool(t)
	ctx := context.Background()
	s := schema(t, p)
	baseline := runtime.NumGoroutine()
	config := dsn() + "&crumbs_schema=" + s + "&crumbs_table=web&crumbs_cleanup=1s&pool_max_conns=3&statement_timeout=4321"
	store, err := session.OpenStore(ctx, config, [][]byte{bytes.Repeat([]byte("p"), 32)})
	if err != nil {
		t.Fatal(err)
	}
	ss, ok := store.(*serverstore.Store)
	if !ok {
		t.Fatalf("OpenStore gave %T", store)
	}
	var n int
	p.QueryRow(ctx, `SELECT count(*) FROM information_schema.tables WHERE table_schema = $1 AND table_name = 'web'`, s).Scan(&n)
	if n != 1 {
		t.Fatal("OpenStore did not create the configured table")
	}
	if err := ss.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	b := ss.Backend().(*pgstore.Backend)
	if got := b.Pool().Config().MaxConns; got != 3 {
		t.Errorf("pool_max_conns=3 gave a pool of %d", got)
	}
	var timeout string
	b.Pool().QueryRow(ctx, `SHOW statement_timeout`).Scan(&timeout)
	if timeout != "4321ms" {
		t.Errorf("statement_timeout=4321 reached PostgreSQL as %q", timeout)
	}
	// A session through the Manager.
	m, err := session.New(store, session.WithCookieName("sid"))
	if err != nil {
		t.Fatal(err)
	}
	r := httptest.NewRequest("GET", "/", nil)
	w := httptest.NewRecorder()
	m.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { session.From(r).Set("n", 1) })).ServeHTTP(w, r)
	p.QueryRow(ctx, `SELECT count(*) FROM `+s+`.web`).Scan(&n)
	if w.Code != 200 || n != 1 {
		t.Fatalf("a save through the opened store: %d, %d rows", w.Code, n)
	}
	// The cleanup the string started removes an expired row.
	if err := b.Create(ctx, "expired", &serverstore.Entry{Meta: make([]byte, 18)}, time.Now().Add(-time.Second)); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		p.QueryRow(ctx, `SELECT count(*) FROM `+s+`.web WHERE key = 'expired'`).Scan(&n)
		if n == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("crumbs_cleanup=1s: the expired row is still there after 5 s")
		}
	}
	if err := store.(io.Closer).Close(); err != nil {
		t.Fatal(err)
	}
	if err := ss.Ping(ctx); err == nil {
		t.Fatal("Ping after Close succeeded: the pool was not closed")
	}
	for range 250 { // 5 s: pgx closes connections in goroutines of its own
		if runtime.NumGoroutine() <= baseline {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if now := runtime.NumGoroutine(); now > baseline {
		t.Fatalf("goroutines: %d before OpenStore, %d after Close", baseline, now)
	}
	if err := store.(io.Closer).Close(); err != nil {
		t.Fatalf("a second Close: %v", err)
	}
}

func TestOpenStoreErrors(t *testing.T) {
	pool(t)
	sec := [][]byte{bytes.Repeat([]byte("p"), 32)}
	for _, tc := range []struct{ config, want string }{
		{dsn() + "&crumbs_tabel=x", "unknown parameter crumbs_tabel"},
		{dsn() + "&crumbs_cleanup=10ms", "crumbs_cleanup"},
		{dsn() + "&crumbs_create=perhaps", "crumbs_create"},
		{dsn() + "&crumbs_raw_ids=2", "crumbs_raw_ids"},
		{dsn() + "&crumbs_open_timeout=-1s", "crumbs_open_timeout"},
		{dsn() + "&crumbs_table=" + strings.Repeat("t", 64), "1 to 63 bytes"},
		{dsn() + "&pool_max_conns=none", "pool_max_conns"},
		{dsn() + "&crumbs_table=a&crumbs_table=b", "given 2 times"},
		{dsn() + "&crumbs_create=false&crumbs_table=no_such_table_crumbs", "the sessions table"},
	} {
		_, err := session.OpenStore(context.Background(), tc.config, sec)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("OpenStore(%q) = %v, want an error naming %q", tc.config, err, tc.want)
		}
	}
	for _, config := range []string{
		"postgres://nobody:secret-pw%zz@127.0.0.1:1/test",
		"postgres://nobody@127.0.0.1:1/test?password=secret-pw&sslmode=disable&crumbs_open_timeout=300ms",
	} {
		if _, err := session.OpenStore(context.Background(), config, sec); err == nil || strings.Contains(err.Error(), "secret-pw") {
			t.Errorf("OpenStore(%q) = %v: want an error without the password", config, err)
		}
	}
	// A password with a character that must be percent-encoded: url.Parse
	// splits the string there, and the pieces land where errors quote
	// them; pgx's errors also carry the connection string in fields.
	for _, pw := range storetest.AwkwardPasswords {
		for _, tmpl := range []string{
			"postgres://nobody:PW@127.0.0.1:1/test?sslmode=disable&crumbs_open_timeout=300ms",
			"postgresql://nobody:PW@127.0.0.1:1/test?sslmode=bogus",
			"postgres://nobody@127.0.0.1:1/test?password=PW&sslmode=disable&crumbs_open_timeout=300ms",
			"host=127.0.0.1 port=1 user=nobody password=PW dbname=test",
		} {
			config := strings.Replace(tmpl, "PW", pw, 1)
			_, err := session.OpenStore(context.Background(), config, sec)
			if err == nil {
				t.Errorf("OpenStore(%q) opened", config)
				continue
			}
			if piece := storetest.PasswordPiece(pw, err.Error()); piece != "" {
				t.Errorf("OpenStore(%q) = %v: quotes %q of the password", config, err, piece)
			}
			var pce *pgconn.ParseConfigError
			if errors.As(err, &pce) && storetest.PasswordPiece(pw, pce.ConnString) != "" {
				t.Errorf("OpenStore(%q): the error's ParseConfigError holds the password", config)
			}
			var ce *pgconn.ConnectError
			if errors.As(err, &ce) && ce.Config != nil && ce.Config.Password != "" {
				t.Errorf("OpenStore(%q): the error's ConnectError holds the password", config)
			}
		}
	}
	start := time.Now()
	_, err := session.OpenStore(context.Background(), "postgres://nobody:secret-pw@127.0.0.1:1/test?sslmode=disable", sec)
	if err == nil || !strings.Contains(err.Error(), "did not answer") || strings.Contains(err.Error(), "secret-pw") {
		t.Fatalf("nobody listening: %v", err)
	}
	if d := time.Since(start); d > pgstore.OpenTimeout+time.Second {
		t.Fatalf("nobody listening: failed after %v", d)
	}
}

// A table and rows of the format-1 layout, written by an earlier release:
// New upgrades the table, the rows load, and the next save rewrites them in
// the current layout without losing a value.
func TestFormat1RowsKeepLoading(t *testing.T) {
	p := pool(t)
	ctx := context.Background()
	s := schema(t, p)
	if _, err := p.Exec(ctx, `CREATE TABLE `+s+`.old (key text PRIMARY KEY, data bytea NOT NULL, version bigint NOT NULL, expires timestamptz NOT NULL)`); err != nil {
		t.Fatal(err)
	}
	// The key as a Store over this backend computes it (NewMemory's own
	// Store keys by raw IDs).
	store, err := serverstore.New(struct{ serverstore.Backend }{serverstore.NewMemory()}, [][]byte{bytes.Repeat([]byte("k"), 32)})
	if err != nil {
		t.Fatal(err)
	}
	id := strings.Repeat("L", 43)
	blob := storetest.Format1(time.Now().Add(time.Hour), time.Time{}, []byte(`{"n":41,"user":"ada"}`))
	if _, err := p.Exec(ctx, `INSERT INTO `+s+`.old VALUES ($1, $2, 3, now() + interval '1 hour')`, store.Key(id), blob); err != nil {
		t.Fatal(err)
	}
	b, err := pgstore.New(ctx, p, pgstore.WithTable(s, "old"))
	if err != nil {
		t.Fatalf("New over a format-1 table: %v", err)
	}
	storetest.CheckFormat1(t, b, id)
}

// TestWithoutCreateOnAnOlderTable: a table made by an earlier release's
// Schema, used with WithoutCreate, fails in New with what to run, instead
// of failing every request (an outside review found the outage).
func TestWithoutCreateOnAnOlderTable(t *testing.T) {
	p := pool(t)
	ctx := context.Background()
	s := schema(t, p)
	if _, err := p.Exec(ctx, `CREATE TABLE `+s+`.old (key text PRIMARY KEY, meta bytea, vals jsonb, moved boolean NOT NULL DEFAULT false, data bytea, version bigint, expires timestamptz NOT NULL)`); err != nil {
		t.Fatal(err)
	}
	_, err := pgstore.New(ctx, p, pgstore.WithTable(s, "old"), pgstore.WithoutCreate())
	if err == nil || !strings.Contains(err.Error(), "usr, bind and seen") || !strings.Contains(err.Error(), "pgstore.Schema") {
		t.Fatalf("New(WithoutCreate) on an older table = %v; want an error naming the columns and pgstore.Schema", err)
	}
	sql, err := pgstore.Schema(pgstore.WithTable(s, "old"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Exec(ctx, sql); err != nil {
		t.Fatal(err)
	}
	if _, err := pgstore.New(ctx, p, pgstore.WithTable(s, "old"), pgstore.WithoutCreate()); err != nil {
		t.Fatalf("after running Schema's SQL: %v", err)
	}
}
