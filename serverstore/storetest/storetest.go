// Package storetest is the conformance suite every serverstore.Backend runs
// (Run, RunClocked), against the real service in the case of Redis and
// PostgreSQL. It checks the Backend contract (atomic key-level writes,
// checks, expiry, tombstones, the optional interfaces) and what users see
// through a session.Manager built with the default options: the session
// the next request gets, over time and under parallel requests. Any other
// driver.Store (the Express format) runs those Manager-level scenarios with
// RunStore, listing the exceptions its format calls for.
package storetest

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/crumbs-go/session"
	"github.com/crumbs-go/session/driver"
	"github.com/crumbs-go/session/serverstore"
)

// Run runs the suite in real time. newBackend returns a fresh, empty
// backend, isolated from every other (its own key prefix or schema); it is
// called once per subtest and must arrange its own cleanup with t.Cleanup.
// Backends that expire records by their own clock (Redis, PostgreSQL) run
// this: the deadline tests wait for real, in parallel subtests.
func Run(t *testing.T, newBackend func(t *testing.T) serverstore.Backend) {
	run(t, func(t *testing.T) (any, clock) { return newBackend(t), realClock{} })
}

// RunClocked runs the suite on a backend that reads time from now (the
// memory backend with serverstore.WithClock): the suite moves the clock
// instead of sleeping, so the deadline tests take no time.
func RunClocked(t *testing.T, newBackend func(t *testing.T, now func() time.Time) serverstore.Backend) {
	run(t, func(t *testing.T) (any, clock) {
		c := &fakeClock{t: time.Now()}
		return newBackend(t, c.now), c
	})
}

// A clock is the time a backend and its Manager read.
type clock interface {
	now() time.Time
	sleep(d time.Duration)
}

type realClock struct{}

