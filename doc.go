// Package session is the session API of crumbs: net/http middleware that gives
// each request a Session, with typed values, flash messages, regeneration,
// idle and absolute timeouts, and a save that lands before the response
// headers go out. The backend is a [Store], chosen without touching handlers.
//
// # Using a session
//
// Wrap the handlers with [Manager.Handler] and reach the session with
// [From](r). Nothing is decoded until the handler first uses the session, and
// nothing is written unless it changed (or WithRolling, WithSaveUninitialized,
// an idle refresh, or a re-seal under a rotated secret asks for it):
//
//	s := session.From(r)
//	cart, _ := session.Get[[]Item](s, "cart")
//	s.Set("cart", append(cart, item))
//
// Values are encoded with JSON by default ([WithCodec] changes it), read back
// straight into the type Get asks for, and decoded only when read. A value
// changed in place after Get is saved only when Set again.
//
// The middleware commits the session just before the first WriteHeader,
// Write, ReadFrom or Flush, or when the handler returns. A change after the
// headers went out cannot reach the browser; the error handler hears of it
// as [ErrHeadersWritten]. A session too large for the cookie budget goes to
// the error handler as an error wrapping [ErrTooLarge] that states the size
// and the budget, and the browser keeps its previous cookie.
//
// # Choosing a store
//
// [github.com/crumbs-go/session/cookiestore] keeps the whole session in the
// browser: compressed when that pays, sealed with XChaCha20-Poly1305 under a
// key ring, and split across as many cookies as it needs (two at most by
// default). Nothing is stored on the server, so it suits serverless
// functions and edge deployments. It cannot revoke a copied cookie before
// its deadline.
//
// [github.com/crumbs-go/session/serverstore] keeps the session in a backend
// and puts only a signed ID in the cookie: its memory backend (one process),
// or Redis (serverstore/redisstore) and PostgreSQL (serverstore/pgstore),
// each in its own module so that a cookie-only program pulls in neither
// client library. Sessions can be listed, counted, revoked and shared between
// instances, and have no size limit but the backend's.
//
// One configuration string chooses among them, through [OpenStore], with the
// store packages imported for their registration:
//
//	store, err := session.OpenStore(ctx, os.Getenv("SESSION_STORE"), secrets)
//	// "cookie", "memory", "redis://127.0.0.1:6379/0", "postgres://…"
//	m, err := session.New(store)
//
// Handlers are the same for every store. To share sessions with an
// Express application (express-session and connect-redis), use the module
// [github.com/crumbs-go/session/serverstore/redisstore/express]
// (express+redis://).
//
// # Security model
//
//   - Cookies are always HttpOnly, and SameSite=Lax and Path=/ by default. The __Host-
//     and __Secure- prefixes (in any case), SameSite=None and Partitioned
//     force Secure; contradictions fail in New.
//   - Secrets are at least 32 bytes each. The first seals; all open; a cookie
//     opened by an older secret is re-sealed under the first on that response.
//   - Idle and absolute deadlines are sealed inside the cookie and enforced on
//     every read, whatever the browser does with Max-Age.
//   - A tampered, truncated, reordered, mixed-up, expired or oversized cookie
//     gives a fresh session; the reason is logged (at Info) for the operator
//     and never shown to the client. No request input causes a panic or a 5xx.
//   - Regenerate on every privilege change (login) defeats session fixation;
//     [WithIdentityKey] does it for you whenever the user's identity value changes.
//     Destroy expires every chunk cookie the browser may hold.
//   - Every response whose handler used the session carries Vary: Cookie. One
//     that sets or expires a session cookie gets Cache-Control: no-store,
//     whatever the handler chose; a read-only one gets private, no-cache
//     unless the handler chose private or no-store itself, so that no shared
//     cache serves one user's page to another and the back button after a
//     logout does not show it from cache.
//   - Cookies are Secure by default except on plain HTTP from this machine
//     straight to a loopback host with no sign of a proxy (http://localhost
//     during development, logged once at Warn), so that behind a
//     TLS-terminating proxy they are Secure without any setting.
//
// # The lifecycle of a request
//
// Each request's session is in one state: unloaded (the handler never used
// it: no decoding, no header), fresh (no valid session came), loaded,
// changed, created (values set on a fresh session, or after [Session.Destroy]),
// regenerated or destroyed. Just before the headers go out, one decision
// follows from the state and the options:
//
//   - loaded: nothing; or a refresh (new deadlines stored, the token sent
//     again, no value rewritten) after [Session.Touch], with [WithRolling], when less
//     than half of the idle timeout is left, or when an older secret
//     opened the token; or a rewrite of every value with [WithResave];
//   - changed: save the changes (destroy instead, with [WithDestroyEmpty], when
//     no value is left);
//   - fresh: nothing, unless [WithSaveUninitialized] (expire the token when
//     it was rejected);
//   - created: store the new session (not an empty one, unless
//     WithSaveUninitialized); regenerated: store the session under its new
//     ID, then retire the old one;
//   - destroyed: delete it and expire every token; final for the request,
//     unless a value is set afterwards.
//
// Every session has a deadline: [WithLifetime] (24 h by default, at most 400
// days) or [WithIdleTimeout], or both; [New] refuses neither.
//
// # Concurrency
//
// In server mode, parallel requests of one user do not lose each other's
// writes. Each request tracks what it changed — keys set, keys deleted, all
// cleared — and its save applies only that, in one atomic step of the
// backend, onto whatever other requests stored meanwhile. So requests that
// set different keys all land, with no retry; two that set the same key end
// with one of the two values (the later save), never a mix. For a
// read-modify-write of one key (a counter, a list appended to), use [Update]:
// its change applies only if the key still holds the value the request
// read, and otherwise its function is re-run on the newer value, after a
// jittered backoff bounded by [WithConflictTimeout] (2 s by default) and the
// request's context, so no increment is lost. Within one process, the
// commits that Update one session take turns, so they re-run at most once
// for each other; across instances the backoff spreads them out. A session destroyed by one
// request (a logout) stays destroyed: another request's save does not bring
// it back, nor does a [Session.Regenerate] (a login) that loaded it before: their
// changes are dropped, logged, and the token is expired; a logout through
// the token a login just retired ends the login's session too. A request
// that overlaps another's Regenerate loses its changes, but leaves the
// browser the new cookie; values parallel requests stored before the
// Regenerate committed move to the new ID. After an ID-only Regenerate (a
// rotation of a signed-in user's ID, with [WithIdentityKey], in a request
// that changed nothing else), such a request still reads the new session
// for a short grace (serverstore.WithGrace, 10 s): the browser's requests in
// flight during the rotation see the user signed in. A sign-in, or a
// Regenerate that raises privilege, never resolves so: an ID from before it
// may have been planted.
//
// In cookie mode there is nothing shared to merge: the browser keeps the
// cookie of the last response it receives, so of parallel requests that
// change the session only the last response's changes survive, Update or
// not. Chunk cookies a parallel response left beyond the count the session
// cookie declares are ignored, and expired by the next response.
//
// # Without HTTP cookies
//
// [Manager.Load] reads a session from a token and [Session.Commit] returns the
// token to hand back, for WebSockets, gRPC, job workers and tests: the same
// store, sealing, signing, rotation and deadlines as the cookie.
//
// # Writing a store
//
// Applications need only this package and a store package. The contract a
// store implements, the registry behind OpenStore and the errors only
// stores return are in [github.com/crumbs-go/session/driver], as
// database/sql/driver is to database/sql; serverstore.Backend is the
// smaller contract of a server-mode backend.
//
// # Compatibility
//
// Cookies follow spec/cookie-v1.md, server records spec/server-id-v1.md.
// Once released, every value sealed under version 1 keeps opening in later
// releases and the test vectors in testdata/vectors are never edited, only
// added to (before the first release, amendments are listed in the spec's
// change log). Server records of the first layout keep loading, and are
// rewritten in the current one on their next save.
package session
