package express_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/crumbs-go/session"
	"github.com/crumbs-go/session/serverstore/redisstore/express"
	"github.com/crumbs-go/session/serverstore/storetest"
)

// express is an ExpressStore under a prefix of its own, deleted afterwards.
func newStore(t *testing.T, c *redis.Client, secrets ...string) *express.Store {
	t.Helper()
	var b [6]byte
	rand.Read(b[:])
	prefix := "crumbs-express-test:" + hex.EncodeToString(b[:]) + ":"
	if len(secrets) == 0 {
		secrets = []string{"keyboard cat"}
	}
	s, err := express.New(c, express.Config{Secrets: secrets, Prefix: prefix, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx := context.Background()
		keys, _ := c.Keys(ctx, prefix+"*").Result()
		tombs, _ := c.Keys(ctx, "crumbs-moved:{"+prefix+"*").Result()
		keys = append(keys, tombs...)
		if len(keys) > 0 {
			c.Del(ctx, keys...)
		}
	})
	return s
}

type expressApp struct {
	m     *session.Manager
	store *express.Store
	jar   string // the connect.sid cookie
	errs  []error
	mu    sync.Mutex
}

func newExpressApp(t *testing.T, store *express.Store, opts ...session.Option) *expressApp {
	a := &expressApp{store: store}
	opts = append([]session.Option{session.WithCookieName("connect.sid"), session.WithIdleTimeout(time.Hour),
		session.WithLogger(slog.New(slog.DiscardHandler)),
		session.WithErrorHandler(func(w http.ResponseWriter, r *http.Request, err error) {
			a.mu.Lock()
			a.errs = append(a.errs, err)
			a.mu.Unlock()
			http.Error(w, "error", 500)
		})}, opts...)
	m, err := session.New(store, opts...)
	if err != nil {
		t.Fatal(err)
	}
	a.m = m
	return a
}

// do runs f on the session of a request carrying the app's cookie, and
// keeps what the response sets.
func (a *expressApp) do(f func(*session.Session)) *httptest.ResponseRecorder {
	r := httptest.NewRequest("GET", "http://localhost/", nil)
	if a.jar != "" {
		r.Header.Set("Cookie", "connect.sid="+a.jar)
	}
	w := httptest.NewRecorder()
	a.m.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { f(session.From(r)) })).ServeHTTP(w, r)
	for _, c := range w.Result().Cookies() {
		if c.Name == "connect.sid" {
			a.jar = c.Value
			if c.MaxAge < 0 {
				a.jar = ""
			}
		}
	}
	return w
}

// sid is the ID in the app's cookie.
func (a *expressApp) sid(t *testing.T) string {
	t.Helper()
	v := strings.NewReplacer("%3A", ":", "%2B", "+", "%2F", "/").Replace(a.jar)
	id, _, ok := strings.Cut(strings.TrimPrefix(v, "s:"), ".")
	if !ok {
		t.Fatalf("not a connect.sid: %q", a.jar)
	}
	return id
}

// TestExpressCookieVector: the signature of shared/interop/express-formats.md
// §1.2, URL-encoded or raw, opens a record written as connect-redis writes it.
func TestExpressCookieVector(t *testing.T) {
	c := client(t)
	store := newStore(t, c)
	ctx := context.Background()
	sid := "_6PuJdi3y3fL58DutYNQpuxtSrANo4c3"
	c.Set(ctx, store.Prefix()+sid, `{"cookie":{"originalMaxAge":3600000,"expires":"2030-01-01T01:00:00.000Z","httpOnly":true,"path":"/","sameSite":"lax"},"user":"alice"}`, time.Hour)
	for _, cookie := range []string{
		"s%3A_6PuJdi3y3fL58DutYNQpuxtSrANo4c3.%2FNn4daPQ1DacC9mOHZgV%2B5BkZyT6x8e%2FjcOOFbw6fXk",
		"s:_6PuJdi3y3fL58DutYNQpuxtSrANo4c3./Nn4daPQ1DacC9mOHZgV+5BkZyT6x8e/jcOOFbw6fXk",
	} {
		a := newExpressApp(t, store)
		a.jar = cookie
		var user string
		a.do(func(s *session.Session) { user, _ = session.Get[string](s, "user") })
		if user != "alice" {
			t.Errorf("%s: user %q", cookie, user)
		}
	}
	// A signature with its "=" padding put back is refused, as Node refuses it.
	a := newExpressApp(t, store)
	a.jar = "s%3A_6PuJdi3y3fL58DutYNQpuxtSrANo4c3.%2FNn4daPQ1DacC9mOHZgV%2B5BkZyT6x8e%2FjcOOFbw6fXk%3D"
	a.do(func(s *session.Session) {
		if !s.IsNew() {
			t.Error("a padded signature opened the session")
		}
	})
}

