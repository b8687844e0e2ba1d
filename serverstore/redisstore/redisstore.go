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
// A record bound to a user (package devices) also holds fields "b" (the
// binding) and "s" (last seen), and its key is a member of the user's index:
// a sorted set under prefix+"u:{"+hash of the user+"}", scored by the
// record's expiry (an upper bound), that expires with its last member and
// drops expired members on every write. The braces keep each index in one
// Cluster slot. Writes of a bound record cost one more script call, on the
// index, made before the record's (so a live record always has its entry);
// unbound records pay nothing. The index needs Redis 6.2 or later (ZADD GT).
//
// # Configuration strings
//
// Importing the package registers the "redis" and "rediss" (TLS) schemes
// for session.OpenStore. The query tells the topologies apart, the way
// go-redis's ParseURL, ParseFailoverURL and ParseClusterURL read them, and
// go-redis's own parameters (dial_timeout, read_timeout, pool_size,
// max_retries, …) pass through to it; each of its parsers takes its own
// set (skip_verify, for one, only in single-node and Sentinel strings):
//
//	redis://[user:password@]host:6379/0                     a single node, database 0
//	rediss://user:password@host:6380/0                      the same over TLS, with an ACL user
//	redis://s1:26379/0?master_name=app&addr=s2:26379&addr=s3:26379
//	                                                        Sentinel: the sentinels' addresses, the master's name
//	redis://n1:7000?addr=n2:7000&addr=n3:7000               Cluster: seed nodes (addr given once or more)
//	redis://n1:7000?crumbs_cluster=true                     Cluster through one seed node
//
// A Cluster has database 0 only: a path naming another database is an
// error. In a Sentinel string the user and password before the host are
// the sentinels'; the master's are the username= and password= parameters
// (go-redis's ParseFailoverURL). TLS (rediss://) is tested on a single
// node; go-redis checks every Cluster node's, and the Sentinel master's,
// certificate against the first address's host name, so a Cluster or
// Sentinel over TLS with per-host certificates needs a client built by
// hand (New). Each crumbs parameter may be given once; prefix and
// crumbs_prefix together are an error.
// crumbs' own parameters start with crumbs_ (go-redis owns names such as
// max_retries); an unknown one is an error that names it:
//
//	crumbs_prefix=app:        the key prefix (default "crumbs:"); prefix= is an alias
//	crumbs_raw_ids=true       serverstore.WithRawIDs
//	crumbs_client_details=true serverstore.WithClientDetails
//	crumbs_grace=10s          serverstore.WithGrace
//	crumbs_cluster=true       a Cluster, whatever the addresses
//	crumbs_wait=1             WithWait: each write waits for 1 replica …
//	crumbs_wait_timeout=100ms … this long at most (DefaultWaitTimeout)
//	crumbs_open_timeout=2s    how long OpenStore waits for PING (OpenTimeout, 5 s)
//
// Sessions shared with an Express application (connect-redis records,
// express-session's connect.sid) are the module
// github.com/crumbs-go/session/serverstore/redisstore/express, whose
// scheme is express+redis://.
//
// A store opened from a string owns its client: close it (the Store is an
// io.Closer). Store.Ping is a readiness check.
package redisstore

import (
	"context"
	"crypto/fips140"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"iter"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/crumbs-go/session/driver"
	"github.com/crumbs-go/session/internal/params"
	"github.com/crumbs-go/session/internal/storeparams"
	"github.com/crumbs-go/session/serverstore"
)

// DefaultPrefix is the key prefix when none is given.
const DefaultPrefix = "crumbs:"

// Backend stores sessions in Redis. It is safe for concurrent use.
type Backend struct {
	client    redis.UniversalClient
	prefix    string
	owned     bool // opened from a configuration string: Close closes the client
	closeOnce sync.Once

	waitReplicas int           // WithWait: replicas to wait for after a write; 0: none
	waitTimeout  time.Duration // WithWait: how long at most
}

