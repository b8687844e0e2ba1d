// Package metrics is the hook through which a session.Manager tells an
// operator what it does: sessions loaded, created, saved, refreshed,
// regenerated and destroyed; tokens refused, by reason; Update conflicts and
// their retries; token and record sizes; and how long each store call took.
// Give a Recorder to session.WithMetrics; without one the Manager pays a nil
// check per event and nothing else.
//
// Adapters, each its own module: metrics/prommetrics (Prometheus) and
// metrics/otelmetrics (OpenTelemetry). Write a Recorder for anything else.
package metrics

import (
	"context"
	"time"
)

// A Recorder receives a Manager's events. It is called on the request's
// goroutine, so it must be quick and safe for concurrent use; it must not
// call back into the Manager or the Session. ctx is the request's.
type Recorder interface {
	// Load reports how a request's session was read, once per request
	// that used its session (and again after a Reload).
	Load(ctx context.Context, o Outcome, r Reason)
	// Commit reports a commit that wrote the session or its expiry, with
	// the sizes it sent and stored.
	Commit(ctx context.Context, op Op, s Sizes)
	// Conflict reports a commit whose Update functions ran again because
	// parallel requests changed their keys: retries is how many times,
	// and ok whether the commit then succeeded (else it timed out:
	// session.WithConflictTimeout).
	Conflict(ctx context.Context, retries int, ok bool)
	// Backend reports one call to the store: which, how long it took, and
	// whether it failed (a session that is not there, or is refused, is
	// not a failure: err is for the store's own failures).
	Backend(ctx context.Context, op BackendOp, d time.Duration, err error)
}

// An Outcome is what a request found when it read its session.
type Outcome string

// The outcomes of Load.
const (
	// Loaded: the token named a live session, which the request read.
	Loaded Outcome = "loaded"
	// New: the request carried no token; it got a fresh session.
	New Outcome = "new"
	// Refused: the request carried a token that does not name a live
	// session (see Reason); it got a fresh session.
	Refused Outcome = "refused"
	// Imported: the request carried another library's session
	// (session.WithImport), which became a crumbs session.
	Imported Outcome = "imported"
	// Moved: the token names an ID that another request's Regenerate
	// retired; the request read the new session within a grace, or got a
	// fresh one that is not saved.
	Moved Outcome = "moved"
	// Failed: the store failed; the request was answered by the error
	// handler.
	Failed Outcome = "failed"
)

// A Reason says why a token was refused. It is "" for other outcomes.
type Reason string

// The reasons of a Refused Load.
const (
	// Expired: past the idle or absolute deadline.
	Expired Reason = "expired"
	// BadSeal: the seal or signature does not authenticate: altered,
	// forged, or sealed for another cookie name.
	BadSeal Reason = "bad_seal"
	// UnknownKey: sealed or signed under a secret that is not in the list
	// (a secret since removed).
	UnknownKey Reason = "unknown_key"
	// TooLarge: over a size limit before any decoding.
	TooLarge Reason = "too_large"
	// ForgedChunk: a set of chunk cookies that is not one value (missing or
	// repeated parts, a count it does not hold). Parts of another session
	// in the right places fail as BadSeal; parts beyond the count are
	// ignored, as the format says.
	ForgedChunk Reason = "forged_chunk"
	// Revoked: a cookie-mode session ended by a sign-out before its
	// deadline (cookiestore.WithRevocation). In server mode an ended
	// session is NotFound.
	Revoked Reason = "revoked"
	// NotFound: a well-formed token for a session the store does not hold:
	// ended (Destroy, devices.End) or expired there.
	NotFound Reason = "not_found"
	// Malformed: anything else about the token: not base64url, an unknown
	// version, malformed data inside the seal; and every refusal of a store
	// outside this module, or of the Express format, whose reasons are
	// not classified.
	Malformed Reason = "malformed"
)

// An Op is what a commit did.
type Op string

// The operations of Commit.
const (
	// Created: a new session was stored.
	Created Op = "created"
	// Saved: a session's values changed.
	Saved Op = "saved"
	// Refreshed: a session's deadlines (or its seal, after a rotation)
	// were renewed without a change of values.
	Refreshed Op = "refreshed"
	// Regenerated: a session moved to a new ID (a sign-in).
	Regenerated Op = "regenerated"
	// Destroyed: a session was ended, and its token expired.
	Destroyed Op = "destroyed"
)

// Sizes are what a commit sent and stored.
type Sizes struct {
	// TokenBytes is the bytes of the token sent: the session's cookies,
	// names and values, or the header token. 0 for Destroyed.
	TokenBytes int
	// Cookies is the number of cookies it took (1 for a header token).
	Cookies int
	// RecordBytes is the bytes of the encoded session data: what a cookie
	// store sealed before compression, or a server store received.
	RecordBytes int
}

// A BackendOp is a call to the store.
type BackendOp string

// The store's calls.
const (
	BackendLoad   BackendOp = "load"
	BackendSave   BackendOp = "save"
	BackendRetire BackendOp = "retire"
	BackendDelete BackendOp = "delete"
)
