package dynamostore_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/crumbs-go/session"
	"github.com/crumbs-go/session/driver"
	"github.com/crumbs-go/session/internal/leakcheck"
	"github.com/crumbs-go/session/serverstore"
	"github.com/crumbs-go/session/serverstore/dynamostore"
	"github.com/crumbs-go/session/serverstore/dynamostore/dynamotest"
	"github.com/crumbs-go/session/serverstore/storetest"
)

func TestMain(m *testing.M) {
	dynamotest.SetEnv()
	code := m.Run()
	dynamotest.Stop()
	os.Exit(leakcheck.Verify(code))
}

var secrets = [][]byte{bytes.Repeat([]byte("d"), 32)}

// table creates a table of the test's own and deletes it after.
func table(t testing.TB, c *dynamodb.Client) string {
	t.Helper()
	var b [6]byte
	rand.Read(b[:])
	name := "crumbs_test_" + hex.EncodeToString(b[:])
	if err := dynamostore.CreateTable(context.Background(), c, name); err != nil && !errors.Is(err, errors.ErrUnsupported) {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.DeleteTable(context.Background(), &dynamodb.DeleteTableInput{TableName: &name}) })
	return name
}

func newBackend(t testing.TB) *dynamostore.Backend {
	c := dynamotest.Client(t)
	b, err := dynamostore.New(c, table(t, c))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) serverstore.Backend { return newBackend(t) })
}

// TestCreateTable: the table has the key, the index and on-demand
// capacity; dynalite knows no TTL, which CreateTable reports as
// unsupported after making the table; a second call leaves it be.
func TestCreateTable(t *testing.T) {
	c := dynamotest.Client(t)
	ctx := context.Background()
	name := "crumbs_test_create_" + hex.EncodeToString([]byte(time.Now().Format("150405.000")))[:12]
	t.Cleanup(func() { c.DeleteTable(context.Background(), &dynamodb.DeleteTableInput{TableName: &name}) })
	err := dynamostore.CreateTable(ctx, c, name)
	if !errors.Is(err, errors.ErrUnsupported) || !strings.Contains(err.Error(), "never deleted") {
		t.Fatalf("CreateTable on dynalite = %v, want the TTL reported unsupported", err)
	}
	d, err := c.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: &name})
	if err != nil {
		t.Fatal(err)
	}
	tb := d.Table
	if tb.TableStatus != types.TableStatusActive || len(tb.KeySchema) != 1 || *tb.KeySchema[0].AttributeName != "k" ||
		tb.BillingModeSummary == nil || tb.BillingModeSummary.BillingMode != types.BillingModePayPerRequest {
		t.Fatalf("the table: %+v", tb)
	}
	if len(tb.GlobalSecondaryIndexes) != 1 || *tb.GlobalSecondaryIndexes[0].IndexName != dynamostore.UserIndex {
		t.Fatalf("the table's indexes: %+v", tb.GlobalSecondaryIndexes)
	}
	if err := dynamostore.CreateTable(ctx, c, name); !errors.Is(err, errors.ErrUnsupported) {
		t.Fatalf("CreateTable of an existing table = %v", err)
	}
	for _, bad := range []string{"", "ab", "a b", strings.Repeat("x", 256), "tä"} {
		if err := dynamostore.CreateTable(ctx, c, bad); err == nil || !strings.Contains(err.Error(), "3 to 255") {
			t.Errorf("CreateTable(%q) = %v, want the naming rule", bad, err)
		}
		if _, err := dynamostore.New(c, bad); err == nil {
			t.Errorf("New(%q) accepted the name", bad)
		}
	}
	if _, err := dynamostore.New(nil, "crumbs_sessions"); err == nil {
		t.Error("New(nil) accepted no client")
	}
}

// handler sets n=v on POST /set?n=…&v=…, reads n on GET, and reports
// errors in the response.
func handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s := session.From(r)
		if r.Method == "POST" {
			s.Set(r.URL.Query().Get("n"), r.URL.Query().Get("v"))
			return
		}
		v, _ := session.Get[string](s, r.URL.Query().Get("n"))
		io.WriteString(w, v)
	})
}

