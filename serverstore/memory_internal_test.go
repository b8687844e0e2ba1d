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

// TestTombstoneValues: the marked tombstone of a same-user Regenerate
// (spec/server-id-v1.md §4.3) and what readers make of odd ones.
func TestTombstoneValues(t *testing.T) {
	at := time.UnixMilli(1764201600123)
	if v := tombstone("KEY", at, true); v != "~1764201600123~KEY" {
		t.Fatalf("marked tombstone %q", v)
	}
	if v := tombstone("KEY", at, false); v != "KEY" {
		t.Fatalf("plain tombstone %q", v)
	}
	for _, tc := range []struct {
		v, key string
		marked bool
	}{
		{"KEY", "KEY", false},
		{"~1764201600123~KEY", "KEY", true},
		{"~x~KEY", "KEY", false},
		{"~0~KEY", "KEY", false},
		{"~-5~KEY", "KEY", false},
		{"~KEY", "~KEY", false},
		{"~~KEY", "KEY", false},
		{"", "", false},
	} {
		key, when, marked := parseTombstone(tc.v)
		if key != tc.key || marked != tc.marked || marked && !when.Equal(at) {
			t.Errorf("parseTombstone(%q) = %q, %v, %v; want %q, %v", tc.v, key, when, marked, tc.key, tc.marked)
		}
	}
}
