package mongotest_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/crumbs-go/session"
	"github.com/crumbs-go/session/driver"
	"github.com/crumbs-go/session/internal/leakcheck"
	"github.com/crumbs-go/session/serverstore"
	"github.com/crumbs-go/session/serverstore/mongostore"
	"github.com/crumbs-go/session/serverstore/mongostore/mongotest"
	"github.com/crumbs-go/session/serverstore/storetest"
)

func TestMain(m *testing.M) {
	code := m.Run()
	mongotest.Stop()
	os.Exit(leakcheck.Verify(code))
}

var secrets = [][]byte{bytes.Repeat([]byte("m"), 32)}

// newBackend returns a Backend on a collection of the test's own, with its
// indexes (FerretDB refuses the TTL index: ErrUnsupported).
func newBackend(t testing.TB, opts ...mongostore.Option) (*mongostore.Backend, *mongo.Collection) {
	t.Helper()
	c := mongotest.Collection(t)
	if err := mongostore.EnsureIndexes(context.Background(), c); err != nil && !errors.Is(err, errors.ErrUnsupported) {
		t.Fatal(err)
	}
	b, err := mongostore.New(c, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b, c
}

// TestConformance runs the suite on the suite's clock: the Backend
// enforces every deadline on read, by the clock it is given (TestExpiry
// checks it on the real one).
func TestConformance(t *testing.T) {
	storetest.RunClocked(t, func(t *testing.T, now func() time.Time) serverstore.Backend {
		b, _ := newBackend(t, mongostore.WithClock(now))
		return b
	})
}

// TestEnsureIndexes: crumbs_key is made; FerretDB's refusal of the TTL
// index is reported as unsupported, naming the sweep; a second call is
// harmless.
func TestEnsureIndexes(t *testing.T) {
	c := mongotest.Collection(t)
	ctx := context.Background()
	err := mongostore.EnsureIndexes(ctx, c)
	if !errors.Is(err, errors.ErrUnsupported) || !strings.Contains(err.Error(), "WithSweep") {
		t.Fatalf("EnsureIndexes on FerretDB = %v, want the TTL index reported unsupported", err)
	}
	if err := mongostore.EnsureIndexes(ctx, c); !errors.Is(err, errors.ErrUnsupported) {
		t.Fatalf("EnsureIndexes again = %v", err)
	}
	specs, err := c.Indexes().ListSpecifications(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, s := range specs {
		names = append(names, s.Name)
		if s.Name == mongostore.KeyIndex && !strings.Contains(string(s.KeysDocument), "k") {
			t.Errorf("index %s keys %v", s.Name, s.KeysDocument)
		}
	}
	if !strings.Contains(strings.Join(names, " "), mongostore.KeyIndex) {
		t.Fatalf("indexes %v, want %s", names, mongostore.KeyIndex)
	}
	if _, err := mongostore.New(nil); err == nil {
		t.Error("New(nil) accepted no collection")
	}
	if _, err := mongostore.New(c, mongostore.WithSweep(time.Millisecond)); err == nil {
		t.Error("WithSweep(1ms) accepted")
	}
}

// handler sets n=v on POST /set?n=…&v=…, reads n on GET.
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

type client struct {
	t      *testing.T
	srv    *httptest.Server
	cookie *http.Cookie
}

func (c *client) do(method, path string) string {
	c.t.Helper()
	req, _ := http.NewRequest(method, c.srv.URL+path, nil)
	if c.cookie != nil {
		req.AddCookie(c.cookie)
	}
	resp, err := c.srv.Client().Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		c.t.Fatalf("%s %s: %d %s", method, path, resp.StatusCode, body)
	}
	for _, ck := range resp.Cookies() {
		if ck.Name == "sid" {
			c.cookie = ck
		}
	}
	return string(body)
}

// TestOpenStore: a configuration string opens the collection it names, a
// session survives from one request to the next through it, and the
// collection then holds one document per session, with the fields the
// package documents.
func TestOpenStore(t *testing.T) {
	coll := "open_" + strings.ReplaceAll(t.Name(), "/", "_")
	db := mongotest.Database(t)
	t.Cleanup(func() { db.Collection(coll).Drop(context.Background()) })
	ctx := context.Background()
	store, err := session.OpenStore(ctx, mongotest.URI(t)+"?crumbs_collection="+coll+"&crumbs_sweep=1s&crumbs_grace=0s", secrets)
	if err != nil {
		t.Fatal(err)
	}
	defer store.(io.Closer).Close()
	if err := store.(*serverstore.Store).Ping(ctx); err != nil {
		t.Fatal(err)
	}
	m, err := session.New(store, session.WithCookieName("sid"), session.WithIdleTimeout(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(m.Handler(handler()))
	defer srv.Close()
	c := &client{t: t, srv: srv}
	for i := range 5 {
		c.do("POST", fmt.Sprintf("/set?n=k%d&v=v%d", i, i))
	}
	if got := c.do("GET", "/get?n=k3"); got != "v3" {
		t.Fatalf("read back %q", got)
	}
	docs := live(t, db.Collection(coll))
	if len(docs) != 1 {
		t.Fatalf("%d session documents after 5 saves of one session, want 1: %v", len(docs), docs)
	}
	d := docs[0]
	for _, f := range []string{"_id", "k", "r", "m", "v", "x", "ttl", "wt"} {
		if _, ok := d[f]; !ok {
			t.Errorf("the document has no %s: %v", f, d)
		}
	}
	if r, _ := d["r"].(int64); r != 5 {
		t.Errorf("revision %v after 5 writes, want 5", d["r"])
	}
	if v, _ := d["v"].(bson.A); len(v) != 5 {
		t.Errorf("values %v, want 5", d["v"])
	}
	specs, err := db.Collection(coll).Indexes().ListSpecifications(ctx)
	if err != nil || len(specs) < 3 {
		t.Fatalf("indexes %v %v: OpenStore made none", specs, err)
	}
	if err := store.(io.Closer).Close(); err != nil {
		t.Fatal(err)
	}
	if err := store.(io.Closer).Close(); err != nil {
		t.Fatalf("a second Close = %v", err)
	}
}

// TestOpenErrors: every refusal names what to fix, before any request
// when it can, and never quotes a password.
func TestOpenErrors(t *testing.T) {
	base := mongotest.URI(t)
	for _, tc := range []struct{ cfg, want string }{
		{base + "?crumbs_bogus=1", "unknown parameter crumbs_bogus"},
		{base + "?crumbs_sweep=10ms", "crumbs_sweep"},
		{base + "?crumbs_create=maybe", "crumbs_create"},
		{base + "?crumbs_collection=system.x", "crumbs_collection"},
		{base + "?crumbs_grace=1h", "crumbs_grace"},
		{base + "?crumbs_sweep=1s&crumbs_sweep=2s", "given 2 times"},
		{"mongodb://127.0.0.1:1/x?crumbs_open_timeout=300ms&serverSelectionTimeoutMS=300", "did not answer"},
		{strings.Replace(base, "mongodb://", "mongodb://u:secret-pw@", 1) + "a.b", "database"},
		{base + "?maxPoolSize=many", "maxPoolSize"},
		{"mongodb:///app", "no host"},
		{base + "?serverSelectionTimeoutMS=-5", "refuses"},
	} {
		_, err := session.OpenStore(context.Background(), tc.cfg, secrets)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("OpenStore(%q) = %v, want %q", tc.cfg, err, tc.want)
		}
	}
	storetest.CheckOpenErrors(t, secrets,
		"mongodb://nobody:PW@127.0.0.1:1/test?crumbs_open_timeout=300ms&serverSelectionTimeoutMS=300",
		"mongodb://nobody:PW@127.0.0.1:1/test?crumbs_bogus=1",
		"mongodb://nobody:PW@127.0.0.1:1/test?maxPoolSize=many",
		"mongodb://nobody:PW@127.0.0.1:1/test?crumbs_open_timeout=300ms&serverSelectionTimeoutMS=-5",
	)
}

// live returns the documents of c that hold a session (not the stubs of
// replaced revisions, nor end marks).
func live(t testing.TB, c *mongo.Collection) []bson.M {
	var out []bson.M
	for _, d := range mongotest.Docs(t, c) {
		if end, _ := d["end"].(bool); !end {
			out = append(out, d)
		}
	}
	return out
}

// TestExpiry: on the real clock, a session left alone for its idle
// timeout is gone for the next request, though its document is still
// there (FerretDB has no TTL index); another is not.
func TestExpiry(t *testing.T) {
	b, c := newBackend(t)
	m, err := session.New(mustStore(t, b), session.WithCookieName("sid"), session.WithIdleTimeout(2*time.Second), session.WithLifetime(0))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(m.Handler(handler()))
	defer srv.Close()
	short, kept := &client{t: t, srv: srv}, &client{t: t, srv: srv}
	short.do("POST", "/set?n=a&v=1")
	kept.do("POST", "/set?n=a&v=2")
	for range 8 {
		time.Sleep(400 * time.Millisecond)
		if got := kept.do("GET", "/get?n=a"); got != "2" {
			t.Fatalf("the session in use reads %q", got)
		}
	}
	if got := short.do("GET", "/get?n=a"); got != "" {
		t.Fatalf("the session left alone for 3.2 s of a 2 s idle timeout reads %q", got)
	}
	if n := len(live(t, c)); n < 2 {
		t.Fatalf("%d session documents: the expired one should still be there, unread", n)
	}
}

// TestSweep: on a server without TTL indexes, Sweep (and WithSweep's
// timer) removes the documents of expired sessions once their fence has
// passed, and the stubs of replaced revisions, and leaves the live
// session whole.
func TestSweep(t *testing.T) {
	var mu sync.Mutex
	now := time.Now()
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	b, c := newBackend(t, mongostore.WithClock(clock), mongostore.WithSweep(time.Second))
	ctx := context.Background()
	m, err := session.New(mustStore(t, b), session.WithCookieName("sid"), session.WithIdleTimeout(time.Hour), session.WithLifetime(0), session.WithClock(clock))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(m.Handler(handler()))
	defer srv.Close()
	short, kept := &client{t: t, srv: srv}, &client{t: t, srv: srv}
	for i := range 3 {
		short.do("POST", fmt.Sprintf("/set?n=a&v=%d", i))
	}
	mu.Lock()
	now = now.Add(50 * time.Minute)
	mu.Unlock()
	kept.do("POST", "/set?n=a&v=kept")
	if n := len(mongotest.Docs(t, c)); n != 4 {
		t.Fatalf("%d documents, want 4: two stubs, two sessions", n)
	}
	mu.Lock()
	now = now.Add(40 * time.Minute) // short expired 30 min ago, kept has 20 min left
	mu.Unlock()
	deadline := time.Now().Add(10 * time.Second)
	for len(mongotest.Docs(t, c)) != 1 && time.Now().Before(deadline) {
		time.Sleep(200 * time.Millisecond)
	}
	docs := mongotest.Docs(t, c)
	if len(docs) != 1 {
		t.Fatalf("%d documents after the sweep, want the live session's: %v", len(docs), docs)
	}
	if got := kept.do("GET", "/get?n=a"); got != "kept" {
		t.Fatalf("the live session reads %q after the sweep", got)
	}
	if got := short.do("GET", "/get?n=a"); got != "" {
		t.Fatalf("the expired session reads %q", got)
	}
	if n, err := b.Sweep(ctx); err != nil || n != 0 {
		t.Fatalf("Sweep with nothing expired = %d, %v", n, err)
	}
}

func mustStore(t testing.TB, b serverstore.Backend) *serverstore.Store {
	t.Helper()
	s, err := serverstore.New(b, secrets)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestParallelKeys: 20 parallel requests, each setting a key of its own
// on one session, all land (FerretDB's updates would lose some: the store
// inserts revisions), and the collection holds one document afterwards.
func TestParallelKeys(t *testing.T) {
	b, c := newBackend(t)
	m, err := session.New(mustStore(t, b), session.WithCookieName("sid"))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(m.Handler(handler()))
	defer srv.Close()
	cl := &client{t: t, srv: srv}
	cl.do("POST", "/set?n=start&v=1")
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Go(func() {
			req, _ := http.NewRequest("POST", fmt.Sprintf("%s/set?n=p%d&v=%d", srv.URL, i, i), nil)
			req.AddCookie(cl.cookie)
			resp, err := srv.Client().Do(req)
			if err != nil {
				t.Error(err)
				return
			}
			resp.Body.Close()
			if resp.StatusCode != 200 {
				t.Errorf("status %d", resp.StatusCode)
			}
		})
	}
	wg.Wait()
	for i := range 20 {
		if got := cl.do("GET", fmt.Sprintf("/get?n=p%d", i)); got != fmt.Sprint(i) {
			t.Errorf("key p%d reads %q after the parallel saves", i, got)
		}
	}
	if n := len(live(t, c)); n != 1 {
		t.Errorf("%d session documents for one session, want 1 (and stubs)", n)
	}
}

// TestCreateOverStubs: when the newest revision of a session is removed
// before the stubs of those it replaced (a TTL pass removes documents in
// any order), the key is absent, and a Create of it follows the last stub
// instead of failing on revision 1.
func TestCreateOverStubs(t *testing.T) {
	b, c := newBackend(t)
	ctx := context.Background()
	meta := make([]byte, 18)
	meta[0] = 2
	exp := time.Now().Add(time.Hour)
	if err := b.Create(ctx, "k", &serverstore.Entry{Meta: meta, Values: map[string][]byte{"a": {0, '1'}}}, exp); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if _, err := b.Apply(ctx, "k", &serverstore.Write{Meta: meta, Expires: exp, Changes: []driver.Change{{Key: "a", Value: []byte{0, '2'}}}}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.DeleteOne(ctx, bson.D{{Key: "k", Value: "k"}}); err != nil { // the newest, revision 3
		t.Fatal(err)
	}
	if _, err := b.Get(ctx, "k"); !errors.Is(err, serverstore.ErrNotFound) {
		t.Fatalf("Get with only stubs left = %v, want ErrNotFound", err)
	}
	if err := b.Create(ctx, "k", &serverstore.Entry{Meta: meta, Values: map[string][]byte{"a": {0, '3'}}}, exp); err != nil {
		t.Fatalf("Create over stubs: %v", err)
	}
	e, err := b.Get(ctx, "k")
	if err != nil || string(e.Values["a"]) != "\x003" {
		t.Fatalf("Get after the Create = %v, %v", e, err)
	}
}