// TestExpressRecordFormat: a session crumbs creates is the record
// connect-redis writes: cookie first, then the values, a TTL equal to
// cookie.expires.
func TestExpressRecordFormat(t *testing.T) {
	c := client(t)
	store := newStore(t, c)
	a := newExpressApp(t, store, session.WithLifetime(24*time.Hour))
	w := a.do(func(s *session.Session) { s.Set("user", "alice"); s.Set("n", 1) })
	if w.Code != 200 {
		t.Fatal(w.Code, a.errs)
	}
	if !strings.HasPrefix(a.jar, "s%3A") {
		t.Fatalf("cookie %q", a.jar)
	}
	ctx := context.Background()
	key := store.Prefix() + a.sid(t)
	raw, err := c.Get(ctx, key).Result()
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Cookie struct {
			OriginalMaxAge *int64  `json:"originalMaxAge"`
			Expires        *string `json:"expires"`
			HTTPOnly       bool    `json:"httpOnly"`
			Path           string  `json:"path"`
		} `json:"cookie"`
		User string `json:"user"`
		N    int    `json:"n"`
		Dl   string `json:"_crumbsExpires"`
	}
	if err := json.Unmarshal([]byte(raw), &doc); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(raw, `{"cookie":{"originalMaxAge":3600000,"expires":"`) || !strings.Contains(raw, `"httpOnly":true,"path":"/"},"n":1,"user":"alice","_crumbsExpires":"`) {
		t.Errorf("record %s", raw)
	}
	exp, err := time.Parse(time.RFC3339, *doc.Cookie.Expires)
	if err != nil {
		t.Fatal(err)
	}
	ttl := c.TTL(ctx, key).Val()
	if d := time.Until(exp) - ttl; d < -2*time.Second || d > 2*time.Second {
		t.Errorf("TTL %v, cookie.expires in %v", ttl, time.Until(exp))
	}
	if dl, _ := time.Parse(time.RFC3339, doc.Dl); time.Until(dl) < 23*time.Hour {
		t.Errorf("the absolute deadline %s", doc.Dl)
	}
}

// TestExpressChangesMerge: a Go write applies its changes onto what the
// Express side stored meanwhile, keeping its members and their order.
func TestExpressChangesMerge(t *testing.T) {
	c := client(t)
	store := newStore(t, c)
	a := newExpressApp(t, store)
	a.do(func(s *session.Session) { s.Set("user", "alice") })
	ctx := context.Background()
	key := store.Prefix() + a.sid(t)
	// Express rewrites the whole record, with a value of its own.
	c.Set(ctx, key, `{"cookie":{"originalMaxAge":3600000,"expires":"2030-01-01T01:00:00.000Z","httpOnly":true,"path":"/"},"user":"alice","cart":["book"]}`, time.Hour)
	a.do(func(s *session.Session) { s.Set("theme", "dark"); s.Delete("user") })
	raw := c.Get(ctx, key).Val()
	if !strings.Contains(raw, `"cart":["book"],"theme":"dark"`) || strings.Contains(raw, `"user"`) {
		t.Errorf("record %s", raw)
	}
	// Update's check holds against an Express write.
	c.Set(ctx, key, strings.Replace(raw, `"theme":"dark"`, `"theme":"dark","n":5`, 1), time.Hour)
	var got int
	a.do(func(s *session.Session) { got, _ = session.Update(s, "n", func(n int) int { return n + 1 }) })
	if raw := c.Get(ctx, key).Val(); !strings.Contains(raw, `"n":6`) || got != 6 {
		t.Errorf("Update: %d, record %s", got, raw)
	}
}

