package session_test

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/crumbs-go/session"
	"github.com/crumbs-go/session/chunking"
	"github.com/crumbs-go/session/cookiestore"
)

func counter(w http.ResponseWriter, r *http.Request) {
	s := session.From(r)
	n, _ := session.Get[int](s, "n")
	s.Set("n", n+1)
	fmt.Fprint(w, n+1)
}

func body(t testing.TB, res *http.Response) string {
	t.Helper()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestCounterRoundTrip(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	for want := 1; want <= 3; want++ {
		res := h.do(t, counter)
		if got := body(t, res); got != strconv.Itoa(want) {
			t.Fatalf("request %d: counter = %s", want, got)
		}
		if res.Header.Get("Vary") != "Cookie" || res.Header.Get("Cache-Control") != "no-store" {
			t.Fatalf("Vary %q, Cache-Control %q: want Cookie and no-store", res.Header.Get("Vary"), res.Header.Get("Cache-Control"))
		}
	}
	line := setCookies(h.do(t, counter))["session"]
	for _, attr := range []string{"Path=/", "HttpOnly", "SameSite=Lax", "Max-Age=86400"} {
		if !strings.Contains(line, "; "+attr) {
			t.Errorf("Set-Cookie %q lacks %s", line, attr)
		}
	}
	if strings.Contains(line, "Secure") {
		t.Errorf("Set-Cookie %q is Secure on a plain-HTTP request with SecureAuto", line)
	}
}

func TestUntouchedRequestWritesNothing(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.do(t, counter)
	res := h.do(t, func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "static") })
	if len(res.Header.Values("Set-Cookie")) != 0 || res.Header.Get("Vary") != "" {
		t.Fatalf("an untouched session wrote headers: %v", res.Header)
	}
}

func TestReadOnlyWritesNothing(t *testing.T) {
	t.Parallel()
	for _, saveUninit := range []bool{false, true} {
		h := newHarness(t, session.WithSaveUninitialized(saveUninit))
		res := h.do(t, func(w http.ResponseWriter, r *http.Request) { session.From(r).Has("x") })
		if got := len(res.Header.Values("Set-Cookie")) > 0; got != saveUninit {
			t.Errorf("saveUninitialized %t: a new, unmodified session set a cookie: %t", saveUninit, got)
		}
		// An existing session that is only read is not re-sent.
		h.do(t, counter)
		if res := h.do(t, func(w http.ResponseWriter, r *http.Request) { session.From(r).Get("n") }); live(res) != 0 {
			t.Errorf("saveUninitialized %t: reading an existing session set a cookie", saveUninit)
		}
	}
}

type item struct {
	SKU string
	Qty int
}

func TestValues(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.do(t, func(w http.ResponseWriter, r *http.Request) {
		s := session.From(r)
		s.Set("cart", []item{{"A-1", 2}, {"B-2", 1}})
		s.Set("name", "Ada")
		s.Set("big", int64(1)<<60)
		s.Set("gone", true)
		s.Delete("gone")
		s.AddFlash("saved")
		s.AddFlash("again")
	})
	h.do(t, func(w http.ResponseWriter, r *http.Request) {
		s := session.From(r)
		cart, ok := session.Get[[]item](s, "cart")
		if !ok || !slices.Equal(cart, []item{{"A-1", 2}, {"B-2", 1}}) {
			t.Errorf("cart = %v, %t", cart, ok)
		}
		if n, ok := session.Get[int64](s, "big"); !ok || n != 1<<60 {
			t.Errorf("big = %d, %t: 64-bit integers must survive the round trip", n, ok)
		}
		if _, ok := session.Get[int](s, "name"); ok {
			t.Error("Get[int] of a string succeeded")
		}
		if got := s.Keys(); !slices.Equal(got, []string{"_flash", "big", "cart", "name"}) {
			t.Errorf("Keys = %q", got)
		}
		if got := s.Flashes(); !slices.Equal(got, []string{"saved", "again"}) {
			t.Errorf("Flashes = %q", got)
		}
		name, ok := session.Pop[string](s, "name")
		if name != "Ada" || !ok || s.Has("name") {
			t.Errorf("Pop = %q, %t; still there: %t", name, ok, s.Has("name"))
		}
		if s.Get("missing") != nil {
			t.Error("Get of a missing key is not nil")
		}
	})
	h.do(t, func(w http.ResponseWriter, r *http.Request) {
		s := session.From(r)
		if s.Has("name") || len(s.Flashes()) != 0 || s.Len() != 2 {
			t.Errorf("after Pop and Flashes: keys %q", s.Keys())
		}
		s.Clear()
	})
	h.do(t, func(w http.ResponseWriter, r *http.Request) {
		if s := session.From(r); s.Len() != 0 || s.IsNew() {
			t.Errorf("after Clear: %d values, new %t; want 0, an existing session", s.Len(), s.IsNew())
		}
	})
}

