// Package errs holds the error values that every package of the module
// shares, so that one sentinel answers errors.Is wherever it was returned.
package errs

import (
	"errors"
	"fmt"
)

// ErrInvalid is the family of every rejection of attacker-controlled input:
// tampered, truncated, reordered, unknown key, wrong version, expired, over
// a limit. Exported as ErrInvalid by the packages that return it.
var ErrInvalid = errors.New("session: invalid")

// ErrTooLarge is returned when a value cannot fit the configured limits.
var ErrTooLarge = errors.New("session: too large")

// Reason is a static rejection reason for the operator. It wraps ErrInvalid, and
// converting a constant Reason to error does not allocate.
type Reason string

func (r Reason) Error() string { return string(r) }

// Unwrap returns ErrInvalid.
func (r Reason) Unwrap() error { return ErrInvalid }

// Invalidf formats a reason that wraps ErrInvalid, for the rare paths that want
// detail (which chunk, which position).
func Invalidf(format string, args ...any) error {
	return fmt.Errorf(format+": %w", append(args, ErrInvalid)...)
}

// ErrNotFound is returned when a request carries no session at all.
var ErrNotFound = errors.New("session: not found")

// ErrMoved is returned when a session was retired by another request's
// Regenerate.
var ErrMoved = errors.New("session: the session moved to a new ID meanwhile")

// Unchecked is returned by a Store's Load together with a usable record
// when a check it was configured to make could not run and its operator
// chose to accept the session anyway (cookiestore.WithFailOpen): the
// Manager logs it as a warning and goes on with the record.
type Unchecked struct{ Err error }

func (u *Unchecked) Error() string { return u.Err.Error() }
func (u *Unchecked) Unwrap() error { return u.Err }
