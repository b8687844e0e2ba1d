package main

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the tests if they leave a goroutine running. This tool's
// module does not depend on crumbs, so it uses goleak, which
// internal/leakcheck follows.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
