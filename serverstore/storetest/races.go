package storetest

import (
	"context"
	"errors"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/crumbs-go/session"
	"github.com/crumbs-go/session/serverstore"
)

// failCreate is a backend whose next Create fails (a Redis blip during a
// login).
type failCreate struct {
	serverstore.Backend
	fail atomic.Int64 // how many Creates fail next
}

var errBlip = errors.New("storetest: the backend failed once")

func (f *failCreate) Create(ctx context.Context, key string, e *serverstore.Entry, exp time.Time) error {
	if f.fail.Add(-1) >= 0 {
		return errBlip
	}
	return f.Backend.Create(ctx, key, e, exp)
}

// testRaces holds what review found where the lifecycle meets the store.
func testRaces(t *testing.T, newBackend newFunc) {
	t.Run("UpdateThenRegenerate", func(t *testing.T) {
		b, c := newBackend(t)
		br := newBrowser(t, b, c)
		br.do(func(s *session.Session) { s.Set("n", 0) })
		br.do(func(s *session.Session) {
			session.Update(s, "n", func(n int) int { return n + 1000 })
			s.Regenerate(true)
		})
		var n int
		br.do(func(s *session.Session) { n, _ = session.Get[int](s, "n") })
		if n != 1000 {
			t.Fatalf("Update(+1000) then Regenerate(true) stored %d", n)
		}
	})
	t.Run("FailedLoginKeepsTheSession", func(t *testing.T) {
		b, c := backend(t, newBackend)
		fb := &failCreate{Backend: b}
		br := newBrowser(t, fb, c)
		br.do(func(s *session.Session) { s.Set("cart", 3) })
		cookie := br.current()
		// The handler's Save fails; the commit before the headers tries
		// again and succeeds.
		fb.fail.Store(1)
		w, after := br.send(cookie, func(s *session.Session) {
			s.Regenerate(true)
			s.Set("user", "ada")
			if err := s.Save(); err == nil {
				t.Error("Save succeeded over a failing backend")
			}
		})
		var cart int
		var user string
		br.send(after, func(s *session.Session) {
			cart, _ = session.Get[int](s, "cart")
			user, _ = session.Get[string](s, "user")
		})
		if w.Code != 200 || after == cookie || cart != 3 || user != "ada" {
			t.Fatalf("a login whose first save failed: status %d, new cookie %t, cart %d, user %q", w.Code, after != cookie, cart, user)
		}
		// Both attempts fail: 503, and the old token still holds the session.
		_, cookie = br.send(after, func(s *session.Session) { s.Set("cart", 4) })
		fb.fail.Store(2)
		w, after = br.send(cookie, func(s *session.Session) { s.Regenerate(true); s.Save() })
		cart = 0
		br.send(cookie, func(s *session.Session) { cart, _ = session.Get[int](s, "cart") })
		if w.Code != 503 || after != cookie || cart != 4 {
			t.Fatalf("a login that failed: status %d, cookie changed %t, old token's cart %d (want 503, unchanged, 4)", w.Code, after != cookie, cart)
		}
	})
	t.Run("UnsetDestroyDeletesTheRecord", func(t *testing.T) {
		b, c := newBackend(t)
		br := newBrowser(t, b, c, session.WithDestroyEmpty(true))
		br.do(func(s *session.Session) { s.Set("user", "ada") })
		cookie := br.current()
		br.do(func(s *session.Session) { s.Delete("user") })
		var user string
		br.send(cookie, func(s *session.Session) { user, _ = session.Get[string](s, "user") })
		if user != "" || br.current() != "" {
			t.Fatalf("after the last value was deleted (WithDestroyEmpty) the old cookie reads user %q", user)
		}
	})
	t.Run("UpdateAfterClear", func(t *testing.T) {
		b, c := newBackend(t)
		br := newBrowser(t, b, c)
		br.do(func(s *session.Session) { s.Set("n", 10) })
		br.do(func(s *session.Session) {
			s.Clear()
			session.Update(s, "n", func(n int) int { return n + 1 })
		})
		var n int
		br.do(func(s *session.Session) { n, _ = session.Get[int](s, "n") })
		if n != 1 {
			t.Fatalf("Clear then Update(+1) stored %d, want 1", n)
		}
	})
	t.Run("OldTokenAfterLogin", func(t *testing.T) {
		b, c := newBackend(t)
		br := newBrowser(t, b, c)
		br.do(func(s *session.Session) { s.Set("cart", 1) })
		old := br.current()
		br.do(func(s *session.Session) { s.Regenerate(true); s.Set("user", "ada") })
		// Requests the browser sent before the login's response arrived,
		// served after it: they must not touch the new cookie.
		for _, f := range []sessionFunc{func(s *session.Session) { s.Get("cart") }, func(s *session.Session) { s.Set("x", 1) }} {
			w, _ := br.send(old, f)
			if sc := w.Result().Header.Values("Set-Cookie"); len(sc) != 0 {
				t.Fatalf("a request with the pre-login token sent %q", sc)
			}
		}
		var user string
		br.do(func(s *session.Session) { user, _ = session.Get[string](s, "user") })
		if user != "ada" {
			t.Fatalf("after the overlapping requests the login's session reads user %q", user)
		}
	})
	t.Run("LogoutAfterLoginWins", func(t *testing.T) {
		b, c := newBackend(t)
		br := newBrowser(t, b, c)
		br.do(func(s *session.Session) { s.Set("cart", 1) })
		old := br.current()
		br.do(func(s *session.Session) { s.Regenerate(true); s.Set("user", "ada") })
		br.send(old, func(s *session.Session) { s.Destroy() }) // a logout that raced the login
		var user string
		br.do(func(s *session.Session) { user, _ = session.Get[string](s, "user") })
		if user != "" {
			t.Fatal("a logout through the pre-login token left the login's session alive")
		}
	})
	t.Run("RefreshKeepsAParallelLifetime", func(t *testing.T) {
		b, c := newBackend(t)
		br := newBrowser(t, b, c, session.WithRolling(true))
		br.do(func(s *session.Session) { s.Set("user", "ada") })
		cookie := br.current()
		loaded, set := make(chan struct{}), make(chan struct{})
		done := make(chan struct{})
		var refresh *httptest.ResponseRecorder
		go func() {
			defer close(done)
			refresh, _ = br.send(cookie, func(s *session.Session) { s.Get("user"); close(loaded); <-set })
		}()
		<-loaded
		br.send(cookie, func(s *session.Session) { s.SetLifetime(30 * 24 * time.Hour); s.SetBrowserSession(true) })
		close(set)
		<-done
		if sc := refresh.Result().Header.Get("Set-Cookie"); sc == "" || strings.Contains(sc, "Max-Age") {
			t.Fatalf("the parallel refresh's own response sent a persistent cookie: %q", sc)
		}
		var left time.Duration
		w, _ := br.send(cookie, func(s *session.Session) { left = s.Deadline().Sub(c.now()) })
		if left < 29*24*time.Hour {
			t.Fatalf("a parallel refresh put the old deadline back: %v left, want 30 days", left)
		}
		if sc := w.Result().Header.Get("Set-Cookie"); sc == "" || strings.Contains(sc, "Max-Age") {
			t.Fatalf("a parallel refresh undid SetBrowserSession: %q", sc)
		}
	})
	t.Run("ReloadAfterSave", func(t *testing.T) {
		b, c := newBackend(t)
		br := newBrowser(t, b, c)
		br.do(func(s *session.Session) {
			s.Set("x", 1)
			if err := s.Save(); err != nil {
				t.Error(err)
			}
			id := s.ID()
			s.Reload()
			if x, _ := session.Get[int](s, "x"); x != 1 || s.ID() != id {
				t.Errorf("Reload after Save: x %d, ID changed %t", x, s.ID() != id)
			}
		})
		br.do(func(s *session.Session) {
			s.Regenerate(true)
			s.Set("user", "ada")
			s.Save()
			s.Reload()
			if u, _ := session.Get[string](s, "user"); u != "ada" {
				t.Errorf("Reload after a saved Regenerate: user %q", u)
			}
		})
	})
	t.Run("EmptySessionsAreNotStored", func(t *testing.T) {
		b, c := backend(t, newBackend)
		cb := &counting{Backend: b}
		br := newBrowser(t, cb, c)
		for name, f := range map[string]sessionFunc{
			"Set then Delete":       func(s *session.Session) { s.Set("k", 1); s.Delete("k") },
			"Regenerate on a fresh": func(s *session.Session) { s.Regenerate(true) },
		} {
			w, _ := br.send("", f)
			if cb.creates.Load() != 0 || len(w.Result().Header.Values("Set-Cookie")) != 0 {
				t.Fatalf("%s: %d records created, Set-Cookie %q", name, cb.creates.Load(), w.Result().Header.Values("Set-Cookie"))
			}
		}
		br.do(func(s *session.Session) { s.Set("k", 1) })
		creates := cb.creates.Load()
		br.do(func(s *session.Session) { s.Destroy(); s.Regenerate(false) })
		if cb.creates.Load() != creates || br.current() != "" {
			t.Fatalf("Destroy then Regenerate stored a session (cookie %q)", br.current())
		}
	})
}