func (realClock) now() time.Time        { return time.Now() }
func (realClock) sleep(d time.Duration) { time.Sleep(d) }

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) sleep(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// A newFunc returns what a subtest runs on: a serverstore.Backend, or a
// driver.Store (RunStore), and the clock both it and the Manager read.
type newFunc func(t *testing.T) (any, clock)

// backend is newFunc for the subtests that need a serverstore.Backend
// itself (its operations, or a wrapper that injects faults). Under RunStore
// such a subtest must be a listed exception.
func backend(t *testing.T, newBackend newFunc) (serverstore.Backend, clock) {
	t.Helper()
	x, c := newBackend(t)
	b, ok := x.(serverstore.Backend)
	if !ok {
		t.Fatalf("%s needs a serverstore.Backend: list it among RunStore's exceptions, with the reason", t.Name())
	}
	return b, c
}

func run(t *testing.T, newBackend newFunc) {
	t.Run("Backend", func(t *testing.T) { testBackend(t, newBackend) })
	t.Run("Optional", func(t *testing.T) { testOptional(t, newBackend) })
	t.Run("Session", func(t *testing.T) { testSession(t, newBackend) })
	t.Run("Lifecycle", func(t *testing.T) { testLifecycle(t, newBackend) })
	t.Run("Races", func(t *testing.T) { testRaces(t, newBackend) })
	t.Run("CookieAttributes", func(t *testing.T) { testCookieAttributes(t, newBackend) })
	t.Run("RegenerateFailures", func(t *testing.T) { testRegenerateFailures(t, newBackend) })
	t.Run("Devices", func(t *testing.T) { testDevices(t, newBackend) })
	t.Run("Grace", func(t *testing.T) { testGrace(t, newBackend) })
	t.Run("Revocation", func(t *testing.T) { testRevocation(t, newBackend) })
}

var ctx = context.Background()

// meta is a well-formed format-2 header, as the Store writes it, with b in
// the idle deadline (the part every write replaces).
func meta(b byte) []byte { m := make([]byte, 18); m[0], m[17] = 2, b; return m }

// every is a value with every byte value in it.
func every() []byte {
	b := make([]byte, 256)
	for i := range b {
		b[i] = byte(i)
	}
	return b
}

func set(key string, v []byte) driver.Change { return driver.Change{Key: key, Value: v} }

func testBackend(t *testing.T, newBackend newFunc) {
	t.Run("GetMissing", func(t *testing.T) {
		b, _ := backend(t, newBackend)
		if _, err := b.Get(ctx, "missing"); !errors.Is(err, serverstore.ErrNotFound) {
			t.Fatalf("Get(missing) = %v, want ErrNotFound", err)
		}
		if _, err := b.Apply(ctx, "missing", &serverstore.Write{Meta: meta(1), Expires: time.Now().Add(time.Hour)}); !errors.Is(err, serverstore.ErrNotFound) {
			t.Fatalf("Apply(missing) = %v, want ErrNotFound", err)
		}
		if _, err := b.Retire(ctx, "missing", "next", time.Now().Add(time.Hour)); !errors.Is(err, serverstore.ErrNotFound) {
			t.Fatalf("Retire(missing) = %v, want ErrNotFound", err)
		}
	})
	t.Run("CreateApplyDelete", func(t *testing.T) {
		b, c := backend(t, newBackend)
		exp := c.now().Add(time.Hour)
		e := &serverstore.Entry{Meta: meta(1), Values: map[string][]byte{"a": every(), "b": []byte("\x00b"), "é/ü": []byte("\x00x")}}
		if err := b.Create(ctx, "k", e, exp); err != nil {
			t.Fatal(err)
		}
		if err := b.Create(ctx, "k", e, exp); !errors.Is(err, serverstore.ErrExists) {
			t.Fatalf("Create over a live record = %v, want ErrExists", err)
		}
		got, err := b.Get(ctx, "k")
		if err != nil || !bytes.Equal(got.Meta, e.Meta) || len(got.Values) != 3 || !bytes.Equal(got.Values["a"], every()) || !bytes.Equal(got.Values["é/ü"], []byte("\x00x")) {
			t.Fatalf("Get = %+v, %v; want what Create stored", got, err)
		}
		_, err = b.Apply(ctx, "k", &serverstore.Write{Meta: meta(2), Expires: exp, Header: serverstore.HeaderFlags | serverstore.HeaderAbsolute,
			Changes: []driver.Change{set("c", []byte("\x00c")), {Key: "b", Delete: true}, set("a", []byte("\x00a2")), {Key: "never", Delete: true}}})
		if err != nil {
			t.Fatal(err)
		}
		got, _ = b.Get(ctx, "k")
		if got.Meta[17] != 2 || len(got.Values) != 3 || string(got.Values["a"]) != "\x00a2" || string(got.Values["c"]) != "\x00c" || got.Values["b"] != nil {
			t.Fatalf("after Apply: meta %x, values %q", got.Meta, got.Values)
		}
		if _, err := b.Apply(ctx, "k", &serverstore.Write{Meta: meta(3), Clear: true, Expires: exp, Changes: []driver.Change{set("z", []byte("\x00z"))}}); err != nil {
			t.Fatal(err)
		}
		got, _ = b.Get(ctx, "k")
		if len(got.Values) != 1 || string(got.Values["z"]) != "\x00z" {
			t.Fatalf("after Apply with Clear: %q", got.Values)
		}
		if _, err := b.Delete(ctx, "k"); err != nil {
			t.Fatal(err)
		}
		if _, err := b.Delete(ctx, "k"); err != nil {
			t.Fatalf("Delete of an absent key = %v, want nil", err)
		}
		if _, err := b.Get(ctx, "k"); !errors.Is(err, serverstore.ErrNotFound) {
			t.Fatalf("Get after Delete = %v", err)
		}
	})
	t.Run("CreateReplacesATombstone", func(t *testing.T) {
		// Entry.Replaces: a Create takes the place of a tombstone naming
		// it, and of no other tombstone and no record.
		b, c := backend(t, newBackend)
		exp := c.now().Add(time.Hour)
		e := &serverstore.Entry{Meta: meta(1), Values: map[string][]byte{"a": []byte("\x00a")}}
		if err := b.Create(ctx, "k", e, exp); err != nil {
			t.Fatal(err)
		}
		over := &serverstore.Entry{Meta: meta(2), Values: map[string][]byte{"b": []byte("\x00b")}, Replaces: "crumbs-cookie"}
		if err := b.Create(ctx, "k", over, exp); !errors.Is(err, serverstore.ErrExists) {
			t.Fatalf("Create with Replaces over a live record = %v, want ErrExists", err)
		}
		if _, err := b.Retire(ctx, "k", "crumbs-ended", exp); err != nil {
			t.Fatal(err)
		}
		if err := b.Create(ctx, "k", over, exp); !errors.Is(err, serverstore.ErrExists) {
			t.Fatalf("Create with Replaces over another tombstone = %v, want ErrExists", err)
		}
		if _, err := b.Delete(ctx, "k"); err != nil {
			t.Fatal(err)
		}
		if err := b.Create(ctx, "k", e, exp); err != nil {
			t.Fatal(err)
		}
		if _, err := b.Retire(ctx, "k", "crumbs-cookie", exp); err != nil {
			t.Fatal(err)
		}
		if err := b.Create(ctx, "k", over, exp); err != nil {
			t.Fatalf("Create with Replaces over its tombstone = %v", err)
		}
		got, err := b.Get(ctx, "k")
		if err != nil || !bytes.Equal(got.Meta, over.Meta) || len(got.Values) != 1 || string(got.Values["b"]) != "\x00b" {
			t.Fatalf("Get = %+v, %v; want what the Create over the tombstone stored", got, err)
		}
		if err := b.Create(ctx, "k", over, exp); !errors.Is(err, serverstore.ErrExists) {
			t.Fatalf("a second Create with Replaces = %v, want ErrExists", err)
		}
	})
	t.Run("Checks", func(t *testing.T) {
		b, c := backend(t, newBackend)
		exp := c.now().Add(time.Hour)
		if err := b.Create(ctx, "k", &serverstore.Entry{Meta: meta(1), Values: map[string][]byte{"n": []byte("\x001"), "o": []byte("\x00o")}}, exp); err != nil {
			t.Fatal(err)
		}
		ok := &serverstore.Write{Meta: meta(2), Expires: exp, Changes: []driver.Change{
			{Key: "n", Value: []byte("\x002"), Check: true, Old: []byte("\x001"), HadOld: true},
			{Key: "new", Value: []byte("\x00x"), Check: true},
		}}
		if _, err := b.Apply(ctx, "k", ok); err != nil {
			t.Fatalf("Apply with checks that hold = %v", err)
		}
		bad := &serverstore.Write{Meta: meta(3), Expires: exp, Changes: []driver.Change{
			{Key: "n", Value: []byte("\x009"), Check: true, Old: []byte("\x001"), HadOld: true},
			{Key: "new", Value: []byte("\x00y"), Check: true},
			{Key: "absent", Value: []byte("\x00y"), Check: true, Old: []byte("\x00gone"), HadOld: true},
			set("o", []byte("\x00changed")),
		}}
		var conflict *driver.ConflictError
		if _, err := b.Apply(ctx, "k", bad); !errors.As(err, &conflict) {
			t.Fatalf("Apply with stale checks = %v, want a *driver.ConflictError", err)
		}
		if len(conflict.Values) != 2 || string(conflict.Values["n"]) != "\x002" || string(conflict.Values["new"]) != "\x00x" {
			t.Fatalf("the conflict reports %q, want the stored n and new (absent is absent)", conflict.Values)
		}
		got, _ := b.Get(ctx, "k")
		if got.Meta[17] != 2 || string(got.Values["o"]) != "\x00o" || string(got.Values["n"]) != "\x002" {
			t.Fatalf("a failed check wrote something: meta %x, values %q", got.Meta, got.Values)
		}
	})
	t.Run("Expiry", func(t *testing.T) {
		t.Parallel()
		b, c := backend(t, newBackend)
		e := &serverstore.Entry{Meta: meta(1), Values: map[string][]byte{"v": []byte("\x00v")}}
		if err := b.Create(ctx, "past", e, c.now().Add(-time.Second)); err != nil {
			t.Fatal(err)
		}
		if _, err := b.Get(ctx, "past"); !errors.Is(err, serverstore.ErrNotFound) {
			t.Fatalf("Get of an expired record = %v, want ErrNotFound", err)
		}
		if err := b.Create(ctx, "past", e, c.now().Add(time.Hour)); err != nil {
			t.Fatalf("Create over an expired record = %v, want success", err)
		}
		for _, k := range []string{"soon", "refreshed"} {
			if err := b.Create(ctx, k, e, c.now().Add(1200*time.Millisecond)); err != nil {
				t.Fatal(err)
			}
		}
		// A refresh (a Write without changes) moves the expiry and keeps the values.
		if _, err := b.Apply(ctx, "refreshed", &serverstore.Write{Meta: meta(9), Expires: c.now().Add(time.Hour)}); err != nil {
			t.Fatal(err)
		}
		c.sleep(1500 * time.Millisecond)
		if _, err := b.Get(ctx, "soon"); !errors.Is(err, serverstore.ErrNotFound) {
			t.Fatalf("Get after expiry = %v, want ErrNotFound", err)
		}
		got, err := b.Get(ctx, "refreshed")
		if err != nil || got.Meta[17] != 9 || string(got.Values["v"]) != "\x00v" {
			t.Fatalf("a refreshed record after its first expiry: %+v, %v", got, err)
		}
		if _, err := b.Apply(ctx, "soon", &serverstore.Write{Meta: meta(1), Expires: c.now().Add(time.Hour)}); !errors.Is(err, serverstore.ErrNotFound) {
			t.Fatalf("Apply over an expired record = %v, want ErrNotFound", err)
		}
	})
	t.Run("HeaderParts", func(t *testing.T) {
		b, c := backend(t, newBackend)
		abs := c.now().Add(1500 * time.Millisecond).Truncate(time.Second).Add(time.Second)
		full := meta(1)
		binary.BigEndian.PutUint64(full[2:], uint64(abs.Unix()))
		if err := b.Create(ctx, "k", &serverstore.Entry{Meta: full, Values: map[string][]byte{"v": []byte("\x00v")}}, abs); err != nil {
			t.Fatal(err)
		}
		idle := meta(7) // flags and absolute zero: only bytes 10..17 may be taken
		binary.BigEndian.PutUint64(idle[10:], 1234)
		ret, err := b.Apply(ctx, "k", &serverstore.Write{Meta: idle, Expires: c.now().Add(time.Hour)})
		if err != nil {
			t.Fatal(err)
		}
		got, err := b.Get(ctx, "k")
		if err != nil || !bytes.Equal(got.Meta, ret) || got.Meta[1] != full[1] || binary.BigEndian.Uint64(got.Meta[2:]) != uint64(abs.Unix()) || binary.BigEndian.Uint64(got.Meta[10:]) != 1234 {
			t.Fatalf("an idle-only write: meta %x (Apply returned %x), %v; want the stored flags and absolute deadline, and the new idle one", got.Meta, ret, err)
		}
		// Each part on its own: the flags, then the absolute deadline.
		flags := meta(0)
		flags[1] = 1
		binary.BigEndian.PutUint64(flags[10:], 99)
		if _, err := b.Apply(ctx, "k", &serverstore.Write{Meta: flags, Header: serverstore.HeaderFlags, Expires: c.now().Add(time.Hour)}); err != nil {
			t.Fatal(err)
		}
		if got, _ := b.Get(ctx, "k"); got.Meta[1] != 1 || binary.BigEndian.Uint64(got.Meta[2:]) != uint64(abs.Unix()) {
			t.Fatalf("a flags write: meta %x", got.Meta)
		}
		c.sleep(abs.Sub(c.now()) + 1100*time.Millisecond)
		if _, err := b.Get(ctx, "k"); !errors.Is(err, serverstore.ErrNotFound) {
			t.Fatalf("an idle-only write with a later expiry kept the record past its stored absolute deadline: %v", err)
		}
	})
	t.Run("Retire", func(t *testing.T) {
		t.Run("TombstoneNamesSuccessor", func(t *testing.T) {
			b, c := backend(t, newBackend)
			exp := c.now().Add(time.Hour)
			b.Create(ctx, "a", &serverstore.Entry{Meta: meta(1)}, exp)
			if _, err := b.Retire(ctx, "a", "b", exp); err != nil {
				t.Fatal(err)
			}
			e, err := b.Retire(ctx, "a", "c", exp)
			if !errors.Is(err, serverstore.ErrMoved) || e == nil || e.Successor != "b" {
				t.Fatalf("Retire of a tombstone = %+v, %v; want ErrMoved naming b", e, err)
			}
			if next, err := b.Delete(ctx, "a"); err != nil || next != "b" {
				t.Fatalf("Delete of a tombstone = %q, %v; want its successor b", next, err)
			}
			if next, err := b.Delete(ctx, "a"); err != nil || next != "" {
				t.Fatalf("Delete of an absent key = %q, %v", next, err)
			}
		})
		b, c := backend(t, newBackend)
		exp := c.now().Add(time.Hour)
		if err := b.Create(ctx, "k", &serverstore.Entry{Meta: meta(1), Values: map[string][]byte{"user": []byte("\x00ada")}}, exp); err != nil {
			t.Fatal(err)
		}
		if err := b.Create(ctx, "next", &serverstore.Entry{Meta: meta(1)}, exp); err != nil {
			t.Fatal(err)
		}
		old, err := b.Retire(ctx, "k", "next", exp)
		if err != nil || string(old.Values["user"]) != "\x00ada" || !bytes.Equal(old.Meta, meta(1)) {
			t.Fatalf("Retire = %+v, %v; want what the record held", old, err)
		}
		if _, err := b.Get(ctx, "k"); !errors.Is(err, serverstore.ErrMoved) {
			t.Fatalf("Get of a retired key = %v, want ErrMoved", err)
		}
		if _, err := b.Apply(ctx, "k", &serverstore.Write{Meta: meta(2), Expires: exp, Changes: []driver.Change{set("x", []byte("\x00x"))}}); !errors.Is(err, serverstore.ErrMoved) {
			t.Fatalf("Apply to a retired key = %v, want ErrMoved", err)
		}
		if _, err := b.Retire(ctx, "k", "next", exp); !errors.Is(err, serverstore.ErrMoved) {
			t.Fatalf("Retire of a retired key = %v, want ErrMoved", err)
		}
		if err := b.Create(ctx, "k", &serverstore.Entry{Meta: meta(1)}, exp); !errors.Is(err, serverstore.ErrExists) {
			t.Fatalf("Create over a tombstone = %v, want ErrExists", err)
		}
		if next, err := b.Delete(ctx, "k"); err != nil || next != "next" {
			t.Fatalf("Delete of a tombstone = %q, %v; want its successor", next, err)
		}
		if _, err := b.Get(ctx, "k"); !errors.Is(err, serverstore.ErrNotFound) {
			t.Fatalf("Get after deleting a tombstone = %v", err)
		}
	})
	t.Run("ParallelKeysNeverConflict", func(t *testing.T) {
		b, c := backend(t, newBackend)
		exp := c.now().Add(time.Hour)
		if err := b.Create(ctx, "k", &serverstore.Entry{Meta: meta(1), Values: map[string][]byte{}}, exp); err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		for i := range 50 {
			wg.Go(func() {
				w := &serverstore.Write{Meta: meta(1), Expires: exp, Changes: []driver.Change{set(fmt.Sprint("k", i), []byte("\x00v"))}}
				if _, err := b.Apply(ctx, "k", w); err != nil {
					t.Error(err)
				}
			})
		}
		wg.Wait()
		if got, _ := b.Get(ctx, "k"); len(got.Values) != 50 {
			t.Fatalf("50 parallel writers of their own key left %d keys", len(got.Values))
		}
	})
	t.Run("ParallelChecks", func(t *testing.T) {
		b, c := backend(t, newBackend)
		exp := c.now().Add(time.Hour)
		if err := b.Create(ctx, "k", &serverstore.Entry{Meta: meta(1), Values: map[string][]byte{"n": []byte("\x000")}}, exp); err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		for range 50 {
			wg.Go(func() {
				old := []byte("\x000")
				for {
					n, _ := strconv.Atoi(string(old[1:]))
					w := &serverstore.Write{Meta: meta(1), Expires: exp, Changes: []driver.Change{
						{Key: "n", Value: append([]byte{0}, strconv.Itoa(n+1)...), Check: true, Old: old, HadOld: true}}}
					_, err := b.Apply(ctx, "k", w)
					var conflict *driver.ConflictError
					if !errors.As(err, &conflict) {
						if err != nil {
							t.Error(err)
						}
						return
					}
					old = conflict.Values["n"]
				}
			})
		}
		wg.Wait()
		if got, _ := b.Get(ctx, "k"); string(got.Values["n"]) != "\x0050" {
			t.Fatalf("50 checked increments gave %q", got.Values["n"])
		}
	})
}

func testOptional(t *testing.T, newBackend newFunc) {
	t.Run("CountClearKeys", func(t *testing.T) {
		b, c := backend(t, newBackend)
		exp := c.now().Add(time.Hour)
		want := []string{}
		for i := range 25 {
			k := fmt.Sprintf("key-%02d", i)
			want = append(want, k)
			if err := b.Create(ctx, k, &serverstore.Entry{Meta: meta(1)}, exp); err != nil {
				t.Fatal(err)
			}
		}
		b.Create(ctx, "expired", &serverstore.Entry{Meta: meta(1)}, c.now().Add(-time.Second))
		b.Create(ctx, "retired", &serverstore.Entry{Meta: meta(1)}, exp)
		b.Retire(ctx, "retired", "nowhere", exp)
		if cn, ok := b.(serverstore.Counter); ok {
			if n, err := cn.Count(ctx); err != nil || n != 25 {
				t.Errorf("Count = %d, %v; want 25 (a tombstone is not a session)", n, err)
			}
		}
		if it, ok := b.(serverstore.Iterator); ok {
			var got []string
			for k, err := range it.Keys(ctx) {
				if err != nil {
					t.Fatal(err)
				}
				got = append(got, k)
			}
			slices.Sort(got)
			if !slices.Equal(got, want) {
				t.Errorf("Keys = %q, want %q", got, want)
			}
		}
		if it, ok := b.(serverstore.Iterator); ok {
			// A loop that stops early stops the walk: no key is yielded
			// after the loop's break (on a Cluster, from another master).
			n := 0
			for _, err := range it.Keys(ctx) {
				if err != nil {
					t.Fatal(err)
				}
				if n++; n == 2 {
					break
				}
			}
		}
		if cl, ok := b.(serverstore.Clearer); ok {
			if err := cl.Clear(ctx); err != nil {
				t.Fatal(err)
			}
			for _, k := range []string{"key-03", "key-24", "retired"} {
				if _, err := b.Get(ctx, k); !errors.Is(err, serverstore.ErrNotFound) {
					t.Errorf("Get(%q) after Clear = %v, want ErrNotFound", k, err)
				}
			}
			if cn, ok := b.(serverstore.Counter); ok {
				if n, err := cn.Count(ctx); err != nil || n != 0 {
					t.Errorf("Count after Clear = %d, %v; want 0", n, err)
				}
			}
		}
	})
	t.Run("CountClearKeysMany", func(t *testing.T) {
		// More keys than one SCAN page of any backend, spread over every
		// Cluster slot range.
		b, c := backend(t, newBackend)
		cn, okC := b.(serverstore.Counter)
		it, okI := b.(serverstore.Iterator)
		cl, okL := b.(serverstore.Clearer)
		if !okC && !okI && !okL {
			t.Skip("the backend offers none of Count, Keys, Clear")
		}
		const n = 1200
		exp := c.now().Add(time.Hour)
		var wg sync.WaitGroup
		errs := make(chan error, n)
		for w := range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := w; i < n; i += 8 {
					if err := b.Create(ctx, fmt.Sprintf("many-%04d", i), &serverstore.Entry{Meta: meta(1)}, exp); err != nil {
						errs <- err
						return
					}
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		if okC {
			if got, err := cn.Count(ctx); err != nil || got != n {
				t.Errorf("Count = %d, %v; want %d", got, err, n)
			}
		}
		if okI {
			seen := map[string]bool{}
			for k, err := range it.Keys(ctx) {
				if err != nil {
					t.Fatal(err)
				}
				if seen[k] {
					t.Errorf("Keys yielded %q twice", k)
				}
				seen[k] = true
			}
			if len(seen) != n {
				t.Errorf("Keys yielded %d keys, want %d", len(seen), n)
			}
		}
		if okL {
			if err := cl.Clear(ctx); err != nil {
				t.Fatal(err)
			}
			for _, i := range []int{0, 1, n / 2, n - 1} {
				if _, err := b.Get(ctx, fmt.Sprintf("many-%04d", i)); !errors.Is(err, serverstore.ErrNotFound) {
					t.Errorf("Get(many-%04d) after Clear = %v, want ErrNotFound", i, err)
				}
			}
		}
	})
}

// counting wraps a Backend, counts its calls and keeps the last Write.
type counting struct {
	serverstore.Backend
	gets, creates, applies, retires, deletes atomic.Int64
	mu                                       sync.Mutex
	last                                     *serverstore.Write
}

func (c *counting) Get(ctx context.Context, key string) (*serverstore.Entry, error) {
	c.gets.Add(1)
	return c.Backend.Get(ctx, key)
}

func (c *counting) Create(ctx context.Context, key string, e *serverstore.Entry, exp time.Time) error {
	c.creates.Add(1)
	return c.Backend.Create(ctx, key, e, exp)
}

func (c *counting) Apply(ctx context.Context, key string, w *serverstore.Write) ([]byte, error) {
	c.applies.Add(1)
	c.mu.Lock()
	c.last = w
	c.mu.Unlock()
	return c.Backend.Apply(ctx, key, w)
}

func (c *counting) Retire(ctx context.Context, key, next string, until time.Time) (*serverstore.Entry, error) {
	c.retires.Add(1)
	return c.Backend.Retire(ctx, key, next, until)
}

func (c *counting) Delete(ctx context.Context, key string) (string, error) {
	c.deletes.Add(1)
	return c.Backend.Delete(ctx, key)
}

func (c *counting) writes() int64 {
	return c.creates.Load() + c.applies.Load() + c.deletes.Load() + c.retires.Load()
}

// secrets are the suite's key ring.
var secrets = [][]byte{bytes.Repeat([]byte("s"), 32)}

func testSession(t *testing.T, newBackend newFunc) {
	t.Run("UpdateOfAValueStoredRaw", func(t *testing.T) {
		// A large value an earlier release stored raw (tag 0), where this
		// one compresses it: an Update's compare, made by the backend
		// itself (a script, a statement, a map), must take the two forms
		// for the same value.
		b, c := backend(t, newBackend)
		store, err := serverstore.New(b, secrets)
		if err != nil {
			t.Fatal(err)
		}
		id := strings.Repeat("U", 43)
		list := `["end"` + strings.Repeat(`,"item"`, 200) + `]`
		exp := c.now().Add(time.Hour)
		m := make([]byte, 18)
		m[0] = 2
		binary.BigEndian.PutUint64(m[2:], uint64(exp.Unix()))
		binary.BigEndian.PutUint64(m[10:], uint64(exp.Unix()))
		if err := b.Create(ctx, store.Key(id), &serverstore.Entry{Meta: m, Values: map[string][]byte{"list": append([]byte{0}, list...)}}, exp); err != nil {
			t.Fatal(err)
		}
		br := newBrowser(t, b, c)
		cookie := "sid=" + signedID(t, id)
		w, _ := br.send(cookie, func(s *session.Session) {
			if _, err := session.Update(s, "list", func(v []string) []string { return append(v, "more") }); err != nil {
				panic(err)
			}
		})
		var got []string
		br.send(cookie, func(s *session.Session) { got, _ = session.Get[[]string](s, "list") })
		if w.Code != http.StatusOK || len(got) != 202 || got[201] != "more" {
			t.Fatalf("an Update of a value stored raw: status %d, %d items; want 200 and 202", w.Code, len(got))
		}
		if e, err := b.Get(ctx, store.Key(id)); err != nil || e.Values["list"][0] != 1 {
			t.Fatalf("the updated value is not stored compressed: %v", err)
		}
	})
	t.Run("OneRoundTripToLoad", func(t *testing.T) {
		b, c := backend(t, newBackend)
		cb := &counting{Backend: b}
		br := newBrowser(t, cb, c)
		br.do(func(s *session.Session) { s.Set("n", 1) })
		gets, writes := cb.gets.Load(), cb.writes()
		br.do(func(s *session.Session) { s.Get("n") })
		if g, w := cb.gets.Load()-gets, cb.writes()-writes; g != 1 || w != 0 {
			t.Fatalf("a load-only request made %d reads and %d writes, want 1 and 0", g, w)
		}
		br.do(func(*session.Session) {})
		if g := cb.gets.Load() - gets; g != 1 {
			t.Fatalf("a request that never touched its session called the backend")
		}
	})
	t.Run("ForgedAndUnknownIDs", func(t *testing.T) {
		b, c := backend(t, newBackend)
		cb := &counting{Backend: b}
		br := newBrowser(t, cb, c)
		var id string
		w, _ := br.send("sid=forged.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", func(s *session.Session) { id = s.ID(); s.Get("x") })
		if cb.gets.Load() != 0 || w.Code != 200 {
			t.Fatalf("a forged ID reached the backend (%d reads) or failed (%d)", cb.gets.Load(), w.Code)
		}
		// An ID signed with the secret but not in the backend: a fresh
		// session with a new ID, never the client's.
		br.do(func(s *session.Session) { s.Set("n", 1); id = s.ID() })
		br.do(func(s *session.Session) { s.Destroy() })
		if br.current() != "" {
			t.Fatalf("Destroy left the cookie %q", br.current())
		}
		var again string
		br.send("sid="+signedID(t, id), func(s *session.Session) { again = s.ID(); s.Set("n", 2) })
		if again == id {
			t.Fatal("the server adopted an ID the client presented for a session it does not have")
		}
	})
	t.Run("RefreshWritesNoValue", func(t *testing.T) {
		b, c := backend(t, newBackend)
		cb := &counting{Backend: b}
		br := newBrowser(t, cb, c, session.WithIdleTimeout(time.Hour))
		br.do(func(s *session.Session) { s.Set("n", 1) })
		applies := cb.applies.Load()
		br.do(func(s *session.Session) { s.Touch() })
		cb.mu.Lock()
		last := cb.last
		cb.mu.Unlock()
		if cb.applies.Load() != applies+1 || last == nil || len(last.Changes) != 0 || last.Clear {
			t.Fatalf("Touch: %d writes, last %+v; want one write of the header alone", cb.applies.Load()-applies, last)
		}
		var n int
		br.do(func(s *session.Session) { n, _ = session.Get[int](s, "n") })
		if n != 1 {
			t.Fatalf("after Touch n = %d", n)
		}
	})
	t.Run("RegenerateRetiresOldID", func(t *testing.T) {
		b, c := backend(t, newBackend)
		br := newBrowser(t, b, c)
		var before, after string
		br.do(func(s *session.Session) { s.Set("user", "ada"); before = s.ID() })
		old := br.current()
		br.do(func(s *session.Session) { s.Regenerate(true); after = s.ID() })
		store, _ := serverstore.New(b, secrets)
		if _, err := b.Get(ctx, store.Key(before)); !errors.Is(err, serverstore.ErrMoved) {
			t.Fatalf("the old record after Regenerate: %v, want a tombstone", err)
		}
		var user string
		br.do(func(s *session.Session) { user, _ = session.Get[string](s, "user") })
		if before == after || user != "ada" {
			t.Fatalf("Regenerate(true): ID %q -> %q, user %q", before, after, user)
		}
		var oldUser string
		var isNew bool
		br.send(old, func(s *session.Session) { oldUser, _ = session.Get[string](s, "user"); isNew = s.IsNew() })
		if !isNew || oldUser != "" {
			t.Fatalf("the ID before Regenerate still opens the session (user %q)", oldUser)
		}
	})
	t.Run("RegenerateKeepsParallelWrites", func(t *testing.T) {
		b, c := newBackend(t)
		br := newBrowser(t, b, c)
		br.do(func(s *session.Session) { s.Set("user", "ada") })
		cookie := br.current()
		loaded, written := make(chan struct{}), make(chan struct{})
		var after string
		done := make(chan struct{})
		go func() {
			defer close(done)
			_, after = br.send(cookie, func(s *session.Session) {
				s.Get("user")
				close(loaded)
				<-written
				s.Regenerate(true)
				s.Set("role", "admin")
			})
		}()
		<-loaded
		br.send(cookie, func(s *session.Session) { s.Set("cart", 3) })
		close(written)
		<-done
		var cart int
		var role string
		br.send(after, func(s *session.Session) {
			cart, _ = session.Get[int](s, "cart")
			role, _ = session.Get[string](s, "role")
		})
		if cart != 3 || role != "admin" {
			t.Fatalf("a write between a Regenerate's load and its commit: cart %d, role %q under the new ID", cart, role)
		}
	})
	t.Run("LogoutWinsOverParallelWrites", func(t *testing.T) {
		b, c := newBackend(t)
		br := newBrowser(t, b, c)
		br.do(func(s *session.Session) { s.Set("user", "ada") })
		cookie := br.current()
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range 21 {
			wg.Go(func() {
				<-start
				if i == 10 {
					br.send(cookie, func(s *session.Session) { s.Destroy() })
					return
				}
				br.send(cookie, func(s *session.Session) { s.Set(fmt.Sprintf("w%d", i), i) })
			})
		}
		close(start)
		wg.Wait()
		var isNew bool
		br.send(cookie, func(s *session.Session) { isNew = s.IsNew() })
		if !isNew {
			t.Fatal("a session survived a logout racing 20 writes")
		}
	})
	t.Run("SameKeyOneWinner", func(t *testing.T) {
		b, c := newBackend(t)
		br := newBrowser(t, b, c)
		long := func(ch byte) string { return string(bytes.Repeat([]byte{ch}, 2000)) }
		br.do(func(s *session.Session) { s.Set("v", "start") })
		cookie := br.current()
		for range 5 {
			var wg sync.WaitGroup
			for _, ch := range []byte{'a', 'b'} {
				wg.Go(func() { br.send(cookie, func(s *session.Session) { s.Set("v", long(ch)) }) })
			}
			wg.Wait()
			var v string
			br.send(cookie, func(s *session.Session) { v, _ = session.Get[string](s, "v") })
			if v != long('a') && v != long('b') {
				t.Fatalf("two writes of one key left %.20q…, neither value", v)
			}
		}
	})
}

// signedID signs id the way the suite's stores do.
func signedID(t *testing.T, id string) string {
	store, err := serverstore.New(serverstore.NewMemory(), secrets)
	if err != nil {
		t.Fatal(err)
	}
	v, err := store.Save(ctx, "sid", &driver.Commit{Op: driver.OpCreate, Record: driver.Record{ID: id, Expires: time.Now().Add(time.Hour)}}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// Unavailable ends a test whose service (Redis, PostgreSQL) does not answer:
// a skip with a one-line reason on a developer's machine, a failure under CI
// (CI set in the environment), where every service must run.
func Unavailable(t testing.TB, service string, err error) {
	t.Helper()
	if os.Getenv("CI") != "" {
		t.Fatalf("%s: %v (CI is set: the service must run)", service, err)
	}
	t.Skipf("%s unavailable: %v", service, err)
}

// RunStore runs the suite's scenarios of what users see through a
// session.Manager built with the default options (the session the next
// request gets, over time and under parallel requests) on a driver.Store
// that is not serverstore's: the Express format, say. They run in real
// time. newStore returns a fresh store, isolated from every other (its own
// key prefix), and arranges its own cleanup. exceptions names the
// scenarios the store's format cannot pass (the last element of the
// subtest's name), each with the reason: they do not run, and the reason
// is logged. A scenario that needs a serverstore.Backend itself (its
// operations, fault injection) fails until it is listed; a listed name
// that matches no scenario fails too.
func RunStore(t *testing.T, newStore func(t *testing.T) driver.Store, exceptions map[string]string) {
	var mu sync.Mutex
	used := map[string]bool{}
	nf := func(t *testing.T) (any, clock) {
		t.Helper()
		for k, why := range exceptions {
			if strings.HasSuffix(t.Name(), "/"+k) {
				mu.Lock()
				used[k] = true
				mu.Unlock()
				t.Skip("an exception of this store: " + why)
			}
		}
		return newStore(t), realClock{}
	}
	t.Run("Session", func(t *testing.T) { testSession(t, nf) })
	t.Run("Lifecycle", func(t *testing.T) { testLifecycle(t, nf) })
	t.Run("Races", func(t *testing.T) { testRaces(t, nf) })
	t.Run("CookieAttributes", func(t *testing.T) { testCookieAttributes(t, nf) })
	t.Run("RegenerateFailures", func(t *testing.T) { testRegenerateFailures(t, nf) })
	if f := flag.Lookup("test.run"); f != nil && f.Value.String() != "" {
		return // a selection ran: the other exceptions had no chance to match
	}
	for k := range exceptions {
		if !used[k] {
			t.Errorf("exception %q names no scenario that ran", k)
		}
	}
}
