package cookiestore_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"log/slog"
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
		{"cookie?%zz", 0, "cookie?crumbs_cipher=aes-256-gcm&crumbs_padding=256"},
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

// TestCipherMigrationAtTheBudget: a session that fits its cookies as
// version 1 but not as version 2 (4 bytes longer) keeps its version 1
// cookie on requests that only read it, instead of failing them: nothing
// changed, and the old cookie still opens. A change that fits moves it.
func TestCipherMigrationAtTheBudget(t *testing.T) {
	t.Parallel()
	secrets := [][]byte{bytes.Repeat([]byte{7}, 32)}
	var logs bytes.Buffer
	chacha := must(session.New(must(cookiestore.New(secrets)), session.WithLogger(slog.New(slog.DiscardHandler))))
	aes := must(session.New(must(cookiestore.New(secrets, cookiestore.WithCipher(crypto.AES256GCM))),
		session.WithLogger(slog.New(slog.NewTextHandler(&logs, nil)))))
	raw := make([]byte, 6000)
	rand.Read(raw)
	fits := func(m *session.Manager, cart string) bool {
		b := newBrowser(t)
		b.handler = m.Handler(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) { session.From(r).Set("cart", cart) }))
		resp, err := b.client.Get(b.srv.URL)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	}
	// The largest cart that fits as version 1 (random, so incompressible).
	lo, hi := 3000, 6000
	for lo+1 < hi {
		mid := (lo + hi) / 2
		if fits(chacha, base64.RawURLEncoding.EncodeToString(raw[:mid])) {
			lo = mid
		} else {
			hi = mid
		}
	}
	cart := base64.RawURLEncoding.EncodeToString(raw[:lo])
	if fits(aes, cart) {
		t.Fatalf("a cart of %d characters fits as version 2 too", len(cart))
	}
	b := newBrowser(t)
	before := b.visit(chacha, func(s *session.Session) { s.Set("cart", cart) })
	for i := range 2 {
		var got string
		after := b.visit(aes, func(s *session.Session) { got, _ = session.Get[string](s, "cart") })
		if got != cart || versionOf(t, after) != 1 || len(after) != len(before) {
			t.Fatalf("read %d after the switch: cart of %d characters, %d cookies of version %d; want the cart, the version 1 cookies kept",
				i, len(got), len(after), versionOf(t, after))
		}
	}
	if n := strings.Count(logs.String(), "keeps its old cookie"); n != 1 {
		t.Fatalf("the kept cookie was logged %d times, want once:\n%s", n, logs.String())
	}
	after := b.visit(aes, func(s *session.Session) { s.Set("cart", cart[:len(cart)-100]) })
	if versionOf(t, after) != 2 {
		t.Fatalf("a change that fits left version %d", versionOf(t, after))
	}
}

// TestPaddingHidesLength: with crumbs_padding=256, sessions whose data
// differ in length by up to a bucket send cookies of one length; without,
// their lengths differ. Each reads back.
func TestPaddingHidesLength(t *testing.T) {
	t.Parallel()
	secrets := [][]byte{bytes.Repeat([]byte{7}, 32)}
	for _, tt := range []struct {
		config  string
		lengths int // distinct cookie lengths for the values below
	}{{"cookie", 5}, {"cookie?crumbs_padding=256", 1}, {"cookie?crumbs_cipher=aes-256-gcm&crumbs_padding=256", 1}} {
		m := must(session.New(must(session.OpenStore(context.Background(), tt.config, secrets)), session.WithLogger(slog.New(slog.DiscardHandler))))
		lengths := map[int]bool{}
		for _, n := range []int{1, 20, 40, 80, 120} {
			b := newBrowser(t)
			want := strings.Repeat("k", n)
			cookies := b.visit(m, func(s *session.Session) { s.Set("secret", want) })
			lengths[len(cookies[0].Value)] = true
			var got string
			b.visit(m, func(s *session.Session) { got, _ = session.Get[string](s, "secret") })
			if got != want {
				t.Fatalf("%s: read back %q", tt.config, got)
			}
		}
		if len(lengths) != tt.lengths {
			t.Fatalf("%s: %d distinct cookie lengths, want %d", tt.config, len(lengths), tt.lengths)
		}
	}
	for _, bad := range []string{"cookie?crumbs_padding=8", "cookie?crumbs_padding=x", "cookie?crumbs_padding=5000"} {
		if _, err := session.OpenStore(context.Background(), bad, secrets); err == nil || !strings.Contains(err.Error(), "4096") {
			t.Errorf("%s: %v, want an error naming the range", bad, err)
		}
	}
}
