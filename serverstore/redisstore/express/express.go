package express

import (
	"bytes"
	"context"
	"crypto/fips140"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/crumbs-go/session/driver"
	"github.com/crumbs-go/session/internal/params"
	"github.com/crumbs-go/session/serverstore"
	"github.com/crumbs-go/session/serverstore/redisstore"
)

// Config configures a Store: the settings of the Express
// application (express-session 1.19 with connect-redis 9) whose sessions
// crumbs shares.
type Config struct {
	// Secrets is express-session's secret option, in the same order: the
	// first signs new cookies, every one verifies. Required. Their length
	// is whatever the Express application uses; one under 32 bytes is
	// logged as a warning (an HMAC key that short can be guessed offline
	// from one cookie). They sign only connect.sid: crumbs' own formats
	// never accept them.
	Secrets []string
	// Prefix is connect-redis's prefix option: "sess:" when empty.
	Prefix string
	// MaxAge is express-session's cookie.maxAge: the originalMaxAge that
	// sessions crumbs creates carry (express-session extends a session by
	// it on every request). 0 means the application sets none: then it is
	// the Manager's idle timeout when it has one, else its lifetime.
	MaxAge time.Duration
	// Path, Domain, Secure, SameSite and Priority are express-session's
	// cookie options, written into the cookie object of the sessions crumbs
	// creates, which express-session then uses for their cookie. Path is
	// "/" when empty; SameSite is "", "lax", "strict" or "none". httpOnly
	// is always true.
	Path, Domain string
	Secure       bool
	SameSite     string
	// Priority is express-session's cookie.priority: "", "low", "medium"
	// or "high" (the Priority attribute Chrome reads).
	Priority string
	// TombstonePrefix starts the keys of the tombstones a Regenerate
	// leaves (see Store): "crumbs-moved:" when empty. They are kept
	// outside Prefix so that connect-redis's all() and length(), which
	// read every key under Prefix as a session, never meet one. Give a
	// prefix your Redis ACL allows when it confines the application to
	// patterns. It may not hold braces: a tombstone goes in its session's
	// Cluster slot by the session key's hash tag, or by one around the key.
	TombstonePrefix string
	// Logger receives the short-secret warning; slog.Default() when nil.
	Logger *slog.Logger
}

// Store is a driver.Store that reads and writes the records
// connect-redis 9 keeps and the connect.sid cookie express-session 1.19
// signs, so that an Express application and a Go service on the same Redis
// share their users' sessions, both ways, live. Use it with the cookie
// name of the Express application:
//
//	store, err := express.New(client, express.Config{Secrets: strings.Split(os.Getenv("EXPRESS_SECRETS"), ",")})
//	m, err := session.New(store, session.WithCookieName("connect.sid"), session.WithIdleTimeout(time.Hour))
//
// The record is prefix+ID holding JSON.stringify(req.session): the
// session's values as top-level members, which both sides see as the same
// JSON (values must use the JSON codec, the default), and express-session's
// "cookie" object, which is reserved on the Go side: Set("cookie", …)
// fails the save. The cookie is "s:" + ID + "." + the HMAC-SHA256 of the ID
// under the first secret, base64 without padding, URL-encoded as
// express-session writes it. Records are never compressed and never take
// crumbs' record layout.
//
// Deadlines. express-session has one span, cookie.maxAge, which every
// request that loads a session restarts: connect-redis sets the key's TTL
// to it, and touches it (EXPIRE) on requests that change nothing, without
// rewriting the stored cookie.expires. So the TTL is authoritative: crumbs
// reads the idle deadline from it (PTTL), and every Go write sets the TTL
// and cookie.expires to the same instant, the earlier of crumbs' deadlines,
// with originalMaxAge as Express's MaxAge (see the field). crumbs' absolute
// deadline (WithLifetime), which express-session has no notion of, lives in
// a top-level member "_crumbsExpires" (an ISO 8601 time, reserved on the Go
// side, kept by express-session like any value): crumbs enforces it on
// every Go read, deleting the record once it is past, so the Express side
// then loses the session too; between Go requests express-session's own
// touches can carry a session past it. Sessions the Express application
// created have none, unless a Go request sets one (Session.SetLifetime).
//
// "Remember me". A Go Session.SetLifetime is express-session's
// req.session.cookie.maxAge: on a persistent session, whether stored, new,
// or the one a Regenerate logs in to, originalMaxAge becomes the span to
// the new absolute deadline, and every later request, Go's or Express's,
// extends the session by it. A browser-session record (originalMaxAge
// null, what express-session's default cookie without maxAge makes) needs
// SetBrowserSession(false) with it. A Regenerate without SetLifetime starts
// a new cookie object, as express-session's regenerate does: the span is
// the idle timeout's again, while the absolute deadline stays; a
// re-authentication that keeps "remember me" calls SetLifetime again.
//
// Concurrency. express-session rewrites the whole record on every save;
// crumbs applies only what its request changed onto what is stored at that
// moment (a WATCH transaction on the one key, retried when another writer
// got in between), so a Go write never undoes a value Express stored
// meanwhile, and Update's checks hold against Express's writes too. What a
// racing Express save does to a Go write is express-session's business: it
// writes back the record it loaded. Regenerate deletes the old ID, as
// express-session's regenerate does (GETDEL: values stored under it
// meanwhile move to the new ID), and leaves a tombstone naming the new ID
// for serverstore.TombstoneTTL under TombstonePrefix + "{" + prefix+ID +
// "}" (TombstonePrefix + prefix+ID when the prefix has a hash tag), a key
// Node never reads, in the old key's Cluster slot. So a Go request still
// carrying the old cookie leaves the browser the login's cookie, and a
// logout through it ends the login's session too, following up to 8
// logins, as with crumbs' own stores; on the Express side the old cookie
// names no session. A regenerate on the Express side leaves no tombstone:
// a Go logout through the cookie before it ends nothing.
// Destroy deletes the record: the Express side then has no session for
// that cookie, and the other way round.
type Store struct {
	warnOnce sync.Once // a stored cookie object that disagrees with cfg
	client   redis.UniversalClient
	cfg      Config
	secrets  [][]byte
	owner    *redisstore.Backend // opened from a configuration string: Close closes its client
}

