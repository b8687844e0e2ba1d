package session_test

import (
	"bytes"
	"crypto/tls"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/crumbs-go/session"
	"github.com/crumbs-go/session/cookiestore"
)

func secret(b byte) []byte { return bytes.Repeat([]byte{b}, 32) }

// clock is a settable time source shared by a test's Manager.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// harness is a Manager with its clock, log and error record.
type harness struct {
	m      *session.Manager
	clock  *clock
	log    *bytes.Buffer
	errs   []error
	mu     sync.Mutex
	jar    map[string]string // the browser's cookies
	secret [][]byte
}

func newHarness(t testing.TB, opts ...session.Option) *harness {
	t.Helper()
	return newHarnessSecrets(t, [][]byte{secret(1)}, opts...)
}

func newHarnessSecrets(t testing.TB, secrets [][]byte, opts ...session.Option) *harness {
	t.Helper()
	store, err := cookiestore.New(secrets)
	if err != nil {
		t.Fatal(err)
	}
	return newHarnessStore(t, store, secrets, opts...)
}

// newHarnessStore is newHarness over another store (secrets are what it
// was built with).
func newHarnessStore(t testing.TB, store session.Store, secrets [][]byte, opts ...session.Option) *harness {
	t.Helper()
	h := &harness{clock: &clock{t: time.Unix(1764201600, 0)}, log: &bytes.Buffer{}, jar: map[string]string{}, secret: secrets}
	base := []session.Option{
		session.WithClock(h.clock.now),
		session.WithLogger(slog.New(slog.NewTextHandler(lockedWriter{h}, nil))),
		session.WithErrorHandler(func(w http.ResponseWriter, r *http.Request, err error) {
			h.mu.Lock()
			h.errs = append(h.errs, err)
			h.mu.Unlock()
			http.Error(w, "session error", http.StatusInternalServerError)
		}),
	}
	m, err := session.New(store, append(base, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	h.m = m
	return h
}

type lockedWriter struct{ h *harness }

func (w lockedWriter) Write(b []byte) (int, error) {
	w.h.mu.Lock()
	defer w.h.mu.Unlock()
	return w.h.log.Write(b)
}

// do sends a request carrying the jar's cookies through the middleware,
// applies the Set-Cookie headers to the jar the way a browser does, and
// returns the response.
func (h *harness) do(t testing.TB, handler http.HandlerFunc, mod ...func(*http.Request)) *http.Response {
	t.Helper()
	r := httptest.NewRequest("GET", "http://localhost/", nil) // plain HTTP to loopback: development
	r.RemoteAddr = "127.0.0.1:50000"                          // from a browser on this machine
	var parts []string
	for name, value := range h.jar {
		parts = append(parts, name+"="+value)
	}
	if len(parts) > 0 {
		r.Header.Set("Cookie", strings.Join(parts, "; "))
	}
	for _, f := range mod {
		f(r)
	}
	w := httptest.NewRecorder()
	h.m.Handler(handler).ServeHTTP(w, r)
	res := w.Result()
	for _, c := range res.Cookies() {
		if c.MaxAge < 0 {
			delete(h.jar, c.Name)
		} else {
			h.jar[c.Name] = c.Value
		}
	}
	return res
}

func (h *harness) errors() []error {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]error(nil), h.errs...)
}

func (h *harness) logged() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.log.String()
}

func withTLS(r *http.Request) { r.TLS = &tls.ConnectionState{} }

// setCookies returns the response's Set-Cookie lines by cookie name.
func setCookies(res *http.Response) map[string]string {
	out := map[string]string{}
	for _, line := range res.Header.Values("Set-Cookie") {
		name, _, _ := strings.Cut(line, "=")
		out[name] = line
	}
	return out
}

func newRecorder() *httptest.ResponseRecorder { return httptest.NewRecorder() }

func newRequest() *http.Request {
	r := httptest.NewRequest("GET", "http://localhost/", nil)
	r.RemoteAddr = "127.0.0.1:50000"
	return r
}

// live counts the cookies a response sets, leaving out the ones it expires.
func live(res *http.Response) int {
	n := 0
	for _, c := range res.Cookies() {
		if c.MaxAge >= 0 {
			n++
		}
	}
	return n
}

// tamper changes one character in the middle of a base64url value, where
// every character carries six bits of the sealed bytes: unlike a change at
// the end, which may only touch padding bits or replace a character with
// itself, it always alters what the value decodes to.
func tamper(v string) string {
	i := len(v) / 2
	c := byte('A')
	if v[i] == c {
		c = 'B'
	}
	return v[:i] + string(c) + v[i+1:]
}
