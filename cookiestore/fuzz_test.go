package cookiestore_test

import (
	"bytes"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/crumbs-go/session"
	"github.com/crumbs-go/session/cookiestore"
	"github.com/crumbs-go/session/internal/vectors"
)

// FuzzLoad sends arbitrary Cookie headers through the whole middleware with
// a handler that reads and writes its session: never a panic, never a 5xx,
// a usable session every time, and whatever the request carried, the
// response's cookies load back as the session the handler left.
func FuzzLoad(f *testing.F) {
	for _, v := range vectors.MustLoad(f) {
		f.Add(v.Cookie)
	}
	secrets := [][]byte{bytes.Repeat([]byte{1}, 32)}
	store, err := cookiestore.New(secrets)
	if err != nil {
		f.Fatal(err)
	}
	m, err := session.New(store, session.WithCookieName("s"), session.WithMaxChunks(4),
		session.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		f.Fatal(err)
	}
	h := m.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s := session.From(r)
		n, _ := session.Get[int](s, "n")
		s.Set("n", n+1)
		io.WriteString(w, "ok")
	}))
	f.Fuzz(func(t *testing.T, header string) {
		r := httptest.NewRequest("GET", "/", nil)
		r.Header.Set("Cookie", header)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != http.StatusOK {
			t.Fatalf("status %d for Cookie %q", w.Code, header)
		}
		// Play the response back: the session must load, with n >= 1.
		r2 := httptest.NewRequest("GET", "/", nil)
		for _, c := range w.Result().Cookies() {
			if c.MaxAge >= 0 {
				r2.AddCookie(c)
			}
		}
		var n int
		m.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			n, _ = session.Get[int](session.From(r), "n")
		})).ServeHTTP(httptest.NewRecorder(), r2)
		if n < 1 {
			t.Fatalf("the response's cookies did not load back (n = %d)", n)
		}
	})
}
