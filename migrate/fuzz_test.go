package migrate_test

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/crumbs-go/session"
	"github.com/crumbs-go/session/cookiestore"
	"github.com/crumbs-go/session/migrate"
)

// FuzzImport sends any Cookie header through a Manager with both
// Importers, under the names they read: no panic, no 5xx, and a session
// the handler can use.
func FuzzImport(f *testing.F) {
	f.Add("session=" + csValue + "; session.sig=" + csSig)
	f.Add("app=MTcwMDAwMDAwMHx8eA==")
	f.Add("session=\"\"; session.sig=; app=%%")
	store, err := cookiestore.New([][]byte{secret})
	if err != nil {
		f.Fatal(err)
	}
	g, err := migrate.FromGorilla(migrate.Gorilla{Name: "app", KeyPairs: [][]byte{hashKey, blockKey}})
	if err != nil {
		f.Fatal(err)
	}
	cs, err := migrate.FromCookieSession(migrate.CookieSession{Keys: []string{"keyboard cat"}})
	if err != nil {
		f.Fatal(err)
	}
	m, err := session.New(store, session.WithImport(g, cs), session.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		f.Fatal(err)
	}
	h := m.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s := session.From(r)
		s.Set("seen", s.Len())
	}))
	f.Fuzz(func(t *testing.T, cookie string) {
		r := httptest.NewRequest("GET", "http://localhost/", nil)
		r.Header.Set("Cookie", cookie)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code >= 500 {
			t.Fatalf("%q: %d", cookie, w.Code)
		}
	})
}
