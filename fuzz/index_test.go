package fuzz_test

import (
	"context"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/crumbs-go/session"
	"github.com/crumbs-go/session/driver"
	"github.com/crumbs-go/session/fuzz"
	"github.com/crumbs-go/session/serverstore"
)

// faulty is a server store whose per-user index lies: it keeps listing
// the IDs a Regenerate retired (stale), or stops listing the sessions it
// creates (missing).
type faulty struct {
	*serverstore.Store
	stale, missing bool
	mu             sync.Mutex
	retired        []string
	created        map[string]bool
}

func (f *faulty) Retire(ctx context.Context, name string, old, next *driver.Record, now time.Time) (*driver.Record, error) {
	f.mu.Lock()
	f.retired = append(f.retired, old.ID)
	f.mu.Unlock()
	return f.Store.Retire(ctx, name, old, next, now)
}

func (f *faulty) Save(ctx context.Context, name string, c *driver.Commit, now time.Time) (string, error) {
	if c.Op == driver.OpCreate {
		f.mu.Lock()
		f.created[f.Handle(c.Record.ID)] = true
		f.mu.Unlock()
	}
	return f.Store.Save(ctx, name, c, now)
}

func (f *faulty) Sessions(ctx context.Context, user string, now time.Time) ([]driver.Listing, error) {
	ls, err := f.Store.Sessions(ctx, user, now)
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.missing {
		kept := ls[:0]
		for _, l := range ls {
			if !f.created[l.Handle] {
				kept = append(kept, l)
			}
		}
		ls = kept
	}
	if f.stale && user != "" {
		for _, id := range f.retired {
			ls = append(ls, driver.Listing{Handle: f.Handle(id)})
		}
	}
	return ls, err
}

// recorder is a testing.TB whose Fatalf records the failure and ends the
// goroutine, as testing.T's does.
type recorder struct {
	testing.TB
	mu     sync.Mutex
	failed []string
}

func (r *recorder) Helper() {}
func (r *recorder) Fatalf(format string, args ...any) {
	r.mu.Lock()
	r.failed = append(r.failed, fmt.Sprintf(format, args...))
	r.mu.Unlock()
	runtime.Goexit()
}
func (r *recorder) Failed() bool { r.mu.Lock(); defer r.mu.Unlock(); return len(r.failed) > 0 }

// TestIndexCheckFails: the harness's check of the per-user index against
// the model (checkIndex) fails on an index that lists a retired session,
// or misses a live one, and passes on the real memory store.
func TestIndexCheckFails(t *testing.T) {
	sc := &fuzz.Scenario{Options: fuzz.Options{Config: fuzz.Config{Server: true, Lifetime: time.Hour, IdentityKey: "c", EngineClock: true},
		Names: []string{"session"}, MaxChunks: 2}, Clients: 1}
	sc.Steps = []fuzz.Step{
		{Kind: fuzz.StepRequest, Ops: []fuzz.Op{{Kind: fuzz.OpSet, Key: "c", Val: "v1"}}},
		{Kind: fuzz.StepRequest, Ops: []fuzz.Op{{Kind: fuzz.OpRegenerate, Keep: true}}},
		{Kind: fuzz.StepRequest, Ops: []fuzz.Op{{Kind: fuzz.OpGet, Key: "c"}}},
	}
	for _, tc := range []struct {
		name           string
		stale, missing bool
		want           string // "" for a pass
	}{
		{"honest", false, false, ""},
		{"stale", true, false, "does not store for it"},
		{"missing", false, true, "is not listed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := fuzz.Backend{Name: "memory (" + tc.name + " index)", Server: true, EngineClock: true,
				Open: func(_ testing.TB, now func() time.Time) func([][]byte) (session.Store, error) {
					mem := serverstore.NewMemory(serverstore.WithClock(now))
					return func(secrets [][]byte) (session.Store, error) {
						s, err := serverstore.New(mem, secrets)
						return &faulty{Store: s, stale: tc.stale, missing: tc.missing, created: map[string]bool{}}, err
					}
				}}
			r := &recorder{TB: t}
			done := make(chan struct{})
			go func() { defer close(done); fuzz.RunScenario(r, b, sc) }()
			<-done
			got := strings.Join(r.failed, "\n")
			switch {
			case tc.want == "" && got != "":
				t.Fatalf("the honest store failed the check: %s", got)
			case tc.want != "" && !strings.Contains(got, tc.want):
				t.Fatalf("a %s index passed the check (failures: %q)", tc.name, got)
			}
		})
	}
}

// TestLastSeenRefresh: a read of a session bound to a user whose last-seen
// time is 10 minutes old writes it again (a refresh, Set-Cookie); a read 9
// minutes on does not. Held to the model on every server backend.
func TestLastSeenRefresh(t *testing.T) {
	sc := &fuzz.Scenario{Options: fuzz.Options{Config: fuzz.Config{Server: true, Lifetime: 25 * time.Hour, IdentityKey: "c"},
		Names: []string{"session"}, MaxChunks: 2}, Clients: 1}
	read := fuzz.Step{Kind: fuzz.StepRequest, Ops: []fuzz.Op{{Kind: fuzz.OpGet, Key: "c"}}}
	sc.Steps = []fuzz.Step{
		{Kind: fuzz.StepRequest, Ops: []fuzz.Op{{Kind: fuzz.OpSet, Key: "c", Val: "v1"}}},
		{Kind: fuzz.StepAdvance, D: 9 * time.Minute}, read,
		{Kind: fuzz.StepAdvance, D: 2 * time.Minute}, read, read,
		{Kind: fuzz.StepAdvance, D: time.Hour}, read,
	}
	for _, name := range []string{"memory", "memory (real engine clock)", "redis", "postgres"} {
		t.Run(name, func(t *testing.T) {
			b := backend(name)
			s := *sc
			s.EngineClock = b.EngineClock
			h := fuzz.RunScenario(t, b, &s)
			if t.Failed() {
				return
			}
			var sets []bool
			for _, o := range h.Responses {
				sets = append(sets, strings.HasPrefix(o.Out[0], "set"))
			}
			want := []bool{true, false, true, false, true}
			if fmt.Sprint(sets) != fmt.Sprint(want) {
				t.Fatalf("responses that set the cookie: %v, want %v", sets, want)
			}
		})
	}
}
