package session

import (
	"cmp"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/crumbs-go/session/chunking"
	"github.com/crumbs-go/session/driver"
	"github.com/crumbs-go/session/internal/sid"
	"github.com/crumbs-go/session/metrics"
)

// SecureMode chooses when the session cookie carries the Secure attribute.
type SecureMode int

const (
	// SecureAuto marks the cookie Secure unless the request comes over
	// plain HTTP from a client on this machine straight to a loopback host
	// (a browser on http://localhost:8080 or http://127.0.0.1:8080 during
	// development). A request that shows any sign of a proxy is not taken
	// for development, even from the loopback: X-Forwarded-*, Forwarded,
	// X-Real-Ip or Via; HTTP/1.0, Connection: close or another Connection
	// token no browser sends (what nginx's proxy_pass sends by default,
	// with Host: 127.0.0.1:PORT, and its WebSocket snippet); a unix socket;
	// an Origin or Referer that is https or another host. So behind a
	// TLS-terminating proxy cookies are Secure without any setting. A
	// proxy on this machine that forwards HTTP/1.1 with a loopback Host and
	// none of these signs (nginx with proxy_set_header Connection "", Go's
	// httputil.ReverseProxy with a Rewrite that does not call
	// SetXForwarded) looks like a browser on a request that carries no
	// Referer: use SecureAlways there. The first cookie sent without Secure
	// is logged at Warn, with the reason. With WithTrustProxy, the
	// right-most X-Forwarded-Proto value, the one the trusted proxy
	// appended, decides (https: Secure). A Secure cookie sent over plain
	// HTTP to another host is logged once, as browsers drop it: use
	// SecureNever for such development setups.
	SecureAuto SecureMode = iota
	// SecureAlways always marks the cookie Secure. Browsers (Chromium,
	// Firefox) still accept Secure cookies from http://localhost, but Go's
	// net/http/cookiejar and older clients do not send them back over
	// plain HTTP.
	SecureAlways
	// SecureNever never marks it Secure (logged once at Warn). Refused
	// beside SameSite=None,
	// Partitioned, and the __Host- and __Secure- prefixes, which need Secure.
	SecureNever
)

type config struct {
	name              string
	path, domain      string
	secure            SecureMode
	trustProxy        bool
	sameSite          http.SameSite
	partitioned       bool
	priority          string
	lifetime, idle    time.Duration
	browserSession    bool
	rolling           bool
	resave            bool
	saveUninitialized bool
	newID             func(*http.Request) string
	destroyEmpty      bool
	identityKey       string
	errorHandler      func(http.ResponseWriter, *http.Request, error)
	logger            *slog.Logger
	codec             Codec
	chunkOpts         []chunking.Option
	conflictTimeout   time.Duration
	storeTimeout      time.Duration
	now               func() time.Time
	header            *headerConfig
	importers         []driver.Importer
	recorder          metrics.Recorder
}

type headerConfig struct {
	request, response string
	bearer            bool
}

// An Option configures a Manager. Options are applied in order; the first
// that fails makes New fail with an error that says what to fix.
type Option func(*config) error

// WithCookieName sets the session cookie's name; chunk cookies are named
// after it (name.1, name.2, …). The default is "session". A name that starts
// with "__Host-" gets Secure, Path=/ and no Domain, as browsers require (New
// fails if WithCookie contradicts it); "__Secure-" gets Secure.
func WithCookieName(name string) Option {
	return func(c *config) error { c.name = name; return nil }
}

// A Cookie holds the session cookie's attributes, for WithCookie (every
// session's) and Session.SetCookie (one session's: SameSite, Secure,
// Partitioned and Priority; its Path and Domain are the Manager's). A zero field means
// the default: for WithCookie, crumbs' own; for SetCookie, the Manager's.
// The cookie is always HttpOnly: no session cookie should be readable by
// JavaScript, so there is no field to turn it off.
type Cookie struct {
	// Path is the Path attribute: "/" by default. It must start with "/"
	// and be at most 1024 printable ASCII bytes without ';'.
	Path string
	// Domain is the Domain attribute: none by default, so that the cookie
	// goes back only to the host that set it.
	Domain string
	// SameSite is http.SameSiteLaxMode by default, or StrictMode, or
	// NoneMode (which makes the cookie Secure).
	SameSite http.SameSite
	// Secure chooses when the cookie is Secure: SecureAuto by default.
	Secure SecureMode
	// Partitioned sets the Partitioned attribute (CHIPS), for a session in
	// an embedded third-party context; it makes the cookie Secure. Chrome
	// keeps at most 10 KiB of partitioned cookies per embedded site: New
	// and SetCookie refuse it when the session's cookies may take more
	// (WithTotalBudget, WithMaxChunks).
	Partitioned bool
	// Priority sets the Priority attribute, which Chrome reads (as
	// express-session's priority option): "Low", "Medium" or "High", in
	// any case; which cookies of a site Chrome evicts last when it holds
	// too many. None by default (Chrome's Medium).
	Priority string
}

