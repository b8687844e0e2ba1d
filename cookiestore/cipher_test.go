package cookiestore_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/crumbs-go/session"
	"github.com/crumbs-go/session/cookiestore"
	"github.com/crumbs-go/session/crypto"
)

// browser is one client of a real HTTP server whose handler the test
// swaps, to move a client's cookies from one deployment to the next.
type browser struct {
	t       testing.TB
	srv     *httptest.Server
	handler http.Handler
	client  *http.Client
}

func newBrowser(t testing.TB) *browser {
	b := &browser{t: t}
	b.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { b.handler.ServeHTTP(w, r) }))
	t.Cleanup(b.srv.Close)
	jar, _ := cookiejar.New(nil)
	b.client = &http.Client{Jar: jar}
	return b
}

// visit serves one request with f under m and returns the session cookies
// the browser holds afterwards.
func (b *browser) visit(m *session.Manager, f func(*session.Session)) []*http.Cookie {
	b.t.Helper()
	b.handler = m.Handler(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) { f(session.From(r)) }))
	resp, err := b.client.Get(b.srv.URL)
	if err != nil {
		b.t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		b.t.Fatalf("status %d", resp.StatusCode)
	}
	u, _ := url.Parse(b.srv.URL)
	return b.client.Jar.Cookies(u)
}

// versionOf returns the envelope version of the session cookie in cookies
// (the base cookie's value, after a chunk count): 1 or 2.
func versionOf(t testing.TB, cookies []*http.Cookie) byte {
	t.Helper()
	for _, c := range cookies {
		if c.Name != "session" {
			continue
		}
		v := c.Value
		if _, rest, ok := strings.Cut(v, "."); ok {
			v = rest
		}
		b, err := base64.RawURLEncoding.DecodeString(v[:4])
		if err != nil {
			t.Fatal(err)
		}
		return b[0]
	}
	t.Fatalf("no session cookie among %v", cookies)
	return 0
}

// TestCipherMigration: a deployment that switches to AES256GCM reads the
// sessions sealed before, chunked ones too, and re-seals them as version 2
// on their next response, a request that only reads included; switching
// back reads them again. Nobody is signed out either way.
func TestCipherMigration(t *testing.T) {
	t.Parallel()
	secrets := [][]byte{bytes.Repeat([]byte{7}, 32)}
	chacha := must(session.New(must(cookiestore.New(secrets))))
	aes := must(session.New(must(cookiestore.New(secrets, cookiestore.WithCipher(crypto.AES256GCM)))))
	// 3 300 random bytes in base64: two cookies, compressed or not.
	big := make([]byte, 3300)
	rand.Read(big)
	cart := base64.StdEncoding.EncodeToString(big)

	b := newBrowser(t)
	cookies := b.visit(chacha, func(s *session.Session) { s.Set("cart", cart) })
	if v := versionOf(t, cookies); v != 1 || len(cookies) < 2 {
		t.Fatalf("before the switch: %d cookies of version %d, want 2 or more of version 1", len(cookies), v)
	}
	for i, step := range []struct {
		m    *session.Manager
		want byte
	}{{aes, 2}, {aes, 2}, {chacha, 1}, {aes, 2}} {
		var got string
		cookies = b.visit(step.m, func(s *session.Session) { got, _ = session.Get[string](s, "cart") })
		if got != cart {
			t.Fatalf("step %d: the cart read back %d characters, want the %d stored", i, len(got), len(cart))
		}
		if v := versionOf(t, cookies); v != step.want {
			t.Fatalf("step %d: the browser holds version %d, want %d", i, v, step.want)
		}
	}
}

func TestCipherConfigurationString(t *testing.T) {
	t.Parallel()
	secrets := [][]byte{bytes.Repeat([]byte{7}, 32)}
	for _, tt := range []struct {
		config string
		want   byte   // the version sealed; 0: refused
		err    string // a fragment of the refusal
	}{
		{"cookie", 1, ""},
		{"cookie?crumbs_cipher=xchacha20-poly1305", 1, ""},
		{"cookie?crumbs_cipher=aes-256-gcm", 2, ""},
		{"cookie?crumbs_cipher=aes", 0, `"aes-256-gcm"`},
		{"cookie?crumbs_cipher=", 0, `"aes-256-gcm"`},
		{"cookie?crumbs_ciphers=aes-256-gcm", 0, "crumbs_cipher"},
		{"cookie?crumbs_cipher=aes-256-gcm&crumbs_cipher=aes-256-gcm", 0, "crumbs_cipher"},
		{"cookie?%zz", 0, `"cookie?crumbs_cipher=aes-256-gcm"`},
	} {
		store, err := session.OpenStore(context.Background(), tt.config, secrets)
		if tt.want == 0 {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("OpenStore(%q) = %v, want an error containing %s", tt.config, err, tt.err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("OpenStore(%q): %v", tt.config, err)
		}
		cookies := newBrowser(t).visit(must(session.New(store)), func(s *session.Session) { s.Set("n", 1) })
		if v := versionOf(t, cookies); v != tt.want {
			t.Errorf("OpenStore(%q) sealed version %d, want %d", tt.config, v, tt.want)
		}
	}
}