func TestExpressReservedKey(t *testing.T) {
	c := client(t)
	a := newExpressApp(t, newStore(t, c))
	if w := a.do(func(s *session.Session) { s.Set("cookie", "x") }); w.Code != 500 || len(a.errs) != 1 || !strings.Contains(a.errs[0].Error(), "express-session's own") {
		t.Fatalf("%d %v", w.Code, a.errs)
	}
}

// TestExpressRotation: a cookie signed by an older secret opens, and the
// response signs it again under the first.
func TestExpressRotation(t *testing.T) {
	c := client(t)
	old := newStore(t, c, "old secret")
	a := newExpressApp(t, old)
	a.do(func(s *session.Session) { s.Set("user", "alice") })
	rotated, _ := express.New(c, express.Config{Secrets: []string{"new secret", "old secret"}, Prefix: old.Prefix(), Logger: slog.New(slog.DiscardHandler)})
	b := newExpressApp(t, rotated)
	b.jar = a.jar
	var user string
	w := b.do(func(s *session.Session) { user, _ = session.Get[string](s, "user") })
	if user != "alice" || b.jar == a.jar || w.Header().Get("Set-Cookie") == "" {
		t.Fatalf("user %q; cookie re-signed: %v", user, b.jar != a.jar)
	}
	a.jar = b.jar // signed by "new secret" only: the old app refuses it
	a.do(func(s *session.Session) {
		if !s.IsNew() {
			t.Error("a cookie under a secret the store does not have opened")
		}
	})
}

// TestExpressLifecycle: regenerate deletes the old ID; destroy deletes the
// record; past its absolute deadline a record is deleted on the Go read.
func TestExpressLifecycle(t *testing.T) {
	c := client(t)
	store := newStore(t, c)
	now := time.Now()
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	a := newExpressApp(t, store, session.WithClock(clock), session.WithLifetime(2*time.Hour))
	ctx := context.Background()
	a.do(func(s *session.Session) { s.Set("cart", 1) })
	first := a.sid(t)
	a.do(func(s *session.Session) { s.Regenerate(true); s.Set("user", "alice") })
	second := a.sid(t)
	if first == second || c.Exists(ctx, store.Prefix()+first).Val() != 0 {
		t.Fatalf("regenerate: %s -> %s, old exists %d", first, second, c.Exists(ctx, store.Prefix()+first).Val())
	}
	if raw := c.Get(ctx, store.Prefix()+second).Val(); !strings.Contains(raw, `"cart":1`) || !strings.Contains(raw, `"user":"alice"`) {
		t.Fatalf("the new record %s", raw)
	}
	mu.Lock()
	now = now.Add(121 * time.Minute) // past the 2-hour lifetime; the Redis TTL has not run out
	mu.Unlock()
	a.do(func(s *session.Session) {
		if !s.IsNew() {
			t.Error("a session past its absolute deadline opened")
		}
	})
	if c.Exists(ctx, store.Prefix()+second).Val() != 0 {
		t.Error("the record past its absolute deadline is still there for Express")
	}
	b := newExpressApp(t, store)
	b.do(func(s *session.Session) { s.Set("user", "bob") })
	id := b.sid(t)
	b.do(func(s *session.Session) { s.Destroy() })
	if c.Exists(ctx, store.Prefix()+id).Val() != 0 || b.jar != "" {
		t.Errorf("destroy left the record (%d) or the cookie (%q)", c.Exists(ctx, store.Prefix()+id).Val(), b.jar)
	}
}

