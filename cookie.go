package session

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"fmt"
	"iter"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/crumbs-go/session/chunking"
	"github.com/crumbs-go/session/driver"
)

// A transport carries the session's token between the client and the
// Manager: the cookie middleware, or a token handed to Load and returned by
// Commit.
type transport interface {
	// binding is the name tokens are sealed or signed for.
	binding() string
	// read returns the request's token: ErrNotFound when it carries none,
	// an error wrapping ErrInvalid when what it carries is malformed.
	read(s *Session) (string, error)
	// carried reports whether the request carried a token at all.
	carried(s *Session) bool
	// write sends token to the client.
	write(s *Session, token string, now time.Time) error
	// expire tells the client to drop its token.
	expire(s *Session)
	// unwrite takes back what earlier commits of the request wrote.
	unwrite(s *Session)
	// tidy, on a response that writes no token, removes what the request
	// carried that a token's write would have removed; it reports whether
	// it wrote anything.
	tidy(s *Session) bool
	// finish adds what a response that used the session must carry,
	// knowing whether it carries a token or its expiry.
	finish(s *Session, wrote bool)
}

// cookieTransport is the session cookie, split into chunks as it needs.
type cookieTransport struct {
	m      *Manager
	single bool // the store's own one-cookie format (driver.CookieFormat): no chunks
	// The Manager's attributes, without and with Secure, rendered once.
	plain, secure *attrs
}

// attrs is the rendering of one set of cookie attributes, in net/http's
// order: a line is name=value, scope, "; Expires=D; Max-Age=N", flags.
type attrs struct {
	scope string            // "; Path=/; Domain=…"
	flags string            // "; HttpOnly; Secure; SameSite=Lax; Partitioned; Priority=High"
	del   map[string]string // whole deletion lines, by chunk name (the Manager's only)
}

func newCookieTransport(m *Manager) cookieTransport {
	t := cookieTransport{m: m, single: isCookieFormat(m.store)}
	ck := m.cfg.cookie()
	t.plain, t.secure = render(ck, false), render(ck, true)
	for _, a := range []*attrs{t.plain, t.secure} {
		a.del = map[string]string{}
		for i := range m.chunks.MaxChunks() {
			name := m.cfg.name
			if i > 0 {
				name += "." + strconv.Itoa(i)
			}
			a.del[name] = a.deletion(name)
		}
	}
	return t
}

func isCookieFormat(st driver.Store) bool {
	_, ok := st.(driver.CookieFormat)
	return ok
}

// render renders ck's attributes (every field set) with net/http's own
// renderer.
func render(ck Cookie, secure bool) *attrs {
	c := http.Cookie{Name: "x", Path: ck.Path, Domain: ck.Domain}
	scope := strings.TrimPrefix(c.String(), "x=")
	c = http.Cookie{Name: "x", HttpOnly: true, Secure: secure, SameSite: ck.SameSite, Partitioned: ck.Partitioned}
	flags := strings.TrimPrefix(c.String(), "x=")
	if ck.Priority != "" {
		flags += "; Priority=" + priorities[priorityOf(ck.Priority)] // net/http has no field for it
	}
	return &attrs{scope: scope, flags: flags}
}

// deletion renders the Set-Cookie line that expires the cookie name.
func (a *attrs) deletion(name string) string {
	if line, ok := a.del[name]; ok {
		return line
	}
	return name + "=" + a.scope + "; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Max-Age=0" + a.flags
}

// attrsOf returns the attributes s's cookies go out with on this response:
// the Manager's, or the session's own (Session.SetCookie), and whether
// they are Secure.
func (t cookieTransport) attrsOf(s *Session) (*attrs, bool) {
	secure, why := t.m.secure(s)
	if len(s.rec.Cookie) == 0 {
		t.m.noteSecure(s, secure, why)
		if secure {
			return t.secure, true
		}
		return t.plain, false
	}
	ck := t.m.cfg.cookieOf(s.rec.Cookie)
	secure = secure || ck.Secure == SecureAlways || ck.SameSite == http.SameSiteNoneMode || ck.Partitioned
	t.m.noteSecure(s, secure, why)
	return render(ck, secure), secure
}

