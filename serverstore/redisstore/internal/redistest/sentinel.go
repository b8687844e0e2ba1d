package redistest

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// MasterName is the name the Sentinel groups monitor their master under.
const MasterName = "crumbs"

// A Sentinel is a master, its replicas and three sentinels (redis-server
// --sentinel) that monitor it with a quorum of two.
type Sentinel struct {
	Data      []*Node // the master first, then its replicas; the roles change with failovers
	Sentinels []*Node
	g         *group
}

// StartSentinel starts one master, replicas replicas and three sentinels,
// and waits until every sentinel sees the master, its replicas and the
// other sentinels.
func StartSentinel(replicas int) (*Sentinel, error) {
	if err := Available(); err != nil {
		return nil, err
	}
	var err error
	for range 3 {
		var s *Sentinel
		if s, err = startSentinel(replicas); err == nil {
			return s, nil
		}
	}
	return nil, err
}

func startSentinel(replicas int) (*Sentinel, error) {
	ports, err := freePorts(1+replicas+3, 0)
	if err != nil {
		return nil, err
	}
	g, err := newGroup("sentinel")
	if err != nil {
		return nil, err
	}
	s := &Sentinel{g: g}
	fail := func(err error) (*Sentinel, error) { g.stop(false); return nil, err }
	master := ports[0]
	for i, p := range ports[:1+replicas] {
		args := common(p)
		if i > 0 {
			args = append(args, "--replicaof", "127.0.0.1", strconv.Itoa(master))
		}
		n, err := g.start(p, args...)
		if err != nil {
			return fail(err)
		}
		s.Data = append(s.Data, n)
	}
	for _, p := range ports[1+replicas:] {
		conf := filepath.Join(g.dir, "sentinel-"+strconv.Itoa(p)+".conf")
		text := fmt.Sprintf(`port %d
bind 127.0.0.1
dir %s
logfile %d.log
sentinel monitor %s 127.0.0.1 %d 2
sentinel down-after-milliseconds %[4]s %[6]d
sentinel failover-timeout %[4]s %[7]d
sentinel parallel-syncs %[4]s 1
`, p, g.dir, p, MasterName, master, NodeTimeout.Milliseconds(), 3*NodeTimeout.Milliseconds())
		if err := os.WriteFile(conf, []byte(text), 0o644); err != nil {
			return fail(err)
		}
		n, err := g.start(p, conf, "--sentinel")
		if err != nil {
			return fail(err)
		}
		s.Sentinels = append(s.Sentinels, n)
	}
	if err := s.WaitHealthy(30 * time.Second); err != nil {
		return fail(err)
	}
	return s, nil
}

// Addrs lists the sentinels' addresses, for redis.FailoverOptions.
func (s *Sentinel) Addrs() []string {
	out := make([]string, len(s.Sentinels))
	for i, n := range s.Sentinels {
		out[i] = n.Addr
	}
	return out
}

// URL is a configuration string for the group:
// redis://first-sentinel?master_name=crumbs&addr=….
func (s *Sentinel) URL() string {
	var b strings.Builder
	b.WriteString("redis://" + s.Sentinels[0].Addr + "?master_name=" + MasterName)
	for _, n := range s.Sentinels[1:] {
		b.WriteString("&addr=" + n.Addr)
	}
	return b.String()
}

// Node returns the data node at addr, or nil.
func (s *Sentinel) Node(addr string) *Node {
	for _, n := range s.Data {
		if n.Addr == addr {
			return n
		}
	}
	return nil
}

// Master returns the data node the running sentinels name as master now.
func (s *Sentinel) Master(ctx context.Context) (*Node, error) {
	for _, n := range s.Sentinels {
		if !n.Alive() {
			continue
		}
		c := redis.NewSentinelClient(&redis.Options{Addr: n.Addr, MaxRetries: -1})
		addr, err := c.GetMasterAddrByName(ctx, MasterName).Result()
		c.Close()
		if err == nil && len(addr) == 2 {
			if m := s.Node(addr[0] + ":" + addr[1]); m != nil {
				return m, nil
			}
		}
	}
	return nil, fmt.Errorf("redistest: no sentinel names a known master")
}

// WaitHealthy waits until every running sentinel names the same running
// master, which reports role:master and every running replica connected in
// sync, and knows the other running sentinels.
func (s *Sentinel) WaitHealthy(d time.Duration) error {
	ctx := context.Background()
	return waitFor(d, func() error {
		m, err := s.Master(ctx)
		if err != nil {
			return err
		}
		if !m.Alive() {
			return fmt.Errorf("redistest: the sentinels name a dead master %s", m.Addr)
		}
		sentinels, replicas := 0, 0
		for _, n := range s.Sentinels {
			if n.Alive() {
				sentinels++
			}
		}
		for _, n := range s.Data {
			if n.Alive() && n != m {
				replicas++
			}
		}
		for _, n := range s.Sentinels {
			if !n.Alive() {
				continue
			}
			c := redis.NewSentinelClient(&redis.Options{Addr: n.Addr, MaxRetries: -1})
			info, err := c.Master(ctx, MasterName).Result()
			c.Close()
			if err != nil {
				return err
			}
			if info["ip"]+":"+info["port"] != m.Addr {
				return fmt.Errorf("redistest: sentinel %s names %s:%s", n.Addr, info["ip"], info["port"])
			}
			if strings.Contains(info["flags"], "down") {
				return fmt.Errorf("redistest: sentinel %s sees the master %s", n.Addr, info["flags"])
			}
			if got, _ := strconv.Atoi(info["num-other-sentinels"]); got < sentinels-1 {
				return fmt.Errorf("redistest: sentinel %s knows %d other sentinels", n.Addr, got)
			}
		}
		c := redis.NewClient(&redis.Options{Addr: m.Addr, MaxRetries: -1})
		repl, err := c.Info(ctx, "replication").Result()
		c.Close()
		if err != nil {
			return err
		}
		if !strings.Contains(repl, "role:master") {
			return fmt.Errorf("redistest: %s is not a master yet", m.Addr)
		}
		if got := strings.Count(repl, ",state=online,"); got < replicas {
			return fmt.Errorf("redistest: %d of %d replicas online", got, replicas)
		}
		return nil
	})
}

// Stop kills every process the group started and removes its directory.
func (s *Sentinel) Stop() { s.g.stop(false) }
