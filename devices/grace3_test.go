package devices_test

// From a second outside review of the grace; the tests that assert a
// defect failed before its fix (a digest of the values in the tombstone,
// ErrMoved from Commit and Save, EndAll's keep).

import (
	"context"
	"errors"
	"testing"

	"github.com/crumbs-go/session"
)

// R3-1: the rotation is committed first (ID-only at that moment: the
// tombstone is marked), then the same request raises the privilege in a
// later commit. The pre-MFA ID reads the raised session.
func TestGraceR3RegenerateSaveThenRaise(t *testing.T) {
	a := newApp(t, nil)
	planted := a.do("", nil, func(s *session.Session) { s.Set("user", "ada"); s.Set("mfa", false) })
	a.do(planted, nil, func(s *session.Session) {
		s.Regenerate(true)
		if err := s.Save(); err != nil {
			t.Fatal(err)
		}
		s.Set("mfa", true)
	})
	var mfa bool
	a.do(planted, nil, func(s *session.Session) { mfa, _ = session.Get[bool](s, "mfa") })
	if mfa {
		t.Fatal("the pre-MFA ID reads the raised session after Regenerate, Save, then Set in the same request")
	}
}

// R3-2: the MFA request P does what 80d0a02 calls a raise (Set, Save, then
// Regenerate); a parallel ID-only rotation R of the same session retires
// the old ID first and replays P's saved raise into its new record under a
// MARKED tombstone. P's own rotation is then refused. The pre-MFA ID reads
// the raised session.
func TestGraceR3ParallelRaiseCarriedByIDOnlyRotation(t *testing.T) {
	a := newApp(t, nil)
	ctx := context.Background()
	s, _ := a.m.Load(ctx, "")
	s.Set("user", "ada")
	s.Set("mfa", false)
	planted, _, err := s.Commit()
	if err != nil {
		t.Fatal(err)
	}
	r, _ := a.m.Load(ctx, planted) // a periodic rotation, loaded first
	p, _ := a.m.Load(ctx, planted) // the MFA request
	p.Set("mfa", true)
	if _, _, err := p.Commit(); err != nil { // P's Save
		t.Fatal(err)
	}
	r.Regenerate(true)
	if _, _, err := r.Commit(); err != nil {
		t.Fatal(err)
	}
	p.Regenerate(true)
	ptok, _, perr := p.Commit()
	t.Logf("P's rotation: token=%q err=%v", ptok, perr)
	x, _ := a.m.Load(ctx, planted)
	if mfa, _ := session.Get[bool](x, "mfa"); mfa {
		t.Fatal("the pre-MFA ID reads the raised session (carried by a parallel ID-only rotation)")
	}
}

// R3-3: devices.Handle in each state; EndAll(user, Handle(s)) must spare
// the browser's live session and end the other device.
func TestGraceR3HandleStates(t *testing.T) {
	ctx := context.Background()
	type tc struct {
		name string
		f    func(a *app, s *session.Session) // before Handle, in the grace-read request
	}
	for _, c := range []tc{
		{"GraceRead", func(a *app, s *session.Session) {}},
		{"GraceReadRegenerate", func(a *app, s *session.Session) { s.Regenerate(true) }},
		{"GraceReadRegenerateSaved", func(a *app, s *session.Session) { s.Regenerate(true); s.Save() }},
	} {
		t.Run(c.name, func(t *testing.T) {
			a := newApp(t, nil)
			other := a.do("", nil, func(s *session.Session) { s.Set("user", "ada") })
			old := a.do("", nil, func(s *session.Session) { s.Set("user", "ada") })
			cur := a.do(old, nil, func(s *session.Session) { s.Regenerate(true) })
			var n int
			a.do(old, nil, func(s *session.Session) {
				c.f(a, s)
				n, _ = a.idx.EndAll(ctx, "ada", a.idx.Handle(s))
			})
			var u, o string
			a.do(cur, nil, func(s *session.Session) { u, _ = session.Get[string](s, "user") })
			a.do(other, nil, func(s *session.Session) { o, _ = session.Get[string](s, "user") })
			t.Logf("ended %d; live=%q other=%q", n, u, o)
			if u != "ada" {
				t.Error("the browser's live session was ended")
			}
			if o != "" {
				t.Error("the other device was left signed in")
			}
		})
	}
}

// R3-4: a request loaded the session just before a parallel ID-only
// rotation (the race the grace is for), then signs out everywhere else.
func TestGraceR3HandleRacingRotation(t *testing.T) {
	a := newApp(t, nil)
	ctx := context.Background()
	s, _ := a.m.Load(ctx, "")
	s.Set("user", "ada")
	old, _, _ := s.Commit()
	b, _ := a.m.Load(ctx, old) // password change, loaded first
	r, _ := a.m.Load(ctx, old)
	r.Regenerate(true)
	cur, _, err := r.Commit()
	if err != nil {
		t.Fatal(err)
	}
	n, _ := a.idx.EndAll(ctx, "ada", a.idx.Handle(b))
	x, _ := a.m.Load(ctx, cur)
	if u, _ := session.Get[string](x, "user"); u != "ada" {
		t.Fatalf("EndAll(Handle) from a request that raced an ID-only rotation ended the browser's live session (ended %d)", n)
	}
}

// R3-5: token mode, a request loaded before another request's Regenerate
// retired its ID: its changes are dropped, and Commit should say ErrMoved.
func TestGraceR3TokenCommitMovedAfterLoad(t *testing.T) {
	a := newApp(t, nil)
	ctx := context.Background()
	s, _ := a.m.Load(ctx, "")
	s.Set("user", "ada")
	old, _, _ := s.Commit()
	x, _ := a.m.Load(ctx, old)
	r, _ := a.m.Load(ctx, old)
	r.Regenerate(true)
	if _, _, err := r.Commit(); err != nil {
		t.Fatal(err)
	}
	x.Set("cart", 1)
	tok, _, err := x.Commit()
	if !errors.Is(err, session.ErrMoved) {
		t.Fatalf("Commit of a change dropped because the ID was retired after the load: token==old %v, err %v; want ErrMoved", tok == old, err)
	}
}
