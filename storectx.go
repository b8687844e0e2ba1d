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
// Each phase has one of its own, never reused: a store may keep it past
// its calls (a goroutine that waits on Done and then reads Err), and a
// context, once done, stays done. Its Done channel and timer are made on
// the first Done, the values' context on the first Value, so a store that
// asks for neither (cookie mode, the memory backend) pays nothing for the
// first two phases (Session.spare) and one allocation for each further one.
type storeCtx struct {
	mu       sync.Mutex
	parent   context.Context // the request's
	base     context.Context // context.WithoutCancel(parent), made by the first Value
	deadline time.Time
	done     chan struct{} // made by the first Done; closed at the deadline or by stop
	timer    *time.Timer   // closes done at the deadline
	err      error         // why done is closed (or is due closed)
}

func newStoreCtx(parent context.Context, deadline time.Time) *storeCtx {
	return &storeCtx{parent: parent, deadline: deadline}
}

// stop ends the phase, as the cancel of a context.WithTimeout would: what
// still holds the context sees it done, for good.
func (c *storeCtx) stop() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.timer != nil {
		c.timer.Stop()
	}
	c.end(context.Canceled)
}

// end closes done (if made) with err, once. c.mu is held.
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
	return c.deadline, true // set once, before the context is handed out
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
		c.timer = time.AfterFunc(d, func() {
			c.mu.Lock()
			defer c.mu.Unlock()
			c.end(context.DeadlineExceeded)
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
const storeTimeout = 10 * time.Second

// beginStore starts a phase of store calls, whose context is then
// s.storeContext(); endStore ends it. Phases nest: a load within a commit
// joins the commit's. Outside the middleware (Load, LoadRequest and its
// Save, Commit) and with WithStoreTimeout(0), the store gets the caller's
// context as is. A phase's storeCtx is made by its first store call, and
// its deadline counts from then: a commit that calls no store (a request
// that only read its session) costs nothing.
func (s *Session) beginStore() {
	s.storeDepth++
}

// restartStore gives the rest of the phase under way a deadline of its own,
// from its next store call: a commit that waited its turn behind parallel
// Updates of the session (Manager.save) has its whole WithStoreTimeout for
// its store calls.
func (s *Session) restartStore() {
	if s.scp != nil {
		s.scp.stop()
		s.scp = nil
	}
}

func (s *Session) endStore() {
	s.storeDepth--
	if s.storeDepth > 0 {
		return
	}
	if s.scp != nil {
		s.scp.stop()
		s.scp = nil
	}
}

// storeContext is the context of the store calls of the current phase.
func (s *Session) storeContext() context.Context {
	if !s.detach || s.storeDepth == 0 || s.m.cfg.storeTimeout == 0 {
		return s.ctx
	}
	if s.scp == nil {
		deadline := time.Now().Add(s.m.cfg.storeTimeout)
		if s.used < len(s.spare) {
			c := &s.spare[s.used]
			s.used++
			c.parent, c.deadline = s.ctx, deadline
			s.scp = c
		} else {
			s.scp = newStoreCtx(s.ctx, deadline)
		}
	}
	return s.scp
}