func TestRegenerate(t *testing.T) {
	t.Parallel()
	for _, keep := range []bool{true, false} {
		h := newHarness(t)
		var before, after string
		h.do(t, func(w http.ResponseWriter, r *http.Request) {
			s := session.From(r)
			s.Set("cart", 3)
			before = s.ID()
		})
		h.do(t, func(w http.ResponseWriter, r *http.Request) { session.From(r).Regenerate(keep) })
		h.do(t, func(w http.ResponseWriter, r *http.Request) {
			s := session.From(r)
			after = s.ID()
			if got := s.Has("cart"); got != keep {
				t.Errorf("Regenerate(%t): cart kept = %t", keep, got)
			}
		})
		if before == after || len(after) != 43 {
			t.Errorf("Regenerate(%t): ID %q -> %q", keep, before, after)
		}
	}
}

func TestDestroyExpiresEveryChunk(t *testing.T) {
	t.Parallel()
	h := newHarness(t, session.WithMaxChunks(3))
	h.do(t, func(w http.ResponseWriter, r *http.Request) { session.From(r).Set("blob", randomText(5000)) })
	if len(h.jar) != 2 {
		t.Fatalf("the browser holds %d cookies, want 2 chunks", len(h.jar))
	}
	res := h.do(t, func(w http.ResponseWriter, r *http.Request) { session.From(r).Destroy() })
	sc := setCookies(res)
	for _, name := range []string{"session", "session.1"} {
		if !strings.Contains(sc[name], "Max-Age=0") {
			t.Errorf("Destroy did not expire %s: %q", name, sc[name])
		}
	}
	if len(sc) != 2 {
		t.Errorf("Destroy sent %d Set-Cookie lines for the 2 cookies the browser held: %q", len(sc), sc)
	}
	if len(h.jar) != 0 {
		t.Fatalf("after Destroy the browser still holds %v", h.jar)
	}
	h.do(t, func(w http.ResponseWriter, r *http.Request) {
		if !session.From(r).IsNew() {
			t.Error("a session survived Destroy")
		}
	})
}

func TestShrinkDeletesStaleChunks(t *testing.T) {
	t.Parallel()
	h := newHarness(t, session.WithMaxChunks(3))
	h.do(t, func(w http.ResponseWriter, r *http.Request) { session.From(r).Set("blob", randomText(7000)) })
	if len(h.jar) != 3 {
		t.Fatalf("the browser holds %d cookies, want 3", len(h.jar))
	}
	h.do(t, func(w http.ResponseWriter, r *http.Request) { session.From(r).Set("blob", "small") })
	if len(h.jar) != 1 {
		t.Fatalf("after shrinking the browser holds %d cookies: %v", len(h.jar), slices.Collect(mapKeys(h.jar)))
	}
	h.do(t, func(w http.ResponseWriter, r *http.Request) {
		if v, _ := session.Get[string](session.From(r), "blob"); v != "small" {
			t.Errorf("blob = %.20q", v)
		}
	})
}

func mapKeys(m map[string]string) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// randomText is incompressible base64url text of n bytes.
func randomText(n int) string {
	b := make([]byte, n)
	x := uint64(88172645463325252)
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	for i := range b {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		b[i] = alphabet[x%64]
	}
	return string(b)
}

func TestReload(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.do(t, counter)
	res := h.do(t, func(w http.ResponseWriter, r *http.Request) {
		s := session.From(r)
		s.Set("n", 100)
		s.Reload()
		if n, _ := session.Get[int](s, "n"); n != 1 {
			t.Errorf("after Reload n = %d, want 1", n)
		}
	})
	if live(res) != 0 {
		t.Error("a reloaded, unchanged session set a cookie")
	}
}

