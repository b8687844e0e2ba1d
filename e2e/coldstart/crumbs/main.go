// Command crumbs is the cold-start probe for crumbs cookie mode: from
// process start, build the store and middleware and produce one sealed
// response, then print the Set-Cookie size and exit.
package main

import (
	"bytes"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"

	"github.com/crumbs-go/session"
	"github.com/crumbs-go/session/cookiestore"
	"github.com/crumbs-go/session/e2e/coldstart/probe"
)

func main() {
	store, err := cookiestore.New([][]byte{bytes.Repeat([]byte("c"), 32)})
	if err != nil {
		panic(err)
	}
	m, err := session.New(store, session.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		panic(err)
	}
	w := httptest.NewRecorder()
	m.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		session.From(r).Set("user", "ada")
	})).ServeHTTP(w, httptest.NewRequest("GET", "/", nil))
	fmt.Println(len(w.Header().Get("Set-Cookie")), probe.PeakRSS())
}
