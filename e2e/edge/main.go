// Command edge runs cookie mode the way an edge function does: no listener,
// no filesystem, requests handed in by the host. The e2e tests compile it
// for wasip1 and run it in wazero with no directory mounted, watching every
// WASI call it makes. It prints the goroutine count before and after.
package main

import (
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"strings"

	"github.com/crumbs-go/session"
	"github.com/crumbs-go/session/cookiestore"
)

func main() {
	control := len(os.Args) > 1 && os.Args[1] == "-control"
	before := runtime.NumGoroutine()
	if control {
		// The tests' control run: proves the watch sees a file opened and a
		// goroutine started.
		os.ReadFile("/etc/hostname")
		go func() { select {} }()
	}
	store, err := cookiestore.New([][]byte{bytes.Repeat([]byte("e"), 32)})
	if err != nil {
		fail(err)
	}
	m, err := session.New(store, session.WithMaxChunks(4), session.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		fail(err)
	}
	h := m.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s := session.From(r)
		n, _ := session.Get[int](s, "n")
		s.Set("n", n+1)
		s.Set("cart", strings.Repeat(`{"sku":"A-1","qty":2},`, 20*n)) // grows, compresses
		fmt.Fprint(w, n+1)
	}))
	var cookies []*http.Cookie
	var body string
	for range 10 {
		r := httptest.NewRequest("GET", "https://edge.example/", nil)
		for _, c := range cookies {
			r.AddCookie(c)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		b, _ := io.ReadAll(w.Result().Body)
		body = string(b)
		cookies = cookies[:0]
		for _, c := range w.Result().Cookies() {
			if c.MaxAge >= 0 {
				cookies = append(cookies, c)
			}
		}
	}
	fmt.Printf("goroutines before=%d after=%d\ncounter=%s cookies=%d\n", before, runtime.NumGoroutine(), body, len(cookies))
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, err)
	os.Exit(1)
}
