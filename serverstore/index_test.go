package serverstore_test

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	"github.com/crumbs-go/session/driver"
	"github.com/crumbs-go/session/serverstore"
)

// laggingIndex is a memory backend whose index still lists the records it
// listed before a Retire, as DynamoDB's global secondary index may for
// about a second.
type laggingIndex struct {
	*serverstore.Memory
	stale map[string]*serverstore.Binding
}

func (l *laggingIndex) Bound(ctx context.Context, user string) (map[string]*serverstore.Binding, error) {
	now, err := l.Memory.Bound(ctx, user)
	for k, b := range l.stale {
		now[k] = b
	}
	return now, err
}

// TestEndAllKeepsAcrossALaggingIndex: after a same-user ID rotation, an
// index that still lists the retired ID does not make EndAll end the
// session it was told to keep (it followed the tombstone into it).
func TestEndAllKeepsAcrossALaggingIndex(t *testing.T) {
	ctx := context.Background()
	mem := serverstore.NewMemory()
	lag := &laggingIndex{Memory: mem}
	st, err := serverstore.New(lag, [][]byte{bytes.Repeat([]byte("i"), 32)})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	rec := func(id string) *driver.Commit {
		return &driver.Commit{Op: driver.OpCreate, Record: driver.Record{ID: id, User: "ann", Created: now,
			IdleExpires: now.Add(time.Hour), Values: map[string][]byte{"user": []byte(`"ann"`)}}}
	}
	old, next, other := "OLDoldOLDoldOLDoldOLDoldOLDoldOLDoldOLDoldO", "NEWnewNEWnewNEWnewNEWnewNEWnewNEWnewNEWnewN", "OTHotherOTHotherOTHotherOTHotherOTHotherOTH"
	for _, id := range []string{old, other} {
		if _, err := st.Save(ctx, "sid", rec(id), now); err != nil {
			t.Fatal(err)
		}
	}
	lag.stale, _ = mem.Bound(ctx, "ann") // the index as it was before the rotation
	if _, err := st.Save(ctx, "sid", rec(next), now); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Retire(ctx, "sid", &driver.Record{ID: old, User: "ann"}, &driver.Record{ID: next, User: "ann"}, now); err != nil {
		t.Fatal(err)
	}
	n, err := st.EndAll(ctx, "ann", st.Handle(next), now)
	if err != nil || n != 1 {
		t.Fatalf("EndAll = %d, %v; want the one other session ended", n, err)
	}
	if _, err := mem.Get(ctx, st.Key(next)); err != nil {
		t.Fatalf("the kept session after EndAll: %v", err)
	}
	if _, err := mem.Get(ctx, st.Key(other)); !errors.Is(err, serverstore.ErrNotFound) {
		t.Fatalf("the other session after EndAll: %v, want ErrNotFound", err)
	}
	if _, err := mem.Get(ctx, st.Key(old)); !errors.Is(err, serverstore.ErrMoved) {
		t.Fatalf("the kept session's retired ID after EndAll: %v, want ErrMoved (a tombstone still)", err)
	}
}
