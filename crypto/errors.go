package crypto

import "github.com/crumbs-go/session/internal/errs"

var (
	// ErrInvalid is wrapped by every error of Open and Verify caused by the
	// value: not canonical base64url, wrong version, unknown key ID, failed
	// authentication, malformed or oversized compressed data, expired. It is
	// the same value as driver.ErrInvalid and chunking.ErrInvalid.
	ErrInvalid = errs.ErrInvalid

	// ErrTooLarge is wrapped by Seal's error when the data is over the
	// maximum data size. It is the same value as chunking.ErrTooLarge.
	ErrTooLarge = errs.ErrTooLarge
)
