package session

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/crumbs-go/session/driver"
)

// MaxTokenSize is the longest token Load and the header transport accept or
// send, in bytes: a token is one value, never split into chunks, and with
// "Authorization: Bearer " it stays within a default nginx's 8 KiB header
// line (spec/header-token-v1.md §2).
const MaxTokenSize = 8000

// Load reads the session a token refers to, for code outside an HTTP
// handler: a WebSocket connection, a gRPC call, a job worker, a test. The
// token is what Session.Commit returned, or "" for none. A token that is
// invalid, expired or names no session gives a fresh session (the log says
// why), as in the middleware; the error is a store failure (wrapping
// ErrBackend). Put the session in a context with NewContext for code that
// calls FromContext. The session is not safe for concurrent use.
func (m *Manager) Load(ctx context.Context, token string) (*Session, error) {
	s := &Session{exchange: exchange{m: m, ctx: ctx, t: &tokenTransport{in: token, bind: headerBinding(m.cfg.name)}}}
	s.load()
	return s, s.loadErr
}

// Commit saves the session of Load and returns the token to hand back to
// the client (the same one when nothing needed saving) and the session's
// deadline. When the session ended (Destroy, or another request destroyed
// it), the token is "": the client should drop the one it holds. The error
// wraps ErrTooLarge, ErrBackend or the Codec's error, or ErrMoved when the
// token named an ID that another request's Regenerate retired, so nothing
// was saved (also when the session was read through a grace,
// serverstore.WithGrace: the token stops working when it ends); after an
// error the token the client holds is as it was.
func (s *Session) Commit() (token string, deadline time.Time, err error) {
	t, ok := s.t.(*tokenTransport)
	if !ok {
		return "", time.Time{}, errors.New("session: Commit is for sessions from Manager.Load; the middleware commits its own")
	}
	if err := s.m.commit(s); err != nil {
		return t.in, time.Time{}, err
	}
	if s.dropped || s.graceRead {
		return t.in, time.Time{}, fmt.Errorf("session: the token names an ID that a Regenerate of another request retired; this session's changes were not saved: %w", ErrMoved)
	}
	if t.ended {
		return "", time.Time{}, nil
	}
	if t.out == "" {
		return t.in, s.Deadline(), nil
	}
	return t.out, s.Deadline(), nil
}

// tokenTransport is a token handed in and out by the caller.
type tokenTransport struct {
	in, out string
	bind    string
	ended   bool
}

func (t *tokenTransport) binding() string { return t.bind }

func (t *tokenTransport) read(*Session) (string, error) {
	switch {
	case t.in == "":
		return "", driver.ErrNotFound
	case len(t.in) > MaxTokenSize:
		return "", fmt.Errorf("session: a token of %d bytes, over %d: %w", len(t.in), MaxTokenSize, driver.ErrInvalid)
	case strings.HasPrefix(t.in, "Bearer ") || strings.HasPrefix(t.in, "bearer "):
		return t.in[len("Bearer "):], nil // an Authorization header's value, handed in whole
	}
	return t.in, nil
}

func (t *tokenTransport) carried(*Session) bool { return t.in != "" }

func (t *tokenTransport) write(s *Session, token string, _ time.Time) error {
	if len(token) > MaxTokenSize {
		return fmt.Errorf("session: the session's token is %d bytes, over %d: %w", len(token), MaxTokenSize, ErrTooLarge)
	}
	t.out, t.ended = token, false
	s.sentBytes, s.sentCookies = len(token), 1
	return nil
}

func (t *tokenTransport) expire(*Session)       { t.out, t.ended = "", true }
func (t *tokenTransport) unwrite(*Session)      {}
func (t *tokenTransport) tidy(*Session) bool    { return false }
func (t *tokenTransport) finish(*Session, bool) {}
