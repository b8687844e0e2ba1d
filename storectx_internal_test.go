package session

import (
	"context"
	"errors"
	"testing"
	"time"
)

type ctxKeyTest struct{}

func TestStoreCtx(t *testing.T) {
	parent, cancel := context.WithCancel(context.WithValue(context.Background(), ctxKeyTest{}, "v"))
	cancel() // the client left
	var c storeCtx
	c.start(parent, time.Now().Add(50*time.Millisecond))
	if c.Err() != nil {
		t.Fatalf("Err before the deadline: %v (the parent's cancellation leaked through)", c.Err())
	}
	if c.Value(ctxKeyTest{}) != "v" {
		t.Fatal("the request's values are lost")
	}
	if d, ok := c.Deadline(); !ok || time.Until(d) > 50*time.Millisecond {
		t.Fatalf("Deadline %v %v", d, ok)
	}
	select {
	case <-c.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("Done not closed at the deadline")
	}
	if !errors.Is(c.Err(), context.DeadlineExceeded) {
		t.Fatalf("Err after the deadline: %v", c.Err())
	}
	// A storeCtx whose Done was taken serves no other phase (the Session
	// makes a new one): what waited on it reads its Err for good.
	c.stop()
	if !c.taken() || !errors.Is(c.Err(), context.DeadlineExceeded) {
		t.Fatalf("after stop: taken %v, Err %v", c.taken(), c.Err())
	}
	c = storeCtx{}
	c.start(parent, time.Now().Add(time.Hour))
	if c.Err() != nil {
		t.Fatalf("a new phase starts done: %v", c.Err())
	}
	done := c.Done()
	// A context derived from it by a driver ends with it.
	child, cancelChild := context.WithCancel(&c)
	defer cancelChild()
	c.stop()
	<-done
	<-child.Done()
	if !errors.Is(c.Err(), context.Canceled) || !errors.Is(child.Err(), context.Canceled) {
		t.Fatalf("after stop: %v, child %v", c.Err(), child.Err())
	}
	// A deadline already past: done at once, on Err and on Done alike.
	c = storeCtx{}
	c.start(parent, time.Now().Add(-time.Second))
	if !errors.Is(c.Err(), context.DeadlineExceeded) {
		t.Fatalf("past deadline: Err %v", c.Err())
	}
	<-c.Done()
	c.stop()
}

// A phase nobody asks Done or Value of allocates nothing: cookie mode and
// the memory backend pay no more than before.
func TestStoreCtxUnusedAllocatesNothing(t *testing.T) {
	var c storeCtx
	parent := context.Background()
	if n := testing.AllocsPerRun(100, func() {
		c.start(parent, time.Now().Add(time.Second))
		_ = c.Err()
		_, _ = c.Deadline()
		c.stop()
	}); n != 0 {
		t.Errorf("%v allocations per phase", n)
	}
}
