package driver

import "net/http"

// An Importer reads a session that another library wrote into the
// request's cookies (a gorilla/sessions cookie, a cookie-session pair), so
// that its users keep their sessions when an application moves to crumbs.
// Package github.com/crumbs-go/session/migrate has Importers for
// gorilla/sessions and cookie-session.
//
// With session.WithImport, a request whose handler uses its session and that
// carries no valid crumbs session is offered to each Importer in turn: the
// crumbs cookie is always tried first, so when both formats share a cookie
// name a crumbs cookie wins. The first Importer that finds a session gives
// its values to the request's session, which the response stores as a
// crumbs session (a new ID, the Manager's deadlines from that moment); the
// response also expires the other library's cookies, with their own Path
// and Domain. A request that carries both a valid crumbs session and old
// cookies keeps the crumbs session and expires the old cookies again, so a
// browser that sends both converges. An Importer must be safe for
// concurrent use, and treat every byte of the request as untrusted.
type Importer interface {
	// Name names the format, for the log and session's Manager.Migrations:
	// "gorilla/sessions", "cookie-session".
	Name() string
	// Cookies are the cookies the format uses, with the Path and Domain
	// they were set with: what a response expires.
	Cookies() []*http.Cookie
	// Import reads the request's session: ErrNotFound when the request
	// carries none, an error wrapping ErrInvalid when what it carries is
	// malformed, forged, signed by an unknown key or expired (the Manager
	// logs the reason and starts a fresh session, as for a crumbs cookie).
	Import(r *http.Request) (*Imported, error)
}

// Imported is what an Importer read from a request.
type Imported struct {
	// Values are the session's values, under crumbs' rules: the Manager
	// encodes each with its Codec. A key that is not valid UTF-8 without
	// NUL bytes, or a value the Codec refuses, is left out (the log names
	// it and says why); the others are imported.
	Values map[string]any
	// Dropped names what the Importer itself could not convert, with the
	// reason, for the log: "key 7 (int): not a string".
	Dropped []string
}
