package fibersession_test

import (
	"testing"

	"github.com/crumbs-go/session/internal/leakcheck"
)

// TestMain fails the package's tests if they leave a goroutine running.
// fasthttp keeps one goroutine per process that refreshes its Date header.
func TestMain(m *testing.M) {
	leakcheck.Main(m, leakcheck.Ignore("github.com/valyala/fasthttp.updateServerDate"))
}