// priorities are the Priority attribute's values, by their code in a
// session's own attributes (spec/cookie-v1.md §10.1).
var priorities = [...]string{"", "Low", "Medium", "High"}

// priorityOf returns the code of a Priority value, any case; -1 for none
// of them.
func priorityOf(p string) int {
	for i, v := range priorities {
		if strings.EqualFold(p, v) {
			return i
		}
	}
	return -1
}

// check refuses what browsers would refuse or silently drop.
func (ck Cookie) check(where string) error {
	if ck.Path != "" && (!strings.HasPrefix(ck.Path, "/") || len(ck.Path) > 1024 || (&http.Cookie{Name: "x", Path: ck.Path}).Valid() != nil) {
		return fmt.Errorf("session: %s: Path %q: the path must start with / and be at most 1024 printable ASCII bytes without ';'", where, ck.Path)
	}
	if ck.Domain != "" && (len(ck.Domain) > 1024 || strings.Contains(ck.Domain, "..") || (&http.Cookie{Name: "x", Domain: ck.Domain}).Valid() != nil) {
		return fmt.Errorf("session: %s: Domain %q: not a valid cookie domain", where, ck.Domain)
	}
	switch ck.SameSite {
	case 0, http.SameSiteLaxMode, http.SameSiteStrictMode, http.SameSiteNoneMode:
	default:
		return fmt.Errorf("session: %s: SameSite %d: use http.SameSiteLaxMode, SameSiteStrictMode or SameSiteNoneMode", where, ck.SameSite)
	}
	if ck.Secure < SecureAuto || ck.Secure > SecureNever {
		return fmt.Errorf("session: %s: Secure %d: use SecureAuto, SecureAlways or SecureNever", where, ck.Secure)
	}
	if priorityOf(ck.Priority) < 0 {
		return fmt.Errorf("session: %s: Priority %q: use \"Low\", \"Medium\" or \"High\", or \"\" for none", where, ck.Priority)
	}
	return nil
}

// WithCookie sets the session cookie's attributes (see Cookie); a zero
// field keeps crumbs' default. The defaults are Path=/, no Domain,
// SameSite=Lax, SecureAuto, no Partitioned and no Priority, and the cookie
// is always HttpOnly. A persistent cookie carries both Max-Age and the
// Expires date it stands for (as gorilla/sessions and scs send them; older
// clients read only Expires); a browser-session cookie neither. A cookie
// name (WithCookieName) that starts with "__Host-" requires Path=/ and no
// Domain, as browsers do; "__Host-" and "__Secure-" names, SameSite=None
// and Partitioned make the cookie Secure, and New fails if Secure is
// SecureNever beside them.
func WithCookie(ck Cookie) Option {
	return func(c *config) error {
		if err := ck.check("WithCookie"); err != nil {
			return err
		}
		c.path, c.domain, c.sameSite, c.secure, c.partitioned = cmp.Or(ck.Path, "/"), ck.Domain, cmp.Or(ck.SameSite, http.SameSiteLaxMode), ck.Secure, ck.Partitioned
		c.priority = priorities[priorityOf(ck.Priority)]
		return nil
	}
}

// WithTrustProxy makes SecureAuto believe the right-most value of the
// X-Forwarded-Proto header, the one the nearest proxy appended (values to
// its left came from the client or farther proxies). Turn it on only behind
// a proxy that sets that header itself. The default is off.
func WithTrustProxy(on bool) Option {
	return func(c *config) error { c.trustProxy = on; return nil }
}

// WithLifetime sets the absolute timeout: a session ends this long after it
// was created, used or not. The default is 24 hours, the most 400 days
// (what browsers keep); 0 means no absolute timeout, and then an idle
// timeout is required. The deadline is sealed in the cookie (cookie mode)
// or kept in the record (server mode) and enforced on read, not only by the
// cookie's Max-Age.
func WithLifetime(d time.Duration) Option {
	return func(c *config) error {
		if d < 0 || d > maxAge {
			return fmt.Errorf("session: WithLifetime(%v): give 0 to 400 days (9600h)", d)
		}
		c.lifetime = d
		return nil
	}
}