// pairs iterates over the request's cookies: every name=value pair of its
// Cookie headers, as substrings (no allocation). Values are not unquoted or
// filtered the way net/http does: the session's own cookies must be plain
// base64url, and chunking rejects anything else.
func pairs(r *http.Request) iter.Seq2[string, string] {
	return func(yield func(string, string) bool) {
		for _, line := range r.Header["Cookie"] {
			for line != "" {
				var part string
				part, line, _ = strings.Cut(line, ";")
				part = strings.TrimSpace(part)
				name, value, ok := strings.Cut(part, "=")
				if !ok || name == "" {
					continue
				}
				if !yield(name, value) {
					return
				}
			}
		}
	}
}

func (t cookieTransport) binding() string { return t.m.cfg.name }

func (t cookieTransport) read(s *Session) (string, error) {
	if t.single {
		return t.readOne(s)
	}
	t.m.noteHeaderSize(s)
	v, n, carried, err := t.m.chunks.JoinN(pairs(s.r))
	if err == nil {
		s.parts, s.carried = n, carried
	}
	return v, err
}

// readOne reads the first cookie of the session's name, for a
// CookieFormat store.
func (t cookieTransport) readOne(s *Session) (string, error) {
	name := t.m.cfg.name
	for n, v := range pairs(s.r) {
		if n != name {
			continue
		}
		if len(n)+1+len(v) > chunking.MaxCookieSize {
			return "", fmt.Errorf("session: cookie %q of %d bytes, over %d: %w", n, len(n)+1+len(v), chunking.MaxCookieSize, driver.ErrInvalid)
		}
		s.parts, s.carried = 1, 1
		t.m.noteHeaderSize(s)
		return v, nil
	}
	return "", driver.ErrNotFound
}

// tidy expires the chunk cookies beyond the count the session cookie
// declares, which Join ignored (a parallel response left them). Only a
// request that carried some pays for the walk.
func (t cookieTransport) tidy(s *Session) bool {
	if s.committed || s.carried <= s.parts && len(s.foreign) == 0 {
		return false
	}
	var stale []string
	if s.carried > s.parts {
		stale = t.m.chunks.Stale(pairs(s.r), s.parts)
	}
	if len(stale) == 0 && len(s.foreign) == 0 {
		return false
	}
	t.set(s, nil, stale, time.Time{})
	return true
}

func (t cookieTransport) carried(s *Session) bool {
	for name := range pairs(s.r) {
		if name == t.m.cfg.name {
			return true
		}
	}
	return false
}

// write splits token into cookies and sets them, expiring the chunk
// cookies the request carried beyond them.
func (t cookieTransport) write(s *Session, token string, now time.Time) error {
	if t.single {
		if len(t.m.cfg.name)+1+len(token) > chunking.MaxCookieSize || !validCookieValue(token) {
			return fmt.Errorf("session: the %s store's token does not fit one cookie of %d bytes: %w", t.m.store.(driver.CookieFormat).CookieFormat(), chunking.MaxCookieSize, ErrTooLarge)
		}
		t.set(s, []chunking.Cookie{{Name: t.m.cfg.name, Value: token}}, nil, now)
		return nil
	}
	parts, err := t.m.chunks.Split(token)
	if err != nil {
		return fmt.Errorf("session: the session does not fit its cookies: %w", err) // a *chunking.TooLargeError, wrapping ErrTooLarge
	}
	var stale []string
	if s.carried == 0 || s.carried > s.parts || len(parts) < s.parts {
		// The request carried cookies the new ones may not cover (or we do
		// not know what it carried): name them. A request that carried
		// exactly the chunks it used, no more than written, has none.
		stale = t.m.chunks.Stale(pairs(s.r), len(parts))
	}
	t.set(s, parts, stale, now)
	return nil
}

