package serverstore

import (
	"context"
	"strconv"
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

// Found by an outside review (both failed before the fix): Retire handed
// out the stored bytes, which a request that loaded the session through
// the view still reads (what Retire returns is the caller's, to write
// into); and a session that shrank kept its view at its largest size,
// which every later read cloned (5,000 keys deleted down to one: 160 µs
// a read instead of 7 µs).
func TestMemoryViewSharesNothingItHandsOut(t *testing.T) {
	m := NewMemory()
	ctx := context.Background()
	meta := encodeMeta(&driver.Record{Expires: time.Now().Add(time.Hour)})
	far := time.Now().Add(time.Hour)
	values := map[string][]byte{"n": {tagRaw, 'h', 'i'}}
	for i := range 100 {
		values["k"+strconv.Itoa(i)] = []byte{tagRaw, '1'}
	}
	if err := m.Create(ctx, "A", &Entry{Meta: meta, Values: values}, far); err != nil {
		t.Fatal(err)
	}
	decode := func(v []byte) ([]byte, error) { return v[1:], nil }
	var read Entry
	if err := m.getInto("A", &read, decode); err != nil {
		t.Fatal(err)
	}
	var deletes []driver.Change
	for i := range 100 {
		deletes = append(deletes, driver.Change{Key: "k" + strconv.Itoa(i), Delete: true})
	}
	if _, err := m.Apply(ctx, "A", &Write{Meta: meta, Expires: far, Changes: deletes}); err != nil {
		t.Fatal(err)
	}
	if e := m.entries["A"]; e.view != nil {
		t.Errorf("after 100 deletes the view of %d keys is kept; want it dropped, to be rebuilt at its size", len(e.view))
	}
	var again Entry
	if err := m.getInto("A", &again, decode); err != nil || len(again.Values) != 1 {
		t.Fatalf("read %d values (%v), want 1", len(again.Values), err)
	}
	if _, err := m.Apply(ctx, "A", &Write{Meta: meta, Expires: far, Clear: true}); err != nil {
		t.Fatal(err)
	}
	if e := m.entries["A"]; e.view != nil {
		t.Errorf("after a Clear the view is kept; want it dropped")
	}
	if _, err := m.Apply(ctx, "A", &Write{Meta: meta, Expires: far, Changes: []driver.Change{{Key: "n", Value: []byte{tagRaw, 'h', 'i'}}}}); err != nil {
		t.Fatal(err)
	}
	if err := m.getInto("A", &read, decode); err != nil {
		t.Fatal(err)
	}
	old, err := m.Retire(ctx, "A", "B", far)
	if err != nil {
		t.Fatal(err)
	}
	old.Values["n"][1] = 'X'
	if got := string(read.Values["n"]); got != "hi" {
		t.Fatalf("a request's value reads %q after the caller of Retire wrote into what it got; want \"hi\"", got)
	}
}

// TestStoreReadsThroughTheView: the Store's Load of a memory-backed session
// goes through the backend's view (what makes memory mode's reads cheap;
// only speed depends on it, which no other test sees), and reads what is
// stored.
func TestStoreReadsThroughTheView(t *testing.T) {
	mem := NewMemory()
	st, err := New(mem, [][]byte{[]byte("0123456789abcdef0123456789abcdef")})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	id := "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
	tok, err := st.ring.Sign("session", id)
	if err != nil {
		t.Fatal(err)
	}
	meta := encodeMeta(&driver.Record{Expires: time.Now().Add(time.Hour)})
	if err := mem.Create(ctx, st.Key(id), &Entry{Meta: meta, Values: map[string][]byte{"n": {tagRaw, '7'}}}, time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	rec, err := st.Load(ctx, "session", tok, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if string(rec.Values["n"]) != "7" {
		t.Fatalf("read n = %q, want 7", rec.Values["n"])
	}
	if mem.entries[st.Key(id)].view == nil {
		t.Fatal("the Store read the session without the backend's view")
	}
}
