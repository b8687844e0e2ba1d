// Package chunking splits one cookie value across as many cookies as it
// needs, reassembles it from a request's cookies, and names the chunk cookies
// a response must expire, as spec/cookie-v1.md §6 specifies.
//
// The base cookie is named as configured; chunk i > 0 is named base.i. A value
// that fits one cookie is the base cookie's whole value. A value split in n
// chunks starts with "n." in the base cookie. Reassembly bounds every
// untrusted number before it sizes anything, and rejects missing, extra,
// duplicate and non-canonical chunks. It authenticates nothing: the caller
// opens the joined value with one AEAD tag over all of it (package crypto).
//
// Most applications won't need this package: the cookie store uses it.
package chunking

import (
	"fmt"
	"iter"
	"slices"
	"strconv"
	"strings"

	"github.com/crumbs-go/session/internal/b64"
	"github.com/crumbs-go/session/internal/errs"
)

const (
	// MaxCookieSize is the browser limit on one cookie's name and value, in
	// bytes (RFC 6265bis). No chunk over it is ever read or written.
	MaxCookieSize = 4096
	// DefaultCookieBudget is the default limit on one cookie's name and
	// value: 4000 bytes, below Safari's 4093.
	DefaultCookieBudget = 4000
	// DefaultMaxChunks is the default maximum number of cookies a value may
	// take: 2, because all of them travel in one Cookie header that default
	// nginx caps at 8 KiB.
	DefaultMaxChunks = 2
	// MaxChunksLimit is the largest maximum chunk count New accepts: the
	// per-site cookie limit of Chrome and Firefox.
	MaxChunksLimit = 180

	minChunkValue = 64 // the least room for value a configuration must leave in a chunk
	maxCountLen   = 3  // digits of a count or index: MaxChunksLimit < 1000

	// MaxStaleExtra bounds the chunk names beyond the configured range that
	// Stale expires from one request: a request can carry thousands of
	// made-up names, and a response must not echo them all.
	MaxStaleExtra = 16
)

var (
	// ErrInvalid is wrapped by every Join error caused by the request: a
	// missing, extra, duplicate or malformed chunk, or a bad count. It is the
	// same value as crypto.ErrInvalid and driver.ErrInvalid.
	ErrInvalid = errs.ErrInvalid
	// ErrNotFound is returned by Join when the request carries neither the
	// base cookie nor any chunk cookie.
	ErrNotFound = errs.ErrNotFound
	// ErrTooLarge is wrapped by Split's *TooLargeError.
	ErrTooLarge = errs.ErrTooLarge
)

// A Cookie is a name and a value, without attributes.
type Cookie struct {
	Name, Value string
}

// A TooLargeError reports a value that Split cannot fit in the limits. It
// wraps ErrTooLarge.
type TooLargeError struct {
	Name         string // the base cookie name
	Size         int    // bytes the value's cookies would take, names and values
	Chunks       int    // cookies it would take
	CookieBudget int
	MaxChunks    int
	TotalBudget  int
}

func (e *TooLargeError) Error() string {
	return fmt.Sprintf("chunking: session cookie %q needs %d bytes in %d cookies; the budget is %d cookies of at most %d bytes and %d bytes in all (WithMaxChunks, WithCookieBudget, WithTotalBudget)",
		e.Name, e.Size, e.Chunks, e.MaxChunks, e.CookieBudget, e.TotalBudget)
}

// Unwrap returns ErrTooLarge.
func (e *TooLargeError) Unwrap() error { return errs.ErrTooLarge }

// A Codec splits and joins the chunks of one base cookie name. It is
// immutable and safe for concurrent use.
type Codec struct {
	budget, maxChunks, total int
	names                    []string // names[0] = base, names[i] = base.i, i < maxChunks
}

type config struct {
	budget, maxChunks, total int
}

// An Option configures a Codec.
type Option func(*config) error

// WithCookieBudget sets the most bytes one cookie's name and value may take.
// The default is DefaultCookieBudget (4000); the valid range is up to
// MaxCookieSize (4096), and it must leave at least 64 bytes of value after
// the longest chunk name, or New fails.
func WithCookieBudget(n int) Option {
	return func(c *config) error {
		if n < 1 || n > MaxCookieSize {
			return fmt.Errorf("chunking: WithCookieBudget(%d): a cookie budget must be between 1 and %d bytes (browsers drop larger cookies)", n, MaxCookieSize)
		}
		c.budget = n
		return nil
	}
}

