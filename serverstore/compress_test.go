package serverstore_test

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/crumbs-go/session"
	"github.com/crumbs-go/session/driver"
	"github.com/crumbs-go/session/internal/fixtures"
	"github.com/crumbs-go/session/serverstore"
)

// TestLargeValuesCompressed: a value of 512 bytes or more is stored as a
// Zstandard frame (tag 1) when that is smaller, a small one raw; both read
// back, Update works on a compressed value, and on a large value an
// earlier release stored raw.
func TestLargeValuesCompressed(t *testing.T) {
	ctx := context.Background()
	mem := serverstore.NewMemory()
	store, err := serverstore.New(mem, [][]byte{bytes.Repeat([]byte("c"), 32)})
	if err != nil {
		t.Fatal(err)
	}
	m, err := session.New(store)
	if err != nil {
		t.Fatal(err)
	}
	var large map[string]any
	if err := json.Unmarshal(fixtures.Large, &large); err != nil {
		t.Fatal(err)
	}
	cart := large["cart"]
	var id string
	cookie := run(t, m, "", func(s *session.Session) { s.Set("cart", cart); s.Set("n", 1); id = s.ID() })
	e, err := mem.Get(ctx, store.Key(id))
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := json.Marshal(cart)
	if v := e.Values["cart"]; v[0] != 1 || len(v) > len(raw)/2 {
		t.Fatalf("the %d-byte cart is stored with tag %d in %d bytes; want tag 1, under half", len(raw), v[0], len(v))
	}
	if v := e.Values["n"]; v[0] != 0 {
		t.Fatalf("a small value is stored with tag %d, want 0", v[0])
	}
	update := func(cookie string) {
		run(t, m, cookie, func(s *session.Session) {
			if _, err := session.Update(s, "cart", func(c []any) []any { return append(c, "more") }); err != nil {
				t.Fatal(err)
			}
		})
		var got []any
		run(t, m, cookie, func(s *session.Session) { got, _ = session.Get[[]any](s, "cart") })
		if n := len(cart.([]any)); len(got) < n+1 || got[len(got)-1] != "more" {
			t.Fatalf("after Update the cart has %d items, want %d or more ending in \"more\"", len(got), n+1)
		}
	}
	update(cookie)

	// A record an earlier release wrote, the large value raw (tag 0).
	id2 := strings.Repeat("R", 43)
	old := map[string][]byte{"cart": append([]byte{0}, raw...)}
	meta := make([]byte, 18)
	meta[0] = 2
	exp := time.Now().Add(time.Hour)
	for i, b := range []uint64{uint64(exp.Unix()), uint64(exp.Unix())} {
		for j := range 8 {
			meta[2+8*i+j] = byte(b >> (56 - 8*j))
		}
	}
	if err := mem.Create(ctx, store.Key(id2), &serverstore.Entry{Meta: meta, Values: old}, exp); err != nil {
		t.Fatal(err)
	}
	token, err := store.Save(ctx, "session", &driver.Commit{Op: driver.OpUpdate, Record: driver.Record{ID: id2, Expires: exp, IdleExpires: exp}}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	update("session=" + token)
	if e, _ := mem.Get(ctx, store.Key(id2)); e.Values["cart"][0] != 1 {
		t.Fatal("the Update did not store the cart compressed")
	}
}
