package session_test

import (
	"encoding/gob"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/crumbs-go/session"
	"github.com/crumbs-go/session/cookiestore"
	"github.com/crumbs-go/session/serverstore"
)

// TestIdentityKeyRotates: with WithIdentityKey, a sign-in that sets the
// identity value without Regenerate gets a new session ID in cookie mode
// and in server mode, with cookies and with header tokens; the values go
// as the option's doc says. (The server backends run the same scenario in
// storetest's IdentityChangeRegenerates.)
func TestIdentityKeyRotates(t *testing.T) {
	cookies, err := cookiestore.New([][]byte{secret(1)})
	if err != nil {
		t.Fatal(err)
	}
	memory, err := serverstore.New(serverstore.NewMemory(), [][]byte{secret(2)})
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name   string
		store  session.Store
		header bool
	}{
		{"cookie mode", cookies, false},
		{"cookie mode, header tokens", cookies, true},
		{"server mode", memory, false},
		{"server mode, header tokens", memory, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			opts := []session.Option{session.WithIdentityKey("user"), session.WithLogger(discard())}
			if tt.header {
				opts = append(opts, session.WithHeaderToken("", ""))
			}
			m, err := session.New(tt.store, opts...)
			if err != nil {
				t.Fatal(err)
			}
			var token string // the cookie header or the bearer token the client holds
			send := func(tok string, f func(*session.Session)) string {
				r := httptest.NewRequest("GET", "http://localhost/", nil)
				if tok != "" {
					if tt.header {
						r.Header.Set("Authorization", "Bearer "+tok)
					} else {
						r.Header.Set("Cookie", tok)
					}
				}
				w := httptest.NewRecorder()
				m.Handler(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) { f(session.From(r)) })).ServeHTTP(w, r)
				if tt.header {
					if v := w.Header().Get("Session-Token"); v != "" {
						tok = v
					}
					return tok
				}
				for _, c := range w.Result().Cookies() {
					if c.Name == "session" {
						tok = "session=" + c.Value
					}
				}
				return tok
			}
			do := func(f func(*session.Session)) { token = send(token, f) }
			type seen struct {
				id, user, theme string
				cart            int
			}
			look := func(tok string) seen {
				var v seen
				send(tok, func(s *session.Session) {
					v.id = s.ID()
					v.user, _ = session.Get[string](s, "user")
					v.theme, _ = session.Get[string](s, "theme")
					v.cart, _ = session.Get[int](s, "cart")
				})
				return v
			}
			do(func(s *session.Session) { s.Set("cart", 3) })
			planted, anon := token, look(token)
			do(func(s *session.Session) {
				cart, _ := session.Get[int](s, "cart")
				s.Set("cart", cart) // a sign-in keeps what its request set
				s.Set("user", "ada")
			})
			in := look(token)
			if in.id == anon.id || in.user != "ada" || in.cart != 3 {
				t.Fatalf("after a sign-in without Regenerate: %+v; want a new ID, user ada, the cart carried", in)
			}
			if p := look(planted); p.user != "" {
				t.Fatalf("the token from before the sign-in opens the signed-in session: %+v", p)
			}
			do(func(s *session.Session) { s.Set("user", "ada") })
			if again := look(token); again.id != in.id {
				t.Fatal("setting the same identity again changed the ID")
			}
			do(func(s *session.Session) { s.Set("user", "bob"); s.Set("theme", "dark") })
			bob := look(token)
			if bob.id == in.id || bob.user != "bob" || bob.theme != "dark" || bob.cart != 0 {
				t.Fatalf("after another user's sign-in: %+v; want a new ID, user bob, theme dark, ada's cart gone", bob)
			}
			do(func(s *session.Session) { s.Delete("user") })
			if out := look(token); out.id == bob.id || out.user != "" || out.theme != "" {
				t.Fatalf("after a sign-out that removed the identity: %+v; want a new ID and bob's values gone", out)
			}
			do(func(s *session.Session) { s.Regenerate(true); s.Set("user", "eve") })
			if eve := look(token); eve.user != "eve" {
				t.Fatalf("a sign-in that regenerates itself: %+v", eve)
			}
		})
	}
	if _, err := session.New(cookies, session.WithIdentityKey("a\x00b")); err == nil {
		t.Error("WithIdentityKey accepted a key with a NUL byte")
	}
}

