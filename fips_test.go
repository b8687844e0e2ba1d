//go:build !js && !wasip1

// The child process needs os/exec, which js/wasm and wasip1 lack.

package session_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/crumbs-go/session"
	"github.com/crumbs-go/session/internal/fipstest"
	"github.com/crumbs-go/session/serverstore"
)

// TestFIPS140Only: a Manager in server mode, with cookies and with header
// tokens, serves a sign-in, a read and a sign-out in FIPS 140-only mode
// (GODEBUG=fips140=only), in a child process.
func TestFIPS140Only(t *testing.T) {
	if !fipstest.Child(t) {
		fipstest.Run(t, "^TestFIPS140Only$")
		return
	}
	store, err := serverstore.New(serverstore.NewMemory(), [][]byte{secret(1)})
	if err != nil {
		t.Fatal(err)
	}
	for _, header := range []bool{false, true} {
		opts := []session.Option{session.WithLogger(discard()), session.WithIdentityKey("user")}
		if header {
			opts = append(opts, session.WithHeaderToken("", ""))
		}
		m, err := session.New(store, opts...)
		if err != nil {
			t.Fatal(err)
		}
		var tok string
		var user string
		for _, f := range []func(*session.Session){
			func(s *session.Session) { s.Set("user", "ada") },
			func(s *session.Session) { user, _ = session.Get[string](s, "user") },
		} {
			r := httptest.NewRequest("GET", "https://example.com/", nil)
			if tok != "" {
				if header {
					r.Header.Set("Authorization", "Bearer "+tok)
				} else {
					r.Header.Set("Cookie", tok)
				}
			}
			w := httptest.NewRecorder()
			m.Handler(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) { f(session.From(r)) })).ServeHTTP(w, r)
			if w.Code != 200 {
				t.Fatalf("header=%t: status %d", header, w.Code)
			}
			if v := w.Header().Get("Session-Token"); header && v != "" {
				tok = v
			}
			for _, c := range w.Result().Cookies() {
				if !header && c.Name == "session" {
					tok = "session=" + c.Value
				}
			}
		}
		if user != "ada" {
			t.Errorf("header=%t: the session read back user %q", header, user)
		}
	}
}