// flaky is a backend whose next Retire fails (before it runs, or after:
// the reply is lost), or whose next Apply after a Retire fails.
type flaky struct {
	serverstore.Backend
	failRetire, loseRetire, failApply, loseCreate atomic.Int64
	retired                                       atomic.Bool
}

func (f *flaky) Create(ctx context.Context, key string, e *serverstore.Entry, exp time.Time) error {
	err := f.Backend.Create(ctx, key, e, exp)
	if err == nil && f.loseCreate.Add(-1) >= 0 {
		return errBlip // it happened, but the reply was lost
	}
	return err
}

func (f *flaky) Retire(ctx context.Context, key, next string, until time.Time) (*serverstore.Entry, error) {
	if f.failRetire.Add(-1) >= 0 {
		return nil, errBlip
	}
	e, err := f.Backend.Retire(ctx, key, next, until)
	f.retired.Store(err == nil)
	if err == nil && f.loseRetire.Add(-1) >= 0 {
		return nil, errBlip // it happened, but the reply was lost
	}
	return e, err
}

func (f *flaky) Apply(ctx context.Context, key string, w *serverstore.Write) ([]byte, error) {
	if f.retired.Load() && f.failApply.Add(-1) >= 0 {
		return nil, errBlip
	}
	return f.Backend.Apply(ctx, key, w)
}

