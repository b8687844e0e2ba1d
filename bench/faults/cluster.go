package main

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// redisCluster is a Redis Cluster of the run's own: three masters, each
// with one replica, every node persisting each write before it answers
// (appendfsync always), a master declared failed after 1 s of silence.
type redisCluster struct {
	dir   string
	ports []int
	cmds  map[int]*exec.Cmd
}

// clusterNodeTimeout is the cluster-node-timeout: how long a master may be
// silent before its replica takes over.
const clusterNodeTimeout = time.Second

// errPortTaken: one of the ports tryCluster chose is in use.
var errPortTaken = errors.New("a port is taken")

func startCluster(dir string) (*redisCluster, error) {
	for range 3 { // a port taken meanwhile: again with others
		c, err := tryCluster(dir)
		if !errors.Is(err, errPortTaken) {
			return c, err
		}
	}
	return nil, fmt.Errorf("redis cluster: %w three times", errPortTaken)
}

func tryCluster(dir string) (*redisCluster, error) {
	c := &redisCluster{dir: filepath.Join(dir, "cluster"), cmds: map[int]*exec.Cmd{}}
	// Ports below Linux's range for outgoing connections (32768 and up), the
	// cluster bus's 10000 above each: no dial of the clients while a node is
	// down can take its port (see startPostgres).
	first := 11000 + 10*rand.IntN(100)
	for p := first; p < first+6; p++ {
		for _, q := range []int{p, p + 10000} {
			ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(q))
			if err != nil {
				return nil, errPortTaken
			}
			ln.Close()
		}
		c.ports = append(c.ports, p)
	}
	for _, p := range c.ports {
		if err := c.start(p); err != nil {
			c.stop()
			return nil, err
		}
	}
	create := []string{"--cluster", "create"}
	for _, p := range c.ports {
		create = append(create, "127.0.0.1:"+strconv.Itoa(p))
	}
	create = append(create, "--cluster-replicas", "1", "--cluster-yes")
	if out, err := exec.Command("redis-cli", create...).CombinedOutput(); err != nil {
		c.stop()
		return nil, fmt.Errorf("redis-cli --cluster create: %v\n%s", err, out)
	}
	if err := c.waitWhole(30 * time.Second); err != nil {
		c.stop()
		return nil, err
	}
	return c, nil
}

