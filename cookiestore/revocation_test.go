package cookiestore_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/crumbs-go/session"
	"github.com/crumbs-go/session/cookiestore"
	"github.com/crumbs-go/session/crypto"
	"github.com/crumbs-go/session/devices"
	"github.com/crumbs-go/session/driver"
	"github.com/crumbs-go/session/serverstore"
)

// outage is the memory backend behind a switch that makes every call fail,
// as a revocation store that went down.
type outage struct {
	serverstore.Backend
	down atomic.Bool
}

var errDown = errors.New("connection refused")

func (o *outage) Get(ctx context.Context, k string) (*serverstore.Entry, error) {
	if o.down.Load() {
		return nil, errDown
	}
	return o.Backend.Get(ctx, k)
}

func (o *outage) Apply(ctx context.Context, k string, w *serverstore.Write) ([]byte, error) {
	if o.down.Load() {
		return nil, errDown
	}
	return o.Backend.Apply(ctx, k, w)
}

func (o *outage) Create(ctx context.Context, k string, e *serverstore.Entry, exp time.Time) error {
	if o.down.Load() {
		return errDown
	}
	return o.Backend.Create(ctx, k, e, exp)
}

type site struct {
	h    http.Handler
	logs *bytes.Buffer
}

func newSite(t testing.TB, b serverstore.Backend, opts ...cookiestore.Option) *site {
	t.Helper()
	st, err := cookiestore.New([][]byte{bytes.Repeat([]byte{7}, 32)}, append([]cookiestore.Option{cookiestore.WithRevocation(b)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	logs := &bytes.Buffer{}
	m, err := session.New(st, session.WithIdentityKey("user"), session.WithLogger(slog.New(slog.NewTextHandler(logs, nil))))
	if err != nil {
		t.Fatal(err)
	}
	return &site{logs: logs, h: m.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s := session.From(r)
		switch r.URL.Path {
		case "/in":
			s.Set("user", "ann")
		case "/cart":
			s.Set("cart", 1)
		case "/out":
			s.Destroy()
		}
		u, _ := session.Get[string](s, "user")
		io.WriteString(w, u)
	}))}
}

// get sends cookie to path: the status, the user the handler saw, and the
// session cookie the response set ("" for none).
func (s *site) get(path string, cookie *http.Cookie) (int, string, *http.Cookie) {
	r := httptest.NewRequest("GET", "http://localhost"+path, nil)
	if cookie != nil {
		r.AddCookie(cookie)
	}
	w := httptest.NewRecorder()
	s.h.ServeHTTP(w, r)
	var out *http.Cookie
	for _, c := range w.Result().Cookies() {
		out = c
	}
	return w.Code, w.Body.String(), out
}

func TestRevocationFailsClosedByDefault(t *testing.T) {
	t.Parallel()
	b := &outage{Backend: serverstore.NewMemory()}
	s := newSite(t, b, cookiestore.WithCheckInterval(0))
	_, _, c := s.get("/in", nil)
	b.down.Store(true)
	code, user, set := s.get("/", c)
	if code != http.StatusServiceUnavailable || user == "ann" || set != nil {
		t.Fatalf("with the revocation store down: %d, user %q, cookie %v; want 503, nobody, the cookie left alone", code, user, set)
	}
	if !strings.Contains(s.logs.String(), "revocation check: connection refused") {
		t.Fatalf("the log does not say why:\n%s", s.logs)
	}
	b.down.Store(false)
	if code, user, _ := s.get("/", c); code != 200 || user != "ann" {
		t.Fatalf("with the store back: %d, user %q; want 200, ann (still signed in)", code, user)
	}
}

