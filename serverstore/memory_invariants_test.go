package serverstore

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/crumbs-go/session/driver"
)

// checkInvariants holds the memory backend to its bookkeeping: every entry
// in exactly one list of its rank, the counters right, the bounds kept.
func (m *Memory) checkInvariants(t *testing.T, step int, op string) {
	t.Helper()
	n, tomb := 0, 0
	for _, e := range m.entries {
		if e.moved {
			tomb++
		} else {
			n++
		}
		if (e.rank == rankTombstone) != e.moved {
			t.Fatalf("step %d %s: entry %s moved=%v rank=%d", step, op, e.key, e.moved, e.rank)
		}
	}
	listed := 0
	for r := range m.ranks {
		inList := 0
		for e := m.ranks[r].head; e != nil; e = e.succ {
			inList++
			listed++
			if e.rank != r {
				t.Fatalf("step %d %s: %s in list %d has rank %d", step, op, e.key, r, e.rank)
			}
			if m.entries[e.key] != e {
				t.Fatalf("step %d %s: listed %s not in entries", step, op, e.key)
			}
		}
		if inList != m.ranks[r].n {
			t.Fatalf("step %d %s: list %d holds %d, counts %d", step, op, r, inList, m.ranks[r].n)
		}
	}
	if listed != len(m.entries) || m.byTime.Len() != len(m.entries) {
		t.Fatalf("step %d %s: listed %d heap %d entries %d", step, op, listed, m.byTime.Len(), len(m.entries))
	}
	if n != m.sessions {
		t.Fatalf("step %d %s: sessions counter %d, real %d", step, op, m.sessions, n)
	}
	if n > m.max || tomb > m.max || m.sessions < 0 {
		t.Fatalf("step %d %s: sessions %d tombstones %d max %d", step, op, n, tomb, m.max)
	}
	c, _ := m.Count(context.Background())
	k := 0
	for range m.Keys(context.Background()) {
		k++
	}
	if c != k {
		t.Fatalf("step %d %s: Count %d Keys %d", step, op, c, k)
	}
}

func TestMemoryInvariantsRandom(t *testing.T) {
	for seed := uint64(0); seed < 300; seed++ {
		rng := rand.New(rand.NewPCG(seed, 1))
		now := time.Unix(1e9, 0)
		max := 1 + rng.IntN(6)
		m := NewMemory(WithMaxEntries(max), WithClock(func() time.Time { return now }))
		ctx := context.Background()
		key := func() string { return fmt.Sprint("k", rng.IntN(12)) }
		meta := encodeMeta(&driver.Record{Expires: time.Unix(2e9, 0)})
		for step := 0; step < 400; step++ {
			op := rng.IntN(8)
			var name string
			switch op {
			case 0, 1:
				name = "create"
				m.Create(ctx, key(), &Entry{Meta: meta, Values: map[string][]byte{}}, now.Add(time.Duration(1+rng.IntN(20))*time.Second))
			case 2:
				name = "get"
				m.Get(ctx, key())
			case 3:
				name = "apply"
				m.Apply(ctx, key(), &Write{Meta: meta, Expires: now.Add(time.Duration(1+rng.IntN(20)) * time.Second)})
			case 4:
				name = "retire"
				m.Retire(ctx, key(), key(), now.Add(time.Duration(1+rng.IntN(20))*time.Second))
			case 5:
				name = "delete"
				m.Delete(ctx, key())
			case 6:
				name = "tick"
				now = now.Add(time.Duration(rng.IntN(3)) * time.Second)
			case 7:
				if rng.IntN(20) == 0 {
					name = "clear"
					m.Clear(ctx)
				}
			}
			m.checkInvariants(t, step, fmt.Sprint(name, " seed ", seed))
		}
	}
}

func TestMemoryInvariantsTickingClock(t *testing.T) {
	for seed := uint64(0); seed < 2000; seed++ {
		rng := rand.New(rand.NewPCG(seed, 2))
		base := time.Unix(1e9, 0)
		var ticks int64
		frozen := false
		clock := func() time.Time {
			if !frozen {
				ticks++
			}
			return base.Add(time.Duration(ticks))
		}
		max := 1 + rng.IntN(3)
		m := NewMemory(WithMaxEntries(max), WithClock(clock))
		ctx := context.Background()
		key := func() string { return fmt.Sprint("k", rng.IntN(6)) }
		meta := encodeMeta(&driver.Record{Expires: time.Unix(2e9, 0)})
		exp := func() time.Time { return base.Add(time.Duration(ticks + int64(rng.IntN(6)))) }
		func() {
			defer func() {
				if r := recover(); r != nil {
					t.Fatalf("seed %d: panic %v", seed, r)
				}
			}()
			for step := 0; step < 200; step++ {
				var name string
				switch rng.IntN(5) {
				case 0, 1:
					name = "create"
					m.Create(ctx, key(), &Entry{Meta: meta, Values: map[string][]byte{}}, exp())
				case 2:
					name = "apply"
					m.Apply(ctx, key(), &Write{Meta: meta, Expires: exp()})
				case 3:
					name = "retire"
					m.Retire(ctx, key(), key(), exp())
				case 4:
					name = "get"
					m.Get(ctx, key())
				}
				frozen = true
				m.checkInvariants(t, step, fmt.Sprint(name, " seed ", seed))
				frozen = false
			}
		}()
	}
}
