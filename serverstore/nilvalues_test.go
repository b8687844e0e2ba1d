package serverstore_test

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/crumbs-go/session"
	"github.com/crumbs-go/session/serverstore"
)

// sparse is a Backend written as a Go programmer may: an empty record comes
// back with a nil Values map (nothing in the Backend contract asks for a
// non-nil one).
type sparse struct{ serverstore.Backend }

func (b sparse) Get(ctx context.Context, key string) (*serverstore.Entry, error) {
	e, err := b.Backend.Get(ctx, key)
	if e != nil && len(e.Values) == 0 {
		e.Values = nil
	}
	return e, err
}

// A session emptied by its last Delete is kept (WithDestroyEmpty is off by
// default) and loads again, though the Backend hands its empty values back
// as a nil map (an outside review found it thrown away and replaced by a
// fresh session: the values were decoded in place, into nil).
func TestEmptyRecordWithNilValues(t *testing.T) {
	store, err := serverstore.New(sparse{serverstore.NewMemory()}, [][]byte{bytes.Repeat([]byte{9}, 32)})
	if err != nil {
		t.Fatal(err)
	}
	m, err := session.New(store)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	var fresh []bool
	h := m.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s := session.From(r)
		switch r.URL.Path {
		case "/set":
			s.Set("a", 1)
		case "/empty":
			s.Delete("a")
		}
		ids, fresh = append(ids, s.ID()), append(fresh, s.IsNew())
	}))
	cookie := ""
	for _, p := range []string{"/set", "/empty", "/read"} {
		req := httptest.NewRequest("GET", "https://example.com"+p, nil)
		if cookie != "" {
			req.AddCookie(&http.Cookie{Name: "session", Value: cookie})
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		for _, c := range w.Result().Cookies() {
			if c.Name == "session" && c.MaxAge >= 0 {
				cookie = c.Value
			}
		}
	}
	if ids[2] != ids[1] || fresh[2] {
		t.Fatalf("the emptied session did not load: request 3 got ID %q (new: %v), request 2 had %q", ids[2], fresh[2], ids[1])
	}
}
