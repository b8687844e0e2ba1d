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
		f.Add(v.Cookie, uint8(3), uint8(0), false)
	}
	f.Add("s=2.AAAA", uint8(8), uint8(0), true)
	f.Add("__Host-s=3.AAAA; __Host-s.1=AAAA; __Host-s.2=AAAA", uint8(179), uint8(1), true)
	type setup struct {
		m *session.Manager
		h http.Handler
	}
	// Every Manager is built before fuzzing starts, so that an input's
	// coverage does not depend on which ones earlier inputs built.
	setups := map[[3]int]setup{}
	for maxChunks := 1; maxChunks <= 180; maxChunks++ {
		for name := range names {
			for _, compress := range []bool{false, true} {
				var opts []cookiestore.Option
				if compress {
					opts = append(opts, cookiestore.WithCompressionThreshold(0)) // every session compressed
				}
				store, err := cookiestore.New([][]byte{bytes.Repeat([]byte{1}, 32)}, opts...)
				if err != nil {
					f.Fatal(err)
				}
				m, err := session.New(store, session.WithCookieName(names[name]), session.WithMaxChunks(maxChunks),
					session.WithLogger(slog.New(slog.DiscardHandler)))
				if err != nil {
					f.Fatal(err)
				}
				setups[[3]int{maxChunks, name, map[bool]int{false: 0, true: 1}[compress]}] = setup{m: m, h: m.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					s := session.From(r)
					n, _ := session.Get[int](s, "n")
					s.Set("n", n+1)
					io.WriteString(w, "ok")
				}))}
			}
		}
	}
	get := func(maxChunks, name int, compress bool) setup {
		return setups[[3]int{maxChunks, name, map[bool]int{false: 0, true: 1}[compress]}]
	}
	// Every maximum chunk count the Manager accepts (1 to 180), every shape
	// of cookie name, and both codec paths (compressed or not).
	f.Fuzz(func(t *testing.T, header string, maxChunks, name uint8, compress bool) {
		st := get(int(maxChunks)%180+1, int(name)%len(names), compress)
		m, h := st.m, st.h
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

// names are the shapes of cookie name FuzzLoad tries.
var names = []string{"s", "__Host-s", "__Secure-session", "app.sid", "__host-x"}
