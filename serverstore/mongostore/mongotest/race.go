//go:build race

package mongotest

// raceEnabled: the tests run under the race detector, which would
// instrument an embedded FerretDB too: it runs in a process of its own.
const raceEnabled = true
