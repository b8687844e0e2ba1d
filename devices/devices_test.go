package devices_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/crumbs-go/session"
	"github.com/crumbs-go/session/cookiestore"
	"github.com/crumbs-go/session/devices"
	"github.com/crumbs-go/session/serverstore"
)

var secrets = [][]byte{bytes.Repeat([]byte("d"), 32)}

// app is a Manager over a memory store that binds sessions to "user".
type app struct {
	m   *session.Manager
	idx *devices.Index
}

func newApp(t testing.TB, opts []serverstore.Option, mopts ...session.Option) *app {
	t.Helper()
	store, err := serverstore.New(serverstore.NewMemory(), secrets, opts...)
	if err != nil {
		t.Fatal(err)
	}
	m, err := session.New(store, append([]session.Option{session.WithIdentityKey("user")}, mopts...)...)
	if err != nil {
		t.Fatal(err)
	}
	idx, err := devices.New(store)
	if err != nil {
		t.Fatal(err)
	}
	return &app{m: m, idx: idx}
}

// do serves one request with cookie, running f on its session; it returns
// the cookie the browser holds afterwards.
func (a *app) do(cookie string, r *http.Request, f func(*session.Session)) string {
	if r == nil {
		r = httptest.NewRequest("GET", "http://localhost/", nil)
	}
	if cookie != "" {
		r.Header.Set("Cookie", cookie)
	}
	w := httptest.NewRecorder()
	a.m.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f(session.From(r))
		io.WriteString(w, "ok")
	})).ServeHTTP(w, r)
	for _, c := range w.Result().Cookies() {
		if c.MaxAge < 0 {
			return ""
		}
		cookie = c.Name + "=" + c.Value
	}
	return cookie
}

// TestIdentityValueKinds: a session binds to its identity value when that
// is a string or an integer (whatever the codec reads it back as); any
// other value binds it to no user.
func TestIdentityValueKinds(t *testing.T) {
	type userID int64
	long := strings.Repeat("u", 256)
	for _, codec := range []session.Codec{session.JSON, session.Gob} {
		for _, tc := range []struct {
			v    any
			user string // "" for unbound
		}{
			{"ada", "ada"},
			{42, "42"},
			{int64(-7), "-7"},
			{userID(9007199254740993), "9007199254740993"},
			{uint32(5), "5"},
			{4.5, ""},
			{true, ""},
			{[]string{"ada"}, ""},
			{"", ""},
			{long, ""},
			{long[:255], long[:255]},
		} {
			if _, named := tc.v.(userID); named && codec == session.Gob {
				continue // Gob needs gob.Register for a named type in a map of any
			}
			t.Run(fmt.Sprintf("%T/%T/%.10v", codec, tc.v, tc.v), func(t *testing.T) {
				a := newApp(t, nil, session.WithCodec(codec))
				cookie := a.do("", nil, func(s *session.Session) { s.Set("user", tc.v) })
				// A second request reads the value back through the codec and
				// changes another: the binding stays.
				a.do(cookie, nil, func(s *session.Session) { s.Set("theme", "dark") })
				if tc.user == "" {
					return // nothing to list; checked below with a listing of every candidate
				}
				ds, err := a.idx.List(context.Background(), tc.user)
				if err != nil || len(ds) != 1 {
					t.Fatalf("List(%q) = %v, %v; want the one session", tc.user, ds, err)
				}
			})
		}
	}
	// Unbound values list nowhere, not even under their printed form.
	a := newApp(t, nil)
	a.do("", nil, func(s *session.Session) { s.Set("user", 4.5) })
	a.do("", nil, func(s *session.Session) { s.Set("user", true) })
	for _, u := range []string{"4.5", "true", "4"} {
		if ds, _ := a.idx.List(context.Background(), u); len(ds) != 0 {
			t.Errorf("List(%q) = %v: a float or a bool bound a session", u, ds)
		}
	}
}

// TestClientDetails: the User-Agent and address are kept only with
// WithClientDetails; behind a trusted proxy the address is the one it
// forwarded.
func TestClientDetails(t *testing.T) {
	req := func() *http.Request {
		r := httptest.NewRequest("GET", "http://localhost/", nil)
		r.RemoteAddr = "10.0.0.2:4711"
		r.Header.Set("User-Agent", "Firefox/140 "+strings.Repeat("x", 300))
		r.Header.Set("X-Forwarded-For", "198.51.100.7, 203.0.113.9")
		return r
	}
	for _, tc := range []struct {
		name         string
		opts         []serverstore.Option
		trust        bool
		agent, addr  string
		agentLenWant int
	}{
		{"off", nil, false, "", "", 0},
		{"on", []serverstore.Option{serverstore.WithClientDetails()}, false, "Firefox/140 ", "10.0.0.2", 255},
		{"on behind a proxy", []serverstore.Option{serverstore.WithClientDetails()}, true, "Firefox/140 ", "203.0.113.9", 255},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := newApp(t, tc.opts, session.WithTrustProxy(tc.trust))
			a.do("", req(), func(s *session.Session) { s.Set("user", "ada") })
			ds, err := a.idx.List(context.Background(), "ada")
			if err != nil || len(ds) != 1 {
				t.Fatalf("List = %v, %v", ds, err)
			}
			d := ds[0]
			if !strings.HasPrefix(d.UserAgent, tc.agent) || len(d.UserAgent) != tc.agentLenWant || d.Addr != tc.addr {
				t.Fatalf("listed agent %q (%d bytes), address %q; want %q… (%d bytes), %q", d.UserAgent, len(d.UserAgent), d.Addr, tc.agent, tc.agentLenWant, tc.addr)
			}
		})
	}
}

// TestNewRefusesStoresWithoutAnIndex: cookie mode keeps no index, and
// without a revocation store it cannot end sessions either.
func TestNewRefusesStoresWithoutAnIndex(t *testing.T) {
	cs, err := cookiestore.New(secrets)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := devices.New(cs); err == nil || !strings.Contains(err.Error(), "server store") {
		t.Fatalf("devices.New(cookie store) = %v; want an error that names server stores", err)
	}
	// A server store over a backend without an index.
	s, err := serverstore.New(noIndex{serverstore.NewMemory()}, secrets)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := devices.New(s); !errors.Is(err, errors.ErrUnsupported) {
		t.Fatalf("devices.New(a backend without an index) = %v; want errors.ErrUnsupported", err)
	}
	a := newApp(t, nil)
	if _, err := a.idx.List(context.Background(), ""); err == nil {
		t.Fatal("List of the empty user succeeded")
	}
	if _, err := a.idx.EndAll(context.Background(), "", ""); err == nil {
		t.Fatal("EndAll of the empty user succeeded")
	}
}

// noIndex is a Backend that keeps no per-user index.
type noIndex struct{ serverstore.Backend }

// TestHandleIsNotTheID: a handle names a session without giving its ID or
// its storage key away, and is stable across requests.
func TestHandleIsNotTheID(t *testing.T) {
	a := newApp(t, nil)
	var id, h1, h2 string
	cookie := a.do("", nil, func(s *session.Session) { s.Set("user", "ada"); id = s.ID() })
	a.do(cookie, nil, func(s *session.Session) { h1 = a.idx.Handle(s) })
	a.do(cookie, nil, func(s *session.Session) { s.Set("n", 1); h2 = a.idx.Handle(s) })
	if h1 != h2 || len(h1) != 22 {
		t.Fatalf("handles %q, %q: want one stable 22-character handle", h1, h2)
	}
	if strings.Contains(id, h1) || strings.Contains(cookie, h1) {
		t.Fatal("the handle is part of the ID or the cookie")
	}
}
