package migrate_test

import (
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"

	"github.com/crumbs-go/session"
	"github.com/crumbs-go/session/cookiestore"
	"github.com/crumbs-go/session/migrate"
)

// An application that used gorilla/sessions' CookieStore (cookie "app")
// and Node's cookie-session keeps its users: their old cookies open as
// crumbs sessions, and the response replaces them.
func Example() {
	fromGorilla, err := migrate.FromGorilla(migrate.Gorilla{
		Name:     "app",                       // store.Get(r, "app")
		KeyPairs: [][]byte{hashKey, blockKey}, // sessions.NewCookieStore(hashKey, blockKey)
	})
	if err != nil {
		panic(err)
	}
	fromNode, err := migrate.FromCookieSession(migrate.CookieSession{Keys: []string{"keyboard cat"}})
	if err != nil {
		panic(err)
	}
	store, err := cookiestore.New([][]byte{secret})
	if err != nil {
		panic(err)
	}
	m, err := session.New(store, session.WithImport(fromGorilla, fromNode),
		session.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		panic(err)
	}
	h := m.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		user, _ := session.Get[string](session.From(r), "user")
		fmt.Fprint(w, user)
	}))

	// A cookie-session cookie pair, as Node wrote it for {"user":"alice"}.
	r := httptest.NewRequest("GET", "http://localhost/", nil)
	r.Header.Set("Cookie", "session=eyJ1c2VyIjoiYWxpY2UifQ==; session.sig=4Ajb5agjB1zWZGWzyCidwKr5I_k")
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	fmt.Println(w.Body.String(), m.Migrations()["cookie-session"])
	for _, c := range w.Result().Cookies() {
		fmt.Println(c.Name, c.MaxAge < 0)
	}
	// Output:
	// alice 1
	// session true
	// session.sig true
	// session false
}
