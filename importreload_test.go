package session_test

import (
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"github.com/crumbs-go/session"
	"github.com/crumbs-go/session/driver"
	"github.com/crumbs-go/session/serverstore"
)

// countingImporter finds a session {"a": 1} in any request that carries
// its cookie, and counts how often it is asked.
type countingImporter struct{ calls atomic.Int64 }

func (*countingImporter) Name() string { return "old" }
func (*countingImporter) Cookies() []*http.Cookie {
	return []*http.Cookie{{Name: "old", Path: "/"}}
}
func (i *countingImporter) Import(r *http.Request) (*driver.Imported, error) {
	i.calls.Add(1)
	if _, err := r.Cookie("old"); err != nil {
		return nil, driver.ErrNotFound
	}
	return &driver.Imported{Values: map[string]any{"a": 1}}, nil
}

// An importer is asked at a request's first load only: a Reload after a
// Save reads the session the Save stored (which the request changed), not
// the old cookie the request still carries, and a Reload without a Save
// reads it as it was imported. In cookie mode and server mode alike.
func TestImportersReadOnlyTheFirstLoad(t *testing.T) {
	server, err := serverstore.New(serverstore.NewMemory(), [][]byte{secret(1)})
	if err != nil {
		t.Fatal(err)
	}
	for name, store := range map[string]session.Store{"cookie": mustCookieStore(t), "server": server} {
		t.Run(name, func(t *testing.T) {
			imp := &countingImporter{}
			m, err := session.New(store, session.WithLogger(discard()), session.WithImport(imp))
			if err != nil {
				t.Fatal(err)
			}
			var first, afterSave, afterReload int
			h := m.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				s := session.From(r)
				first, _ = session.Get[int](s, "a")
				s.Set("a", 2)
				if err := s.Save(); err != nil {
					t.Fatal(err)
				}
				s.Reload()
				afterSave, _ = session.Get[int](s, "a")
				s.Set("a", 3) // not saved
				s.Reload()
				afterReload, _ = session.Get[int](s, "a")
			}))
			r := httptest.NewRequest("GET", "/", nil)
			r.AddCookie(&http.Cookie{Name: "old", Value: "x"})
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			if w.Code != http.StatusOK || first != 1 || afterSave != 2 || afterReload != 2 {
				t.Fatalf("HTTP %d; read a as %d, then %d after Save and Reload, then %d after a second Reload; want 1, 2, 2", w.Code, first, afterSave, afterReload)
			}
			if n := imp.calls.Load(); n != 1 {
				t.Errorf("the importer was asked %d times in one request, want 1", n)
			}

			// A session the request destroyed and saved stays ended through
			// a Reload: the old cookie the request carries is not imported
			// again (it would bring the session back).
			imp.calls.Store(0)
			var gone bool
			var after int
			h = m.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				s := session.From(r)
				session.Get[int](s, "a")
				s.Destroy()
				if err := s.Save(); err != nil {
					t.Fatal(err)
				}
				s.Reload()
				after, _ = session.Get[int](s, "a")
				gone = s.IsNew()
			}))
			w = httptest.NewRecorder()
			h.ServeHTTP(w, r)
			if !gone || after != 0 || imp.calls.Load() != 1 {
				t.Fatalf("after Destroy, Save and Reload: new %t, a = %d, the importer asked %d times; want a fresh session, 0, 1", gone, after, imp.calls.Load())
			}
		})
	}
}
