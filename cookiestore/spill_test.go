package cookiestore_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/crumbs-go/session"
	"github.com/crumbs-go/session/cookiestore"
	"github.com/crumbs-go/session/driver"
	"github.com/crumbs-go/session/serverstore"
	"github.com/crumbs-go/session/serverstore/storetest"
)

// spillRig is a Manager over a Spill on the memory backend, with a clock
// the test moves, and a handler that runs the op a request names.
type spillRig struct {
	t       *testing.T
	mu      sync.Mutex
	now     time.Time
	spill   *cookiestore.Spill
	server  *serverstore.Store
	backend serverstore.Backend
	h       http.Handler
	hold    chan struct{} // op=hold blocks on it after its load
	loaded  chan struct{} // op=hold signals it after its load
}

var spillSecrets = [][]byte{[]byte("0123456789abcdef0123456789abcdef-spill")}

func newSpillRig(t *testing.T, opts ...cookiestore.SpillOption) *spillRig {
	t.Helper()
	r := &spillRig{t: t, now: time.Now().Truncate(time.Second), hold: make(chan struct{}), loaded: make(chan struct{}, 8)}
	r.backend = serverstore.NewMemory()
	var err error
	if r.server, err = serverstore.New(r.backend, spillSecrets); err != nil {
		t.Fatal(err)
	}
	cookie, err := cookiestore.New(spillSecrets)
	if err != nil {
		t.Fatal(err)
	}
	if r.spill, err = cookiestore.NewSpill(cookie, r.server, opts...); err != nil {
		t.Fatal(err)
	}
	m, err := session.New(r.spill, session.WithCookieName("sid"), session.WithClock(r.clock),
		session.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))
	if err != nil {
		t.Fatal(err)
	}
	r.h = m.Handler(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		s := session.From(req)
		q := req.URL.Query()
		switch q.Get("op") {
		case "set":
			n, _ := strconv.Atoi(q.Get("n"))
			s.Set(q.Get("k"), noise(n)) // incompressible: n bytes sealed
		case "del":
			s.Delete(q.Get("k"))
		case "hold": // load, wait, then set
			s.Len()
			r.loaded <- struct{}{}
			<-r.hold
			s.Set(q.Get("k"), "late")
		case "destroy":
			s.Destroy()
		case "regenerate":
			s.Regenerate(true)
		}
		keys := s.Keys()
		slices.Sort(keys)
		for _, k := range keys {
			v, _ := s.Get(k).(string)
			fmt.Fprintf(w, "%s=%d ", k, len(v))
		}
	}))
	return r
}

// noise is n bytes that do not compress.
func noise(n int) string {
	rng := rand.New(rand.NewPCG(uint64(n), 7))
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	b := make([]byte, n)
	for i := range b {
		b[i] = alphabet[rng.IntN(len(alphabet))]
	}
	return string(b)
}

func (r *spillRig) clock() time.Time { r.mu.Lock(); defer r.mu.Unlock(); return r.now }
func (r *spillRig) advance(d time.Duration) {
	r.mu.Lock()
	r.now = r.now.Add(d)
	r.mu.Unlock()
}

// A jar is the cookies a browser holds, by name.
type jar map[string]string

func (j jar) header() string {
	var parts []string
	for _, k := range slices.Sorted(func(yield func(string) bool) {
		for k := range j {
			if !yield(k) {
				return
			}
		}
	}) {
		parts = append(parts, k+"="+j[k])
	}
	return strings.Join(parts, "; ")
}

func (j jar) clone() jar {
	out := jar{}
	for k, v := range j {
		out[k] = v
	}
	return out
}

// do sends a request with the jar's cookies, applies the response's to it,
// and returns the body and whether the response set or expired a cookie.
func (r *spillRig) do(j jar, query string) (body string, touched bool) {
	r.t.Helper()
	body, touched, err := r.send(j, query)
	if err != nil {
		r.t.Fatal(err)
	}
	return body, touched
}

// send is do for another goroutine than the test's: it returns the error.
func (r *spillRig) send(j jar, query string) (body string, touched bool, err error) {
	req := httptest.NewRequest("GET", "/?"+query, nil)
	if h := j.header(); h != "" {
		req.Header.Set("Cookie", h)
	}
	w := httptest.NewRecorder()
	r.h.ServeHTTP(w, req)
	if w.Code != http.StatusOK {
		return "", false, fmt.Errorf("%s: status %d: %s", query, w.Code, w.Body)
	}
	for _, c := range w.Result().Cookies() {
		touched = true
		if c.MaxAge < 0 {
			delete(j, c.Name)
		} else {
			j[c.Name] = c.Value
		}
	}
	return w.Body.String(), touched, nil
}

