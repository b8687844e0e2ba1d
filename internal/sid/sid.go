// Package sid holds the one rule for session IDs, shared by the Manager,
// the cookie store and the server store.
package sid

import "github.com/crumbs-go/session/internal/b64"

const (
	// MinLen is the shortest ID a session may be given: 22 base64url
	// characters, 128 bits.
	MinLen = 22
	// MaxLen is the longest ID: 64 characters.
	MaxLen = 64
)

// Valid reports whether id may name a session: MinLen to MaxLen base64url
// characters. The Manager generates and the server store accepts only
// these.
func Valid(id string) bool { return len(id) >= MinLen && Readable(id) }

// Readable reports whether id is accepted inside a sealed cookie: 1 to
// MaxLen base64url characters, as spec/cookie-v1.md §10 allows, so that
// every cookie valid under the spec keeps opening.
func Readable(id string) bool { return len(id) >= 1 && len(id) <= MaxLen && b64.Valid(id) }