func (t cookieTransport) expire(s *Session) {
	if t.single {
		// As with chunks: only a cookie the request carried expires; an
		// earlier commit's line is taken back either way.
		var names []string
		if t.carried(s) {
			names = []string{t.m.cfg.name}
		}
		t.set(s, nil, names, time.Time{})
		return
	}
	t.set(s, nil, t.m.chunks.Stale(pairs(s.r), 0), time.Time{})
}

// validCookieValue reports whether v is made of RFC 6265 cookie-octets.
func validCookieValue(v string) bool {
	for i := 0; i < len(v); i++ {
		if c := v[i]; c <= 0x20 || c >= 0x7f || c == '"' || c == ',' || c == ';' || c == '\\' {
			return false
		}
	}
	return true
}

// set replaces the session cookies of the response with parts and
// deletions of the stale names.
func (t cookieTransport) set(s *Session, parts []chunking.Cookie, stale []string, now time.Time) {
	t.unwrite(s)
	a, secure := t.attrsOf(s)
	w := s.w
	if w.set == nil {
		w.set = make([]string, 0, len(parts)+len(stale))
	}
	if len(s.foreign) > 0 {
		// Another library's cookies expire first: one that shares the
		// session cookie's name, Path and Domain is then set anew by the
		// lines below, which browsers apply in order.
		w.set = append(w.set, t.m.foreignLines(s, secure)...)
	}
	if (len(s.sentCookie) > 0 || len(s.rec.Cookie) > 0) && !bytes.Equal(s.sentCookie, s.rec.Cookie) {
		// The request's cookies were set with another Path or Domain than
		// this response's (Session.SetCookie): the browser would keep them
		// beside the new ones unless they expire under their own.
		was, now := t.m.cfg.cookieOf(s.sentCookie), t.m.cfg.cookieOf(s.rec.Cookie)
		if was.Path != now.Path || was.Domain != now.Domain {
			old := render(was, secure)
			for _, name := range t.m.chunks.Stale(pairs(s.r), 0) {
				w.set = append(w.set, old.deletion(name))
			}
		}
	}
	age := maxAgeOf(&s.rec, now)
	s.sentBytes, s.sentCookies = 0, len(parts)
	for _, p := range parts {
		s.sentBytes += len(p.Name) + len(p.Value)
		var b strings.Builder
		b.Grow(len(p.Name) + len(p.Value) + len(a.scope) + len(a.flags) + len("=; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Max-Age=") + 8)
		b.WriteString(p.Name)
		b.WriteByte('=')
		b.WriteString(p.Value)
		b.WriteString(a.scope)
		if age > 0 {
			var buf [32]byte
			b.WriteString("; Expires=")
			b.Write(now.Add(time.Duration(age)*time.Second).UTC().AppendFormat(buf[:0], http.TimeFormat))
			b.WriteString("; Max-Age=")
			b.Write(strconv.AppendInt(buf[:0], age, 10))
		}
		b.WriteString(a.flags)
		w.set = append(w.set, b.String())
	}
	for _, name := range stale {
		w.set = append(w.set, a.deletion(name))
	}
	h := w.rw.Header()
	if old := h["Set-Cookie"]; len(old) == 0 {
		h["Set-Cookie"] = w.set[:len(w.set):len(w.set)]
	} else {
		h["Set-Cookie"] = append(old, w.set...)
	}
}

// maxAgeOf is the Max-Age of the session's token in seconds: until its
// earlier deadline, at most 400 days; -1 for a browser-session cookie.
func maxAgeOf(rec *driver.Record, now time.Time) int64 {
	if rec.BrowserSession {
		return -1
	}
	d := maxAge
	if dl := earliest(rec.Expires, rec.IdleExpires); !dl.IsZero() {
		d = min(dl.Sub(now), maxAge)
	}
	return max(int64((d+time.Second-1)/time.Second), 1)
}

