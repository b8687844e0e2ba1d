package pgstore_test

import (
	"testing"

	"github.com/crumbs-go/session/internal/leakcheck"
)

// TestMain fails the package's tests if they leave a goroutine running.
func TestMain(m *testing.M) { leakcheck.Main(m) }
