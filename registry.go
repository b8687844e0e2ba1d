package session

import (
	"context"
	"fmt"
	"strings"

	"github.com/crumbs-go/session/driver"
	"github.com/crumbs-go/session/internal/params"
	"github.com/crumbs-go/session/internal/registry"
)

// OpenStore builds the Store a configuration string names, so that one
// setting (an environment variable, say) chooses the backend and handlers
// never change:
//
//	cookie                                       cookiestore (import _ "github.com/crumbs-go/session/cookiestore")
//	memory, memory?crumbs_max_entries=10000      serverstore's memory backend
//	redis://127.0.0.1:6379/0, rediss://…         serverstore/redisstore: single node, Sentinel, Cluster
//	postgres://user@127.0.0.1:5432/db, postgresql://…   serverstore/pgstore
//	dynamodb://TABLE?region=eu-west-1              serverstore/dynamostore: Amazon DynamoDB
//	mongodb://127.0.0.1:27017/app, mongodb+srv://…  serverstore/mongostore: MongoDB and MongoDB-wire servers
//	cookie+redis://…, cookie+memory, cookie+…       cookiestore.Spill: in the cookie while it fits, on the server store after "cookie+" once it outgrows it
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
	scheme := registry.Scheme(config)
	open, known := registry.Lookup(scheme)
	if prefix, rest, ok := strings.Cut(scheme, "+"); ok && open == nil && prefix != "" && rest != "" {
		open, _ = registry.Lookup(prefix + "+") // a prefix scheme: the spill-over store's cookie+
	}
	if open == nil {
		if !registry.IsScheme(scheme) {
			// Not a scheme: the start of something else (a keyword=value
			// string, a password): never quote it.
			return nil, fmt.Errorf("session: the configuration string does not start with a store's scheme (registered: %s); a PostgreSQL keyword=value string is not one: write postgres://user:password@host/db",
				strings.Join(known, ", "))
		}
		return nil, fmt.Errorf("session: no store registered for %q (registered: %s); import the store package, e.g. _ \"github.com/crumbs-go/session/serverstore/redisstore\"",
			scheme, strings.Join(known, ", "))
	}
	store, err := open.(driver.Opener)(ctx, config, secrets)
	if err != nil {
		// The one guarantee for every store: no piece of a password in
		// the string is in the error, whatever a store or its client
		// library quotes.
		return nil, params.Hide(config, err)
	}
	return store, nil
}
