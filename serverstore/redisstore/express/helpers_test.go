package express_test

import (
	"context"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/crumbs-go/session/internal/leakcheck"
	"github.com/crumbs-go/session/serverstore/redisstore/internal/redistest"
	"github.com/crumbs-go/session/serverstore/storetest"
)

// client connects to the shared server of the tests.
func client(t testing.TB) *redis.Client { return redistest.Client(t) }

var (
	clusterMu  sync.Mutex
	shared     *redistest.Cluster
	clusterErr error
)

// clusterClient connects to a 3+3 Redis Cluster started from redis-server
// on first use, stopped by TestMain.
func clusterClient(t testing.TB) *redis.ClusterClient {
	t.Helper()
	clusterMu.Lock()
	if shared == nil && clusterErr == nil {
		shared, clusterErr = redistest.StartCluster(3, 1)
	}
	cl, err := shared, clusterErr
	clusterMu.Unlock()
	if err != nil {
		storetest.Unavailable(t, "a local Redis Cluster", err)
	}
	c := redis.NewClusterClient(&redis.ClusterOptions{Addrs: cl.Addrs()})
	t.Cleanup(func() { c.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.ForEachShard(ctx, func(ctx context.Context, n *redis.Client) error { return n.Ping(ctx).Err() }); err != nil {
		t.Fatalf("the cluster does not answer: %v", err)
	}
	return c
}

// quiet drops go-redis's own log lines (a stopped node logs thousands of
// refused dials).
type quiet struct{}

func (quiet) Printf(context.Context, string, ...any) {}

func TestMain(m *testing.M) {
	redis.SetLogger(quiet{})
	code := m.Run()
	clusterMu.Lock()
	if shared != nil {
		shared.Stop()
	}
	clusterMu.Unlock()
	os.Exit(leakcheck.Verify(code))
}