// unwrite takes back the Set-Cookie lines an earlier commit added.
func (t cookieTransport) unwrite(s *Session) {
	w := s.w
	if len(w.set) == 0 {
		return
	}
	h := w.rw.Header()
	h["Set-Cookie"] = slices.DeleteFunc(h["Set-Cookie"], func(v string) bool { return slices.Contains(w.set, v) })
	if len(h["Set-Cookie"]) == 0 {
		delete(h, "Set-Cookie")
	}
	w.set = w.set[:0]
}

func (t cookieTransport) finish(s *Session, wrote bool) {
	cacheHeaders(s.w.rw.Header(), "Cookie", wrote)
}

// cacheHeaders marks a response that used the session: it varies on the
// session's header; one that sets or expires a token is never stored by any
// cache, whatever the handler chose; a read-only one is private and
// revalidated (the back button after a logout does not show it from
// cache) unless the handler chose private or no-store itself.
func cacheHeaders(h http.Header, vary string, wrote bool) {
	cc := "private, no-cache"
	switch {
	case wrote:
		cc = "no-store"
	case headerHasToken(h, "Cache-Control", "private") || headerHasToken(h, "Cache-Control", "no-store"):
		cc = "" // the handler's choice stands
	}
	both := []string{vary, cc} // one allocation holds both new values
	if v := h["Vary"]; len(v) == 0 {
		h["Vary"] = both[0:1:1]
	} else if !headerHasToken(h, "Vary", vary) && !headerHasToken(h, "Vary", "*") {
		h["Vary"] = append(v, vary)
	}
	if cc != "" {
		h["Cache-Control"] = both[1:2:2]
	}
}

// headerHasToken reports whether a comma-separated header (key in
// canonical form) holds token as a bare directive, case-insensitively:
// private="Set-Cookie" (only that field is private, the rest may be shared)
// is not private.
func headerHasToken(h http.Header, key, token string) bool {
	for _, v := range h[key] {
		for v != "" {
			var t string
			t, v, _ = strings.Cut(v, ",")
			if strings.EqualFold(strings.TrimSpace(t), token) {
				return true
			}
		}
	}
	return false
}

// secure decides the Secure attribute for this request, before a
// session's own attributes: SecureAuto is Secure on TLS; with
// WithTrustProxy, the right-most X-Forwarded-Proto value (the one the
// trusted proxy appended) decides; otherwise Secure, except for local
// development (see local). why says why a cookie is not Secure, for the log.
func (m *Manager) secure(s *Session) (secure bool, why string) {
	switch m.cfg.secure {
	case SecureAlways:
		return true, ""
	case SecureNever:
		return false, "WithCookie with Secure: SecureNever"
	}
	r := s.r
	if r.TLS != nil {
		return true, ""
	}
	if m.cfg.trustProxy {
		if p, ok := lastForwarded(r.Header["X-Forwarded-Proto"]); ok {
			if strings.EqualFold(p, "https") {
				return true, ""
			}
			return false, "the trusted proxy's X-Forwarded-Proto says " + p + "; a proxy behind another (a load balancer, a CDN) must pass on the client's scheme, not its own"
		}
	}
	if local(r) {
		return false, "a plain-HTTP request from the loopback to a loopback host, with no sign of a proxy, taken for local development; behind a TLS-terminating proxy on this machine that sends no X-Forwarded-Proto, use WithCookie with Secure: SecureAlways"
	}
	return true, ""
}

// noteSecure logs, once each, a cookie that goes out without Secure, and
// a Secure one on a plain-HTTP request to another host (browsers drop it).
func (m *Manager) noteSecure(s *Session, secure bool, why string) {
	r := s.r
	switch {
	case !secure:
		m.warnPlain.Do(func() {
			m.log.LogAttrs(s.ctx, slog.LevelWarn, "session: a cookie went out without Secure: "+why+"; a network observer can steal it from any plain-HTTP request",
				slog.String("host", r.Host), slog.String("client", r.RemoteAddr))
		})
	case r.TLS == nil && !m.cfg.trustProxy && m.cfg.secure == SecureAuto:
		m.warnInsecure.Do(func() {
			m.log.LogAttrs(s.ctx, slog.LevelWarn, "session: SecureAuto marks the cookie Secure on a plain-HTTP request; browsers keep it only over https. Behind a TLS-terminating proxy that is right (add WithTrustProxy if it sets X-Forwarded-Proto); for plain-HTTP development on a host other than localhost use WithCookie with Secure: SecureNever",
				slog.String("host", r.Host))
		})
	}
}

