package mongotest_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/crumbs-go/session/driver"
	"github.com/crumbs-go/session/serverstore"
	"github.com/crumbs-go/session/serverstore/mongostore"
	"github.com/crumbs-go/session/serverstore/mongostore/mongotest"
)

// TestSweepOptionTwice: New with WithSweep given twice starts two
// sweepers that share b.stop/b.done (the second's): Close ends both, and
// both close b.done: "close of closed channel" panics the process. (Had it
// not, the first's channels leak with it.)
func TestSweepOptionTwice(t *testing.T) {
	c := mongotest.Collection(t)
	b, err := mongostore.New(c, mongostore.WithSweep(time.Second), mongostore.WithSweep(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	b.Close()
	ctx := context.Background()
	if _, err := c.InsertOne(ctx, bson.D{{Key: "_id", Value: "x.0000000000000001"}, {Key: "k", Value: "x"}, {Key: "r", Value: int64(1)},
		{Key: "ttl", Value: time.Now().Add(-time.Hour)}}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2500 * time.Millisecond)
	if n, _ := c.CountDocuments(ctx, bson.D{}); n == 0 {
		t.Fatal("a document was swept 2.5 s after Close: the first WithSweep's goroutine still runs")
	}
}

// TestCloseWaitsForSweep: Close waits for a sweep in flight until the
// sweep's own timeout (the sweep interval): with the server unreachable and
// WithSweep(5s), Close takes seconds instead of returning at once.
func TestCloseWaitsForSweep(t *testing.T) {
	cl, err := mongo.Connect(options.Client().ApplyURI("mongodb://127.0.0.1:1/?serverSelectionTimeoutMS=600000"))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Disconnect(context.Background())
	b, err := mongostore.New(cl.Database("x").Collection("y"), mongostore.WithSweep(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(5500 * time.Millisecond) // the first sweep is now waiting for the server
	start := time.Now()
	b.Close()
	if d := time.Since(start); d > time.Second {
		t.Fatalf("Close took %v: it waits for the sweep's timeout instead of cancelling it", d.Round(time.Millisecond))
	}
}

// TestExpiryTruncatedToMillisecond: a record created to expire 0.5 ms
// from now reads as absent at once (x is stored in BSON milliseconds,
// truncated), where the memory backend returns it.
func TestExpiryTruncatedToMillisecond(t *testing.T) {
	now := time.Unix(1_900_000_000, 100_000) // 0.1 ms past a millisecond
	clock := func() time.Time { return now }
	ctx := context.Background()
	mem := serverstore.NewMemory(serverstore.WithClock(clock))
	b, _ := newBackend(t, mongostore.WithClock(clock))
	for name, be := range map[string]serverstore.Backend{"memory": mem, "mongo": b} {
		if err := be.Create(ctx, "k", entry("a", "1"), now.Add(500*time.Microsecond)); err != nil {
			t.Fatalf("%s: Create: %v", name, err)
		}
		_, err := be.Get(ctx, "k")
		t.Logf("%s: Get right after Create (expires in 0.5 ms): err=%v", name, err)
		if err != nil {
			t.Errorf("%s: a record 0.5 ms before its expiry reads %v", name, err)
		}
		_, err = be.Apply(ctx, "k", &serverstore.Write{Meta: hdr(), Expires: now.Add(time.Hour), Changes: []driver.Change{setv("a", "2")}})
		if err != nil {
			t.Errorf("%s: Apply 0.5 ms before expiry: %v", name, err)
		}
	}
}

// TestClearRace: a save whose read came before a Clear and whose
// insert lands after it succeeds, and brings the cleared session back.
// (Memory: the save is either cleared or finds nothing: ErrNotFound.)
func TestClearRace(t *testing.T) {
	b, c := newBackend(t)
	a, g := gatedBackend(t, c)
	ctx := context.Background()
	exp := time.Now().Add(time.Hour)
	if err := b.Create(ctx, "k", entry("a", "1"), exp); err != nil {
		t.Fatal(err)
	}
	h := g.next("insert")
	var wg sync.WaitGroup
	var applyErr error
	wg.Go(func() {
		_, applyErr = a.Apply(ctx, "k", &serverstore.Write{Meta: hdr(), Expires: exp, Changes: []driver.Change{setv("b", "2")}})
	})
	<-h.arrived // a read revision 1 and sends the insert of revision 2
	if err := b.Clear(ctx); err != nil {
		t.Fatal(err)
	}
	close(h.release)
	wg.Wait()
	e, err := b.Get(ctx, "k")
	t.Logf("Apply across Clear: %v; Get after both: %v %v", applyErr, e, err)
	if !errors.Is(err, serverstore.ErrNotFound) {
		t.Fatalf("after Clear, the session reads %v, %v (Apply returned %v)", e, err, applyErr)
	}
}

// TestDoubleCreateAcrossSweep: two Creates of one key both succeed
// when the key's newest document is dead and the sweep (or the TTL index)
// removes it between the first Create's read and its insert: the second
// Create's session, acknowledged, is shadowed by the first's. (Memory:
// the second Create returns ErrExists.)
func TestDoubleCreateAcrossSweep(t *testing.T) {
	var mu sync.Mutex
	now := time.Now()
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	b, c := newBackend(t, mongostore.WithClock(clock))
	a, g := gatedBackend(t, c, mongostore.WithClock(clock))
	ctx := context.Background()
	if err := b.Create(ctx, "k", entry("gen", "0"), now.Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	now = now.Add(3 * time.Minute) // dead, and past its ttl (x + 2 min)
	mu.Unlock()
	h := g.next("insert")
	var wg sync.WaitGroup
	var errA error
	wg.Go(func() { errA = a.Create(ctx, "k", entry("who", "A"), clock().Add(time.Hour)) })
	<-h.arrived // A read the dead revision 1, sends revision 2
	if _, err := b.Sweep(ctx); err != nil {
		t.Fatal(err)
	}
	errB := b.Create(ctx, "k", entry("who", "B"), clock().Add(time.Hour)) // finds nothing: revision 1
	close(h.release)
	wg.Wait()
	e, err := b.Get(ctx, "k")
	t.Logf("Create A: %v, Create B: %v, Get: %q %v", errA, errB, e.Values["who"], err)
	if errA == nil && errB == nil {
		t.Fatalf("both Creates of one key succeeded; the key reads who=%q", e.Values["who"])
	}
}

// TestDeleteOfJustExpiredLeavesNoMark: Delete of a record that has
// just expired writes no end mark, so a save that read the record while it
// was live and whose insert lands after the Delete succeeds: the session
// outlives the Destroy with a fresh deadline. (Memory's Delete removes the
// entry whatever its expiry, and its Apply is atomic: after the Delete,
// nothing is left.)
func TestDeleteOfJustExpiredLeavesNoMark(t *testing.T) {
	var mu sync.Mutex
	now := time.Now()
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	b, c := newBackend(t, mongostore.WithClock(clock))
	a, g := gatedBackend(t, c, mongostore.WithClock(clock))
	ctx := context.Background()
	if err := b.Create(ctx, "k", entry("user", "alice"), now.Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	h := g.next("insert")
	var wg sync.WaitGroup
	var errA error
	wg.Go(func() {
		_, errA = a.Apply(ctx, "k", &serverstore.Write{Meta: hdr(), Expires: clock().Add(time.Hour), Changes: []driver.Change{setv("x", "1")}})
	})
	<-h.arrived // the save read the live record
	mu.Lock()
	now = now.Add(2 * time.Second) // the record's deadline passes
	mu.Unlock()
	if _, err := b.Delete(ctx, "k"); err != nil { // logout
		t.Fatal(err)
	}
	close(h.release)
	wg.Wait()
	e, err := b.Get(ctx, "k")
	t.Logf("save: %v; Get after Delete: %v", errA, err)
	if err == nil {
		t.Fatalf("the session reads %q after Delete returned", e.Values)
	}
}