// TestOpenStore: a configuration string opens the table, a session
// survives from one request to the next through it, and the item holds
// the attributes the package documents, its TTL among them.
func TestOpenStore(t *testing.T) {
	c := dynamotest.Client(t)
	ep := dynamotest.Start(t)
	name := table(t, c)
	ctx := context.Background()
	store, err := session.OpenStore(ctx, "dynamodb://"+name+"?region=us-east-1&endpoint="+url.QueryEscape(ep)+"&crumbs_grace=0s", secrets)
	if err != nil {
		t.Fatal(err)
	}
	defer store.(io.Closer).Close()
	ss := store.(*serverstore.Store)
	if err := ss.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	m, err := session.New(store, session.WithCookieName("sid"), session.WithIdleTimeout(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	h := m.Handler(handler())
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest("POST", "/set?n=user&v=ada", nil))
	cookie := w.Header().Get("Set-Cookie")
	if w.Code != 200 || cookie == "" {
		t.Fatalf("POST: %d, cookie %q", w.Code, cookie)
	}
	r := httptest.NewRequest("GET", "/?n=user", nil)
	r.Header.Set("Cookie", strings.SplitN(cookie, ";", 2)[0])
	w = httptest.NewRecorder()
	h.ServeHTTP(w, r)
	if w.Body.String() != "ada" {
		t.Fatalf("the next request read %q, want ada", w.Body.String())
	}
	out, err := c.Scan(ctx, &dynamodb.ScanInput{TableName: &name})
	if err != nil || len(out.Items) != 1 {
		t.Fatalf("scan: %d items, %v", len(out.Items), err)
	}
	it := out.Items[0]
	for _, a := range []string{"k", "hd", "ab", "id", "v", "ex", "ttl", "rv"} {
		if _, ok := it[a]; !ok {
			t.Errorf("the item lacks %s: %v", a, it)
		}
	}
	ttl, _ := it["ttl"].(*types.AttributeValueMemberN)
	ex, _ := it["ex"].(*types.AttributeValueMemberN)
	var sec, ms int64
	fmt.Sscan(ttl.Value, &sec)
	fmt.Sscan(ex.Value, &ms)
	if want := time.Now().Add(time.Hour).Unix(); sec < want-5 || sec > want+5 || sec != (ms+999)/1000 {
		t.Errorf("ttl %d, ex %d: want the idle deadline an hour on, in seconds rounded up", sec, ms)
	}
}

func TestOpenStoreErrors(t *testing.T) {
	ep := dynamotest.Start(t)
	e := url.QueryEscape(ep)
	for _, tc := range []struct{ config, want string }{
		{"dynamodb://crumbs_sessions?region=us-east-1&crumbs_tabel=x", "unknown parameter crumbs_tabel"},
		{"dynamodb://crumbs_sessions?region=us-east-1&regoin=x", "unknown parameter regoin"},
		{"dynamodb://a?region=us-east-1", "3 to 255"},
		{"dynamodb://crumbs_sessions/x?region=us-east-1", "without a path"},
		{"dynamodb://key:secret@crumbs_sessions?region=us-east-1", "never from the string"},
		{"dynamodb://crumbs_sessions?region=us-east-1&endpoint=localhost:8000", "an http or https URL"},
		{"dynamodb://crumbs_sessions?region=us-east-1&endpoint=" + url.QueryEscape("http://AKIAX:s3cr3tKey@127.0.0.1:8000"), "without user information"},
		{"dynamodb://crumbs_sessions/p?region=us-east-1&endpoint=" + url.QueryEscape("http://AKIAX:s3cr3tKey@127.0.0.1:8000"), "without a path"},
		{"dynamodb://crumbs_sessions?region=us-east-1&crumbs_grace=1h", "0 to 10m0s"},
		{"dynamodb://crumbs_sessions?region=us-east-1&crumbs_create=maybe", "true or false"},
		{"dynamodb://crumbs_sessions?region=us-east-1&region=eu-west-1", "given 2 times"},
		{"dynamodb://crumbs_missing_table?region=us-east-1&endpoint=" + e, "does not exist: create it"},
		{"dynamodb://crumbs_sessions?region=us-east-1&endpoint=http://127.0.0.1:1&crumbs_open_timeout=300ms", "connection refused"},
	} {
		_, err := session.OpenStore(context.Background(), tc.config, secrets)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("OpenStore(%q) = %v, want an error saying %q", tc.config, err, tc.want)
		}
		if err != nil && (strings.Contains(err.Error(), "secret") || strings.Contains(err.Error(), "s3cr3t")) {
			t.Errorf("the error quotes the credentials: %v", err)
		}
	}
	t.Run("NoRegion", func(t *testing.T) {
		t.Setenv("AWS_REGION", "")
		t.Setenv("AWS_DEFAULT_REGION", "")
		t.Setenv("AWS_CONFIG_FILE", "/nonexistent")
		_, err := session.OpenStore(context.Background(), "dynamodb://crumbs_sessions?endpoint="+e, secrets)
		if err == nil || !strings.Contains(err.Error(), "no region") {
			t.Fatalf("OpenStore without a region = %v", err)
		}
	})
}