// local reports whether a plain-HTTP request comes straight from a client
// on this machine to a loopback host: a developer's browser on
// http://localhost:8080. A TLS-terminating proxy on the same machine also
// connects from the loopback, and nginx's proxy_pass even sends Host:
// 127.0.0.1:PORT (or localhost for a unix socket), so any sign of a proxy
// makes the request not local: a unix socket, X-Forwarded-*, Forwarded,
// X-Real-Ip or Via; HTTP/1.0 or Connection: close, which nginx sends
// upstream by default and browsers never do, or another Connection token
// (nginx's WebSocket snippet); an Origin or Referer that is https or names
// another host. What it cannot see: a proxy on this machine that forwards
// HTTP/1.1 with a loopback Host and none of these (nginx with
// proxy_set_header Connection "", Go's httputil.ReverseProxy with a
// Rewrite that does not call SetXForwarded) on a request without a
// Referer; the first such cookie is logged, and SecureAlways is the cure.
func local(r *http.Request) bool {
	if !loopback(r.Host) || !loopbackIP(r.RemoteAddr) || forwarded(r) {
		return false
	}
	if !r.ProtoAtLeast(1, 1) || r.Close || proxyConnection(r) {
		return false
	}
	return localOrigin(r.Header["Origin"]) && localOrigin(r.Header["Referer"])
}

// proxyConnection reports a Connection header no browser sends on an
// ordinary request: a token other than keep-alive, or upgrade without an
// Upgrade header (nginx's WebSocket snippet, proxy_set_header Connection
// "upgrade", sends it on every request).
func proxyConnection(r *http.Request) bool {
	for _, line := range r.Header["Connection"] {
		for tok := range strings.SplitSeq(line, ",") {
			switch tok = strings.TrimSpace(tok); {
			case tok == "", strings.EqualFold(tok, "keep-alive"):
			case strings.EqualFold(tok, "upgrade") && r.Header.Get("Upgrade") != "":
			default:
				return true
			}
		}
	}
	return false
}