// form says where the session of j lives: "cookie" (sealed, no record),
// "server" (a signed ID), "returning" (sealed, its record marked), and its
// ID.
func (r *spillRig) form(j jar) (form, id string) {
	r.t.Helper()
	tok := j["sid"]
	if rec, err := r.server.Load(context.Background(), "sid", tok, r.clock()); err == nil || errors.Is(err, driver.ErrMoved) {
		return "server", rec.ID
	}
	if _, ok := j["sid.1"]; ok {
		r.t.Fatalf("the browser holds chunk cookies: %v", j)
	}
	c, err := cookiestore.New(spillSecrets)
	if err != nil {
		r.t.Fatal(err)
	}
	rec, err := c.Load(context.Background(), "sid", tok, r.clock())
	if err != nil {
		r.t.Fatalf("the browser's cookie is neither form: %v", err)
	}
	e, err := r.backend.Get(context.Background(), r.server.Key(rec.ID))
	switch {
	case errors.Is(err, serverstore.ErrNotFound), errors.Is(err, serverstore.ErrMoved):
		return "cookie", rec.ID
	case err != nil:
		r.t.Fatal(err)
	}
	if _, ok := e.Values["\x00crumbs.returning"]; ok {
		return "returning", rec.ID
	}
	r.t.Fatalf("a sealed cookie whose record is live and not returning: %q", e.Values)
	return "", ""
}

func (r *spillRig) wantForm(j jar, want string) string {
	r.t.Helper()
	got, id := r.form(j)
	if got != want {
		r.t.Fatalf("the session is in the %s form, want %s", got, want)
	}
	return id
}

// recordState is what the backend holds under id: "none", "live",
// "tombstone:SUCCESSOR".
func (r *spillRig) recordState(id string) string {
	r.t.Helper()
	e, err := r.backend.Get(context.Background(), r.server.Key(id))
	switch {
	case errors.Is(err, serverstore.ErrNotFound):
		return "none"
	case errors.Is(err, serverstore.ErrMoved):
		return "tombstone:" + e.Successor
	case err != nil:
		r.t.Fatal(err)
	}
	return "live"
}

// TestSpillGrowAndShrink: a session moves to the server when it outgrows
// the spill mark and back when it shrinks under the return mark, and the
// record ends after the grace; the values and deadlines are the same
// whatever the form.
func TestSpillGrowAndShrink(t *testing.T) {
	r := newSpillRig(t)
	j := jar{}
	if body, _ := r.do(j, "op=set&k=a&n=100"); body != "a=100 " {
		t.Fatalf("body %q", body)
	}
	id := r.wantForm(j, "cookie")
	if s := r.recordState(id); s != "none" {
		t.Fatalf("a cookie-form session has a record: %s", s)
	}
	// Past the mark (3800 bytes sealed, by default), it moves out.
	if body, _ := r.do(j, "op=set&k=b&n=6000"); body != "a=100 b=6000 " {
		t.Fatalf("body %q", body)
	}
	if got := r.wantForm(j, "server"); got != id {
		t.Fatalf("the ID changed on the move: %s, want %s", got, id)
	}
	old := j.clone()
	if body, _ := r.do(j, ""); body != "a=100 b=6000 " {
		t.Fatalf("after the move: %q", body)
	}
	// A little smaller, above the return mark: it stays.
	r.do(j, "op=set&k=b&n=3000")
	r.wantForm(j, "server")
	// Under the return mark (1900), it comes back, marked.
	if body, _ := r.do(j, "op=del&k=b"); body != "a=100 " {
		t.Fatalf("body %q", body)
	}
	r.wantForm(j, "returning")
	if body, _ := r.do(j, "op=set&k=c&n=10"); body != "a=100 c=10 " {
		t.Fatalf("body %q", body)
	}
	r.wantForm(j, "returning")
	// After the grace, the next save ends the record.
	r.advance(cookiestore.ReturnGrace + time.Second)
	if body, _ := r.do(j, "op=set&k=d&n=10"); body != "a=100 c=10 d=10 " {
		t.Fatalf("body %q", body)
	}
	r.wantForm(j, "cookie")
	if s := r.recordState(id); s != "tombstone:crumbs-cookie" {
		t.Fatalf("after the grace the record is %s, want its tombstone", s)
	}
	// The ID cookie from before the return names a retired ID: a fresh
	// session, and the browser's cookie is left alone.
	if body, touched := r.do(old, "op=set&k=z&n=1"); body != "z=1 " || touched {
		t.Fatalf("the old ID cookie read %q and touched its cookie: %v", body, touched)
	}
	if body, _ := r.do(j, ""); body != "a=100 c=10 d=10 " {
		t.Fatalf("after the old ID's request: %q", body)
	}
	// It grows again past the mark: out again, under the same ID.
	r.do(j, "op=set&k=b&n=6000")
	if got := r.wantForm(j, "server"); got != id {
		t.Fatalf("the ID changed on the second move: %s", got)
	}
	if body, _ := r.do(j, ""); body != "a=100 b=6000 c=10 d=10 " {
		t.Fatalf("after the second move: %q", body)
	}
}

