package serverstore_test

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/crumbs-go/session/chunking"
	"github.com/crumbs-go/session/driver"
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
				if _, err := store.Save(ctx, "sid", &driver.Commit{Op: driver.OpCreate, Record: driver.Record{ID: id, Expires: time.Now().Add(time.Hour)}}, now); err != nil {
					t.Fatal(err)
				}
			}
			codec, _ := chunking.New(v.Header["name"])
			value, err := codec.Join(v.Pairs())
			var rec *driver.Record
			if err == nil {
				rec, err = store.Load(ctx, v.Header["name"], value, now)
			}
			switch v.Header["expect"] {
			case "ok":
				if err != nil || rec.ID != v.Header["id"] || rec.Stale != (v.Header["rotated"] == "true") {
					t.Fatalf("Load = %+v, %v; want ID %s, rotated %s", rec, err, v.Header["id"], v.Header["rotated"])
				}
			case "invalid":
				if !errors.Is(err, driver.ErrInvalid) {
					t.Fatalf("Load = %v, want ErrInvalid (%s)", err, v.Header["comment"])
				}
				if mem.gets.Load() != 0 {
					t.Fatal("an invalid ID reached the backend")
				}
			}
		})
	}
}

// TestRecordVectors: spec/server-id-v1.md §4.1. Each stored record of
// testdata/server-record-vectors loads to its values, or is rejected as
// invalid.
func TestRecordVectors(t *testing.T) {
	dir := filepath.Join("..", "testdata", "server-record-vectors")
	files, err := os.ReadDir(dir)
	if err != nil || len(files) < 10 {
		t.Fatalf("%d record vectors: %v", len(files), err)
	}
	ctx := context.Background()
	now := time.Unix(1764201600, 0)
	for _, f := range files {
		t.Run(f.Name(), func(t *testing.T) {
			text, err := os.ReadFile(filepath.Join(dir, f.Name()))
			if err != nil {
				t.Fatal(err)
			}
			head, body, _ := strings.Cut(string(text), "\n\n")
			expect := ""
			for _, l := range strings.Split(head, "\n") {
				if v, ok := strings.CutPrefix(l, "expect: "); ok {
					expect = v
				}
			}
			e := &serverstore.Entry{Values: map[string][]byte{}}
			want := map[string][]byte{}
			var cookie []byte
			for _, l := range strings.Split(strings.TrimSpace(body), "\n") {
				fields := strings.Fields(l)
				last, err := hex.DecodeString(fields[len(fields)-1])
				if len(fields) == 2 && fields[0] != "meta" && fields[0] != "cookie" {
					last = nil // a key with an empty value: "value k" has no hex
				}
				if err != nil && len(fields) == 3 {
					t.Fatalf("%q: %v", l, err)
				}
				switch fields[0] {
				case "meta":
					e.Meta = last
				case "value":
					e.Values[fields[1]] = last
				case "want":
					want[fields[1]] = last
				case "cookie":
					cookie = last
				}
			}
			mem := serverstore.NewMemory(serverstore.WithClock(func() time.Time { return now }))
			store, err := serverstore.New(mem, [][]byte{bytes.Repeat([]byte("v"), 32)})
			if err != nil {
				t.Fatal(err)
			}
			id := strings.Repeat("V", 43)
			token, err := store.Save(ctx, "sid", &driver.Commit{Op: driver.OpCreate, Record: driver.Record{ID: id, Expires: now.Add(time.Hour)}}, now)
			if err != nil {
				t.Fatal(err)
			}
			mem.Delete(ctx, store.Key(id))
			if err := mem.Create(ctx, store.Key(id), e, now.Add(time.Hour)); err != nil {
				t.Fatal(err)
			}
			rec, err := store.Load(ctx, "sid", token, now)
			switch expect {
			case "ok":
				if err != nil {
					t.Fatalf("Load: %v", err)
				}
				if len(rec.Values) != len(want) {
					t.Fatalf("%d values, want %d", len(rec.Values), len(want))
				}
				for k, v := range want {
					if !bytes.Equal(rec.Values[k], v) {
						t.Fatalf("value %q = %.40q, want %.40q", k, rec.Values[k], v)
					}
				}
				if !bytes.Equal(rec.Cookie, cookie) {
					t.Fatalf("cookie attributes %x, want %x", rec.Cookie, cookie)
				}
			case "invalid":
				if !errors.Is(err, driver.ErrInvalid) {
					t.Fatalf("Load = %v, want ErrInvalid", err)
				}
			default:
				t.Fatalf("expect %q", expect)
			}
		})
	}
}

