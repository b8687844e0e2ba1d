package interop

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/crumbs-go/session"
	"github.com/crumbs-go/session/cookiestore"
	"github.com/crumbs-go/session/migrate"
)

// migratingApp is a crumbs service in cookie mode that imports
// cookie-session's cookies signed with keys.
func migratingApp(t *testing.T, keys ...string) (string, *session.Manager) {
	t.Helper()
	im, err := migrate.FromCookieSession(migrate.CookieSession{Keys: keys})
	if err != nil {
		t.Fatal(err)
	}
	store, err := cookiestore.New([][]byte{bytes.Repeat([]byte("m"), 32)})
	if err != nil {
		t.Fatal(err)
	}
	m, err := session.New(store, session.WithImport(im), session.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(m.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s := session.From(r)
		st := state{Values: map[string]json.RawMessage{}}
		for _, k := range s.Keys() {
			st.Values[k], _ = session.Get[json.RawMessage](s, k)
		}
		if !s.IsNew() {
			st.ID = s.ID()
		}
		json.NewEncoder(w).Encode(st)
	})))
	t.Cleanup(srv.Close)
	return srv.URL, m
}

// TestCookieSessionMigration: cookies the real cookie-session wrote open
// as a crumbs session with equal values, which the response seals as a
// crumbs cookie, expiring both old ones; under another key they are
// rejected.
func TestCookieSessionMigration(t *testing.T) {
	_, _ = redisClient(t) // app.js connects to Redis for its Express apps
	node := startNode(t, nodeConfig{Redis: "redis://" + redisAddr, CookieSession: &cookieConfig{Keys: []string{"new key", oldSecret}}})
	cs := node["cookieSession"]

	b := newBrowser(t)
	b.get(cs, "/login?user=frank")
	if b.cookie("session") == "" || b.cookie("session.sig") == "" {
		t.Fatalf("cookie-session set %v", b.names())
	}
	nodeValue := b.cookie("session")
	goURL, m := migratingApp(t, "new key", oldSecret)
	got := b.get(goURL, "/whoami")
	if got.value("user") != `"frank"` || got.value("n") != "42" || got.value("prefs") != `{"langs":["en","fr"],"theme":"dark"}` || got.ID == "" {
		t.Fatalf("the migrated session: %+v", got)
	}
	if b.cookie("session.sig") != "" || b.cookie("session") == nodeValue {
		t.Fatalf("the old cookies were not replaced: %v", b.names())
	}
	if again := b.get(goURL, "/whoami"); again.ID != got.ID || again.value("user") != `"frank"` {
		t.Fatalf("the next request: %+v", again)
	}
	if n := m.Migrations()["cookie-session"]; n != 1 {
		t.Errorf("Migrations = %d", n)
	}

	b2 := newBrowser(t)
	b2.get(cs, "/login?user=mallory")
	other, _ := migratingApp(t, "some other key")
	if got := b2.get(other, "/whoami"); got.ID != "" || len(got.Values) != 0 {
		t.Fatalf("a cookie under another key opened: %+v", got)
	}
	if b2.cookie("session.sig") != "" {
		t.Error("the rejected cookie-session cookies were not expired")
	}
}
