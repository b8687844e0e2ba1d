package serverstore

import (
	"context"
	"testing"
	"time"

	"github.com/crumbs-go/session/driver"
)

// TestRetireWhileTheClockTicks: Retire reads the clock once; an entry that
// expires between two readings cannot corrupt the lists (found by review:
// Retire's eviction saw a later now than its lookup and removed the entry
// it was retiring).
func TestRetireWhileTheClockTicks(t *testing.T) {
	base := time.Unix(1e9, 0)
	var ticks int64
	clock := func() time.Time { ticks++; return base.Add(time.Duration(ticks)) }
	m := NewMemory(WithMaxEntries(1), WithClock(clock))
	ctx := context.Background()
	meta := encodeMeta(&driver.Record{Expires: time.Unix(2e9, 0)})
	far := base.Add(time.Hour)
	if err := m.Create(ctx, "A", &Entry{Meta: meta}, far); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Retire(ctx, "A", "X", far); err != nil { // one tombstone: at the bound
		t.Fatal(err)
	}
	t0 := ticks
	if err := m.Create(ctx, "C", &Entry{Meta: meta}, base.Add(time.Duration(t0+3))); err != nil {
		t.Fatal(err)
	}
	func() {
		defer func() {
			if r := recover(); r != nil {
				t.Fatalf("Retire panicked: %v", r)
			}
		}()
		m.Retire(ctx, "C", "Y", far)
	}()
	tombs := 0
	for e := m.ranks[rankTombstone].head; e != nil; e = e.succ {
		tombs++
	}
	if got := len(m.entries) - m.sessions; tombs != got || m.sessions < 0 {
		t.Fatalf("the tombstone list holds %d, the map %d tombstones, sessions %d", tombs, got, m.sessions)
	}
}
