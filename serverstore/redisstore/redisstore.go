// Package redisstore is a serverstore.Backend on Redis, through go-redis's
// UniversalClient, so a single node, Sentinel and Cluster all work.
//
// A session is a hash under prefix+key with two fields, "v" (the version)
// and "d" (the record), and a Redis expiry at the session's deadline. Get is
// one HMGET; Set is one script (EVALSHA) that checks the version and writes
// data and expiry atomically; Touch is one PEXPIREAT, without rewriting the
// data. Count, Clear and Keys walk the prefix with SCAN, never KEYS.
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
	"strconv"
	"strings"
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
	_ serverstore.Toucher  = (*Backend)(nil)
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

// setScript writes the record if the stored version is ARGV[1] ("0": the
// key must not exist), and returns the new version; -1 on a version
// conflict, -2 when the key is gone.
var setScript = redis.NewScript(`
local cur = redis.call('HGET', KEYS[1], 'v')
if ARGV[1] == '0' then
  if cur then return -1 end
else
  if not cur then return -2 end
  if cur ~= ARGV[1] then return -1 end
end
local v = tonumber(ARGV[1]) + 1
redis.call('HSET', KEYS[1], 'v', v, 'd', ARGV[2])
redis.call('PEXPIREAT', KEYS[1], ARGV[3])
return v`)

// Get reads the record: one HMGET.
func (b *Backend) Get(ctx context.Context, key string) ([]byte, uint64, error) {
	vals, err := b.client.HMGet(ctx, b.prefix+key, "v", "d").Result()
	if err != nil {
		return nil, 0, fmt.Errorf("redisstore: get: %w", err)
	}
	vs, ok1 := vals[0].(string)
	d, ok2 := vals[1].(string)
	if !ok1 || !ok2 {
		return nil, 0, serverstore.ErrNotFound
	}
	v, err := strconv.ParseUint(vs, 10, 64)
	if err != nil || v == 0 {
		return nil, 0, fmt.Errorf("redisstore: get: malformed version %q", vs)
	}
	return []byte(d), v, nil
}

// Set writes the record with a version check: one script call.
func (b *Backend) Set(ctx context.Context, key string, blob []byte, version uint64, expires time.Time) (uint64, error) {
	n, err := setScript.Run(ctx, b.client, []string{b.prefix + key},
		strconv.FormatUint(version, 10), blob, expires.UnixMilli()).Int64()
	if err != nil {
		return 0, fmt.Errorf("redisstore: set: %w", err)
	}
	switch n {
	case -1:
		return 0, serverstore.ErrConflict
	case -2:
		return 0, serverstore.ErrNotFound
	}
	return uint64(n), nil
}

// Delete removes the record.
func (b *Backend) Delete(ctx context.Context, key string) error {
	if err := b.client.Del(ctx, b.prefix+key).Err(); err != nil {
		return fmt.Errorf("redisstore: delete: %w", err)
	}
	return nil
}

// Touch moves the expiry without rewriting the record: one PEXPIREAT.
func (b *Backend) Touch(ctx context.Context, key string, expires time.Time) error {
	ok, err := b.client.PExpireAt(ctx, b.prefix+key, expires).Result()
	if err != nil {
		return fmt.Errorf("redisstore: touch: %w", err)
	}
	if !ok {
		return serverstore.ErrNotFound
	}
	return nil
}

// scan yields the full Redis keys under the prefix.
func (b *Backend) scan(ctx context.Context) iter.Seq2[string, error] {
	return func(yield func(string, error) bool) {
		each := func(c redis.Cmdable) error {
			it := c.Scan(ctx, 0, b.prefix+"*", 500).Iterator()
			for it.Next(ctx) {
				if !yield(it.Val(), nil) {
					return errStop
				}
			}
			return it.Err()
		}
		var err error
		if cc, ok := b.client.(*redis.ClusterClient); ok {
			err = cc.ForEachMaster(ctx, func(ctx context.Context, c *redis.Client) error { return each(c) })
		} else {
			err = each(b.client)
		}
		if err != nil && !errors.Is(err, errStop) {
			yield("", fmt.Errorf("redisstore: scan: %w", err))
		}
	}
}

var errStop = errors.New("stop")

// Keys yields the session keys (without the prefix), walking with SCAN.
func (b *Backend) Keys(ctx context.Context) iter.Seq2[string, error] {
	return func(yield func(string, error) bool) {
		for k, err := range b.scan(ctx) {
			if !yield(strings.TrimPrefix(k, b.prefix), err) {
				return
			}
		}
	}
}

// Count counts the sessions, walking with SCAN.
func (b *Backend) Count(ctx context.Context) (int, error) {
	n := 0
	for _, err := range b.scan(ctx) {
		if err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}

// Clear deletes every session under the prefix, walking with SCAN.
func (b *Backend) Clear(ctx context.Context) error {
	for k, err := range b.scan(ctx) {
		if err != nil {
			return err
		}
		if err := b.client.Del(ctx, k).Err(); err != nil {
			return fmt.Errorf("redisstore: clear: %w", err)
		}
	}
	return nil
}
