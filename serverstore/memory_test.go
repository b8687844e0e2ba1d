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
	storetest.Run(t, func(t *testing.T) serverstore.Backend { return serverstore.NewMemory() })
}

func TestMemoryEvictsSoonestExpiring(t *testing.T) {
	m := serverstore.NewMemory(serverstore.WithMaxEntries(3))
	ctx := context.Background()
	now := time.Now()
	for i, d := range []time.Duration{3 * time.Hour, time.Hour, 2 * time.Hour} {
		if _, err := m.Set(ctx, string(rune('a'+i)), []byte("x"), 0, now.Add(d)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := m.Set(ctx, "d", []byte("x"), 0, now.Add(4*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if n, _ := m.Count(ctx); n != 3 {
		t.Fatalf("Count = %d, want the bound 3", n)
	}
	if _, _, err := m.Get(ctx, "b"); !errors.Is(err, serverstore.ErrNotFound) {
		t.Fatalf("the entry expiring soonest (b) was not the one evicted: %v", err)
	}
	for _, k := range []string{"a", "c", "d"} {
		if _, _, err := m.Get(ctx, k); err != nil {
			t.Fatalf("Get(%s) = %v", k, err)
		}
	}
}