// TestExpressParallel: parallel Go requests of one session that set
// different keys all land, through the WATCH transaction.
func TestExpressParallel(t *testing.T) {
	c := client(t)
	store := newStore(t, c)
	a := newExpressApp(t, store)
	a.do(func(s *session.Session) { s.Set("user", "alice") })
	cookie := a.jar
	var wg sync.WaitGroup
	for i := range 10 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			b := newExpressApp(t, store)
			b.jar = cookie
			b.do(func(s *session.Session) {
				session.Update(s, "n", func(n int) int { return n + 1 })
				s.Set(string(rune('a'+i)), i)
			})
		}()
	}
	wg.Wait()
	raw := c.Get(context.Background(), store.Prefix()+a.sid(t)).Val()
	var doc map[string]json.RawMessage
	json.Unmarshal([]byte(raw), &doc)
	if string(doc["n"]) != "10" || len(doc) != 4+10 /* cookie, user, _crumbsExpires, n */ {
		t.Errorf("after 10 parallel requests: %s", raw)
	}
}

func TestExpressConfigurationErrors(t *testing.T) {
	c := client(t)
	for _, cfg := range []express.Config{{}, {Secrets: []string{""}}, {Secrets: []string{"k", " "}}, {Secrets: []string{"x"}, SameSite: "lax;"}, {Secrets: []string{"x"}, MaxAge: -1}} {
		if _, err := express.New(c, cfg); err == nil {
			t.Errorf("New(%+v) accepted", cfg)
		}
	}
	var log bytes.Buffer
	express.New(c, express.Config{Secrets: []string{"keyboard cat"}, Logger: slog.New(slog.NewTextHandler(&log, nil))})
	if !strings.Contains(log.String(), "shorter than 32 bytes") {
		t.Errorf("no warning for a short secret: %s", log.String())
	}
}

// TestExpressConfigurationString: express+redis:// opens a Store whose
// secrets are OpenStore's, of any length, with the Express application's
// cookie options; redis:// stays crumbs' own format.
func TestExpressConfigurationString(t *testing.T) {
	c := client(t)
	ctx := context.Background()
	st, err := session.OpenStore(ctx, "express+redis://"+c.Options().Addr+"/0?crumbs_max_age=30m&crumbs_cookie_secure=true&crumbs_cookie_samesite=strict&crumbs_cookie_domain=example.com&crumbs_cookie_path=/app", [][]byte{[]byte("keyboard cat")})
	if err != nil {
		t.Fatal(err)
	}
	defer st.(interface{ Close() error }).Close()
	es, ok := st.(*express.Store)
	if !ok || es.Prefix() != "sess:" {
		t.Fatalf("%T %v", st, ok)
	}
	if err := es.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"?crumbs_max_age=soon", "?crumbs_raw_ids=true", "?crumbs_cookie_samesite=lax;", "?crumbs_cookie_secure=maybe", "?crumbs_cookie=1"} {
		if s, err := session.OpenStore(ctx, "express+redis://"+c.Options().Addr+"/0"+bad, [][]byte{[]byte("keyboard cat")}); err == nil {
			s.(interface{ Close() error }).Close()
			t.Errorf("%s accepted", bad)
		}
	}
	// The crumbs format still refuses a short secret.
	if _, err := session.OpenStore(ctx, "redis://"+c.Options().Addr+"/0", [][]byte{[]byte("keyboard cat")}); err == nil {
		t.Error("a 12-byte secret was accepted for crumbs' own format")
	}
}