func TestRevocationFailOpen(t *testing.T) {
	t.Parallel()
	b := &outage{Backend: serverstore.NewMemory()}
	s := newSite(t, b, cookiestore.WithFailOpen())
	_, _, c := s.get("/in", nil)
	b.down.Store(true)
	for range 2 { // checked again on the next request
		if code, user, _ := s.get("/", c); code != 200 || user != "ann" {
			t.Fatalf("fail open with the store down: %d, user %q; want 200, ann", code, user)
		}
	}
	if n := strings.Count(s.logs.String(), "accepted the cookie unchecked"); n != 0 {
		t.Fatalf("a cookie checked less than the interval ago made a check (%d warnings):\n%s", n, s.logs)
	}
	// Due for a check: a cookie checked long ago.
	s2 := newSite(t, b, cookiestore.WithFailOpen(), cookiestore.WithCheckInterval(0))
	b.down.Store(false)
	_, _, c = s2.get("/in", nil)
	b.down.Store(true)
	for range 2 {
		if code, user, _ := s2.get("/", c); code != 200 || user != "ann" {
			t.Fatalf("fail open, due for a check, store down: %d, user %q; want 200, ann", code, user)
		}
	}
	if n := strings.Count(s2.logs.String(), "level=WARN msg=\"session: cookiestore: revocation check: connection refused; accepted the cookie unchecked"); n != 2 {
		t.Fatalf("want one warning per unchecked request, got %d:\n%s", n, s2.logs)
	}
	// A sign-out that cannot be recorded fails, whatever the fail mode:
	// the session stays, and the client is told.
	if code, _, set := s2.get("/out", c); code != http.StatusServiceUnavailable || set != nil {
		t.Fatalf("Destroy with the store down: %d, cookie %v; want 503 and the cookie left alone", code, set)
	}
}

// TestUnboundSessionsMakeNoRoundTrip: sessions bound to no user never meet
// the revocation store: with it down, they work.
func TestUnboundSessionsMakeNoRoundTrip(t *testing.T) {
	t.Parallel()
	b := &outage{Backend: serverstore.NewMemory()}
	b.down.Store(true)
	s := newSite(t, b, cookiestore.WithCheckInterval(0))
	code, _, c := s.get("/cart", nil)
	if code != 200 || c == nil {
		t.Fatalf("an anonymous cart: %d, cookie %v", code, c)
	}
	if code, _, set := s.get("/cart", c); code != 200 || set == nil {
		t.Fatalf("an anonymous session, store down: %d, cookie %v; want 200 and a cookie", code, set)
	}
	if code, _, set := s.get("/out", c); code != 200 || set == nil || set.MaxAge >= 0 {
		t.Fatalf("Destroy of an anonymous session, store down: %d, %v; want 200 and an expired cookie", code, set)
	}
}

func TestRevocationOptions(t *testing.T) {
	t.Parallel()
	secrets := [][]byte{bytes.Repeat([]byte{7}, 32)}
	for _, tc := range []struct {
		opts []cookiestore.Option
		want string
	}{
		{[]cookiestore.Option{cookiestore.WithCheckInterval(time.Minute)}, "add WithRevocation"},
		{[]cookiestore.Option{cookiestore.WithFailOpen()}, "add WithRevocation"},
		{[]cookiestore.Option{cookiestore.WithSignInGuard()}, "add WithRevocation"},
		{[]cookiestore.Option{cookiestore.WithRevocation(nil)}, "give a server backend"},
		{[]cookiestore.Option{cookiestore.WithRevocation(serverstore.NewMemory()), cookiestore.WithCheckInterval(11 * time.Minute)}, "give 0 (every request) to 10m0s"},
		{[]cookiestore.Option{cookiestore.WithRevocation(serverstore.NewMemory()), cookiestore.WithCheckInterval(-1)}, "give 0"},
		{[]cookiestore.Option{cookiestore.WithRevocation(serverstore.NewMemory()), cookiestore.WithCheckTimeout(0)}, "more than 0"},
		{[]cookiestore.Option{cookiestore.WithRevocation(serverstore.NewMemory()), cookiestore.WithGrace(2 * time.Minute)}, "give 0 to 1m"},
	} {
		if _, err := cookiestore.New(secrets, tc.opts...); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("New = %v, want an error saying %q", err, tc.want)
		}
	}
	plain, _ := cookiestore.New(secrets)
	if _, err := devices.New(plain); err == nil || !errors.Is(err, errors.ErrUnsupported) {
		t.Errorf("devices.New(a cookie store without revocation) = %v, want ErrUnsupported", err)
	}
}

