package driver

import (
	"context"

	"github.com/crumbs-go/session/internal/registry"
)

// An Opener builds a Store from a configuration string, such as
// "redis://127.0.0.1:6379/0", and the key ring's secrets (which seal
// cookies in cookie mode and sign session IDs in server mode). An error
// must not quote the configuration's password.
type Opener func(ctx context.Context, config string, secrets [][]byte) (Store, error)

// Register makes a store available to session.OpenStore under a scheme: the
// part of the configuration string before "://", or before ":" or "?", or
// all of it ("cookie", "memory"). Store packages call it from init, the way
// database/sql drivers do, and applications import them for that side
// effect. A scheme that ends in "+" is a prefix: it opens every
// "scheme+inner" configuration no store registered itself for (the
// spill-over store, cookiestore.Spill, registers "cookie+", and opens the
// server store named after it). Register panics if the scheme is taken or open is nil: two
// packages claiming one scheme is a build mistake.
func Register(scheme string, open Opener) {
	if open == nil {
		panic("driver: Register(" + scheme + ") with a nil Opener")
	}
	if !registry.Add(scheme, open) {
		panic("driver: Register called twice for scheme " + scheme)
	}
}
