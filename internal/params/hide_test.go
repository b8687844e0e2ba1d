package params_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/crumbs-go/session/internal/params"
)

// pieces reports a piece (3 bytes or more) of pw in msg.
func pieces(pw, msg string) string {
	for n := len(pw); n >= 3; n-- {
		for i := 0; i+n <= len(pw); i++ {
			if strings.Contains(msg, pw[i:i+n]) {
				return pw[i : i+n]
			}
		}
	}
	return ""
}

// TestParseQuotesNoPiece: whatever a password holds, Parse's error names
// the problem and no piece of it.
func TestParseQuotesNoPiece(t *testing.T) {
	for _, pw := range []string{"Qj7/Vx9k", "Qj7?Vx9k", "Qj7#Vx9k", "Qj7%Vx9k", "Qj7%zzVx9k", "Qj7 Vx9k",
		"/Qj7Vx9k", "?Qj7Vx9k", "#Qj7Vx9k", "8765/Qj7Vx9k", "8765?Qj7Vx9k", "8765#Qj7Vx9k", "Qj7Vx9k/", "Qj7é/Vx9k"} {
		for _, tmpl := range []string{"redis://user:P@127.0.0.1:6379/0", "postgres://user:P@h:5432/db?sslmode=disable",
			"redis://h:26379/0?master_name=m&password=P&db=1", "redis:/user:P@h/0"} {
			config := strings.ReplaceAll(tmpl, "P", pw)
			_, err := params.Parse("p", config)
			if err == nil {
				continue // well-formed (an '@' in a parameter's value)
			}
			if p := pieces(pw, err.Error()); p != "" {
				t.Errorf("Parse(%q): %v: quotes %q", config, err, p)
			}
		}
	}
	if _, err := params.Parse("p", "redis://user:hunt/er2@127.0.0.1:6379/0"); err == nil || !strings.Contains(err.Error(), "%2F") {
		t.Errorf("a '/' in the password: %v, want the advice to write %%2F", err)
	}
	for _, ok := range []string{"redis://u:p%2F%3F%23%25@h:6379/0", "redis://h:26379/0?master_name=m&password=a@b", "postgres://u@h/db?password=a%26b"} {
		if _, err := params.Parse("p", ok); err != nil {
			t.Errorf("Parse(%q): %v", ok, err)
		}
	}
}

// TestHide: an error that quotes a password, or a piece of one, is masked,
// and still answers errors.Is.
func TestHide(t *testing.T) {
	for _, tc := range []struct{ config, msg string }{
		{"redis://user:hunt/er2x@h:6379/0", `invalid port ":hunt" after host`},
		{"redis://user:/hunter2x@h:6379/0", `redis: invalid URL path: /hunter2x@h:6379/0`},
		{"postgres://u@h/db?password=hunt&er2x", `FATAL: unrecognized configuration parameter "er2x"`},
		{"postgres://u:hunt%25er2x@h/db", `cannot parse hunt%er2x`},
		{"host=h user=u password='hunter2x' dbname=d", `no store for "host=h user=u password='hunter2x' dbname=d"`},
	} {
		err := params.Hide(tc.config, fmt.Errorf("%s: %w", tc.msg, context.DeadlineExceeded))
		for _, marker := range []string{"hunt", "er2x", "hunter2x"} {
			if strings.Contains(err.Error(), marker) {
				t.Errorf("Hide(%q) = %q", tc.config, err)
			}
		}
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Hide(%q): errors.Is lost", tc.config)
		}
	}
	plain := errors.New("redis: unexpected option: bogus")
	if err := params.Hide("redis://h/0?bogus=1", plain); err != plain {
		t.Errorf("Hide changed the error of a string without a password: %v", err)
	}
	if err := params.Hide("redis://u:hunter2@h/0?bogus=1", plain); errors.Unwrap(err) != nil || err.Error() != plain.Error() {
		t.Errorf("Hide(a string with a password) = %v, unwrapping to %v: want the text, and no way to the original", err, errors.Unwrap(err))
	}
}
