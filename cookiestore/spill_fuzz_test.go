package cookiestore_test

import (
	"encoding/binary"
	"fmt"
	"io"
	"log/slog"
	"maps"
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
	"github.com/crumbs-go/session/serverstore"
)

// moves is one browser against a Manager over a Spill (spill mark 1200,
// return mark 600) on the memory backend, with a clock the scenario moves.
type moves struct {
	t       *testing.T
	mu      sync.Mutex
	now     time.Time
	backend *serverstore.Memory
	server  *serverstore.Store
	h       http.Handler
	cookies map[string]string
	loaded  chan string // a held request's form after its load
	release chan struct{}
}

func newMoves(t *testing.T) *moves {
	m := &moves{t: t, now: time.Unix(1_800_000_000, 0), cookies: map[string]string{}, loaded: make(chan string, 1), release: make(chan struct{})}
	m.backend = serverstore.NewMemory(serverstore.WithClock(m.clock))
	var err error
	if m.server, err = serverstore.New(m.backend, spillSecrets); err != nil {
		t.Fatal(err)
	}
	cookie, err := cookiestore.New(spillSecrets)
	if err != nil {
		t.Fatal(err)
	}
	sp, err := cookiestore.NewSpill(cookie, m.server, cookiestore.WithSpillAt(1200))
	if err != nil {
		t.Fatal(err)
	}
	mgr, err := session.New(sp, session.WithCookieName("sid"), session.WithClock(m.clock), session.WithLifetime(30*24*time.Hour),
		session.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))
	if err != nil {
		t.Fatal(err)
	}
	m.h = mgr.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s := session.From(r)
		q := r.URL.Query()
		k := q.Get("k")
		switch q.Get("op") {
		case "set":
			n, _ := strconv.Atoi(q.Get("n"))
			s.Set(k, noiseOf(k, n))
		case "del":
			s.Delete(k)
		case "destroy":
			s.Destroy()
		case "regenerate":
			s.Regenerate(true)
		case "twice": // two commits in one request
			n, _ := strconv.Atoi(q.Get("n"))
			s.Set(k, noiseOf(k, n))
			if err := s.Save(); err != nil {
				http.Error(w, err.Error(), http.StatusInternalServerError)
				return
			}
			s.Set(q.Get("k2"), noiseOf(q.Get("k2"), 10))
		case "clearset":
			n, _ := strconv.Atoi(q.Get("n"))
			s.Clear()
			s.Set(k, noiseOf(k, n))
		case "hold":
			s.Len()
			m.loaded <- q.Get("form")
			<-m.release
			s.Set(k, noiseOf(k, 10))
		}
		for _, key := range slices.Sorted(slices.Values(s.Keys())) {
			v, _ := s.Get(key).(string)
			fmt.Fprintf(w, "%s=%d ", key, len(v))
		}
	}))
	return m
}

func (m *moves) clock() time.Time { m.mu.Lock(); defer m.mu.Unlock(); return m.now }

// noiseOf is n bytes that do not compress, the same for the same key and
// length.
func noiseOf(key string, n int) string {
	rng := rand.New(rand.NewPCG(uint64(n), uint64(len(key))+uint64(key[0])))
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	b := make([]byte, n)
	for i := range b {
		b[i] = alphabet[rng.IntN(len(alphabet))]
	}
	return string(b)
}

// send makes a request with the browser's cookies (a copy of them, taken
// now) and applies the response's cookies when apply is set.
func (m *moves) send(query string, jar map[string]string) (body string, set map[string]*http.Cookie, err error) {
	req := httptest.NewRequest("GET", "/?"+query, nil)
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(jar)) {
		parts = append(parts, k+"="+jar[k])
	}
	if len(parts) > 0 {
		req.Header.Set("Cookie", strings.Join(parts, "; "))
	}
	w := httptest.NewRecorder()
	m.h.ServeHTTP(w, req)
	if w.Code != http.StatusOK {
		return "", nil, fmt.Errorf("%s: status %d: %s", query, w.Code, w.Body)
	}
	set = map[string]*http.Cookie{}
	for _, c := range w.Result().Cookies() {
		set[c.Name] = c
	}
	return w.Body.String(), set, nil
}

func (m *moves) apply(set map[string]*http.Cookie) {
	for name, c := range set {
		if c.MaxAge < 0 {
			delete(m.cookies, name)
		} else {
			m.cookies[name] = c.Value
		}
	}
}

func (m *moves) do(query string) string {
	m.t.Helper()
	body, set, err := m.send(query, maps.Clone(m.cookies))
	if err != nil {
		m.t.Fatal(err)
	}
	m.apply(set)
	return body
}

