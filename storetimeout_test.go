package session_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/crumbs-go/session"
	"github.com/crumbs-go/session/serverstore"
)

// networkish is the memory backend behaving as the network backends do
// with a context: a call whose context is done fails with its error, and
// hang makes Get, or every write, wait until the context is done, as a
// backend whose host vanished does.
type networkish struct {
	*serverstore.Memory
	mu        sync.Mutex
	hangGet   bool
	hangWrite bool
}

func (b *networkish) wait(ctx context.Context, hang bool) error {
	// As drivers do: a context derived from the store's, whose
	// cancellation the context package propagates by a goroutine that
	// waits on the store's Done and then reads its Err.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if hang {
		<-ctx.Done()
	}
	return ctx.Err()
}

func (b *networkish) hangs() (get, write bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.hangGet, b.hangWrite
}

func (b *networkish) Get(ctx context.Context, key string) (*serverstore.Entry, error) {
	if g, _ := b.hangs(); b.wait(ctx, g) != nil {
		return nil, ctx.Err()
	}
	return b.Memory.Get(ctx, key)
}

func (b *networkish) Create(ctx context.Context, key string, e *serverstore.Entry, exp time.Time) error {
	if _, w := b.hangs(); b.wait(ctx, w) != nil {
		return ctx.Err()
	}
	return b.Memory.Create(ctx, key, e, exp)
}

func (b *networkish) Apply(ctx context.Context, key string, w *serverstore.Write) ([]byte, error) {
	if _, h := b.hangs(); b.wait(ctx, h) != nil {
		return nil, ctx.Err()
	}
	return b.Memory.Apply(ctx, key, w)
}

func (b *networkish) Delete(ctx context.Context, key string) (string, error) {
	if _, w := b.hangs(); b.wait(ctx, w) != nil {
		return "", ctx.Err()
	}
	return b.Memory.Delete(ctx, key)
}

func (b *networkish) Retire(ctx context.Context, key, next string, until time.Time) (*serverstore.Entry, error) {
	if _, w := b.hangs(); b.wait(ctx, w) != nil {
		return nil, ctx.Err()
	}
	return b.Memory.Retire(ctx, key, next, until)
}

// leavingServer is a real HTTP server over a networkish memory backend
// whose handler, on /leave, waits for its client to disconnect and then
// runs change: what a handler does after its client has gone.
func leavingServer(t *testing.T, b *networkish, change func(*session.Session), opts ...session.Option) (*httptest.Server, chan struct{}, chan struct{}) {
	t.Helper()
	store, err := serverstore.New(b, [][]byte{secret(1)})
	if err != nil {
		t.Fatal(err)
	}
	m, err := session.New(store, append([]session.Option{session.WithLogger(discard())}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	entered, finished := make(chan struct{}), make(chan struct{})
	srv := httptest.NewServer(m.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s := session.From(r)
		switch r.URL.Path {
		case "/set":
			s.Set("n", 1)
		case "/leave":
			close(entered)
			<-r.Context().Done() // net/http saw the client go
			change(s)
			defer close(finished)
		}
		n, _ := session.Get[int](s, "n")
		io.WriteString(w, strings.Repeat("n", n))
	})))
	t.Cleanup(srv.Close)
	return srv, entered, finished
}

func get(t *testing.T, url, cookie string) (string, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	if cookie != "" {
		req.Header.Set("Cookie", cookie)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	for _, c := range res.Cookies() {
		cookie = c.Name + "=" + c.Value
	}
	return string(body), cookie
}

// leave sends a request with cookie to /leave and disconnects once the
// handler has started, then waits for the handler to finish.
func leave(t *testing.T, srv *httptest.Server, cookie string, entered, finished chan struct{}) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL+"/leave", nil)
	req.Header.Set("Cookie", cookie)
	go func() { <-entered; cancel() }()
	if res, err := http.DefaultClient.Do(req); err == nil {
		res.Body.Close()
		t.Fatal("the request whose client left got an answer")
	}
	select {
	case <-finished:
	case <-time.After(10 * time.Second):
		t.Fatal("the handler did not finish")
	}
}

