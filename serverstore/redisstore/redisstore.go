// Package redisstore is a serverstore.Backend on Redis, through go-redis's
// UniversalClient, so a single node, Sentinel and Cluster all work.
//
// A session is a hash under prefix+key (spec/server-id-v1.md §4): field "m"
// holds the record's header, each value is a field "." + its key, and the
// hash expires at the session's deadline. A retired ID (Regenerate) is a
// string key holding the key of the session it moved to (a tombstone), for
// TombstoneTTL, so that SCAN TYPE hash walks sessions only. Get is one HGETALL; Create,
// Apply and Retire are one script each (EVALSHA), atomic on their one key,
// so nothing spans two keys (or two Cluster slots). Apply writes only the
// fields a request changed; a deadline refresh writes "m" and the expiry,
// never a value. Records of the format-1 layout (fields "v" and "d") keep
// loading and are rewritten in the current layout on their next save.
// Count, Clear and Keys walk the prefix with SCAN, never KEYS.
//
// Importing the package registers the "redis" and "rediss" schemes for
// session.OpenStore: redis://[user:password@]host:port/db[?prefix=app:].
package redisstore

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/crumbs-go/session"
	"github.com/crumbs-go/session/serverstore"
)

// DefaultPrefix is the key prefix when none is given.
const DefaultPrefix = "crumbs:"

// Backend stores sessions in Redis. It is safe for concurrent use.
type Backend struct {
	client redis.UniversalClient
	prefix string
}

var (
	_ serverstore.Backend  = (*Backend)(nil)
	_ serverstore.Counter  = (*Backend)(nil)
	_ serverstore.Clearer  = (*Backend)(nil)
	_ serverstore.Iterator = (*Backend)(nil)
)

// An Option configures a Backend.
type Option func(*Backend) error

// WithPrefix sets the prefix of every key. The default is "crumbs:". Give
// each application (and each test) its own.
func WithPrefix(p string) Option {
	return func(b *Backend) error {
		if p == "" || strings.ContainsAny(p, "*?[]\\") {
			return fmt.Errorf("redisstore: WithPrefix(%q): give a non-empty prefix without glob characters", p)
		}
		b.prefix = p
		return nil
	}
}

// Prefix returns the prefix of every key.
func (b *Backend) Prefix() string { return b.prefix }

// New returns a Backend over client, which the caller owns and closes.
func New(client redis.UniversalClient, opts ...Option) (*Backend, error) {
	if client == nil {
		return nil, errors.New("redisstore: New(nil): give a client, such as redis.NewClient(opts)")
	}
	b := &Backend{client: client, prefix: DefaultPrefix}
	for _, o := range opts {
		if err := o(b); err != nil {
			return nil, err
		}
	}
	return b, nil
}

func init() {
	open := func(_ context.Context, config string, secrets [][]byte) (session.Store, error) {
		u, err := url.Parse(config)
		if err != nil {
			return nil, fmt.Errorf("redisstore: %w", err)
		}
		var opts []Option
		if p := u.Query().Get("prefix"); p != "" {
			opts = append(opts, WithPrefix(p))
			q := u.Query()
			q.Del("prefix")
			u.RawQuery = q.Encode()
		}
		ro, err := redis.ParseURL(u.String())
		if err != nil {
			return nil, fmt.Errorf("redisstore: %w", err)
		}
		b, err := New(redis.NewClient(ro), opts...)
		if err != nil {
			return nil, err
		}
		return serverstore.New(b, secrets)
	}
	session.Register("redis", open)
	session.Register("rediss", open)
}

