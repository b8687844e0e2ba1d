package session

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/crumbs-go/session/driver"
)

// downStore is a store whose backend is down: every Load fails.
type downStore struct {
	nopStore
	mu  sync.Mutex
	err error
}

func (d *downStore) Load(context.Context, string, string, time.Time) (*driver.Record, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return nil, d.err
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) lines() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return strings.Split(strings.TrimSpace(s.b.String()), "\n")
}

// During an outage every request fails alike: the log keeps the first
// error of each kind at once and the count of its repeats when the window
// closes, while the error handler still answers every request.
func TestErrorLogUnderAnOutage(t *testing.T) {
	var buf syncBuffer
	store := &downStore{err: errors.New("dial tcp 127.0.0.1:6379: connect: connection refused")}
	var handled int
	var hmu sync.Mutex
	m, err := New(store, WithLogger(slog.New(slog.NewTextHandler(&buf, nil))), WithErrorHandler(func(w http.ResponseWriter, r *http.Request, err error) {
		hmu.Lock()
		handled++
		hmu.Unlock()
		http.Error(w, "unavailable", http.StatusServiceUnavailable)
	}))
	if err != nil {
		t.Fatal(err)
	}
	const window = 300 * time.Millisecond
	m.rl = newRateLog(m.log, window)
	closeWindow := manualWindows(m.rl) // 500 requests may take longer than a window
	h := m.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { From(r).Get("x") }))
	send := func(n int) {
		var wg sync.WaitGroup
		for range n {
			wg.Go(func() {
				r := httptest.NewRequest("GET", "/", nil)
				r.Header.Set("Cookie", "session=abc")
				w := httptest.NewRecorder()
				h.ServeHTTP(w, r)
				if w.Code != http.StatusServiceUnavailable {
					t.Errorf("answered %d", w.Code)
				}
			})
		}
		wg.Wait()
	}
	send(500)
	if lines := buf.lines(); len(lines) != 1 || !strings.Contains(lines[0], "connection refused") || strings.Contains(lines[0], "repeated") {
		t.Fatalf("during the window the log holds %d lines, want the first error alone:\n%s", len(lines), strings.Join(lines, "\n"))
	}
	// A second kind of error is logged at once too.
	store.mu.Lock()
	store.err = errors.New("i/o timeout")
	store.mu.Unlock()
	send(10)
	closeWindow()
	lines := buf.lines()
	if len(lines) != 4 {
		t.Fatalf("after the window the log holds %d lines, want 4 (each error's first, then its count):\n%s", len(lines), strings.Join(lines, "\n"))
	}
	counts := strings.Join(lines[2:], "\n")
	if !strings.Contains(counts, "repeated=499") || !strings.Contains(counts, "repeated=9") || !strings.Contains(counts, "within=300ms") {
		t.Errorf("the counts are missing:\n%s", counts)
	}
	if handled != 510 {
		t.Errorf("the error handler saw %d of 510 failed requests", handled)
	}
	// The next window starts with a line at once.
	send(1)
	if lines := buf.lines(); len(lines) != 5 || strings.Contains(lines[4], "repeated") {
		t.Fatalf("a new window did not log its first error at once:\n%s", strings.Join(lines, "\n"))
	}
	closeWindow()
	if lines := buf.lines(); len(lines) != 5 {
		t.Fatalf("a window with no repeat logged a count:\n%s", strings.Join(lines, "\n"))
	}
}

// Past logDistinct kinds of message in one window, the rest are counted
// together: an attacker who varies a message cannot flood the log.
func TestErrorLogDistinctBounded(t *testing.T) {
	var buf syncBuffer
	r := newRateLog(slog.New(slog.NewTextHandler(&buf, nil)), 200*time.Millisecond)
	closeWindow := manualWindows(r) // 1000 lines may take longer than a window (js/wasm)
	for i := range 1000 {
		r.logAttrs(context.Background(), slog.LevelError, "session: error "+strings.Repeat("x", i))
	}
	if n := len(buf.lines()); n != logDistinct {
		t.Fatalf("%d lines, want %d", n, logDistinct)
	}
	closeWindow()
	lines := buf.lines()
	if len(lines) != logDistinct+1 || !strings.Contains(lines[logDistinct], "repeated=968") {
		t.Fatalf("the overflow count is missing: %s", lines[len(lines)-1])
	}
}

// storm is a Manager over store that logs into buf, with windows that
// close by hand (manualWindows), and a send that makes one request with a
// session cookie, which loads the session.
func storm(t *testing.T, store Store) (buf *syncBuffer, send, closeWindow func()) {
	t.Helper()
	buf = &syncBuffer{}
	m, err := New(store, WithLogger(slog.New(slog.NewTextHandler(buf, nil))))
	if err != nil {
		t.Fatal(err)
	}
	m.rl = newRateLog(m.log, time.Minute)
	closeWindow = manualWindows(m.rl)
	h := m.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { From(r).Get("x") }))
	send = func() {
		r := httptest.NewRequest("GET", "/", nil)
		r.Header.Set("Cookie", "session=abc")
		h.ServeHTTP(httptest.NewRecorder(), r)
	}
	return buf, send, closeWindow
}

// manualWindows makes r's windows close only when the returned func is
// called, not when their time is up: a test that counts what one window
// holds does not then depend on how fast the machine sends (the js/wasm
// run of CI took more than 300 ms for 500 requests).
func manualWindows(r *rateLog) (closeWindow func()) {
	var mu sync.Mutex
	var pending func()
	r.after = func(_ time.Duration, f func()) {
		mu.Lock()
		defer mu.Unlock()
		pending = f
	}
	return func() {
		mu.Lock()
		f := pending
		pending = nil
		mu.Unlock()
		if f != nil {
			f()
		}
	}
}