// TestBindingRoundTrip: the binding is sealed with the session, and a
// store without revocation reads it too.
func TestBindingRoundTrip(t *testing.T) {
	t.Parallel()
	secrets := [][]byte{bytes.Repeat([]byte{7}, 32)}
	for _, st := range []*cookiestore.Store{must(cookiestore.New(secrets)), must(cookiestore.New(secrets, cookiestore.WithRevocation(serverstore.NewMemory())))} {
		in := driver.Record{ID: strings.Repeat("a", 43), Data: []byte(`{"user":"ann"}`), Expires: t0.Add(time.Hour), User: "ann", Created: t0.Add(-time.Hour)}
		v, err := st.Save(context.Background(), "s", &driver.Commit{Op: driver.OpCreate, Record: in}, t0)
		if err != nil {
			t.Fatal(err)
		}
		out, err := st.Load(context.Background(), "s", v, t0)
		if err != nil {
			t.Fatal(err)
		}
		if out.User != "ann" || !out.Created.Equal(in.Created) || string(out.Data) != string(in.Data) {
			t.Fatalf("Load(Save) = user %q created %v data %s", out.User, out.Created, out.Data)
		}
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// BenchmarkRevocationCheck is the cost of a check per request: a signed-in
// request that reads one value, without a revocation store, with one
// checked every request (over the memory backend: the cost of the check
// less the network), and with the default interval (no round trip between
// checks). redisstore's BenchmarkCookieRevocationCheck adds the round trip.
func BenchmarkRevocationCheck(b *testing.B) {
	secrets := [][]byte{bytes.Repeat([]byte{7}, 32)}
	for _, tc := range []struct {
		name string
		opts []cookiestore.Option
	}{
		{"none", nil},
		{"every-request", []cookiestore.Option{cookiestore.WithRevocation(serverstore.NewMemory()), cookiestore.WithCheckInterval(0)}},
		{"interval-1m", []cookiestore.Option{cookiestore.WithRevocation(serverstore.NewMemory())}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			st := must(cookiestore.New(secrets, tc.opts...))
			m := must(session.New(st, session.WithIdentityKey("user"), session.WithLogger(slog.New(slog.DiscardHandler))))
			h := m.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				s := session.From(r)
				if r.URL.Path == "/in" {
					s.Set("user", "ann")
				}
				_, _ = session.Get[string](s, "user")
			}))
			w := httptest.NewRecorder()
			h.ServeHTTP(w, httptest.NewRequest("GET", "http://localhost/in", nil))
			c := w.Result().Cookies()[0]
			r := httptest.NewRequest("GET", "http://localhost/", nil)
			r.AddCookie(c)
			b.ReportAllocs()
			for b.Loop() {
				w := httptest.NewRecorder()
				h.ServeHTTP(w, r)
				if w.Code != 200 {
					b.Fatal(w.Code)
				}
			}
		})
	}
}

// FuzzSealedData: whatever data a value sealed under the store's key holds
// (another tool sharing the secret), Load never panics; what it accepts
// seals again and loads back as the same session and binding.
func FuzzSealedData(f *testing.F) {
	f.Add([]byte{4, 1, 'a', 3, 'a', 'n', 'n', 0, 0, 0, 0, 0x69, 0x27, 0x86, 0x34, 0, 0, 0, 0, 0x69, 0x27, 0x86, 0x34, '{', '}'})
	f.Add([]byte{6, 1, 'a', 0, 1, 0, 1, 'u', 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1})
	f.Add([]byte{0, 1, 'a'})
	secret := bytes.Repeat([]byte{3}, 32)
	ring := must(crypto.New([][]byte{secret}))
	st := must(cookiestore.New([][]byte{secret}, cookiestore.WithRevocation(serverstore.NewMemory())))
	ctx := context.Background()
	f.Fuzz(func(t *testing.T, data []byte) {
		v, err := ring.Seal("s", crypto.Payload{Data: data, IssuedAt: t0, Expires: t0.Add(time.Hour)})
		if err != nil {
			return
		}
		rec, err := st.Load(ctx, "s", v, t0)
		if err != nil {
			if !errors.Is(err, driver.ErrInvalid) {
				t.Fatalf("Load = %v: want a record or ErrInvalid", err)
			}
			return
		}
		again, err := st.Save(ctx, "s", &driver.Commit{Op: driver.OpRefresh, Record: *rec}, t0)
		if err != nil {
			t.Fatal(err)
		}
		back, err := st.Load(ctx, "s", again, t0)
		if err != nil || back.ID != rec.ID || back.User != rec.User || !back.Created.Equal(rec.Created) || !bytes.Equal(back.Data, rec.Data) || !bytes.Equal(back.Cookie, rec.Cookie) {
			t.Fatalf("Load(Save(Load(x))) = %+v, %v; want %+v", back, err, rec)
		}
	})
}

