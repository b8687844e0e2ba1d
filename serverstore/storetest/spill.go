package storetest

import (
	"strings"
	"sync"
	"testing"

	"github.com/crumbs-go/session/cookiestore"
	"github.com/crumbs-go/session/serverstore"
)

// spills holds the spill-over options of each RunSpill, by the name of
// its test: every Manager a scenario under it builds over a backend
// (wrapped for fault injection or not) is a cookiestore.Spill over it.
var spills sync.Map // test name prefix → []cookiestore.SpillOption

// spilling returns the options of the RunSpill t runs under.
func spilling(t *testing.T) ([]cookiestore.SpillOption, bool) {
	var opts []cookiestore.SpillOption
	found := false
	spills.Range(func(k, v any) bool {
		if strings.HasPrefix(t.Name(), k.(string)+"/") {
			opts, found = v.([]cookiestore.SpillOption), true
			return false
		}
		return true
	})
	return opts, found
}

// RunSpill runs the suite's scenarios of what users see through a
// session.Manager (sessions, the lifecycle, races, cookie attributes,
// Regenerate's failures) with the spill-over store, cookiestore.Spill,
// over a server store on newBackend's backends, and opts. With
// cookiestore.WithSpillAt(0) every session lives on the server, and must
// pass as server mode does; the moves between the forms have tests of
// their own (cookiestore's TestSpill…), since parallel requests on a
// session in its cookie share one cookie, as in cookie mode.
func RunSpill(t *testing.T, newBackend func(t *testing.T) serverstore.Backend, opts ...cookiestore.SpillOption) {
	spills.Store(t.Name(), opts)
	t.Cleanup(func() { spills.Delete(t.Name()) })
	nf := func(t *testing.T) (any, clock) { return newBackend(t), realClock{} }
	t.Run("Session", func(t *testing.T) { testSession(t, nf) })
	t.Run("Lifecycle", func(t *testing.T) { testLifecycle(t, nf) })
	t.Run("Races", func(t *testing.T) { testRaces(t, nf) })
	t.Run("CookieAttributes", func(t *testing.T) { testCookieAttributes(t, nf) })
	t.Run("RegenerateFailures", func(t *testing.T) { testRegenerateFailures(t, nf) })
}
