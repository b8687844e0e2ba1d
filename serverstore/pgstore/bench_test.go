package pgstore_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/crumbs-go/session"
	"github.com/crumbs-go/session/driver"
	"github.com/crumbs-go/session/internal/fixtures"
	"github.com/crumbs-go/session/serverstore"
)

// BenchmarkPostgres: a request that loads the session, changes one value
// and saves, through the Manager on pgstore, against the floor: a SELECT
// then an UPDATE of a bytea row as large as the session's JSON
// (uncompressed), with no HTTP, codec, signature or checks.
//
//	go test -run '^$' -bench Postgres -count 6 ./serverstore/pgstore
func BenchmarkPostgres(b *testing.B) {
	p := pool(b)
	ctx := context.Background()
	for _, pl := range []struct {
		name string
		json []byte
	}{{"SMALL", fixtures.Small}, {"LARGE", fixtures.Large}} {
		var values map[string]any
		if err := json.Unmarshal(pl.json, &values); err != nil {
			b.Fatal(err)
		}
		be := newBackend(b, p)
		store, err := serverstore.New(be, secretsPG)
		if err != nil {
			b.Fatal(err)
		}
		m, err := session.New(store, session.WithCookieName("sid"), session.WithLogger(discardLogger()))
		if err != nil {
			b.Fatal(err)
		}
		cookie := ""
		do := func(f func(*session.Session)) int {
			r := httptest.NewRequest("GET", "/", nil)
			if cookie != "" {
				r.Header.Set("Cookie", cookie)
			}
			w := httptest.NewRecorder()
			m.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { f(session.From(r)); io.WriteString(w, "ok") })).ServeHTTP(w, r)
			for _, c := range w.Result().Cookies() {
				if c.Name == "sid" && c.MaxAge >= 0 {
					cookie = "sid=" + c.Value
				}
			}
			return w.Code
		}
		do(func(s *session.Session) {
			for k, v := range values {
				s.Set(k, v)
			}
		})
		b.Run(pl.name+"/change/crumbs-postgres", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if code := do(func(s *session.Session) { n, _ := session.Get[int](s, "n"); s.Set("n", n+1) }); code != 200 {
					b.Fatalf("status %d", code)
				}
			}
		})
		// The two steps of crumbs' request apart, at the Backend: the
		// load (one SELECT) and the save of one changed key (one UPDATE).
		key := store.Key(sessionID(b, store, cookie))
		b.Run(pl.name+"/step/crumbs-Get", func(b *testing.B) {
			for b.Loop() {
				if _, err := be.Get(ctx, key); err != nil {
					b.Fatal(err)
				}
			}
		})
		e, err := be.Get(ctx, key)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(pl.name+"/step/crumbs-Apply-one-key", func(b *testing.B) {
			i := 0
			for b.Loop() {
				i++
				w := &serverstore.Write{Meta: e.Meta, Expires: time.Now().Add(time.Hour),
					Changes: []driver.Change{{Key: "n", Value: []byte{0, byte('0' + i%10)}}}}
				if _, err := be.Apply(ctx, key, w); err != nil {
					b.Fatal(err)
				}
			}
		})
		s := schema(b, p)
		if _, err := p.Exec(ctx, `CREATE TABLE `+s+`.floor (key text PRIMARY KEY, data bytea, expires timestamptz)`); err != nil {
			b.Fatal(err)
		}
		if _, err := p.Exec(ctx, `INSERT INTO `+s+`.floor VALUES ('k', $1, now() + interval '1 hour')`, pl.json); err != nil {
			b.Fatal(err)
		}
		b.Run(pl.name+"/step/floor-SELECT", func(b *testing.B) {
			for b.Loop() {
				var data []byte
				if err := p.QueryRow(ctx, `SELECT data FROM `+s+`.floor WHERE key = 'k' AND expires > now()`).Scan(&data); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(pl.name+"/step/floor-UPDATE", func(b *testing.B) {
			for b.Loop() {
				if _, err := p.Exec(ctx, `UPDATE `+s+`.floor SET data = $1, expires = now() + interval '1 hour' WHERE key = 'k'`, pl.json); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(pl.name+"/change/floor-SELECT+UPDATE", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				var data []byte
				if err := p.QueryRow(ctx, `SELECT data FROM `+s+`.floor WHERE key = 'k' AND expires > now()`).Scan(&data); err != nil {
					b.Fatal(err)
				}
				if _, err := p.Exec(ctx, `UPDATE `+s+`.floor SET data = $1, expires = now() + interval '1 hour' WHERE key = 'k'`, data); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

var secretsPG = [][]byte{[]byte("pgstore-benchmark-secret-32-bytes!!")}

func discardLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// sessionID reads the session ID behind a cookie.
func sessionID(tb testing.TB, store *serverstore.Store, cookie string) string {
	rec, err := store.Load(context.Background(), "sid", strings.TrimPrefix(cookie, "sid="), time.Now())
	if err != nil {
		tb.Fatal(err)
	}
	return rec.ID
}