var _ driver.CookieFormat = (*Store)(nil)

// expressSIDMax bounds the session ID a connect.sid may carry.
const expressSIDMax = 256

// reserved members of the record.
const (
	cookieMember   = "cookie"
	deadlineMember = "_crumbsExpires"
)

// New returns an Store over client, which the caller owns
// and closes.
func New(client redis.UniversalClient, cfg Config) (*Store, error) {
	if client == nil {
		return nil, errors.New("express: New: give a Redis client")
	}
	if len(cfg.Secrets) == 0 {
		return nil, errors.New("express: New: give the Express application's secrets (express-session's secret option)")
	}
	if cfg.Prefix == "" {
		cfg.Prefix = "sess:"
	}
	if cfg.Path == "" {
		cfg.Path = "/"
	}
	if cfg.TombstonePrefix == "" {
		cfg.TombstonePrefix = "crumbs-moved:"
	}
	if strings.ContainsAny(cfg.TombstonePrefix, "{}") {
		return nil, fmt.Errorf("express: New: TombstonePrefix %q: no braces (the tombstone takes its session key's Cluster slot)", cfg.TombstonePrefix)
	}
	if strings.ContainsAny(cfg.Prefix, "{}") && hashTag(cfg.Prefix) == "" {
		return nil, fmt.Errorf("express: New: Prefix %q: braces must make a Cluster hash tag, as {app} does in {app}:sess", cfg.Prefix)
	}
	if cfg.MaxAge < 0 {
		return nil, fmt.Errorf("express: New: MaxAge %v: give express-session's cookie.maxAge, or 0 for none", cfg.MaxAge)
	}
	switch cfg.SameSite {
	case "", "lax", "strict", "none":
	default:
		return nil, fmt.Errorf("express: New: SameSite %q: give \"\", \"lax\", \"strict\" or \"none\"", cfg.SameSite)
	}
	switch cfg.Priority {
	case "", "low", "medium", "high":
	default:
		return nil, fmt.Errorf("express: New: Priority %q: give \"\", \"low\", \"medium\" or \"high\"", cfg.Priority)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	s := &Store{client: client, cfg: cfg}
	for i, sec := range cfg.Secrets {
		if strings.TrimSpace(sec) == "" {
			return nil, fmt.Errorf("express: New: secret %d is empty or blank; anyone could sign a cookie with it (a trailing comma, or an unset variable?)", i+1)
		}
		if len(sec) < 14 && fips140.Enforced() {
			return nil, fmt.Errorf("express: New: secret %d is %d bytes; FIPS 140-only mode (GODEBUG=fips140=only) refuses HMAC keys under 112 bits (14 bytes): rotate the Express application to a longer secret", i+1, len(sec))
		}
		if len(sec) < 32 {
			cfg.Logger.Warn("express: an Express secret is shorter than 32 bytes; anyone holding one cookie can try to guess it offline. Rotate to a longer one: put it first in both applications' lists",
				slog.Int("secret", i+1), slog.Int("bytes", len(sec)))
		}
		s.secrets = append(s.secrets, []byte(sec))
	}
	return s, nil
}

// CookieFormat makes the Manager carry the token in one cookie, as
// express-session does.
func (*Store) CookieFormat() string { return "express-session" }

// Prefix returns the key prefix.
func (s *Store) Prefix() string { return s.cfg.Prefix }

// tomb is the key that says where a Regenerate moved key: a key Node
// never reads, in key's Cluster slot (by key's own hash tag, or one around
// the whole key), holding the new ID for serverstore.TombstoneTTL.
func (s *Store) tomb(key string) string {
	if hashTag(key) != "" {
		return s.cfg.TombstonePrefix + key
	}
	return s.cfg.TombstonePrefix + "{" + key + "}"
}

// hashTag returns key's Redis Cluster hash tag: what lies between the
// first "{" and the next "}", when that is not empty.
func hashTag(key string) string {
	i := strings.IndexByte(key, '{')
	if i < 0 {
		return ""
	}
	j := strings.IndexByte(key[i+1:], '}')
	if j <= 0 {
		return ""
	}
	return key[i+1 : i+1+j]
}

// gone tells a missing key's two cases apart: retired by a Regenerate
// (ErrMoved, with the ID it moved to) or ended (ErrNotFound).
func gone(moved string) error {
	if moved != "" {
		return driver.ErrMoved
	}
	return driver.ErrNotFound
}

// sign is express-session's signature of id under secret.
func sign(id string, secret []byte) string {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(id))
	return base64.RawStdEncoding.EncodeToString(m.Sum(nil))
}