// TestSpillStaleCookieAfterMoveOut: a request that read the cookie form
// and saves after a parallel request moved the session out changes the
// record; it does not write its cookie over the ID.
func TestSpillStaleCookieAfterMoveOut(t *testing.T) {
	r := newSpillRig(t)
	j := jar{}
	r.do(j, "op=set&k=a&n=10")
	r.wantForm(j, "cookie")
	errc := make(chan error, 1)
	go func() { _, _, err := r.send(j.clone(), "op=hold&k=x"); errc <- err }()
	<-r.loaded // it read the cookie form
	r.do(j, "op=set&k=b&n=6000")
	r.wantForm(j, "server")
	r.hold <- struct{}{}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	if body, _ := r.do(j, ""); body != "a=10 b=6000 x=4 " {
		t.Fatalf("after a stale cookie-form save: %q", body)
	}
}

// TestSpillLateWriterAfterReturn: a request that read the server form and
// saves after a parallel request moved the session back into the cookie
// loses nothing: the cookie form reads it during the grace, and keeps it
// after.
func TestSpillLateWriterAfterReturn(t *testing.T) {
	r := newSpillRig(t)
	j := jar{}
	r.do(j, "op=set&k=a&n=10")
	r.do(j, "op=set&k=b&n=6000")
	r.wantForm(j, "server")
	errc := make(chan error, 1)
	go func() { _, _, err := r.send(j.clone(), "op=hold&k=x"); errc <- err }()
	<-r.loaded // it read the server form
	r.do(j, "op=del&k=b")
	r.wantForm(j, "returning")
	r.hold <- struct{}{}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	if body, _ := r.do(j, ""); body != "a=10 x=4 " {
		t.Fatalf("within the grace, the cookie form reads %q", body)
	}
	r.advance(cookiestore.ReturnGrace + time.Second)
	r.do(j, "op=set&k=c&n=1")
	r.wantForm(j, "cookie")
	if body, _ := r.do(j, ""); body != "a=10 c=1 x=4 " {
		t.Fatalf("after the grace: %q", body)
	}
}

// TestSpillDestroyInCookieForm: a request that read the cookie form and
// saves after a Destroy is refused, and brings nothing back.
func TestSpillDestroyInCookieForm(t *testing.T) {
	r := newSpillRig(t)
	j := jar{}
	r.do(j, "op=set&k=a&n=10")
	id := r.wantForm(j, "cookie")
	old := j.clone()
	r.do(j, "op=destroy")
	if _, ok := j["sid"]; ok {
		t.Fatal("the Destroy left the cookie")
	}
	if s := r.recordState(id); s != "tombstone:crumbs-ended" {
		t.Fatalf("after a Destroy in the cookie form the record is %s", s)
	}
	r.do(old, "op=set&k=b&n=10")
	if _, ok := old["sid"]; ok {
		t.Fatal("a save through a copy of the destroyed cookie kept a cookie")
	}
	if s := r.recordState(id); s != "tombstone:crumbs-ended" {
		t.Fatalf("after the late save the record is %s", s)
	}
}