// TestOpenStoreCreates: crumbs_create=true makes the table (dynalite's
// missing TTL is a warning, not a failure) and the store works.
func TestOpenStoreCreates(t *testing.T) {
	c := dynamotest.Client(t)
	ep := dynamotest.Start(t)
	var b [6]byte
	rand.Read(b[:])
	name := "crumbs_test_" + hex.EncodeToString(b[:])
	t.Cleanup(func() { c.DeleteTable(context.Background(), &dynamodb.DeleteTableInput{TableName: &name}) })
	store, err := session.OpenStore(context.Background(), "dynamodb://"+name+"?region=us-east-1&crumbs_create=true&endpoint="+url.QueryEscape(ep), secrets)
	if err != nil {
		t.Fatal(err)
	}
	m, _ := session.New(store, session.WithCookieName("sid"))
	w := httptest.NewRecorder()
	m.Handler(handler()).ServeHTTP(w, httptest.NewRequest("POST", "/set?n=a&v=b", nil))
	if w.Code != 200 {
		t.Fatalf("a save through a store that created its table: %d", w.Code)
	}
	if n, err := store.(*serverstore.Store).Backend().(serverstore.Counter).Count(context.Background()); err != nil || n != 1 {
		t.Fatalf("Count = %d, %v; want the session saved", n, err)
	}
}

// TestManyChangesOneSave: a save of more changes than one UpdateItem's
// expression holds goes through the read and conditional put, and keeps
// the key-level semantics: parallel such saves of different keys all
// land, and a checked change still conflicts.
func TestManyChangesOneSave(t *testing.T) {
	b := newBackend(t)
	ctx := context.Background()
	meta := make([]byte, 18)
	meta[0] = 2
	exp := time.Now().Add(time.Hour)
	if err := b.Create(ctx, "k", &serverstore.Entry{Meta: meta, Values: map[string][]byte{"n": []byte("\x000")}}, exp); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			var cs []driver.Change
			for i := range 400 {
				cs = append(cs, driver.Change{Key: fmt.Sprintf("w%d-key-%04d", w, i), Value: []byte("\x00v")})
			}
			if _, err := b.Apply(ctx, "k", &serverstore.Write{Meta: meta, Expires: exp, Changes: cs}); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	got, err := b.Get(ctx, "k")
	if err != nil || len(got.Values) != 1+4*400 {
		t.Fatalf("after 4 parallel saves of 400 keys each: %d values, %v", len(got.Values), err)
	}
	var cs []driver.Change
	for i := range 400 {
		cs = append(cs, driver.Change{Key: fmt.Sprintf("x-%04d", i), Value: []byte("\x00v")})
	}
	cs = append(cs, driver.Change{Key: "n", Value: []byte("\x001"), Check: true, Old: []byte("\x009"), HadOld: true})
	var conflict *driver.ConflictError
	if _, err := b.Apply(ctx, "k", &serverstore.Write{Meta: meta, Expires: exp, Changes: cs}); !errors.As(err, &conflict) || string(conflict.Values["n"]) != "\x000" {
		t.Fatalf("a large save whose check fails = %v, want a conflict reporting n=0", err)
	}
	if got, _ := b.Get(ctx, "k"); len(got.Values) != 1+4*400 {
		t.Fatalf("a failed large save wrote: %d values", len(got.Values))
	}
	// With Clear: the record holds the save's values alone.
	if _, err := b.Apply(ctx, "k", &serverstore.Write{Meta: meta, Expires: exp, Clear: true, Changes: cs[:400]}); err != nil {
		t.Fatal(err)
	}
	if got, _ := b.Get(ctx, "k"); len(got.Values) != 400 {
		t.Fatalf("a large save with Clear left %d values, want 400", len(got.Values))
	}
}