// token is the connect.sid value of id, URL-encoded as encodeURIComponent
// encodes it (only ':', '+' and '/' occur and change).
func (s *Store) token(id string) string {
	v := "s:" + id + "." + sign(id, s.secrets[0])
	return strings.NewReplacer(":", "%3A", "+", "%2B", "/", "%2F").Replace(v)
}

// open verifies a connect.sid value as express-session does, and returns
// the ID and the index of the secret that signed it.
func (s *Store) open(token string) (string, int, error) {
	if len(token) > 4096 {
		return "", 0, fmt.Errorf("express: a connect.sid of %d bytes: %w", len(token), driver.ErrInvalid)
	}
	v := token
	if len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"' { // cookie.parse strips the quotes
		v = v[1 : len(v)-1]
	}
	if strings.Contains(v, "%") {
		if d, err := url.PathUnescape(v); err == nil { // decodeURIComponent; on error express keeps the raw value
			v = d
		}
	}
	rest, ok := strings.CutPrefix(v, "s:")
	dot := strings.LastIndexByte(rest, '.')
	if !ok || dot <= 0 {
		return "", 0, fmt.Errorf("express: not a signed connect.sid (s:ID.signature): %w", driver.ErrInvalid)
	}
	id, sig := rest[:dot], rest[dot+1:]
	if len(id) > expressSIDMax {
		return "", 0, fmt.Errorf("express: a connect.sid ID of %d bytes, over %d: %w", len(id), expressSIDMax, driver.ErrInvalid)
	}
	for i, sec := range s.secrets {
		if subtle.ConstantTimeCompare([]byte(sign(id, sec)), []byte(sig)) == 1 {
			return id, i, nil
		}
	}
	return "", 0, fmt.Errorf("express: the connect.sid signature matches none of the Express secrets: %w", driver.ErrInvalid)
}

// Load reads the record a connect.sid names: GET and PTTL in one round
// trip.
func (s *Store) Load(ctx context.Context, name string, token string, now time.Time) (*driver.Record, error) {
	if strings.HasPrefix(name, "header:") {
		return nil, fmt.Errorf("express: a connect.sid is a cookie, not a header token: %w", driver.ErrInvalid)
	}
	id, idx, err := s.open(token)
	if err != nil {
		return nil, err
	}
	key := s.cfg.Prefix + id
	var get *redis.StringCmd
	var ttl *redis.DurationCmd
	_, err = s.client.Pipelined(ctx, func(p redis.Pipeliner) error {
		get, ttl = p.Get(ctx, key), p.PTTL(ctx, key)
		return nil
	})
	if errors.Is(get.Err(), redis.Nil) {
		// Missing: ended, or moved by a Regenerate (a login), whose
		// response carries the new cookie, which this one must leave alone.
		moved, err := s.client.Get(ctx, s.tomb(key)).Result()
		switch {
		case err == nil && moved != "":
			return &driver.Record{ID: id}, driver.ErrMoved
		case err != nil && !errors.Is(err, redis.Nil):
			return nil, fmt.Errorf("express: get %s: %w", s.tomb(key), err)
		}
		return nil, driver.ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("express: get %s: %w", key, err)
	}
	doc, err := parseRecord(get.Val())
	if err != nil {
		return nil, fmt.Errorf("express: the Express record %s: %v: %w", key, err, driver.ErrInvalid)
	}
	rec := &driver.Record{ID: id, Values: map[string][]byte{}, Stale: idx > 0}
	doc.deadlines(rec)
	if c := doc.cookie(); c != nil {
		rec.Cookie = attributes(c)
		s.compare(c)
	}
	if d := ttl.Val(); d > 0 {
		rec.IdleExpires = now.Add(d)
	}
	if !rec.Expires.IsZero() && !now.Before(rec.Expires) {
		// Past crumbs' absolute deadline: end it for the Express side too.
		if err := s.client.Del(ctx, key).Err(); err != nil {
			return nil, fmt.Errorf("express: delete the expired %s: %w", key, err)
		}
		return nil, fmt.Errorf("express: past its absolute deadline (%s): %w", deadlineMember, driver.ErrInvalid)
	}
	for _, m := range doc.members {
		if m.key != cookieMember && m.key != deadlineMember {
			rec.Values[m.key] = m.raw
		}
	}
	return rec, nil
}

