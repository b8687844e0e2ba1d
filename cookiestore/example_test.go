package cookiestore_test

import (
	"bytes"
	"fmt"
	"net/http"
	"net/http/httptest"

	"github.com/crumbs-go/session"
	"github.com/crumbs-go/session/cookiestore"
)

func ExampleNew() {
	// Load real secrets from a vault: at least 32 random bytes each. The
	// first seals; the others only open, during a rotation.
	store, err := cookiestore.New([][]byte{bytes.Repeat([]byte("k"), 32)})
	if err != nil {
		panic(err)
	}
	m, err := session.New(store)
	if err != nil {
		panic(err)
	}
	views := m.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s := session.From(r)
		n, _ := session.Get[int](s, "views")
		s.Set("views", n+1)
		fmt.Fprintf(w, "views: %d", n+1)
	}))

	var cookies []*http.Cookie
	for range 3 {
		r := httptest.NewRequest("GET", "/", nil)
		for _, c := range cookies {
			r.AddCookie(c)
		}
		w := httptest.NewRecorder()
		views.ServeHTTP(w, r)
		cookies = nil
		for _, c := range w.Result().Cookies() {
			if c.MaxAge >= 0 { // leave out the chunk cookies it expires
				cookies = append(cookies, c)
			}
		}
		fmt.Println(w.Body.String(), len(cookies), "cookie")
	}
	// Output:
	// views: 1 1 cookie
	// views: 2 1 cookie
	// views: 3 1 cookie
}
