package serverstore_test

import (
	"context"
	"encoding/hex"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/crumbs-go/session"
	"github.com/crumbs-go/session/chunking"
	"github.com/crumbs-go/session/internal/vectors"
	"github.com/crumbs-go/session/serverstore"
)

type countGets struct {
	serverstore.Backend
	gets atomic.Int64
}

func (c *countGets) Get(ctx context.Context, key string) (*serverstore.Entry, error) {
	c.gets.Add(1)
	return c.Backend.Get(ctx, key)
}

// TestServerIDVectors: valid IDs load (and report rotation), invalid ones are
// rejected before any backend lookup.
func TestServerIDVectors(t *testing.T) {
	vs := vectors.MustLoadServerID(t)
	if len(vs) < 12 {
		t.Fatalf("%d vectors", len(vs))
	}
	ctx := context.Background()
	for _, v := range vs {
		t.Run(v.File, func(t *testing.T) {
			var secrets [][]byte
			for _, h := range strings.Split(v.Header["secrets"], ",") {
				b, _ := hex.DecodeString(h)
				secrets = append(secrets, b)
			}
			mem := &countGets{Backend: serverstore.NewMemory()}
			store, err := serverstore.New(mem, secrets)
			if err != nil {
				t.Fatal(err)
			}
			now := time.Unix(v.Int("now"), 0)
			if id := v.Header["id"]; id != "" {
				// The record exists, so that the only question is the ID.
				if _, err := store.Save(ctx, "sid", &session.Commit{Op: session.OpCreate, Record: session.Record{ID: id, Expires: time.Now().Add(time.Hour)}}, now); err != nil {
					t.Fatal(err)
				}
			}
			codec, _ := chunking.New(v.Header["name"])
			value, err := codec.Join(v.Pairs())
			var rec *session.Record
			if err == nil {
				rec, err = store.Load(ctx, v.Header["name"], value, now)
			}
			switch v.Header["expect"] {
			case "ok":
				if err != nil || rec.ID != v.Header["id"] || rec.Stale != (v.Header["rotated"] == "true") {
					t.Fatalf("Load = %+v, %v; want ID %s, rotated %s", rec, err, v.Header["id"], v.Header["rotated"])
				}
			case "invalid":
				if !errors.Is(err, session.ErrInvalid) {
					t.Fatalf("Load = %v, want ErrInvalid (%s)", err, v.Header["comment"])
				}
				if mem.gets.Load() != 0 {
					t.Fatal("an invalid ID reached the backend")
				}
			}
		})
	}
}
