package driver

import (
	"context"
	"time"
)

// A Store keeps session records and maps each to a token: the value of the
// session cookie, or of the header token. The cookie store (package
// cookiestore) seals the whole record into the token; a server store
// (package serverstore) signs an ID and keeps the record in a backend. The
// Manager owns the lifecycle (what a request changed, when to save, the
// deadlines) and the transports (cookies, chunks, headers); a Store only
// persists what the Manager hands it.
//
// A Store must be safe for concurrent use. The token handed to Load is
// untrusted: a Store must bound it before allocating, never panic on it, and
// reject it with an error wrapping ErrInvalid. The Record Load returns
// belongs to the Manager: the Store must not write or reuse its Data or
// Values afterwards (the JSON codec splits Data into views of it, without
// copying). What the Manager hands to Save is the Manager's: a Store copies
// what it keeps.
type Store interface {
	// Load returns the record the token refers to. It returns an error
	// wrapping ErrInvalid for a token it rejects (including an expired one),
	// ErrNotFound when the record does not exist (or was destroyed),
	// ErrMoved with a Record holding only the ID when a Regenerate retired
	// the ID less than a while ago (or, within the grace of an ID-only
	// Regenerate, the whole record the ID moved to, under the old ID, with
	// its Handle: the Manager lets the request read it and save nothing),
	// and any other error when the store itself failed. name is the name the token is bound to: the cookie's,
	// or "header:" and the cookie's for header tokens.
	Load(ctx context.Context, name, token string, now time.Time) (*Record, error)

	// Save persists c and returns the token that refers to the record. It
	// returns an error wrapping ErrTooLarge when the record cannot fit,
	// ErrNotFound when c.Op is OpUpdate or OpRefresh and the record is gone
	// (destroyed meanwhile: destruction wins), ErrMoved when a Regenerate
	// of another request replaced it, and a *ConflictError when a Change
	// with Check found another value (nothing is written then).
	Save(ctx context.Context, name string, c *Commit, now time.Time) (string, error)

	// Retire ends old's ID on behalf of a Regenerate, after the Manager
	// saved the session under its new ID (next): afterwards the old token
	// loads as ErrMoved, saves over it fail with ErrMoved, and a Delete of
	// it deletes next too (a logout that raced the login wins). It returns
	// the values stored under the old ID at that moment, so that none a
	// parallel request wrote is lost (nil, nil for a store that keeps
	// nothing, such as the cookie store, and when old is already this
	// Regenerate's own tombstone: a retry after a lost reply), ErrNotFound when the record is
	// gone (destroyed: the Regenerate is refused, and the Manager deletes
	// next) and ErrMoved when another Regenerate retired it first.
	// Backends that share no transaction between two keys (a Redis Cluster)
	// need nothing more: the retirement is one atomic step on the old key.
	Retire(ctx context.Context, name string, old, next *Record, now time.Time) (*Record, error)

	// Delete removes rec, and the session a Regenerate moved it to if it
	// was retired. Deleting a record that does not exist is not an error;
	// a store that records ended sessions (cookiestore.WithRevocation)
	// returns ErrNotFound for one it had ended already: the Manager takes
	// the Destroy as done, and refuses a session the request then creates
	// (a copy of an ended cookie does not sign itself in again).
	// The cookie store has nothing to delete (but records a revoked
	// session with cookiestore.WithRevocation). now is the Manager's clock.
	Delete(ctx context.Context, name string, rec *Record, now time.Time) error
}

