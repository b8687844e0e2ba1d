package storetest

import (
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/crumbs-go/session"
	"github.com/crumbs-go/session/serverstore"
)

// testGrace checks what a request that still carries a session's old ID
// sees after a Regenerate (serverstore.WithGrace): within the grace of a
// same-user Regenerate it reads the new session, saves nothing and leaves
// the cookie alone; a sign-in never resolves (session fixation); after the
// grace the old ID gets a fresh session.
func testGrace(t *testing.T, newBackend newFunc) {
	type world struct {
		br    *browser
		ahead func(time.Duration)
	}
	setup := func(t *testing.T, opts ...serverstore.Option) world {
		b, c := backend(t, newBackend)
		store, err := serverstore.New(b, secrets, opts...)
		if err != nil {
			t.Fatal(err)
		}
		var mu sync.Mutex
		var ahead time.Duration
		now := func() time.Time { mu.Lock(); defer mu.Unlock(); return c.now().Add(ahead) }
		br := newBrowser(t, store, c, session.WithIdentityKey("user"), session.WithClock(now))
		return world{br, func(d time.Duration) { mu.Lock(); ahead += d; mu.Unlock() }}
	}
	type seen struct {
		user  string
		cart  int
		isNew bool
		set   bool // the response set or expired the cookie
	}
	look := func(br *browser, cookie string, f sessionFunc) seen {
		var v seen
		w, _ := br.send(cookie, func(s *session.Session) {
			v.user, _ = session.Get[string](s, "user")
			v.cart, _ = session.Get[int](s, "cart")
			v.isNew = s.IsNew()
			if f != nil {
				f(s)
			}
		})
		v.set = setsCookie(w)
		return v
	}
	t.Run("SameUserRotationReadsWithinTheGrace", func(t *testing.T) {
		t.Parallel()
		g := setup(t)
		g.br.do(func(s *session.Session) { s.Set("user", "ada"); s.Set("cart", 3) })
		old := g.br.current()
		g.br.do(func(s *session.Session) { s.Regenerate(true) }) // an ID rotation
		g.ahead(serverstore.DefaultGrace / 2)
		if v := look(g.br, old, func(s *session.Session) { s.Set("theme", "dark") }); v.user != "ada" || v.cart != 3 || v.isNew || v.set {
			t.Fatalf("the old ID, half the grace after an ID rotation: %+v; want the signed-in session, read only, the cookie left alone", v)
		}
		var theme string
		g.br.do(func(s *session.Session) { theme, _ = session.Get[string](s, "theme") })
		if theme != "" {
			t.Fatal("a change through the old ID reached the new session")
		}
		g.ahead(serverstore.DefaultGrace)
		if v := look(g.br, old, nil); v.user != "" || !v.isNew || v.set {
			t.Fatalf("the old ID after the grace: %+v; want a fresh session, the cookie left alone", v)
		}
		if v := look(g.br, g.br.current(), nil); v.user != "ada" || v.cart != 3 {
			t.Fatalf("the new session: %+v", v)
		}
	})
	t.Run("PrivilegeRaiseNeverResolves", func(t *testing.T) {
		// A second factor: the same user, a value set in the rotating
		// request. The pre-MFA ID (perhaps planted by whoever knows the
		// password) must not read the raised session.
		t.Parallel()
		g := setup(t)
		g.br.do(func(s *session.Session) { s.Set("user", "ada"); s.Set("cart", 1) })
		planted := g.br.current()
		g.br.do(func(s *session.Session) { s.Set("cart", 2); s.Regenerate(true) })
		if v := look(g.br, planted, nil); v.user != "" || !v.isNew || v.set {
			t.Fatalf("the ID from before a same-user Regenerate that changed a value: %+v; want a fresh session, the cookie left alone", v)
		}
	})
	t.Run("AChangeAfterTheRotationEndsTheGrace", func(t *testing.T) {
		// The old ID reads only what it could read before the rotation:
		// once the new session holds another value (a second factor, a
		// value merged in), the grace is over for it.
		t.Parallel()
		g := setup(t)
		g.br.do(func(s *session.Session) { s.Set("user", "ada"); s.Set("cart", 1) })
		old := g.br.current()
		g.br.do(func(s *session.Session) { s.Regenerate(true) })
		if v := look(g.br, old, nil); v.user != "ada" || v.cart != 1 {
			t.Fatalf("the old ID right after an ID rotation: %+v; want the signed-in session", v)
		}
		g.br.do(func(s *session.Session) { s.Set("cart", 2) })
		if v := look(g.br, old, nil); v.user != "" || !v.isNew || v.set {
			t.Fatalf("the old ID after the new session changed: %+v; want a fresh session, the cookie left alone", v)
		}
	})
	t.Run("SignInNeverResolves", func(t *testing.T) {
		t.Parallel()
		g := setup(t)
		g.br.do(func(s *session.Session) { s.Set("cart", 3) })
		planted := g.br.current() // an anonymous ID, perhaps an attacker's
		g.br.do(func(s *session.Session) { s.Set("user", "ada") })
		if v := look(g.br, planted, nil); v.user != "" || !v.isNew || v.set {
			t.Fatalf("the anonymous ID right after a sign-in: %+v; want a fresh session, the cookie left alone", v)
		}
		signedIn := g.br.current()
		g.br.do(func(s *session.Session) { s.Set("user", "bob") }) // another user on this browser
		if v := look(g.br, signedIn, nil); v.user != "" || !v.isNew || v.set {
			t.Fatalf("ada's ID right after bob signed in on the browser: %+v; want a fresh session", v)
		}
	})
	t.Run("DestroyThroughTheGraceEndsTheNewSession", func(t *testing.T) {
		t.Parallel()
		g := setup(t)
		g.br.do(func(s *session.Session) { s.Set("user", "ada") })
		old := g.br.current()
		g.br.do(func(s *session.Session) { s.Regenerate(true) })
		look(g.br, old, func(s *session.Session) { s.Destroy() })
		if v := look(g.br, g.br.current(), nil); v.user != "" || !v.isNew {
			t.Fatalf("after a logout through the old ID the new session still answers: %+v", v)
		}
	})
	t.Run("NoGraceWhenOff", func(t *testing.T) {
		t.Parallel()
		g := setup(t, serverstore.WithGrace(0))
		g.br.do(func(s *session.Session) { s.Set("user", "ada") })
		old := g.br.current()
		g.br.do(func(s *session.Session) { s.Regenerate(true) })
		if v := look(g.br, old, nil); v.user != "" || !v.isNew || v.set {
			t.Fatalf("the old ID with WithGrace(0): %+v; want a fresh session, the cookie left alone", v)
		}
	})
}

// setsCookie reports whether a response sets or expires the sid cookie.
func setsCookie(w *httptest.ResponseRecorder) bool {
	for _, line := range w.Result().Header.Values("Set-Cookie") {
		if strings.HasPrefix(line, "sid=") {
			return true
		}
	}
	return false
}