// A client that disconnects mid-request, before its handler first reads
// the session, does not undo the handler's work: the session is loaded
// for it and what it changed is saved. The next request sees it.
func TestChangesOutliveTheirClient(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change func(*session.Session)
		opts   []session.Option
		want   string // the body of the next request: "n" per unit of n
	}{
		{"Set", func(s *session.Session) { n, _ := session.Get[int](s, "n"); s.Set("n", n+1) }, nil, "nn"},
		{"Update", func(s *session.Session) {
			if _, err := session.Update(s, "n", func(n int) int { return n + 1 }); err != nil {
				panic(err)
			}
		}, nil, "nn"},
		{"Destroy", func(s *session.Session) { s.Destroy() }, nil, ""},
		// WithStoreTimeout(0): the store gets the request's context, which
		// the client's departure cancelled: the change is lost, as in scs
		// and gorilla/sessions. This is the case the default fixes.
		{"StoreTimeout0", func(s *session.Session) { n, _ := session.Get[int](s, "n"); s.Set("n", n+1) }, []session.Option{session.WithStoreTimeout(0)}, "n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := &networkish{Memory: serverstore.NewMemory()}
			srv, entered, finished := leavingServer(t, b, tc.change, tc.opts...)
			body, cookie := get(t, srv.URL+"/set", "")
			if body != "n" || cookie == "" {
				t.Fatalf("/set answered %q with cookie %q", body, cookie)
			}
			leave(t, srv, cookie, entered, finished)
			if body, _ := get(t, srv.URL+"/", cookie); body != tc.want {
				t.Errorf("the next request reads n as %q, want %q", body, tc.want)
			}
		})
	}
}

// A store that stops answering fails the request with ErrBackend after
// WithStoreTimeout, in its load and in its save, instead of holding it.
func TestStoreTimeoutBoundsAStoreThatHangs(t *testing.T) {
	for _, hang := range []string{"load", "save"} {
		t.Run(hang, func(t *testing.T) {
			b := &networkish{Memory: serverstore.NewMemory()}
			store, err := serverstore.New(b, [][]byte{secret(1)})
			if err != nil {
				t.Fatal(err)
			}
			var got error
			m, err := session.New(store, session.WithLogger(discard()), session.WithStoreTimeout(300*time.Millisecond),
				session.WithErrorHandler(func(w http.ResponseWriter, r *http.Request, err error) {
					got = err
					http.Error(w, "unavailable", http.StatusServiceUnavailable)
				}))
			if err != nil {
				t.Fatal(err)
			}
			h := m.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				n, _ := session.Get[int](session.From(r), "n")
				session.From(r).Set("n", n+1)
			}))
			w := httptest.NewRecorder()
			h.ServeHTTP(w, httptest.NewRequest("GET", "/", nil))
			cookie := w.Result().Cookies()[0]
			b.mu.Lock()
			b.hangGet, b.hangWrite = hang == "load", hang == "save"
			b.mu.Unlock()
			r := httptest.NewRequest("GET", "/", nil)
			r.AddCookie(cookie)
			w = httptest.NewRecorder()
			start := time.Now()
			h.ServeHTTP(w, r)
			took := time.Since(start)
			if w.Code != http.StatusServiceUnavailable || !errors.Is(got, session.ErrBackend) || !errors.Is(got, context.DeadlineExceeded) {
				t.Fatalf("answered %d with error %v; want 503 and ErrBackend wrapping context.DeadlineExceeded", w.Code, got)
			}
			if took < 300*time.Millisecond || took > 3*time.Second {
				t.Errorf("the request took %v with WithStoreTimeout(300ms)", took)
			}
		})
	}
}

// Phase after phase (a load, then commits through Save), a store that
// derives contexts from the store calls' own: each phase's context stays
// done once done, so the goroutines the context package starts never see
// a later phase's (before the fix, "context: internal error: missing
// cancel error" panicked them).
func TestStoreContextPhases(t *testing.T) {
	b := &networkish{Memory: serverstore.NewMemory()}
	store, err := serverstore.New(b, [][]byte{secret(1)})
	if err != nil {
		t.Fatal(err)
	}
	m, err := session.New(store, session.WithLogger(discard()))
	if err != nil {
		t.Fatal(err)
	}
	h := m.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s := session.From(r)
		for i := range 20 {
			s.Set("n", i)
			if err := s.Save(); err != nil {
				t.Error(err)
			}
			s.Reload()
		}
	}))
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 20 {
				h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/", nil))
			}
		})
	}
	wg.Wait()
}