// Save writes c: a new record with SET NX, or c's changes applied onto the
// stored record in a WATCH transaction.
func (s *Store) Save(ctx context.Context, name string, c *driver.Commit, now time.Time) (string, error) {
	if strings.HasPrefix(name, "header:") {
		return "", errors.New("express: a connect.sid is a cookie; it has no header-token form")
	}
	if err := checkValues(c); err != nil {
		return "", err
	}
	rec := &c.Record
	key := s.cfg.Prefix + rec.ID
	if c.Op == driver.OpCreate {
		doc := &record{}
		doc.setCookie(s.newCookie())
		keys := make([]string, 0, len(rec.Values))
		for k := range rec.Values {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			doc.set(k, rec.Values[k])
		}
		ttl := s.stamp(doc, rec, true, true, c.SetLifetime, now)
		ok, err := s.client.SetNX(ctx, key, doc.encode(), ttl).Result()
		switch {
		case err != nil:
			return "", fmt.Errorf("express: set %s: %w", key, err)
		case !ok:
			return "", driver.ErrExists
		}
		return s.token(rec.ID), nil
	}
	var conflict *driver.ConflictError
	txn := func(tx *redis.Tx) error {
		conflict = nil
		stored, err := tx.Get(ctx, key).Result()
		if errors.Is(err, redis.Nil) {
			// Destroyed meanwhile, on either side, or moved by a Regenerate.
			return gone(tx.Get(ctx, s.tomb(key)).Val())
		}
		if err != nil {
			return err
		}
		doc, err := parseRecord(stored)
		if err != nil {
			return fmt.Errorf("the stored record does not parse: %w", err)
		}
		if !c.SetLifetime {
			// The TTL is the record's one deadline: a request that loaded
			// it before a parallel one lengthened it (SetLifetime) must not
			// write the shorter one back.
			if pttl := tx.PTTL(ctx, key).Val(); pttl > 0 && now.Add(pttl).After(rec.IdleExpires) {
				rec.IdleExpires = now.Add(pttl)
			}
		}
		if c.Op == driver.OpUpdate {
			if conflict = doc.check(c.Changes); conflict != nil {
				return nil
			}
			doc.apply(c.Changes)
		}
		ttl := s.stamp(doc, rec, c.SetLifetime, c.SetKind, c.SetLifetime, now)
		_, err = tx.TxPipelined(ctx, func(p redis.Pipeliner) error {
			p.Set(ctx, key, doc.encode(), ttl)
			return nil
		})
		return err
	}
	for attempt := 0; ; attempt++ {
		err := s.client.Watch(ctx, txn, key)
		switch {
		case err == nil && conflict != nil:
			return "", conflict
		case err == nil:
			return s.token(rec.ID), nil
		case errors.Is(err, driver.ErrNotFound), errors.Is(err, driver.ErrMoved):
			return "", err
		case errors.Is(err, redis.TxFailedErr) && attempt < 50:
			// Another writer (Config, or another request) got in between:
			// apply the changes onto what it stored.
			select {
			case <-ctx.Done():
				return "", ctx.Err()
			case <-time.After(time.Duration(attempt+1) * time.Millisecond):
			}
			continue
		}
		return "", fmt.Errorf("express: save %s: %w", key, err)
	}
}

// Retire deletes old's record and returns what it held, as
// express-session's regenerate deletes the old ID, and leaves a tombstone
// naming next under a key Node never reads, in one script on the old
// key's slot: a request still carrying the old cookie then leaves the browser
// the new one, and a logout through it ends the new session.
func (s *Store) Retire(ctx context.Context, _ string, old, next *driver.Record, _ time.Time) (*driver.Record, error) {
	key := s.cfg.Prefix + old.ID
	res, err := expressRetireScript.Run(ctx, s.client, []string{key, s.tomb(key)}, next.ID, int64(serverstore.TombstoneTTL/time.Second)).Slice()
	if err != nil {
		return nil, fmt.Errorf("express: retire %s: %w", key, err)
	}
	if len(res) == 0 {
		return nil, fmt.Errorf("express: retire %s: an empty reply", key)
	}
	var stored string
	if len(res) > 1 { // Lua ends the array at a nil: {0, nil} arrives as {0}
		stored, _ = res[1].(string)
	}
	if n, _ := res[0].(int64); n == 0 {
		switch stored {
		case "":
			return nil, driver.ErrNotFound // destroyed, on either side
		case next.ID:
			return nil, nil // this Regenerate, retried after a lost reply: nothing to move
		}
		return nil, driver.ErrMoved // another Regenerate retired it first
	}
	doc, err := parseRecord(stored)
	if err != nil {
		return nil, nil // unreadable: nothing to move
	}
	out := &driver.Record{ID: old.ID, Values: map[string][]byte{}}
	doc.deadlines(out)
	if c := doc.cookie(); c != nil {
		out.Cookie = attributes(c)
	}
	for _, m := range doc.members {
		if m.key != cookieMember && m.key != deadlineMember {
			out.Values[m.key] = m.raw
		}
	}
	return out, nil
}

// expressRetireScript deletes KEYS[1] and, if it existed, leaves the tombstone
// KEYS[2] naming ARGV[1] for ARGV[2] seconds, in one step: {1, record} or
// {0, the tombstone's ID or nil}.
// script names a Lua script as redisstore's do (by Redis's SHA-1 in FIPS
// 140-only mode).
func script(src string) *redis.Script {
	if fips140.Enforced() {
		return redis.NewScriptServerSHA(src)
	}
	return redis.NewScript(src)
}

