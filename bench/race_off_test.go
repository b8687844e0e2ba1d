//go:build !race

package bench

// raceSlack: see race_on_test.go.
const raceSlack = 0
