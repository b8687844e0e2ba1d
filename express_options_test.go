package session_test

import (
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/crumbs-go/session"
	"github.com/crumbs-go/session/serverstore"
)

// modes builds a harness per mode: cookie and server (memory, on the
// harness's clock).
func modes(t *testing.T, opts ...session.Option) map[string]*harness {
	t.Helper()
	c := &clock{t: time.Unix(1764201600, 0)}
	mem, err := serverstore.New(serverstore.NewMemory(serverstore.WithClock(c.now)), [][]byte{secret(1)})
	if err != nil {
		t.Fatal(err)
	}
	h := newHarnessStore(t, mem, [][]byte{secret(1)}, append([]session.Option{session.WithClock(c.now)}, opts...)...)
	h.clock = c
	return map[string]*harness{"cookie": newHarness(t, opts...), "memory": h}
}

// TestCookiePriority: the Manager's Priority goes on every Set-Cookie line
// in its canonical spelling; a session's own (SetCookie) is kept across
// requests and refreshes, in cookie and server mode; a bad value is refused.
func TestCookiePriority(t *testing.T) {
	t.Parallel()
	for mode, h := range modes(t, session.WithCookie(session.Cookie{Priority: "high"})) {
		line := setCookies(h.do(t, counter))["session"]
		if !strings.HasSuffix(line, "; SameSite=Lax; Priority=High") {
			t.Fatalf("%s: Set-Cookie %q, want it to end with SameSite=Lax; Priority=High", mode, line)
		}
		if err := setCookie(t, h, session.Cookie{Priority: "LOW"}); err != nil {
			t.Fatal(err)
		}
		for i := range 2 { // a value change, then a refresh of the same session
			line = setCookies(h.do(t, counter))["session"]
			if !strings.HasSuffix(line, "; Priority=Low") || strings.Count(line, "Priority=") != 1 {
				t.Fatalf("%s: request %d after SetCookie(Priority: LOW): Set-Cookie %q, want one Priority=Low", mode, i, line)
			}
		}
		var info session.CookieInfo
		h.do(t, func(_ http.ResponseWriter, r *http.Request) { info = session.From(r).Cookie() })
		if info.Priority != "Low" {
			t.Fatalf("%s: Cookie().Priority = %q, want Low", mode, info.Priority)
		}
		if err := setCookie(t, h, session.Cookie{}); err != nil { // back to the Manager's
			t.Fatal(err)
		}
		if line = setCookies(h.do(t, counter))["session"]; !strings.HasSuffix(line, "; Priority=High") {
			t.Fatalf("%s: after SetCookie(Cookie{}): %q, want the Manager's Priority=High", mode, line)
		}
	}
	if _, err := session.New(mustCookieStore(t), session.WithCookie(session.Cookie{Priority: "urgent"})); err == nil || !strings.Contains(err.Error(), `"High"`) {
		t.Fatalf("Priority urgent: %v, want an error naming the values", err)
	}
	h := newHarness(t)
	if err := setCookie(t, h, session.Cookie{Priority: "top"}); err == nil {
		t.Fatal("SetCookie(Priority: top) succeeded")
	}
	if line := setCookies(h.do(t, counter))["session"]; strings.Contains(line, "Priority") {
		t.Fatalf("no Priority configured, yet %q", line)
	}
}

func setCookie(t *testing.T, h *harness, ck session.Cookie) error {
	t.Helper()
	var err error
	h.do(t, func(_ http.ResponseWriter, r *http.Request) { err = session.From(r).SetCookie(ck) })
	return err
}