var expressRetireScript = script(`
local v = redis.call('GETDEL', KEYS[1])
if v then
	redis.call('SET', KEYS[2], ARGV[1], 'EX', ARGV[2])
	return {1, v}
end
return {0, redis.call('GET', KEYS[2])}
`)

// Delete removes the record: DEL, as express-session's destroy; and, when
// a Regenerate retired it, the sessions it moved to, up to 8 moves (a
// logout that raced the logins wins). Each step reads the tombstone and
// deletes the key in one script, so a Regenerate cannot slip in between.
func (s *Store) Delete(ctx context.Context, _ string, rec *driver.Record, _ time.Time) error {
	id := rec.ID
	for range 8 {
		key := s.cfg.Prefix + id
		next, err := expressDeleteScript.Run(ctx, s.client, []string{key, s.tomb(key)}).Text()
		if errors.Is(err, redis.Nil) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("express: del %s: %w", key, err)
		}
		if next == "" || next == id {
			return nil
		}
		id = next
	}
	return nil
}

// expressDeleteScript deletes KEYS[1] and its tombstone KEYS[2], and
// returns the ID the tombstone named (nil when none).
var expressDeleteScript = script(`
local t = redis.call('GET', KEYS[2])
redis.call('DEL', KEYS[1], KEYS[2])
return t
`)

// nodeOwn are the properties a Session object of express-session 1.19
// has before it copies the stored members in (it skips those): its own,
// its prototype's, and Object.prototype's.
var nodeOwn = map[string]bool{
	"id": true, "req": true, "touch": true, "resetMaxAge": true, "save": true, "reload": true, "destroy": true, "regenerate": true,
	"constructor": true, "hasOwnProperty": true, "isPrototypeOf": true, "propertyIsEnumerable": true, "toLocaleString": true,
	"toString": true, "valueOf": true, "__proto__": true, "__defineGetter__": true, "__defineSetter__": true,
	"__lookupGetter__": true, "__lookupSetter__": true,
}

// checkValues refuses what the Express format cannot hold.
func checkValues(c *driver.Commit) error {
	for k, v := range c.Record.Values {
		if k == cookieMember || k == deadlineMember {
			return fmt.Errorf("express: the key %q is express-session's own in the Express format; use another", k)
		}
		if nodeOwn[k] {
			return fmt.Errorf("express: the key %q names a property express-session's Session object already has: Node would not see the value, and its next save would erase it; use another key", k)
		}
		if !json.Valid(v) {
			return fmt.Errorf("express: the value of %q is not JSON: the Express format needs the JSON codec (the default)", k)
		}
	}
	return nil
}

// newCookie is the cookie object of a session crumbs creates, in
// express-session's member order; originalMaxAge and expires are set by
// stamp.
func (s *Store) newCookie() *record {
	c := &record{}
	c.set("originalMaxAge", []byte("null"))
	if s.cfg.Priority != "" {
		c.set("priority", jsString(s.cfg.Priority))
	}
	c.set("expires", []byte("null"))
	if s.cfg.Secure {
		c.set("secure", []byte("true"))
	}
	c.set("httpOnly", []byte("true"))
	if s.cfg.Domain != "" {
		c.set("domain", jsString(s.cfg.Domain))
	}
	c.set("path", jsString(s.cfg.Path))
	if s.cfg.SameSite != "" {
		c.set("sameSite", jsString(s.cfg.SameSite))
	}
	return c
}

