package redisstore_test

import (
	"context"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/crumbs-go/session/cookiestore"
	"github.com/crumbs-go/session/internal/leakcheck"
	"github.com/crumbs-go/session/serverstore"
	"github.com/crumbs-go/session/serverstore/redisstore/internal/redistest"
	"github.com/crumbs-go/session/serverstore/storetest"
)

// The topologies every test of this file runs on: the machine's single
// node, and a Cluster and a Sentinel group the tests start themselves
// (shared by the tests that leave them intact; failover tests start their
// own).
var (
	sharedMu      sync.Mutex
	sharedCluster *redistest.Cluster
	clusterErr    error
	sharedSent    *redistest.Sentinel
	sentErr       error
)

// quiet drops go-redis's own log lines (a failover test provokes
// thousands of refused dials); the failures the tests care about reach
// the Manager's logger.
type quiet struct{}

func (quiet) Printf(context.Context, string, ...any) {}

func TestMain(m *testing.M) {
	redis.SetLogger(quiet{})
	code := m.Run()
	sharedMu.Lock()
	if sharedCluster != nil {
		sharedCluster.Stop()
	}
	if sharedSent != nil {
		sharedSent.Stop()
	}
	sharedMu.Unlock()
	os.Exit(leakcheck.Verify(code))
}

// cluster returns the shared 3+3 cluster, started on first use.
func cluster(t testing.TB) *redistest.Cluster {
	t.Helper()
	sharedMu.Lock()
	defer sharedMu.Unlock()
	if sharedCluster == nil && clusterErr == nil {
		sharedCluster, clusterErr = redistest.StartCluster(3, 1)
	}
	if clusterErr != nil {
		storetest.Unavailable(t, "a local Redis Cluster", clusterErr)
	}
	return sharedCluster
}

// clusterClient connects to the shared cluster.
func clusterClient(t testing.TB) *redis.ClusterClient {
	c := redis.NewClusterClient(&redis.ClusterOptions{Addrs: cluster(t).Addrs()})
	t.Cleanup(func() { c.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.ForEachShard(ctx, func(ctx context.Context, n *redis.Client) error { return n.Ping(ctx).Err() }); err != nil {
		t.Fatalf("the cluster does not answer: %v", err)
	}
	return c
}

// sentinel returns the shared Sentinel group (a master, a replica, three
// sentinels), started on first use.
func sentinel(t testing.TB) *redistest.Sentinel {
	t.Helper()
	sharedMu.Lock()
	defer sharedMu.Unlock()
	if sharedSent == nil && sentErr == nil {
		sharedSent, sentErr = redistest.StartSentinel(1)
	}
	if sentErr != nil {
		storetest.Unavailable(t, "a local Redis Sentinel group", sentErr)
	}
	return sharedSent
}

// sentinelClient connects to the shared group's master through its sentinels.
func sentinelClient(t testing.TB) *redis.Client {
	c := redis.NewFailoverClient(&redis.FailoverOptions{MasterName: redistest.MasterName, SentinelAddrs: sentinel(t).Addrs()})
	t.Cleanup(func() { c.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.Ping(ctx).Err(); err != nil {
		t.Fatalf("the Sentinel group's master does not answer: %v", err)
	}
	return c
}

type topology struct {
	name   string
	client func(t testing.TB) redis.UniversalClient
}

var topologies = []topology{
	{"single", func(t testing.TB) redis.UniversalClient { return client(t) }},
	{"cluster", func(t testing.TB) redis.UniversalClient { return clusterClient(t) }},
	{"sentinel", func(t testing.TB) redis.UniversalClient { return sentinelClient(t) }},
}

// TestConformance runs the whole storetest suite, the Manager-level
// session tests included, on every topology.
func TestConformance(t *testing.T) {
	for _, tp := range topologies {
		t.Run(tp.name, func(t *testing.T) {
			c := tp.client(t)
			storetest.Run(t, func(t *testing.T) serverstore.Backend { return newBackend(t, c) })
		})
	}
}

// TestSpill runs the spill-over store over Redis (single node): its moves
// between the cookie and the record, and the Manager-level scenarios with
// every session on the server.
func TestSpill(t *testing.T) {
	c := client(t)
	storetest.RunSpill(t, func(t *testing.T) serverstore.Backend { return newBackend(t, c) }, cookiestore.WithSpillAt(0))
}
