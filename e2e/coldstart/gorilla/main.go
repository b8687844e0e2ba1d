// Command gorilla is the cold-start probe for gorilla/sessions' CookieStore
// (signed and encrypted): one sealed response, then print its size and exit.
package main

import (
	"bytes"
	"fmt"
	"net/http/httptest"

	"github.com/gorilla/sessions"

	"github.com/crumbs-go/session/e2e/coldstart/probe"
)

func main() {
	store := sessions.NewCookieStore(bytes.Repeat([]byte("c"), 32), bytes.Repeat([]byte("b"), 32))
	r := httptest.NewRequest("GET", "/", nil)
	w := httptest.NewRecorder()
	s, err := store.Get(r, "session")
	if err != nil {
		panic(err)
	}
	s.Values["user"] = "ada"
	if err := s.Save(r, w); err != nil {
		panic(err)
	}
	fmt.Println(len(w.Header().Get("Set-Cookie")), probe.PeakRSS())
}