// WithMaxChunks sets the most cookies one value may take. The default is
// DefaultMaxChunks (2); the valid range is 1 to MaxChunksLimit (180). Join
// rejects requests that declare more.
func WithMaxChunks(n int) Option {
	return func(c *config) error {
		if n < 1 || n > MaxChunksLimit {
			return fmt.Errorf("chunking: WithMaxChunks(%d): the chunk count must be between 1 and %d", n, MaxChunksLimit)
		}
		c.maxChunks = n
		return nil
	}
}

// WithTotalBudget sets the most bytes all of a value's cookies may take,
// names and values. The default is the cookie budget times the maximum chunk
// count. It must be at least the cookie budget.
func WithTotalBudget(n int) Option {
	return func(c *config) error {
		if n < 1 {
			return fmt.Errorf("chunking: WithTotalBudget(%d): the total budget must be positive", n)
		}
		c.total = n
		return nil
	}
}

// New returns a Codec for the base cookie called name. The name must be an
// HTTP token of 1 to 256 bytes that does not itself end in "." and digits
// (those names are chunk names).
func New(name string, opts ...Option) (*Codec, error) {
	c := config{budget: DefaultCookieBudget, maxChunks: DefaultMaxChunks}
	for _, o := range opts {
		if err := o(&c); err != nil {
			return nil, err
		}
	}
	if err := checkName(name); err != nil {
		return nil, err
	}
	if c.total == 0 {
		c.total = c.budget * c.maxChunks
	}
	if c.total < c.budget {
		return nil, fmt.Errorf("chunking: total budget %d is below the cookie budget %d; raise WithTotalBudget", c.total, c.budget)
	}
	cd := &Codec{budget: c.budget, maxChunks: c.maxChunks, total: c.total, names: make([]string, c.maxChunks)}
	cd.names[0] = name
	for i := 1; i < c.maxChunks; i++ {
		cd.names[i] = name + "." + strconv.Itoa(i)
	}
	longest := len(cd.names[c.maxChunks-1])
	if c.maxChunks > 1 {
		longest = max(longest, len(name)+maxCountLen+1)
	}
	if c.budget-longest < minChunkValue {
		return nil, fmt.Errorf("chunking: cookie budget %d leaves fewer than %d bytes of value beside the cookie name %q; raise WithCookieBudget or shorten the name", c.budget, minChunkValue, name)
	}
	return cd, nil
}

func checkName(name string) error {
	if len(name) == 0 || len(name) > 256 {
		return fmt.Errorf("chunking: cookie name %q: it must be 1 to 256 bytes", name)
	}
	for i := 0; i < len(name); i++ {
		if !isTokenChar(name[i]) {
			return fmt.Errorf("chunking: cookie name %q: byte %d (%q) is not allowed in a cookie name", name, i, name[i])
		}
	}
	if dot := strings.LastIndexByte(name, '.'); dot >= 0 && dot < len(name)-1 && allDigits(name[dot+1:]) {
		return fmt.Errorf("chunking: cookie name %q ends in a dot and digits, the form of a chunk name; choose another", name)
	}
	return nil
}

// Name returns the base cookie name.
func (c *Codec) Name() string { return c.names[0] }

// MaxChunks returns the most cookies one value may take.
func (c *Codec) MaxChunks() int { return c.maxChunks }

// MaxHeaderBytes returns the most bytes the cookies of one value take in a
// request's Cookie header: names, values, "=" and the "; " between them.
func (c *Codec) MaxHeaderBytes() int {
	return min(c.total, c.budget*c.maxChunks) + 3*c.maxChunks
}

// Split returns the cookies that carry value, base cookie first. value must be
// non-empty base64url text; anything else is an error (a caller bug, not
// ErrInvalid). A value that cannot fit the budgets is a *TooLargeError. The
// values of the result are substrings of value except the first of several.
func (c *Codec) Split(value string) ([]Cookie, error) {
	if value == "" || !b64.Valid(value) {
		return nil, fmt.Errorf("chunking: Split: the value must be non-empty base64url text")
	}
	base := c.names[0]
	if len(base)+len(value) <= c.budget && len(base)+len(value) <= c.total {
		return []Cookie{{Name: base, Value: value}}, nil
	}
	n, size := c.plan(len(value))
	if n > c.maxChunks || size > c.total {
		return nil, &TooLargeError{Name: base, Size: size, Chunks: n,
			CookieBudget: c.budget, MaxChunks: c.maxChunks, TotalBudget: c.total}
	}
	out := make([]Cookie, n)
	prefix := strconv.Itoa(n) + "."
	room := c.budget - len(base) - len(prefix)
	out[0] = Cookie{Name: base, Value: prefix + value[:room]}
	rest := value[room:]
	for i := 1; i < n; i++ {
		room = min(c.budget-len(c.names[i]), len(rest))
		out[i] = Cookie{Name: c.names[i], Value: rest[:room]}
		rest = rest[room:]
	}
	return out, nil
}

