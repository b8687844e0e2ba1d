//go:build race

package bench

// raceSlack is what the race detector adds to a request's allocations: its
// sync.Pool drops a quarter of what is put back, so the pooled HMAC states
// of server mode are built again now and then (six more on a memory-mode
// change, 37 to 39 in all against 32). .ci/run also runs
// TestAllocationBudget without -race, where the slack is 0.
const raceSlack = 10