// WithIdleTimeout sets the idle timeout: a session ends when no request
// used it for this long. The default is 0: none. A session that is read but
// not changed is refreshed (its new deadline stored, its cookie sent again)
// when less than half of the idle timeout is left, so active users stay
// signed in without a Set-Cookie on every response. A request whose handler
// never uses the session does not extend it: a session read at least
// every half its idle timeout stays. Deadlines are kept in whole seconds,
// so a session may end up to a second before its idle timeout has passed;
// the least idle timeout is therefore 2 s (under it, a session read every
// half its timeout could still end in use).
func WithIdleTimeout(d time.Duration) Option {
	return func(c *config) error {
		if d < 0 || d > maxAge {
			return fmt.Errorf("session: WithIdleTimeout(%v): give 0 to 400 days (9600h)", d)
		}
		if d > 0 && d < minIdle {
			return fmt.Errorf("session: WithIdleTimeout(%v): give 0 or at least %v: deadlines are kept in whole seconds, and a session is refreshed when less than half its idle timeout is left, so under %v a session in use could end", d, minIdle, minIdle)
		}
		c.idle = d
		return nil
	}
}

// minIdle is the least idle timeout (WithIdleTimeout).
const minIdle = 2 * time.Second

// WithBrowserSessionCookie makes new sessions use cookies without Max-Age,
// which the browser drops when it closes; Session.SetBrowserSession changes
// it per session ("remember me"). The default is false: persistent cookies
// that last until the session's deadline.
func WithBrowserSessionCookie(on bool) Option {
	return func(c *config) error { c.browserSession = on; return nil }
}

// WithRolling re-sends the cookie, with a fresh idle deadline, on every
// response whose handler used the session. The default is false.
func WithRolling(on bool) Option {
	return func(c *config) error { c.rolling = on; return nil }
}

// WithResave rewrites every value of the session on every response whose
// handler used it, even unchanged (express-session's resave). The default is
// false: an unchanged session's deadlines are refreshed without rewriting
// its values, which every store here does. In server mode the rewrite is
// checked like an Update: a value that a parallel request changed or
// deleted meanwhile stays as that request left it (express-session's
// resave overwrites it).
func WithResave(on bool) Option {
	return func(c *config) error { c.resave = on; return nil }
}

// WithIDGenerator replaces the generator of session IDs, as express-session's
// genid(req): gen gets the request that creates the session (a new visit, a
// Regenerate, a sign-in), to put a tenant, a region or a shard in the ID.
// Each ID must be 22 to 64 base64url characters, unique, and unguessable
// (at least 128 random bits: build it on crypto/rand, never on the request
// alone); the default draws 256 bits. New calls gen once, with a request for
// "GET /" without headers, to check its output (sessions of Manager.Load,
// which have no request, get the same); an invalid ID later is
// logged and replaced by a default one. gen must be safe for concurrent use.
func WithIDGenerator(gen func(r *http.Request) string) Option {
	return func(c *config) error {
		if gen == nil {
			return fmt.Errorf("session: WithIDGenerator(nil): give a function")
		}
		if id := gen(placeholderRequest()); !sid.Valid(id) {
			return fmt.Errorf("session: WithIDGenerator: the generator returned %q; IDs must be 22 to 64 base64url characters", id)
		}
		c.newID = gen
		return nil
	}
}

// WithMetrics gives the Manager a Recorder of what it does (package
// metrics): loads by outcome and refusal reason, commits by operation with
// their sizes, Update conflicts, and the duration of each store call. The
// adapters metrics/prommetrics and metrics/otelmetrics export them to
// Prometheus and OpenTelemetry. Without it (the default) the Manager pays a
// nil check per event.
func WithMetrics(r metrics.Recorder) Option {
	return func(c *config) error { c.recorder = r; return nil }
}

// placeholderRequest is what the ID generator gets where there is no
// request: "GET /" without headers.
func placeholderRequest() *http.Request {
	return &http.Request{Method: http.MethodGet, URL: &url.URL{Path: "/"}, Header: http.Header{}, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1}
}

// WithSaveUninitialized saves a new session even when the handler stored
// nothing in it. The default is false, so that bots and first visits create
// no sessions.
func WithSaveUninitialized(on bool) Option {
	return func(c *config) error { c.saveUninitialized = on; return nil }
}

// WithDestroyEmpty destroys a session when a request removes its last
// value: the record is deleted and the cookie expires, as express-session's
// unset: 'destroy' does. The default is false: the empty session is saved
// and keeps its cookie. (One option where express-session has an enum of
// two values: a bool, as net/http's and scs's switches are.)
func WithDestroyEmpty(on bool) Option {
	return func(c *config) error { c.destroyEmpty = on; return nil }
}

