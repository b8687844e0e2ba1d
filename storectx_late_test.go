package session_test

import (
	"context"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/crumbs-go/session"
	"github.com/crumbs-go/session/driver"
	"github.com/crumbs-go/session/serverstore"
)

// lateDoneStore starts, in each Load, a goroutine that takes the load
// context's Done channel a moment later (as context.AfterFunc or a
// driver's watcher started late would); its Save checks that its own
// context keeps the context contract: Done closed implies Err != nil.
type lateDoneStore struct {
	session.Store
	go_     atomic.Pointer[chan struct{}]
	broken  atomic.Int64
	skipped atomic.Int64
}

func (l *lateDoneStore) Load(ctx context.Context, name, token string, now time.Time) (*driver.Record, error) {
	ch := make(chan struct{})
	l.go_.Store(&ch)
	go func() {
		<-ch
		for range rand.IntN(2000) {
		}
		_ = ctx.Done()
	}()
	return l.Store.Load(ctx, name, token, now)
}

func (l *lateDoneStore) Save(ctx context.Context, name string, c *driver.Commit, now time.Time) (string, error) {
	select {
	case <-ctx.Done():
		if ctx.Err() == nil {
			l.broken.Add(1)
		} else {
			l.skipped.Add(1)
		}
	default:
	}
	return l.Store.Save(ctx, name, c, now)
}

// Found by an outside review (the test failed before the fix): beginStore checks taken() and then calls start() under a second
// lock acquisition. A goroutine holding the previous phase's storeCtx that
// calls Done() between the two gets a channel closed at once (the phase
// was stopped); start() then resets err to nil: the new phase's store
// calls run under a context whose Done is closed and whose Err is nil.
func TestStoreContextDoneImpliesErr(t *testing.T) {
	mem, err := serverstore.New(serverstore.NewMemory(), [][]byte{secret(1)})
	if err != nil {
		t.Fatal(err)
	}
	ls := &lateDoneStore{Store: mem}
	m, err := session.New(ls, session.WithLogger(discard()))
	if err != nil {
		t.Fatal(err)
	}
	h := m.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s := session.From(r)
		_ = s.Get("a")
		if ch := ls.go_.Swap(nil); ch != nil {
			close(*ch)
		}
		s.Set("a", 1)
	}))
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest("GET", "/", nil))
	ck := w.Result().Cookies()[0]
	deadline := time.Now().Add(2 * time.Second)
	n := 0
	var panicked any
	for ; time.Now().Before(deadline) && ls.broken.Load() == 0 && panicked == nil; n++ {
		r := httptest.NewRequest("GET", "/", nil)
		r.AddCookie(ck)
		func() {
			defer func() { panicked = recover() }()
			h.ServeHTTP(httptest.NewRecorder(), r)
		}()
	}
	t.Logf("%d requests; Save saw Done closed with Err nil %d times, Done closed with Err set %d times", n, ls.broken.Load(), ls.skipped.Load())
	if panicked != nil {
		t.Errorf("a request panicked: %v", panicked)
	}
	if ls.broken.Load() > 0 {
		t.Errorf("a store call ran under a context whose Done was closed and whose Err was nil")
	}
}
