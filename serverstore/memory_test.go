package serverstore_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/crumbs-go/session/serverstore"
	"github.com/crumbs-go/session/serverstore/storetest"
)

func TestMemoryConformance(t *testing.T) {
	storetest.RunClocked(t, func(t *testing.T, now func() time.Time) serverstore.Backend {
		return serverstore.NewMemory(serverstore.WithClock(now))
	})
}

func TestMemoryEvictsSoonestExpiring(t *testing.T) {
	m := serverstore.NewMemory(serverstore.WithMaxEntries(3))
	ctx := context.Background()
	now := time.Now()
	for i, d := range []time.Duration{3 * time.Hour, time.Hour, 2 * time.Hour} {
		if err := m.Create(ctx, string(rune('a'+i)), &serverstore.Entry{}, now.Add(d)); err != nil {
			t.Fatal(err)
		}
	}
	if err := m.Create(ctx, "d", &serverstore.Entry{}, now.Add(4*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if n, _ := m.Count(ctx); n != 3 {
		t.Fatalf("Count = %d, want the bound 3", n)
	}
	if _, err := m.Get(ctx, "b"); !errors.Is(err, serverstore.ErrNotFound) {
		t.Fatalf("the entry expiring soonest (b) was not the one evicted: %v", err)
	}
	for _, k := range []string{"a", "c", "d"} {
		if _, err := m.Get(ctx, k); err != nil {
			t.Fatalf("Get(%s) = %v", k, err)
		}
	}
}
