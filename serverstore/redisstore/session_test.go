package redisstore_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/crumbs-go/session"
	"github.com/crumbs-go/session/serverstore"
	"github.com/crumbs-go/session/serverstore/redisstore"
	"github.com/crumbs-go/session/serverstore/storetest"
)

var secrets = [][]byte{bytes.Repeat([]byte("r"), 32)}

// commands counts the commands a client sends (each pipeline counts once:
// one round trip).
type commands struct{ n atomic.Int64 }

func (c *commands) DialHook(next redis.DialHook) redis.DialHook { return next }
func (c *commands) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error { c.n.Add(1); return next(ctx, cmd) }
}
func (c *commands) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error { c.n.Add(1); return next(ctx, cmds) }
}

func serve(t testing.TB, m *session.Manager, cookie string, f func(*session.Session)) (*httptest.ResponseRecorder, string) {
	t.Helper()
	r := httptest.NewRequest("GET", "/", nil)
	if cookie != "" {
		r.Header.Set("Cookie", cookie)
	}
	w := httptest.NewRecorder()
	m.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f(session.From(r))
		io.WriteString(w, "ok")
	})).ServeHTTP(w, r)
	for _, c := range w.Result().Cookies() {
		if c.Name == "sid" && c.MaxAge >= 0 {
			cookie = "sid=" + c.Value
		}
	}
	return w, cookie
}

// TestRoundTrips counts what actually goes over the wire: a load-only
// request is one command, a save one more.
func TestRoundTrips(t *testing.T) {
	c := client(t)
	counter := &commands{}
	c.AddHook(counter)
	store, err := serverstore.New(newBackend(t, c), secrets)
	if err != nil {
		t.Fatal(err)
	}
	m, err := session.New(store, session.WithCookieName("sid"))
	if err != nil {
		t.Fatal(err)
	}
	_, cookie := serve(t, m, "", func(s *session.Session) { s.Set("n", 1) })
	_, cookie = serve(t, m, cookie, func(s *session.Session) { s.Set("n", 2) }) // the script is cached now
	before := counter.n.Load()
	serve(t, m, cookie, func(s *session.Session) { s.Get("n") })
	if n := counter.n.Load() - before; n != 1 {
		t.Fatalf("a load-only request sent %d commands, want 1", n)
	}
	before = counter.n.Load()
	serve(t, m, cookie, func(s *session.Session) { s.Set("n", 3) })
	if n := counter.n.Load() - before; n != 2 {
		t.Fatalf("load, change and save sent %d commands, want 2", n)
	}
	before = counter.n.Load()
	serve(t, m, cookie, func(*session.Session) {})
	if n := counter.n.Load() - before; n != 0 {
		t.Fatalf("a request that never touched its session sent %d commands", n)
	}
}

// proxy forwards TCP to Redis and can be cut and restored.
type proxy struct {
	ln     net.Listener
	target string
	mu     sync.Mutex
	up     bool
	conns  []net.Conn
}

func newProxy(t *testing.T, target string) *proxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{ln: ln, target: target, up: true}
	t.Cleanup(func() { ln.Close(); p.set(false) })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			p.mu.Lock()
			if !p.up {
				p.mu.Unlock()
				c.Close()
				continue
			}
			u, err := net.Dial("tcp", target)
			if err != nil {
				p.mu.Unlock()
				c.Close()
				continue
			}
			p.conns = append(p.conns, c, u)
			p.mu.Unlock()
			go func() { io.Copy(u, c); u.Close() }()
			go func() { io.Copy(c, u); c.Close() }()
		}
	}()
	return p
}

// set brings the proxy up or down; down also cuts every open connection.
func (p *proxy) set(up bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.up = up
	if !up {
		for _, c := range p.conns {
			c.Close()
		}
		p.conns = nil
	}
}

