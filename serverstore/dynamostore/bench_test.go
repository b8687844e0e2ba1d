package dynamostore_test

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

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/crumbs-go/session"
	"github.com/crumbs-go/session/driver"
	"github.com/crumbs-go/session/internal/fixtures"
	"github.com/crumbs-go/session/serverstore"
)

// BenchmarkDynamoDB: requests through the Manager on dynamostore — load
// only, and load, change one value and save — against the floor: a
// GetItem, and a GetItem then a PutItem, of an item holding the session's
// JSON (uncompressed) in one binary attribute, with no HTTP, codec,
// signature, deadlines or conditions. On dynalite, the emulator the tests
// use: the ratios say what crumbs adds to the same round trips; the
// absolute times say nothing of DynamoDB's.
//
//	go test -run '^$' -bench DynamoDB -count 6 ./serverstore/dynamostore
func BenchmarkDynamoDB(b *testing.B) {
	ctx := context.Background()
	for _, pl := range []struct {
		name string
		json []byte
	}{{"SMALL", fixtures.Small}, {"LARGE", fixtures.Large}} {
		var values map[string]any
		if err := json.Unmarshal(pl.json, &values); err != nil {
			b.Fatal(err)
		}
		be := newBackend(b)
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
		b.Run(pl.name+"/load/crumbs-dynamodb", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if code := do(func(s *session.Session) { session.Get[int](s, "n") }); code != 200 {
					b.Fatalf("status %d", code)
				}
			}
		})
		b.Run(pl.name+"/change/crumbs-dynamodb", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if code := do(func(s *session.Session) { n, _ := session.Get[int](s, "n"); s.Set("n", n+1) }); code != 200 {
					b.Fatalf("status %d", code)
				}
			}
		})
		// The save apart, at the Backend: crumbs' UpdateItem of one changed
		// key (with its conditions), and the floor's PutItem; and a raw
		// UpdateItem of one map member without conditions, which tells
		// what the emulator's expression evaluation costs.
		key0 := store.Key(sessionID(b, store, cookie))
		e, err := be.Get(ctx, key0)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(pl.name+"/step/crumbs-Apply-one-key", func(b *testing.B) {
			i := 0
			for b.Loop() {
				i++
				w := &serverstore.Write{Meta: e.Meta, Expires: time.Now().Add(time.Hour),
					Changes: []driver.Change{{Key: "n", Value: []byte{0, byte('0' + i%10)}}}}
				if _, err := be.Apply(ctx, key0, w); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(pl.name+"/step/raw-UpdateItem-one-member", func(b *testing.B) {
			for b.Loop() {
				_, err := be.Client().UpdateItem(ctx, &dynamodb.UpdateItemInput{TableName: aws.String(be.Table()),
					Key:                       map[string]types.AttributeValue{"k": &types.AttributeValueMemberS{Value: key0}},
					UpdateExpression:          aws.String("SET #v.#m = :x"),
					ExpressionAttributeNames:  map[string]string{"#v": "v", "#m": "_n"},
					ExpressionAttributeValues: map[string]types.AttributeValue{":x": &types.AttributeValueMemberB{Value: []byte{0, '1'}}},
				})
				if err != nil {
					b.Fatal(err)
				}
			}
		})
		floor := be.Table()
		key := map[string]types.AttributeValue{"k": &types.AttributeValueMemberS{Value: "floor-" + pl.name}}
		put := func(data []byte) error {
			_, err := be.Client().PutItem(ctx, &dynamodb.PutItemInput{TableName: &floor, Item: map[string]types.AttributeValue{
				"k": key["k"], "d": &types.AttributeValueMemberB{Value: data},
				"ttl": &types.AttributeValueMemberN{Value: "9999999999"},
			}})
			return err
		}
		get := func() ([]byte, error) {
			out, err := be.Client().GetItem(ctx, &dynamodb.GetItemInput{TableName: &floor, Key: key, ConsistentRead: aws.Bool(true)})
			if err != nil {
				return nil, err
			}
			d, _ := out.Item["d"].(*types.AttributeValueMemberB)
			return d.Value, nil
		}
		if err := put(pl.json); err != nil {
			b.Fatal(err)
		}
		b.Run(pl.name+"/load/floor-GetItem", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := get(); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(pl.name+"/step/floor-PutItem", func(b *testing.B) {
			for b.Loop() {
				if err := put(pl.json); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(pl.name+"/change/floor-GetItem+PutItem", func(b *testing.B) {
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

// sessionID reads the session ID behind a cookie.
func sessionID(tb testing.TB, store *serverstore.Store, cookie string) string {
	rec, err := store.Load(context.Background(), "sid", strings.TrimPrefix(cookie, "sid="), time.Now())
	if err != nil {
		tb.Fatal(err)
	}
	return rec.ID
}