// plan returns how many chunks a value of length v needs when each is filled
// to the budget, and the bytes those cookies take. Past maxChunks it returns
// the count the value would need, for the error.
func (c *Codec) plan(v int) (n, size int) {
	base := len(c.names[0])
	for n = 2; ; n++ {
		prefix := len(strconv.Itoa(n)) + 1
		room := c.budget - base - prefix
		size = base + prefix
		for i := 1; i < n; i++ {
			room += c.budget - c.chunkNameLen(i)
			size += c.chunkNameLen(i)
		}
		if room >= v {
			return n, size + v
		}
	}
}

func (c *Codec) chunkNameLen(i int) int {
	if i < len(c.names) {
		return len(c.names[i])
	}
	return len(c.names[0]) + 1 + len(strconv.Itoa(i))
}

// Join reassembles the value from a request's cookies, given as name and
// value pairs in any order; cookies of other names are ignored, and so are
// chunk cookies beyond the count the base cookie declares (a parallel
// response may have left them; Stale names them for expiry). It returns
// ErrNotFound when there is no base cookie and no chunk cookie, and an error
// wrapping ErrInvalid for anything spec/cookie-v1.md §6.1 rejects. Join
// never copies a single-cookie value; for several chunks it allocates the
// joined result once, at its exact size.
func (c *Codec) Join(cookies iter.Seq2[string, string]) (string, error) {
	v, _, _, err := c.JoinN(cookies)
	return v, err
}

// JoinN is Join that also returns how many cookies the value took (n) and
// how many of the session's cookies the request carried (carried, the base
// and every chunk cookie, ignored ones included). When carried > n, a
// response that writes nothing passes n to Stale to expire the chunk
// cookies Join ignored.
func (c *Codec) JoinN(cookies iter.Seq2[string, string]) (value string, n, carried int, err error) {
	// The loop body is a closure handed to cookies, so everything it touches
	// lives in one struct: one allocation instead of one per variable.
	st := &joinState{}
	for name, value := range cookies {
		if st.err = c.add(st, name, value); st.err != nil {
			break
		}
	}
	if st.err != nil {
		return "", 0, 0, st.err
	}
	if !st.haveBase {
		if st.chunks > 0 {
			return "", 0, 0, errs.Reason("chunking: chunk cookies without the base cookie")
		}
		return "", 0, 0, errs.ErrNotFound
	}
	base := st.base
	dot := strings.IndexByte(base, '.')
	if dot < 0 {
		if base == "" || !b64.Valid(base) {
			return "", 0, 0, errs.Reason("chunking: the value is empty or not base64url")
		}
		return base, 1, st.chunks + 1, nil
	}
	count, ok := parseCount(base[:dot])
	if !ok || count < 2 {
		return "", 0, 0, errs.Reason("chunking: malformed chunk count")
	}
	if count > c.maxChunks {
		return "", 0, 0, errs.Reason("chunking: chunk count over the maximum")
	}
	// count is bounded now; only here does it index anything.
	first := base[dot+1:]
	if first == "" || !b64.Valid(first) {
		return "", 0, 0, errs.Reason("chunking: the first chunk is empty or not base64url")
	}
	size := len(first)
	for i := 1; i < count; i++ {
		switch {
		case !st.seen.has(i):
			return "", 0, 0, errs.Invalidf("chunking: chunk %d of %d is missing", i, count)
		case st.dup.has(i):
			return "", 0, 0, errs.Reason("chunking: a chunk cookie appears twice")
		}
		v := st.parts[i]
		if len(c.names[i])+len(v) > MaxCookieSize {
			return "", 0, 0, errs.Reason("chunking: a chunk cookie is over 4096 bytes")
		}
		if v == "" || !b64.Valid(v) {
			return "", 0, 0, errs.Reason("chunking: a chunk value is empty or not base64url")
		}
		size += len(v)
	}
	var b strings.Builder
	b.Grow(size)
	b.WriteString(first)
	for i := 1; i < count; i++ {
		b.WriteString(st.parts[i])
	}
	return b.String(), count, st.chunks + 1, nil
}

// bits is a set of chunk indexes below MaxChunksLimit.
type bits [(MaxChunksLimit + 63) / 64]uint64

func (b *bits) has(i int) bool { return b[i/64]&(1<<(i%64)) != 0 }
func (b *bits) add(i int)      { b[i/64] |= 1 << (i % 64) }