func TestIdleAndAbsoluteTimeouts(t *testing.T) {
	t.Parallel()
	h := newHarness(t, session.WithIdleTimeout(30*time.Minute), session.WithLifetime(2*time.Hour))
	h.do(t, counter)
	maxAge := func(res *http.Response) string {
		for _, c := range res.Cookies() {
			if c.Name == "session" {
				return strconv.Itoa(c.MaxAge)
			}
		}
		return "none"
	}
	// Read at 10 min: more than half the idle window left, no refresh.
	h.clock.add(10 * time.Minute)
	if res := h.do(t, func(w http.ResponseWriter, r *http.Request) { session.From(r).Get("n") }); live(res) != 0 {
		t.Fatal("a read with most of the idle window left re-sent the cookie")
	}
	// Read at 25 min: under half left, the idle deadline is refreshed.
	h.clock.add(15 * time.Minute)
	if got := maxAge(h.do(t, func(w http.ResponseWriter, r *http.Request) { session.From(r).Get("n") })); got != "1800" {
		t.Fatalf("refresh Max-Age = %s, want 1800", got)
	}
	// 29 minutes later the session is alive thanks to the refresh.
	h.clock.add(29 * time.Minute)
	if got := body(t, h.do(t, counter)); got != "2" {
		t.Fatalf("counter after a refreshed idle window = %s, want 2", got)
	}
	// Idle expiry: 31 minutes without a request. The browser still sends
	// the cookie (its Max-Age is not what protects us): a fresh session.
	h.clock.add(31 * time.Minute)
	if got := body(t, h.do(t, counter)); got != "1" {
		t.Fatalf("counter after the idle timeout = %s, want a fresh session", got)
	}
	if !strings.Contains(h.logged(), "expired (idle deadline)") {
		t.Errorf("the log does not say why the cookie was rejected:\n%s", h.logged())
	}
	// Absolute expiry: keep it busy every 20 minutes; it still ends at 2 h.
	for range 5 {
		h.clock.add(20 * time.Minute)
		h.do(t, counter)
	}
	h.clock.add(20 * time.Minute) // 2 h since creation
	if got := body(t, h.do(t, counter)); got != "1" {
		t.Fatalf("counter after the absolute timeout = %s, want a fresh session", got)
	}
}

func TestTouchAndRolling(t *testing.T) {
	t.Parallel()
	h := newHarness(t, session.WithIdleTimeout(time.Hour))
	h.do(t, counter)
	h.clock.add(time.Minute)
	if res := h.do(t, func(w http.ResponseWriter, r *http.Request) { session.From(r).Touch() }); live(res) != 1 {
		t.Fatal("Touch did not re-send the cookie")
	}
	r := newHarness(t, session.WithRolling(true))
	r.do(t, counter)
	if res := r.do(t, func(w http.ResponseWriter, r *http.Request) { session.From(r).Get("n") }); live(res) != 1 {
		t.Fatal("rolling did not re-send the cookie of a read session")
	}
	if res := r.do(t, func(w http.ResponseWriter, r *http.Request) {}); live(res) != 0 {
		t.Fatal("rolling re-sent the cookie of an untouched session")
	}
}

func TestCookieLifetimes(t *testing.T) {
	t.Parallel()
	h := newHarness(t, session.WithBrowserSessionCookie(true))
	res := h.do(t, counter)
	if strings.Contains(res.Header.Get("Set-Cookie"), "Max-Age") {
		t.Fatalf("browser-session cookie has a Max-Age: %q", res.Header.Get("Set-Cookie"))
	}
	// "Remember me": a persistent cookie for 30 days, kept on later saves.
	h.do(t, func(w http.ResponseWriter, r *http.Request) {
		s := session.From(r)
		s.SetBrowserSession(false)
		s.SetLifetime(30 * 24 * time.Hour)
	})
	res = h.do(t, counter)
	if !strings.Contains(res.Header.Get("Set-Cookie"), "Max-Age=2592000") {
		t.Fatalf("remembered session: %q, want Max-Age=2592000", res.Header.Get("Set-Cookie"))
	}
	h.clock.add(25 * time.Hour) // past the Manager's 24 h lifetime
	if got := body(t, h.do(t, counter)); got == "1" {
		t.Fatal("the per-session lifetime was not kept")
	}
}

func TestSecureAttribute(t *testing.T) {
	t.Parallel()
	proto := func(r *http.Request) { r.Header.Set("X-Forwarded-Proto", "https") }
	tests := []struct {
		name   string
		opts   []session.Option
		mod    []func(*http.Request)
		secure bool
	}{
		{"auto, plain http to localhost", nil, nil, false},
		{"auto, plain http to another host", nil, []func(*http.Request){func(r *http.Request) { r.Host = "example.com" }}, true},
		{"auto, TLS", nil, []func(*http.Request){withTLS}, true},
		{"auto, proxy header on a loopback Host: behind a proxy", nil, []func(*http.Request){proto}, true},
		{"auto, trusted proxy", []session.Option{session.WithTrustProxy(true)}, []func(*http.Request){proto}, true},
		{"always", []session.Option{session.WithCookie(session.Cookie{Secure: session.SecureAlways})}, nil, true},
		{"never, TLS", []session.Option{session.WithCookie(session.Cookie{Secure: session.SecureNever})}, []func(*http.Request){withTLS}, false},
		{"SameSite=None forces Secure", []session.Option{session.WithCookie(session.Cookie{SameSite: http.SameSiteNoneMode})}, nil, true},
		{"Partitioned forces Secure", []session.Option{session.WithCookie(session.Cookie{Partitioned: true})}, nil, true},
		{"__Host- forces Secure", []session.Option{session.WithCookieName("__Host-s")}, nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, tt.opts...)
			line := h.do(t, counter, tt.mod...).Header.Get("Set-Cookie")
			if got := strings.Contains(line, "; Secure"); got != tt.secure {
				t.Fatalf("Set-Cookie %q: Secure = %t, want %t", line, got, tt.secure)
			}
		})
	}
	line := newHarness(t, session.WithCookie(session.Cookie{Partitioned: true, SameSite: http.SameSiteNoneMode})).do(t, counter).Header.Get("Set-Cookie")
	if !strings.Contains(line, "; SameSite=None") || !strings.Contains(line, "; Partitioned") {
		t.Fatalf("Set-Cookie %q lacks SameSite=None or Partitioned", line)
	}
}

