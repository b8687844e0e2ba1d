// Package storetest is the conformance suite every serverstore.Backend runs,
// against the real service in the case of Redis and PostgreSQL. It checks
// the Backend contract (versions, expiry, the optional interfaces) and the
// behaviour users see through a session.Manager: one round trip to load,
// no lost updates between parallel requests, a logout that wins.
package storetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/crumbs-go/session"
	"github.com/crumbs-go/session/serverstore"
)

// Run runs the suite. newBackend returns a fresh, empty backend, isolated
// from every other (its own key prefix or schema); it is called once per
// subtest and must arrange its own cleanup with t.Cleanup.
func Run(t *testing.T, newBackend func(t *testing.T) serverstore.Backend) {
	t.Run("Backend", func(t *testing.T) { testBackend(t, newBackend) })
	t.Run("Optional", func(t *testing.T) { testOptional(t, newBackend) })
	t.Run("Session", func(t *testing.T) { testSession(t, newBackend) })
}

var ctx = context.Background()

func testBackend(t *testing.T, newBackend func(t *testing.T) serverstore.Backend) {
	t.Run("GetMissing", func(t *testing.T) {
		b := newBackend(t)
		if _, _, err := b.Get(ctx, "missing"); !errors.Is(err, serverstore.ErrNotFound) {
			t.Fatalf("Get(missing) = %v, want ErrNotFound", err)
		}
	})
	t.Run("Versions", func(t *testing.T) {
		b := newBackend(t)
		exp := time.Now().Add(time.Hour)
		blob := make([]byte, 256)
		for i := range blob {
			blob[i] = byte(i) // every byte value survives
		}
		v1, err := b.Set(ctx, "k", blob, 0, exp)
		if err != nil || v1 == 0 {
			t.Fatalf("Set(create) = %d, %v", v1, err)
		}
		got, v, err := b.Get(ctx, "k")
		if err != nil || v != v1 || !bytes.Equal(got, blob) {
			t.Fatalf("Get = %d bytes, version %d, %v; want the blob at version %d", len(got), v, err, v1)
		}
		if _, err := b.Set(ctx, "k", []byte("x"), 0, exp); !errors.Is(err, serverstore.ErrConflict) {
			t.Fatalf("Set(create) over an existing key = %v, want ErrConflict", err)
		}
		if _, err := b.Set(ctx, "k", []byte("x"), v1+7, exp); !errors.Is(err, serverstore.ErrConflict) {
			t.Fatalf("Set at a wrong version = %v, want ErrConflict", err)
		}
		v2, err := b.Set(ctx, "k", []byte("second"), v1, exp)
		if err != nil || v2 == v1 {
			t.Fatalf("Set at the current version = %d, %v", v2, err)
		}
		if got, _, _ := b.Get(ctx, "k"); string(got) != "second" {
			t.Fatalf("Get = %q after an update", got)
		}
		if _, err := b.Set(ctx, "absent", []byte("x"), 3, exp); !errors.Is(err, serverstore.ErrNotFound) {
			t.Fatalf("Set at a version over an absent key = %v, want ErrNotFound", err)
		}
		if err := b.Delete(ctx, "k"); err != nil {
			t.Fatal(err)
		}
		if err := b.Delete(ctx, "k"); err != nil {
			t.Fatalf("Delete of an absent key = %v, want nil", err)
		}
		if _, _, err := b.Get(ctx, "k"); !errors.Is(err, serverstore.ErrNotFound) {
			t.Fatalf("Get after Delete = %v", err)
		}
	})
	t.Run("Expiry", func(t *testing.T) {
		b := newBackend(t)
		if _, err := b.Set(ctx, "past", []byte("x"), 0, time.Now().Add(-time.Second)); err != nil {
			t.Fatal(err)
		}
		if _, _, err := b.Get(ctx, "past"); !errors.Is(err, serverstore.ErrNotFound) {
			t.Fatalf("Get of an expired record = %v, want ErrNotFound", err)
		}
		if _, err := b.Set(ctx, "past", []byte("again"), 0, time.Now().Add(time.Hour)); err != nil {
			t.Fatalf("Set(create) over an expired record = %v, want success", err)
		}
		if _, err := b.Set(ctx, "soon", []byte("x"), 0, time.Now().Add(1200*time.Millisecond)); err != nil {
			t.Fatal(err)
		}
		if _, _, err := b.Get(ctx, "soon"); err != nil {
			t.Fatalf("Get before expiry = %v", err)
		}
		time.Sleep(1500 * time.Millisecond)
		if _, _, err := b.Get(ctx, "soon"); !errors.Is(err, serverstore.ErrNotFound) {
			t.Fatalf("Get after expiry = %v, want ErrNotFound", err)
		}
	})
	t.Run("ParallelCompareAndSet", func(t *testing.T) {
		b := newBackend(t)
		exp := time.Now().Add(time.Hour)
		if _, err := b.Set(ctx, "n", []byte("0"), 0, exp); err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		for range 50 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					blob, v, err := b.Get(ctx, "n")
					if err != nil {
						t.Error(err)
						return
					}
					n, _ := strconv.Atoi(string(blob))
					_, err = b.Set(ctx, "n", []byte(strconv.Itoa(n+1)), v, exp)
					if err == nil {
						return
					}
					if !errors.Is(err, serverstore.ErrConflict) {
						t.Error(err)
						return
					}
				}
			}()
		}
		wg.Wait()
		if blob, _, _ := b.Get(ctx, "n"); string(blob) != "50" {
			t.Fatalf("50 compare-and-set increments gave %s", blob)
		}
	})
}

