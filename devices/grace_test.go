package devices_test

import (
	"context"
	"errors"
	"testing"

	"github.com/crumbs-go/session"
	"github.com/crumbs-go/session/serverstore"
)

// The tests below come from an outside review of the grace
// (serverstore.WithGrace); each failed before its fix.

// An attacker who knows ada's password but lacks her second factor plants
// his password-only session; ada completes MFA on it with a Regenerate
// (same user): the planted ID then reads the elevated session.
func TestGraceMFAElevationFixation(t *testing.T) {
	a := newApp(t, nil)
	planted := a.do("", nil, func(s *session.Session) { s.Set("user", "ada"); s.Set("mfa", false) })
	// ada's browser, carrying the planted cookie, passes MFA: privilege
	// elevation, rotated as OWASP asks.
	a.do(planted, nil, func(s *session.Session) { s.Set("mfa", true); s.Regenerate(true) })
	var mfa bool
	var user string
	a.do(planted, nil, func(s *session.Session) {
		user, _ = session.Get[string](s, "user")
		mfa, _ = session.Get[bool](s, "mfa")
	})
	if mfa {
		t.Fatalf("the attacker's pre-MFA ID reads the elevated session: user=%q mfa=%v", user, mfa)
	}
}

// A request read through the grace calls "sign out everywhere else"
// keeping its own Handle: the Handle names the tombstone, so the user's
// live session is ended as well.
func TestGraceHandleEndAll(t *testing.T) {
	a := newApp(t, nil)
	old := a.do("", nil, func(s *session.Session) { s.Set("user", "ada") })
	cur := a.do(old, nil, func(s *session.Session) { s.Regenerate(true) })
	ctx := context.Background()
	a.do(old, nil, func(s *session.Session) {
		u, _ := session.Get[string](s, "user")
		if u != "ada" {
			t.Fatalf("no grace: %q", u)
		}
		ds, _ := a.idx.List(ctx, "ada")
		found := false
		for _, d := range ds {
			found = found || d.Handle == a.idx.Handle(s)
		}
		if !found {
			t.Errorf("Handle(s) of a grace-read session is in no listing (%d listed)", len(ds))
		}
		n, err := a.idx.EndAll(ctx, "ada", a.idx.Handle(s))
		t.Logf("EndAll ended %d, %v", n, err)
	})
	var u string
	a.do(cur, nil, func(s *session.Session) { u, _ = session.Get[string](s, "user") })
	if u != "ada" {
		t.Fatalf("sign-out-everywhere-else from a grace request ended the browser's current session")
	}
}

// Two Managers over one store, one without WithIdentityKey (a worker, a
// rollback of the option): a record's binding is carried by Regenerate, so
// a sign-in of another user there marks the tombstone, and the planted ID
// of the attacker reads the victim's session.
func TestGraceNoIdentityKeyCarriesBinding(t *testing.T) {
	store, err := serverstore.New(serverstore.NewMemory(), secrets)
	if err != nil {
		t.Fatal(err)
	}
	withKey, _ := session.New(store, session.WithIdentityKey("user"))
	without, _ := session.New(store)
	ctx := context.Background()
	s, _ := withKey.Load(ctx, "")
	s.Set("user", "mallory")
	planted, _, err := s.Commit()
	if err != nil {
		t.Fatal(err)
	}
	v, _ := without.Load(ctx, planted)
	v.Regenerate(false)
	v.Set("user", "ada")
	if _, _, err := v.Commit(); err != nil {
		t.Fatal(err)
	}
	x, _ := without.Load(ctx, planted)
	if u, _ := session.Get[string](x, "user"); u != "" {
		t.Fatalf("mallory's planted ID reads the session ada signed into: user=%q", u)
	}
}

// A session read through the grace reports ErrMoved from Commit: its token
// stops working when the grace ends, and nothing of it was saved.
func TestGraceCommitSaysMoved(t *testing.T) {
	a := newApp(t, nil)
	ctx := context.Background()
	s, _ := a.m.Load(ctx, "")
	s.Set("user", "ada")
	old, _, err := s.Commit()
	if err != nil {
		t.Fatal(err)
	}
	r, _ := a.m.Load(ctx, old)
	r.Regenerate(true)
	if _, _, err := r.Commit(); err != nil {
		t.Fatal(err)
	}
	g, _ := a.m.Load(ctx, old)
	if u, _ := session.Get[string](g, "user"); u != "ada" {
		t.Fatalf("no grace: user %q", u)
	}
	g.Touch()
	if tok, _, err := g.Commit(); !errors.Is(err, session.ErrMoved) || tok != old {
		t.Fatalf("Commit of a session read through the grace = %q, %v; want the old token and ErrMoved", tok, err)
	}
}

// A second factor saved in an earlier commit of the request, then a
// rotation: a privilege raise all the same, so the pre-MFA ID must not
// read the raised session (the ID-only test looked at the last commit's
// changes only).
func TestGraceSaveThenRegenerate(t *testing.T) {
	a := newApp(t, nil)
	planted := a.do("", nil, func(s *session.Session) { s.Set("user", "ada"); s.Set("mfa", false) })
	a.do(planted, nil, func(s *session.Session) {
		s.Set("mfa", true)
		if err := s.Save(); err != nil {
			t.Fatal(err)
		}
		s.Regenerate(true)
	})
	var mfa bool
	a.do(planted, nil, func(s *session.Session) { mfa, _ = session.Get[bool](s, "mfa") })
	if mfa {
		t.Fatal("the pre-MFA ID reads the raised session after a Save, then a Regenerate")
	}
}