// ContextBound reports whether the client ends a command at its context's
// deadline: go-redis does only with ContextTimeoutEnabled set in its
// options (otherwise its own read and write timeouts apply).
func (b *Backend) ContextBound() bool {
	switch c := b.client.(type) {
	case *redis.Client:
		return c.Options().ContextTimeoutEnabled
	case *redis.ClusterClient:
		return c.Options().ContextTimeoutEnabled
	}
	return false
}

var (
	_ serverstore.Backend   = (*Backend)(nil)
	_ serverstore.Counter   = (*Backend)(nil)
	_ serverstore.UserIndex = (*Backend)(nil)
	_ serverstore.Clearer   = (*Backend)(nil)
	_ serverstore.Iterator  = (*Backend)(nil)
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

// DefaultWaitTimeout is how long a write waits for its replicas under
// crumbs_wait when crumbs_wait_timeout is not given.
const DefaultWaitTimeout = 100 * time.Millisecond

// ErrNotReplicated is returned, wrapped, by a write under WithWait that
// fewer replicas than asked acknowledged in time. The write was applied on
// the master; the Manager answers the request with its error handler (503
// by default), so the client is not told a save succeeded that a failover
// could still undo.
var ErrNotReplicated = errors.New("redisstore: the write did not reach enough replicas in time")

// WithWait makes every write wait until replicas replicas acknowledged it
// (Redis WAIT, on the connection that wrote), timeout at most; a write
// that fewer replicas acknowledged in time fails with ErrNotReplicated.
// Off by default: Redis replicates asynchronously, so without it a write
// acknowledged in the last moments before a master dies can be lost in
// the failover (on one machine the tests lost none written more than
// 500 ms before the kill). It costs a round trip and the replicas'
// latency on every save (BENCHMARKS.md). On a Cluster such a write goes to
// the key's master directly, following MOVED and ASK replies itself. A
// Regenerate's retirement of the old ID and a Destroy wait too, but count
// as done whatever the replicas: the login's new cookie and the logout's
// second step build on them. timeout must be 1 ms or more (Redis counts
// WAIT's timeout in milliseconds, and 0 would block for ever). It needs a
// *redis.Client (single node, Sentinel) or a *redis.ClusterClient.
func WithWait(replicas int, timeout time.Duration) Option {
	return func(b *Backend) error {
		if replicas < 1 || timeout < time.Millisecond {
			return fmt.Errorf("redisstore: WithWait(%d, %v): give at least 1 replica and a timeout of 1ms or more", replicas, timeout)
		}
		switch b.client.(type) {
		case *redis.Client, *redis.ClusterClient:
		default:
			return fmt.Errorf("redisstore: WithWait needs a *redis.Client or *redis.ClusterClient, not %T", b.client)
		}
		b.waitReplicas, b.waitTimeout = replicas, timeout
		return nil
	}
}

// eval runs a write script on key; under WithWait it then waits for the
// replicas on the same connection (WAIT counts the writes of its own
// connection). confirm says whether too few replicas is an error
// (ErrNotReplicated): for a save it is; for a Retire or a Delete, whose
// effect on the master the caller builds on (a login's new cookie, the
// successor a logout deletes next), the step is reported done.
func (b *Backend) eval(ctx context.Context, s *redis.Script, key string, confirm bool, args ...any) (*redis.Cmd, error) {
	if b.waitReplicas == 0 {
		return s.Run(ctx, b.client, []string{key}, args...), nil
	}
	node, _ := b.client.(*redis.Client)
	cc, cluster := b.client.(*redis.ClusterClient)
	if cluster {
		n, err := cc.MasterForKey(ctx, key)
		if err != nil {
			return nil, err
		}
		node = n
	}
	for redirects := 0; ; redirects++ {
		cmd, moved, err := b.evalWait(ctx, node, s, key, confirm, args)
		if !cluster || moved == "" || redirects == 3 {
			return cmd, err
		}
		// The slot moved (a migration, a failover go-redis has not seen):
		// follow the redirect, and have the client reload its slot map.
		cc.ReloadState(ctx)
		if node = b.masterAt(ctx, cc, moved); node == nil {
			return cmd, err
		}
	}
}

// evalWait runs the script and WAIT on one connection of node; moved is
// the address of a MOVED or ASK reply, if the script got one.
func (b *Backend) evalWait(ctx context.Context, node *redis.Client, s *redis.Script, key string, confirm bool, args []any) (cmd *redis.Cmd, moved string, err error) {
	conn := node.Conn()
	defer conn.Close()
	cmd = s.Run(ctx, conn, []string{key}, args...)
	if err := cmd.Err(); err != nil {
		if f := strings.Fields(err.Error()); len(f) == 3 && (f[0] == "MOVED" || f[0] == "ASK") {
			return cmd, f[2], nil
		}
		return cmd, "", nil
	}
	n, err := conn.Wait(ctx, b.waitReplicas, b.waitTimeout).Result()
	if err != nil {
		return nil, "", err
	}
	if int(n) < b.waitReplicas && confirm {
		return nil, "", fmt.Errorf("%w: %d of %d within %v", ErrNotReplicated, n, b.waitReplicas, b.waitTimeout)
	}
	return cmd, "", nil
}

// masterAt returns the Cluster's master client at addr, or nil.
func (b *Backend) masterAt(ctx context.Context, cc *redis.ClusterClient, addr string) *redis.Client {
	var mu sync.Mutex
	var found *redis.Client
	cc.ForEachMaster(ctx, func(_ context.Context, c *redis.Client) error {
		if c.Options().Addr == addr {
			mu.Lock()
			found = c
			mu.Unlock()
		}
		return nil
	})
	return found
}

// Prefix returns the prefix of every key.
func (b *Backend) Prefix() string { return b.prefix }

// Client returns the go-redis client the Backend uses, for a store that
// shares it, such as the Express format's (package express). Most
// applications won't need this.
func (b *Backend) Client() redis.UniversalClient { return b.client }

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

// OpenTimeout bounds how long OpenStore waits for the first answer (PING)
// of a server named by a configuration string, unless the string sets
// crumbs_open_timeout or the context has an earlier deadline.
const OpenTimeout = 5 * time.Second

// Open builds a Backend from a configuration string (the forms are in the
// package documentation), connects, and checks that the server answers
// (PING, on every master of a Cluster) within OpenTimeout. The Backend
// owns its client: Close closes it. The serverstore options it returns are
// the ones the string set (crumbs_raw_ids, crumbs_client_details, crumbs_grace).
func Open(ctx context.Context, cfg string) (*Backend, []serverstore.Option, error) {
	const pkg = "redisstore"
	u, err := params.Parse(pkg, cfg)
	if err != nil {
		return nil, nil, err
	}
	q := u.Query()
	if q.Has("prefix") && q.Has("crumbs_prefix") {
		return nil, nil, errors.New("redisstore: give the prefix once: crumbs_prefix, or its alias prefix, not both")
	}
	var opts []Option
	var sopts []serverstore.Option
	timeout, cluster := OpenTimeout, false
	waitN, waitT := 0, DefaultWaitTimeout
	own := func(name string) bool { return name == "prefix" || params.Crumbs(name) }
	err = params.Each(pkg, q, own, func(name, v string) error {
		if opt, ok, err := storeparams.Server(pkg, name, v); ok {
			if opt != nil {
				sopts = append(sopts, opt)
			}
			return err
		}
		var err error
		switch name {
		case "prefix", "crumbs_prefix":
			opts = append(opts, WithPrefix(v))
		case "crumbs_cluster":
			cluster, err = params.Bool(pkg, name, v)
		case "crumbs_open_timeout":
			timeout, err = params.Duration(pkg, name, v, time.Millisecond)
		case "crumbs_wait":
			if waitN, err = strconv.Atoi(v); err != nil || waitN < 0 {
				err = params.Bad(pkg, name, v, "a number of replicas, 0 or more")
			}
		case "crumbs_wait_timeout":
			waitT, err = params.Duration(pkg, name, v, time.Millisecond)
		default:
			err = fmt.Errorf("redisstore: unknown parameter %s (crumbs' own are crumbs_prefix, crumbs_raw_ids, crumbs_client_details, crumbs_grace, crumbs_cluster, crumbs_open_timeout, crumbs_wait, crumbs_wait_timeout)", name)
		}
		return err
	})
	if err != nil {
		return nil, nil, err
	}
	if waitN > 0 {
		opts = append(opts, WithWait(waitN, waitT))
	}
	u.RawQuery = q.Encode()
	rest := u.String()
	var client redis.UniversalClient
	switch {
	case q.Has("master_name"):
		o, err := redis.ParseFailoverURL(rest)
		if err != nil {
			return nil, nil, fmt.Errorf("redisstore: a Sentinel configuration string: %w", err)
		}
		client = redis.NewFailoverClient(o)
	case cluster || q.Has("addr"):
		if db := strings.Trim(u.Path, "/"); db != "" && db != "0" {
			return nil, nil, fmt.Errorf("redisstore: %s names database %s: a Redis Cluster has database 0 only; drop the path", params.Redact(u), db)
		}
		u.Path = ""
		o, err := redis.ParseClusterURL(u.String())
		if err != nil {
			return nil, nil, fmt.Errorf("redisstore: a Cluster configuration string: %w", err)
		}
		client = redis.NewClusterClient(o)
	default:
		o, err := redis.ParseURL(rest)
		if err != nil {
			return nil, nil, fmt.Errorf("redisstore: %w", err)
		}
		client = redis.NewClient(o)
	}
	b, err := New(client, opts...)
	if err != nil {
		client.Close()
		return nil, nil, err
	}
	b.owned = true
	pctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if err := b.Ping(pctx); err != nil {
		client.Close()
		return nil, nil, fmt.Errorf("redisstore: %s did not answer within %v: %w", params.Redact(u), timeout, err)
	}
	return b, sopts, nil
}

func init() {
	open := func(ctx context.Context, cfg string, secrets [][]byte) (driver.Store, error) {
		b, sopts, err := Open(ctx, cfg)
		if err != nil {
			return nil, err
		}
		s, err := serverstore.New(b, secrets, sopts...)
		if err != nil {
			b.Close()
			return nil, err
		}
		return s, nil
	}
	driver.Register("redis", open)
	driver.Register("rediss", open)
}

// Ping checks that Redis answers: PING, on every master of a Cluster. For
// readiness probes; serverstore.Store.Ping calls it.
func (b *Backend) Ping(ctx context.Context) error {
	if cc, ok := b.client.(*redis.ClusterClient); ok {
		err := cc.ForEachMaster(ctx, func(ctx context.Context, c *redis.Client) error { return c.Ping(ctx).Err() })
		if err != nil {
			return b.failed(ctx, "ping", err)
		}
		return nil
	}
	if err := b.client.Ping(ctx).Err(); err != nil {
		return b.failed(ctx, "ping", err)
	}
	return nil
}

// Close closes the client if the Backend opened it (Open, OpenStore); a
// client given to New is the caller's, and Close leaves it open.
// Close is idempotent.
func (b *Backend) Close() error {
	if !b.owned {
		return nil
	}
	var err error
	b.closeOnce.Do(func() { err = b.client.Close() })
	return err
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
// script names a Lua script by its SHA-1 for EVALSHA: computed in Go, or,
// in FIPS 140-only mode (GODEBUG=fips140=only), which refuses SHA-1, by
// Redis (SCRIPT LOAD on first use; go-redis's NewScriptServerSHA).
func script(src string) *redis.Script {
	if fips140.Enforced() {
		return redis.NewScriptServerSHA(src)
	}
	return redis.NewScript(src)
}

var (
	applyScript = script(`
local k = KEYS[1]
local h = redis.pcall('HMGET', k, 'm', 'd', 'b', 's') -- the binding's too: one call
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
  local tail = string.sub(m, 19) -- the cookie attributes go with the flags
  if string.find(flags, 'f', 1, true) then f = string.sub(ARGV[1], 2, 2); tail = string.sub(ARGV[1], 19) end
  local a = string.sub(m, 3, 10)
  if string.find(flags, 'a', 1, true) then
    a = string.sub(ARGV[1], 3, 10)
  else
    local abs = 0
    for b = 1, 8 do abs = abs * 256 + string.byte(a, b) end
    if abs > 0 and abs * 1000 < exp then exp = abs * 1000 end
  end
  meta = string.sub(m, 1, 1) .. f .. a .. string.sub(ARGV[1], 11, 18) .. tail
end
local set = {'m', meta}
-- the binding ("b" and "s"): kept through a Clear; set on a record that
-- has none when the write carries one (flag "b": last seen and the
-- binding are the last two arguments); "s" moved to the write's time
local bnd = {h[3], h[4]}
if string.find(flags, 'b', 1, true) then
  bnd[2] = ARGV[#ARGV - 1]
  if not bnd[1] then bnd[1] = ARGV[#ARGV] end
end
if string.find(flags, 'c', 1, true) then redis.call('DEL', k) end
if bnd[1] then
  set[#set + 1] = 'b'; set[#set + 1] = bnd[1]
  if bnd[2] then set[#set + 1] = 's'; set[#set + 1] = bnd[2] end
end
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

	// create: ARGV = meta, expiry, binding ("" for none), last seen, then
	// key, value pairs. 0 if the key exists.
	createScript = script(`
local k = KEYS[1]
if redis.call('EXISTS', k) == 1 then
  if ARGV[5] == '' or redis.call('TYPE', k).ok ~= 'string' or redis.call('GET', k) ~= ARGV[5] then return 0 end
  redis.call('DEL', k)
end
local set = {'m', ARGV[1]}
if ARGV[3] ~= '' then set[#set + 1] = 'b'; set[#set + 1] = ARGV[3]; set[#set + 1] = 's'; set[#set + 1] = ARGV[4] end
for i = 6, #ARGV, 2 do set[#set + 1] = '.' .. ARGV[i]; set[#set + 1] = ARGV[i + 1] end
redis.call('HSET', k, unpack(set))
redis.call('PEXPIREAT', k, ARGV[2])
return 1`)

	// retire: ARGV = successor key, tombstone expiry. The hash's fields, or
	// {-2} absent, {-3, successor} already retired.
	retireScript = script(`
local k = KEYS[1]
local t = redis.call('TYPE', k).ok
if t == 'none' then return {-2} end
if t ~= 'hash' then return {-3, redis.call('GET', k)} end
local all = redis.call('HGETALL', k)
redis.call('DEL', k)
redis.call('SET', k, ARGV[1], 'PXAT', ARGV[2])
return all`)

	// delete: {the successor a tombstone names (to delete next) or "",
	// the binding of a record or ""}.
	deleteScript = script(`
local k = KEYS[1]
local t = redis.call('TYPE', k).ok
local next, bnd = '', ''
if t == 'string' then next = redis.call('GET', k) end
if t == 'hash' then bnd = redis.call('HGET', k, 'b') or '' end
redis.call('DEL', k)
return {next, bnd}`)

	// index: on a user's index (a sorted set of session keys, scored by
	// when they expire at the latest), ARGV = unused, "a" add or "r" remove,
	// then member, score pairs (add) or members (remove). It drops what
	// expired, and expires the set with its last member.
	indexScript = script(`
local k = KEYS[1]
local t = redis.call('TIME') -- Redis's clock, by which it expires the records
redis.call('ZREMRANGEBYSCORE', k, '-inf', t[1] * 1000 + math.floor(t[2] / 1000))
if ARGV[2] == 'a' then
  for i = 3, #ARGV, 2 do redis.call('ZADD', k, 'GT', ARGV[i + 1], ARGV[i]) end
else
  for i = 3, #ARGV do redis.call('ZREM', k, ARGV[i]) end
end
local last = redis.call('ZRANGE', k, -1, -1, 'WITHSCORES')
if #last == 0 then return 0 end
redis.call('PEXPIREAT', k, last[2])
return 1`)
)

// indexKey is the key of user's index: a hash of the user ID (which the
// key names need not show), in a hash tag, so that on a Cluster the whole
// index lives in one slot.
func (b *Backend) indexKey(user string) string {
	sum := sha256.Sum256([]byte(user))
	return b.prefix + "u:{" + base64.RawURLEncoding.EncodeToString(sum[:16]) + "}"
}

// index adds key to user's index until expires (op "a"), or removes it
// ("r"): one script call.
func (b *Backend) index(ctx context.Context, op, user, key string, expires time.Time) error {
	args := []any{time.Now().UnixMilli(), op, key}
	if op == "a" {
		args = append(args, expires.UnixMilli())
	}
	cmd, err := b.eval(ctx, indexScript, b.indexKey(user), op == "a", args...)
	if err == nil {
		err = cmd.Err()
	}
	if err != nil {
		return b.failed(ctx, "index", err)
	}
	return nil
}

// Bound returns the live records bound to user: the members of its index
// that are still live (ZRANGE), then their bindings (one pipeline of HMGET);
// members whose record is gone leave the index.
func (b *Backend) Bound(ctx context.Context, user string) (map[string]*serverstore.Binding, error) {
	ik := b.indexKey(user)
	now := time.Now().UnixMilli()
	// Members scored from a minute back: the scores come from the
	// writers' clocks; whether the record still exists decides.
	keys, err := b.client.ZRangeArgs(ctx, redis.ZRangeArgs{Key: ik, Start: fmt.Sprint(now - 60_000), Stop: "+inf", ByScore: true}).Result()
	if err != nil {
		return nil, b.failed(ctx, "list", err)
	}
	out := make(map[string]*serverstore.Binding, len(keys))
	if len(keys) == 0 {
		return out, nil
	}
	cmds := make([]*redis.SliceCmd, len(keys))
	_, err = b.client.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, k := range keys {
			cmds[i] = p.HMGet(ctx, b.prefix+k, "b", "s")
		}
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) && !strings.HasPrefix(err.Error(), "WRONGTYPE") {
		return nil, b.failed(ctx, "list", err)
	}
	var gone []string
	for i, k := range keys {
		v, err := cmds[i].Result()
		if err != nil && strings.HasPrefix(err.Error(), "WRONGTYPE") { // a tombstone
			gone = append(gone, k)
			continue
		}
		if err != nil {
			return nil, b.failed(ctx, "list", err)
		}
		bnd, _ := v[0].(string)
		seen, _ := v[1].(string)
		bd := binding(bnd, seen)
		if bd == nil || bd.User != user {
			gone = append(gone, k)
			continue
		}
		out[k] = bd
	}
	if len(gone) > 0 {
		args := []any{now, "r"}
		for _, k := range gone {
			args = append(args, k)
		}
		// Pruning is best effort: the next listing tries again.
		_ = indexScript.Run(ctx, b.client, []string{ik}, args...).Err()
	}
	return out, nil
}

// binding decodes a stored binding and last-seen time (decimal Unix
// seconds); nil for none or a malformed one.
func binding(bnd, seen string) *serverstore.Binding {
	if bnd == "" {
		return nil
	}
	sec, err := strconv.ParseUint(seen, 10, 63)
	if err != nil {
		sec = 0
	}
	bd, err := serverstore.DecodeBinding([]byte(bnd), sec)
	if err != nil {
		return nil
	}
	return bd
}

// Get reads the record: one HGETALL. A tombstone, a string key, answers
// WRONGTYPE; a GET then reads the successor it names.
func (b *Backend) Get(ctx context.Context, key string) (*serverstore.Entry, error) {
	h, err := b.client.HGetAll(ctx, b.prefix+key).Result()
	if err != nil {
		if strings.HasPrefix(err.Error(), "WRONGTYPE") {
			next, err := b.client.Get(ctx, b.prefix+key).Result()
			if err != nil {
				return nil, serverstore.ErrMoved // expired meanwhile, or unreadable: moved all the same
			}
			return &serverstore.Entry{Successor: next}, serverstore.ErrMoved
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
		e.Binding = binding(h["b"], h["s"])
		return e, nil
	}
	if d, ok := h["d"]; ok {
		return &serverstore.Entry{Legacy: []byte(d)}, nil
	}
	return nil, fmt.Errorf("redisstore: a hash with neither m nor d fields")
}

// Create stores a new record: one script call.
func (b *Backend) Create(ctx context.Context, key string, e *serverstore.Entry, expires time.Time) error {
	args := make([]any, 0, 5+2*len(e.Values))
	args = append(args, e.Meta, expires.UnixMilli())
	if bd := e.Binding; bd != nil && bd.User != "" {
		// The index first: a record is never live without its entry.
		if err := b.index(ctx, "a", bd.User, key, expires); err != nil {
			return err
		}
		args = append(args, serverstore.EncodeBinding(bd), unixSeconds(bd.Seen))
	} else {
		args = append(args, "", "")
	}
	args = append(args, e.Replaces) // ARGV[5]: a tombstone that gives way
	for k, v := range e.Values {
		args = append(args, k, v)
	}
	cmd, err := b.eval(ctx, createScript, b.prefix+key, true, args...)
	if err != nil {
		return b.failed(ctx, "create", err)
	}
	n, err := cmd.Int64()
	if err != nil {
		return b.failed(ctx, "create", err)
	}
	if n == 0 {
		return serverstore.ErrExists
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
	if w.User != "" && w.Binding != nil {
		// The index first, its entry lasting at least as long as the record.
		if err := b.index(ctx, "a", w.User, key, w.Until); err != nil {
			return nil, err
		}
		flags += "b"
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
	if w.User != "" && w.Binding != nil {
		args = append(args, unixSeconds(w.Seen), serverstore.EncodeBinding(w.Binding))
	}
	cmd, err := b.eval(ctx, applyScript, b.prefix+key, true, args...)
	if err != nil {
		return nil, b.failed(ctx, "apply", err)
	}
	res, err := cmd.Slice()
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
		c := &driver.ConflictError{Values: map[string][]byte{}}
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
	cmd, err := b.eval(ctx, retireScript, b.prefix+key, false, successor, until.UnixMilli())
	if err != nil {
		return nil, b.failed(ctx, "retire", err)
	}
	res, err := cmd.Slice()
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
	e, err := entry(h)
	if err == nil && e.Binding != nil {
		// The retirement stands; a failure here leaves an entry that the
		// next listing drops (its key is a tombstone).
		_ = b.index(ctx, "r", e.Binding.User, key, time.Time{})
	}
	return e, err
}

// Delete removes the record, and returns the successor a tombstone named
// (which the Store deletes in a call of its own: the two keys may live in
// different Cluster slots).
func (b *Backend) Delete(ctx context.Context, key string) (string, error) {
	cmd, err := b.eval(ctx, deleteScript, b.prefix+key, false)
	if err != nil {
		return "", b.failed(ctx, "delete", err)
	}
	res, err := cmd.StringSlice()
	if err != nil || len(res) != 2 {
		return "", b.failed(ctx, "delete", fmt.Errorf("unexpected reply %v (%v)", res, err))
	}
	if bd := binding(res[1], "0"); bd != nil {
		// The record is gone: a failure here leaves a member that the next
		// listing drops.
		_ = b.index(ctx, "r", bd.User, key, time.Time{})
	}
	return res[0], nil
}

// unixSeconds is t in Unix seconds, 0 for the zero time.
func unixSeconds(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.Unix()
}

// failed wraps the error of operation op. A failure that is not Redis's
// reply (a refused connection, a timeout, a cancelled request), or a MOVED
// or ASK reply, on a Cluster client also asks
// the client to reload the cluster's topology: go-redis reloads it on a
// MOVED or ASK reply, and otherwise only every ClusterStateReloadInterval
// (60 s by default), so after a master died its slots stayed routed to it
// for up to a minute though a replica had taken over within seconds
// (go-redis issue 3979).
func (b *Backend) failed(ctx context.Context, op string, err error) error {
	var reply redis.Error
	if cc, ok := b.client.(*redis.ClusterClient); ok {
		if !errors.As(err, &reply) || strings.HasPrefix(err.Error(), "MOVED ") || strings.HasPrefix(err.Error(), "ASK ") {
			cc.ReloadState(ctx)
		}
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
