//go:build race

package session_test

// raceSlack is what the race detector adds to a request's allocations: its
// sync.Pool drops a quarter of what is put back, so pooled states are built
// again now and then, more in one run than in another. The tests that count
// allocations exactly also run without -race (.ci/run's js/wasm stage and
// its allocation stage), where the slack is 0.
const raceSlack = 3
