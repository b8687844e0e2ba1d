package express_test

import (
	"testing"

	"github.com/crumbs-go/session/driver"
	"github.com/crumbs-go/session/serverstore/storetest"
)

// TestConformance runs storetest's scenarios of what users see through a
// Manager (values, deadlines over real time, parallel requests, Regenerate
// and Destroy races, cookie attributes) on the Express format, with the
// exceptions the format calls for, each with its reason.
func TestConformance(t *testing.T) {
	c := client(t)
	backend := "it works on a serverstore.Backend itself (its operations, or one that injects faults); the Express format is a driver.Store of its own"
	storetest.RunStore(t, func(t *testing.T) driver.Store { return newStore(t, c) }, map[string]string{
		"UpdateOfAValueStoredRaw":        "crumbs' record layout (raw and compressed values): the Express format stores JSON members, never compressed",
		"OneRoundTripToLoad":             backend,
		"ForgedAndUnknownIDs":            backend,
		"RefreshWritesNoValue":           backend,
		"RegenerateRetiresOldID":         backend,
		"FailedLoginKeepsTheSession":     backend,
		"EmptySessionsAreNotStored":      backend,
		"RetireFailsOnceThenSaveRetries": backend,
		"RetireReplyLostThenSaveRetries": backend,
		"LostRetireThenRegenerateAgain":  backend,
		"LostRetireThenReload":           backend,
		"LostCreateReply":                backend,
		"RetireFailsWithoutRetry":        backend,
		"MergeFails":                     backend,
		"RefreshKeepsAParallelLifetime":  "SetLifetime and SetBrowserSession(true) in one request: the format keeps one deadline, the key's TTL, which a load reports as the idle deadline; with no idle timeout on the Manager, the TTL read before stays the earlier one",
	})
}