// The scripts. ARGV of apply: meta, expiry (Unix ms), flags (a string of
// "c" clear, "i" idle only, "v" convert), the number of checks, then key,
// had ("1"/"0"), old per check; the number of sets, then key, value per
// set; the number of deletions, then keys. It returns {1} when written,
// {-2} absent, {-3} retired, {-4} a format-1 record (not converting), {-5}
// not a format-1 record (converting), and {-1, key, value, …} with the
// stored value of each checked key that exists when a check failed
// (nothing written). A tombstone is a string key holding the successor's
// key, so that SCAN TYPE hash walks sessions only.
var (
	applyScript = redis.NewScript(`
local k = KEYS[1]
local h = redis.pcall('HMGET', k, 'm', 'd')
if h.err then return {-3} end -- WRONGTYPE: a tombstone (a string key)
if not h[1] and not h[2] then return {-2} end
local flags = ARGV[3]
local convert = string.find(flags, 'v', 1, true)
if convert and h[1] then return {-5} end
if not convert and not h[1] then return {-4} end
local n = tonumber(ARGV[4])
local i = 5
local bad = false
for j = 1, n do
  local cur = redis.call('HGET', k, '.' .. ARGV[i])
  if ARGV[i + 1] == '1' then
    if cur ~= ARGV[i + 2] then bad = true end
  elseif cur then bad = true end
  i = i + 3
end
if bad then
  local out = {-1}
  i = 5
  for j = 1, n do
    local cur = redis.call('HGET', k, '.' .. ARGV[i])
    if cur then table.insert(out, ARGV[i]); table.insert(out, cur) end
    i = i + 3
  end
  return out
end
local meta = ARGV[1]
local exp = tonumber(ARGV[2])
if not convert then
  -- the idle deadline always; the flags ("f") and the absolute deadline
  -- ("a") only when asked; the rest as stored
  local m = h[1]
  local f = string.sub(m, 2, 2)
  if string.find(flags, 'f', 1, true) then f = string.sub(ARGV[1], 2, 2) end
  local a = string.sub(m, 3, 10)
  if string.find(flags, 'a', 1, true) then
    a = string.sub(ARGV[1], 3, 10)
  else
    local abs = 0
    for b = 1, 8 do abs = abs * 256 + string.byte(a, b) end
    if abs > 0 and abs * 1000 < exp then exp = abs * 1000 end
  end
  meta = string.sub(m, 1, 1) .. f .. a .. string.sub(ARGV[1], 11, 18)
end
if string.find(flags, 'c', 1, true) then redis.call('DEL', k) end
local set = {'m', meta}
local s = tonumber(ARGV[i]); i = i + 1
for j = 1, s do set[#set + 1] = '.' .. ARGV[i]; set[#set + 1] = ARGV[i + 1]; i = i + 2 end
redis.call('HSET', k, unpack(set))
local d = tonumber(ARGV[i]); i = i + 1
if d > 0 then
  local del = {}
  for j = 1, d do del[j] = '.' .. ARGV[i]; i = i + 1 end
  redis.call('HDEL', k, unpack(del))
end
redis.call('PEXPIREAT', k, exp)
return {1, meta}`)

	// create: ARGV = meta, expiry, then key, value pairs. 0 if the key exists.
	createScript = redis.NewScript(`
local k = KEYS[1]
if redis.call('EXISTS', k) == 1 then return 0 end
local set = {'m', ARGV[1]}
for i = 3, #ARGV, 2 do set[#set + 1] = '.' .. ARGV[i]; set[#set + 1] = ARGV[i + 1] end
redis.call('HSET', k, unpack(set))
redis.call('PEXPIREAT', k, ARGV[2])
return 1`)

	// retire: ARGV = successor key, tombstone expiry. The hash's fields, or
	// {-2} absent, {-3, successor} already retired.
	retireScript = redis.NewScript(`
local k = KEYS[1]
local t = redis.call('TYPE', k).ok
if t == 'none' then return {-2} end
if t ~= 'hash' then return {-3, redis.call('GET', k)} end
local all = redis.call('HGETALL', k)
redis.call('DEL', k)
redis.call('SET', k, ARGV[1], 'PXAT', ARGV[2])
return all`)

	// delete: the successor a tombstone names (to delete next), or false.
	deleteScript = redis.NewScript(`
local k = KEYS[1]
local next = false
if redis.call('TYPE', k).ok == 'string' then next = redis.call('GET', k) end
redis.call('DEL', k)
return next`)
)

// Get reads the record: one HGETALL (a tombstone, a string key, answers
// WRONGTYPE).
func (b *Backend) Get(ctx context.Context, key string) (*serverstore.Entry, error) {
	h, err := b.client.HGetAll(ctx, b.prefix+key).Result()
	if err != nil {
		if strings.HasPrefix(err.Error(), "WRONGTYPE") {
			return nil, serverstore.ErrMoved
		}
		return nil, b.failed(ctx, "get", err)
	}
	return entry(h)
}