// A Record is a session as a Store keeps it: plain data.
type Record struct {
	// ID identifies the session: 43 base64url characters (256 random bits)
	// by default, 22 to 64 with session.WithIDGenerator.
	ID string
	// Values are the session's values, each encoded by the Manager's Codec (session.WithCodec).
	// The Manager hands them to Save in full; Load may return them instead
	// of Data.
	Values map[string][]byte
	// Data is Values in one piece, as the Codec's EncodeMap wrote them: what
	// the cookie store seals. Load returns either Values or Data. Save gets
	// Data nil: a store that keeps the values in one piece makes it with
	// Commit.Encode(Values) (a server store applies the change set and
	// never needs it, so the Manager does not pay for it).
	Data []byte
	// Expires is the absolute deadline, IdleExpires the idle deadline; zero
	// means none. The Manager gives every session at least one.
	Expires, IdleExpires time.Time
	// BrowserSession marks a session whose cookie has no Max-Age: the
	// browser drops it when it closes.
	BrowserSession bool
	// Cookie holds the session's own cookie attributes (set by
	// session.Session.SetCookie, or read from another library's record),
	// encoded as spec/cookie-v1.md §10.1 says; nil means the Manager's. A store keeps it with the cookie kind,
	// as opaque bytes of at most MaxCookieAttributes, and refuses a longer
	// one as invalid.
	Cookie []byte
	// Stale is set by Load when the token must be written again, because an
	// older secret opened or verified it.
	Stale bool

	// User is the user the session is bound to ("" for none): the value
	// named by session.WithIdentityKey, as text, set by the Manager on each
	// OpCreate. A record's binding never changes afterwards, since a change
	// of the identity value regenerates the session; a record stored
	// unbound (before the application named its identity key) is bound by
	// a later write, which the store applies only to a record that has no
	// binding. A store that keeps a
	// per-user index (an Indexer) lists the record under it; other stores
	// ignore it. At most MaxUser bytes.
	User string
	// Created is when the session was stored under this ID (set by the
	// Manager on OpCreate), and Seen when a request last wrote it: set by
	// a Store that keeps it (an Indexer, for a bound record) on Load, and
	// on Save to the time it stored; zero otherwise.
	Created, Seen time.Time
	// Agent and Addr are the User-Agent and client address of the request
	// that created the session, each cut to at most MaxClientDetail bytes,
	// for an "active sessions" page. The Manager always sets them on
	// OpCreate; a store keeps them only where its operator opted in
	// (serverstore.WithClientDetails).
	Agent, Addr string
	// IDOnly is set by the Manager on the record a Regenerate moves a
	// session to (Retire's next, whose Values it then sets too) when that
	// Regenerate changed nothing but the ID: the same bound user, and no
	// value, deadline or cookie kind changed by the request in any of its
	// commits. Only then may a store let the old ID read the new session
	// for a grace (serverstore.WithGrace), and only while it holds those
	// Values; a Regenerate that raises the session's privilege (a sign-in,
	// a second factor) never.
	IDOnly bool
	// Form is the form of the token a store loaded the record from, or
	// returned from Save, for a store that keeps a session in more than
	// one (the spill-over store, cookiestore.Spill: 1 sealed in the
	// cookie, 2 on the server); 0 for other stores and new sessions. The
	// Manager hands back to Save the Form of the session's last Load or
	// Save.
	Form uint8
	// Handle is set by an Indexer's Load on a record it returns with
	// ErrMoved because it resolved the retired ID within a grace: the
	// handle of the session it read (the request's own ID names only a
	// tombstone).
	Handle string
}

// MaxUser is the longest binding (Record.User) in bytes; MaxClientDetail
// the longest Record.Agent or Record.Addr, which the Manager cuts to it.
const (
	MaxUser         = 255
	MaxClientDetail = 255
)

// An Indexer is a Store that keeps a per-user index of the sessions bound
// to a user (Record.User): what an "active sessions" page lists, and what
// "sign out everywhere" ends. Package devices is its API for applications.
// A session is named by a handle, never by its ID: a handle cannot be
// replayed as a cookie, and stays the same for the session's life under the
// same secrets.
type Indexer interface {
	// Sessions lists the live sessions bound to user, oldest first.
	Sessions(ctx context.Context, user string, now time.Time) ([]Listing, error)
	// Handle returns the handle of the session whose ID is id.
	Handle(id string) string
	// End ends the session of user named by handle, as a Destroy would;
	// it reports false when user has no such session (ended already).
	End(ctx context.Context, user, handle string, now time.Time) (bool, error)
	// EndAll ends every session of user except the one named by keep (""
	// keeps none) and returns how many it ended.
	EndAll(ctx context.Context, user, keep string, now time.Time) (int, error)
}

