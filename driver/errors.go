package driver

import (
	"errors"

	"github.com/crumbs-go/session/internal/errs"
)

var (
	// ErrInvalid is wrapped by every rejection of a token or of another
	// library's cookie: tampered, truncated, reordered or mixed-up chunks,
	// unknown key, wrong version, expired, over a limit. The Manager answers
	// it with a fresh session and logs the reason; handlers never see it.
	// The same value as crypto.ErrInvalid and chunking.ErrInvalid.
	ErrInvalid = errs.ErrInvalid

	// ErrNotFound is returned by Store.Load when the session does not
	// exist, and by Importer.Import when the request carries none. The
	// Manager answers it with a fresh session.
	ErrNotFound = errs.ErrNotFound

	// ErrTooLarge is wrapped by the error Store.Save returns when a record
	// cannot fit (the cookie budget, a backend's limit); the message states
	// the size and the limit. The same value as session.ErrTooLarge.
	ErrTooLarge = errs.ErrTooLarge

	// ErrMoved is returned by a Store when the session it was asked to load
	// or save was retired by a Regenerate of another request. The same value
	// as session.ErrMoved.
	ErrMoved = errs.ErrMoved

	// ErrExists is returned by Save for OpCreate when a record with the ID
	// exists: an ID collision, or an earlier attempt of the same request
	// whose reply was lost (the Manager then rewrites it).
	ErrExists = errors.New("session: a session with this ID exists")

	// ErrConflict is wrapped by *ConflictError.
	ErrConflict = errors.New("session: the stored value changed meanwhile")
)

// A ConflictError is returned by Save when a checked Change found another
// value than the one it expected: another request updated the key
// meanwhile. The Manager re-runs its Update functions on Values and saves
// again.
type ConflictError struct {
	// Values holds the stored value of every checked key that exists; a
	// checked key missing from it is absent.
	Values map[string][]byte
}

func (e *ConflictError) Error() string {
	return "session: a value changed by Update was changed meanwhile by another request"
}

// Unwrap returns ErrConflict.
func (e *ConflictError) Unwrap() error { return ErrConflict }
