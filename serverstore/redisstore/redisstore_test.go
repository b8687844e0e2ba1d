package redisstore_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/crumbs-go/session/serverstore/redisstore"
	"github.com/crumbs-go/session/serverstore/storetest"
)

// addr is the Redis server the tests use: CRUMBS_REDIS_ADDR, or the local one.
func addr() string {
	if a := os.Getenv("CRUMBS_REDIS_ADDR"); a != "" {
		return a
	}
	return "127.0.0.1:6379"
}

// client connects to the test server. Without one it skips, except under
// CI, where a missing service is a failure.
func client(t testing.TB) *redis.Client {
	t.Helper()
	c := redis.NewClient(&redis.Options{Addr: addr()})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := c.Ping(ctx).Err(); err != nil {
		c.Close()
		storetest.Unavailable(t, "Redis at "+addr(), err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// newBackend gives each test its own prefix and deletes what it wrote.
func newBackend(t testing.TB, c redis.UniversalClient) *redisstore.Backend {
	var b [6]byte
	rand.Read(b[:])
	prefix := "crumbs-test:" + hex.EncodeToString(b[:]) + ":"
	be, err := redisstore.New(c, redisstore.WithPrefix(prefix))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { be.Clear(context.Background()) })
	return be
}