// entry reads a hash of either layout.
func entry(h map[string]string) (*serverstore.Entry, error) {
	if len(h) == 0 {
		return nil, serverstore.ErrNotFound
	}
	if m, ok := h["m"]; ok {
		e := &serverstore.Entry{Meta: []byte(m), Values: make(map[string][]byte, len(h)-1)}
		for f, v := range h {
			if k, ok := strings.CutPrefix(f, "."); ok {
				e.Values[k] = []byte(v)
			}
		}
		return e, nil
	}
	if d, ok := h["d"]; ok {
		return &serverstore.Entry{Legacy: []byte(d)}, nil
	}
	return nil, fmt.Errorf("redisstore: a hash with neither m nor d fields")
}

// Create stores a new record: one script call.
func (b *Backend) Create(ctx context.Context, key string, e *serverstore.Entry, expires time.Time) error {
	args := make([]any, 0, 2+2*len(e.Values))
	args = append(args, e.Meta, expires.UnixMilli())
	for k, v := range e.Values {
		args = append(args, k, v)
	}
	n, err := createScript.Run(ctx, b.client, []string{b.prefix + key}, args...).Int64()
	if err != nil {
		return b.failed(ctx, "create", err)
	}
	if n == 0 {
		return serverstore.ErrConflict
	}
	return nil
}

// Apply writes what a request changed: one script call.
func (b *Backend) Apply(ctx context.Context, key string, w *serverstore.Write) ([]byte, error) {
	flags := ""
	if w.Clear {
		flags += "c"
	}
	if w.Header&serverstore.HeaderFlags != 0 {
		flags += "f"
	}
	if w.Header&serverstore.HeaderAbsolute != 0 {
		flags += "a"
	}
	if w.Convert {
		flags += "v"
	}
	args := make([]any, 0, 8+3*len(w.Changes))
	args = append(args, w.Meta, w.Expires.UnixMilli(), flags)
	var checks, sets, dels int
	for _, c := range w.Changes {
		if c.Check {
			checks++
		}
		if c.Delete {
			dels++
		} else {
			sets++
		}
	}
	args = append(args, checks)
	for _, c := range w.Changes {
		if c.Check {
			had := "0"
			if c.HadOld {
				had = "1"
			}
			args = append(args, c.Key, had, c.Old)
		}
	}
	args = append(args, sets)
	for _, c := range w.Changes {
		if !c.Delete {
			args = append(args, c.Key, c.Value)
		}
	}
	args = append(args, dels)
	for _, c := range w.Changes {
		if c.Delete {
			args = append(args, c.Key)
		}
	}
	res, err := applyScript.Run(ctx, b.client, []string{b.prefix + key}, args...).Slice()
	if err != nil {
		return nil, b.failed(ctx, "apply", err)
	}
	code, _ := res[0].(int64)
	switch code {
	case 1:
		if len(res) == 2 {
			m, _ := res[1].(string)
			return []byte(m), nil
		}
	case -2:
		return nil, serverstore.ErrNotFound
	case -3:
		return nil, serverstore.ErrMoved
	case -4:
		return nil, serverstore.ErrLegacy
	case -5:
		return nil, serverstore.ErrConverted
	case -1:
		c := &session.ConflictError{Values: map[string][]byte{}}
		for i := 1; i+1 < len(res); i += 2 {
			k, _ := res[i].(string)
			v, _ := res[i+1].(string)
			c.Values[k] = []byte(v)
		}
		return nil, c
	}
	return nil, fmt.Errorf("redisstore: apply: unexpected reply %v", res)
}

// Retire replaces the record by a tombstone and returns what it held: one
// script call.
func (b *Backend) Retire(ctx context.Context, key, successor string, until time.Time) (*serverstore.Entry, error) {
	res, err := retireScript.Run(ctx, b.client, []string{b.prefix + key}, successor, until.UnixMilli()).Slice()
	if err != nil {
		return nil, b.failed(ctx, "retire", err)
	}
	if code, ok := res[0].(int64); ok {
		if code == -3 && len(res) == 2 {
			next, _ := res[1].(string)
			return &serverstore.Entry{Successor: next}, serverstore.ErrMoved
		}
		return nil, serverstore.ErrNotFound
	}
	h := make(map[string]string, len(res)/2)
	for i := 0; i+1 < len(res); i += 2 {
		f, _ := res[i].(string)
		v, _ := res[i+1].(string)
		h[f] = v
	}
	return entry(h)
}

