// Package session is the session API of crumbs: net/http middleware that gives
// each request a Session, with typed values, flash messages, regeneration,
// idle and absolute timeouts, and a save that lands before the response
// headers go out. The backend is a Store, chosen without touching handlers.
//
// # Choosing a store
//
// cookiestore keeps the whole session in the browser: compressed when that
// pays, sealed with XChaCha20-Poly1305 under a key ring, and split across as
// many cookies as it needs (two at most by default). Nothing is stored on the
// server, so it suits serverless functions and edge deployments. It cannot
// revoke a copied cookie before its deadline.
//
// serverstore keeps the session in a backend and puts only a signed ID in
// the cookie: its memory backend (one process), or Redis
// (serverstore/redisstore) and PostgreSQL (serverstore/pgstore), each in its
// own module so that a cookie-only program pulls in neither driver. Sessions
// can be listed, counted, revoked and shared between instances, and have no
// size limit but the backend's.
//
// One configuration string chooses among them, through OpenStore, with the
// store packages imported for their registration:
//
//	store, err := session.OpenStore(ctx, os.Getenv("SESSION_STORE"), secrets)
//	// "cookie", "memory", "redis://127.0.0.1:6379/0", "postgres://…"
//	m, err := session.New(store)
//
// Handlers are the same for every store.
//
// # Concurrency
//
// In server mode, parallel requests of one user do not lose each other's
// writes. Each request tracks the keys it set, deleted or cleared; its save
// names the version it loaded, and when another request saved meanwhile,
// the store re-applies this request's key-level changes to the newer values
// and retries. So two requests that set different keys both land; two that
// set the same key end with one of the two values (the later save), never a
// mix; and a session destroyed by one request (a logout) stays destroyed:
// another request's save does not bring it back, and that request's changes
// are dropped (with a log line). In cookie mode there is nothing shared to
// merge: the browser keeps the cookie of the last response it received.
//
// # Using a session
//
// Wrap the handlers with Manager.Handler and reach the session with
// From(r). Nothing is decoded until the handler first uses the session, and
// nothing is written unless it changed (or WithRolling, WithSaveUninitialized,
// an idle refresh, or a re-seal under a rotated secret asks for it):
//
//	s := session.From(r)
//	cart, _ := session.Get[[]Item](s, "cart")
//	s.Set("cart", append(cart, item))
//
// Values are encoded with JSON by default (WithCodec changes it), read back
// straight into the type Get asks for, and decoded only when read. A value
// changed in place after Get is saved only when Set again.
//
// The middleware commits the session just before the first WriteHeader,
// Write, ReadFrom or Flush, or when the handler returns. A change after the
// headers went out cannot reach the browser; the error handler hears of it
// as ErrHeadersWritten. A session too large for the cookie budget goes to
// the error handler as an error wrapping ErrTooLarge that states the size
// and the budget, and the browser keeps its previous cookie.
//
// # Security model
//
//   - Cookies are HttpOnly, SameSite=Lax, Path=/, and Secure on TLS requests
//     (or behind a trusted proxy) by default. The __Host- and __Secure-
//     prefixes, SameSite=None and Partitioned force Secure; contradictions
//     fail in New.
//   - Secrets are at least 32 bytes each. The first seals; all open; a cookie
//     opened by an older secret is re-sealed under the first on that response.
//   - Idle and absolute deadlines are sealed inside the cookie and enforced on
//     every read, whatever the browser does with Max-Age.
//   - A tampered, truncated, reordered, mixed-up, expired or oversized cookie
//     gives a fresh session; the reason is logged (at Info) for the operator
//     and never shown to the client. No request input causes a panic or a 5xx.
//   - Regenerate on every privilege change (login) defeats session fixation.
//     Destroy expires every chunk cookie the browser may hold.
//   - Responses that set a session cookie carry Vary: Cookie and, unless the
//     handler chose private or no-store caching, Cache-Control: no-store.
//
// # Compatibility
//
// Cookies follow spec/cookie-v1.md. Every value sealed under version 1 keeps
// opening in later releases; the test vectors in testdata/vectors are never
// edited, only added to.
package session
