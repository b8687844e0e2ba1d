// Package registry holds the stores registered with driver.Register, for
// session.OpenStore: one map that both packages reach without either
// exporting it.
package registry

import (
	"slices"
	"strings"
	"sync"
)

var (
	mu      sync.RWMutex
	openers = map[string]any{}
)

// Add registers open (a driver.Opener) under scheme; it reports false if
// the scheme is taken.
func Add(scheme string, open any) bool {
	mu.Lock()
	defer mu.Unlock()
	if _, dup := openers[scheme]; dup {
		return false
	}
	openers[scheme] = open
	return true
}

// Lookup returns the opener of scheme, and the registered schemes, sorted.
func Lookup(scheme string) (open any, known []string) {
	mu.RLock()
	defer mu.RUnlock()
	for k := range openers {
		known = append(known, k)
	}
	slices.Sort(known)
	return openers[scheme], known
}

// Scheme is the scheme a configuration string names: the part before
// "://", or before ":" or "?", or all of it ("cookie", "memory").
func Scheme(config string) string {
	if i := strings.Index(config, "://"); i >= 0 {
		return config[:i]
	}
	if i := strings.IndexAny(config, ":?"); i >= 0 {
		return config[:i]
	}
	return config
}

// IsScheme reports whether s is an RFC 3986 scheme: ALPHA *( ALPHA / DIGIT
// / "+" / "-" / "." ), of at most 32 characters.
func IsScheme(s string) bool {
	if s == "" || len(s) > 32 {
		return false
	}
	for i, c := range s {
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z':
		case i > 0 && ('0' <= c && c <= '9' || c == '+' || c == '-' || c == '.'):
		default:
			return false
		}
	}
	return true
}