// WithIdentityKey names the value that identifies the session's user
// ("user", "uid"): when a request sets it where the session had none (a
// sign-in), changes it (another user) or removes it (a sign-out that keeps
// the session), the commit regenerates the session, as Session.Regenerate
// does, so that a sign-in that forgot Regenerate cannot be a session
// fixation. The new session holds only the values this request set (Set,
// Update, AddFlash, across its Saves); what the session held before goes,
// as with Regenerate(false): a value planted with a session (a CSRF secret,
// a return URL) never reaches the signed-in user's. To carry a value over
// (an anonymous cart), read it and set it again in the signing-in request.
//
// The value is compared as a value, not as bytes: setting the same user
// again changes nothing, whatever order the codec or another writer gives
// its members. A session that the request regenerated or destroyed itself
// is left as the handler made it. In server mode the old ID is retired
// with a tombstone, so a request that still carries it sees a fresh
// session, and a logout through it ends the new one too (for
// serverstore.TombstoneTTL). In cookie mode the old cookie stays what it
// was, a session without the user, until its deadline. The default, ""
// turns the rotation off.
//
// The value also binds the session to its user: a string, or an integer
// (as decimal text), of 1 to 255 bytes; a value of another kind binds it
// to no user, and the log says so. A server store lists and ends a user's
// sessions by it: see package github.com/crumbs-go/session/devices.
func WithIdentityKey(key string) Option {
	return func(c *config) error {
		if key != "" && !validKey(key) {
			return fmt.Errorf("session: WithIdentityKey(%q): a key must be valid UTF-8 without NUL bytes", key)
		}
		c.identityKey = key
		return nil
	}
}

// WithErrorHandler sets what answers a request whose session could not be
// saved (too large for the cookie budget, a value the codec refused, a store
// failure) or was changed after the headers went out (ErrHeadersWritten).
// When it is called for ErrHeadersWritten the response has already started:
// it should only record the error. The default answers 503 for a store
// failure (ErrBackend) and 500 otherwise, with no detail. It is called for
// every failed request; the log (WithLogger) holds the first error of each
// kind and counts the repeats.
func WithErrorHandler(h func(w http.ResponseWriter, r *http.Request, err error)) Option {
	return func(c *config) error {
		if h == nil {
			return fmt.Errorf("session: WithErrorHandler(nil): give a handler function")
		}
		c.errorHandler = h
		return nil
	}
}

// WithLogger sets the logger for rejected cookies (at Info, with the reason)
// and errors (at Error). The default is slog.Default().
//
// Lines that every request of an outage or of an attack would repeat (a
// store failure, a rejected cookie) are logged once, with the request's
// path, when they first occur; their repeats within the next 10 s are
// counted, and then one line with the same message gives the count
// ("repeated") and the last repeat's attributes: an outage of 11,700
// failing requests a second logs two lines per kind of error every 10 s.
// To see every occurrence, count through WithMetrics or WithErrorHandler.
func WithLogger(l *slog.Logger) Option {
	return func(c *config) error {
		if l == nil {
			return fmt.Errorf("session: WithLogger(nil): give a logger, or slog.New(slog.DiscardHandler) for none")
		}
		c.logger = l
		return nil
	}
}

// WithCodec sets how values are encoded. The default is JSON.
func WithCodec(codec Codec) Option {
	return func(c *config) error {
		if codec == nil {
			return fmt.Errorf("session: WithCodec(nil): give a Codec, such as session.JSON")
		}
		c.codec = codec
		return nil
	}
}

// WithCookieBudget sets the most bytes one cookie's name and value may take:
// the default is 4000, below Safari's 4093; at most 4096.
func WithCookieBudget(n int) Option {
	return func(c *config) error { c.chunkOpts = append(c.chunkOpts, chunking.WithCookieBudget(n)); return nil }
}

// WithMaxChunks sets the most cookies a session may take. The default is 2,
// because every chunk travels in the one Cookie header, which a default
// nginx refuses past 8 KiB; at most 180.
func WithMaxChunks(n int) Option {
	return func(c *config) error { c.chunkOpts = append(c.chunkOpts, chunking.WithMaxChunks(n)); return nil }
}

// WithTotalBudget sets the most bytes all of a session's cookies may take,
// names and values. The default is the cookie budget times the maximum
// number of chunks.
func WithTotalBudget(n int) Option {
	return func(c *config) error { c.chunkOpts = append(c.chunkOpts, chunking.WithTotalBudget(n)); return nil }
}