func TestNewRejects(t *testing.T) {
	t.Parallel()
	store, err := cookiestore.New([][]byte{secret(1)})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		opts []session.Option
		want string
	}{
		{"host prefix with domain", []session.Option{session.WithCookieName("__Host-s"), session.WithCookie(session.Cookie{Domain: "example.com"})}, "__Host- prefix requires"},
		{"host prefix with path", []session.Option{session.WithCookieName("__Host-s"), session.WithCookie(session.Cookie{Path: "/app"})}, "__Host- prefix requires"},
		{"SameSite None without Secure", []session.Option{session.WithCookie(session.Cookie{SameSite: http.SameSiteNoneMode, Secure: session.SecureNever})}, "requires Secure"},
		{"bad cookie name", []session.Option{session.WithCookieName("my session")}, "invalid Cookie.Name"},
		{"bad domain", []session.Option{session.WithCookie(session.Cookie{Domain: "a..example.com"})}, "not a valid cookie domain"},
		{"control byte in path", []session.Option{session.WithCookie(session.Cookie{Path: "/a\x7f"})}, "printable ASCII"},
		{"lifetime over 400 days", []session.Option{session.WithLifetime(401 * 24 * time.Hour)}, "400 days"},
		{"no end", []session.Option{session.WithLifetime(0)}, "never end"},
		{"negative idle", []session.Option{session.WithIdleTimeout(-time.Second)}, "give 0 to 400 days"},
		{"bad path", []session.Option{session.WithCookie(session.Cookie{Path: "app"})}, "must start with /"},
		{"bad SameSite", []session.Option{session.WithCookie(session.Cookie{SameSite: 9})}, "SameSite 9"},
		{"bad Secure", []session.Option{session.WithCookie(session.Cookie{Secure: 7})}, "Secure 7"},
		{"huge budget", []session.Option{session.WithCookieBudget(5000)}, "WithCookieBudget(5000)"},
		{"nil codec", []session.Option{session.WithCodec(nil)}, "WithCodec(nil)"},
	}
	for _, tt := range tests {
		if _, err := session.New(store, tt.opts...); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: New = %v, want an error containing %q", tt.name, err, tt.want)
		}
	}
	if _, err := session.New(nil); err == nil {
		t.Error("New(nil) succeeded")
	}
	if _, err := cookiestore.New([][]byte{secret(1), []byte("short")}); err == nil || !strings.Contains(err.Error(), "secret 1 is 5 bytes") {
		t.Errorf("cookiestore.New with a short secret = %v", err)
	}
}

func TestUnsetDestroy(t *testing.T) {
	t.Parallel()
	h := newHarness(t, session.WithDestroyEmpty(true))
	h.do(t, counter)
	res := h.do(t, func(w http.ResponseWriter, r *http.Request) { session.From(r).Delete("n") })
	if !strings.Contains(res.Header.Get("Set-Cookie"), "Max-Age=0") || len(h.jar) != 0 {
		t.Fatalf("emptying the session with WithDestroyEmpty kept the cookie: %q", res.Header.Get("Set-Cookie"))
	}
}

func TestKeyRotationReseals(t *testing.T) {
	t.Parallel()
	old := newHarnessSecrets(t, [][]byte{secret(1)})
	old.do(t, counter)
	rotated := newHarnessSecrets(t, [][]byte{secret(2), secret(1)})
	rotated.jar = old.jar
	res := rotated.do(t, func(w http.ResponseWriter, r *http.Request) {
		if n, _ := session.Get[int](session.From(r), "n"); n != 1 {
			t.Errorf("n = %d under the rotated ring", n)
		}
	})
	if live(res) != 1 {
		t.Fatal("a cookie opened by an older secret was not re-sealed")
	}
	// The re-sealed cookie opens without the old secret.
	fresh := newHarnessSecrets(t, [][]byte{secret(2)})
	fresh.jar = rotated.jar
	if got := body(t, fresh.do(t, counter)); got != "2" {
		t.Fatalf("after dropping the old secret: counter = %s, want 2", got)
	}
	// A further restart without the secret that sealed it: a fresh session.
	gone := newHarnessSecrets(t, [][]byte{secret(3)})
	gone.jar = fresh.jar
	if got := body(t, gone.do(t, counter)); got != "1" {
		t.Fatalf("under an unrelated secret: counter = %s, want a fresh 1", got)
	}
}

