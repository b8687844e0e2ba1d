package devices_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/crumbs-go/session"
	"github.com/crumbs-go/session/devices"
	"github.com/crumbs-go/session/serverstore"
)

// The tests below come from an outside review of the per-user index; each
// failed before its fix.

// A JSON integer ID above 2^53 rebound to another user on a plain
// Regenerate (it was read through float64), and a snowflake-sized one to
// no user.
func TestRegressBigIntRegenerate(t *testing.T) {
	a := newApp(t, nil)
	cookie := a.do("", nil, func(s *session.Session) { s.Set("user", int64(9007199254740993)) })
	ctx := context.Background()
	ds, _ := a.idx.List(ctx, "9007199254740993")
	t.Logf("after sign-in: List(...993) = %d", len(ds))
	a.do(cookie, nil, func(s *session.Session) { s.Regenerate(true) })
	ds, _ = a.idx.List(ctx, "9007199254740993")
	other, _ := a.idx.List(ctx, "9007199254740992")
	t.Logf("after Regenerate(true): List(...993) = %d, List(...992) = %d", len(ds), len(other))
	if len(ds) != 1 {
		t.Errorf("session of user ...993 no longer listed under it; listed under ...992: %d", len(other))
	}
	// A snowflake-sized ID becomes unbound.
	b := newApp(t, nil)
	c2 := b.do("", nil, func(s *session.Session) { s.Set("user", int64(1234567890123456789)) })
	c2 = b.do(c2, nil, func(s *session.Session) { s.Regenerate(true) })
	n, _ := b.idx.EndAll(ctx, "1234567890123456789", "")
	alive := false
	b.do(c2, nil, func(s *session.Session) { alive = s.Has("user") })
	t.Logf("snowflake: EndAll ended %d, session alive after EndAll: %v", n, alive)
	if alive {
		t.Error("EndAll left a regenerated session of a snowflake-ID user alive")
	}
}

// Sessions signed in before the binding existed were never listed.
func TestRegressPreexistingSession(t *testing.T) {
	store, _ := serverstore.New(serverstore.NewMemory(), secrets)
	old, _ := session.New(store) // the application before the upgrade
	newm, _ := session.New(store, session.WithIdentityKey("user"))
	idx, _ := devices.New(store)
	pre := &app{m: old, idx: idx}
	post := &app{m: newm, idx: idx}
	cookie := pre.do("", nil, func(s *session.Session) { s.Set("user", "ada") })
	post.do(cookie, nil, func(s *session.Session) { s.Set("n", 1) }) // used after the upgrade
	n, err := idx.EndAll(context.Background(), "ada", "")
	alive := false
	post.do(cookie, nil, func(s *session.Session) { alive = s.Get("user") == "ada" })
	t.Logf("EndAll(ada) = %d, %v; pre-upgrade session still signed in: %v", n, err, alive)
	if alive {
		t.Error("sign out everywhere left a pre-upgrade session alive")
	}
}

// Regenerate, then EndAll(user, Handle(s)) in the same request (a
// "change password" handler) ended the current session itself.
func TestRegressRegenerateThenEndAll(t *testing.T) {
	a := newApp(t, nil)
	ctx := context.Background()
	cookie := a.do("", nil, func(s *session.Session) { s.Set("user", "ada") })
	other := a.do("", nil, func(s *session.Session) { s.Set("user", "ada") })
	_ = other
	cookie = a.do(cookie, nil, func(s *session.Session) {
		s.Regenerate(true)
		n, err := a.idx.EndAll(ctx, "ada", a.idx.Handle(s))
		t.Logf("EndAll = %d, %v", n, err)
	})
	signedIn := false
	a.do(cookie, nil, func(s *session.Session) { signedIn = s.Has("user") })
	t.Logf("current device still signed in: %v (cookie %q)", signedIn, cookie)
	if !signedIn {
		t.Error("EndAll(user, Handle(s)) after Regenerate signed out the current device")
	}
}

// EndAll raced a Regenerate: the list names K, the Regenerate moves K to
// K', EndAll deleted the tombstone K and ignored its successor.
type hookMem struct {
	*serverstore.Memory
	after func()
}

func (h *hookMem) Bound(ctx context.Context, user string) (map[string]*serverstore.Binding, error) {
	out, err := h.Memory.Bound(ctx, user)
	if h.after != nil {
		f := h.after
		h.after = nil
		f()
	}
	return out, err
}

func TestRegressEndAllRacesRegenerate(t *testing.T) {
	hm := &hookMem{Memory: serverstore.NewMemory()}
	store, _ := serverstore.New(hm, secrets)
	m, _ := session.New(store, session.WithIdentityKey("user"))
	idx, err := devices.New(store)
	if err != nil {
		t.Fatal(err)
	}
	a := &app{m: m, idx: idx}
	ctx := context.Background()
	cookie := a.do("", nil, func(s *session.Session) { s.Set("user", "ada") })
	hm.after = func() {
		cookie = a.do(cookie, nil, func(s *session.Session) { s.Regenerate(true) })
	}
	n, err := idx.EndAll(ctx, "ada", "")
	ds, _ := idx.List(ctx, "ada")
	alive := false
	a.do(cookie, nil, func(s *session.Session) { alive = s.Has("user") })
	t.Logf("EndAll = %d, %v; listed after: %d; session alive: %v", n, err, len(ds), alive)
	if alive {
		t.Error("EndAll reported success but the session survived")
	}
}

// A lost create reply, then an identity change before the retry: the
// record holding bob's session stayed listed under ada.
type lossyMem struct {
	*serverstore.Memory
	lose int
}

func (l *lossyMem) Create(ctx context.Context, key string, e *serverstore.Entry, exp time.Time) error {
	err := l.Memory.Create(ctx, key, e, exp)
	if err == nil && l.lose > 0 {
		l.lose--
		return errors.New("i/o timeout (reply lost)")
	}
	return err
}

func TestRegressLostCreateIdentityChange(t *testing.T) {
	lm := &lossyMem{Memory: serverstore.NewMemory(), lose: 1}
	store, _ := serverstore.New(lm, secrets)
	m, _ := session.New(store, session.WithIdentityKey("user"))
	idx, _ := devices.New(store)
	ctx := context.Background()
	w := httptest.NewRecorder()
	r := httptest.NewRequest("GET", "/", nil)
	m.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s := session.From(r)
		s.Set("user", "ada")
		t.Logf("first Save: %v", s.Save())
		s.Set("user", "bob")
		t.Logf("second Save: %v", s.Save())
	})).ServeHTTP(w, r)
	la, _ := idx.List(ctx, "ada")
	lb, _ := idx.List(ctx, "bob")
	t.Logf("List(ada) = %d, List(bob) = %d", len(la), len(lb))
	if len(lb) != 1 || len(la) != 0 {
		t.Error("bob's session is listed under ada, not bob")
	}
}