func testOptional(t *testing.T, newBackend func(t *testing.T) serverstore.Backend) {
	t.Run("Touch", func(t *testing.T) {
		b := newBackend(t)
		tb, ok := b.(serverstore.Toucher)
		if !ok {
			t.Skip("the backend has no Touch") // optional by contract
		}
		v, err := b.Set(ctx, "k", []byte("data"), 0, time.Now().Add(1200*time.Millisecond))
		if err != nil {
			t.Fatal(err)
		}
		if err := tb.Touch(ctx, "k", time.Now().Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		time.Sleep(1500 * time.Millisecond)
		got, v2, err := b.Get(ctx, "k")
		if err != nil || string(got) != "data" || v2 != v {
			t.Fatalf("after Touch: %q, version %d (was %d), %v", got, v2, v, err)
		}
		if err := tb.Touch(ctx, "absent", time.Now().Add(time.Hour)); !errors.Is(err, serverstore.ErrNotFound) {
			t.Fatalf("Touch(absent) = %v, want ErrNotFound", err)
		}
	})
	t.Run("CountClearKeys", func(t *testing.T) {
		b := newBackend(t)
		exp := time.Now().Add(time.Hour)
		want := []string{}
		for i := range 25 {
			k := fmt.Sprintf("key-%02d", i)
			want = append(want, k)
			if _, err := b.Set(ctx, k, []byte("x"), 0, exp); err != nil {
				t.Fatal(err)
			}
		}
		b.Set(ctx, "expired", []byte("x"), 0, time.Now().Add(-time.Second))
		if c, ok := b.(serverstore.Counter); ok {
			if n, err := c.Count(ctx); err != nil || n != 25 {
				t.Errorf("Count = %d, %v; want 25", n, err)
			}
		}
		if it, ok := b.(serverstore.Iterator); ok {
			var got []string
			for k, err := range it.Keys(ctx) {
				if err != nil {
					t.Fatal(err)
				}
				got = append(got, k)
			}
			slices.Sort(got)
			if !slices.Equal(got, want) {
				t.Errorf("Keys = %q, want %q", got, want)
			}
		}
		if c, ok := b.(serverstore.Clearer); ok {
			if err := c.Clear(ctx); err != nil {
				t.Fatal(err)
			}
			if _, _, err := b.Get(ctx, "key-03"); !errors.Is(err, serverstore.ErrNotFound) {
				t.Errorf("Get after Clear = %v", err)
			}
		}
	})
}

// counting wraps a Backend and counts its calls.
type counting struct {
	serverstore.Backend
	gets, sets, touches, deletes atomic.Int64
}

func (c *counting) Get(ctx context.Context, key string) ([]byte, uint64, error) {
	c.gets.Add(1)
	return c.Backend.Get(ctx, key)
}

func (c *counting) Set(ctx context.Context, key string, blob []byte, v uint64, exp time.Time) (uint64, error) {
	c.sets.Add(1)
	return c.Backend.Set(ctx, key, blob, v, exp)
}

func (c *counting) Delete(ctx context.Context, key string) error {
	c.deletes.Add(1)
	return c.Backend.Delete(ctx, key)
}

// countingToucher is counting for backends that have Touch.
type countingToucher struct{ *counting }

func (c countingToucher) Touch(ctx context.Context, key string, exp time.Time) error {
	c.touches.Add(1)
	return c.Backend.(serverstore.Toucher).Touch(ctx, key, exp)
}

type client struct {
	t      *testing.T
	h      http.Handler
	mu     sync.Mutex
	cookie string
}

// do sends a request with the client's cookie and keeps what the response sets.
func (c *client) do(handler func(*session.Session)) *httptest.ResponseRecorder {
	c.mu.Lock()
	cookie := c.cookie
	c.mu.Unlock()
	return c.send(cookie, handler, true)
}

func (c *client) send(cookie string, handler func(*session.Session), keep bool) *httptest.ResponseRecorder {
	r := httptest.NewRequest("GET", "/", nil)
	if cookie != "" {
		r.Header.Set("Cookie", cookie)
	}
	w := httptest.NewRecorder()
	c.h.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), handlerKey{}, handler)))
	if keep {
		c.mu.Lock()
		for _, ck := range w.Result().Cookies() {
			if ck.Name == "sid" {
				if ck.MaxAge < 0 {
					c.cookie = ""
				} else {
					c.cookie = "sid=" + ck.Value
				}
			}
		}
		c.mu.Unlock()
	}
	return w
}