func TestInvalidCookieGivesFreshSession(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.do(t, counter)
	v := h.jar["session"]
	h.jar["session"] = tamper(v)
	res := h.do(t, func(w http.ResponseWriter, r *http.Request) {
		if s := session.From(r); !s.IsNew() || s.Len() != 0 {
			t.Error("a tampered cookie did not give a fresh session")
		}
	})
	if res.StatusCode != http.StatusOK {
		t.Fatalf("status %d for a tampered cookie", res.StatusCode)
	}
	if !strings.Contains(h.logged(), "message authentication failed") {
		t.Errorf("the log does not give the reason:\n%s", h.logged())
	}
	if !strings.Contains(res.Header.Get("Set-Cookie"), "Max-Age=0") {
		t.Error("the rejected cookie was not expired")
	}
	if len(h.errors()) != 0 {
		t.Errorf("a rejected cookie reached the error handler: %v", h.errors())
	}
}

func TestTooLarge(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.do(t, counter)
	before := h.jar["session"]
	res := h.do(t, func(w http.ResponseWriter, r *http.Request) {
		session.From(r).Set("blob", randomText(9000))
		io.WriteString(w, "handler output")
	})
	if res.StatusCode != http.StatusInternalServerError || strings.Contains(body(t, res), "handler output") {
		t.Fatalf("status %d: want the error handler's 500 instead of the handler's output", res.StatusCode)
	}
	if len(res.Header.Values("Set-Cookie")) != 0 || h.jar["session"] != before {
		t.Fatal("a failed save touched the browser's cookie")
	}
	errs := h.errors()
	if len(errs) != 1 || !errors.Is(errs[0], session.ErrTooLarge) {
		t.Fatalf("error handler got %v, want one ErrTooLarge", errs)
	}
	var tl *chunking.TooLargeError
	if !errors.As(errs[0], &tl) || tl.Chunks != 4 || tl.MaxChunks != 2 || tl.CookieBudget != 4000 || tl.TotalBudget != 8000 {
		t.Fatalf("errors.As(%v) = %+v: want the sizes and budgets", errs[0], tl)
	}
	msg := errs[0].Error()
	for _, want := range []string{"in 4 cookies", "the budget is 2 cookies of at most 4000 bytes", "8000 bytes in all"} {
		if !strings.Contains(msg, want) {
			t.Errorf("message %q does not say %q", msg, want)
		}
	}
	// Save hands the same error to the handler itself.
	h.do(t, func(w http.ResponseWriter, r *http.Request) {
		s := session.From(r)
		s.Set("blob", randomText(9000))
		if err := s.Save(); !errors.Is(err, session.ErrTooLarge) {
			t.Errorf("Save = %v, want ErrTooLarge", err)
		}
		s.Delete("blob")
	})
}

func TestCommitBeforeHeaders(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		handler http.HandlerFunc
	}{
		{"WriteHeader", func(w http.ResponseWriter, r *http.Request) {
			session.From(r).Set("k", 1)
			w.WriteHeader(http.StatusCreated)
		}},
		{"Write", func(w http.ResponseWriter, r *http.Request) {
			session.From(r).Set("k", 1)
			w.Write([]byte("x"))
		}},
		{"ReadFrom", func(w http.ResponseWriter, r *http.Request) {
			session.From(r).Set("k", 1)
			// A LimitReader has no WriteTo, so io.Copy calls the writer's
			// ReadFrom (a strings.Reader would call Write instead).
			io.Copy(w, io.LimitReader(strings.NewReader("body"), 4))
		}},
		{"Flush", func(w http.ResponseWriter, r *http.Request) {
			session.From(r).Set("k", 1)
			w.(http.Flusher).Flush()
		}},
		{"ResponseController", func(w http.ResponseWriter, r *http.Request) {
			session.From(r).Set("k", 1)
			if err := http.NewResponseController(w).Flush(); err != nil {
				t.Error(err)
			}
		}},
		{"nothing written", func(w http.ResponseWriter, r *http.Request) { session.From(r).Set("k", 1) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t)
			if res := h.do(t, tt.handler); live(res) != 1 {
				t.Fatalf("no session cookie in the headers")
			}
			if len(h.errors()) != 0 {
				t.Fatalf("errors: %v", h.errors())
			}
		})
	}
}

