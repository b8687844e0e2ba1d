package cookiestore_test

import (
	"crypto/rand"
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/crumbs-go/session"
	"github.com/crumbs-go/session/cookiestore"
	"github.com/crumbs-go/session/serverstore"
)

// TestSpillChosenID: with an ID generator a client can steer, a new
// cookie-form session must not take an ID whose record is live (its next
// save would write into that record and hand out its signed ID): the
// create is refused (ErrExists), as server mode refuses it. It failed
// before the fix (an outside review).
func TestSpillChosenID(t *testing.T) {
	srv, _ := serverstore.New(serverstore.NewMemory(), spillSecrets)
	ck, _ := cookiestore.New(spillSecrets)
	sp, _ := cookiestore.NewSpill(ck, srv)
	gen := func(r *http.Request) string {
		if id := r.Header.Get("X-Request-Id"); len(id) >= 22 {
			return id
		}
		return "victimvictimvictimvictim01"
	}
	m, err := session.New(sp, session.WithCookieName("sid"), session.WithIDGenerator(gen))
	if err != nil {
		t.Fatal(err)
	}
	h := m.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s := session.From(r)
		if k := r.URL.Query().Get("set"); k != "" {
			b := make([]byte, 4000)
			rand.Read(b)
			s.Set(k, hex.EncodeToString(b))
			if strings.HasPrefix(k, "att") {
				s.Set(k, "small")
			}
		}
		w.Write([]byte(strings.Join(s.Keys(), ",")))
	}))
	do := func(cookie, q, hdr string) (string, string) {
		req := httptest.NewRequest("GET", "/?"+q, nil)
		if cookie != "" {
			req.Header.Set("Cookie", "sid="+cookie)
		}
		req.Header.Set("X-Request-Id", hdr)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		for _, c := range w.Result().Cookies() {
			if c.Name == "sid" {
				cookie = c.Value
			}
		}
		return w.Body.String(), cookie
	}
	b1, victim := do("", "set=secret", "")                          // the victim: on the server
	b2, att := do("", "set=attacker", "victimvictimvictimvictim01") // attacker steers the ID
	b3, att2 := do(att, "set=att2", "")
	body, _ := do(att2, "", "")
	t.Logf("%q %d / %q %d / %q %d (same token as before: %v) / %q", b1, len(victim), b2, len(att), b3, len(att2), att2 == att, body)
	if strings.Contains(body, "secret") {
		t.Fatalf("the attacker's session reads the victim's record: %q", body)
	}
}