// TestSpillRegenerate: a Regenerate works in either form, and a request
// that still carries the old cookie and saves is refused, leaving the new
// one alone.
func TestSpillRegenerate(t *testing.T) {
	for _, size := range []int{10, 6000} {
		t.Run(strconv.Itoa(size), func(t *testing.T) {
			r := newSpillRig(t)
			j := jar{}
			r.do(j, "op=set&k=a&n="+strconv.Itoa(size))
			_, id := r.form(j)
			old := j.clone()
			r.do(j, "op=regenerate")
			_, next := r.form(j)
			if next == id {
				t.Fatal("the ID did not change")
			}
			want := fmt.Sprintf("a=%d ", size)
			if body, _ := r.do(j, ""); body != want {
				t.Fatalf("after the Regenerate: %q", body)
			}
			if _, touched := r.do(old, "op=set&k=z&n=1"); touched {
				t.Fatal("a save through the old cookie touched the cookie")
			}
			if body, _ := r.do(j, ""); body != want {
				t.Fatalf("after the old cookie's save: %q", body)
			}
		})
	}
}

// TestSpillConformance runs the conformance suite's scenarios of what
// users see over a Spill on the memory backend, every session on the
// server (spill mark 0): as server mode does.
func TestSpillConformance(t *testing.T) {
	storetest.RunSpill(t, func(t *testing.T) serverstore.Backend { return serverstore.NewMemory() }, cookiestore.WithSpillAt(0))
}

// TestSpillLogoutThroughOldCookie: a Destroy through the cookie from
// before a Regenerate (a logout that raced the login) ends the session
// the login moved to, in either form: its next save is refused.
func TestSpillLogoutThroughOldCookie(t *testing.T) {
	for _, size := range []int{10, 6000} {
		t.Run(strconv.Itoa(size), func(t *testing.T) {
			r := newSpillRig(t)
			j := jar{}
			r.do(j, "op=set&k=a&n="+strconv.Itoa(size))
			old := j.clone()
			r.do(j, "op=regenerate")
			_, next := r.form(j)
			r.do(old, "op=destroy")
			if s := r.recordState(next); s != "tombstone:crumbs-ended" {
				t.Fatalf("the session the login moved to is %s after the logout", s)
			}
			// Its next save is refused (a cookie-form session reads what its
			// cookie holds until then, as in cookie mode), or it loads as
			// gone: the values never come back.
			r.do(j, "op=set&k=b&n=1")
			if body, _ := r.do(j, ""); strings.Contains(body, "a=") {
				t.Fatalf("after the logout, the login's session reads %q", body)
			}
		})
	}
}

// TestOpenSpill: the configuration string "cookie+" before a server
// store's, with the marks and the cookie store's parameters among the
// server store's.
func TestOpenSpill(t *testing.T) {
	ctx := context.Background()
	st, err := session.OpenStore(ctx, "cookie+memory?crumbs_spill_at=1000&crumbs_max_entries=50&crumbs_return_at=100&crumbs_cipher=aes-256-gcm", spillSecrets)
	if err != nil {
		t.Fatal(err)
	}
	sp, ok := st.(*cookiestore.Spill)
	if !ok || sp.SpillAt() != 1000 || sp.ReturnAt() != 100 {
		t.Fatalf("OpenStore = %T %+v", st, st)
	}
	sp.Close()
	if st, err = session.OpenStore(ctx, "cookie+memory", spillSecrets); err != nil || st.(*cookiestore.Spill).SpillAt() != cookiestore.DefaultSpillAt || st.(*cookiestore.Spill).ReturnAt() != cookiestore.DefaultSpillAt/2 {
		t.Fatalf("the defaults: %v", err)
	}
	for config, want := range map[string]string{
		"cookie+":                              "before a server store's",
		"cookie+cookie":                        "no server store registered",
		"cookie+nosuch://x":                    "no server store registered",
		"cookie+memory?crumbs_spill_at=x":      "crumbs_spill_at",
		"cookie+memory?crumbs_spill_at=-1":     "WithSpillAt(-1)",
		"cookie+memory?crumbs_return_at=4000":  "must be under the spill mark",
		"cookie+memory?crumbs_cipher=rot13":    "crumbs_cipher",
		"cookie+memory?crumbs_no_such=1":       "crumbs_no_such",
		"cookie+memory?crumbs_spill_at=100000": "WithSpillAt(100000)",
	} {
		if _, err := session.OpenStore(ctx, config, spillSecrets); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("OpenStore(%q) = %v, want an error naming %q", config, err, want)
		}
	}
}
