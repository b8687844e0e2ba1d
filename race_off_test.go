//go:build !race

package session_test

// raceSlack: see race_on_test.go.
const raceSlack = 0