func init() { gob.Register(identityUser{}) }

type identityUser struct {
	Name  string          `json:"name"`
	ID    int             `json:"id"`
	Roles map[string]bool `json:"roles"`
}

// TestIdentityKeyEdges: the identity is compared as a value, not as bytes
// (Gob writes maps in random order; another writer orders JSON members
// otherwise), so setting the same user again rotates nothing; what the
// request set before a Save stays at a change of user; and a sign-in keeps
// only what the request set, not what the session held before it (a value
// planted with the session, such as a CSRF secret).
func TestIdentityKeyEdges(t *testing.T) {
	ada := identityUser{Name: "Ada & co", ID: 7, Roles: map[string]bool{"a": true, "b": true, "c": true, "d": true, "e": true}}
	for _, codec := range []struct {
		name  string
		codec session.Codec
	}{{"JSON", session.JSON}, {"Gob", session.Gob}} {
		t.Run(codec.name, func(t *testing.T) {
			store, err := serverstore.New(serverstore.NewMemory(), [][]byte{secret(3)})
			if err != nil {
				t.Fatal(err)
			}
			m, err := session.New(store, session.WithIdentityKey("user"), session.WithCodec(codec.codec), session.WithLogger(discard()))
			if err != nil {
				t.Fatal(err)
			}
			var cookie string
			do := func(f func(*session.Session)) {
				r := httptest.NewRequest("GET", "http://localhost/", nil)
				if cookie != "" {
					r.Header.Set("Cookie", cookie)
				}
				w := httptest.NewRecorder()
				m.Handler(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) { f(session.From(r)) })).ServeHTTP(w, r)
				if w.Code != http.StatusOK {
					t.Fatalf("status %d: %s", w.Code, w.Body)
				}
				for _, c := range w.Result().Cookies() {
					if c.Name == "session" {
						cookie = "session=" + c.Value
					}
				}
			}
			id := func() (id string) { do(func(s *session.Session) { id = s.ID() }); return id }
			// A sign-in keeps what the request set, not what the session held.
			do(func(s *session.Session) { s.Set("csrf", "planted"); s.Set("cart", 3) })
			do(func(s *session.Session) {
				cart, _ := session.Get[int](s, "cart")
				s.Set("cart", cart) // carried on purpose
				s.Set("user", ada)
			})
			do(func(s *session.Session) {
				if v, ok := session.Get[string](s, "csrf"); ok {
					t.Errorf("the sign-in kept a value the session held before it: csrf = %q", v)
				}
				if v, _ := session.Get[int](s, "cart"); v != 3 {
					t.Errorf("the sign-in lost what its request set: cart = %d", v)
				}
			})
			before := id()
			for range 5 {
				same := ada
				same.Roles = map[string]bool{"e": true, "d": true, "c": true, "b": true, "a": true}
				do(func(s *session.Session) { s.Set("user", same) })
			}
			if codec.name == "JSON" {
				// The same user, its members in another order (as another
				// writer, or a map, orders them).
				do(func(s *session.Session) {
					s.Set("user", map[string]any{"roles": map[string]bool{"a": true, "b": true, "c": true, "d": true, "e": true}, "id": 7, "name": "Ada & co"})
				})
			}
			if after := id(); after != before {
				t.Errorf("setting the same user again rotated the session")
			}
			// A change of user keeps what the request set before a Save.
			do(func(s *session.Session) {
				s.Set("theme", "dark")
				if err := s.Save(); err != nil {
					t.Error(err)
				}
				s.Set("user", identityUser{Name: "Bob", ID: 8})
			})
			do(func(s *session.Session) {
				if v, _ := session.Get[string](s, "theme"); v != "dark" {
					t.Errorf("a change of user dropped what the request set before its Save: theme = %q", v)
				}
				if _, ok := session.Get[int](s, "cart"); ok {
					t.Error("a change of user kept the previous user's cart")
				}
			})
		})
	}
}
