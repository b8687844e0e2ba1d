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
	c := newStoreCtx(parent, time.Now().Add(50*time.Millisecond))
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
	c.stop() // done stays done, with its first reason
	if !errors.Is(c.Err(), context.DeadlineExceeded) {
		t.Fatalf("Err after stop: %v", c.Err())
	}

	// stop ends it as a cancel would, for what derived a context from it.
	c = newStoreCtx(parent, time.Now().Add(time.Hour))
	done := c.Done()
	child, cancelChild := context.WithCancel(c)
	defer cancelChild()
	c.stop()
	<-done
	<-child.Done()
	if !errors.Is(c.Err(), context.Canceled) || !errors.Is(child.Err(), context.Canceled) {
		t.Fatalf("after stop: %v, child %v", c.Err(), child.Err())
	}
	// Err read first, Done later: the same, for good.
	c = newStoreCtx(parent, time.Now().Add(time.Hour))
	c.stop()
	if err := c.Err(); !errors.Is(err, context.Canceled) {
		t.Fatalf("Err after stop: %v", err)
	}
	select {
	case <-c.Done():
	default:
		t.Fatal("Done after stop is open")
	}

	// A deadline already past: done at once, on Err and on Done alike.
	c = newStoreCtx(parent, time.Now().Add(-time.Second))
	if !errors.Is(c.Err(), context.DeadlineExceeded) {
		t.Fatalf("past deadline: Err %v", c.Err())
	}
	<-c.Done()
	c.stop()
}

// A phase nobody asks Done or Value of costs its storeCtx alone.
func TestStoreCtxUnusedAllocatesOnce(t *testing.T) {
	parent := context.Background()
	if n := testing.AllocsPerRun(100, func() {
		c := newStoreCtx(parent, time.Now().Add(time.Second))
		_ = c.Err()
		_, _ = c.Deadline()
		c.stop()
	}); n > 1 {
		t.Errorf("%v allocations per phase", n)
	}
}
