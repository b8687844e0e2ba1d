package bench

import (
	"testing"

	"github.com/crumbs-go/session/internal/leakcheck"
)

// TestMain fails the package's tests if they leave a goroutine running.
// scs's memory store runs a cleanup goroutine per store, until
// StopCleanup; the benchmarks build one per run, as its users do.
func TestMain(m *testing.M) {
	leakcheck.Main(m, leakcheck.Ignore("github.com/alexedwards/scs/v2/memstore.(*MemStore).startCleanup"))
}
