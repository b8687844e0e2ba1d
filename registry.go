package session

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
)

// An Opener builds a Store from a configuration string, such as
// "redis://127.0.0.1:6379/0", and the key ring's secrets.
type Opener func(ctx context.Context, config string, secrets [][]byte) (Store, error)

var (
	registryMu sync.RWMutex
	registry   = map[string]Opener{}
)

// Register makes a store available to OpenStore under a scheme: the part of
// the configuration string before "://", or all of it ("cookie", "memory").
// Store packages call it from init, the way database/sql drivers do: import
// them for their side effect. Register panics if the scheme is taken or the
// opener is nil: two packages claiming one scheme is a build mistake.
func Register(scheme string, open Opener) {
	registryMu.Lock()
	defer registryMu.Unlock()
	if open == nil {
		panic("session: Register(" + scheme + ") with a nil Opener")
	}
	if _, dup := registry[scheme]; dup {
		panic("session: Register called twice for scheme " + scheme)
	}
	registry[scheme] = open
}

// OpenStore builds the Store a configuration string names, so that one
// setting (an environment variable, say) chooses the backend and handlers
// never change:
//
//	cookie                                       cookiestore (import _ "github.com/crumbs-go/session/cookiestore")
//	memory, memory?crumbs_max_entries=10000      serverstore's memory backend
//	redis://127.0.0.1:6379/0, rediss://…         serverstore/redisstore: single node, Sentinel, Cluster
//	postgres://user@127.0.0.1:5432/db, postgresql://…   serverstore/pgstore
//
// Each store package documents its forms; crumbs' own parameters are
// named crumbs_…, and an unknown one is an error that names it. secrets
// seal cookies (cookie mode) or sign session IDs (server mode).
//
// The stores the crumbs packages register are io.Closers (Close releases
// the client or pool a string opened) and have a Ping(ctx) error method
// for readiness probes; a registered Store need not, so assert:
//
//	if c, ok := store.(io.Closer); ok {
//		defer c.Close()
//	}
func OpenStore(ctx context.Context, config string, secrets [][]byte) (Store, error) {
	scheme := config
	if i := strings.Index(config, "://"); i >= 0 {
		scheme = config[:i]
	} else if i := strings.IndexAny(config, ":?"); i >= 0 {
		scheme = config[:i]
	}
	registryMu.RLock()
	open, ok := registry[scheme]
	known := make([]string, 0, len(registry))
	for k := range registry {
		known = append(known, k)
	}
	registryMu.RUnlock()
	if !ok {
		slices.Sort(known)
		return nil, fmt.Errorf("session: no store registered for %q (registered: %s); import the store package, e.g. _ \"github.com/crumbs-go/session/serverstore/redisstore\"",
			scheme, strings.Join(known, ", "))
	}
	return open(ctx, config, secrets)
}