// FuzzRevocationRecord: whatever a user's record holds, a check never
// panics, and a Destroy of the session then lands (a malformed record is
// rewritten) or finds it ended already, and its copies are refused.
func FuzzRevocationRecord(f *testing.F) {
	f.Add([]byte("v\x00\x00\x00\x00\x00\x00\x00\x00\x01"), []byte("nb"), []byte("\x00\x00\x00\x00\x69\x27\x86\x34"))
	f.Add([]byte("v\x00\x00\x00\x00\x00\x00\x00\x00\x01"), []byte("s:DQlrowdwlo71WXqzjO9hEA"), []byte("\x01\x00\x00\x00\x00\x7f\x00\x00\x00"))
	f.Add([]byte{}, []byte("x"), []byte{0})
	ctx := context.Background()
	id := strings.Repeat("k", 43)
	f.Fuzz(func(t *testing.T, first, name, value []byte) {
		b := serverstore.NewMemory(serverstore.WithClock(func() time.Time { return t0 }))
		values := map[string][]byte{string(name): value}
		if k, v, ok := bytes.Cut(first, []byte{0}); ok {
			values[string(k)] = v
		}
		if err := b.Create(ctx, cookiestore.RevocationKey("ann"), &serverstore.Entry{Meta: make18(), Values: values}, t0.Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		st := must(cookiestore.New([][]byte{bytes.Repeat([]byte{9}, 32)}, cookiestore.WithRevocation(b), cookiestore.WithCheckInterval(0)))
		rec := driver.Record{ID: id, Data: []byte(`{}`), Expires: t0.Add(time.Hour), User: "ann", Created: t0.Add(-time.Minute)}
		tok, err := st.Save(ctx, "s", &driver.Commit{Op: driver.OpCreate, Record: rec}, t0.Add(-time.Minute))
		if err != nil {
			t.Fatal(err)
		}
		_, _ = st.Load(ctx, "s", tok, t0) // any verdict, no panic
		if err := st.Delete(ctx, "s", &rec, t0); err != nil && !errors.Is(err, driver.ErrNotFound) {
			t.Fatalf("Destroy: %v (ErrNotFound: it had ended already)", err)
		}
		if _, err := st.Load(ctx, "s", tok, t0); !errors.Is(err, driver.ErrInvalid) && !errors.Is(err, driver.ErrMoved) {
			t.Fatalf("after Destroy: Load = %v, want ErrInvalid (revoked) or ErrMoved (superseded)", err)
		}
	})
}

// clocked is a site whose Manager and memory backend read a clock the test
// moves.
type clocked struct {
	*site
	now *time.Time
	b   serverstore.Backend
}

func newClocked(t testing.TB, mopts []session.Option, opts ...cookiestore.Option) *clocked {
	t.Helper()
	now := time.Unix(1764201600, 500_000_000)
	clock := func() time.Time { return now }
	b := serverstore.NewMemory(serverstore.WithClock(clock))
	st := must(cookiestore.New([][]byte{bytes.Repeat([]byte{7}, 32)}, append([]cookiestore.Option{cookiestore.WithRevocation(b)}, opts...)...))
	logs := &bytes.Buffer{}
	m := must(session.New(st, append([]session.Option{session.WithIdentityKey("user"), session.WithClock(clock),
		session.WithLogger(slog.New(slog.NewTextHandler(logs, nil)))}, mopts...)...))
	c := &clocked{now: &now, b: b}
	c.site = &site{logs: logs, h: m.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s := session.From(r)
		switch r.URL.Path {
		case "/in":
			s.Set("user", "ann")
		case "/rotate":
			s.Regenerate(true)
		case "/out-by-identity":
			s.Delete("user")
		case "/out":
			s.Destroy()
		}
		u, _ := session.Get[string](s, "user")
		io.WriteString(w, u)
	}))}
	return c
}

