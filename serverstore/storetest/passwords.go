package storetest

import (
	"context"
	"io"
	"strings"
	"testing"

	"github.com/crumbs-go/session"
)

// AwkwardPasswords are passwords a store's configuration-string errors must
// never quote, whole or in part: each has a character that must be
// percent-encoded in a URL ('/', '?', '#', '%', '&', '@', a space), where
// url.Parse splits the string and spills the password into the port, the
// path, a parameter or the fragment. Use them with PasswordPiece in an
// Opener's tests.
var AwkwardPasswords = []string{
	"Qj7/Vx9k", "Qj7?Vx9k", "Qj7#Vx9k", "Qj7%Vx9k", "Qj7%zzVx9k", "Qj7&Vx9k", "Qj7&Vx9k=Zt4w", "Qj7@Vx9k", "Qj7 Vx9k",
	"/Qj7Vx9k", "?Qj7Vx9k", "#Qj7Vx9k", "8765/Qj7Vx9k", "Qj7Vx9k/", "Qj7Vx9k?", "Qj7Vx9k#",
}

// PasswordPiece returns the longest piece of pw, of 3 bytes or more, that
// msg holds, or "".
func PasswordPiece(pw, msg string) string {
	for n := len(pw); n >= 3; n-- {
		for i := 0; i+n <= len(pw); i++ {
			if strings.Contains(msg, pw[i:i+n]) {
				return pw[i : i+n]
			}
		}
	}
	return ""
}

// CheckOpenErrors opens each configuration template with session.OpenStore,
// its "PW" replaced by each of AwkwardPasswords, and fails when one opens
// or when its error quotes a piece of the password. The templates name
// unreachable servers (port 1, a short crumbs_open_timeout) or malformed
// strings.
func CheckOpenErrors(t *testing.T, secrets [][]byte, templates ...string) {
	t.Helper()
	for _, pw := range AwkwardPasswords {
		for _, tmpl := range templates {
			config := strings.Replace(tmpl, "PW", pw, 1)
			st, err := session.OpenStore(context.Background(), config, secrets)
			if err == nil {
				if c, ok := st.(io.Closer); ok {
					c.Close()
				}
				t.Errorf("OpenStore(%q) opened", config)
			} else if piece := PasswordPiece(pw, err.Error()); piece != "" {
				t.Errorf("OpenStore(%q) = %v: quotes %q of the password", config, err, piece)
			}
		}
	}
}