// A Listing is one session of a user, as an Indexer lists it.
type Listing struct {
	Handle        string
	Created, Seen time.Time
	Agent, Addr   string // "" unless the store keeps them
}

// MaxCookieAttributes is the most bytes Record.Cookie holds: two
// attributes of at most 1024 bytes (what browsers keep), their lengths and
// three flags.
const MaxCookieAttributes = 3 + 2 + 1024 + 2 + 1024

// An Op is what a commit asks of a Store.
type Op uint8

const (
	// OpCreate stores the session under its new ID: after a first write,
	// or a Regenerate (whose old ID Retire ended).
	OpCreate Op = iota + 1
	// OpUpdate applies the Changes to the stored session and sets its
	// deadlines and flags, in one atomic step.
	OpUpdate
	// OpRefresh sets the stored session's deadlines and flags only, without
	// rewriting its values (Touch, rolling, the idle refresh, a re-seal
	// under a rotated secret).
	OpRefresh
)

// A Commit is what one request asks a Store to persist.
type Commit struct {
	Op Op
	// Record is the session as the request leaves it: ID, deadlines, flags,
	// and every value (Values; Data is nil, see Record.Data). The cookie store seals it
	// whatever the Op.
	Record Record
	// Changes is what the request changed since it loaded the session: what
	// a server store applies for OpUpdate, so that parallel requests that
	// change different keys never conflict.
	Changes Changes
	// SetLifetime and SetKind report that the request changed the
	// absolute deadline (SetLifetime) or the cookie kind and attributes
	// (SetBrowserSession, SetCookie: BrowserSession and Cookie): a server
	// store writes each only then, and otherwise keeps what it holds, so
	// that a parallel request's refresh does not undo them. Save then sets
	// Record's deadlines, cookie kind and attributes to what the store
	// holds, for the token it returns (a store whose records keep a span
	// of their own, as express-session's cookie.maxAge, sets IdleExpires
	// by it). An OpCreate writes the whole record whatever they say; they
	// still tell whether the request set them (the Express format reads a
	// request's SetLifetime as express-session's "remember me").
	SetLifetime, SetKind bool
	// Merged is set by Save when the token it returns holds other values
	// than the ones handed in, which it then sets in Record.Values: what
	// its record held, this request's changes and a parallel request's
	// (the spill-over store seals what its record holds). The Manager
	// reads the session's values from them from then on.
	Merged bool
	// Encode encodes values into Data's form, with the Manager's codec
	// (session.WithCodec): for a store that keeps the values in one piece
	// (the cookie store seals Encode(Record.Values)), or whose token holds
	// values it read back rather than the ones handed in (the spill-over
	// store, cookiestore.Spill, seals what its server record holds). Set by
	// the Manager; it does not keep values. Return its error as it is.
	Encode func(values map[string][]byte) ([]byte, error)
}

// Changes lists what a request did to a session's values.
type Changes struct {
	// Clear removes every stored value before List applies.
	Clear bool
	// List holds one Change per key, in no particular order.
	List []Change
}

// A Change sets or deletes one key.
type Change struct {
	Key    string
	Value  []byte // the new encoded value, unless Delete
	Delete bool
	// Check makes the change conditional, for Update: it applies only if
	// the key still holds Old (or is still absent, when HadOld is false).
	// When any Check of a Commit fails, Save writes nothing and returns a
	// *ConflictError with the values it found.
	Check  bool
	Old    []byte
	HadOld bool
}