// TestExpressRequestAfterLogin: a request sent with the cookie of before a
// Regenerate (a login) leaves the browser the login's cookie, whether it
// reads or writes, and a logout through that old cookie ends the login's
// session too. Both Regenerates racing on one cookie: one wins, the other
// writes nothing.
func TestExpressRequestAfterLogin(t *testing.T) {
	c := client(t)
	store := newStore(t, c)
	a := newExpressApp(t, store)
	a.do(func(s *session.Session) { s.Set("cart", 1) })
	before := a.jar
	a.do(func(s *session.Session) { s.Regenerate(true); s.Set("user", "alice") })
	for name, f := range map[string]func(*session.Session){
		"read":       func(s *session.Session) { s.Get("cart") },
		"write":      func(s *session.Session) { s.Set("late", true) },
		"regenerate": func(s *session.Session) { s.Regenerate(true) },
	} {
		late := newExpressApp(t, store)
		late.jar = before
		if w := late.do(f); len(w.Result().Cookies()) != 0 {
			t.Errorf("%s with the old cookie set %v: the browser would lose the login", name, w.Header()["Set-Cookie"])
		}
	}
	var user string
	a.do(func(s *session.Session) { user, _ = session.Get[string](s, "user") })
	if user != "alice" {
		t.Fatalf("the login's session: %q", user)
	}
	late := newExpressApp(t, store)
	late.jar = before
	late.do(func(s *session.Session) { s.Destroy() })
	a.do(func(s *session.Session) { user, _ = session.Get[string](s, "user") })
	if user != "" {
		t.Error("a logout through the old cookie left the login's session")
	}
}

// TestExpressNodeOwnKeys: keys express-session's Session object already
// has (its methods, id, req, Object.prototype's) would be invisible to
// Node and erased by its next save: the Go save refuses them.
func TestExpressNodeOwnKeys(t *testing.T) {
	c := client(t)
	for _, k := range []string{"id", "req", "save", "touch", "regenerate", "destroy", "reload", "resetMaxAge", "constructor", "toString", "hasOwnProperty", "__proto__"} {
		a := newExpressApp(t, newStore(t, c))
		if w := a.do(func(s *session.Session) { s.Set(k, 1) }); w.Code != 500 || len(a.errs) != 1 || !strings.Contains(a.errs[0].Error(), k) {
			t.Errorf("%s: %d %v", k, w.Code, a.errs)
		}
	}
}

// TestExpressParsesAsNode: a quoted connect.sid opens, as express-session
// strips the quotes; a stored record JSON.parse refuses does not load.
func TestExpressParsesAsNode(t *testing.T) {
	c := client(t)
	store := newStore(t, c)
	ctx := context.Background()
	sid := "_6PuJdi3y3fL58DutYNQpuxtSrANo4c3"
	good := `{"cookie":{"originalMaxAge":null,"expires":null,"httpOnly":true,"path":"/"},"user":"alice"}`
	c.Set(ctx, store.Prefix()+sid, good, time.Hour)
	a := newExpressApp(t, store)
	a.jar = `"s:_6PuJdi3y3fL58DutYNQpuxtSrANo4c3./Nn4daPQ1DacC9mOHZgV+5BkZyT6x8e/jcOOFbw6fXk"`
	var user string
	a.do(func(s *session.Session) { user, _ = session.Get[string](s, "user") })
	if user != "alice" {
		t.Errorf("a quoted connect.sid: user %q", user)
	}
	c.Set(ctx, store.Prefix()+sid, good+"}", time.Hour)
	a.jar = "s:_6PuJdi3y3fL58DutYNQpuxtSrANo4c3./Nn4daPQ1DacC9mOHZgV+5BkZyT6x8e/jcOOFbw6fXk"
	a.do(func(s *session.Session) {
		if !s.IsNew() {
			t.Error("a record with a stray } loaded")
		}
	})
}