// TestExpiresBesideMaxAge: a persistent cookie carries Expires, the date
// Max-Age stands for as of the response, on every write; a browser-session
// cookie carries neither; a deletion carries the epoch.
func TestExpiresBesideMaxAge(t *testing.T) {
	t.Parallel()
	for mode, h := range modes(t, session.WithIdleTimeout(30*time.Minute)) {
		for range 2 {
			res := h.do(t, counter)
			var c *http.Cookie
			for _, x := range res.Cookies() {
				if x.Name == "session" {
					c = x
				}
			}
			if c == nil || c.MaxAge <= 0 {
				t.Fatalf("%s: no persistent session cookie: %v", mode, res.Header["Set-Cookie"])
			}
			want := h.clock.now().Add(time.Duration(c.MaxAge) * time.Second).UTC()
			if !c.Expires.Equal(want) || c.MaxAge != 1800 {
				t.Fatalf("%s: Expires %v, Max-Age %d; want %v and 1800", mode, c.Expires, c.MaxAge, want)
			}
			if i := strings.Index(c.Raw, "; Expires="); i < 0 || i > strings.Index(c.Raw, "; Max-Age=") {
				t.Fatalf("%s: %q: want Expires before Max-Age, as net/http orders them", mode, c.Raw)
			}
			h.clock.add(10 * time.Minute)
		}
		h.do(t, func(_ http.ResponseWriter, r *http.Request) { session.From(r).SetBrowserSession(true) })
		if line := setCookies(h.do(t, counter))["session"]; strings.Contains(line, "Expires") || strings.Contains(line, "Max-Age") {
			t.Fatalf("%s: browser-session cookie %q carries an expiry", mode, line)
		}
		res := h.do(t, func(_ http.ResponseWriter, r *http.Request) { session.From(r).Destroy() })
		if line := setCookies(res)["session"]; !strings.Contains(line, "; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Max-Age=0") {
			t.Fatalf("%s: deletion %q", mode, line)
		}
	}
}

// TestCookieInfo: Session.Cookie shows the attributes in effect and
// express-session's originalMaxAge, expires and maxAge, as the clock moves,
// in cookie and server mode.
func TestCookieInfo(t *testing.T) {
	t.Parallel()
	for mode, h := range modes(t, session.WithLifetime(24*time.Hour), session.WithIdleTimeout(time.Hour),
		session.WithCookie(session.Cookie{SameSite: http.SameSiteStrictMode})) {
		start := h.clock.now()
		var info session.CookieInfo
		read := func(r *http.Request) { info = session.From(r).Cookie() }
		h.do(t, func(_ http.ResponseWriter, r *http.Request) { session.From(r).Set("n", 1); read(r) })
		if info.OriginalMaxAge != time.Hour || !info.Expires.Equal(start.Add(time.Hour)) || info.MaxAge != time.Hour ||
			info.Path != "/" || info.SameSite != http.SameSiteStrictMode || info.Secure != session.SecureAuto {
			t.Fatalf("%s: new session: %+v", mode, info)
		}
		h.clock.add(20 * time.Minute)
		h.do(t, func(_ http.ResponseWriter, r *http.Request) { read(r) }) // read only: nothing refreshed
		if !info.Expires.Equal(start.Add(time.Hour)) || info.MaxAge != 40*time.Minute {
			t.Fatalf("%s: 20 minutes on: expires %v, maxAge %v; want %v and 40m", mode, info.Expires, info.MaxAge, start.Add(time.Hour))
		}
		h.do(t, counter) // a write refreshes the idle deadline
		h.do(t, func(_ http.ResponseWriter, r *http.Request) { read(r) })
		if !info.Expires.Equal(start.Add(80*time.Minute)) || info.MaxAge != time.Hour {
			t.Fatalf("%s: after a refresh: expires %v, maxAge %v; want %v and 1h", mode, info.Expires, info.MaxAge, start.Add(80*time.Minute))
		}
		h.do(t, func(_ http.ResponseWriter, r *http.Request) {
			s := session.From(r)
			if err := s.SetCookie(session.Cookie{SameSite: http.SameSiteNoneMode}); err != nil {
				t.Error(err)
			}
			read(r)
		})
		if info.SameSite != http.SameSiteNoneMode || info.Secure != session.SecureAlways {
			t.Fatalf("%s: SameSite=None: %+v, want Secure always", mode, info)
		}
		// Touch: the response extends the idle deadline; Cookie says so in
		// the same request, as express-session's touch() does.
		h.clock.add(40 * time.Minute)
		h.do(t, func(_ http.ResponseWriter, r *http.Request) { session.From(r).Touch(); read(r) })
		if want := h.clock.now().Add(time.Hour); !info.Expires.Equal(want) || info.MaxAge != time.Hour {
			t.Fatalf("%s: after Touch: expires %v, maxAge %v; want %v and 1h", mode, info.Expires, info.MaxAge, want)
		}
		h.do(t, func(_ http.ResponseWriter, r *http.Request) { session.From(r).SetBrowserSession(true); read(r) })
		if info.OriginalMaxAge != 0 || !info.Expires.IsZero() || info.MaxAge != 0 {
			t.Fatalf("%s: browser-session cookie: %+v, want no times", mode, info)
		}
	}
	// Without an idle timeout, the lifetime; SetLifetime's in its request.
	h := newHarness(t, session.WithLifetime(2*time.Hour))
	var info session.CookieInfo
	h.do(t, func(_ http.ResponseWriter, r *http.Request) {
		session.From(r).Set("n", 1)
		info = session.From(r).Cookie()
	})
	if info.OriginalMaxAge != 2*time.Hour || info.MaxAge != 2*time.Hour {
		t.Fatalf("lifetime only: %+v", info)
	}
	h.do(t, func(_ http.ResponseWriter, r *http.Request) {
		session.From(r).SetLifetime(30 * 24 * time.Hour)
		info = session.From(r).Cookie()
	})
	if info.OriginalMaxAge != 30*24*time.Hour || info.MaxAge != 30*24*time.Hour {
		t.Fatalf("after SetLifetime(30 days): %+v", info)
	}
	// A lifetime shorter than the idle timeout bounds what a refresh gives.
	h = newHarness(t, session.WithLifetime(24*time.Hour), session.WithIdleTimeout(time.Hour))
	h.do(t, func(_ http.ResponseWriter, r *http.Request) {
		s := session.From(r)
		s.Set("n", 1)
		s.SetLifetime(10 * time.Minute)
		info = s.Cookie()
	})
	if info.OriginalMaxAge != 10*time.Minute || info.MaxAge != 10*time.Minute {
		t.Fatalf("SetLifetime(10m) under a 1h idle timeout: %+v", info)
	}
	if c := h.do(t, counter).Cookies(); len(c) == 0 || c[0].MaxAge != 600 {
		t.Fatalf("the refresh sent %v", c)
	}
}

