package session_test

import (
	"context"
	"strings"
	"testing"

	"github.com/crumbs-go/session"
	_ "github.com/crumbs-go/session/cookiestore"
	"github.com/crumbs-go/session/serverstore/storetest"
)

// TestOpenStoreErrorsQuoteNoPassword: whatever a configuration string
// holds, OpenStore's error never quotes a piece of its password: not for
// an unknown scheme, a PostgreSQL keyword=value string given to a program
// that registered no PostgreSQL store, nor the stores of this module.
func TestOpenStoreErrorsQuoteNoPassword(t *testing.T) {
	secrets := [][]byte{secret(1)}
	for _, pw := range storetest.AwkwardPasswords {
		for _, tmpl := range []string{
			"host=127.0.0.1 user=app password=PW dbname=db",
			"mysql://app:PW@127.0.0.1/db",
			"memory://app:PW@x",
			"memory?password=PW",
			"cookie?password=PW",
			"cookie://app:PW@x",
		} {
			config := strings.Replace(tmpl, "PW", pw, 1)
			_, err := session.OpenStore(context.Background(), config, secrets)
			if err == nil {
				t.Errorf("OpenStore(%q) opened", config)
			} else if piece := storetest.PasswordPiece(pw, err.Error()); piece != "" {
				t.Errorf("OpenStore(%q) = %v: quotes %q of the password", config, err, piece)
			}
		}
	}
}
