package gorillastore_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"

	"github.com/crumbs-go/session/adapters/gorillastore"
	"github.com/crumbs-go/session/cookiestore"
)

// A handler written for gorilla/sessions runs unchanged on a crumbs store:
// only the constructor changed.
func Example() {
	crumbs, err := cookiestore.New([][]byte{secret}) // or session.OpenStore(ctx, "redis://…", secrets)
	if err != nil {
		panic(err)
	}
	store, err := gorillastore.New(crumbs) // was: sessions.NewCookieStore(key)
	if err != nil {
		panic(err)
	}
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s, _ := store.Get(r, "app")
		n, _ := s.Values["visits"].(int)
		s.Values["visits"] = n + 1
		if err := s.Save(r, w); err != nil {
			http.Error(w, "could not save", 500)
			return
		}
		fmt.Fprintf(w, "visits: %d", n+1)
	})

	var cookies []*http.Cookie
	for range 2 {
		r := httptest.NewRequest("GET", "http://localhost/", nil)
		for _, c := range cookies {
			r.AddCookie(c)
		}
		w := httptest.NewRecorder()
		handler.ServeHTTP(w, r)
		cookies = w.Result().Cookies()
		fmt.Println(w.Body.String())
	}
	// Output:
	// visits: 1
	// visits: 2
}