// stamp writes rec's deadlines into doc and returns the TTL to set. With
// setLife the absolute deadline is rec's, else the stored one (and rec
// learns it); with setKind the cookie kind and attributes are rec's, else
// the stored ones. The idle deadline is the session's own span (its
// originalMaxAge) from now, unless the kind changed; with remember (a
// request's SetLifetime) the span becomes the one to rec's absolute
// deadline, as express-session's cookie.maxAge is "remember me".
func (s *Store) stamp(doc *record, rec *driver.Record, setLife, setKind, remember bool, now time.Time) time.Duration {
	cookie := doc.cookie()
	if cookie == nil {
		cookie = s.newCookie()
	}
	stored := &driver.Record{}
	doc.deadlines(stored)
	if !setLife {
		rec.Expires = stored.Expires
	}
	if !setKind {
		rec.BrowserSession = stored.BrowserSession
	} else if len(rec.Cookie) > 0 {
		// Go's Session.SetCookie: into the cookie object, which
		// express-session rebuilds the session's cookie from.
		applyAttributes(cookie, rec.Cookie)
	}
	// The session's own span (express-session's cookie.maxAge, which a
	// request may have set: "remember me", a short sudo session) bounds
	// the idle deadline, as express-session extends a session by it.
	kindChanged := setKind && rec.BrowserSession != stored.BrowserSession // not SetCookie alone
	remembered := remember && !rec.Expires.IsZero() && !rec.BrowserSession
	if remembered {
		// Go's SetLifetime ("remember me") is express-session's
		// cookie.maxAge: the session's span from now on.
		span := max((rec.Expires.Sub(now)+time.Second-1)/time.Second*time.Second, time.Second)
		cookie.set("originalMaxAge", []byte(fmt.Sprint(span.Milliseconds())))
		rec.IdleExpires = now.Add(span)
	} else if ms, ok := cookie.get("originalMaxAge"); ok && !rec.BrowserSession && (!kindChanged || s.cfg.MaxAge == 0) {
		var n int64
		if json.Unmarshal(ms, &n) == nil && n > 0 {
			rec.IdleExpires = now.Add(time.Duration(n) * time.Millisecond)
		}
	}
	if rec.Expires.IsZero() {
		doc.remove(deadlineMember)
	} else {
		doc.set(deadlineMember, jsTime(rec.Expires))
	}
	deadline := rec.IdleExpires
	if deadline.IsZero() || !rec.Expires.IsZero() && rec.Expires.Before(deadline) {
		deadline = rec.Expires
	}
	if deadline.IsZero() { // the Manager gives every session one; be safe
		deadline = now.Add(24 * time.Hour)
	}
	if rec.BrowserSession {
		cookie.set("originalMaxAge", []byte("null"))
		cookie.set("expires", []byte("null"))
	} else {
		age := s.cfg.MaxAge
		if have, ok := cookie.get("originalMaxAge"); remembered || ok && !kindChanged && string(have) != "null" {
			age = -1 // the request's "remember me", or the stored span, stands
		}
		switch {
		case age > 0:
			cookie.set("originalMaxAge", []byte(fmt.Sprint(age.Milliseconds())))
		case age == 0:
			span := deadline.Sub(now)
			if !rec.IdleExpires.IsZero() {
				span = rec.IdleExpires.Sub(now)
			}
			cookie.set("originalMaxAge", []byte(fmt.Sprint(((span + time.Second - 1) / time.Second * time.Second).Milliseconds()))) // whole seconds, as deadlines are
		}
		cookie.set("expires", jsTime(deadline))
	}
	doc.setCookie(cookie)
	rec.Cookie = attributes(cookie) // Go's Set-Cookie follows the cookie object
	ttl := deadline.Sub(now)
	return max((ttl+time.Second-1)/time.Second*time.Second, time.Second) // connect-redis: ceil to seconds
}

// jsTime renders t as Date.toJSON does.
func jsTime(t time.Time) []byte {
	return jsString(t.UTC().Format("2006-01-02T15:04:05.000Z"))
}

// jsString renders s as JSON.stringify does: no HTML escaping.
func jsString(s string) []byte {
	var b bytes.Buffer
	e := json.NewEncoder(&b)
	e.SetEscapeHTML(false)
	e.Encode(s) // a string always encodes
	return bytes.TrimSuffix(b.Bytes(), []byte("\n"))
}

// record is a JSON object with its members in order, as express-session
// keeps them (a loaded session keeps the stored order).
type record struct {
	members []member
}

type member struct {
	key string
	raw []byte
}

// parseRecord reads the top-level object of a stored record; it must hold
// a "cookie" object, as express-session requires.
func parseRecord(s string) (*record, error) {
	if len(s) > 64<<20 {
		return nil, fmt.Errorf("%d bytes", len(s))
	}
	doc, err := parseObject([]byte(s))
	if err != nil {
		return nil, err
	}
	if c, ok := doc.get(cookieMember); !ok || len(c) == 0 || c[0] != '{' {
		return nil, errors.New("no cookie object")
	}
	return doc, nil
}

func parseObject(b []byte) (*record, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return nil, errors.New("not a JSON object")
	}
	r := &record{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, err
		}
		k, _ := tok.(string)
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return nil, err
		}
		r.set(k, slices.Clip([]byte(raw)))
	}
	if _, err := dec.Token(); err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF { // JSON.parse allows only whitespace after
		return nil, errors.New("data after the object")
	}
	return r, nil
}

func (r *record) get(k string) ([]byte, bool) {
	for _, m := range r.members {
		if m.key == k {
			return m.raw, true
		}
	}
	return nil, false
}

// set replaces k's value in place, or appends it (JSON.parse: the last of
// duplicate keys wins, at the first one's place).
func (r *record) set(k string, raw []byte) {
	for i := range r.members {
		if r.members[i].key == k {
			r.members[i].raw = raw
			return
		}
	}
	r.members = append(r.members, member{k, raw})
}

func (r *record) remove(k string) {
	r.members = slices.DeleteFunc(r.members, func(m member) bool { return m.key == k })
}

func (r *record) cookie() *record {
	raw, ok := r.get(cookieMember)
	if !ok {
		return nil
	}
	c, err := parseObject(raw)
	if err != nil {
		return nil
	}
	return c
}

// setCookie stores c as the cookie member, first for a new record.
func (r *record) setCookie(c *record) {
	if _, ok := r.get(cookieMember); !ok {
		r.members = append([]member{{cookieMember, nil}}, r.members...)
	}
	r.set(cookieMember, c.encode())
}

func (r *record) encode() []byte {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, m := range r.members {
		if i > 0 {
			b.WriteByte(',')
		}
		b.Write(jsString(m.key))
		b.WriteByte(':')
		b.Write(m.raw)
	}
	b.WriteByte('}')
	return b.Bytes()
}

