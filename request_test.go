package session

import (
	"testing"
)

// TestPlan walks every state against the facts and options that change
// what a commit does, and checks each decision against the rules written
// out once more, independently, as a table of expectations.
func TestPlan(t *testing.T) {
	states := []state{unloaded, fresh, loaded, changed, created, regenerated, destroyed}
	type opts struct{ rolling, resave, saveUninit, unsetDestroy bool }
	var all []opts
	for i := range 16 {
		all = append(all, opts{i&1 != 0, i&2 != 0, i&4 != 0, i&8 != 0})
	}
	// want restates the lifecycle rules of doc.go.
	want := func(st state, in planInput, o opts) action {
		if in.moved && st != unloaded {
			if in.hasOld && st != regenerated {
				return doDestroy // a logout through a retired ID ends the session it moved to
			}
			return doNothing // the token's ID moved to another request's login: leave its cookie
		}
		switch st {
		case unloaded:
			return doNothing // a handler that never used its session costs nothing
		case fresh:
			if o.saveUninit {
				return doCreate
			}
			if in.rejected {
				return doExpire
			}
			return doNothing
		case loaded:
			if o.resave {
				return doResave
			}
			if in.stale || in.touched || o.rolling || in.idleDue || in.seenDue {
				return doRefresh
			}
			return doNothing
		case changed, regenerated:
			if o.unsetDestroy && in.empty {
				return doDestroy
			}
			if st == changed {
				return doUpdate
			}
			return doRegenerate
		case created:
			if in.empty && in.hasOld && (!o.saveUninit || o.unsetDestroy) {
				return doDestroy // Destroy, then nothing worth keeping
			}
			if in.empty && !o.saveUninit {
				if in.rejected {
					return doExpire
				}
				return doNothing // an empty new session is not stored
			}
			return doCreate
		case destroyed:
			return doDestroy // final: no option brings it back
		}
		panic("unknown state")
	}
	n := 0
	for _, st := range states {
		for facts := range 256 {
			in := planInput{state: st, touched: facts&1 != 0, stale: facts&2 != 0, rejected: facts&4 != 0,
				empty: facts&8 != 0, idleDue: facts&16 != 0, hasOld: facts&32 != 0, moved: facts&64 != 0, seenDue: facts&128 != 0}
			for _, o := range all {
				c := config{rolling: o.rolling, resave: o.resave, saveUninitialized: o.saveUninit}
				if o.unsetDestroy {
					c.destroyEmpty = true
				}
				got, exp := plan(in, &c), want(st, in, o)
				if got != exp {
					t.Fatalf("plan(%s, %+v, %+v) = %s, want %s", st, in, o, got, exp)
				}
				n++
			}
		}
	}
	if n != 7*256*16 {
		t.Fatalf("%d cases", n)
	}
	// A few decisions spelled out, so that a reader sees the rules at work.
	for _, tt := range []struct {
		in   planInput
		c    config
		want action
	}{
		{planInput{state: fresh}, config{}, doNothing},                                  // a bot's first visit creates nothing
		{planInput{state: fresh, rejected: true}, config{}, doExpire},                   // a tampered cookie is expired
		{planInput{state: loaded, idleDue: true}, config{}, doRefresh},                  // an active reader stays signed in
		{planInput{state: destroyed}, config{saveUninitialized: true}, doDestroy},       // a logout is final
		{planInput{state: changed, empty: true}, config{destroyEmpty: true}, doDestroy}, // the last value removed
	} {
		if got := plan(tt.in, &tt.c); got != tt.want {
			t.Errorf("plan(%+v) = %s, want %s", tt.in, got, tt.want)
		}
	}
}
