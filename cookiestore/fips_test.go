//go:build !js && !wasip1

// The child process needs os/exec, which js/wasm and wasip1 lack.

package cookiestore_test

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/crumbs-go/session"
	"github.com/crumbs-go/session/cookiestore"
	"github.com/crumbs-go/session/crypto"
	"github.com/crumbs-go/session/internal/fipstest"
	"github.com/crumbs-go/session/serverstore"
)

// TestFIPS140Only: in FIPS 140-only mode (GODEBUG=fips140=only), New with
// the default cipher fails at construction and says what to set; with
// crypto.AES256GCM, cookie mode serves a sign-in with a session in two
// cookies, a read, and a sign-out that revocation records, in cookies and
// in header tokens; the configuration string does the same.
func TestFIPS140Only(t *testing.T) {
	if !fipstest.Child(t) {
		fipstest.Run(t, "^TestFIPS140Only$")
		return
	}
	secrets := [][]byte{bytes.Repeat([]byte("k"), 32)}
	_, err := cookiestore.New(secrets)
	if err == nil || !strings.Contains(err.Error(), "cookiestore.WithCipher(crypto.AES256GCM)") || !strings.Contains(err.Error(), "crumbs_cipher=aes-256-gcm") {
		t.Fatalf("cookiestore.New in FIPS 140-only mode: %v; want an error that says what to set", err)
	}
	if _, err := session.OpenStore(t.Context(), "cookie?crumbs_cipher=aes-256-gcm", secrets); err != nil {
		t.Fatalf("OpenStore with crumbs_cipher=aes-256-gcm: %v", err)
	}
	big := make([]byte, 3300)
	rand.Read(big)
	cart := base64.StdEncoding.EncodeToString(big)
	for _, header := range []bool{false, true} {
		store := must(cookiestore.New(secrets, cookiestore.WithCipher(crypto.AES256GCM),
			cookiestore.WithRevocation(serverstore.NewMemory()), cookiestore.WithCheckInterval(0)))
		opts := []session.Option{session.WithIdentityKey("user"), session.WithLogger(slog.New(slog.DiscardHandler))}
		if header {
			opts = append(opts, session.WithHeaderToken("", ""))
		}
		m := must(session.New(store, opts...))
		var jar []string // Cookie header pairs, or the token
		do := func(f func(*session.Session)) {
			t.Helper()
			r := httptest.NewRequest("GET", "https://example.com/", nil)
			if header && len(jar) > 0 {
				r.Header.Set("Authorization", "Bearer "+jar[0])
			} else if len(jar) > 0 {
				r.Header.Set("Cookie", strings.Join(jar, "; "))
			}
			w := httptest.NewRecorder()
			m.Handler(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) { f(session.From(r)) })).ServeHTTP(w, r)
			if w.Code != 200 {
				t.Fatalf("header=%t: status %d", header, w.Code)
			}
			if header {
				if v := w.Header().Get("Session-Token"); v != "" {
					jar = []string{v}
				}
				return
			}
			if cs := w.Result().Cookies(); len(cs) > 0 {
				jar = jar[:0]
				for _, c := range cs {
					if c.MaxAge >= 0 {
						jar = append(jar, c.Name+"="+c.Value)
					}
				}
			}
		}
		do(func(s *session.Session) { s.Set("user", "ada"); s.Set("cart", cart) })
		if !header && len(jar) < 2 {
			t.Fatalf("the session took %d cookies, want 2", len(jar))
		}
		signedIn := append([]string(nil), jar...)
		var user, got string
		do(func(s *session.Session) {
			user, _ = session.Get[string](s, "user")
			got, _ = session.Get[string](s, "cart")
		})
		if user != "ada" || got != cart {
			t.Fatalf("header=%t: read back user %q and a cart of %d characters", header, user, len(got))
		}
		do(func(s *session.Session) { s.Destroy() })
		jar = signedIn // a copy kept from before the sign-out
		do(func(s *session.Session) { user, _ = session.Get[string](s, "user") })
		if user != "" {
			t.Fatalf("header=%t: a copy from before the sign-out still reads user %q", header, user)
		}
	}
}
