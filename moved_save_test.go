package session_test

import (
	"bytes"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/crumbs-go/session"
	"github.com/crumbs-go/session/serverstore"
)

// TestSaveAfterAParallelRegenerate: a request loads its session, another
// request's Regenerate moves it, then the first calls Save and changes more.
// Save drops the changes (its documented nil); nothing of that request may
// expire or replace the cookie the Regenerate set.
func TestSaveAfterAParallelRegenerate(t *testing.T) {
	store, err := serverstore.New(serverstore.NewMemory(), [][]byte{bytes.Repeat([]byte("m"), 32)})
	if err != nil {
		t.Fatal(err)
	}
	m, err := session.New(store, session.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatal(err)
	}
	loaded, moved := make(chan struct{}), make(chan struct{})
	h := m.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s := session.From(r)
		switch r.URL.Path {
		case "/new":
			s.Set("n", 1)
		case "/slow":
			s.Get("n")
			close(loaded)
			<-moved
			s.Set("n", 2)
			if err := s.Save(); err != nil {
				t.Errorf("Save = %v, want nil (the changes are dropped)", err)
			}
			s.Set("n", 3)
		case "/rotate":
			s.Regenerate(true)
		}
		io.WriteString(w, "ok")
	}))
	send := func(path string, c *http.Cookie) *http.Response {
		r := httptest.NewRequest("GET", "http://localhost"+path, nil)
		if c != nil {
			r.AddCookie(c)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w.Result()
	}
	old := send("/new", nil).Cookies()[0]
	done := make(chan *http.Response)
	go func() { done <- send("/slow", old) }()
	<-loaded
	send("/rotate", old)
	close(moved)
	if res := <-done; len(res.Cookies()) > 0 {
		t.Fatalf("the request the Regenerate overtook set or expired the cookie: %v", res.Header["Set-Cookie"])
	}
}
