package session

import "time"

// A state is where one request's session stands in its lifecycle. It is the
// only lifecycle variable: what a commit does follows from it, the few facts
// of planInput, and the options, through plan.
type state uint8

const (
	unloaded    state = iota // nothing read yet: the handler never used the session
	fresh                    // no valid session came with the request; nothing set
	loaded                   // the request's session, unchanged
	changed                  // the request's session, with changed values or settings
	created                  // a new session with values: set on a fresh one, or after Destroy
	regenerated              // the request's session under a new ID
	destroyed                // Destroy was called, and nothing set since
)

var stateNames = [...]string{"unloaded", "fresh", "loaded", "changed", "created", "regenerated", "destroyed"}

func (s state) String() string { return stateNames[s] }

// An action is what a commit does.
type action uint8

const (
	doNothing    action = iota
	doExpire            // store nothing; expire the token the request carried (it was rejected)
	doRefresh           // persist new deadlines and send the token again; no value is rewritten
	doUpdate            // apply the request's changes to the stored session
	doResave            // rewrite every value (WithResave), then as doUpdate
	doCreate            // store a new session (and delete the one Destroy ended, if any)
	doRegenerate        // store the session under its new ID, then retire the old one
	doDestroy           // delete the stored session and expire the token
)

var actionNames = [...]string{"nothing", "expire", "refresh", "update", "resave", "create", "regenerate", "destroy"}

func (a action) String() string { return actionNames[a] }

// planInput is what plan needs to know of a request besides its state.
type planInput struct {
	state    state
	touched  bool // Touch was called
	stale    bool // an older secret opened the token: send it again under the first
	rejected bool // the request carried a token that was rejected or names no session
	empty    bool // the session holds no values
	idleDue  bool // less than half of the idle timeout is left
	seenDue  bool // the store's last-seen time is seenResolution old, or the session is to be bound
	hasOld   bool // a stored session must be deleted (Destroy) or retired (Regenerate)
	moved    bool // the token names an ID another request's Regenerate retired
}

// plan decides what a commit does. It is pure: a function of the request's
// state, the facts in in, and the options that change the decision.
func plan(in planInput, c *config) action {
	if in.moved && in.state != unloaded {
		// The token names an ID another request's Regenerate (a login)
		// retired: its response carries the new token, which this one
		// leaves alone, and this request's changes are not saved. Only a
		// Destroy acts: it ends the session the ID moved to (a logout that
		// raced the login wins). A Regenerate of a session read through
		// the grace (serverstore.WithGrace) is dropped like any change.
		if in.hasOld && in.state != regenerated {
			return doDestroy
		}
		return doNothing
	}
	unsetDestroy := c.destroyEmpty && in.empty
	switch in.state {
	case fresh:
		switch {
		case c.saveUninitialized:
			return doCreate
		case in.rejected:
			return doExpire
		}
	case loaded:
		switch {
		case c.resave:
			return doResave
		case in.stale || in.touched || c.rolling || in.idleDue || in.seenDue:
			return doRefresh
		}
	case changed:
		if unsetDestroy {
			return doDestroy
		}
		return doUpdate
	case created:
		switch {
		case in.empty && !c.saveUninitialized && in.hasOld, unsetDestroy && in.hasOld:
			return doDestroy // Destroy, then nothing kept
		case in.empty && !c.saveUninitialized:
			if in.rejected {
				return doExpire
			}
			return doNothing // nothing to keep: a fresh session is not stored
		}
		return doCreate
	case regenerated:
		if unsetDestroy {
			return doDestroy
		}
		return doRegenerate
	case destroyed:
		return doDestroy
	}
	return doNothing
}

// seenResolution is how stale a bound session's last-seen time (what an
// "active sessions" page shows) may get: a request that reads a session
// whose stored time is older writes it again (a refresh, as the idle
// timeout's), so that plain reads write at most once per 10 minutes per
// session. Every write records it anyway.
const seenResolution = 10 * time.Minute

// planInput gathers what plan needs to know of s at now.
func (s *Session) planInput(now time.Time) planInput {
	idle := s.m.cfg.idle
	return planInput{
		state:    s.state,
		touched:  s.touched,
		stale:    s.rec.Stale,
		rejected: s.rejected,
		empty:    len(s.raw) == 0,
		idleDue:  idle > 0 && (s.rec.IdleExpires.IsZero() || s.rec.IdleExpires.Sub(now) < idle/2),
		seenDue:  s.bindDue || s.rec.User != "" && !s.rec.Seen.IsZero() && now.Sub(s.rec.Seen) >= seenResolution,
		hasOld:   s.old != nil,
		moved:    s.moved,
	}
}

// change moves s to the state that follows a change of values or settings.
func (s *Session) change() {
	s.changedAny = true
	switch s.state {
	case fresh, destroyed:
		s.state = created
	case loaded:
		s.state = changed
	}
	s.noteLate()
}

// noteLate records a change that came after the headers were written.
func (s *Session) noteLate() {
	if s.w != nil && s.w.wroteHeader {
		s.late = true
	}
}