type handlerKey struct{}

func newClient(t *testing.T, b serverstore.Backend, opts ...session.Option) (*client, *counting) {
	cb := &counting{Backend: b}
	var wrapped serverstore.Backend = cb
	if _, ok := b.(serverstore.Toucher); ok {
		wrapped = countingToucher{cb}
	}
	store, err := serverstore.New(wrapped, [][]byte{bytes.Repeat([]byte("s"), 32)}, serverstore.WithMaxRetries(100))
	if err != nil {
		t.Fatal(err)
	}
	m, err := session.New(store, append([]session.Option{session.WithCookieName("sid"),
		session.WithLogger(slog.New(slog.DiscardHandler))}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	h := m.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if f, ok := r.Context().Value(handlerKey{}).(func(*session.Session)); ok && f != nil {
			f(session.From(r))
		}
		io.WriteString(w, "ok")
	}))
	return &client{t: t, h: h}, cb
}

func testSession(t *testing.T, newBackend func(t *testing.T) serverstore.Backend) {
	t.Run("OneRoundTripToLoad", func(t *testing.T) {
		c, cb := newClient(t, newBackend(t))
		c.do(func(s *session.Session) { s.Set("n", 1) })
		gets, sets := cb.gets.Load(), cb.sets.Load()
		c.do(func(s *session.Session) { s.Get("n") })
		if g, s := cb.gets.Load()-gets, cb.sets.Load()-sets; g != 1 || s != 0 {
			t.Fatalf("a load-only request made %d Get and %d Set calls, want 1 and 0", g, s)
		}
		c.do(func(*session.Session) {})
		if g := cb.gets.Load() - gets; g != 1 {
			t.Fatalf("a request that never touched its session called the backend")
		}
	})
	t.Run("ForgedAndUnknownIDs", func(t *testing.T) {
		c, cb := newClient(t, newBackend(t))
		var id string
		w := c.send("sid=forged.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", func(s *session.Session) { id = s.ID(); s.Get("x") }, false)
		if cb.gets.Load() != 0 || w.Code != http.StatusOK {
			t.Fatalf("a forged ID reached the backend (%d Get calls) or failed (%d)", cb.gets.Load(), w.Code)
		}
		// An ID signed with the secret but not in the backend: a fresh
		// session with a new ID, never the client's.
		c.do(func(s *session.Session) { s.Set("n", 1); id = s.ID() })
		c.do(func(s *session.Session) { s.Destroy() })
		signed := c.cookie
		if signed != "" {
			t.Fatalf("Destroy left the cookie %q", signed)
		}
		var again string
		c.send("sid="+signedIDFrom(t, c, id), func(s *session.Session) { again = s.ID(); s.Set("n", 2) }, false)
		if again == id {
			t.Fatal("the server adopted an ID the client presented for a session it does not have")
		}
	})
	t.Run("TouchDoesNotRewrite", func(t *testing.T) {
		b := newBackend(t)
		if _, ok := b.(serverstore.Toucher); !ok {
			t.Skip("the backend has no Touch")
		}
		c, cb := newClient(t, b, session.WithIdleTimeout(time.Hour))
		c.do(func(s *session.Session) { s.Set("n", 1) })
		sets := cb.sets.Load()
		c.do(func(s *session.Session) { s.Touch() })
		if cb.touches.Load() != 1 || cb.sets.Load() != sets {
			t.Fatalf("Touch: %d Touch and %d Set calls, want 1 and 0", cb.touches.Load(), cb.sets.Load()-sets)
		}
	})
	t.Run("RegenerateDeletesOldRecord", func(t *testing.T) {
		b := newBackend(t)
		c, _ := newClient(t, b)
		var before, after string
		c.do(func(s *session.Session) { s.Set("user", "ada"); before = s.ID() })
		c.do(func(s *session.Session) { s.Regenerate(true); after = s.ID() })
		store, _ := serverstore.New(b, [][]byte{bytes.Repeat([]byte("s"), 32)})
		if _, _, err := b.Get(ctx, store.Key(before)); !errors.Is(err, serverstore.ErrNotFound) {
			t.Fatalf("the old record survived Regenerate: %v", err)
		}
		var user string
		c.do(func(s *session.Session) { user, _ = session.Get[string](s, "user") })
		if before == after || user != "ada" {
			t.Fatalf("Regenerate(true): ID %q -> %q, user %q", before, after, user)
		}
	})
	t.Run("ParallelWritesAllLand", func(t *testing.T) {
		c, _ := newClient(t, newBackend(t))
		c.do(func(s *session.Session) { s.Set("start", true) })
		cookie := c.cookie
		var wg sync.WaitGroup
		for i := range 50 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				w := c.send(cookie, func(s *session.Session) { s.Set(fmt.Sprintf("k%02d", i), i) }, false)
				if w.Code != http.StatusOK {
					t.Errorf("request %d: status %d", i, w.Code)
				}
			}()
		}
		wg.Wait()
		var keys []string
		c.do(func(s *session.Session) { keys = s.Keys() })
		if len(keys) != 51 {
			t.Fatalf("after 50 parallel writes the session has %d keys, want 51: %q", len(keys), keys)
		}
	})
	t.Run("LogoutWinsOverParallelWrites", func(t *testing.T) {
		c, _ := newClient(t, newBackend(t))
		c.do(func(s *session.Session) { s.Set("user", "ada") })
		cookie := c.cookie
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range 21 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				if i == 10 {
					c.send(cookie, func(s *session.Session) { s.Destroy() }, false)
					return
				}
				c.send(cookie, func(s *session.Session) { s.Set(fmt.Sprintf("w%d", i), i) }, false)
			}()
		}
		close(start)
		wg.Wait()
		var isNew bool
		c.send(cookie, func(s *session.Session) { isNew = s.IsNew() }, false)
		if !isNew {
			t.Fatal("a session survived a logout racing 20 writes")
		}
	})
	t.Run("SameKeyOneWinner", func(t *testing.T) {
		c, _ := newClient(t, newBackend(t))
		long := func(ch byte) string { return string(bytes.Repeat([]byte{ch}, 2000)) }
		c.do(func(s *session.Session) { s.Set("v", "start") })
		cookie := c.cookie
		for range 5 {
			var wg sync.WaitGroup
			for _, ch := range []byte{'a', 'b'} {
				wg.Add(1)
				go func() {
					defer wg.Done()
					c.send(cookie, func(s *session.Session) { s.Set("v", long(ch)) }, false)
				}()
			}
			wg.Wait()
			var v string
			c.send(cookie, func(s *session.Session) { v, _ = session.Get[string](s, "v") }, false)
			if v != long('a') && v != long('b') {
				t.Fatalf("two writes of one key left %.20q…, neither value", v)
			}
		}
	})
}

// signedIDFrom signs id the way the client's store does.
func signedIDFrom(t *testing.T, c *client, id string) string {
	store, err := serverstore.New(serverstore.NewMemory(), [][]byte{bytes.Repeat([]byte("s"), 32)})
	if err != nil {
		t.Fatal(err)
	}
	v, err := store.Save(ctx, "sid", &session.Record{ID: id, Expires: time.Now().Add(time.Hour)}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// Unavailable ends a test whose service (Redis, PostgreSQL) does not answer:
// a skip with a one-line reason on a developer's machine, a failure under CI
// (CI set in the environment), where every service must run.
func Unavailable(t testing.TB, service string, err error) {
	t.Helper()
	if os.Getenv("CI") != "" {
		t.Fatalf("%s: %v (CI is set: the service must run)", service, err)
	}
	t.Skipf("%s unavailable: %v", service, err)
}