// TestOversizedSessionIsReported: a session over DynamoDB's 400 KB item
// limit fails to save through the error handler, and the next request
// still reads what was saved before.
func TestOversizedSessionIsReported(t *testing.T) {
	store, err := serverstore.New(newBackend(t), secrets)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var reported []error
	m, _ := session.New(store, session.WithCookieName("sid"), session.WithErrorHandler(func(w http.ResponseWriter, r *http.Request, err error) {
		mu.Lock()
		reported = append(reported, err)
		mu.Unlock()
		http.Error(w, "unavailable", http.StatusServiceUnavailable)
	}))
	h := m.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s := session.From(r)
		switch r.URL.Path {
		case "/small":
			s.Set("a", "kept")
		case "/big":
			big := make([]byte, 500<<10)
			rand.Read(big) // incompressible
			s.Set("big", big)
		default:
			v, _ := session.Get[string](s, "a")
			io.WriteString(w, v)
		}
	}))
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest("POST", "/small", nil))
	cookie := strings.SplitN(w.Header().Get("Set-Cookie"), ";", 2)[0]
	send := func(path string) *httptest.ResponseRecorder {
		r := httptest.NewRequest("POST", path, nil)
		r.Header.Set("Cookie", cookie)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w
	}
	if w := send("/big"); w.Code != http.StatusServiceUnavailable || len(reported) != 1 || !strings.Contains(reported[0].Error(), "dynamostore") {
		t.Fatalf("an oversized save: %d, reported %v", w.Code, reported)
	}
	if w := send("/"); w.Body.String() != "kept" {
		t.Fatalf("after the failed save the session reads %q, want kept", w.Body.String())
	}
}

// TestExpiredItemsIgnored: an item whose ex passed, or whose absolute
// deadline did, is absent although dynalite never deletes it, as a real
// table's TTL may not for hours; a new session may take its key.
func TestExpiredItemsIgnored(t *testing.T) {
	b := newBackend(t)
	ctx := context.Background()
	key := map[string]types.AttributeValue{"k": &types.AttributeValueMemberS{Value: "gone"}}
	past := fmt.Sprint(time.Now().Add(-time.Second).UnixMilli())
	_, err := b.Client().PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(b.Table()), Item: map[string]types.AttributeValue{
		"k": key["k"], "hd": &types.AttributeValueMemberB{Value: []byte{2, 0}}, "ab": &types.AttributeValueMemberN{Value: "0"},
		"id": &types.AttributeValueMemberB{Value: make([]byte, 8)}, "v": &types.AttributeValueMemberM{Value: map[string]types.AttributeValue{}},
		"ex": &types.AttributeValueMemberN{Value: past}, "ttl": &types.AttributeValueMemberN{Value: "1"}, "rv": &types.AttributeValueMemberN{Value: "1"},
	}})
	if err != nil {
		t.Fatal(err)
	}
	abs := fmt.Sprint(time.Now().Add(-time.Second).Unix())
	future := fmt.Sprint(time.Now().Add(time.Hour).UnixMilli())
	_, err = b.Client().PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(b.Table()), Item: map[string]types.AttributeValue{
		"k": &types.AttributeValueMemberS{Value: "absolute"}, "hd": &types.AttributeValueMemberB{Value: []byte{2, 0}}, "ab": &types.AttributeValueMemberN{Value: abs},
		"id": &types.AttributeValueMemberB{Value: make([]byte, 8)}, "v": &types.AttributeValueMemberM{Value: map[string]types.AttributeValue{}},
		"ex": &types.AttributeValueMemberN{Value: future}, "ttl": &types.AttributeValueMemberN{Value: "1"}, "rv": &types.AttributeValueMemberN{Value: "1"},
	}})
	if err != nil {
		t.Fatal(err)
	}
	meta := make([]byte, 18)
	meta[0] = 2
	for _, k := range []string{"gone", "absolute"} {
		if _, err := b.Get(ctx, k); !errors.Is(err, serverstore.ErrNotFound) {
			t.Errorf("Get(%s) = %v, want ErrNotFound", k, err)
		}
		if _, err := b.Apply(ctx, k, &serverstore.Write{Meta: meta, Expires: time.Now().Add(time.Hour)}); !errors.Is(err, serverstore.ErrNotFound) {
			t.Errorf("Apply(%s) = %v, want ErrNotFound", k, err)
		}
		if _, err := b.Retire(ctx, k, "x", time.Now().Add(time.Hour)); !errors.Is(err, serverstore.ErrNotFound) {
			t.Errorf("Retire(%s) = %v, want ErrNotFound", k, err)
		}
		if err := b.Create(ctx, k, &serverstore.Entry{Meta: meta}, time.Now().Add(time.Hour)); err != nil {
			t.Errorf("Create over expired %s = %v", k, err)
		}
		if _, err := b.Get(ctx, k); err != nil {
			t.Errorf("Get(%s) after Create = %v", k, err)
		}
	}
}