func (c *clocked) wait(d time.Duration) { *c.now = c.now.Add(d) }

// TestRevocationOutlivesIdleRefreshes: with an idle timeout shorter than
// the check interval, a copy used between its checks keeps refreshing its
// idle deadline; the revocation must last until its next check.
func TestRevocationOutlivesIdleRefreshes(t *testing.T) {
	t.Parallel()
	c := newClocked(t, []session.Option{session.WithIdleTimeout(30 * time.Second), session.WithLifetime(12 * time.Hour)})
	_, _, cookie := c.get("/in", nil)
	copied := cookie
	c.get("/out", cookie)
	for range 20 { // a request every 20 s for 400 s: refreshed each time it is half idle
		c.wait(20 * time.Second)
		_, user, set := c.get("/", copied)
		if user == "ann" && set != nil {
			copied = set
		}
		if user == "" {
			return
		}
	}
	t.Fatalf("a copy destroyed 400 s ago, refreshed every 20 s, is still signed in:\n%s", c.logs)
}

// TestFutureCheckedAtIsChecked: a cookie a server with a fast clock sealed
// (checked-at ahead of this server's clock) is checked, not trusted.
func TestFutureCheckedAtIsChecked(t *testing.T) {
	t.Parallel()
	c := newClocked(t, nil, cookiestore.WithCheckInterval(cookiestore.MaxCheckInterval))
	c.wait(9 * time.Minute) // a server 9 minutes ahead signs in
	_, _, cookie := c.get("/in", nil)
	c.wait(-9 * time.Minute)
	c.get("/out", cookie)
	if _, user, _ := c.get("/", cookie); user != "" {
		t.Fatalf("a copy checked-at 9 min in the future is signed in after Destroy")
	}
}

// TestOverflowKeepsTheRotatedSession: past MaxRevoked entries the record
// turns into a not-before time, which keeps the session of the request
// that overflowed it.
func TestOverflowKeepsTheRotatedSession(t *testing.T) {
	t.Parallel()
	c := newClocked(t, nil)
	_, _, cookie := c.get("/in", nil)
	for i := range cookiestore.MaxRevoked + 2 {
		_, user, set := c.get("/rotate", cookie)
		if user != "ann" || set == nil {
			t.Fatalf("rotation %d: user %q, cookie %v", i, user, set)
		}
		cookie = set
	}
	c.wait(time.Minute)
	if _, user, _ := c.get("/", cookie); user != "ann" {
		t.Fatalf("after %d rotations, the current session is signed out", cookiestore.MaxRevoked+2)
	}
}

