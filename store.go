package session

import "github.com/crumbs-go/session/driver"

// A Store is what New takes: where sessions live. Build one with
// cookiestore.New (cookie mode), serverstore.New (server mode) or
// OpenStore (from a configuration string). Store authors implement
// driver.Store, which describes the contract.
type Store = driver.Store