// cookieOnly reports that the browser's session is sealed in its cookie,
// and read from it: no live record, or one whose return's grace is over.
func (m *moves) cookieOnly() bool {
	tok, ok := m.cookies["sid"]
	if !ok {
		return true
	}
	if _, err := m.server.Load(m.t.Context(), "sid", tok, m.clock()); err == nil {
		return false // a signed ID
	}
	c, err := cookiestore.New(spillSecrets)
	if err != nil {
		m.t.Fatal(err)
	}
	rec, err := c.Load(m.t.Context(), "sid", tok, m.clock())
	if err != nil {
		m.t.Fatalf("the browser's cookie is neither form: %v", err)
	}
	e, err := m.backend.Get(m.t.Context(), m.server.Key(rec.ID))
	if err != nil {
		return true
	}
	// A live record: the session is read from it, unless it is returning
	// and the grace is over (loads read the cookie then, and the next save
	// ends the record).
	v := e.Values["\x00crumbs.returning"]
	if len(v) < 8 {
		return false
	}
	since := time.UnixMilli(int64(binary.BigEndian.Uint64(v[len(v)-8:])))
	return !m.clock().Before(since.Add(cookiestore.ReturnGrace))
}

func render(model map[string]int) string {
	var b strings.Builder
	for _, k := range slices.Sorted(maps.Keys(model)) {
		fmt.Fprintf(&b, "%s=%d ", k, model[k])
	}
	return b.String()
}

// FuzzSpillMoves holds the spill-over store's moves to a model of the
// session's values: sets and deletes of sizes that move it out and back,
// the clock past the return's grace, Destroy, Regenerate, two commits in
// one request, a Clear, and a request
// that reads the session, waits while another changes it (and moves it,
// perhaps), then sets a key of its own. What each request reads must be
// the model; across every move nothing is lost, and only where both
// requests read and wrote the cookie form does the later response's
// cookie replace the other's (cookie mode).
func FuzzSpillMoves(f *testing.F) {
	f.Add([]byte{0, 4, 0, 20, 2, 0, 1, 20, 2, 0})
	f.Add([]byte{0, 24, 0, 25, 4, 26, 2, 0, 3, 2, 0, 0, 2, 0})
	f.Add([]byte{0, 24, 0, 29, 1, 4, 2, 0, 3, 2, 0, 5, 2, 0})
	f.Add([]byte{0, 24, 0, 25, 4, 1, 3, 2, 4, 0, 2, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > 120 {
			data = data[:120]
		}
		m := newMoves(t)
		model := map[string]int{}
		keys := []string{"a", "b", "c", "d", "e"}
		sizes := []int{10, 100, 300, 600, 1000}
		arg := func(i int) byte {
			if i < len(data) {
				return data[i]
			}
			return 0
		}
		change := func(b byte) (string, func(map[string]int)) {
			k, n := keys[int(b)%len(keys)], sizes[int(b/5)%len(sizes)]
			if b/25%4 == 1 {
				return "op=del&k=" + k, func(mod map[string]int) { delete(mod, k) }
			}
			return "op=set&k=" + k + "&n=" + strconv.Itoa(n), func(mod map[string]int) { mod[k] = n }
		}
		for i := 0; i < len(data); i += 2 {
			op, a := data[i]%6, arg(i+1)
			switch op {
			case 0:
				q, f := change(a)
				m.do(q)
				f(model)
			case 1:
				m.mu.Lock()
				m.now = m.now.Add([]time.Duration{time.Second, 20 * time.Second, cookiestore.ReturnGrace + time.Second}[int(a)%3])
				m.mu.Unlock()
			case 2:
				if a%2 == 0 {
					m.do("op=destroy")
					clear(model)
				} else {
					m.do("op=regenerate")
				}
			case 4:
				k, k2, n := keys[int(a)%len(keys)], keys[int(a/5)%len(keys)], sizes[int(a/25)%len(sizes)]
				m.do("op=twice&k=" + k + "&k2=" + k2 + "&n=" + strconv.Itoa(n))
				model[k], model[k2] = n, 10
			case 5:
				k, n := keys[int(a)%len(keys)], sizes[int(a/5)%len(sizes)]
				m.do("op=clearset&k=" + k + "&n=" + strconv.Itoa(n))
				clear(model)
				model[k] = n
			case 3:
				// A request reads, another changes the session meanwhile,
				// then the first sets "p".
				cookieBefore := m.cookieOnly()
				held := make(chan error, 1)
				var heldSet map[string]*http.Cookie
				jar := maps.Clone(m.cookies)
				go func() {
					_, set, err := m.send("op=hold&k=p", jar)
					heldSet = set
					held <- err
				}()
				<-m.loaded
				before := maps.Clone(model)
				q, f := change(a)
				m.do(q)
				f(model)
				cookieAfter := m.cookieOnly()
				m.release <- struct{}{}
				if err := <-held; err != nil {
					t.Fatal(err)
				}
				m.apply(heldSet)
				if _, had := jar["sid"]; !had {
					// It had no session: it made a new one, whose cookie
					// replaces the other's.
					model = map[string]int{}
				} else if cookieBefore && cookieAfter && len(heldSet) > 0 {
					// Both read and wrote the cookie form: the held
					// response, the later, wins whole.
					model = before
				}
				model["p"] = 10
			}
			if got, want := m.do(""), render(model); got != want {
				t.Fatalf("after op %d (%d, %d): the session reads %q, want %q", i/2, op, a, got, want)
			}
		}
	})
}
