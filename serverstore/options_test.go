package serverstore_test

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/crumbs-go/session"
	"github.com/crumbs-go/session/serverstore"
)

// valueWrites counts the values a backend is asked to write.
type valueWrites struct {
	serverstore.Backend
	values atomic.Int64
}

func (c *valueWrites) Apply(ctx context.Context, key string, w *serverstore.Write) ([]byte, error) {
	c.values.Add(int64(len(w.Changes)))
	return c.Backend.Apply(ctx, key, w)
}

func run(t *testing.T, m *session.Manager, cookie string, f func(*session.Session)) string {
	t.Helper()
	r := httptest.NewRequest("GET", "/", nil)
	if cookie != "" {
		r.Header.Set("Cookie", cookie)
	}
	w := httptest.NewRecorder()
	m.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { f(session.From(r)); io.WriteString(w, "ok") })).ServeHTTP(w, r)
	for _, c := range w.Result().Cookies() {
		if c.Name == "session" && c.MaxAge >= 0 {
			cookie = "session=" + c.Value
		}
	}
	return cookie
}

func TestResave(t *testing.T) {
	for _, resave := range []bool{false, true} {
		b := &valueWrites{Backend: serverstore.NewMemory()}
		store, _ := serverstore.New(b, [][]byte{bytes.Repeat([]byte("k"), 32)})
		m, err := session.New(store, session.WithResave(resave))
		if err != nil {
			t.Fatal(err)
		}
		cookie := run(t, m, "", func(s *session.Session) { s.Set("n", 1) })
		before := b.values.Load()
		run(t, m, cookie, func(s *session.Session) { s.Get("n") })
		if got := b.values.Load() > before; got != resave {
			t.Errorf("resave %t: an unchanged session was rewritten: %t", resave, got)
		}
	}
}

func TestIDGenerator(t *testing.T) {
	store, _ := serverstore.New(serverstore.NewMemory(), [][]byte{bytes.Repeat([]byte("k"), 32)})
	n := 0
	gen := func(*http.Request) string { n++; return strings.Repeat("A", 30) + string(rune('A'+n%26)) }
	m, err := session.New(store, session.WithIDGenerator(gen))
	if err != nil {
		t.Fatal(err)
	}
	var id string
	cookie := run(t, m, "", func(s *session.Session) { s.Set("n", 1); id = s.ID() })
	var again string
	run(t, m, cookie, func(s *session.Session) { again = s.ID() })
	if !strings.HasPrefix(id, strings.Repeat("A", 30)) || again != id {
		t.Fatalf("IDs %q then %q, want the generator's, kept", id, again)
	}
	if _, err := session.New(store, session.WithIDGenerator(func(*http.Request) string { return "short" })); err == nil {
		t.Fatal("a generator of 5-character IDs was accepted")
	}
	var logs bytes.Buffer
	bad := false
	m, _ = session.New(store, session.WithLogger(slog.New(slog.NewTextHandler(&logs, nil))),
		session.WithIDGenerator(func(*http.Request) string {
			if bad {
				return "bad id!"
			}
			bad = true
			return strings.Repeat("B", 43)
		}))
	run(t, m, "", func(s *session.Session) { id = s.ID() })
	if len(id) != 43 || !strings.Contains(logs.String(), "invalid ID") {
		t.Fatalf("an invalid generated ID: got %q, log %q", id, logs.String())
	}
}
