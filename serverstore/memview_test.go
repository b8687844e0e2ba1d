package serverstore_test

import (
	"bytes"
	"fmt"
	"log/slog"
	"maps"
	"math/rand/v2"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/crumbs-go/session"
	"github.com/crumbs-go/session/serverstore"
)

// TestMemoryReadsFollowEveryWrite: the memory backend keeps a decoded view
// of each session for the Store's reads (shared bytes, a map cloned per
// read) and updates it on every write. Against a model, 3,000 random
// commits (sets of small and of compressible values of 512 bytes and more,
// which are stored compressed, deletes, Clears, commits that change
// nothing), each followed by a fresh read of every value, and with
// parallel readers on one session under -race: a read sees exactly what
// the last commit wrote, and no request's writes reach another's values.
func TestMemoryReadsFollowEveryWrite(t *testing.T) {
	store, err := serverstore.New(serverstore.NewMemory(), [][]byte{bytes.Repeat([]byte("v"), 32)})
	if err != nil {
		t.Fatal(err)
	}
	m, err := session.New(store)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	keys := []string{"a", "b", "c", "d", "big"}
	value := func() string {
		if rng.IntN(3) == 0 {
			return strings.Repeat("compressible ", 40+rng.IntN(40)) // ≥ 512 bytes: stored compressed
		}
		return strings.Repeat("x", rng.IntN(20))
	}
	model := map[string]string{}
	tok := ""
	check := func(step int) {
		s, err := m.Load(t.Context(), tok)
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]string{}
		for _, k := range s.Keys() {
			v, ok := session.Get[string](s, k)
			if !ok {
				t.Fatalf("step %d: %q listed but not read", step, k)
			}
			got[k] = v
			s.Set(k, v+"!") // a change this request never commits
		}
		if !maps.Equal(got, model) {
			t.Fatalf("step %d: read %v, want %v", step, short(got), short(model))
		}
	}
	for step := range 3000 {
		s, err := m.Load(t.Context(), tok)
		if err != nil {
			t.Fatal(err)
		}
		switch op := rng.IntN(10); {
		case op < 6:
			k, v := keys[rng.IntN(len(keys))], value()
			s.Set(k, v)
			model[k] = v
		case op < 8:
			k := keys[rng.IntN(len(keys))]
			s.Delete(k)
			delete(model, k)
		case op < 9:
			s.Clear()
			clear(model)
			if rng.IntN(2) == 0 { // and a value in the same write
				k, v := keys[rng.IntN(len(keys))], value()
				s.Set(k, v)
				model[k] = v
			}
		}
		next, _, err := s.Commit()
		if err != nil {
			t.Fatalf("step %d: %v", step, err)
		}
		if next != "" {
			tok = next
		}
		check(step)
	}

	// Parallel readers of one session, each changing its own copy, while
	// writers commit new values: under -race, a write into shared bytes
	// shows as a race; every read is one of the committed states.
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			for i := range 50 {
				s, err := m.Load(t.Context(), tok)
				if err != nil {
					t.Error(err)
					return
				}
				a, _ := session.Get[string](s, "a")
				s.Set("a", a+"!")
				if w%2 == 0 && i%5 == 0 {
					s.Set("a", strings.Repeat("w", w+1))
					if _, _, err := s.Commit(); err != nil {
						t.Error(err)
					}
				}
			}
		})
	}
	wg.Wait()
	s, err := m.Load(t.Context(), tok)
	if err != nil {
		t.Fatal(err)
	}
	if a, _ := session.Get[string](s, "a"); strings.Trim(a, "w") != "" || a == "" {
		t.Fatalf("after the parallel writers, a = %q, want one writer's value", a)
	}
}

func short(m map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range m {
		if len(v) > 24 {
			v = v[:24] + "…"
		}
		out[k] = v
	}
	return out
}

// TestMemoryReadsUnderRegenerate: parallel requests on one memory-mode
// session read every value, set one, and commit half the time, while
// another request regenerates the session over and over (Retire hands the
// old record's values to the new ID). No request ever reads a value that
// was set but not committed (the view's bytes are shared: a request's
// change must stay its own), every value read was committed once, and
// under -race no two requests touch the same bytes unsynchronized. A
// request that carried an ID retired meanwhile gets a fresh, empty
// session; it is not counted, and tries again with the newest token.
func TestMemoryReadsUnderRegenerate(t *testing.T) {
	store, err := serverstore.New(serverstore.NewMemory(), [][]byte{bytes.Repeat([]byte("r"), 32)})
	if err != nil {
		t.Fatal(err)
	}
	m, err := session.New(store, session.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatal(err)
	}
	keys := []string{"a", "b", "c"}
	var regenerated atomic.Int64
	var committed sync.Map // value → true, stored before its commit
	s, err := m.Load(t.Context(), "")
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range keys {
		committed.Store(k+"0", true)
		s.Set(k, k+"0")
	}
	first, _, err := s.Commit()
	if err != nil {
		t.Fatal(err)
	}
	var tok atomic.Pointer[string]
	tok.Store(&first)
	var wg sync.WaitGroup
	stop := make(chan struct{})
	wg.Go(func() { // the regenerator
		for {
			select {
			case <-stop:
				return
			default:
			}
			s, err := m.Load(t.Context(), *tok.Load())
			if err != nil {
				t.Error(err)
				return
			}
			s.Regenerate(true)
			if next, _, err := s.Commit(); err == nil && next != "" {
				tok.Store(&next)
				regenerated.Add(1)
			}
			runtime.Gosched() // on one CPU, let the requests in
		}
	})
	const reads = 150 // whole-session reads per worker
	var workers sync.WaitGroup
	for w := range 6 {
		workers.Go(func() {
			for i, tries := 0, 0; i < reads; tries++ {
				if tries > 100*reads {
					t.Errorf("worker %d: %d whole-session reads in %d tries", w, i, tries)
					return
				}
				s, err := m.Load(t.Context(), *tok.Load())
				if err != nil {
					t.Error(err)
					return
				}
				if len(s.Keys()) != len(keys) { // its ID was just retired
					runtime.Gosched()
					continue
				}
				for _, k := range s.Keys() {
					v, _ := session.Get[string](s, k)
					if strings.HasPrefix(v, "uncommitted") {
						t.Errorf("read %s = %q, which no request committed", k, v)
						return
					}
					if _, ok := committed.Load(v); !ok {
						t.Errorf("read %s = %q, never written", k, v)
						return
					}
				}
				k := keys[(w+i)%len(keys)]
				if i%2 == 0 {
					s.Set(k, fmt.Sprintf("uncommitted-%d-%d", w, i)) // dropped with the request
				} else {
					v := fmt.Sprintf("%s-%d-%d", k, w, i)
					committed.Store(v, true)
					s.Set(k, v)
					s.Commit() // ErrMoved when a Regenerate got there first: not saved, fine
				}
				i++
				runtime.Gosched() // on one CPU, let the regenerator in
			}
		})
	}
	workers.Wait()
	close(stop)
	wg.Wait()
	if regenerated.Load() < 10 {
		t.Fatalf("%d Regenerates ran beside the requests, want 10 or more", regenerated.Load())
	}
	t.Logf("%d regenerations beside %d whole-session reads", regenerated.Load(), 6*reads)
}
