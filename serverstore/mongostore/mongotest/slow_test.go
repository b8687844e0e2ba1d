package mongotest_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/crumbs-go/session/driver"
	"github.com/crumbs-go/session/serverstore"
	"github.com/crumbs-go/session/serverstore/mongostore"
)

const fence = 2 * time.Minute // mongostore's

// fakeClock is a clock the test moves.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// TestSlowWriterLosesNothing: a writer S whose insert lands more than the
// fence after its read withdraws its revision as a stub (a delete would
// free its _id): a writer A that read the revision before S's a moment
// ago finds that revision taken, reads again, and its change lands.
func TestSlowWriterLosesNothing(t *testing.T) {
	clk := &fakeClock{t: time.Now()}
	b, c := newBackend(t, mongostore.WithClock(clk.now))
	s, gs := gatedBackend(t, c, mongostore.WithClock(clk.now))
	a, ga := gatedBackend(t, c, mongostore.WithClock(clk.now))
	ctx := context.Background()
	exp := clk.now().Add(time.Hour)
	write := func(k, v string) *serverstore.Write {
		return &serverstore.Write{Meta: hdr(), Expires: exp, Changes: []driver.Change{setv(k, v)}}
	}
	if err := b.Create(ctx, "k", entry("start", "1"), exp); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	hs := gs.next("insert")
	var errS, errA error
	sDone := make(chan struct{})
	wg.Go(func() { _, errS = s.Apply(ctx, "k", write("s", "S")); close(sDone) })
	<-hs.arrived // S read revision 1; its insert of revision 2 is held
	clk.add(fence + 2*time.Second)

	ha := ga.next("insert")
	wg.Go(func() { _, errA = a.Apply(ctx, "k", write("a", "A")) })
	<-ha.arrived // A read revision 1 just now; its insert of revision 2 is held

	hsStub := gs.next("update")
	close(hs.release) // S's revision 2 lands, late
	<-hsStub.arrived
	if _, err := b.Apply(ctx, "k", write("w", "W")); err != nil { // W: revision 3, after S's 2
		t.Fatal(err)
	}
	close(hsStub.release) // S withdraws its revision 2 and reports failure
	<-sDone
	close(ha.release) // A's insert of revision 2
	wg.Wait()
	e, err := b.Get(ctx, "k")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("S: %v\nA: %v\nvalues now: %q", errS, errA, e.Values)
	if errA != nil || e.Values["a"] == nil || e.Values["w"] == nil {
		t.Fatalf("A's Apply returned %v; the session holds %q: a write lost", errA, e.Values)
	}
	if errS == nil {
		t.Fatal("S's write, which landed past the fence, reported success")
	}
}

// TestSlowWriterAfterDestroy: a write whose insert lands after the session
// was destroyed, and its documents (stub and end mark) removed by their
// ttl, finds the key empty and its revision free: it withdraws it, and the
// destroyed session stays destroyed.
func TestSlowWriterAfterDestroy(t *testing.T) {
	clk := &fakeClock{t: time.Now()}
	b, c := newBackend(t, mongostore.WithClock(clk.now))
	s, gs := gatedBackend(t, c, mongostore.WithClock(clk.now))
	ctx := context.Background()
	if err := b.Create(ctx, "k", entry("user", "alice"), clk.now().Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	hs := gs.next("insert")
	var wg sync.WaitGroup
	var errS error
	wg.Go(func() {
		_, errS = s.Apply(ctx, "k", &serverstore.Write{Meta: hdr(), Expires: clk.now().Add(time.Hour), Changes: []driver.Change{setv("x", "1")}})
	})
	<-hs.arrived                                  // S read the live revision 1
	if _, err := b.Delete(ctx, "k"); err != nil { // logout: end mark, revision 2
		t.Fatal(err)
	}
	if _, err := b.Get(ctx, "k"); !errors.Is(err, serverstore.ErrNotFound) {
		t.Fatalf("after Delete: %v", err)
	}
	clk.add(2*fence + 3*time.Second)
	n, err := b.Sweep(ctx) // what the TTL index (or WithSweep) does by now
	if err != nil {
		t.Fatal(err)
	}
	close(hs.release)
	wg.Wait()
	e, err := b.Get(ctx, "k")
	t.Logf("swept %d documents; S's Apply: %v; Get after: %v %v", n, errS, e, err)
	if n != 2 {
		t.Fatalf("the sweep removed %d documents, want the stub and the end mark", n)
	}
	if err == nil {
		t.Fatalf("the destroyed session reads again: %q", e.Values)
	}
}
