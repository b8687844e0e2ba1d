package session

import (
	"context"
	"time"
)

// A Store keeps session records and maps each to the value of a cookie. The
// cookie store (package cookiestore) seals the whole record into the value;
// a server store signs an ID and keeps the record in a backend. The Manager
// owns everything HTTP: cookie names, attributes, chunks and deletion.
//
// A Store must be safe for concurrent use. The value handed to Load is
// untrusted: a Store must bound it before allocating, never panic on it, and
// reject it with an error wrapping ErrInvalid.
type Store interface {
	// Load returns the record the cookie value refers to. It returns an error
	// wrapping ErrInvalid for a value it rejects (including an expired one),
	// ErrNotFound when the record does not exist, and any other error when
	// the store itself failed. name is the base cookie name.
	Load(ctx context.Context, name, value string, now time.Time) (*Record, error)

	// Save stores rec and returns the cookie value that refers to it. It
	// returns an error wrapping ErrTooLarge when the record cannot fit.
	Save(ctx context.Context, name string, rec *Record, now time.Time) (string, error)

	// Delete removes rec. Deleting a record that does not exist is not an
	// error. The cookie store has nothing to delete and returns nil.
	Delete(ctx context.Context, name string, rec *Record) error
}

// A Record is what a Store keeps of a session.
type Record struct {
	// ID identifies the session: 43 base64url characters (256 random bits).
	ID string
	// Data is the session's values as the Manager's Codec encoded them.
	Data []byte
	// Expires is the absolute deadline; zero means none.
	Expires time.Time
	// IdleExpires is the idle deadline; zero means none.
	IdleExpires time.Time
	// BrowserSession marks a session whose cookie has no Max-Age: the
	// browser drops it when it closes.
	BrowserSession bool
	// Stale is set by Load when the value must be written again, because an
	// older secret opened or verified it.
	Stale bool

	// Version is the store's version of the record, set by Load and by Save
	// (server stores; the cookie store leaves it 0). Save writes only over
	// the version it was given (optimistic concurrency).
	Version uint64
	// Unchanged is set by the Manager when only the deadlines or the cookie
	// need refreshing (Touch, rolling, idle refresh, key rotation): a server
	// store may extend the record's expiry without rewriting its data.
	Unchanged bool
	// Merge, set by the Manager on Save, re-applies this request's changes
	// (the keys it set, deleted or cleared) onto data, the values another
	// request stored meanwhile, and returns the merged values. A server store
	// calls it when its version check fails, then retries.
	Merge func(data []byte) ([]byte, error)
}
