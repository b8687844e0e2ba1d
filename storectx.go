package session

import (
	"context"
	"sync"
	"time"
)

// storeCtx is the context of the store calls of one phase of an HTTP
// request (its load, or a commit): it carries the request's values but not
// its cancellation, so that a client that goes away mid-request cancels
// neither the load its handler goes on to read nor the save of what the
// handler did (its side effects stand); its deadline is its own
// (WithStoreTimeout), so that a store that stops answering fails the
// request instead of holding it.
//
// It costs nothing until a store asks for it: the Done channel and its
// timer are made on the first Done, the values' context on the first
// Value, so cookie mode and the memory backend, which ask for neither,
// allocate nothing. It lives in its Session and serves phase after phase
// (start, stop) until a store takes its Done channel: from then on it is
// never changed again (a goroutine that waited on it may still read its
// Err), and the next phase gets a new one.
type storeCtx struct {
	mu       sync.Mutex
	parent   context.Context // the request's
	base     context.Context // context.WithoutCancel(parent), made by the first Value
	deadline time.Time
	done     chan struct{} // made by the first Done; closed at the deadline or by stop
	timer    *time.Timer   // closes done at the deadline
	err      error         // why done is closed (or is due closed)
	phase    uint64        // which phase a timer belongs to: a late one of an earlier phase does nothing
}

// start begins a phase that ends at deadline, on a storeCtx whose Done
// nobody took (taken reports false).
func (c *storeCtx) start(parent context.Context, deadline time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.parent != parent {
		c.parent, c.base = parent, nil
	}
	c.deadline, c.err = deadline, nil
	c.phase++
}

// taken reports whether a store took the Done channel of an earlier phase.
func (c *storeCtx) taken() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.done != nil
}

// stop ends the phase, as the cancel of a context.WithTimeout would: what
// still holds the context sees it done.
func (c *storeCtx) stop() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.timer != nil {
		c.timer.Stop()
	}
	c.end(context.Canceled)
}

// end closes done (if made) with err, once per phase. c.mu is held.
func (c *storeCtx) end(err error) {
	if c.err != nil {
		return
	}
	c.err = err
	if c.done != nil {
		close(c.done)
	}
}

func (c *storeCtx) Deadline() (time.Time, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.deadline, true
}

func (c *storeCtx) Done() <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.done != nil {
		return c.done
	}
	c.done = make(chan struct{})
	switch d := time.Until(c.deadline); {
	case c.err != nil:
		close(c.done)
	case d <= 0:
		c.end(context.DeadlineExceeded)
	default:
		phase := c.phase
		c.timer = time.AfterFunc(d, func() {
			c.mu.Lock()
			defer c.mu.Unlock()
			if c.phase == phase {
				c.end(context.DeadlineExceeded)
			}
		})
	}
	return c.done
}

func (c *storeCtx) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err == nil && !time.Now().Before(c.deadline) {
		c.end(context.DeadlineExceeded)
	}
	return c.err
}

func (c *storeCtx) Value(key any) any {
	c.mu.Lock()
	if c.base == nil {
		c.base = context.WithoutCancel(c.parent)
	}
	base := c.base
	c.mu.Unlock()
	return base.Value(key)
}

func (c *storeCtx) String() string { return "session.storeCtx" }

// storeTimeout is WithStoreTimeout's default.
const storeTimeout = 5 * time.Second

// beginStore starts a phase of store calls, whose context is then
// s.storeContext(); endStore ends it. Phases nest: a load within a commit
// joins the commit's. Outside the middleware (Load, LoadRequest, Commit)
// and with WithStoreTimeout(0), the store gets the caller's context as is.
func (s *Session) beginStore() {
	s.storeDepth++
	if s.storeDepth > 1 {
		return
	}
	if s.w == nil || s.m.cfg.storeTimeout == 0 {
		s.sctx = s.ctx
		return
	}
	switch {
	case s.scp == nil:
		s.scp = &s.sc
	case s.scp.taken():
		s.scp = new(storeCtx)
	}
	s.scp.start(s.ctx, time.Now().Add(s.m.cfg.storeTimeout))
	s.sctx = s.scp
}

func (s *Session) endStore() {
	s.storeDepth--
	if s.storeDepth > 0 {
		return
	}
	if s.scp != nil && s.sctx == s.scp {
		s.scp.stop()
	}
	s.sctx = nil
}

// storeContext is the context of the store calls of the current phase.
func (s *Session) storeContext() context.Context {
	if s.sctx == nil {
		return s.ctx // outside a phase: not expected, but never nil
	}
	return s.sctx
}