// TestExpressParallelRegenerates: of parallel logins on one cookie, one
// wins; the others set no cookie, and the old cookie's tombstone names the
// winner, so a logout through it ends the winner's session.
func TestExpressParallelRegenerates(t *testing.T) {
	c := client(t)
	store := newStore(t, c)
	for round := range 5 {
		a := newExpressApp(t, store)
		a.do(func(s *session.Session) { s.Set("cart", round) })
		before := a.jar
		var mu sync.Mutex
		var winners []string
		var wg sync.WaitGroup
		for range 6 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				b := newExpressApp(t, store)
				b.jar = before
				b.do(func(s *session.Session) { s.Regenerate(true) })
				if b.jar != before && b.jar != "" {
					mu.Lock()
					winners = append(winners, b.jar)
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		if len(winners) != 1 {
			t.Fatalf("round %d: %d logins won: %v", round, len(winners), winners)
		}
		w := newExpressApp(t, store)
		w.jar = winners[0]
		var cart int
		w.do(func(s *session.Session) { cart, _ = session.Get[int](s, "cart") })
		if cart != round {
			t.Fatalf("round %d: the winner's session: cart %d", round, cart)
		}
		late := newExpressApp(t, store)
		late.jar = before
		late.do(func(s *session.Session) { s.Destroy() })
		w.do(func(s *session.Session) {
			if !s.IsNew() {
				t.Errorf("round %d: a logout through the old cookie left the winning login's session", round)
			}
		})
	}
}

// TestExpressOnACluster: on a Redis Cluster, with a plain prefix and with
// one holding a hash tag, a login's tombstone lands in its session's slot
// (no CROSSSLOT), an old-cookie request leaves the login alone, and a
// logout through the old cookie follows two logins.
func TestExpressOnACluster(t *testing.T) {
	cc := clusterClient(t)
	for _, prefix := range []string{"crumbs-express-cl:" + hex.EncodeToString([]byte(t.Name()))[:8] + ":", "{crumbs-express-cl}:sess:"} {
		t.Run(prefix, func(t *testing.T) {
			store, err := express.New(cc, express.Config{Secrets: []string{"keyboard cat"}, Prefix: prefix, Logger: slog.New(slog.DiscardHandler)})
			if err != nil {
				t.Fatal(err)
			}
			a := newExpressApp(t, store)
			a.do(func(s *session.Session) { s.Set("cart", 1) })
			old := a.jar
			for range 2 {
				if w := a.do(func(s *session.Session) { s.Regenerate(true) }); w.Code != 200 {
					t.Fatalf("login: %d %v", w.Code, a.errs)
				}
			}
			late := newExpressApp(t, store)
			late.jar = old
			if w := late.do(func(s *session.Session) { s.Get("cart") }); len(w.Result().Cookies()) != 0 {
				t.Errorf("an old-cookie read set %v", w.Header()["Set-Cookie"])
			}
			late.do(func(s *session.Session) { s.Destroy() })
			a.do(func(s *session.Session) {
				if !s.IsNew() {
					t.Error("a logout through the first cookie left the session two logins later")
				}
			})
		})
	}
	if _, err := express.New(cc, express.Config{Secrets: []string{"x"}, Prefix: "a{:sess:"}); err == nil {
		t.Error("a prefix with a lone brace was accepted")
	}
	if _, err := express.New(cc, express.Config{Secrets: []string{"x"}, TombstonePrefix: "{t}:"}); err == nil {
		t.Error("a tombstone prefix with braces was accepted")
	}
}

// TestConfigurationErrorsHidePasswords: no error of an express+redis
// string quotes a piece of its password.
func TestConfigurationErrorsHidePasswords(t *testing.T) {
	storetest.CheckOpenErrors(t, [][]byte{[]byte("keyboard cat")},
		"express+redis://app:PW@127.0.0.1:1/0?crumbs_open_timeout=300ms",
		"express+rediss://app:PW@127.0.0.1:1/0?crumbs_open_timeout=300ms&crumbs_cookie_secure=true",
		"express+redis://127.0.0.1:1/0?master_name=m&password=PW&crumbs_open_timeout=300ms",
	)
}
