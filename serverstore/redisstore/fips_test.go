package redisstore_test

import (
	"testing"

	"github.com/crumbs-go/session/internal/fipstest"
	"github.com/crumbs-go/session/serverstore"
	"github.com/crumbs-go/session/serverstore/storetest"
)

// TestFIPS140Only: the Redis backend runs in FIPS 140-only mode
// (GODEBUG=fips140=only): its scripts are named by the SHA-1 Redis
// computes (SCRIPT LOAD), never by one computed in Go, which the mode
// refuses. The conformance suite passes on a single node and on a Cluster
// (every shard loads the scripts), in a child process.
func TestFIPS140Only(t *testing.T) {
	if fipstest.Child(t) {
		for _, tp := range topologies[:2] {
			t.Run(tp.name, func(t *testing.T) {
				c := tp.client(t)
				storetest.Run(t, func(t *testing.T) serverstore.Backend { return newBackend(t, c) })
			})
		}
		return
	}
	fipstest.Run(t, "^TestFIPS140Only$")
}
