package redistest

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/crumbs-go/session/serverstore/storetest"
)

// Addr is the shared Redis server the tests use: CRUMBS_REDIS_ADDR, or the
// local one.
func Addr() string {
	if a := os.Getenv("CRUMBS_REDIS_ADDR"); a != "" {
		return a
	}
	return "127.0.0.1:6379"
}

// Client connects to the shared server, closed when the test ends.
// Without a server it skips, except under CI, where a missing service is a
// failure.
func Client(t testing.TB) *redis.Client {
	t.Helper()
	c := redis.NewClient(&redis.Options{Addr: Addr()})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := c.Ping(ctx).Err(); err != nil {
		c.Close()
		storetest.Unavailable(t, "Redis at "+Addr(), err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}