// testRegenerateFailures: a login whose steps fail keeps or completes the
// session, never loses it.
func testRegenerateFailures(t *testing.T, newBackend newFunc) {
	login := func(t *testing.T, f *flaky, c clock, save bool) (before, after string, status int, br *browser) {
		br = newBrowser(t, f, c)
		br.do(func(s *session.Session) { s.Set("cart", 3) })
		before = br.current()
		w, after := br.send(before, func(s *session.Session) {
			s.Regenerate(true)
			s.Set("user", "ada")
			if save {
				s.Save()
			}
		})
		return before, after, w.Code, br
	}
	check := func(t *testing.T, br *browser, cookie string, wantUser string) {
		t.Helper()
		var cart int
		var user string
		br.send(cookie, func(s *session.Session) {
			cart, _ = session.Get[int](s, "cart")
			user, _ = session.Get[string](s, "user")
		})
		if cart != 3 || user != wantUser {
			t.Fatalf("cookie %.12q… holds cart %d, user %q; want 3 and %q", cookie, cart, user, wantUser)
		}
	}
	for _, tt := range []struct {
		name string
		arm  func(*flaky)
	}{
		{"RetireFailsOnce", func(f *flaky) { f.failRetire.Store(1) }},
		{"RetireReplyLost", func(f *flaky) { f.loseRetire.Store(1) }},
	} {
		t.Run(tt.name+"ThenSaveRetries", func(t *testing.T) {
			b, c := backend(t, newBackend)
			f := &flaky{Backend: b}
			tt.arm(f)
			before, after, status, br := login(t, f, c, true)
			if status != 200 || after == before {
				t.Fatalf("status %d, new cookie %t: the commit before the headers should complete the login", status, after != before)
			}
			check(t, br, after, "ada")
		})
	}
	// lostRetire logs in with a Retire whose reply is lost, then runs then
	// in the same request, and returns the cookie the browser holds after.
	lostRetire := func(t *testing.T, then func(*session.Session)) (*browser, string) {
		b, c := backend(t, newBackend)
		f := &flaky{Backend: b}
		br := newBrowser(t, f, c)
		br.do(func(s *session.Session) { s.Set("cart", 3) })
		f.loseRetire.Store(1)
		_, after := br.send(br.current(), func(s *session.Session) {
			s.Regenerate(true)
			s.Set("user", "ada")
			if err := s.Save(); err == nil {
				t.Error("Save succeeded though the Retire's reply was lost")
			}
			then(s)
		})
		return br, after
	}
	t.Run("LostRetireThenRegenerateAgain", func(t *testing.T) {
		br, after := lostRetire(t, func(s *session.Session) {
			s.Regenerate(true)
			if err := s.Save(); err != nil {
				t.Error(err)
			}
		})
		check(t, br, after, "ada")
	})
	t.Run("LostRetireThenReload", func(t *testing.T) {
		br, after := lostRetire(t, func(s *session.Session) {
			s.Reload() // give the login up
			if cart, _ := session.Get[int](s, "cart"); cart != 3 {
				t.Errorf("after Reload the session holds cart %d", cart)
			}
		})
		var cart int
		br.send(after, func(s *session.Session) { cart, _ = session.Get[int](s, "cart") })
		if cart != 3 {
			t.Fatalf("after a lost Retire reply and a Reload the browser's cookie holds cart %d, want 3", cart)
		}
	})
	t.Run("LostCreateReply", func(t *testing.T) {
		b, c := backend(t, newBackend)
		f := &flaky{Backend: b}
		br := newBrowser(t, f, c)
		f.loseCreate.Store(1)
		w, cookie := br.send("", func(s *session.Session) {
			s.Set("cart", 3)
			if err := s.Save(); err == nil {
				t.Error("Save succeeded though the Create's reply was lost")
			}
		})
		if w.Code != 200 || cookie == "" {
			t.Fatalf("a new session whose first Create reply was lost: status %d, cookie %q", w.Code, cookie)
		}
		check(t, br, cookie, "")
		f.loseCreate.Store(1)
		w, after := br.send(cookie, func(s *session.Session) { s.Regenerate(true); s.Set("user", "ada"); s.Save() })
		if w.Code != 200 || after == cookie {
			t.Fatalf("a login whose Create reply was lost: status %d, new cookie %t", w.Code, after != cookie)
		}
		check(t, br, after, "ada")
	})
	t.Run("RetireFailsWithoutRetry", func(t *testing.T) {
		b, c := backend(t, newBackend)
		f := &flaky{Backend: b}
		f.failRetire.Store(1)
		before, after, status, br := login(t, f, c, false)
		if status != 503 || after != before {
			t.Fatalf("status %d, cookie changed %t; want 503 and the old cookie", status, after != before)
		}
		check(t, br, before, "")
	})
	t.Run("MergeFails", func(t *testing.T) {
		b, c := backend(t, newBackend)
		f := &flaky{Backend: b}
		br := newBrowser(t, f, c)
		br.do(func(s *session.Session) { s.Set("cart", 3) })
		before := br.current()
		loaded, written := make(chan struct{}), make(chan struct{})
		var after string
		var status int
		done := make(chan struct{})
		go func() {
			defer close(done)
			var w *httptest.ResponseRecorder
			w, after = br.send(before, func(s *session.Session) {
				s.Get("cart")
				close(loaded)
				<-written
				f.failApply.Store(1) // the write that moves the parallel request's value
				s.Regenerate(true)
				s.Set("user", "ada")
			})
			status = w.Code
		}()
		<-loaded
		br.send(before, func(s *session.Session) { s.Set("note", "x") })
		close(written)
		<-done
		if status != 200 || after == before {
			t.Fatalf("status %d, new cookie %t: the login holds even when moving a parallel write fails", status, after != before)
		}
		check(t, br, after, "ada")
	})
	t.Run("UpdateAcrossRegenerate", func(t *testing.T) {
		b, c := newBackend(t)
		br := newBrowser(t, b, c)
		br.do(func(s *session.Session) { s.Set("n", 0) })
		before := br.current()
		loaded, updated := make(chan struct{}), make(chan struct{})
		var after string
		done := make(chan struct{})
		go func() {
			defer close(done)
			_, after = br.send(before, func(s *session.Session) {
				s.Get("n")
				close(loaded)
				<-updated
				session.Update(s, "n", func(n int) int { return n + 1 })
				s.Regenerate(true)
			})
		}()
		<-loaded
		br.send(before, func(s *session.Session) { session.Update(s, "n", func(n int) int { return n + 1 }) })
		close(updated)
		<-done
		var n int
		br.send(after, func(s *session.Session) { n, _ = session.Get[int](s, "n") })
		if n != 2 {
			t.Fatalf("two Updates(+1), one of them in a login: n = %d", n)
		}
	})
	t.Run("LogoutThenSetThroughRetiredToken", func(t *testing.T) {
		b, c := newBackend(t)
		br := newBrowser(t, b, c)
		br.do(func(s *session.Session) { s.Set("cart", 1) })
		old := br.current()
		br.do(func(s *session.Session) { s.Regenerate(true); s.Set("user", "ada") })
		br.send(old, func(s *session.Session) { s.Destroy(); s.AddFlash("bye") })
		var user string
		br.do(func(s *session.Session) { user, _ = session.Get[string](s, "user") })
		if user != "" {
			t.Fatal("Destroy then AddFlash through a retired token left the login's session alive")
		}
	})
	t.Run("LogoutThroughAChainOfLogins", func(t *testing.T) {
		b, c := newBackend(t)
		br := newBrowser(t, b, c)
		br.do(func(s *session.Session) { s.Set("cart", 1) })
		old := br.current()
		br.do(func(s *session.Session) { s.Regenerate(true); s.Save(); s.Regenerate(true); s.Set("user", "ada") })
		br.send(old, func(s *session.Session) { s.Destroy() })
		var user string
		br.do(func(s *session.Session) { user, _ = session.Get[string](s, "user") })
		if user != "" {
			t.Fatal("a logout through the first token missed the session two logins moved it to")
		}
	})
	t.Run("SettingsAreSeparate", func(t *testing.T) {
		b, c := newBackend(t)
		br := newBrowser(t, b, c)
		br.do(func(s *session.Session) { s.Set("user", "ada") })
		cookie := br.current()
		loaded, set := make(chan struct{}), make(chan struct{})
		done := make(chan struct{})
		var res *httptest.ResponseRecorder
		go func() {
			defer close(done)
			res, _ = br.send(cookie, func(s *session.Session) { s.Get("user"); close(loaded); <-set; s.SetBrowserSession(true) })
		}()
		<-loaded
		br.send(cookie, func(s *session.Session) { s.SetLifetime(30 * 24 * time.Hour) })
		close(set)
		<-done
		var left time.Duration
		var kind bool
		br.send(cookie, func(s *session.Session) { left = s.Deadline().Sub(c.now()) })
		kind = !strings.Contains(res.Result().Header.Get("Set-Cookie"), "Max-Age")
		if left < 29*24*time.Hour || !kind {
			t.Fatalf("SetBrowserSession in parallel with SetLifetime(30 days): %v left, browser-session cookie %t", left, kind)
		}
	})
}
