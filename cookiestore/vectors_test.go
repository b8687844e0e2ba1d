package cookiestore_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/crumbs-go/session/chunking"
	"github.com/crumbs-go/session/cookiestore"
	"github.com/crumbs-go/session/driver"
	"github.com/crumbs-go/session/internal/vectors"
	"github.com/crumbs-go/session/serverstore"
)

// revocationVector is a file of testdata/revocation-vectors (written by
// crypto/gen_vectors.go from spec/cookie-v1.md §10.2 and §10.3): a header
// of "key: value" lines, a blank line, then a Cookie header or the lines
// "value NAME HEX" of a user's record.
type revocationVector struct {
	file   string
	h      map[string]string
	cookie string
	record map[string][]byte
}

func loadRevocationVectors(t *testing.T) []revocationVector {
	t.Helper()
	dir := filepath.Join("..", "testdata", "revocation-vectors")
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []revocationVector
	for _, e := range entries {
		f, err := os.Open(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		v := revocationVector{file: e.Name(), h: map[string]string{}, record: map[string][]byte{}}
		sc := bufio.NewScanner(f)
		sc.Buffer(nil, 1<<20)
		body := false
		for sc.Scan() {
			line := sc.Text()
			switch {
			case !body && line == "":
				body = true
			case !body:
				k, val, _ := strings.Cut(line, ": ")
				v.h[k] = val
			case strings.HasPrefix(line, "value "):
				parts := strings.Fields(line)
				b, err := hex.DecodeString(parts[2])
				if err != nil {
					t.Fatalf("%s: %v", e.Name(), err)
				}
				v.record[parts[1]] = b
			default:
				v.cookie = line
			}
		}
		f.Close()
		out = append(out, v)
	}
	if len(out) < 20 {
		t.Fatalf("%d revocation vectors", len(out))
	}
	return out
}

func (v revocationVector) int(t *testing.T, k string) int64 {
	n, err := strconv.ParseInt(v.h[k], 10, 64)
	if err != nil {
		t.Fatalf("%s: %s: %v", v.file, k, err)
	}
	return n
}

// TestRevocationVectors: the sealed binding (§10.2) reads as the vectors
// say, and a check against each user's record (§10.3) decides as they say.
func TestRevocationVectors(t *testing.T) {
	ctx := context.Background()
	for _, v := range loadRevocationVectors(t) {
		t.Run(v.file, func(t *testing.T) {
			now := time.Unix(v.int(t, "now"), 0)
			if v.cookie != "" {
				secret, _ := hex.DecodeString(v.h["secrets"])
				st, err := cookiestore.New([][]byte{secret})
				if err != nil {
					t.Fatal(err)
				}
				codec, _ := chunking.New(v.h["name"])
				value, err := codec.Join(vectors.Pairs(v.cookie))
				if err != nil {
					t.Fatal(err)
				}
				rec, err := st.Load(ctx, v.h["name"], value, now)
				if v.h["expect"] == "invalid" {
					if !errors.Is(err, driver.ErrInvalid) {
						t.Fatalf("Load = %+v, %v; want ErrInvalid (%s)", rec, err, v.h["comment"])
					}
					return
				}
				if err != nil {
					t.Fatal(err)
				}
				if rec.ID != v.h["id"] || rec.User != v.h["user"] || rec.Created.Unix() != v.int(t, "bound") || string(rec.Data) != v.h["values"] {
					t.Fatalf("Load = ID %s user %q bound %v data %s; want %v", rec.ID, rec.User, rec.Created.Unix(), rec.Data, v.h)
				}
				// What it seals again carries the same binding, and the
				// checked-at time it was given.
				rec.Seen = time.Unix(v.int(t, "checked"), 0)
				again, err := st.Save(ctx, "s", &driver.Commit{Op: driver.OpRefresh, Record: *rec}, now)
				if err != nil {
					t.Fatal(err)
				}
				if back, err := st.Load(ctx, "s", again, now); err != nil || back.User != rec.User || !back.Created.Equal(rec.Created) {
					t.Fatalf("reloaded: %+v, %v", back, err)
				}
				return
			}
			// §10.3: the record under its key, and a cookie of the session
			// bound at "bound", checked long ago (due).
			if got := cookiestore.RevocationKey(v.h["user"]); got != v.h["key"] {
				t.Fatalf("RevocationKey = %s, want %s", got, v.h["key"])
			}
			b := serverstore.NewMemory(serverstore.WithClock(func() time.Time { return now }))
			if err := b.Create(ctx, v.h["key"], &serverstore.Entry{Meta: make18(), Values: v.record}, now.Add(time.Hour)); err != nil {
				t.Fatal(err)
			}
			st, err := cookiestore.New([][]byte{bytes.Repeat([]byte{9}, 32)}, cookiestore.WithRevocation(b),
				cookiestore.WithGrace(time.Duration(v.int(t, "grace"))*time.Second), cookiestore.WithCheckInterval(0))
			if err != nil {
				t.Fatal(err)
			}
			if got := st.Handle(v.h["id"]); got != v.h["handle"] {
				t.Fatalf("Handle = %s, want %s", got, v.h["handle"])
			}
			bound := time.Unix(v.int(t, "bound"), 0)
			tok, err := st.Save(ctx, "s", &driver.Commit{Op: driver.OpCreate, Record: driver.Record{ID: v.h["id"], Data: []byte(`{}`),
				Expires: now.Add(time.Hour), User: v.h["user"], Created: bound, Seen: bound}}, bound)
			if err != nil {
				t.Fatal(err)
			}
			rec, err := st.Load(ctx, "s", tok, now)
			var got string
			switch {
			case err == nil:
				got = "pass"
			case errors.Is(err, driver.ErrInvalid):
				got = "revoked"
			case errors.Is(err, driver.ErrMoved) && rec != nil && rec.Data != nil:
				got = "superseded" // read, not saved
			case errors.Is(err, driver.ErrMoved):
				got = "moved" // a fresh session, the cookie left alone
			default:
				got = "malformed"
			}
			if got != v.h["expect"] {
				t.Fatalf("check = %s (%v), want %s: %s", got, err, v.h["expect"], v.h["comment"])
			}
		})
	}
}

// make18 is the header of a user's record: format 2, nothing else.
func make18() []byte { m := make([]byte, 18); m[0] = 2; return m }