// TestIDGeneratorSeesTheRequest: the generator gets the request that
// creates the session, on a first visit and on a Regenerate; a parallel
// burst of first visits gets distinct IDs.
func TestIDGeneratorSeesTheRequest(t *testing.T) {
	t.Parallel()
	var n atomic.Int64
	gen := func(r *http.Request) string {
		region := r.Header.Get("X-Region")
		if region == "" {
			region = "xx"
		}
		return region + "_" + strings.Repeat("A", 30) + string(rune('a'+n.Add(1)%26))
	}
	for mode, h := range modes(t, session.WithIDGenerator(gen)) {
		var id string
		h.do(t, func(_ http.ResponseWriter, r *http.Request) { s := session.From(r); s.Set("n", 1); id = s.ID() },
			func(r *http.Request) { r.Header.Set("X-Region", "eu") })
		if !strings.HasPrefix(id, "eu_") {
			t.Fatalf("%s: first visit from eu: ID %q", mode, id)
		}
		h.do(t, func(_ http.ResponseWriter, r *http.Request) { s := session.From(r); s.Regenerate(true); id = s.ID() },
			func(r *http.Request) { r.Header.Set("X-Region", "us") })
		if !strings.HasPrefix(id, "us_") {
			t.Fatalf("%s: Regenerate from us: ID %q", mode, id)
		}
		var again string
		h.do(t, func(_ http.ResponseWriter, r *http.Request) { again = session.From(r).ID() })
		if again != id {
			t.Fatalf("%s: the next request reads ID %q, want %q", mode, again, id)
		}
	}
}

// TestIDGeneratorWithoutRequest: sessions of Manager.Load have no HTTP
// request; the generator gets a placeholder ("GET /", no headers), as in
// New, never nil (a generator that reads a header panicked before).
func TestIDGeneratorWithoutRequest(t *testing.T) {
	t.Parallel()
	gen := func(r *http.Request) string {
		return "g" + r.Header.Get("X-Region") + strings.Repeat("A", 30) + r.Method
	}
	m, err := session.New(mustCookieStore(t), session.WithHeaderToken("", ""), session.WithIDGenerator(gen))
	if err != nil {
		t.Fatal(err)
	}
	s, err := m.Load(t.Context(), "")
	if err != nil {
		t.Fatal(err)
	}
	s.Set("n", 1)
	s.Regenerate(true)
	if _, _, err := s.Commit(); err != nil {
		t.Fatal(err)
	}
	if id := s.ID(); id != "g"+strings.Repeat("A", 30)+"GET" {
		t.Fatalf("ID %q", id)
	}
}
