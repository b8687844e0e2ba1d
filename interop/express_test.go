package interop

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/crumbs-go/session"
	"github.com/crumbs-go/session/serverstore/redisstore/express"
)

const (
	oldSecret = "keyboard cat" // shorter than 32 bytes, as Express secrets often are
	newSecret = "a newer Express secret, rotated in"
	maxAge    = time.Hour
)

// goApp is the Go service: the same routes as app.js, on crumbs.
func goApp(t *testing.T, rc *redis.Client, prefix string, secrets ...string) string {
	t.Helper()
	store, err := express.New(rc, express.Config{Secrets: secrets, Prefix: prefix, MaxAge: maxAge, SameSite: "lax",
		Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	return goAppOn(t, store)
}

// goAppOn serves app.js's routes on crumbs, over store.
func goAppOn(t *testing.T, store session.Store) string {
	t.Helper()
	m, err := session.New(store, session.WithCookieName("connect.sid"), session.WithIdleTimeout(maxAge),
		session.WithLifetime(24*time.Hour), session.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatal(err)
	}
	answer := func(w http.ResponseWriter, s *session.Session) {
		st := state{Values: map[string]json.RawMessage{}}
		if !s.IsNew() || s.Len() > 0 {
			st.ID = s.ID()
		}
		for _, k := range s.Keys() {
			st.Values[k], _ = session.Get[json.RawMessage](s, k)
		}
		if err := s.Save(); err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		e := json.NewEncoder(w)
		e.SetEscapeHTML(false) // the values as stored, byte for byte
		e.Encode(st)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /whoami", func(w http.ResponseWriter, r *http.Request) { answer(w, session.From(r)) })
	mux.HandleFunc("POST /set", func(w http.ResponseWriter, r *http.Request) {
		s := session.From(r)
		if r.URL.Query().Get("json") != "" {
			s.Set(r.URL.Query().Get("k"), json.RawMessage(r.URL.Query().Get("v")))
		} else {
			s.Set(r.URL.Query().Get("k"), r.URL.Query().Get("v"))
		}
		answer(w, s)
	})
	mux.HandleFunc("POST /priority", func(w http.ResponseWriter, r *http.Request) { // this session's own Priority
		s := session.From(r)
		if err := s.SetCookie(session.Cookie{Priority: r.URL.Query().Get("p")}); err != nil {
			http.Error(w, err.Error(), 400)
			return
		}
		answer(w, s)
	})
	mux.HandleFunc("POST /regenerate", func(w http.ResponseWriter, r *http.Request) {
		s := session.From(r)
		s.Regenerate(true)
		answer(w, s)
	})
	mux.HandleFunc("POST /logout", func(w http.ResponseWriter, r *http.Request) {
		session.From(r).Destroy()
		w.Write([]byte(`{}`))
	})
	srv := httptest.NewServer(m.Handler(mux))
	t.Cleanup(srv.Close)
	return srv.URL
}

// storedCookie reads the cookie object of a record.
func storedCookie(t *testing.T, rc *redis.Client, key string) (expires time.Time, ttl time.Duration) {
	t.Helper()
	ctx := context.Background()
	raw, err := rc.Get(ctx, key).Result()
	if err != nil {
		t.Fatalf("get %s: %v", key, err)
	}
	var doc struct {
		Cookie struct {
			Expires string `json:"expires"`
		} `json:"cookie"`
	}
	if err := json.Unmarshal([]byte(raw), &doc); err != nil {
		t.Fatal(err)
	}
	expires, err = time.Parse(time.RFC3339, doc.Cookie.Expires)
	if err != nil {
		t.Fatalf("cookie.expires %q: %v", doc.Cookie.Expires, err)
	}
	return expires, rc.PTTL(ctx, key).Val()
}

// TestExpressSharing runs one browser across a real express-session +
// connect-redis app and a crumbs service on the same Redis.
func TestExpressSharing(t *testing.T) {
	rc, prefix := redisClient(t)
	app := func(name string, secrets ...string) expressApp {
		return expressApp{Name: name, Secrets: secrets, Prefix: prefix, MaxAge: maxAge.Milliseconds()}
	}
	variants := []expressApp{app("saveUninitialized", oldSecret), app("rolling", oldSecret), app("resave", oldSecret)}
	variants[0].SaveUninitialized, variants[1].Rolling, variants[2].Resave = true, true, true
	node := startNode(t, nodeConfig{Redis: "redis://" + redisAddr, Express: append([]expressApp{
		app("default", oldSecret), app("rotated", newSecret, oldSecret), app("new", newSecret)}, variants...)})
	nodeApp := node["default"]
	gosvc := goApp(t, rc, prefix, oldSecret)
	ctx := context.Background()

	b := newBrowser(t)
	var id string
	t.Run("sign in on Express, Go sees the user", func(t *testing.T) {
		b := b.on(t)
		st := b.post(nodeApp, "/login?user=alice")
		id = st.ID
		got := b.get(gosvc, "/whoami")
		if got.ID != id || got.value("user") != `"alice"` {
			t.Fatalf("Go sees %+v, Express wrote %s", got, id)
		}
	})
	t.Run("Go changes a value, Express sees it", func(t *testing.T) {
		b := b.on(t)
		b.post(gosvc, "/set?k=theme&v=dark")
		if got := b.get(nodeApp, "/whoami"); got.value("theme") != `"dark"` || got.value("user") != `"alice"` {
			t.Fatalf("Express sees %+v", got)
		}
		b.post(nodeApp, "/set?k=cart&json=1&v="+url.QueryEscape(`[1,{"sku":"b<&>"}]`))
		if got := b.get(gosvc, "/whoami"); got.value("cart") != `[1,{"sku":"b<&>"}]` || got.value("theme") != `"dark"` {
			t.Fatalf("Go sees %+v", got)
		}
	})
	t.Run("TTL and expires agree after a Go write; an Express touch moves the TTL only", func(t *testing.T) {
		b := b.on(t)
		key := prefix + id
		b.post(gosvc, "/set?k=step&v=ttl")
		expires, ttl := storedCookie(t, rc, key)
		if d := time.Until(expires) - ttl; d < -2*time.Second || d > 2*time.Second {
			t.Fatalf("after a Go write: TTL %v, cookie.expires in %v", ttl, time.Until(expires))
		}
		time.Sleep(2100 * time.Millisecond)
		b.get(nodeApp, "/whoami") // unmodified: connect-redis's touch (EXPIRE)
		expires2, ttl2 := storedCookie(t, rc, key)
		if !expires2.Equal(expires) {
			t.Errorf("an Express touch rewrote cookie.expires: %v -> %v", expires, expires2)
		}
		if ttl2 < ttl-time.Second { // left alone, it would be 2.1 s lower
			t.Errorf("an Express touch did not move the TTL: %v -> %v, 2.1 s later", ttl, ttl2)
		}
		// Go reads the TTL as the idle deadline: the session is open.
		if got := b.get(gosvc, "/whoami"); got.ID != id {
			t.Fatalf("Go after the touch: %+v", got)
		}
	})
	t.Run("Go regenerates, Express follows the new cookie", func(t *testing.T) {
		b := b.on(t)
		before := b.cookie("connect.sid")
		st := b.post(gosvc, "/regenerate")
		if st.ID == id || b.cookie("connect.sid") == before {
			t.Fatalf("no new ID: %s", st.ID)
		}
		if rc.Exists(ctx, prefix+id).Val() != 0 {
			t.Error("the old ID's record is still there")
		}
		got := b.get(nodeApp, "/whoami")
		if got.ID != st.ID || got.value("user") != `"alice"` || got.value("cart") == "" {
			t.Fatalf("Express after the Go regenerate: %+v (new ID %s)", got, st.ID)
		}
		id = st.ID
	})
	t.Run("sign out on Express, Go sees no session", func(t *testing.T) {
		b := b.on(t)
		b.post(nodeApp, "/logout")
		if got := b.get(gosvc, "/whoami"); got.ID != "" || len(got.Values) != 0 {
			t.Fatalf("Go after the Express logout: %+v", got)
		}
	})
	t.Run("sign out on Go, Express sees no session", func(t *testing.T) {
		b := b.on(t)
		st := b.post(nodeApp, "/login?user=bob")
		if got := b.get(gosvc, "/whoami"); got.value("user") != `"bob"` {
			t.Fatalf("Go: %+v", got)
		}
		b.post(gosvc, "/logout")
		if rc.Exists(ctx, prefix+st.ID).Val() != 0 {
			t.Error("the record survived the Go logout")
		}
		if got := b.get(nodeApp, "/whoami"); got.value("user") != "" {
			t.Fatalf("Express after the Go logout: %+v", got)
		}
	})
	t.Run("secret rotation on both sides", func(t *testing.T) {
		b := newBrowser(t)
		st := b.post(nodeApp, "/login?user=carol") // signed with the old secret
		rotated := goApp(t, rc, prefix, newSecret, oldSecret)
		signedOld := b.cookie("connect.sid")
		if got := b.get(rotated, "/whoami"); got.ID != st.ID || got.value("user") != `"carol"` {
			t.Fatalf("rotated Go: %+v", got)
		}
		if b.cookie("connect.sid") == signedOld {
			t.Fatal("the rotated Go service did not sign the cookie again under its first secret")
		}
		if got := b.get(node["new"], "/whoami"); got.value("user") != `"carol"` {
			t.Fatalf("an Express app with only the new secret: %+v", got)
		}
		if got := b.get(node["rotated"], "/whoami"); got.value("user") != `"carol"` {
			t.Fatalf("the rotated Express app: %+v", got)
		}
		// And the other way: Express signs under the new secret, an old
		// Go service refuses it, a rotated one opens it.
		b2 := newBrowser(t)
		st2 := b2.post(node["rotated"], "/login?user=dan")
		if got := b2.get(gosvc, "/whoami"); got.value("user") != "" {
			t.Fatalf("a Go service without the new secret opened: %+v", got)
		}
		b2 = newBrowser(t)
		st2 = b2.post(node["rotated"], "/login?user=dan")
		if got := b2.get(rotated, "/whoami"); got.ID != st2.ID || got.value("user") != `"dan"` {
			t.Fatalf("the rotated Go service: %+v", got)
		}
	})
	for _, v := range variants {
		t.Run("Express with "+v.Name, func(t *testing.T) {
			b := newBrowser(t)
			ex := node[v.Name]
			if v.SaveUninitialized {
				b.get(ex, "/whoami") // a session saved before anything is set in it
				if b.cookie("connect.sid") == "" {
					t.Fatal("saveUninitialized sent no cookie")
				}
			}
			st := b.post(ex, "/login?user=erin")
			if got := b.get(gosvc, "/whoami"); got.ID != st.ID || got.value("user") != `"erin"` {
				t.Fatalf("Go: %+v", got)
			}
			b.post(gosvc, "/set?k=from&v=go")
			if got := b.get(ex, "/whoami"); got.value("from") != `"go"` || got.ID != st.ID {
				t.Fatalf("Express: %+v", got)
			}
			b.post(ex, "/set?k=back&v=node")
			got := b.get(gosvc, "/whoami")
			keys := make([]string, 0, len(got.Values))
			for k := range got.Values {
				keys = append(keys, k)
			}
			slices.Sort(keys)
			if got.ID != st.ID || strings.Join(keys, ",") != "back,from,user" {
				t.Fatalf("Go: %+v", got)
			}
		})
	}
}
