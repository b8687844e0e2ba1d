package session

import (
	"errors"
	"strings"
	"time"

	"github.com/crumbs-go/session/driver"
	"github.com/crumbs-go/session/metrics"
)

// recordLoad reports how s was read (WithMetrics).
func (m *Manager) recordLoad(s *Session, o metrics.Outcome, err error) {
	if m.rec == nil {
		return
	}
	var r metrics.Reason
	if o == metrics.Refused {
		r = refusal(err)
	}
	m.rec.Load(s.ctx, o, r)
}

// refusal classifies why a token was refused, by the reasons the module's
// own stores and codecs give (static texts).
func refusal(err error) metrics.Reason {
	msg := err.Error()
	switch {
	case strings.Contains(msg, "revoked"):
		return metrics.Revoked
	case errors.Is(err, driver.ErrNotFound):
		return metrics.NotFound
	case strings.Contains(msg, "expired"):
		return metrics.Expired
	case strings.Contains(msg, "unknown key ID"):
		return metrics.UnknownKey
	case strings.Contains(msg, "authentication failed"), strings.Contains(msg, "does not verify"):
		return metrics.BadSeal
	case strings.Contains(msg, "over 4096"), strings.Contains(msg, "over 8000"), strings.Contains(msg, "longer than the maximum"), strings.Contains(msg, "over the maximum data size"):
		return metrics.TooLarge
	case strings.Contains(msg, "chunking:"):
		return metrics.ForgedChunk
	}
	return metrics.Malformed
}

// recordCommit reports a commit that wrote the session (act) or ended it.
func (m *Manager) recordCommit(s *Session, act action) {
	if m.rec == nil {
		return
	}
	var op metrics.Op
	switch act {
	case doCreate:
		op = metrics.Created
	case doUpdate, doResave:
		op = metrics.Saved
	case doRefresh:
		op = metrics.Refreshed
	case doRegenerate:
		op = metrics.Regenerated
	case doDestroy:
		m.rec.Commit(s.ctx, metrics.Destroyed, metrics.Sizes{})
		return
	default:
		return
	}
	m.rec.Commit(s.ctx, op, metrics.Sizes{TokenBytes: s.sentBytes, Cookies: s.sentCookies, RecordBytes: s.recordBytes})
}

// notFailure reports an error of a store call that is an answer, not the
// store's failure.
func notFailure(err error) bool {
	var conflict *driver.ConflictError
	var enc *encodeError // the codec's, met in the store's Save (driver.Commit.Encode)
	return errors.Is(err, driver.ErrNotFound) || errors.Is(err, driver.ErrInvalid) || errors.Is(err, driver.ErrMoved) ||
		errors.Is(err, driver.ErrExists) || errors.Is(err, driver.ErrTooLarge) || errors.As(err, &conflict) || errors.As(err, &enc)
}

// started returns the time a store call starts, when it is recorded.
func (m *Manager) started() time.Time {
	if m.rec == nil {
		return time.Time{}
	}
	return time.Now()
}

// recordBackend reports a store call that started at start; err counts only
// when it is the store's own failure.
func (m *Manager) recordBackend(s *Session, op metrics.BackendOp, start time.Time, err error) {
	if m.rec == nil {
		return
	}
	if err != nil && notFailure(err) {
		err = nil
	}
	m.rec.Backend(s.ctx, op, time.Since(start), err)
}
