package cookiestore_test

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	"github.com/crumbs-go/session/cookiestore"
	"github.com/crumbs-go/session/crypto"
	"github.com/crumbs-go/session/driver"
)

var t0 = time.Unix(1764201600, 0)

func TestRecordRoundTrip(t *testing.T) {
	t.Parallel()
	store, err := cookiestore.New([][]byte{bytes.Repeat([]byte{1}, 32)})
	if err != nil {
		t.Fatal(err)
	}
	in := &driver.Record{ID: "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQ", Data: []byte(`{"a":1}`),
		Expires: t0.Add(time.Hour), IdleExpires: t0.Add(time.Minute), BrowserSession: true, Cookie: []byte{3, 1, 0, 0, 1, '/', 0, 0}}
	v, err := store.Save(context.Background(), "s", &driver.Commit{Op: driver.OpUpdate, Record: *in}, t0)
	if err != nil {
		t.Fatal(err)
	}
	out, err := store.Load(context.Background(), "s", v, t0)
	if err != nil {
		t.Fatal(err)
	}
	if out.ID != in.ID || string(out.Data) != string(in.Data) || !out.Expires.Equal(in.Expires) ||
		!out.IdleExpires.Equal(in.IdleExpires) || !out.BrowserSession || out.Stale || !bytes.Equal(out.Cookie, in.Cookie) {
		t.Fatalf("Load(Save(r)) = %+v, want %+v", out, in)
	}
	if _, err := store.Load(context.Background(), "s", v, t0.Add(time.Minute)); !errors.Is(err, driver.ErrInvalid) {
		t.Fatalf("Load after the idle deadline = %v, want ErrInvalid", err)
	}
}

// TestMalformedLayout: a value sealed under the right key whose data is not
// a session layout (from another tool sharing the secret) is invalid.
func TestMalformedLayout(t *testing.T) {
	t.Parallel()
	secret := bytes.Repeat([]byte{1}, 32)
	store, _ := cookiestore.New([][]byte{secret})
	ring, _ := crypto.New([][]byte{secret})
	for _, data := range [][]byte{{}, {0}, {4, 1, 'a'}, {0, 0}, {0, 5, 'a'}, {0, 2, '!', '!'}, {0, 65},
		{2, 1, 'a'}, {2, 1, 'a', 0}, {2, 1, 'a', 0, 0}, {2, 1, 'a', 0, 5, 1, 2}, {2, 1, 'a', 0x10, 0, 1}} { // flag bit 1: attributes missing, empty, cut short, over the bound

		v, err := ring.Seal("s", crypto.Payload{Data: data, IssuedAt: t0})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := store.Load(context.Background(), "s", v, t0); !errors.Is(err, driver.ErrInvalid) {
			t.Errorf("Load(%q) = %v, want ErrInvalid", data, err)
		}
	}
}