func TestChangeAfterHeadersIsReported(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.do(t, func(w http.ResponseWriter, r *http.Request) {
		s := session.From(r)
		s.Get("x")
		w.Write([]byte("body first"))
		s.Set("late", 1)
		if err := s.Save(); !errors.Is(err, session.ErrHeadersWritten) {
			t.Errorf("Save after the headers = %v", err)
		}
	})
	errs := h.errors()
	if len(errs) != 1 || !errors.Is(errs[0], session.ErrHeadersWritten) {
		t.Fatalf("error handler got %v, want ErrHeadersWritten", errs)
	}
}

// TestReadAfterHeadersIsReported: a session first read after the headers
// went out cannot add Vary: Cookie nor Cache-Control, so a shared cache may
// serve one user's page to another: the error handler and the log hear of
// it, as of a late change. A session read before the headers is not.
func TestReadAfterHeadersIsReported(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.do(t, counter) // a session to read
	res := h.do(t, func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("body first"))
		session.Get[int](session.From(r), "n")
	})
	if res.Header.Get("Vary") != "" {
		t.Fatalf("Vary %q after the headers", res.Header.Get("Vary"))
	}
	errs := h.errors()
	if len(errs) != 1 || !errors.Is(errs[0], session.ErrHeadersWritten) || !strings.Contains(errs[0].Error(), "Vary") {
		t.Fatalf("error handler got %v, want ErrHeadersWritten saying the response has no Vary", errs)
	}
	if !strings.Contains(h.logged(), "level=ERROR") || !strings.Contains(h.logged(), "Vary") {
		t.Errorf("nothing logged:\n%s", h.logged())
	}
	h.do(t, func(w http.ResponseWriter, r *http.Request) {
		session.Get[int](session.From(r), "n")
		w.Write([]byte("session first"))
		session.From(r).Get("n") // loaded already: the headers carry Vary
	})
	if errs := h.errors(); len(errs) != 1 {
		t.Fatalf("a read before the headers was reported: %v", errs)
	}
}

func TestCacheHeaders(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	res := h.do(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=3600")
		w.Header().Set("Vary", "Accept-Encoding")
		counter(w, r)
	})
	if cc := res.Header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("Cache-Control = %q: a public cache could store a Set-Cookie", cc)
	}
	if v := res.Header.Values("Vary"); !slices.Contains(v, "Cookie") || !slices.Contains(v, "Accept-Encoding") {
		t.Errorf("Vary = %q", v)
	}
	res = h.do(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "private, max-age=60")
		counter(w, r)
	})
	if cc := res.Header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("Cache-Control = %q: even a private cache must not store a Set-Cookie", cc)
	}
}

// upperCodec stores values as JSON with a marker, to prove the codec is used.
type upperCodec struct{ session.Codec }

func (c upperCodec) EncodeMap(m map[string][]byte) ([]byte, error) {
	b, err := c.Codec.EncodeMap(m)
	return append([]byte("U"), b...), err
}

func (c upperCodec) DecodeMap(b []byte) (map[string][]byte, error) {
	if len(b) == 0 || b[0] != 'U' {
		return nil, errors.New("not mine")
	}
	return c.Codec.DecodeMap(b[1:])
}

func TestCustomCodec(t *testing.T) {
	t.Parallel()
	h := newHarness(t, session.WithCodec(upperCodec{session.JSON}))
	for want := 1; want <= 2; want++ {
		if got := body(t, h.do(t, counter)); got != strconv.Itoa(want) {
			t.Fatalf("counter = %s, want %d", got, want)
		}
	}
	// The same cookie under the plain JSON codec does not decode: invalid.
	plain := newHarness(t)
	plain.jar = h.jar
	if got := body(t, plain.do(t, counter)); got != "1" {
		t.Fatalf("counter under another codec = %s, want a fresh 1", got)
	}
}

func TestNamedSessions(t *testing.T) {
	t.Parallel()
	store, _ := cookiestore.New([][]byte{secret(1)})
	a, _ := session.New(store, session.WithCookieName("a"))
	b, _ := session.New(store, session.WithCookieName("b"))
	handler := a.Handler(b.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a.Session(r).Set("who", "a")
		b.Session(r).Set("who", "b")
		if session.From(r) != b.Session(r) {
			t.Error("From does not return the innermost session")
		}
	})))
	w := newRecorder()
	handler.ServeHTTP(w, newRequest())
	names := []string{}
	for _, c := range w.Result().Cookies() {
		if c.MaxAge >= 0 {
			names = append(names, c.Name)
		}
	}
	slices.Sort(names)
	if !slices.Equal(names, []string{"a", "b"}) {
		t.Fatalf("cookies %q, want a and b", names)
	}
}

