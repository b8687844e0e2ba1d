package mongotest_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/crumbs-go/session/driver"
	"github.com/crumbs-go/session/serverstore"
	"github.com/crumbs-go/session/serverstore/mongostore"
)

// TestWithdrawnRevisionBlocksSession: a write whose insert landed past the
// fence withdraws its revision N+1 as a stub, but leaves revision N (the
// newest with k) in place: every later write reads N, inserts N+1, meets the
// stub's _id, reads N again... 256 times, and fails. For the fence (2 min)
// the session can be neither saved nor destroyed. (Memory: both succeed.)
func TestWithdrawnRevisionBlocksSession(t *testing.T) {
	clk := &fakeClock{t: time.Now()}
	b, c := newBackend(t, mongostore.WithClock(clk.now))
	s, gs := gatedBackend(t, c, mongostore.WithClock(clk.now))
	ctx := context.Background()
	exp := clk.now().Add(time.Hour)
	if err := b.Create(ctx, "k", entry("user", "alice"), exp); err != nil {
		t.Fatal(err)
	}
	hs := gs.next("insert")
	done := make(chan error, 1)
	go func() {
		_, err := s.Apply(ctx, "k", &serverstore.Write{Meta: hdr(), Expires: exp, Changes: []driver.Change{setv("s", "S")}})
		done <- err
	}()
	<-hs.arrived
	clk.add(fence + time.Second) // S's insert lands late
	close(hs.release)
	t.Logf("slow S: %v", <-done)

	_, errA := b.Apply(ctx, "k", &serverstore.Write{Meta: hdr(), Expires: exp, Changes: []driver.Change{setv("a", "A")}})
	_, errD := b.Delete(ctx, "k")
	_, errG := b.Get(ctx, "k")
	t.Logf("Apply after: %v\nDelete after: %v\nGet after Delete: %v", errA, errD, errG)
	if errA != nil || errD != nil || !errors.Is(errG, serverstore.ErrNotFound) {
		t.Fatalf("after a withdrawn write the session cannot be written (%v) nor destroyed (%v); Get: %v", errA, errD, errG)
	}
}

// TestCreateRaceThroughLastStub: lastStub marks whatever it finds End, a
// live revision included. A Create whose newest() found nothing, and whose
// lastStub find comes after another Create inserted a live revision, takes
// that revision for a stub and writes over it: both Creates succeed, the
// first's acknowledged session is gone. (Memory: the second gets ErrExists.)
func TestCreateRaceThroughLastStub(t *testing.T) {
	b, c := newBackend(t)
	bb, g := gatedBackend(t, c)
	ctx := context.Background()
	exp := time.Now().Add(time.Hour)
	// The key holds only the stub of its revision 1: an expired record,
	// Delete (end mark 2 with ttl now+fence; then stub 1, ttl now'+fence, a
	// round trip later), and a sweep that lands between the two ttls (here
	// the DeleteOne) takes the end mark alone.
	if err := b.Create(ctx, "k", entry("who", "0"), time.Now().Add(-time.Second)); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Delete(ctx, "k"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.DeleteOne(ctx, bson.D{{Key: "_id", Value: "k.0000000000000002"}}); err != nil {
		t.Fatal(err)
	}
	// B: find (nil), insert rev 1 (duplicate), find (nil), lastStub: held.
	h1, h2, h3 := g.next("find"), g.next("find"), g.next("find")
	go func() { <-h1.arrived; close(h1.release); <-h2.arrived; close(h2.release) }()
	var errB error
	var wg sync.WaitGroup
	bDone := make(chan struct{})
	wg.Go(func() { errB = bb.Create(ctx, "k", entry("who", "B"), exp); close(bDone) })
	select {
	case <-h3.arrived: // B's newest() found nothing; its lastStub find is held
	case <-bDone: // (a Backend that never gets there)
	}
	errA := b.Create(ctx, "k", entry("who", "A"), exp) // revision 2, live
	close(h3.release)
	wg.Wait()
	e, err := b.Get(ctx, "k")
	t.Logf("Create A: %v; Create B: %v; Get: %q %v", errA, errB, e.Values["who"], err)
	if errA == nil && errB == nil {
		t.Fatalf("both Creates of one key succeeded; A's acknowledged session was overwritten: who=%q", e.Values["who"])
	}
}
