// Package hook lets packages of this module reach what the root package
// keeps unexported, without exporting it: the root fills the functions in
// at init.
package hook

import (
	"context"
	"time"

	"github.com/crumbs-go/session/driver"
)

// Stored returns the ID under which a *session.Session is stored now (its
// old ID while a Regenerate or Destroy of the request is pending: the new
// one is not stored yet), or, for a session its retired ID read within a
// grace, the store's handle of the session read.
var Stored func(s any) (id, handle string)

// ServerLookup reads the record of session ID id from a
// *serverstore.Store, without a token: the record with its values
// decoded; for a tombstone, an error wrapping driver.ErrMoved and the
// successor it names, as stored. The spill-over store (cookiestore.Spill)
// reads with it whether a session is on the server.
var ServerLookup func(store any, ctx context.Context, id string) (rec *driver.Record, successor string, err error)

// ServerRetire replaces the record under backend key key in a
// *serverstore.Store by a tombstone naming successor, as given, until
// until, and returns what the record held, decoded (as Backend.Retire,
// with ErrMoved and the successor for a tombstone).
var ServerRetire func(store any, ctx context.Context, key, successor string, until time.Time) (rec *driver.Record, prev string, err error)

// ServerCreateOver is a *serverstore.Store's Save of an OpCreate commit
// that may take the place of a tombstone naming replaces
// (serverstore.Entry.Replaces).
var ServerCreateOver func(store any, ctx context.Context, name string, c *driver.Commit, now time.Time, replaces string) (string, error)

// ServerMark is ServerRetire for a key that may hold nothing, or a
// tombstone naming replaces: it creates a record holding blank there
// first, and retires what the key holds.
var ServerMark func(store any, ctx context.Context, key, successor, replaces string, blank map[string][]byte, until time.Time) (rec *driver.Record, prev string, err error)