func TestFromWithoutMiddlewarePanics(t *testing.T) {
	t.Parallel()
	defer func() {
		if r := recover(); r == nil || !strings.Contains(fmt.Sprint(r), "Manager.Handler") {
			t.Fatalf("recover() = %v, want a panic naming Manager.Handler", r)
		}
	}()
	session.From(newRequest())
}

// TestRealServer runs the middleware in a real net/http server: the session
// cookie survives a 103 Early Hints, http.ResponseController reaches the
// connection through Unwrap (deadlines, flush), and Hijack works.
func TestRealServer(t *testing.T) {
	t.Parallel()
	store, _ := cookiestore.New([][]byte{secret(1)})
	m, err := session.New(store)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/hints", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Link", "</style.css>; rel=preload")
		w.WriteHeader(http.StatusEarlyHints)
		session.From(r).Set("k", 1)
		w.Write([]byte("x"))
	})
	mux.HandleFunc("/controller", func(w http.ResponseWriter, r *http.Request) {
		session.From(r).Set("k", 1)
		rc := http.NewResponseController(w)
		if err := rc.SetWriteDeadline(time.Now().Add(time.Minute)); err != nil {
			t.Errorf("SetWriteDeadline through the session writer: %v", err)
		}
		io.WriteString(w, "part")
		if err := rc.Flush(); err != nil {
			t.Errorf("Flush: %v", err)
		}
	})
	mux.HandleFunc("/hijack", func(w http.ResponseWriter, r *http.Request) {
		session.From(r).Get("k")
		conn, buf, err := w.(http.Hijacker).Hijack()
		if err != nil {
			t.Errorf("Hijack: %v", err)
			return
		}
		defer conn.Close()
		buf.WriteString("HTTP/1.1 200 OK\r\nContent-Length: 8\r\nConnection: close\r\n\r\nhijacked")
		buf.Flush()
	})
	srv := httptest.NewServer(m.Handler(mux))
	defer srv.Close()
	for _, path := range []string{"/hints", "/controller"} {
		res, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if live(res) != 1 {
			t.Errorf("%s: %d session cookies, want 1", path, live(res))
		}
	}
	res, err := http.Get(srv.URL + "/hijack")
	if err != nil {
		t.Fatal(err)
	}
	if got := body(t, res); got != "hijacked" {
		t.Errorf("hijacked body = %q", got)
	}
	res.Body.Close()
}

func TestIsModifiedAndUntouchedDecodesNothing(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.do(t, counter)
	h.do(t, func(w http.ResponseWriter, r *http.Request) {
		s := session.From(r)
		if s.IsModified() || s.IsNew() {
			t.Errorf("a loaded session: modified %t, new %t", s.IsModified(), s.IsNew())
		}
		s.Set("x", 1)
		if !s.IsModified() {
			t.Error("Set did not mark the session modified")
		}
	})
	// A tampered cookie on a request that never touches its session is not
	// even decoded: nothing is logged, nothing is written.
	h.jar["session"] = tamper(h.jar["session"])
	res := h.do(t, func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "static") })
	if strings.Contains(h.logged(), "rejected") || len(res.Header.Values("Set-Cookie")) != 0 {
		t.Fatalf("an untouched request decoded its cookie: log %q, Set-Cookie %q", h.logged(), res.Header.Values("Set-Cookie"))
	}
}

// TestUntouchedAllocations: the middleware costs a request that does not
// use its session at most 4 allocations (the budget).
func TestUntouchedAllocations(t *testing.T) {
	h := newHarness(t)
	h.do(t, counter)
	r := httptest.NewRequest("GET", "/", nil)
	r.Header.Set("Cookie", "session="+h.jar["session"])
	handler := h.m.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) }))
	w := &nopWriter{h: http.Header{}}
	if n := testing.AllocsPerRun(200, func() { handler.ServeHTTP(w, r) }); n > 4 {
		t.Fatalf("an untouched request costs %v allocations, want at most 4", n)
	}
}

type nopWriter struct{ h http.Header }

func (w *nopWriter) Header() http.Header         { return w.h }
func (w *nopWriter) Write(b []byte) (int, error) { return len(b), nil }
func (w *nopWriter) WriteHeader(int)             {}