// otherBackend is the memory backend under another type: keyed as any
// Backend but NewMemory's own is (by the ID's hash, but for WithRawIDs).
type otherBackend struct{ *serverstore.Memory }

// TestIndexVectors: handles (spec/server-id-v1.md §7.3) and stored bindings
// (§7.1), from the independent generator.
func TestIndexVectors(t *testing.T) {
	files, err := filepath.Glob("../testdata/index-vectors/*")
	if err != nil || len(files) < 9 {
		t.Fatalf("%d index vectors (%v)", len(files), err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			raw, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			h := map[string]string{}
			for _, line := range strings.Split(strings.TrimSpace(string(raw)), "\n") {
				k, v, _ := strings.Cut(line, ": ")
				h[k] = v
			}
			if id := h["id"]; id != "" {
				secret, _ := hex.DecodeString(h["secret"])
				var opts []serverstore.Option
				if h["key"] == id {
					opts = append(opts, serverstore.WithRawIDs())
				}
				// A Backend other than NewMemory's itself, which is always
				// keyed by raw IDs.
				s, err := serverstore.New(otherBackend{serverstore.NewMemory()}, [][]byte{secret}, opts...)
				if err != nil {
					t.Fatal(err)
				}
				if k := s.Key(id); k != h["key"] {
					t.Fatalf("key %q, want %q", k, h["key"])
				}
				if got := s.Handle(id); got != h["handle"] {
					t.Fatalf("handle %q, want %q", got, h["handle"])
				}
				return
			}
			bind, _ := hex.DecodeString(h["binding"])
			var seen uint64
			fmt.Sscan(h["seen"], &seen)
			b, err := serverstore.DecodeBinding(bind, seen)
			if h["expect"] == "invalid" {
				if err == nil {
					t.Fatalf("decoded %+v from an invalid binding", b)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var created uint64
			fmt.Sscan(h["created"], &created)
			if b.User != h["user"] || b.Agent != h["agent"] || b.Addr != h["addr"] || b.Created.Unix() != int64(created) || b.Seen.Unix() != int64(seen) {
				t.Fatalf("decoded %+v, want %v", b, h)
			}
			if again := serverstore.EncodeBinding(b); !bytes.Equal(again, bind) {
				t.Fatalf("encoded back as %x, want %x", again, bind)
			}
		})
	}
}

// FuzzDecodeBinding: a stored binding never panics the reader, and one it
// accepts encodes back to the same bytes.
func FuzzDecodeBinding(f *testing.F) {
	files, _ := filepath.Glob("../testdata/index-vectors/binding_*")
	for _, file := range files {
		raw, _ := os.ReadFile(file)
		for _, line := range strings.Split(string(raw), "\n") {
			if v, ok := strings.CutPrefix(line, "binding: "); ok {
				b, _ := hex.DecodeString(v)
				f.Add(b, uint64(1764201600))
			}
		}
	}
	f.Fuzz(func(t *testing.T, p []byte, seen uint64) {
		b, err := serverstore.DecodeBinding(p, seen)
		if err != nil {
			return
		}
		if again := serverstore.EncodeBinding(b); !bytes.Equal(again, p) {
			t.Fatalf("%x decoded as %+v encodes as %x", p, b, again)
		}
	})
}
