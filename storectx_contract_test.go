package session_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/crumbs-go/session"
	"github.com/crumbs-go/session/driver"
	"github.com/crumbs-go/session/serverstore"
)

// keepingStore remembers the context of its last Load, as a store that
// hands it to a background refresh, a trace span or a connection-pool
// waiter would, and lets the test look at it during the next Save.
type keepingStore struct {
	session.Store
	mu      sync.Mutex
	loadCtx context.Context
	atSave  func(loadCtx, saveCtx context.Context)
}

func (k *keepingStore) Load(ctx context.Context, name, token string, now time.Time) (*driver.Record, error) {
	k.mu.Lock()
	k.loadCtx = ctx
	k.mu.Unlock()
	return k.Store.Load(ctx, name, token, now)
}

func (k *keepingStore) Save(ctx context.Context, name string, c *driver.Commit, now time.Time) (string, error) {
	k.mu.Lock()
	lc, f := k.loadCtx, k.atSave
	k.mu.Unlock()
	if f != nil {
		f(lc, ctx)
	}
	return k.Store.Save(ctx, name, c, now)
}

// Found by an outside review (the test failed before the fix): the context a store got for the load of an HTTP request reports
// itself done (Err = context.Canceled) once the load is over, and then
// un-cancels when the commit begins: the Session reuses the same storeCtx
// for the next phase because nobody called Done on it. The context
// contract says: "After Err returns a non-nil error, successive calls to
// Err return the same error."
func TestStoreContextStaysDone(t *testing.T) {
	mem, err := serverstore.New(serverstore.NewMemory(), [][]byte{secret(1)})
	if err != nil {
		t.Fatal(err)
	}
	ks := &keepingStore{Store: mem}
	m, err := session.New(ks, session.WithLogger(discard()))
	if err != nil {
		t.Fatal(err)
	}
	var afterLoad, atSave error
	var atSaveDeadline, afterLoadDeadline time.Time
	var doneAtSave bool
	ks.atSave = func(lc, _ context.Context) {
		if lc == nil {
			return
		}
		atSave = lc.Err()
		atSaveDeadline, _ = lc.Deadline()
		select {
		case <-lc.Done():
			doneAtSave = true
		default:
		}
	}
	h := m.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s := session.From(r)
		_ = s.Get("a") // the load phase: starts and ends here
		ks.mu.Lock()
		lc := ks.loadCtx
		ks.mu.Unlock()
		if lc != nil {
			afterLoad = lc.Err()
			afterLoadDeadline, _ = lc.Deadline()
		}
		time.Sleep(5 * time.Millisecond)
		s.Set("a", 1) // the commit phase: Save
	}))
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest("GET", "/", nil))
	r := httptest.NewRequest("GET", "/", nil)
	r.AddCookie(w.Result().Cookies()[0])
	h.ServeHTTP(httptest.NewRecorder(), r)

	t.Logf("load ctx after the load: Err=%v deadline=%v", afterLoad, afterLoadDeadline.Format(time.StampMicro))
	t.Logf("same ctx during the commit's Save: Err=%v deadline=%v done=%v", atSave, atSaveDeadline.Format(time.StampMicro), doneAtSave)
	if !errors.Is(afterLoad, context.Canceled) {
		t.Fatalf("after the load, Err = %v; want context.Canceled", afterLoad)
	}
	if atSave == nil {
		t.Errorf("the load's context reported Err=%v, then Err=nil: a context un-cancelled", afterLoad)
	}
	if !afterLoadDeadline.Equal(atSaveDeadline) {
		t.Errorf("the load's context changed its Deadline from %v to %v", afterLoadDeadline, atSaveDeadline)
	}
}

// Found by an outside review (the test failed before the fix): WithStoreTimeout's doc: "Load, LoadRequest and Session.Commit
// always use the context they are given." A LoadRequest session's Save
// (gorillastore's Save) runs its store calls under a storeCtx instead:
// the request's cancellation is dropped and a 5 s deadline of crumbs' own
// replaces the request's.
func TestLoadRequestSaveUsesCallersContext(t *testing.T) {
	mem, err := serverstore.New(serverstore.NewMemory(), [][]byte{secret(1)})
	if err != nil {
		t.Fatal(err)
	}
	ks := &keepingStore{Store: mem}
	m, err := session.New(ks, session.WithLogger(discard()))
	if err != nil {
		t.Fatal(err)
	}
	var saveErr error
	var saveDeadline time.Time
	var hasDeadline bool
	ks.atSave = func(_, sc context.Context) {
		saveErr = sc.Err()
		saveDeadline, hasDeadline = sc.Deadline()
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // the caller's context is done: its store calls should see it
	r := httptest.NewRequest("GET", "/", nil).WithContext(ctx)
	s, err := m.LoadRequest(httptest.NewRecorder(), r)
	if err != nil {
		t.Fatal(err)
	}
	s.Set("a", 1)
	if err := s.Save(); err != nil {
		t.Logf("Save: %v", err)
	}
	t.Logf("the store's Save got a context with Err=%v, deadline %v (set: %v)", saveErr, saveDeadline, hasDeadline)
	if saveErr == nil {
		t.Errorf("Save of a LoadRequest session: the store's context is not the caller's (its Err is nil, the caller's is context.Canceled)")
	}
	if hasDeadline {
		t.Errorf("Save of a LoadRequest session: a deadline (%v from now) the caller never gave", time.Until(saveDeadline).Round(time.Second))
	}
}
