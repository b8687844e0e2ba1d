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

// TestTombstoneValues: the marked tombstone of an ID-only Regenerate
// (spec/server-id-v1.md §4.3) and what readers make of odd ones.
func TestTombstoneValues(t *testing.T) {
	at := time.UnixMilli(1764201600123)
	d := valuesDigest(map[string][]byte{"user": []byte(`"ada"`)})
	if len(d) != 22 || d == valuesDigest(map[string][]byte{"user": []byte(`"ada"`), "mfa": []byte("true")}) {
		t.Fatalf("digest %q", d)
	}
	if v := tombstone("KEY", at, d); v != "~1764201600123~"+d+"~KEY" {
		t.Fatalf("marked tombstone %q", v)
	}
	for _, tc := range []struct {
		v, key string
		marked bool
	}{
		{"KEY", "KEY", false},
		{"~1764201600123~" + d + "~KEY", "KEY", true},
		{"~x~" + d + "~KEY", "KEY", false},
		{"~0~" + d + "~KEY", "KEY", false},
		{"~1764201600123~short~KEY", "KEY", false},
		{"~1764201600123~KEY", "KEY", false},
		{"~KEY", "~KEY", false},
		{"", "", false},
	} {
		got := parseTombstone(tc.v)
		if got.key != tc.key || got.marked != tc.marked || got.marked && (!got.at.Equal(at) || got.digest != d) {
			t.Errorf("parseTombstone(%q) = %+v; want key %q, marked %v", tc.v, got, tc.key, tc.marked)
		}
	}
}

// TestMemoryViewComesBack: a session that held a compressed value is read
// through a copy each time; once every value is raw again, through the
// view (a write lets rawView look again). Only speed depends on it.
func TestMemoryViewComesBack(t *testing.T) {
	m := NewMemory()
	ctx := context.Background()
	meta := encodeMeta(&driver.Record{Expires: time.Now().Add(time.Hour)})
	far := time.Now().Add(time.Hour)
	if err := m.Create(ctx, "A", &Entry{Meta: meta, Values: map[string][]byte{"z": {tagZstd, 1}, "n": {tagRaw, '1'}}}, far); err != nil {
		t.Fatal(err)
	}
	decode := func(v []byte) ([]byte, error) { return v[1:], nil }
	read := func() {
		t.Helper()
		var out Entry
		if err := m.getInto("A", &out, decode); err != nil {
			t.Fatal(err)
		}
	}
	read()
	if e := m.entries["A"]; e.view != nil || !e.noView {
		t.Fatalf("with a compressed value: view %v, noView %v; want none", e.view, e.noView)
	}
	if _, err := m.Apply(ctx, "A", &Write{Meta: meta, Expires: far, Changes: []driver.Change{{Key: "z", Delete: true}}}); err != nil {
		t.Fatal(err)
	}
	read()
	if e := m.entries["A"]; e.view == nil || string(e.view["n"]) != "1" || len(e.view) != 1 {
		t.Fatalf("all raw again: view %q; want n=1", e.view)
	}
}
