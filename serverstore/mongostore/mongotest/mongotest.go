// Package mongotest runs a MongoDB-wire server for tests: FerretDB 1.24,
// embedded as a Go package, over the PostgreSQL on 127.0.0.1:5432 (or
// CRUMBS_PG_URL). Start starts it once per process, on a port of its own,
// with a database of its own (a PostgreSQL schema), which Stop drops; a
// process killed before its Stop leaves its database, which a Start a day
// later drops.
// Without PostgreSQL a test skips, except under CI (CI set in the
// environment), where it fails.
//
// Call Stop from TestMain after m.Run: it stops what Start started.
//
// Under the race detector, which would instrument the embedded FerretDB
// too (and slow it several times over), the same embedded FerretDB runs
// in a process of its own: ./cmd/ferretdb, built by Start without the
// race detector (go build, the build cache making it quick after the
// first time), and killed by Stop or with the test process.
//
// What FerretDB 1.24 does not do: it has no TTL indexes (createIndexes
// with expireAfterSeconds is NotImplemented), so nothing deletes expired
// documents but mongostore's sweep; and it applies an update by reading
// the document and then writing it whole, so two parallel updates of one
// document lose one of them (mongostore inserts revisions instead).
//
// It is a module of its own, so that FerretDB's dependencies stay out of
// mongostore's go.mod.
package mongotest

import (
	"context"
	crand "crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/FerretDB/FerretDB/ferretdb"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/crumbs-go/session/serverstore/storetest"
)

// PostgreSQL is the database FerretDB keeps its data in.
func PostgreSQL() string {
	if u := os.Getenv("CRUMBS_PG_URL"); u != "" {
		return u
	}
	return "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
}

var (
	mu         sync.Mutex
	uri        string
	database   string
	client     *mongo.Client
	stopServer func()
	startErr   error
)

// Start returns the URI of the process's FerretDB, starting it on first
// use.
func Start(t testing.TB) string {
	t.Helper()
	mu.Lock()
	defer mu.Unlock()
	if uri == "" && startErr == nil {
		startErr = start()
	}
	if startErr != nil {
		storetest.Unavailable(t, "FerretDB over PostgreSQL at "+PostgreSQL(), startErr)
	}
	return uri
}

func start() error {
	if raceEnabled {
		u, stop, err := startProcess()
		if err != nil {
			return err
		}
		return connect(u, stop)
	}
	f, err := ferretdb.New(&ferretdb.Config{
		Listener:      ferretdb.ListenerConfig{TCP: "127.0.0.1:0"},
		Logger:        slog.New(slog.DiscardHandler), // it logs every duplicate key as an error
		Handler:       "postgresql",
		PostgreSQLURL: PostgreSQL(),
	})
	if err != nil {
		return err
	}
	ctx, c := context.WithCancel(context.Background())
	d := make(chan struct{})
	go func() { f.Run(ctx); close(d) }()
	return connect(f.MongoDBURI(), func() { c(); <-d })
}

// connect connects the process's client to the FerretDB at u, which stop
// stops.
func connect(u string, stop func()) error {
	cl, err := mongo.Connect(options.Client().ApplyURI(u))
	if err == nil {
		pctx, pcancel := context.WithTimeout(context.Background(), 10*time.Second)
		err = cl.Ping(pctx, nil)
		pcancel()
	}
	if err != nil {
		stop()
		return fmt.Errorf("FerretDB: %w", err)
	}
	var b [6]byte
	crand.Read(b[:])
	uri, database, client, stopServer = u, fmt.Sprintf("crumbs_test_%d_%s", time.Now().Unix(), hex.EncodeToString(b[:])), cl, stop
	dropStale(cl)
	return nil
}

// dropStale drops the databases of earlier processes that ended without
// Stop (killed) a day ago or more: a day is longer than any test run.
func dropStale(cl *mongo.Client) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	names, err := cl.ListDatabaseNames(ctx, bson.D{})
	if err != nil {
		return
	}
	for _, n := range names {
		rest, ok := strings.CutPrefix(n, "crumbs_test_")
		if !ok {
			continue
		}
		ts, _, _ := strings.Cut(rest, "_")
		if sec, err := strconv.ParseInt(ts, 10, 64); err == nil && time.Since(time.Unix(sec, 0)) > 24*time.Hour {
			cl.Database(n).Drop(ctx)
		}
	}
}

// URI returns a configuration string's start for the process's database:
// mongodb://127.0.0.1:PORT/DATABASE.
func URI(t testing.TB) string {
	u := Start(t)
	return u + database
}

// Client returns a client of the process's FerretDB.
func Client(t testing.TB) *mongo.Client {
	Start(t)
	return client
}

// Database returns the process's database.
func Database(t testing.TB) *mongo.Database {
	return Client(t).Database(database)
}

// Collection returns a collection of the test's own, in the process's
// database, and drops it after the test.
func Collection(t testing.TB) *mongo.Collection {
	t.Helper()
	var b [6]byte
	crand.Read(b[:])
	c := Database(t).Collection("t_" + hex.EncodeToString(b[:]))
	t.Cleanup(func() { c.Drop(context.Background()) })
	return c
}

// Docs returns the documents of c, raw.
func Docs(t testing.TB, c *mongo.Collection) []bson.M {
	t.Helper()
	cur, err := c.Find(context.Background(), bson.D{})
	if err != nil {
		t.Fatal(err)
	}
	var out []bson.M
	if err := cur.All(context.Background(), &out); err != nil {
		t.Fatal(err)
	}
	return out
}

// Stop drops the process's database and stops the FerretDB Start started,
// if any.
func Stop() {
	mu.Lock()
	defer mu.Unlock()
	if client == nil {
		return
	}
	ctx, c := context.WithTimeout(context.Background(), 30*time.Second)
	defer c()
	client.Database(database).Drop(ctx)
	client.Disconnect(ctx)
	stopServer()
	client, uri = nil, ""
}
