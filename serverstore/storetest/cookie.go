package storetest

import (
	"net/http"
	"strings"
	"testing"

	"github.com/crumbs-go/session"
)

// testCookieAttributes: a session's own cookie attributes (SetCookie) are
// saved with it: later responses that write its cookie (a refresh, a
// change of values, a Regenerate) keep them, a parallel request's save does
// not undo them; a scope (Path, Domain) of its own is refused.
func testCookieAttributes(t *testing.T, newBackend newFunc) {
	t.Parallel()
	b, c := newBackend(t)
	br := newBrowser(t, b, c)
	lines := func(w interface{ Result() *http.Response }) []string { return w.Result().Header.Values("Set-Cookie") }
	live := func(t *testing.T, ls []string) string {
		t.Helper()
		for _, l := range ls {
			if strings.HasPrefix(l, "sid=") && !strings.Contains(l, "Max-Age=0") {
				return l
			}
		}
		t.Fatalf("no live sid cookie in %q", ls)
		return ""
	}
	var err error
	w := br.do(func(s *session.Session) {
		s.Set("user", "ada")
		err = s.SetCookie(session.Cookie{SameSite: http.SameSiteStrictMode, Secure: session.SecureAlways})
	})
	if err != nil {
		t.Fatal(err)
	}
	if l := live(t, lines(w)); !strings.Contains(l, "; Secure") || !strings.Contains(l, "SameSite=Strict") || !strings.Contains(l, "HttpOnly") {
		t.Fatalf("SetCookie did not reach the cookie: %q", l)
	}
	held := br.current()
	// A parallel request that loaded before and saves a value after.
	br.send(held, func(s *session.Session) { s.Set("cart", 1) })
	for _, step := range []struct {
		name string
		f    sessionFunc
	}{
		{"a refresh", func(s *session.Session) { s.Touch() }},
		{"a change of values", func(s *session.Session) { s.Set("n", 2) }},
		{"a Regenerate", func(s *session.Session) { s.Regenerate(true) }},
	} {
		l := live(t, lines(br.do(step.f)))
		if !strings.Contains(l, "; Secure") || !strings.Contains(l, "SameSite=Strict") {
			t.Fatalf("after %s the cookie lost its attributes: %q", step.name, l)
		}
	}
	// Refused: a scope of its own, a weaker Secure; nothing changes.
	for _, bad := range []session.Cookie{{Path: "/app"}, {Domain: "example.com"}, {Secure: session.SecureNever}} {
		br.do(func(s *session.Session) { err = s.SetCookie(bad) })
		if err == nil {
			t.Fatalf("SetCookie(%+v) accepted", bad)
		}
	}
	var user string
	w = br.do(func(s *session.Session) { user, _ = session.Get[string](s, "user"); s.Touch() })
	if l := live(t, lines(w)); user != "ada" || !strings.Contains(l, "SameSite=Strict") || !strings.Contains(l, "; Path=/;") {
		t.Fatalf("the next request: user %q, cookie %q", user, l)
	}
	w = br.do(func(s *session.Session) { err = s.SetCookie(session.Cookie{}); s.Touch() })
	if l := live(t, lines(w)); err != nil || !strings.Contains(l, "; Path=/;") {
		t.Fatalf("SetCookie(Cookie{}) did not restore the Manager's attributes: %v %q", err, l)
	}
}