// deadlines reads the absolute deadline and the cookie kind of a record.
func (r *record) deadlines(rec *driver.Record) {
	if raw, ok := r.get(deadlineMember); ok {
		var s string
		if json.Unmarshal(raw, &s) == nil {
			if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
				rec.Expires = t
			}
		}
	}
	if c := r.cookie(); c != nil {
		age, ok := c.get("originalMaxAge")
		rec.BrowserSession = !ok || string(age) == "null"
	}
}

// check returns a ConflictError when a checked change finds another value.
func (r *record) check(ch driver.Changes) *driver.ConflictError {
	var found map[string][]byte
	failed := false
	for _, c := range ch.List {
		if !c.Check {
			continue
		}
		cur, had := r.get(c.Key)
		if had {
			if found == nil {
				found = map[string][]byte{}
			}
			found[c.Key] = cur
		}
		if had != c.HadOld || had && !bytes.Equal(cur, c.Old) {
			failed = true
		}
	}
	if failed {
		return &driver.ConflictError{Values: found}
	}
	return nil
}

// apply makes the request's changes: new keys go after the stored ones,
// in sorted order.
func (r *record) apply(ch driver.Changes) {
	if ch.Clear {
		r.members = slices.DeleteFunc(r.members, func(m member) bool { return m.key != cookieMember && m.key != deadlineMember })
	}
	list := slices.Clone(ch.List)
	slices.SortFunc(list, func(a, b driver.Change) int { return strings.Compare(a.Key, b.Key) })
	for _, c := range list {
		if c.Delete {
			r.remove(c.Key)
		} else {
			r.set(c.Key, slices.Clip(c.Value))
		}
	}
}

// Close closes the client when the store was opened from a configuration
// string (session.OpenStore); otherwise the caller owns the client.
func (s *Store) Close() error {
	if s.owner == nil {
		return nil
	}
	return s.owner.Close()
}

// Ping checks that Redis answers.
func (s *Store) Ping(ctx context.Context) error { return s.client.Ping(ctx).Err() }

// Configuration strings: importing the package registers the schemes
// "express+redis" and "express+rediss" for session.OpenStore. What follows
// "express+" is a redisstore configuration string (single node, Sentinel
// or Cluster, go-redis's parameters, crumbs_open_timeout, …), with
// connect-redis's prefix ("sess:" unless prefix= or crumbs_prefix= says
// otherwise), and these parameters of the Express application:
//
//	crumbs_max_age=1h          Config.MaxAge, express-session's cookie.maxAge
//	crumbs_cookie_path=/       Config.Path
//	crumbs_cookie_domain=…     Config.Domain
//	crumbs_cookie_secure=true  Config.Secure
//	crumbs_cookie_samesite=strict   Config.SameSite (lax, strict, none)
//	crumbs_cookie_priority=high     Config.Priority (low, medium, high)
//	crumbs_tombstone_prefix=…  Config.TombstonePrefix
//
// OpenStore's secrets are express-session's secret option, in its order, of
// any length. The Store owns the client the string opened: Close closes it.
func init() {
	open := func(ctx context.Context, cfg string, secrets [][]byte) (driver.Store, error) {
		rest, ex, err := parseConfig(cfg)
		if err != nil {
			return nil, err
		}
		b, sopts, err := redisstore.Open(ctx, rest)
		if err != nil {
			return nil, err
		}
		if len(sopts) > 0 {
			b.Close()
			return nil, errors.New("express: crumbs_raw_ids does not go with the Express format: express-session signs the ID itself")
		}
		if ex.Prefix == "" {
			ex.Prefix = b.Prefix()
		}
		for _, sec := range secrets {
			ex.Secrets = append(ex.Secrets, string(sec))
		}
		s, err := New(b.Client(), *ex)
		if err != nil {
			b.Close()
			return nil, err
		}
		s.owner = b
		return s, nil
	}
	driver.Register("express+redis", open)
	driver.Register("express+rediss", open)
}

// parseConfig takes the Express parameters out of a configuration string
// and returns the redisstore string that remains.
func parseConfig(cfg string) (string, *Config, error) {
	rest, ok := strings.CutPrefix(cfg, "express+")
	if !ok {
		return "", nil, errors.New("express: a configuration string starts with express+redis:// or express+rediss://")
	}
	u, err := params.Parse("express", rest)
	if err != nil {
		return "", nil, err
	}
	q := u.Query()
	ex := &Config{}
	if !q.Has("prefix") && !q.Has("crumbs_prefix") {
		ex.Prefix = "sess:" // connect-redis's default, not crumbs'
	}
	own := func(name string) bool {
		switch name {
		case "crumbs_max_age", "crumbs_cookie_path", "crumbs_cookie_domain", "crumbs_cookie_secure", "crumbs_cookie_samesite", "crumbs_cookie_priority", "crumbs_tombstone_prefix":
			return true
		}
		return false
	}
	err = params.Each("express", q, own, func(name, v string) error {
		switch name {
		case "crumbs_max_age":
			d, err := time.ParseDuration(v)
			if err != nil || d < 0 {
				return params.Bad("express", name, v, "a duration such as 1h")
			}
			ex.MaxAge = d
		case "crumbs_cookie_path":
			ex.Path = v
		case "crumbs_cookie_domain":
			ex.Domain = v
		case "crumbs_cookie_secure":
			on, err := params.Bool("express", name, v)
			if err != nil {
				return err
			}
			ex.Secure = on
		case "crumbs_cookie_samesite":
			ex.SameSite = strings.ToLower(v)
		case "crumbs_cookie_priority":
			ex.Priority = strings.ToLower(v)
		case "crumbs_tombstone_prefix":
			ex.TombstonePrefix = v
		}
		return nil
	})
	if err != nil {
		return "", nil, err
	}
	u.RawQuery = q.Encode()
	return u.String(), ex, nil
}