func TestWithStoreTimeoutRange(t *testing.T) {
	for _, d := range []time.Duration{-time.Nanosecond, 10*time.Minute + 1} {
		if _, err := session.New(mustCookieStore(t), session.WithStoreTimeout(d)); err == nil || !strings.Contains(err.Error(), "WithStoreTimeout") {
			t.Errorf("WithStoreTimeout(%v): %v", d, err)
		}
	}
	for _, d := range []time.Duration{0, time.Millisecond, 10 * time.Minute} {
		if _, err := session.New(mustCookieStore(t), session.WithStoreTimeout(d)); err != nil {
			t.Errorf("WithStoreTimeout(%v): %v", d, err)
		}
	}
}

// failingMap is JSON whose EncodeMap fails.
type failingMap struct{ session.Codec }

func (failingMap) EncodeMap(map[string][]byte) ([]byte, error) { return nil, errors.New("no room") }

// A codec that cannot encode the values is the request's error (500), not
// a store failure (503), though the cookie store now encodes them itself
// (driver.Commit.Encode); a server store never needs them in one piece.
func TestEncodeMapFailureIsNotABackendError(t *testing.T) {
	var got error
	m, err := session.New(mustCookieStore(t), session.WithLogger(discard()), session.WithCodec(failingMap{session.JSON}),
		session.WithErrorHandler(func(w http.ResponseWriter, r *http.Request, err error) {
			got = err
			http.Error(w, "x", http.StatusInternalServerError)
		}))
	if err != nil {
		t.Fatal(err)
	}
	w := httptest.NewRecorder()
	m.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { session.From(r).Set("a", 1) })).ServeHTTP(w, httptest.NewRequest("GET", "/", nil))
	if got == nil || errors.Is(got, session.ErrBackend) || !strings.Contains(got.Error(), "do not encode") {
		t.Fatalf("error %v; want the codec's, not ErrBackend", got)
	}
	// Server mode applies the change set: the values need no encoding whole.
	store, err := serverstore.New(serverstore.NewMemory(), [][]byte{secret(1)})
	if err != nil {
		t.Fatal(err)
	}
	m, err = session.New(store, session.WithLogger(discard()), session.WithCodec(failingMap{session.JSON}))
	if err != nil {
		t.Fatal(err)
	}
	w = httptest.NewRecorder()
	m.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { session.From(r).Set("a", 1) })).ServeHTTP(w, httptest.NewRequest("GET", "/", nil))
	if w.Code != http.StatusOK || len(w.Result().Cookies()) != 1 {
		t.Fatalf("server mode: %d, %d cookies", w.Code, len(w.Result().Cookies()))
	}
}

// Deadlines are whole seconds: an idle timeout under 2 s could end a
// session in use (a 1 s one lost a session read every 300 ms: its
// refreshed deadline, rounded down, was as little as 0.1 s ahead). It is
// refused; at 2 s, a session read every 0.9 s, at every fraction of a
// second, lives on.
func TestShortIdleTimeouts(t *testing.T) {
	for _, d := range []time.Duration{time.Millisecond, time.Second, 1999 * time.Millisecond} {
		if _, err := session.New(mustCookieStore(t), session.WithIdleTimeout(d)); err == nil || !strings.Contains(err.Error(), "whole seconds") {
			t.Errorf("WithIdleTimeout(%v): %v", d, err)
		}
	}
	h := newHarness(t, session.WithIdleTimeout(2*time.Second))
	h.clock.add(950 * time.Millisecond)
	h.do(t, func(w http.ResponseWriter, r *http.Request) { session.From(r).Set("user", "ada") })
	for i := range 40 {
		h.clock.add(900 * time.Millisecond)
		var user string
		h.do(t, func(w http.ResponseWriter, r *http.Request) { user, _ = session.Get[string](session.From(r), "user") })
		if user != "ada" {
			t.Fatalf("read %d, every 0.9 s with a 2 s idle timeout: the session is gone", i+1)
		}
	}
}
