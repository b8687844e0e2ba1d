package express_test

import (
	"log/slog"
	"strings"
	"testing"

	"github.com/crumbs-go/session"
	"github.com/crumbs-go/session/internal/fipstest"
	"github.com/crumbs-go/session/serverstore/redisstore/express"
)

// TestFIPS140Only: in FIPS 140-only mode (GODEBUG=fips140=only) the Express
// format signs connect.sid with HMAC-SHA256 and runs its scripts by the
// SHA-1 Redis computes; New refuses a secret under 112 bits, which the
// mode's HMAC would refuse with a panic on the first request.
func TestFIPS140Only(t *testing.T) {
	if !fipstest.Child(t) {
		fipstest.Run(t, "^TestFIPS140Only$")
		return
	}
	c := client(t)
	if _, err := express.New(c, express.Config{Secrets: []string{"keyboard cat"}, Logger: slog.New(slog.DiscardHandler)}); err == nil || !strings.Contains(err.Error(), "FIPS 140-only mode") {
		t.Fatalf("New with a 12-byte secret in FIPS 140-only mode: %v; want an error that names the mode", err)
	}
	store := newStore(t, c, "a secret of the Express application, long enough")
	a := newExpressApp(t, store)
	a.do(func(s *session.Session) { s.Set("user", "ada") })
	a.do(func(s *session.Session) { s.Regenerate(true) })
	a.do(func(s *session.Session) {
		if u, _ := session.Get[string](s, "user"); u != "ada" {
			t.Errorf("after a login in FIPS 140-only mode: user %q", u)
		}
		s.Destroy()
	})
	if len(a.errs) > 0 {
		t.Fatal(a.errs)
	}
}