// TestDestroyIsFinal: after Destroy, only a new value starts a new session;
// rolling, saveUninitialized or a second commit (Save, then the headers) do
// not put a fresh cookie on the logout response.
func TestDestroyIsFinal(t *testing.T) {
	t.Parallel()
	for _, opts := range [][]session.Option{
		{session.WithRolling(true)},
		{session.WithSaveUninitialized(true)},
		{session.WithIdleTimeout(time.Minute)},
	} {
		h := newHarness(t, opts...)
		h.do(t, counter)
		res := h.do(t, func(w http.ResponseWriter, r *http.Request) {
			s := session.From(r)
			s.Destroy()
			if !s.IsNew() {
				t.Error("IsNew after Destroy = false")
			}
			if err := s.Save(); err != nil {
				t.Error(err)
			}
			io.WriteString(w, "bye")
		})
		if live(res) != 0 || len(h.jar) != 0 {
			t.Fatalf("%d options: the logout response left %d live cookies", len(opts), live(res))
		}
	}
	// A value set after Destroy does start a new session.
	h := newHarness(t)
	h.do(t, counter)
	h.do(t, func(w http.ResponseWriter, r *http.Request) {
		s := session.From(r)
		s.Destroy()
		s.Set("fresh", true)
	})
	h.do(t, func(w http.ResponseWriter, r *http.Request) {
		if s := session.From(r); s.Has("n") || !s.Has("fresh") {
			t.Errorf("after Destroy then Set: keys %q", s.Keys())
		}
	})
}

// TestHostileCookieHeader: a megabyte of made-up chunk names neither slows
// the request down nor makes the response echo them.
func TestHostileCookieHeader(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	var b strings.Builder
	b.WriteString("session=2.AAAA")
	for i := 0; b.Len() < 1<<20; i++ {
		fmt.Fprintf(&b, "; session.%d=x", 1000+i)
	}
	start := time.Now()
	res := h.do(t, counter, func(r *http.Request) { r.Header.Set("Cookie", b.String()) })
	if res.StatusCode != http.StatusOK || time.Since(start) > 2*time.Second {
		t.Fatalf("status %d after %v", res.StatusCode, time.Since(start))
	}
	if n := len(res.Header.Values("Set-Cookie")); n > 2+16 {
		t.Fatalf("the response carries %d Set-Cookie lines", n)
	}
}

// TestSetCookieCookieMode: in cookie mode a session's own attributes are
// sealed with it: a refresh keeps them, and what a session may not do (a
// scope of its own, a weaker Secure, invalid values) is refused.
func TestSetCookieCookieMode(t *testing.T) {
	t.Parallel()
	h := newHarness(t, session.WithIdleTimeout(time.Hour))
	var err error
	live := func(res *http.Response) string {
		t.Helper()
		for _, l := range res.Header.Values("Set-Cookie") {
			if strings.HasPrefix(l, "session=") && !strings.Contains(l, "Max-Age=0") {
				return l
			}
		}
		t.Fatalf("no session cookie in %q", res.Header.Values("Set-Cookie"))
		return ""
	}
	res := h.do(t, func(w http.ResponseWriter, r *http.Request) {
		s := session.From(r)
		s.Set("user", "ada")
		err = s.SetCookie(session.Cookie{SameSite: http.SameSiteStrictMode, Partitioned: true})
	})
	if l := live(res); err != nil || !strings.Contains(l, "SameSite=Strict") || !strings.Contains(l, "; Secure") || !strings.Contains(l, "Partitioned") {
		t.Fatalf("SetCookie: %v %q", err, l)
	}
	h.clock.add(40 * time.Minute) // past half the idle timeout: a refresh
	res = h.do(t, func(w http.ResponseWriter, r *http.Request) { session.From(r).Get("user") })
	if l := live(res); !strings.Contains(l, "SameSite=Strict") || !strings.Contains(l, "Partitioned") {
		t.Fatalf("the refresh lost the attributes: %q", l)
	}
	// A scope of its own would leave the browser two cookies of one name:
	// refused, as are a weaker Secure and invalid values.
	for _, bad := range []session.Cookie{{Path: "/admin"}, {Domain: "localhost"}, {Domain: "other.example"},
		{Secure: session.SecureNever}, {Path: "admin"}, {SameSite: 7}, {Domain: "a..b"}} {
		h.do(t, func(w http.ResponseWriter, r *http.Request) { err = session.From(r).SetCookie(bad) })
		if err == nil {
			t.Errorf("SetCookie(%+v) accepted", bad)
		}
	}
	res = h.do(t, func(w http.ResponseWriter, r *http.Request) {
		err = session.From(r).SetCookie(session.Cookie{Path: "/", SameSite: http.SameSiteLaxMode})
	})
	if l := live(res); err != nil || !strings.Contains(l, "SameSite=Lax") {
		t.Fatalf("the Manager's own Path, given: %v %q", err, l)
	}
}
