package redistest

import (
	"context"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// NodeTimeout is the cluster-node-timeout of the clusters StartCluster
// builds, and the down-after-milliseconds of the Sentinel groups: how long
// a master may be silent before failover starts.
const NodeTimeout = time.Second

// A Cluster is a Redis Cluster of masters, each with its replicas.
type Cluster struct {
	Nodes []*Node // every node; the roles change with failovers
	g     *group
}

// StartCluster starts masters*(1+replicas) nodes with cluster-enabled,
// joins them with redis-cli --cluster create, and waits until every node
// reports the cluster ok and every replica is in sync.
func StartCluster(masters, replicas int) (*Cluster, error) {
	if err := Available(); err != nil {
		return nil, err
	}
	var err error
	for range 3 { // a port taken meanwhile: again with others
		var c *Cluster
		if c, err = startCluster(masters, replicas); err == nil {
			return c, nil
		}
	}
	return nil, err
}

func startCluster(masters, replicas int) (*Cluster, error) {
	total := masters * (1 + replicas)
	ports, err := freePorts(total, 10000) // the cluster bus listens on port+10000
	if err != nil {
		return nil, err
	}
	g, err := newGroup("cluster")
	if err != nil {
		return nil, err
	}
	c := &Cluster{g: g}
	for _, p := range ports {
		args := append(common(p),
			"--cluster-enabled", "yes",
			"--cluster-config-file", "nodes-"+strconv.Itoa(p)+".conf",
			"--cluster-node-timeout", strconv.Itoa(int(NodeTimeout/time.Millisecond)),
			// a replica takes over however long its link was down
			"--cluster-replica-validity-factor", "0")
		n, err := g.start(p, args...)
		if err != nil {
			g.stop(false)
			return nil, err
		}
		c.Nodes = append(c.Nodes, n)
	}
	create := []string{"--cluster", "create"}
	for _, n := range c.Nodes {
		create = append(create, n.Addr)
	}
	create = append(create, "--cluster-replicas", strconv.Itoa(replicas), "--cluster-yes")
	if out, err := exec.Command("redis-cli", create...).CombinedOutput(); err != nil {
		g.stop(false)
		return nil, fmt.Errorf("redistest: redis-cli --cluster create: %w\n%s", err, out)
	}
	if err := c.WaitHealthy(30 * time.Second); err != nil {
		g.stop(false)
		return nil, err
	}
	return c, nil
}

// Dir is the cluster's directory: configuration, logs, pids.
func (c *Cluster) Dir() string { return c.g.dir }

// Addrs lists every node's address, for redis.ClusterOptions.
func (c *Cluster) Addrs() []string {
	out := make([]string, len(c.Nodes))
	for i, n := range c.Nodes {
		out[i] = n.Addr
	}
	return out
}

// URL is a configuration string for the cluster: redis://first?addr=…&addr=….
func (c *Cluster) URL() string {
	var b strings.Builder
	b.WriteString("redis://" + c.Nodes[0].Addr + "?")
	for i, n := range c.Nodes[1:] {
		if i > 0 {
			b.WriteString("&")
		}
		b.WriteString("addr=" + n.Addr)
	}
	return b.String()
}

// Node returns the running node at addr, or nil.
func (c *Cluster) Node(addr string) *Node {
	for _, n := range c.Nodes {
		if n.Addr == addr {
			return n
		}
	}
	return nil
}

// shards asks a running node for CLUSTER SHARDS.
func (c *Cluster) shards(ctx context.Context, n *Node) ([]redis.ClusterShard, error) {
	cl := redis.NewClient(&redis.Options{Addr: n.Addr, MaxRetries: -1})
	defer cl.Close()
	return cl.ClusterShards(ctx).Result()
}

// master is the node a shard names as its master, or nil.
func (c *Cluster) master(s redis.ClusterShard) *Node {
	for _, sn := range s.Nodes {
		if sn.Role == "master" {
			return c.Node(fmt.Sprintf("%s:%d", sn.IP, sn.Port))
		}
	}
	return nil
}

// MasterOf returns the node that serves key now, as the running nodes see it.
func (c *Cluster) MasterOf(ctx context.Context, key string) (*Node, error) {
	slot := int64(Slot(key))
	for _, n := range c.Nodes {
		if !n.Alive() {
			continue
		}
		shards, err := c.shards(ctx, n)
		if err != nil {
			continue
		}
		for _, s := range shards {
			for _, r := range s.Slots {
				if slot >= r.Start && slot <= r.End {
					if m := c.master(s); m != nil {
						return m, nil
					}
				}
			}
		}
	}
	return nil, fmt.Errorf("redistest: no running node knows slot %d", slot)
}

// WaitHealthy waits until every running node reports cluster_state:ok, all
// 16384 slots are served by running masters, and every running replica's
// link to its master is up.
func (c *Cluster) WaitHealthy(d time.Duration) error {
	ctx := context.Background()
	return waitFor(d, func() error {
		for _, n := range c.Nodes {
			if !n.Alive() {
				continue
			}
			cl := redis.NewClient(&redis.Options{Addr: n.Addr, MaxRetries: -1})
			info, err := cl.ClusterInfo(ctx).Result()
			if err == nil && !strings.Contains(info, "cluster_state:ok") {
				err = fmt.Errorf("%s: cluster state not ok", n.Addr)
			}
			var repl string
			if err == nil {
				repl, err = cl.Info(ctx, "replication").Result()
			}
			cl.Close()
			var shards []redis.ClusterShard
			if err == nil {
				shards, err = c.shards(ctx, n)
			}
			if err != nil {
				return fmt.Errorf("redistest: %s: %w", n.Addr, err)
			}
			served := int64(0)
			for _, s := range shards {
				if len(s.Slots) == 0 {
					continue
				}
				if m := c.master(s); m == nil || !m.Alive() {
					return fmt.Errorf("redistest: slots %d-%d served by a dead master", s.Slots[0].Start, s.Slots[0].End)
				}
				for _, r := range s.Slots {
					served += r.End - r.Start + 1
				}
			}
			if served != 16384 {
				return fmt.Errorf("redistest: %s sees %d slots served", n.Addr, served)
			}
			if strings.Contains(repl, "role:slave") && !strings.Contains(repl, "master_link_status:up") {
				return fmt.Errorf("redistest: replica %s not in sync", n.Addr)
			}
		}
		return nil
	})
}

// Stop kills every process the cluster started and removes its directory.
func (c *Cluster) Stop() { c.g.stop(false) }

// Slot is the Cluster hash slot of key (CRC16 of the key or its {hash tag},
// modulo 16384).
func Slot(key string) int {
	if i := strings.IndexByte(key, '{'); i >= 0 {
		if j := strings.IndexByte(key[i+1:], '}'); j > 0 {
			key = key[i+1 : i+1+j]
		}
	}
	var crc uint16
	for i := 0; i < len(key); i++ {
		crc ^= uint16(key[i]) << 8
		for range 8 {
			if crc&0x8000 != 0 {
				crc = crc<<1 ^ 0x1021
			} else {
				crc <<= 1
			}
		}
	}
	return int(crc % 16384)
}