// start starts (or restarts, on its configuration and append-only file)
// the node on port p.
func (c *redisCluster) start(p int) error {
	ps := strconv.Itoa(p)
	nodeDir := filepath.Join(c.dir, ps)
	if err := exec.Command("mkdir", "-p", nodeDir).Run(); err != nil {
		return err
	}
	cmd := exec.Command("redis-server", "--port", ps, "--bind", "127.0.0.1", "--dir", nodeDir,
		"--appendonly", "yes", "--appendfsync", "always", "--save", "", "--daemonize", "no",
		"--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
		"--cluster-node-timeout", strconv.Itoa(int(clusterNodeTimeout/time.Millisecond)),
		// a replica takes over however long its link was down
		"--cluster-replica-validity-factor", "0",
		// a returning replica's full sync starts at once, not after Redis's
		// default 5 s wait for other replicas to share it
		"--repl-diskless-sync-delay", "0",
		"--logfile", filepath.Join(nodeDir, "log"))
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("redis-server: %v (apt-get install redis-server)", err)
	}
	c.cmds[p] = cmd
	for range 100 {
		if out, err := c.cli(p, "ping"); err == nil && out == "PONG" {
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("redis-server on %d did not start", p)
}

func (c *redisCluster) cli(p int, args ...string) (string, error) {
	out, err := exec.Command("redis-cli", append([]string{"-p", strconv.Itoa(p)}, args...)...).Output()
	return strings.TrimSpace(string(out)), err
}

// url is crumbs' configuration string for the cluster; with wait, every
// write waits for its master's replica (crumbs_wait=1), without which Redis's
// asynchronous replication can lose, in a failover, what the master
// acknowledged in its last moments (redisstore.WithWait).
func (c *redisCluster) url(prefix string, wait bool) string {
	var b strings.Builder
	fmt.Fprintf(&b, "redis://127.0.0.1:%d?", c.ports[0])
	for _, p := range c.ports[1:] {
		fmt.Fprintf(&b, "addr=127.0.0.1:%d&", p)
	}
	if wait {
		b.WriteString("crumbs_wait=1&")
	}
	b.WriteString("crumbs_prefix=" + prefix)
	return b.String()
}

// node is one line of CLUSTER NODES.
type node struct {
	port           int
	master, failed bool
	connected      bool
}

func (c *redisCluster) nodes(from int) ([]node, error) {
	out, err := c.cli(from, "cluster", "nodes")
	if err != nil {
		return nil, err
	}
	var ns []node
	for _, l := range strings.Split(out, "\n") {
		f := strings.Fields(l)
		if len(f) < 8 {
			continue
		}
		hostPort := strings.SplitN(f[1], "@", 2)[0]
		_, ps, _ := net.SplitHostPort(hostPort)
		p, _ := strconv.Atoi(ps)
		ns = append(ns, node{port: p, master: strings.Contains(f[2], "master"),
			failed: strings.Contains(f[2], "fail"), connected: f[7] == "connected"})
	}
	return ns, nil
}

// aMaster returns a master's port, as the first node sees it.
func (c *redisCluster) aMaster() (int, error) {
	ns, err := c.nodes(c.ports[0])
	if err != nil {
		return 0, err
	}
	for _, n := range ns {
		if n.master && !n.failed {
			return n.port, nil
		}
	}
	return 0, errors.New("no master")
}

// kill ends the node on port p with SIGKILL.
func (c *redisCluster) kill(p int) error {
	cmd := c.cmds[p]
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		return err
	}
	cmd.Wait()
	delete(c.cmds, p)
	return nil
}

// waitFailover waits until every running node reports the cluster ok with
// three masters, none of them the dead node on port dead.
func (c *redisCluster) waitFailover(dead int, d time.Duration) error {
	for deadline := time.Now().Add(d); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if c.agree(func(ns []node) bool {
			masters := 0
			for _, n := range ns {
				if n.master && !n.failed && n.connected {
					if n.port == dead {
						return false
					}
					masters++
				}
			}
			return masters == 3
		}) {
			return nil
		}
	}
	return fmt.Errorf("no failover within %v", d)
}

// waitWhole waits until every node reports the cluster ok, three masters
// and three replicas connected, and every replica's link to its master up.
func (c *redisCluster) waitWhole(d time.Duration) error {
	for deadline := time.Now().Add(d); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if !c.agree(func(ns []node) bool {
			masters, replicas := 0, 0
			for _, n := range ns {
				switch {
				case n.failed || !n.connected:
					return false
				case n.master:
					masters++
				default:
					replicas++
				}
			}
			return masters == 3 && replicas == 3
		}) {
			continue
		}
		synced := true
		for _, p := range c.ports {
			info, err := c.cli(p, "info", "replication")
			if err != nil || strings.Contains(info, "role:slave") && !strings.Contains(info, "master_link_status:up") {
				synced = false
			}
		}
		if synced {
			return nil
		}
	}
	return fmt.Errorf("the cluster was not whole within %v", d)
}

// agree reports whether every running node reports cluster_state:ok and a
// table of nodes that ok accepts.
func (c *redisCluster) agree(ok func([]node) bool) bool {
	for p := range c.cmds {
		info, err := c.cli(p, "cluster", "info")
		if err != nil || !strings.Contains(info, "cluster_state:ok") {
			return false
		}
		ns, err := c.nodes(p)
		if err != nil || !ok(ns) {
			return false
		}
	}
	return true
}

func (c *redisCluster) stop() {
	for _, cmd := range c.cmds {
		cmd.Process.Kill()
		cmd.Wait()
	}
}
