// Package redistest starts Redis topologies for tests from the installed
// redis-server: a Redis Cluster of masters and replicas, and a Sentinel
// group (a master, a replica and three sentinels). Each topology listens
// on free 127.0.0.1 ports found at start, lives in a directory of its own
// (configuration, logs and a pids file listing the processes it started),
// and Stop kills exactly those processes. On Linux the processes also die
// with the test binary that started them (a fuzz worker killed at its time
// limit leaves none behind).
package redistest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// A Node is one redis-server process.
type Node struct {
	Addr string // 127.0.0.1:port
	Port int
	Log  string // its log file

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
}

// PID is the node's process ID.
func (n *Node) PID() int { return n.cmd.Process.Pid }

// Kill ends the node with SIGKILL (no shutdown, no save: a crash) and
// waits for it to exit. Killing a dead node does nothing.
func (n *Node) Kill() {
	n.mu.Lock()
	defer n.mu.Unlock()
	select {
	case <-n.done:
		return
	default:
	}
	n.cmd.Process.Kill()
	<-n.done
}

// Alive reports whether the process is still running.
func (n *Node) Alive() bool {
	select {
	case <-n.done:
		return false
	default:
		return true
	}
}

// Available reports why redis-server and redis-cli cannot be run, or nil.
func Available() error {
	for _, bin := range []string{"redis-server", "redis-cli"} {
		if _, err := exec.LookPath(bin); err != nil {
			return fmt.Errorf("redistest: %s is not installed (apt-get install redis-server): %w", bin, err)
		}
	}
	return nil
}

// freePorts finds n ports free on 127.0.0.1 whose port+offset is free too
// (offset 0: no second port).
func freePorts(n, offset int) ([]int, error) {
	var ports []int
	var held []net.Listener
	defer func() {
		for _, l := range held {
			l.Close()
		}
	}()
	for tries := 0; len(ports) < n; tries++ {
		if tries > 100*n {
			return nil, errors.New("redistest: no free ports")
		}
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		p := l.Addr().(*net.TCPAddr).Port
		if offset != 0 {
			if p+offset > 65535 {
				l.Close()
				continue
			}
			l2, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p+offset))
			if err != nil {
				l.Close()
				continue
			}
			held = append(held, l2)
		}
		held = append(held, l)
		ports = append(ports, p)
	}
	return ports, nil
}

// group is the processes of one topology and their directory.
type group struct {
	dir   string
	mu    sync.Mutex
	nodes []*Node
}

func newGroup(kind string) (*group, error) {
	dir, err := os.MkdirTemp("", "crumbs-"+kind+"-")
	if err != nil {
		return nil, err
	}
	return &group{dir: dir}, nil
}

// start runs redis-server with args, writes its PID to the pids file, and
// waits until it answers PING.
func (g *group) start(port int, args ...string) (*Node, error) {
	n := &Node{Addr: "127.0.0.1:" + strconv.Itoa(port), Port: port, done: make(chan struct{}),
		Log: filepath.Join(g.dir, strconv.Itoa(port)+".log")}
	n.cmd = exec.Command("redis-server", args...)
	n.cmd.Dir = g.dir
	n.cmd.SysProcAttr = sysProcAttr()
	if err := n.cmd.Start(); err != nil {
		return nil, fmt.Errorf("redistest: start redis-server: %w", err)
	}
	go func() { n.cmd.Wait(); close(n.done) }()
	g.mu.Lock()
	g.nodes = append(g.nodes, n)
	f, err := os.OpenFile(filepath.Join(g.dir, "pids"), os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err == nil {
		fmt.Fprintf(f, "%d %s\n", n.PID(), n.Addr)
		f.Close()
	}
	g.mu.Unlock()
	c := redis.NewClient(&redis.Options{Addr: n.Addr, MaxRetries: -1})
	defer c.Close()
	if err := waitFor(10*time.Second, func() error {
		if !n.Alive() {
			return errDead
		}
		// Our process, not another that took the port first: its INFO
		// names our PID.
		info, err := c.Info(context.Background(), "server").Result()
		var reply redis.Error // NOAUTH and the like: it answers
		if errors.As(err, &reply) {
			return nil
		}
		if err == nil && !strings.Contains(info, "process_id:"+strconv.Itoa(n.PID())+"\r") {
			return errDead // the port belongs to another server; ours will exit
		}
		return err
	}); err != nil {
		log, _ := os.ReadFile(n.Log)
		return nil, fmt.Errorf("redistest: redis-server on %s did not answer: %w\n%s", n.Addr, err, tail(log))
	}
	return n, nil
}

var errDead = errors.New("the process exited")

// stop kills every process of the group and removes its directory unless
// keep (a failed start leaves its logs for the error message to name).
func (g *group) stop(keep bool) {
	g.mu.Lock()
	nodes := g.nodes
	g.mu.Unlock()
	for _, n := range nodes {
		n.Kill()
	}
	if !keep {
		os.RemoveAll(g.dir)
	}
}

// waitFor calls f until it returns nil (or errDead), at most d.
func waitFor(d time.Duration, f func() error) error {
	deadline := time.Now().Add(d)
	for {
		err := f()
		if err == nil || errors.Is(err, errDead) {
			return err
		}
		if time.Now().After(deadline) {
			return err
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func tail(b []byte) string {
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) > 15 {
		lines = lines[len(lines)-15:]
	}
	return strings.Join(lines, "\n")
}

// common are the settings every node gets: nothing persisted, fast
// replication, local only.
func common(port int) []string {
	return []string{
		"--port", strconv.Itoa(port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no",
		"--repl-diskless-sync", "yes", "--repl-diskless-sync-delay", "0",
		"--logfile", strconv.Itoa(port) + ".log",
	}
}

// A Server is one standalone redis-server.
type Server struct {
	*Node
	g *group
}

// StartServer starts a standalone redis-server on a free port with the
// common settings and extra arguments (such as "--user", "app on >pw ~* +@all").
func StartServer(extra ...string) (*Server, error) {
	if err := Available(); err != nil {
		return nil, err
	}
	var err error
	for range 3 {
		var ports []int
		if ports, err = freePorts(1, 0); err != nil {
			return nil, err
		}
		var g *group
		if g, err = newGroup("server"); err != nil {
			return nil, err
		}
		var n *Node
		if n, err = g.start(ports[0], append(common(ports[0]), extra...)...); err == nil {
			return &Server{Node: n, g: g}, nil
		}
		g.stop(false)
	}
	return nil, err
}

// Stop kills the server and removes its directory.
func (s *Server) Stop() { s.g.stop(false) }