// WithConflictTimeout bounds how long a commit retries when parallel
// requests changed the same key through Update (server mode): the Update
// functions are re-run on the newer value after a jittered, doubling
// backoff (up to 1, 2, 4 … 32 ms), until they apply or d has passed; the
// commit's deadline (WithStoreTimeout) bounds it too. Then the error handler hears of an
// ErrBackend (503 by default). The default is 2 s; 0 gives up at the first
// conflict. Writers of different keys, and plain Set and Delete, never
// conflict.
func WithConflictTimeout(d time.Duration) Option {
	return func(c *config) error {
		if d < 0 || d > time.Minute {
			return fmt.Errorf("session: WithConflictTimeout(%v): give 0 to 1 minute", d)
		}
		c.conflictTimeout = d
		return nil
	}
}

// WithStoreTimeout sets how long the store calls of a request's load, and
// those of each of its commits, may take together, from the first: 10 s by
// default, at most 10 minutes. A commit's wait for its turn behind parallel
// Updates of the same session in this process does not count. Past it the request fails with ErrBackend (503 by default),
// instead of waiting on a store that stopped answering (a backend whose
// host vanished answers nothing, not even a refusal).
//
// These calls do not end when the client does. net/http cancels a
// request's context when its client disconnects, but the handler runs on,
// and what it did stands: the session it reads is loaded, and what it
// changed (a Set, a Destroy at sign-out) is saved, for the client's next
// request. express-session does the same (Node never cancels a save);
// scs and gorilla/sessions hand the store the request's context, and a
// client that leaves cancels their save.
//
// WithStoreTimeout(0) hands the store the request's context as it is:
// no deadline of crumbs' own, and a client that leaves cancels the
// session's load and save. Load, LoadRequest and Session.Commit always use
// the context they are given.
func WithStoreTimeout(d time.Duration) Option {
	return func(c *config) error {
		if d < 0 || d > 10*time.Minute {
			return fmt.Errorf("session: WithStoreTimeout(%v): give 0 (the request's own context) to 10 minutes", d)
		}
		c.storeTimeout = d
		return nil
	}
}

// WithClock replaces the clock the Manager reads deadlines by, for tests
// that move time forward (with serverstore.WithClock on a memory backend).
// The default is time.Now.
func WithClock(now func() time.Time) Option {
	return func(c *config) error {
		if now == nil {
			return fmt.Errorf("session: WithClock(nil): give a function, such as time.Now")
		}
		c.now = now
		return nil
	}
}

// WithHeaderToken makes the Manager carry the session's token in headers
// instead of a cookie (spec/header-token-v1.md), for APIs and mobile
// clients: the client sends it in the request header (request; "" means
// Authorization with the Bearer scheme), and a response that saves or
// refreshes the session returns it in the response header (response; ""
// means Session-Token), which is also listed in
// Access-Control-Expose-Headers; a response that ends the session returns
// that header empty, telling the client to drop its token. The request's
// cookies are ignored, so such routes have no CSRF exposure; browsers never
// send a header token on their own, so the client must store it. Tokens
// are sealed or signed like cookies (same secrets, rotation and deadlines)
// but for the name "header:" + the cookie name, so a cookie value is not a
// header token nor a header token a cookie. A token is at most
// MaxTokenSize bytes: there are no chunks. Serve browsers and API clients
// from one application with two Managers over one Store.
func WithHeaderToken(request, response string) Option {
	return func(c *config) error {
		h := &headerConfig{request: request, response: response}
		if h.request == "" {
			h.request, h.bearer = "Authorization", true
		}
		if h.response == "" {
			h.response = "Session-Token"
		}
		for _, name := range []string{h.request, h.response} {
			if !validHeaderName(name) {
				return fmt.Errorf("session: WithHeaderToken(%q, %q): %q is not a header name", request, response, name)
			}
		}
		h.request, h.response = http.CanonicalHeaderKey(h.request), http.CanonicalHeaderKey(h.response)
		if strings.EqualFold(h.response, "Set-Cookie") || strings.EqualFold(h.request, "Cookie") {
			return fmt.Errorf("session: WithHeaderToken(%q, %q): use the cookie transport (the default) for cookies", request, response)
		}
		c.header = h
		return nil
	}
}

// validHeaderName reports whether name is an HTTP field name (an RFC 9110 token).
func validHeaderName(name string) bool {
	if name == "" {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !('A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0) {
			return false
		}
	}
	return true
}
