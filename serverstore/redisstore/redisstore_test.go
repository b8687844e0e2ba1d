package redisstore_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/crumbs-go/session/serverstore/redisstore"
	"github.com/crumbs-go/session/serverstore/redisstore/internal/redistest"
)

// addr and client are redistest's: the shared server of the tests.
func addr() string { return redistest.Addr() }

func client(t testing.TB) *redis.Client { return redistest.Client(t) }

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