type joinState struct {
	base      string
	haveBase  bool
	small     [8]string
	parts     []string // parts[i]: the value of chunk i, 1 ≤ i < maxChunks
	seen, dup bits     // chunk indexes present, and present more than once
	chunks    int
	err       error
}

// add takes one cookie of the request into st. Chunk values are checked
// only once the count is known: those beyond it are ignored.
func (c *Codec) add(st *joinState, name, value string) error {
	if name == c.names[0] {
		if st.haveBase {
			return errs.Reason("chunking: the base cookie appears twice")
		}
		if len(name)+len(value) > MaxCookieSize {
			return errs.Reason("chunking: the base cookie is over 4096 bytes")
		}
		st.base, st.haveBase = value, true
		return nil
	}
	i, ours := c.chunkIndex(name)
	switch {
	case !ours:
		return nil
	case i <= 0:
		return errs.Reason("chunking: a chunk cookie name has a non-canonical index")
	}
	st.chunks++
	if i >= c.maxChunks {
		return nil // beyond any count this codec accepts: ignored
	}
	if st.parts == nil {
		if c.maxChunks <= len(st.small) {
			st.parts = st.small[:c.maxChunks]
		} else {
			st.parts = make([]string, c.maxChunks)
		}
	}
	if st.seen.has(i) {
		st.dup.add(i)
		return nil
	}
	st.seen.add(i)
	st.parts[i] = value
	return nil
}

// Owns reports whether name is one of the cookie names this codec reads:
// the base name, or the base name, a dot and digits.
func (c *Codec) Owns(name string) bool {
	if name == c.names[0] {
		return true
	}
	_, ok := c.chunkIndex(name)
	return ok
}

// chunkIndex reports whether name is a chunk cookie name of this base
// (base "." digits) and, if so, its index: -1 for a non-canonical index (a
// leading zero), which makes the request invalid; an index longer than any
// count is canonical, and beyond every count: Join ignores it.
func (c *Codec) chunkIndex(name string) (int, bool) {
	base := c.names[0]
	if len(name) < len(base)+2 || name[len(base)] != '.' || name[:len(base)] != base {
		return 0, false
	}
	digits := name[len(base)+1:]
	if !allDigits(digits) {
		return 0, false
	}
	if digits[0] == '0' {
		if digits == "0" {
			return 0, true
		}
		return -1, true
	}
	i, ok := parseCount(digits)
	if !ok {
		return MaxChunksLimit, true // more than three digits: beyond any count
	}
	return i, true
}

// parseCount parses a canonical decimal of at most three digits.
func parseCount(s string) (int, bool) {
	if len(s) == 0 || len(s) > maxCountLen || s[0] == '0' || !allDigits(s) {
		return 0, false
	}
	n := 0
	for i := 0; i < len(s); i++ {
		n = n*10 + int(s[i]-'0')
	}
	return n, true
}

// Stale returns the names of the session cookies the request carried that
// a response writing written cookies must expire (written is 0 when it
// destroys the session): the base cookie when written is 0, and every chunk
// cookie with an index of written or more. Nothing the request did not
// carry is named, so a response sends at most written + carried lines.
// Names come in index order, then in request order for names beyond the
// maximum chunk count, of which at most MaxStaleExtra are returned: a
// request can carry thousands of made-up names, and a response must not
// echo them all. The result is nil when nothing is stale.
func (c *Codec) Stale(cookies iter.Seq2[string, string], written int) []string {
	written = max(written, 0)
	var in bits
	var extra []string
	n := 0
	for name := range cookies {
		if name == c.names[0] {
			if written == 0 && !in.has(0) {
				in.add(0)
				n++
			}
			continue
		}
		i, ours := c.chunkIndex(name)
		switch {
		case !ours || (i >= 1 && i < written):
		case i >= 1 && i < c.maxChunks:
			if !in.has(i) {
				in.add(i)
				n++
			}
		case len(extra) < MaxStaleExtra && !slices.Contains(extra, name):
			extra = append(extra, name)
		}
	}
	if n == 0 && len(extra) == 0 {
		return nil
	}
	out := make([]string, 0, n+len(extra))
	for i := 0; i < c.maxChunks && len(out) < n; i++ {
		if in.has(i) {
			out = append(out, c.names[i])
		}
	}
	return append(out, extra...)
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return len(s) > 0
}

// isTokenChar reports whether c may appear in a cookie name (an RFC 9110 token).
func isTokenChar(c byte) bool {
	if 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' {
		return true
	}
	return strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
}
