package session

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/crumbs-go/session/driver"
)

// timeoutStore fails each Load as a pooled network client does when its
// backend stops answering: the error names the connection's local port,
// so each connection's error is a "kind" of its own. errNext, when set,
// is the next Load's error instead.
type timeoutStore struct {
	nopStore
	n       atomic.Int64
	errNext atomic.Pointer[error]
}

func (s *timeoutStore) Load(context.Context, string, string, time.Time) (*driver.Record, error) {
	if e := s.errNext.Swap(nil); e != nil {
		return nil, *e
	}
	return nil, fmt.Errorf("read tcp 127.0.0.1:%d->10.0.0.7:6379: i/o timeout", 40000+s.n.Add(1))
}

// Found by an outside review (the test failed before the fix): a message is keyed by its whole text, which for a store failure
// holds the error's text (a local port, an address, a size): 32 such
// lines fill the window, and any other error in the rest of the window is
// never logged with its text, not even when the window closes: the one
// line "more kinds ... counted together" names none. A one-off failure of
// another kind during a timeout storm leaves no trace in the log.
func TestRateLogKeepsARareErrorAmongTimeouts(t *testing.T) {
	store := &timeoutStore{}
	buf, send, closeWindow := storm(t, store)
	for range 40 { // a pool of 40 connections timing out
		send()
	}
	rare := errors.New("pq: permission denied for table sessions")
	store.errNext.Store(&rare)
	send()
	closeWindow()
	log := strings.Join(buf.lines(), "\n")
	if !strings.Contains(log, "permission denied") {
		lines := buf.lines()
		t.Errorf("the only failure of its kind is not in the log (%d lines); its last line:\n%s", len(lines), lines[len(lines)-1])
	}
}
