package mongotest_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/crumbs-go/session/serverstore/mongostore"
)

// expiredJunk inserts n stubs of other keys whose ttl has passed: what a
// sweep of a busy store finds.
func expiredJunk(t *testing.T, c *mongo.Collection, n int, now time.Time) {
	t.Helper()
	docs := make([]any, 0, 1000)
	for i := range n {
		docs = append(docs, bson.D{{Key: "_id", Value: fmt.Sprintf("j%06d.0000000000000001", i)}, {Key: "r", Value: int64(1)},
			{Key: "end", Value: true}, {Key: "ttl", Value: now.Add(-time.Hour)}, {Key: "wt", Value: "j"}})
		if len(docs) == cap(docs) || i == n-1 {
			if _, err := c.InsertMany(context.Background(), docs); err != nil {
				t.Fatal(err)
			}
			docs = docs[:0]
		}
	}
}

// TestHoldRacesSweep: the hold of a dead revision (UpdateOne {_id, wt}
// $max ttl) does not hold it on FerretDB, whose DeleteMany reads the
// matching documents first and deletes them by _id afterwards: a hold that
// lands in between matches (and is reported so), and the document is
// deleted all the same. Then TestDoubleCreateAcrossSweep again: A read the
// dead revision 1, held it, inserts revision 2; B finds the key empty and
// inserts revision 1: both Creates succeed, B's session shadowed.
// (Memory: the second Create returns ErrExists.)
func TestHoldRacesSweep(t *testing.T) {
	var mu sync.Mutex
	now := time.Now()
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	b, c := newBackend(t, mongostore.WithClock(clock))
	a, g := gatedBackend(t, c, mongostore.WithClock(clock))
	ctx := context.Background()
	const n = 20000
	expiredJunk(t, c, n, now)
	start := time.Now()
	if _, err := b.Sweep(ctx); err != nil { // how long a sweep of n takes here
		t.Fatal(err)
	}
	took := time.Since(start)
	expiredJunk(t, c, n, now)
	// Revision 1: expired 3 minutes ago, its ttl (x + fence) passed.
	if err := b.Create(ctx, "k", entry("gen", "0"), now.Add(-3*time.Minute)); err != nil {
		t.Fatal(err)
	}

	hu, hi := g.next("update"), g.next("insert")
	var wg sync.WaitGroup
	var errA error
	wg.Go(func() { errA = a.Create(ctx, "k", entry("who", "A"), clock().Add(time.Hour)) })
	<-hu.arrived // A read the dead revision 1; its hold is next
	swept := make(chan int)
	go func() { k, _ := b.Sweep(ctx); swept <- k }()
	time.Sleep(took / 3) // the sweep has read the ids, not deleted them yet
	close(hu.release)
	<-hi.arrived // the hold matched: A inserts revision 2 next
	k := <-swept
	errB := b.Create(ctx, "k", entry("who", "B"), clock().Add(time.Hour))
	close(hi.release)
	wg.Wait()
	e, err := b.Get(ctx, "k")
	t.Logf("sweep of %d took %v; swept %d (revision 1 included); Create A: %v; Create B: %v; Get: %q %v", n, took, k, errA, errB, e.Values["who"], err)
	if errA == nil && errB == nil {
		t.Fatalf("both Creates of one key succeeded; the key reads who=%q", e.Values["who"])
	}
}
