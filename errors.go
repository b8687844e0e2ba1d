package session

import (
	"errors"

	"github.com/crumbs-go/session/internal/errs"
)

var (
	// ErrTooLarge is wrapped by the error the Manager hands to the error
	// handler when a session cannot fit the cookie budget; the message states
	// the size and the budget. The same value as chunking.ErrTooLarge.
	ErrTooLarge = errs.ErrTooLarge

	// ErrBackend is wrapped by the error the Manager hands to the error
	// handler when the store failed: a backend that is down, slow or
	// refusing. The default handler answers 503 Service Unavailable, with no
	// detail. The Manager recovers by itself when the backend returns.
	ErrBackend = errors.New("session: the session store failed")

	// ErrMoved is wrapped by the error Session.Commit returns when the
	// token named a session that another request's Regenerate (a login)
	// moved to a new ID meanwhile: nothing was saved, and the client should
	// keep the token it holds, as the other request's response replaces it.
	ErrMoved = errs.ErrMoved

	// ErrHeadersWritten is handed to the error handler when a handler
	// changed its session after the response headers had been written, so
	// the change could not be saved, or read it first then, so the response
	// went out without Vary: Cookie and Cache-Control (a shared cache may
	// serve it to other users). Use the session before writing the
	// response, or call Session.Save first.
	ErrHeadersWritten = errors.New("session: changed after the response headers were written; the change was not saved")
)

// errLateRead is ErrHeadersWritten for a session first read after the
// headers were written.
var errLateRead = lateReadError{}

type lateReadError struct{}

func (lateReadError) Error() string {
	return "session: first read after the response headers were written, so the response has no Vary: Cookie nor Cache-Control and a shared cache may serve it to other users; read the session before writing the response"
}

func (lateReadError) Unwrap() error { return ErrHeadersWritten }
