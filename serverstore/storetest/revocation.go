package storetest

import (
	"bytes"
	"crypto/fips140"
	"errors"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/crumbs-go/session"
	"github.com/crumbs-go/session/cookiestore"
	"github.com/crumbs-go/session/devices"
	"github.com/crumbs-go/session/serverstore"
)

// revoking is cookie mode with the backend under test as its revocation
// store (cookiestore.WithRevocation), sessions bound to the identity
// value "user".
type revoking struct {
	t     *testing.T
	b     serverstore.Backend
	clock clock
	h     *browser
	idx   *devices.Index
	logs  *lockedBuffer
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string { l.mu.Lock(); defer l.mu.Unlock(); return l.b.String() }

func newRevoking(t *testing.T, newBackend newFunc, opts []cookiestore.Option, mopts ...session.Option) *revoking {
	t.Helper()
	b, c := backend(t, newBackend)
	store, err := cookiestore.New(secrets, append([]cookiestore.Option{cookiestore.WithRevocation(b)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	idx, err := devices.New(store, devices.WithClock(c.now))
	if err != nil {
		t.Fatal(err)
	}
	logs := &lockedBuffer{}
	h := newBrowser(t, store, c, append([]session.Option{session.WithIdentityKey("user"),
		session.WithLogger(slog.New(slog.NewTextHandler(logs, nil)))}, mopts...)...)
	return &revoking{t: t, b: b, clock: c, h: h, idx: idx, logs: logs}
}

func (g *revoking) browser() *browser { return &browser{h: g.h.h} }

// user is who cookie's session is signed in as ("" for nobody), and
// whether the response set or expired the cookie.
func (g *revoking) user(cookie string) (user string, wrote bool) {
	g.t.Helper()
	w, _ := (&browser{h: g.h.h}).send(cookie, func(s *session.Session) { user, _ = session.Get[string](s, "user") })
	if w.Code != 200 {
		g.t.Fatalf("status %d: %s", w.Code, w.Body)
	}
	return user, len(w.Result().Cookies()) > 0
}

func (g *revoking) wantUser(cookie, want, why string) {
	g.t.Helper()
	if got, _ := g.user(cookie); got != want {
		g.t.Fatalf("%s: signed in as %q, want %q\nlog:\n%s", why, got, want, g.logs)
	}
}

func (g *revoking) handle(br *browser) (h string) {
	br.do(func(s *session.Session) { h = g.idx.Handle(s) })
	return h
}

func testRevocation(t *testing.T, newBackend newFunc) {
	if fips140.Enforced() {
		// Cookie mode seals with XChaCha20-Poly1305: under
		// GODEBUG=fips140=only it refuses to start, revocation or not.
		b, _ := backend(t, newBackend)
		if _, err := cookiestore.New(secrets, cookiestore.WithRevocation(b)); err == nil {
			t.Fatal("cookiestore.New in FIPS 140-only mode: no error")
		}
		return
	}
	every := []cookiestore.Option{cookiestore.WithCheckInterval(0)}
	t.Run("CopyRefusedAfterDestroyAfterTheInterval", func(t *testing.T) {
		g := newRevoking(t, newBackend, []cookiestore.Option{cookiestore.WithCheckInterval(2 * time.Second)})
		br := g.browser()
		br.do(func(s *session.Session) { s.Set("user", "ann") })
		copied := br.current()
		br.do(func(s *session.Session) { s.Destroy() })
		if br.current() != "" {
			t.Fatal("Destroy left the cookie")
		}
		g.wantUser(copied, "ann", "a copy within the check interval (not checked yet)")
		g.clock.sleep(3 * time.Second)
		g.wantUser(copied, "", "a copy after the check interval")
		if !strings.Contains(g.logs.String(), "revoked: the session was destroyed") {
			t.Fatalf("the log does not say why:\n%s", g.logs)
		}
		g.wantUser(copied, "", "the copy again")
	})
	t.Run("IntervalZeroRefusesAtOnce", func(t *testing.T) {
		g := newRevoking(t, newBackend, every)
		br := g.browser()
		br.do(func(s *session.Session) { s.Set("user", "ann") })
		copied := br.current()
		g.wantUser(copied, "ann", "before the Destroy")
		br.do(func(s *session.Session) { s.Destroy() })
		g.wantUser(copied, "", "a copy after Destroy")
	})
	t.Run("SignOutByRemovingTheIdentity", func(t *testing.T) {
		g := newRevoking(t, newBackend, every)
		br := g.browser()
		br.do(func(s *session.Session) { s.Set("user", "ann"); s.Set("theme", "dark") })
		copied := br.current()
		br.do(func(s *session.Session) { s.Delete("user") })
		g.wantUser(br.current(), "", "the browser after its sign-out")
		g.wantUser(copied, "", "a copy after the sign-out (no grace: the identity changed)")
		// And a user switch: the old user's cookie is refused at once.
		br.do(func(s *session.Session) { s.Set("user", "bob") })
		bob := br.current()
		br.do(func(s *session.Session) { s.Set("user", "cid") })
		g.wantUser(br.current(), "cid", "the browser after the switch")
		g.wantUser(bob, "", "bob's cookie after the switch to cid")
	})
	t.Run("EndAllKeepsTheCurrentSession", func(t *testing.T) {
		g := newRevoking(t, newBackend, every)
		a, b, c, other := g.browser(), g.browser(), g.browser(), g.browser()
		for _, br := range []*browser{a, b, c} {
			br.do(func(s *session.Session) { s.Set("user", "ann") })
		}
		other.do(func(s *session.Session) { s.Set("user", "bob") })
		copyB := b.current()
		g.clock.sleep(time.Second) // bound in an earlier second than the call
		keep := g.handle(a)
		if _, err := g.idx.EndAll(ctx, "ann", keep); err != nil {
			t.Fatal(err)
		}
		g.wantUser(a.current(), "ann", "the session EndAll kept")
		g.wantUser(b.current(), "", "another session of the user")
		g.wantUser(copyB, "", "a copy of it")
		g.wantUser(c.current(), "", "a third")
		g.wantUser(other.current(), "bob", "another user's session")
		a.do(func(s *session.Session) { s.Regenerate(true) }) // the kept session rotates: still kept
		g.wantUser(a.current(), "ann", "the kept session after an ID rotation")
		g.clock.sleep(time.Second)
		b.do(func(s *session.Session) { s.Set("user", "ann") })
		g.wantUser(b.current(), "ann", "a sign-in after EndAll")
	})
	t.Run("EndOne", func(t *testing.T) {
		g := newRevoking(t, newBackend, every)
		a, b := g.browser(), g.browser()
		a.do(func(s *session.Session) { s.Set("user", "ann") })
		b.do(func(s *session.Session) { s.Set("user", "ann") })
		ok, err := g.idx.End(ctx, "ann", g.handle(b))
		if err != nil || !ok {
			t.Fatalf("End = %v, %v", ok, err)
		}
		g.wantUser(b.current(), "", "the ended session")
		g.wantUser(a.current(), "ann", "the other one")
		if _, err := g.idx.List(ctx, "ann"); !errors.Is(err, errors.ErrUnsupported) {
			t.Fatalf("List in cookie mode = %v, want ErrUnsupported", err)
		}
	})
	t.Run("GraceOfAnIDRotation", func(t *testing.T) {
		g := newRevoking(t, newBackend, append(every, cookiestore.WithGrace(2*time.Second)))
		br := g.browser()
		br.do(func(s *session.Session) { s.Set("user", "ann") })
		old := br.current()
		br.do(func(s *session.Session) { s.Regenerate(true) })
		if br.current() == old {
			t.Fatal("Regenerate kept the cookie")
		}
		user, wrote := g.user(old)
		if user != "ann" || wrote {
			t.Fatalf("the old cookie within the grace: user %q, wrote a cookie %v; want ann, and no cookie", user, wrote)
		}
		w, _ := (&browser{h: g.h.h}).send(old, func(s *session.Session) { s.Set("cart", "x") })
		if len(w.Result().Cookies()) > 0 {
			t.Fatal("a change through the superseded cookie wrote a cookie over the new one")
		}
		g.wantUser(br.current(), "ann", "the new cookie")
		g.clock.sleep(3 * time.Second)
		g.wantUser(old, "", "the old cookie after the grace")
		g.wantUser(br.current(), "ann", "the new cookie after the grace")
	})
	t.Run("DestroyThroughASupersededCookieEndsTheNewOne", func(t *testing.T) {
		g := newRevoking(t, newBackend, append(every, cookiestore.WithGrace(5*time.Second)))
		br := g.browser()
		br.do(func(s *session.Session) { s.Set("user", "ann") })
		old := br.current()
		br.do(func(s *session.Session) { s.Regenerate(true) })
		(&browser{h: g.h.h}).send(old, func(s *session.Session) { s.Destroy() })
		g.wantUser(br.current(), "", "the new cookie after a Destroy through the old one")
	})
	t.Run("ParallelSignOuts", func(t *testing.T) {
		// 50 sessions of one user sign out at once: every write of the
		// user's record lands (compare-and-set), so every copy is refused.
		g := newRevoking(t, newBackend, every)
		const n = 50
		copies := make([]string, n)
		brs := make([]*browser, n)
		for i := range brs {
			brs[i] = g.browser()
			brs[i].do(func(s *session.Session) { s.Set("user", "ann") })
			copies[i] = brs[i].current()
		}
		var wg sync.WaitGroup
		for _, br := range brs {
			wg.Go(func() {
				w := br.do(func(s *session.Session) { s.Destroy() })
				if w.Code != 200 {
					t.Errorf("Destroy: %d %s", w.Code, w.Body)
				}
			})
		}
		wg.Wait()
		for i, c := range copies {
			g.wantUser(c, "", fmt.Sprintf("copy %d after the parallel sign-outs", i))
		}
	})
	t.Run("RecordExpiresWithItsCookies", func(t *testing.T) {
		// A revocation lasts as long as the cookie could: then the user's
		// record is gone, and nothing grows.
		g := newRevoking(t, newBackend, every, session.WithLifetime(2*time.Second))
		br := g.browser()
		br.do(func(s *session.Session) { s.Set("user", "ann") })
		br.do(func(s *session.Session) { s.Destroy() })
		if _, err := g.b.Get(ctx, cookiestore.RevocationKey("ann")); err != nil {
			t.Fatalf("the user's record after Destroy: %v", err)
		}
		waitUntil(t, g.clock, 6*time.Second, func() bool {
			_, err := g.b.Get(ctx, cookiestore.RevocationKey("ann"))
			return errors.Is(err, serverstore.ErrNotFound)
		}, "the record to expire")
	})
	t.Run("ARevokedCopyCannotRegenerateItself", func(t *testing.T) {
		// A copy checked moments before the sign-out (not due for another
		// check) calls an endpoint that rotates the ID: the Regenerate is
		// refused, or the copy would become a session nothing names.
		g := newRevoking(t, newBackend, []cookiestore.Option{cookiestore.WithCheckInterval(time.Minute)})
		br := g.browser()
		br.do(func(s *session.Session) { s.Set("user", "ann") })
		copied := br.current()
		br.do(func(s *session.Session) { s.Destroy() })
		w, after := (&browser{h: g.h.h}).send(copied, func(s *session.Session) { s.Regenerate(true) })
		if w.Code != 200 {
			t.Fatalf("status %d", w.Code)
		}
		if after != "" && after != copied {
			g.wantUser(after, "", "the cookie a revoked copy's Regenerate set")
		}
		// Nor through EndAll, nor with a change of values (a write).
		br.do(func(s *session.Session) { s.Set("user", "ann") })
		copied = br.current()
		g.clock.sleep(time.Second)
		if _, err := g.idx.EndAll(ctx, "ann", ""); err != nil {
			t.Fatal(err)
		}
		_, after = (&browser{h: g.h.h}).send(copied, func(s *session.Session) { s.Regenerate(true) })
		if after != "" && after != copied {
			g.wantUser(after, "", "the cookie a Regenerate of a copy ended by EndAll set")
		}
		_, after = (&browser{h: g.h.h}).send(copied, func(s *session.Session) { s.Set("cart", 1) })
		if after != "" {
			t.Fatal("a write through a copy ended by EndAll set a cookie")
		}
		// Nor, after a sign-out by removing the identity value (the copy
		// is superseded), by Destroy then setting the user again.
		g.clock.sleep(2 * time.Second) // past the not-before of the EndAll above
		br.do(func(s *session.Session) { s.Set("user", "ann") })
		copied = br.current()
		br.do(func(s *session.Session) { s.Delete("user") })
		_, after = (&browser{h: g.h.h}).send(copied, func(s *session.Session) {
			u, _ := session.Get[string](s, "user")
			s.Destroy()
			s.Set("user", u)
		})
		if after != "" {
			g.wantUser(after, "", "the cookie a Destroy-then-Set through a signed-out copy set")
		}
		// Nor by Destroy, then setting the user again (a "reset").
		br.do(func(s *session.Session) { s.Set("user", "ann") })
		copied = br.current()
		g.clock.sleep(time.Second)
		if _, err := g.idx.EndAll(ctx, "ann", ""); err != nil {
			t.Fatal(err)
		}
		_, after = (&browser{h: g.h.h}).send(copied, func(s *session.Session) {
			u, _ := session.Get[string](s, "user")
			s.Destroy()
			s.Set("user", u)
		})
		if after != "" {
			g.wantUser(after, "", "the cookie a Destroy-then-Set through a revoked copy set")
		}
	})
	t.Run("AnOldCookieLeavesTheNewOneAlone", func(t *testing.T) {
		// Requests sent with the cookie a Regenerate superseded, answered
		// after the grace or after a sign-out, get a fresh session and
		// leave the browser's newer cookie alone, as in server mode.
		g := newRevoking(t, newBackend, append(every, cookiestore.WithGrace(time.Second)))
		br := g.browser()
		br.do(func(s *session.Session) { s.Set("user", "ann") })
		old := br.current()
		br.do(func(s *session.Session) { s.Regenerate(true) })
		g.clock.sleep(2 * time.Second)
		for _, f := range []sessionFunc{nil, func(s *session.Session) { s.Set("cart", 1) }} {
			w, _ := (&browser{h: g.h.h}).send(old, f)
			if len(w.Result().Cookies()) > 0 {
				t.Fatalf("a request with the superseded cookie, past the grace, set or expired the cookie: %v", w.Result().Header["Set-Cookie"])
			}
		}
		g.wantUser(old, "", "the superseded cookie past the grace")
		g.wantUser(br.current(), "ann", "the new cookie")
		// A sign-out: the old cookie's late requests keep off the new one.
		signedIn := br.current()
		br.do(func(s *session.Session) { s.Delete("user"); s.Set("theme", "dark") })
		w, _ := (&browser{h: g.h.h}).send(signedIn, func(s *session.Session) { s.Set("cart", 2) })
		if len(w.Result().Cookies()) > 0 {
			t.Fatal("a request with the signed-out cookie touched the cookie after the sign-out")
		}
		g.wantUser(signedIn, "", "the signed-out cookie")
	})
	t.Run("GraceHoldsForCookiesNotDueForACheck", func(t *testing.T) {
		// With the default interval, a request sent with the old cookie
		// lands after an ID rotation and changes a value: its response
		// must not put the old cookie back (the user would be signed out at
		// its next check, past the grace).
		g := newRevoking(t, newBackend, []cookiestore.Option{cookiestore.WithGrace(2 * time.Second)})
		br := g.browser()
		br.do(func(s *session.Session) { s.Set("user", "ann") })
		old := br.current()
		br.do(func(s *session.Session) { s.Regenerate(true) })
		w, _ := (&browser{h: g.h.h}).send(old, func(s *session.Session) { s.Set("cart", 1) })
		if len(w.Result().Cookies()) > 0 {
			t.Fatal("a write through the superseded cookie set a cookie over the new one")
		}
		g.clock.sleep(3 * time.Second)
		g.wantUser(br.current(), "ann", "the new cookie after the grace")
	})
	t.Run("SignInGuard", func(t *testing.T) {
		// WithSignInGuard: a request sent with the anonymous cookie before
		// the sign-in's response arrived changes the session after it: its
		// response leaves the signed-in cookie alone.
		g := newRevoking(t, newBackend, []cookiestore.Option{cookiestore.WithSignInGuard()})
		br := g.browser()
		br.do(func(s *session.Session) { s.Set("cart", 1) })
		anon := br.current()
		br.do(func(s *session.Session) { s.Set("user", "ann") })
		w, _ := (&browser{h: g.h.h}).send(anon, func(s *session.Session) { s.Set("cart", 2) })
		if len(w.Result().Cookies()) > 0 {
			t.Fatal("a write through the anonymous cookie a sign-in superseded set a cookie")
		}
		g.wantUser(br.current(), "ann", "the signed-in cookie")
		// Nor when the handler saves, then changes more.
		w, _ = (&browser{h: g.h.h}).send(anon, func(s *session.Session) {
			s.Set("cart", 3)
			if err := s.Save(); err != nil {
				t.Errorf("Save = %v, want nil (the changes are dropped)", err)
			}
			s.Set("cart", 4)
		})
		if len(w.Result().Cookies()) > 0 {
			t.Fatalf("a Save, then a change, through the anonymous cookie a sign-in superseded touched the cookie: %v", w.Result().Header["Set-Cookie"])
		}
		// Nor does a Regenerate through it (an in-flight anonymous request).
		w, _ = (&browser{h: g.h.h}).send(anon, func(s *session.Session) { s.Regenerate(true) })
		if len(w.Result().Cookies()) > 0 {
			t.Fatal("a Regenerate through the anonymous cookie a sign-in superseded set a cookie")
		}
		g.wantUser(br.current(), "ann", "the signed-in cookie after the anonymous Regenerate")
		// Anonymous sessions no sign-in superseded write as before.
		other := g.browser()
		other.do(func(s *session.Session) { s.Set("cart", 1) })
		if w := other.do(func(s *session.Session) { s.Set("cart", 2) }); len(w.Result().Cookies()) == 0 {
			t.Fatal("an anonymous session's change set no cookie")
		}
	})
	t.Run("ReloadAndHeaderSeeTheSameVerdict", func(t *testing.T) {
		g := newRevoking(t, newBackend, every)
		br := g.browser()
		br.do(func(s *session.Session) { s.Set("user", "ann") })
		copied := br.current()
		br.do(func(s *session.Session) { s.Destroy() })
		w := httptest.NewRecorder()
		r := httptest.NewRequest("GET", "/", nil)
		r.Header.Set("Cookie", copied)
		var user string
		g.h.h.ServeHTTP(w, r.WithContext(contextWith(r, func(s *session.Session) {
			s.Reload()
			user, _ = session.Get[string](s, "user")
		})))
		if user != "" {
			t.Fatalf("Reload of a revoked cookie: signed in as %q", user)
		}
	})
}

// waitUntil polls cond until it holds, advancing a fake clock, or fails
// after d of real time.
func waitUntil(t *testing.T, c clock, d time.Duration, cond func() bool, what string) {
	t.Helper()
	for end := time.Now().Add(d); ; {
		if cond() {
			return
		}
		if time.Now().After(end) {
			t.Fatalf("waited %v for %s", d, what)
		}
		c.sleep(250 * time.Millisecond)
	}
}