// TestBackendDownAndBack: while Redis is unreachable a request that needs
// its session gets the error handler's 503, with nothing leaked and no
// panic; when Redis returns, sessions work again without a restart.
func TestBackendDownAndBack(t *testing.T) {
	client(t) // skip (or fail under CI) without Redis
	p := newProxy(t, addr())
	c := redis.NewClient(&redis.Options{Addr: p.ln.Addr().String(), MaxRetries: -1,
		DialTimeout: 300 * time.Millisecond, ReadTimeout: 300 * time.Millisecond, WriteTimeout: 300 * time.Millisecond})
	t.Cleanup(func() { c.Close() })
	store, err := serverstore.New(newBackend(t, c), secrets)
	if err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	m, err := session.New(store, session.WithCookieName("sid"), session.WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
	if err != nil {
		t.Fatal(err)
	}
	_, cookie := serve(t, m, "", func(s *session.Session) { s.Set("user", "ada") })

	p.set(false)
	w, _ := serve(t, m, cookie, func(s *session.Session) { s.Get("user") })
	if w.Code != http.StatusServiceUnavailable {
		t.Fatalf("with Redis down: status %d, want 503", w.Code)
	}
	if body := w.Body.String(); bytes.Contains([]byte(body), []byte("redis")) || bytes.Contains([]byte(body), []byte("127.0.0.1")) {
		t.Fatalf("the 503 leaks internals: %q", body)
	}
	if !bytes.Contains(logs.Bytes(), []byte("session store failed")) {
		t.Errorf("the failure was not logged:\n%s", logs.String())
	}
	w, _ = serve(t, m, cookie, func(s *session.Session) { s.Set("user", "eve") })
	if w.Code != http.StatusServiceUnavailable {
		t.Fatalf("a save with Redis down: status %d, want 503", w.Code)
	}

	p.set(true)
	var user string
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if w, _ = serve(t, m, cookie, func(s *session.Session) { user, _ = session.Get[string](s, "user") }); w.Code == http.StatusOK {
			break
		}
	}
	if w.Code != http.StatusOK || user != "ada" {
		t.Fatalf("after Redis returned: status %d, user %q; want 200 and the session as it was", w.Code, user)
	}
}

func TestOpenStore(t *testing.T) {
	c := client(t)
	prefix := "crumbs-test-open:" + time.Now().Format("150405.000000") + ":"
	t.Cleanup(func() {
		b, _ := redisstore.New(c, redisstore.WithPrefix(prefix))
		b.Clear(context.Background())
	})
	store, err := session.OpenStore(context.Background(), "redis://"+addr()+"/0?prefix="+prefix, secrets)
	if err != nil {
		t.Fatal(err)
	}
	m, err := session.New(store, session.WithCookieName("sid"))
	if err != nil {
		t.Fatal(err)
	}
	_, cookie := serve(t, m, "", func(s *session.Session) { s.Set("n", 7) })
	var n int
	serve(t, m, cookie, func(s *session.Session) { n, _ = session.Get[int](s, "n") })
	if n != 7 {
		t.Fatalf("through OpenStore: n = %d", n)
	}
	if keys, _ := c.Keys(context.Background(), prefix+"*").Result(); len(keys) != 1 {
		t.Fatalf("%d keys under the configured prefix, want 1", len(keys))
	}
	if _, err := session.OpenStore(context.Background(), "nosuch://x", secrets); err == nil || !strings.Contains(err.Error(), "no store registered") {
		t.Fatalf("an unknown scheme: %v", err)
	}
}

// Hashes of the format-1 layout (v, d), written by an earlier release, load,
// and the next save rewrites them in the current layout.
func TestFormat1HashesKeepLoading(t *testing.T) {
	c := client(t)
	b := newBackend(t, c)
	// The key as a Store over this backend computes it (NewMemory's own
	// Store keys by raw IDs).
	store, err := serverstore.New(struct{ serverstore.Backend }{serverstore.NewMemory()}, secrets)
	if err != nil {
		t.Fatal(err)
	}
	id := strings.Repeat("L", 43)
	blob := storetest.Format1(time.Now().Add(time.Hour), time.Time{}, []byte(`{"n":41,"user":"ada"}`))
	key := b.Prefix() + store.Key(id)
	if err := c.HSet(context.Background(), key, "v", 3, "d", blob).Err(); err != nil {
		t.Fatal(err)
	}
	c.Expire(context.Background(), key, time.Hour)
	storetest.CheckFormat1(t, b, id)
	if n, _ := c.HExists(context.Background(), key, "d").Result(); n {
		t.Fatal("the format-1 field d survived the rewrite")
	}
}

