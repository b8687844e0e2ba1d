package storetest

import (
	"encoding/binary"
	"net/http"
	"testing"
	"time"

	"github.com/crumbs-go/session"
	"github.com/crumbs-go/session/serverstore"
)

// Format1 lays out a record of the format-1 layout (spec/server-id-v1.md
// §4.2), the one earlier releases wrote: format 1, flags, the deadlines,
// then the values as one JSON object. A backend test stores it the way the
// earlier release did, then runs CheckFormat1.
func Format1(absolute, idle time.Time, values []byte) []byte {
	b := make([]byte, 18, 18+len(values))
	b[0] = 1
	if !absolute.IsZero() {
		binary.BigEndian.PutUint64(b[2:], uint64(absolute.Unix()))
	}
	if !idle.IsZero() {
		binary.BigEndian.PutUint64(b[10:], uint64(idle.Unix()))
	}
	return append(b, values...)
}

// CheckFormat1 checks a format-1 record stored in b under the session ID id
// (keyed as serverstore keys it, with the values {"n":41,"user":"ada"}):
// it loads through a Manager with the suite's secrets, an Update and a Set
// convert it to the current layout, and every value survives.
func CheckFormat1(t *testing.T, b serverstore.Backend, id string) {
	t.Helper()
	br := newBrowser(t, b, realClock{})
	cookie := "sid=" + signedID(t, id)
	var user string
	var n int
	w, _ := br.send(cookie, func(s *session.Session) { user, _ = session.Get[string](s, "user"); n, _ = session.Get[int](s, "n") })
	if w.Code != http.StatusOK || user != "ada" || n != 41 {
		t.Fatalf("a format-1 record: status %d, user %q, n %d; want ada and 41", w.Code, user, n)
	}
	w, _ = br.send(cookie, func(s *session.Session) {
		if _, err := session.Update(s, "n", func(n int) int { return n + 1 }); err != nil {
			t.Error(err)
		}
		s.Set("x", true)
	})
	if w.Code != http.StatusOK {
		t.Fatalf("saving over a format-1 record answered %d", w.Code)
	}
	var x bool
	br.send(cookie, func(s *session.Session) {
		user, _ = session.Get[string](s, "user")
		n, _ = session.Get[int](s, "n")
		x, _ = session.Get[bool](s, "x")
	})
	if user != "ada" || n != 42 || !x {
		t.Fatalf("after converting a format-1 record: user %q, n %d, x %t", user, n, x)
	}
	store, _ := serverstore.New(b, secrets)
	e, err := b.Get(ctx, store.Key(id))
	if err != nil || e.Legacy != nil || len(e.Meta) != 18 || e.Meta[0] != 2 {
		t.Fatalf("the record after a save: %+v, %v; want the format-2 layout", e, err)
	}
}