// loopbackIP reports whether addr, a RemoteAddr ("127.0.0.1:5555",
// "[::1]:5555"), is a loopback IP address; a unix socket's ("@", "") is
// not.
func loopbackIP(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// localOrigin reports whether an Origin or Referer header, if present,
// names a plain-HTTP loopback origin ("null" says nothing).
func localOrigin(vs []string) bool {
	for _, v := range vs {
		if v == "null" || v == "" {
			continue
		}
		rest, ok := strings.CutPrefix(v, "http://")
		if !ok {
			return false
		}
		if i := strings.IndexAny(rest, "/?#"); i >= 0 {
			rest = rest[:i]
		}
		if !loopback(rest) {
			return false
		}
	}
	return true
}

// forwarded reports whether a proxy stands between the client and us: then
// a loopback Host is the proxy's view, not the browser's.
func forwarded(r *http.Request) bool {
	for _, k := range []string{"X-Forwarded-Proto", "X-Forwarded-For", "X-Forwarded-Host", "Forwarded", "X-Real-Ip", "Via"} {
		if len(r.Header[k]) > 0 {
			return true
		}
	}
	return false
}

// lastForwarded returns the right-most value of a comma-separated header
// that proxies append to.
func lastForwarded(lines []string) (string, bool) {
	for i := len(lines) - 1; i >= 0; i-- {
		line := lines[i]
		if j := strings.LastIndexByte(line, ','); j >= 0 {
			line = line[j+1:]
		}
		if v := strings.TrimSpace(line); v != "" {
			return v, true
		}
	}
	return "", false
}

// loopback reports whether host (with or without a port) is localhost or a
// loopback address. It allocates nothing: it runs on every response that
// sets a cookie.
func loopback(host string) bool {
	if strings.HasPrefix(host, "[") { // [::1] or [::1]:8080
		if i := strings.IndexByte(host, ']'); i > 0 {
			host = host[1:i]
		}
	} else if strings.Count(host, ":") == 1 { // name:port, 127.0.0.1:port
		host = host[:strings.IndexByte(host, ':')]
	}
	host = strings.TrimSuffix(host, ".") // localhost. is localhost
	const suffix = ".localhost"
	if strings.EqualFold(host, "localhost") || len(host) > len(suffix) && strings.EqualFold(host[len(host)-len(suffix):], suffix) {
		return true
	}
	if host == "" || !strings.ContainsAny(host[:1], "0123456789:") {
		return false // a name: only localhost names are loopback
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// The session's own cookie attributes, as Record.Cookie holds them
// (spec/cookie-v1.md §10.1):
//
//	cookie = u8(SameSite) || u8(Secure) || u8(flags: bit 0 Partitioned, bits 1-2 Priority)
//	         || u16(len(path)) || path || u16(len(domain)) || domain
//
// A zero field is the Manager's. nil encodes a Cookie that is all zero.
func encodeCookie(ck Cookie) []byte {
	if ck == (Cookie{}) {
		return nil
	}
	b := make([]byte, 0, 7+len(ck.Path)+len(ck.Domain))
	flags := byte(max(priorityOf(ck.Priority), 0)) << 1
	if ck.Partitioned {
		flags |= 1
	}
	b = append(b, byte(ck.SameSite), byte(ck.Secure), flags)
	b = binary.BigEndian.AppendUint16(b, uint16(len(ck.Path)))
	b = append(b, ck.Path...)
	b = binary.BigEndian.AppendUint16(b, uint16(len(ck.Domain)))
	return append(b, ck.Domain...)
}

// decodeCookie reads what encodeCookie wrote; ok is false for anything
// else, or for attributes that Cookie.check refuses.
func decodeCookie(b []byte) (ck Cookie, ok bool) {
	if len(b) == 0 {
		return Cookie{}, true
	}
	if len(b) < 7 || len(b) > driver.MaxCookieAttributes || b[2]&^7 != 0 {
		return Cookie{}, false
	}
	ck.SameSite, ck.Secure, ck.Partitioned = http.SameSite(b[0]), SecureMode(b[1]), b[2]&1 != 0
	ck.Priority = priorities[b[2]>>1]
	n := int(binary.BigEndian.Uint16(b[3:]))
	if len(b) < 5+n+2 {
		return Cookie{}, false
	}
	ck.Path = string(b[5 : 5+n])
	rest := b[5+n:]
	m := int(binary.BigEndian.Uint16(rest))
	if len(rest) != 2+m {
		return Cookie{}, false
	}
	ck.Domain = string(rest[2:])
	if ck.check("") != nil || ck == (Cookie{}) {
		return Cookie{}, false
	}
	return ck, true
}

// cookie returns the Manager's cookie attributes, every field set.
func (c *config) cookie() Cookie {
	return Cookie{Path: c.path, Domain: c.domain, SameSite: c.sameSite, Secure: c.secure, Partitioned: c.partitioned, Priority: c.priority}
}

// cookieOf returns the attributes of a session whose own are enc: the
// Manager's, with the session's non-zero fields over them.
func (c *config) cookieOf(enc []byte) Cookie {
	ck := c.cookie()
	own, ok := decodeCookie(enc)
	if !ok {
		return ck
	}
	ck.Path, ck.Domain = cmp.Or(own.Path, ck.Path), cmp.Or(own.Domain, ck.Domain)
	ck.SameSite, ck.Secure = cmp.Or(own.SameSite, ck.SameSite), cmp.Or(own.Secure, ck.Secure)
	ck.Partitioned = ck.Partitioned || own.Partitioned
	ck.Priority = cmp.Or(own.Priority, ck.Priority)
	return ck
}