// TestMalformedRecordIsRepaired: a record this version cannot read makes
// its user's checks fail (closed) until a Destroy or EndAll rewrites it.
func TestMalformedRecordIsRepaired(t *testing.T) {
	t.Parallel()
	c := newClocked(t, nil, cookiestore.WithCheckInterval(0))
	_, _, cookie := c.get("/in", nil)
	c.wait(2 * time.Second)
	if err := c.b.Create(context.Background(), cookiestore.RevocationKey("ann"), &serverstore.Entry{Meta: make18(),
		Values: map[string][]byte{"s:bad": {1}}}, c.now.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if code, _, _ := c.get("/", cookie); code != http.StatusServiceUnavailable {
		t.Fatalf("a malformed record: %d, want 503 (fail closed)", code)
	}
	st := must(cookiestore.New([][]byte{bytes.Repeat([]byte{7}, 32)}, cookiestore.WithRevocation(c.b)))
	if _, err := st.EndAll(context.Background(), "ann", "", *c.now); err != nil {
		t.Fatalf("EndAll over a malformed record: %v", err)
	}
	c.wait(2 * time.Second)
	if code, user, _ := c.get("/", cookie); code != 200 || user != "" {
		t.Fatalf("after the repair: %d, user %q; want 200 and the session ended", code, user)
	}
	_, _, fresh := c.get("/in", nil)
	if code, user, _ := c.get("/", fresh); code != 200 || user != "ann" {
		t.Fatalf("a sign-in after the repair: %d, user %q", code, user)
	}
}

// TestEndAllKeepsThroughARotation: "sign out everywhere else" asked by a
// request that still carries the cookie a rotation superseded keeps the
// session the rotation moved to.
func TestEndAllKeepsThroughARotation(t *testing.T) {
	t.Parallel()
	c := newClocked(t, nil, cookiestore.WithCheckInterval(0))
	_, _, cookie := c.get("/in", nil)
	_, _, other := c.get("/in", nil)
	c.wait(2 * time.Second)
	st := must(cookiestore.New([][]byte{bytes.Repeat([]byte{7}, 32)}, cookiestore.WithRevocation(c.b)))
	// The handle of the session as the old cookie names it.
	var handle string
	h := must(session.New(st, session.WithIdentityKey("user"), session.WithClock(func() time.Time { return *c.now }),
		session.WithLogger(slog.New(slog.DiscardHandler)))).Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		handle = st.Handle(session.From(r).ID())
	}))
	r := httptest.NewRequest("GET", "http://localhost/", nil)
	r.AddCookie(cookie)
	h.ServeHTTP(httptest.NewRecorder(), r)
	_, _, rotated := c.get("/rotate", cookie)
	if _, err := st.EndAll(context.Background(), "ann", handle, *c.now); err != nil {
		t.Fatal(err)
	}
	c.wait(time.Second)
	if _, user, _ := c.get("/", rotated); user != "ann" {
		t.Fatal("the session EndAll kept, by the handle before its rotation, is signed out")
	}
	if _, user, _ := c.get("/", other); user != "" {
		t.Fatal("another session survived EndAll")
	}
}

// TestLostSignOutResponseDoesNotLockOut: a browser that never got the
// response of its sign-out (it holds the superseded cookie) can sign in
// again after 10 minutes, as in server mode, not only at the cookie's
// deadline.
func TestLostSignOutResponseDoesNotLockOut(t *testing.T) {
	t.Parallel()
	c := newClocked(t, nil, cookiestore.WithCheckInterval(0))
	_, _, cookie := c.get("/in", nil)
	c.get("/out-by-identity", cookie) // its response is lost: the browser keeps cookie
	c.wait(11 * time.Minute)
	_, _, again := c.get("/in", cookie)
	if again == nil {
		t.Fatal("a sign-in 11 minutes after a lost sign-out response set no cookie")
	}
	if _, user, _ := c.get("/", again); user != "ann" {
		t.Fatalf("signed in as %q after signing in again", user)
	}
}

// TestSupersededWithEndedSuccessor: within the grace of a rotation, a copy
// of the old cookie is refused once the session it moved to was ended.
func TestSupersededWithEndedSuccessor(t *testing.T) {
	t.Parallel()
	c := newClocked(t, nil, cookiestore.WithCheckInterval(0), cookiestore.WithGrace(time.Minute))
	_, _, cookie := c.get("/in", nil)
	_, _, rotated := c.get("/rotate", cookie)
	c.get("/out", rotated)
	c.wait(5 * time.Second)
	if _, user, _ := c.get("/", cookie); user != "" {
		t.Fatalf("a copy from before the rotation reads %q after the rotated session was destroyed", user)
	}
}

// TestSignInGuardFailsOpen: with WithFailOpen, a sign-in whose guard
// record cannot be written goes on.
func TestSignInGuardFailsOpen(t *testing.T) {
	t.Parallel()
	b := &outage{Backend: serverstore.NewMemory()}
	s := newSite(t, b, cookiestore.WithSignInGuard(), cookiestore.WithFailOpen())
	_, _, anon := s.get("/cart", nil)
	b.down.Store(true)
	if code, user, _ := s.get("/in", anon); code != 200 || user != "ann" {
		t.Fatalf("a sign-in with the store down, fail open: %d %q", code, user)
	}
	closed := newSite(t, b, cookiestore.WithSignInGuard())
	b.down.Store(false)
	_, _, anon = closed.get("/cart", nil)
	b.down.Store(true)
	if code, _, _ := closed.get("/in", anon); code != http.StatusServiceUnavailable {
		t.Fatalf("a sign-in with the store down, fail closed: %d, want 503", code)
	}
}
