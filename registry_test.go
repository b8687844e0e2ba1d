package session_test

import (
	"testing"

	_ "github.com/crumbs-go/session/cookiestore"
	"github.com/crumbs-go/session/serverstore/storetest"
)

// TestOpenStoreErrorsQuoteNoPassword: whatever a configuration string
// holds, OpenStore's error never quotes a piece of its password: not for
// an unknown scheme, a PostgreSQL keyword=value string given to a program
// that registered no PostgreSQL store, nor the stores of this module.
func TestOpenStoreErrorsQuoteNoPassword(t *testing.T) {
	storetest.CheckOpenErrors(t, [][]byte{secret(1)},
		"host=127.0.0.1 user=app password=PW dbname=db",
		"mysql://app:PW@127.0.0.1/db",
		"memory://app:PW@x",
		"memory?password=PW",
		"cookie?password=PW",
		"cookie://app:PW@x",
	)
}
