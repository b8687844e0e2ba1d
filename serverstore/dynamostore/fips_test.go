package dynamostore_test

import (
	"testing"

	"github.com/crumbs-go/session/internal/fipstest"
)

// TestFIPS140Only: in FIPS 140-only mode (GODEBUG=fips140=only), in a
// child process, the AWS SDK signs its requests and a session goes from
// one request to the next through a store opened from a configuration
// string, and through a save too large for one UpdateItem.
func TestFIPS140Only(t *testing.T) {
	if fipstest.Child(t) {
		t.Run("OpenStore", TestOpenStore)
		t.Run("ManyChangesOneSave", TestManyChangesOneSave)
		return
	}
	fipstest.Run(t, "^TestFIPS140Only$")
}
