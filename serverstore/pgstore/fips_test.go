package pgstore_test

import (
	"testing"

	"github.com/crumbs-go/session/internal/fipstest"
	"github.com/crumbs-go/session/serverstore"
	"github.com/crumbs-go/session/serverstore/storetest"
)

// TestFIPS140Only: the PostgreSQL backend's conformance suite passes in
// FIPS 140-only mode (GODEBUG=fips140=only), in a child process.
func TestFIPS140Only(t *testing.T) {
	if fipstest.Child(t) {
		p := pool(t)
		storetest.Run(t, func(t *testing.T) serverstore.Backend { return newBackend(t, p) })
		return
	}
	fipstest.Run(t, "^TestFIPS140Only$")
}