// TestBoundRoundTrips: a session bound to a user (WithIdentityKey) costs
// one more command on its writes, on the user's index, and none on a read.
func TestBoundRoundTrips(t *testing.T) {
	c := client(t)
	counter := &commands{}
	c.AddHook(counter)
	store, err := serverstore.New(newBackend(t, c), secrets)
	if err != nil {
		t.Fatal(err)
	}
	m, err := session.New(store, session.WithCookieName("sid"), session.WithIdentityKey("user"))
	if err != nil {
		t.Fatal(err)
	}
	_, cookie := serve(t, m, "", func(s *session.Session) { s.Set("user", "ada") })
	_, cookie = serve(t, m, cookie, func(s *session.Session) { s.Set("n", 2) }) // the scripts are cached now
	before := counter.n.Load()
	serve(t, m, cookie, func(s *session.Session) { s.Get("n") })
	if n := counter.n.Load() - before; n != 1 {
		t.Fatalf("a load-only request of a bound session sent %d commands, want 1", n)
	}
	before = counter.n.Load()
	serve(t, m, cookie, func(s *session.Session) { s.Set("n", 3) })
	if n := counter.n.Load() - before; n != 3 {
		t.Fatalf("load, change and save of a bound session sent %d commands, want 3", n)
	}
}

// TestIndexExpiresWithItsSessions: when a user's sessions have expired,
// nothing of them is left in Redis: not their records, not the index.
func TestIndexExpiresWithItsSessions(t *testing.T) {
	c := client(t)
	b := newBackend(t, c)
	store, err := serverstore.New(b, secrets)
	if err != nil {
		t.Fatal(err)
	}
	m, err := session.New(store, session.WithCookieName("sid"), session.WithIdentityKey("user"), session.WithLifetime(2*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	for range 20 {
		serve(t, m, "", func(s *session.Session) { s.Set("user", "ada") })
	}
	prefix := b.Prefix()
	keys := func() []string {
		ks, err := c.Keys(context.Background(), prefix+"*").Result()
		if err != nil {
			t.Fatal(err)
		}
		return ks
	}
	if n := len(keys()); n != 21 {
		t.Fatalf("20 bound sessions left %d keys, want 21 (and an index)", n)
	}
	time.Sleep(3200 * time.Millisecond)
	if ks := keys(); len(ks) != 0 {
		t.Fatalf("after the sessions expired Redis still holds %q", ks)
	}
}

// TestIndexFollowsRefreshesAndClears: a bound session's index entry expires
// with the record after refreshes (it used to move 400 days out), and a
// write that clears the values still records the last-seen time. Both
// failed before the fix (an outside review).
func TestIndexFollowsRefreshesAndClears(t *testing.T) {
	ctx := context.Background()
	c := client(t)
	b := newBackend(t, c)
	store, err := serverstore.New(b, secrets)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	clock := time.Now()
	now := func() time.Time { mu.Lock(); defer mu.Unlock(); return clock }
	advance := func(d time.Duration) { mu.Lock(); clock = clock.Add(d); mu.Unlock() }
	m, err := session.New(store, session.WithCookieName("sid"), session.WithIdentityKey("user"), session.WithClock(now))
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256([]byte("ada"))
	ik := b.Prefix() + "u:{" + base64.RawURLEncoding.EncodeToString(sum[:16]) + "}"
	check := func(when string) {
		t.Helper()
		zs, err := c.ZRangeWithScores(ctx, ik, 0, -1).Result()
		if err != nil || len(zs) != 1 {
			t.Fatalf("%s: index %v, %v", when, zs, err)
		}
		key := b.Prefix() + zs[0].Member.(string)
		rec, _ := c.PExpireTime(ctx, key).Result()
		idx, _ := c.PExpireTime(ctx, ik).Result()
		if d := time.Duration(int64(zs[0].Score))*time.Millisecond - rec; d < 0 || d > time.Minute {
			t.Errorf("%s: the entry's score is %v after the record's expiry", when, d)
		}
		if d := idx - rec; d < 0 || d > time.Minute {
			t.Errorf("%s: the index expires %v after the record", when, d)
		}
		seen, _ := c.HGet(ctx, key, "s").Result()
		if want := fmt.Sprint(now().Unix()); seen != want {
			t.Errorf("%s: last seen %s, want %s", when, seen, want)
		}
	}
	_, cookie := serve(t, m, "", func(s *session.Session) { s.Set("user", "ada") })
	check("after the sign-in")
	advance(11 * time.Minute)
	_, cookie = serve(t, m, cookie, func(s *session.Session) { s.Get("user") })
	check("after a read 11 minutes on (a last-seen refresh)")
	advance(11 * time.Minute)
	serve(t, m, cookie, func(s *session.Session) { s.Clear(); s.Set("user", "ada"); s.Set("cart", 1) })
	check("after a Clear and the same user again")
}
