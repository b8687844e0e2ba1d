// Package storeparams reads the configuration-string parameters that every
// server-mode store shares: those that set serverstore options.
package storeparams

import (
	"fmt"

	"github.com/crumbs-go/session/internal/params"
	"github.com/crumbs-go/session/serverstore"
)

// Server reads name=value if name is one of the serverstore options'
// parameters (crumbs_raw_ids, crumbs_client_details, crumbs_grace): ok
// reports whether it is, opt is the option it sets (nil for false), and
// err says what to give instead of a bad value, before any connection.
func Server(pkg, name, value string) (opt serverstore.Option, ok bool, err error) {
	switch name {
	case "crumbs_raw_ids", "crumbs_client_details":
		on, err := params.Bool(pkg, name, value)
		if err != nil || !on {
			return nil, true, err
		}
		if name == "crumbs_raw_ids" {
			return serverstore.WithRawIDs(), true, nil
		}
		return serverstore.WithClientDetails(), true, nil
	case "crumbs_grace":
		d, err := params.Duration(pkg, name, value, 0)
		if err == nil && d > serverstore.TombstoneTTL {
			err = params.Bad(pkg, name, value, fmt.Sprintf("a duration of 0 to %v (serverstore.TombstoneTTL)", serverstore.TombstoneTTL))
		}
		if err != nil {
			return nil, true, err
		}
		return serverstore.WithGrace(d), true, nil
	}
	return nil, false, nil
}