// TestOpenStoreSlowCreate: crumbs_create=true on a service that takes
// longer to create the table than crumbs_open_timeout allows a ping (as
// DynamoDB does with an index): the creation has CreateTableTimeout of
// its own, and the ping after it its own crumbs_open_timeout.
func TestOpenStoreSlowCreate(t *testing.T) {
	u, _ := url.Parse(dynamotest.Start(t))
	rp := httputil.NewSingleHostReverseProxy(u)
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.Header.Get("X-Amz-Target"), ".CreateTable") {
			time.Sleep(700 * time.Millisecond)
		}
		rp.ServeHTTP(w, r)
	}))
	defer slow.Close()
	c := dynamotest.Client(t)
	var b [6]byte
	rand.Read(b[:])
	name := "crumbs_test_" + hex.EncodeToString(b[:])
	t.Cleanup(func() { c.DeleteTable(context.Background(), &dynamodb.DeleteTableInput{TableName: &name}) })
	store, err := session.OpenStore(context.Background(), "dynamodb://"+name+"?region=us-east-1&crumbs_create=true&crumbs_open_timeout=500ms&endpoint="+url.QueryEscape(slow.URL), secrets)
	if err != nil {
		t.Fatalf("a creation of 700 ms with crumbs_open_timeout=500ms: %v", err)
	}
	store.(io.Closer).Close()
}

// TestCreateTableChecksAnExistingTable: a table made by hand without the
// index CreateTable makes is reported by name, not accepted.
func TestCreateTableChecksAnExistingTable(t *testing.T) {
	c := dynamotest.Client(t)
	ctx := context.Background()
	var b [6]byte
	rand.Read(b[:])
	name := "crumbs_test_" + hex.EncodeToString(b[:])
	_, err := c.CreateTable(ctx, &dynamodb.CreateTableInput{
		TableName:            &name,
		BillingMode:          types.BillingModePayPerRequest,
		AttributeDefinitions: []types.AttributeDefinition{{AttributeName: aws.String("k"), AttributeType: types.ScalarAttributeTypeS}},
		KeySchema:            []types.KeySchemaElement{{AttributeName: aws.String("k"), KeyType: types.KeyTypeHash}},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.DeleteTable(context.Background(), &dynamodb.DeleteTableInput{TableName: &name}) })
	if err := dynamostore.CreateTable(ctx, c, name); err == nil || !strings.Contains(err.Error(), "no index crumbs_usr") {
		t.Fatalf("CreateTable over a table without the index = %v, want the index named", err)
	}
}
