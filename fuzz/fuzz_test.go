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

// FuzzConcurrent: bursts of up to 32 parallel requests on real goroutines
// over two, four or one instance per request, on memory (and Redis and
// PostgreSQL, chosen by the first byte).
func FuzzConcurrent(f *testing.F) {
	// Mixed bursts of 16 (sets, Updates, flashes, reads, touches; half Updates): over two
	// instances on memory, four on Redis, one per request on PostgreSQL.
	for _, s := range []struct{ which, instances byte }{{0, 0}, {3, 1}, {4, 2}} {
		data := []byte{1, 1, 0, 0, 0, 0, 14, s.instances}
		for i := range 16 {
			data = append(data, byte(i%8))
		}
		f.Add(s.which, data)
	}
	f.Fuzz(func(t *testing.T, which byte, data []byte) {
		names := []string{"memory", "memory", "memory", "redis", "postgres"}
		fuzz.RunConcurrent(t, backend(names[int(which)%len(names)]), data)
	})
}

// FuzzDifferential runs one scenario on two backends that must agree.
func FuzzDifferential(f *testing.F) {
	seed(f)
	pairs := [][2]string{
		{"memory (real engine clock)", "redis"},
		{"memory (real engine clock)", "postgres"},
		{"cookie", "memory"},
		{"cookie", "memory"},
	}
	f.Fuzz(func(t *testing.T, header bool, data []byte) {
		p := pairs[0]
		if len(data) > 0 {
			p = pairs[int(data[0])%len(pairs)]
		}
		fuzz.RunDifferential(t, backend(p[0]), backend(p[1]), data, header)
	})
}
