package mongotest_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/crumbs-go/session"
	"github.com/crumbs-go/session/internal/fixtures"
	"github.com/crumbs-go/session/serverstore"
)

// BenchmarkMongo: requests through the Manager on mongostore — load only,
// and load, change one value and save — against the floor: a find by _id,
// and a find then a replace (upsert) of a document holding the session's
// JSON (uncompressed) in one binary field, with no HTTP, codec,
// signature, deadlines or revisions. On FerretDB 1.24 over PostgreSQL, the
// server the tests use: the ratios say what crumbs adds to the same round
// trips; the absolute times say nothing of MongoDB's.
//
//	go test -run '^$' -bench Mongo -count 6 ./serverstore/mongostore/mongotest
func BenchmarkMongo(b *testing.B) {
	ctx := context.Background()
	for _, pl := range []struct {
		name string
		json []byte
	}{{"SMALL", fixtures.Small}, {"LARGE", fixtures.Large}} {
		var values map[string]any
		if err := json.Unmarshal(pl.json, &values); err != nil {
			b.Fatal(err)
		}
		be, coll := newBackend(b)
		store, err := serverstore.New(be, secrets)
		if err != nil {
			b.Fatal(err)
		}
		m, err := session.New(store, session.WithCookieName("sid"), session.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))
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
		b.Run(pl.name+"/load/crumbs-mongodb", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if code := do(func(s *session.Session) { session.Get[int](s, "n") }); code != 200 {
					b.Fatalf("status %d", code)
				}
			}
		})
		b.Run(pl.name+"/change/crumbs-mongodb", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if code := do(func(s *session.Session) { n, _ := session.Get[int](s, "n"); s.Set("n", n+1) }); code != 200 {
					b.Fatalf("status %d", code)
				}
			}
		})
		id := "floor-" + pl.name
		put := func(data []byte) error {
			_, err := coll.ReplaceOne(ctx, bson.D{{Key: "_id", Value: id}}, bson.D{{Key: "_id", Value: id}, {Key: "d", Value: data}}, options.Replace().SetUpsert(true))
			return err
		}
		get := func() ([]byte, error) {
			var d struct {
				D []byte `bson:"d"`
			}
			err := coll.FindOne(ctx, bson.D{{Key: "_id", Value: id}}).Decode(&d)
			return d.D, err
		}
		if err := put(pl.json); err != nil {
			b.Fatal(err)
		}
		b.Run(pl.name+"/load/floor-find", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := get(); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(pl.name+"/change/floor-find+replace", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				d, err := get()
				if err == nil {
					err = put(d)
				}
				if err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