// Delete removes the record, and returns the successor a tombstone named
// (which the Store deletes in a call of its own: the two keys may live in
// different Cluster slots).
func (b *Backend) Delete(ctx context.Context, key string) (string, error) {
	next, err := deleteScript.Run(ctx, b.client, []string{b.prefix + key}).Text()
	if errors.Is(err, redis.Nil) {
		return "", nil
	}
	if err != nil {
		return "", b.failed(ctx, "delete", err)
	}
	return next, nil
}

// failed wraps the error of operation op. A failure that is not Redis's
// reply (a refused connection, a timeout) on a Cluster client also asks
// the client to reload the cluster's topology: go-redis reloads it on a
// MOVED or ASK reply, and otherwise only every ClusterStateReloadInterval
// (60 s by default), so after a master died its slots stayed routed to it
// for up to a minute though a replica had taken over within seconds
// (go-redis issue 3979).
func (b *Backend) failed(ctx context.Context, op string, err error) error {
	var reply redis.Error
	if cc, ok := b.client.(*redis.ClusterClient); ok && ctx.Err() == nil && !errors.As(err, &reply) {
		cc.ReloadState(ctx)
	}
	return fmt.Errorf("redisstore: %s: %w", op, err)
}

// scan yields the full Redis keys under the prefix: of typ ("hash":
// sessions, not tombstones), or of every type for "".
func (b *Backend) scan(ctx context.Context, typ string) iter.Seq2[string, error] {
	return func(yield func(string, error) bool) {
		each := func(c redis.Cmdable) error {
			var it *redis.ScanIterator
			if typ == "" {
				it = c.Scan(ctx, 0, b.prefix+"*", 500).Iterator()
			} else {
				it = c.ScanType(ctx, 0, b.prefix+"*", 500, typ).Iterator()
			}
			for it.Next(ctx) {
				if !yield(it.Val(), nil) {
					return errStop
				}
			}
			return it.Err()
		}
		nodes, err := b.masters(ctx)
		for _, n := range nodes {
			if err = each(n); err != nil {
				break
			}
		}
		if err != nil && !errors.Is(err, errStop) {
			yield("", b.failed(ctx, "scan", err))
		}
	}
}

// masters lists what a walk scans: each master of a Cluster, or the client
// itself. go-redis's ForEachMaster runs its callback on a goroutine per
// master at once, so it only collects the masters here; the walk then
// scans them one after the other on the caller's goroutine, where a range
// loop's body must run.
func (b *Backend) masters(ctx context.Context) ([]redis.Cmdable, error) {
	cc, ok := b.client.(*redis.ClusterClient)
	if !ok {
		return []redis.Cmdable{b.client}, nil
	}
	var mu sync.Mutex
	var out []redis.Cmdable
	err := cc.ForEachMaster(ctx, func(_ context.Context, c *redis.Client) error {
		mu.Lock()
		out = append(out, c)
		mu.Unlock()
		return nil
	})
	return out, err
}

var errStop = errors.New("stop")

// Keys yields the session keys (without the prefix), walking with SCAN.
func (b *Backend) Keys(ctx context.Context) iter.Seq2[string, error] {
	return func(yield func(string, error) bool) {
		for k, err := range b.scan(ctx, "hash") {
			if !yield(strings.TrimPrefix(k, b.prefix), err) {
				return
			}
		}
	}
}

// Count counts the sessions (not tombstones), walking with SCAN.
func (b *Backend) Count(ctx context.Context) (int, error) {
	n := 0
	for _, err := range b.scan(ctx, "hash") {
		if err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}

// Clear deletes every session under the prefix, walking with SCAN.
func (b *Backend) Clear(ctx context.Context) error {
	for k, err := range b.scan(ctx, "") {
		if err != nil {
			return err
		}
		if err := b.client.Del(ctx, k).Err(); err != nil {
			return b.failed(ctx, "clear", err)
		}
	}
	return nil
}
