package fuzz_test

import (
	"testing"

	"github.com/crumbs-go/session/fuzz"
)

// FuzzMemory holds the memory backend to the model, its clock the
// scenario's: the target where sub-minute finds happen. Every feature is
// on: hostile clients, parallel groups, header tokens.
func FuzzMemory(f *testing.F) {
	seed(f)
	f.Fuzz(func(t *testing.T, header bool, data []byte) {
		fuzz.Run(t, backend("memory"), data, header, true, true)
	})
}

// FuzzCookie holds cookie mode to the model.
func FuzzCookie(f *testing.F) {
	seed(f)
	f.Fuzz(func(t *testing.T, header bool, data []byte) {
		fuzz.Run(t, backend("cookie"), data, header, true, true)
	})
}

// FuzzRedis and FuzzPostgres hold the real servers to the model (their
// engines expire by their own clocks; see fuzz.Config.EngineClock).
func FuzzRedis(f *testing.F) {
	seed(f)
	f.Fuzz(func(t *testing.T, header bool, data []byte) {
		fuzz.Run(t, backend("redis"), data, header, true, true)
	})
}

func FuzzPostgres(f *testing.F) {
	seed(f)
	f.Fuzz(func(t *testing.T, header bool, data []byte) {
		fuzz.Run(t, backend("postgres"), data, header, true, true)
	})
}

func seed(f *testing.F) {
	f.Add(false, []byte{})
	f.Add(false, []byte{1, 1, 0, 0, 1, 2, 0, 0, 3, 1, 0, 1, 5, 8, 8, 8, 0, 1, 3, 1})
}