// attributes encodes a cookie object's path, domain, sameSite, secure,
// partitioned and priority as a session's own cookie attributes (driver.Record.Cookie,
// spec/cookie-v1.md §10.1), so that Go's Set-Cookie for the session is the
// one express-session would send. What a cookie cannot carry is left to
// the Manager.
func attributes(c *record) []byte {
	str := func(k string) string {
		var v string
		if raw, ok := c.get(k); ok {
			json.Unmarshal(raw, &v)
		}
		return v
	}
	truth := func(k string) bool { raw, _ := c.get(k); return string(raw) == "true" }
	var sameSite, secure, flags byte
	switch raw, _ := c.get("sameSite"); strings.ToLower(strings.Trim(string(raw), `"`)) {
	case "true", "strict":
		sameSite = byte(http.SameSiteStrictMode)
	case "lax":
		sameSite = byte(http.SameSiteLaxMode)
	case "none":
		sameSite = byte(http.SameSiteNoneMode)
	}
	if truth("secure") {
		secure = 1 // session.SecureAlways
	}
	if truth("partitioned") {
		flags |= 1
	}
	switch strings.ToLower(str("priority")) { // express-session 1.18's priority: bits 1-2
	case "low":
		flags |= 1 << 1
	case "medium":
		flags |= 2 << 1
	case "high":
		flags |= 3 << 1
	}
	path, domain := str("path"), str("domain")
	if !strings.HasPrefix(path, "/") || len(path) > 1024 || (&http.Cookie{Name: "x", Path: path}).Valid() != nil {
		path = ""
	}
	if len(domain) > 1024 || strings.Contains(domain, "..") || (&http.Cookie{Name: "x", Domain: domain}).Valid() != nil {
		domain = ""
	}
	if sameSite == 0 && secure == 0 && flags == 0 && path == "" && domain == "" {
		return nil
	}
	b := []byte{sameSite, secure, flags}
	b = binary.BigEndian.AppendUint16(b, uint16(len(path)))
	b = append(b, path...)
	b = binary.BigEndian.AppendUint16(b, uint16(len(domain)))
	return append(b, domain...)
}

// applyAttributes writes a session's own cookie attributes (what Go's
// Session.SetCookie set) into its cookie object; a zero field leaves the
// stored member alone.
func applyAttributes(c *record, enc []byte) {
	if len(enc) < 7 {
		return
	}
	switch http.SameSite(enc[0]) {
	case http.SameSiteLaxMode:
		c.set("sameSite", jsString("lax"))
	case http.SameSiteStrictMode:
		c.set("sameSite", jsString("strict"))
	case http.SameSiteNoneMode:
		c.set("sameSite", jsString("none"))
	}
	if enc[1] == 1 {
		c.set("secure", []byte("true"))
	}
	if enc[2]&1 != 0 {
		c.set("partitioned", []byte("true"))
	}
	if p := enc[2] >> 1 & 3; p != 0 {
		c.set("priority", jsString([]string{"", "low", "medium", "high"}[p]))
	}
	n := int(binary.BigEndian.Uint16(enc[3:]))
	if len(enc) < 5+n+2 {
		return
	}
	if n > 0 {
		c.set("path", jsString(string(enc[5:5+n])))
	}
	rest := enc[5+n:]
	if m := int(binary.BigEndian.Uint16(rest)); m > 0 && len(rest) == 2+m {
		c.set("domain", jsString(string(rest[2:])))
	}
}

// compare logs, once per Store, a stored cookie object whose options
// differ from the configuration: the Express application's cookie options
// and Config's must mirror each other, or the two sides write different
// cookies for one session.
func (s *Store) compare(c *record) {
	want := s.newCookie()
	for _, k := range []string{"path", "domain", "secure", "sameSite", "httpOnly", "priority"} {
		got, _ := c.get(k)
		exp, _ := want.get(k)
		if k == "secure" && string(got) == "false" {
			got = nil // express-session stores secure: false for a plain cookie
		}
		if !bytes.Equal(got, exp) {
			s.warnOnce.Do(func() {
				s.cfg.Logger.Warn("express: a stored cookie object disagrees with the configuration: give Config (or the crumbs_cookie_ parameters) the Express application's cookie options; Go follows each session's stored object meanwhile",
					slog.String("option", k), slog.String("stored", string(got)), slog.String("configured", string(exp)))
			})
			return
		}
	}
}
