// Command faults takes a store away under HTTP load and checks what the
// users of a crumbs server (bench/loadserver, server mode) see:
//
//	go run ./bench/faults -fault redis-kill
//	go run ./bench/faults -fault cluster-kill
//	go run ./bench/faults -fault pg-stop
//	go run ./bench/faults -fault blackhole
//
// Faults:
//
//	redis-kill  a dedicated redis-server (appendonly yes, appendfsync
//	            always) is killed with SIGKILL, and started again on the
//	            same append-only file after -outage
//	pg-stop     a dedicated PostgreSQL cluster (initdb in a temporary
//	            folder) is stopped in immediate mode (no checkpoint: what a
//	            crash leaves) and started again after -outage
//	cluster-kill  a Redis Cluster of the run's own (three masters, each
//	            with a replica, appendfsync always) loses a master to
//	            SIGKILL; the store is back when the replica took over and
//	            the dead master, restarted, is its replica (crumbs_wait=1:
//	            each write waits for the replica, so until then writes to
//	            its slots fail)
//	blackhole   a TCP proxy between the server and Redis stops forwarding
//	            for -outage: no reset, no refusal, nothing (a host that
//	            vanished); then forwards again
//
// -clients writers each hold a session of their own and, one request
// after another, set its value "n" to 1, 2, 3…; each records the last
// value a 200 acknowledged. Half of them stop as the store comes back, so
// that their last acknowledged value is one the outage answered. The run
// checks, and exits 1 unless:
//
//   - the server never panicked;
//   - every answer outside the outage was 200, every answer in it 200 or a
//     503 from the error handler, none slower than the store's deadline
//     (-store-timeout) and a margin;
//   - the server's goroutines stayed within three per writer of where
//     they started (net/http's two per request in flight, a Redis dialer),
//     with no pile-up, and came back afterwards;
//   - every request that started 1 s or more after the store came back
//     was answered 200 (recovery within 1 s);
//   - every session holds, afterwards, the last value acknowledged to its
//     writer, or a later one that writer sent (nothing acknowledged lost);
//   - the log held the failures, counted (the first error of each kind at
//     once, then its repeats).
//
// It prints its figures as Markdown, for RELIABILITY.md.
package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/crumbs-go/session/bench/internal/harness"
)

type options struct {
	fault        string
	clients      int
	before       time.Duration
	outage       time.Duration
	after        time.Duration
	storeTimeout time.Duration
	redis        string
	printLog     bool
	noWait       bool
}

// A sample is one answered (or failed) request.
type sample struct {
	start, end time.Time
	code       int // 0: no answer
}

type writer struct {
	cookie    string
	sent, ack int
	samples   []sample
}

func main() {
	var o options
	flag.StringVar(&o.fault, "fault", "blackhole", "redis-kill, cluster-kill, pg-stop or blackhole")
	flag.IntVar(&o.clients, "clients", 32, "writers, each with a session of its own")
	flag.DurationVar(&o.before, "before", 2*time.Second, "load before the fault")
	flag.DurationVar(&o.outage, "outage", 5*time.Second, "how long the store is away")
	flag.DurationVar(&o.after, "after", 3*time.Second, "load after the store is back")
	flag.DurationVar(&o.storeTimeout, "store-timeout", 5*time.Second, "the server's WithStoreTimeout")
	flag.BoolVar(&o.noWait, "no-wait", false, "cluster-kill: without crumbs_wait=1 (acknowledged writes can be lost: Redis replicates asynchronously)")
	flag.BoolVar(&o.printLog, "print-log", false, "print the server's log to stderr afterwards")
	flag.StringVar(&o.redis, "redis", "127.0.0.1:6379", "blackhole: the Redis behind the proxy")
	flag.Parse()
	if err := run(o); err != nil {
		fmt.Fprintln(os.Stderr, "faults:", err)
		os.Exit(1)
	}
}

func run(o options) error {
	dir, server, cleanup, err := harness.Setup("faults")
	if err != nil {
		return err
	}
	defer cleanup()

	// The store, and how to take it away and bring it back.
	var storeAddr, storeURL string
	var takeAway, bringBack func() error
	var waitsItself bool     // bringBack waits for the store, -outage unused
	var failoverAt time.Time // cluster-kill: the replica promoted
	var stopAtAway bool      // the even writers stop as the store goes, not as it comes back
	prefix := fmt.Sprintf("crumbs-faults:%d:%d:", time.Now().UnixNano(), rand.Uint32())
	switch o.fault {
	case "redis-kill":
		r, err := startRedis(dir)
		if err != nil {
			return err
		}
		defer r.stop()
		storeAddr = r.addr
		takeAway = r.kill
		bringBack = r.start
	case "pg-stop":
		pg, err := startPostgres(dir)
		if err != nil {
			return err
		}
		defer pg.stop()
		// pg_ctl starts the server in a session of its own: an interrupted
		// run stops it here.
		defer onInterrupt(dir, pg.stop)()
		storeURL = pg.url + "?crumbs_table=crumbs_faults"
		takeAway = pg.stopImmediate
		bringBack = pg.start
	case "cluster-kill":
		c, err := startCluster(dir)
		if err != nil {
			return err
		}
		defer c.stop()
		defer onInterrupt(dir, c.stop)()
		storeURL = c.url(prefix, !o.noWait)
		var victim int
		var restarted chan error // -no-wait: the dead node's restart
		defer func() {
			if restarted != nil {
				<-restarted
			}
		}()
		// The even writers stop as the master is killed, so that their last
		// acknowledged values are the ones a failover could lose; nothing
		// later of theirs overwrites them.
		stopAtAway = true
		takeAway = func() error {
			if victim, err = c.aMaster(); err != nil {
				return err
			}
			return c.kill(victim)
		}
		// The store is back when the replica is promoted; with crumbs_wait=1
		// when, besides, the dead master is back as its replica and in sync
		// (until then a write to its slots misses crumbs_wait's replica). With
		// -no-wait the dead node stays down.
		waitsItself = true
		bringBack = func() error {
			if err := c.waitFailover(victim, 30*time.Second); err != nil {
				return err
			}
			failoverAt = time.Now()
			if o.noWait {
				// The dead node comes back meanwhile, as an operator would
				// bring it (a node left down keeps go-redis's goroutines
				// that dial it), without holding up "back".
				restarted = make(chan error, 1)
				go func() { restarted <- c.start(victim) }()
				return nil
			}
			if err := c.start(victim); err != nil {
				return err
			}
			return c.waitWhole(30 * time.Second)
		}
	case "blackhole":
		p, err := newProxy(o.redis)
		if err != nil {
			return err
		}
		defer p.close()
		storeAddr = p.addr()
		takeAway = func() error { p.hold(true); return nil }
		bringBack = func() error { p.hold(false); return nil }
		defer cleanupRedis(o.redis, prefix)
	default:
		return fmt.Errorf("-fault %q: redis-kill, cluster-kill, pg-stop or blackhole", o.fault)
	}
	if storeURL == "" {
		storeURL = "redis://" + storeAddr + "/0?crumbs_prefix=" + prefix
	}

	addr, err := harness.FreeAddr() // none of the stores' own ports
	if err != nil {
		return err
	}
	srv := exec.Command(server, "-system", "crumbs", "-store", storeURL,
		"-addr", addr, "-log", "-store-timeout", o.storeTimeout.String())
	logFile := filepath.Join(dir, "server.log")
	lf, err := os.Create(logFile)
	if err != nil {
		return err
	}
	srv.Stderr = lf
	if err := srv.Start(); err != nil {
		return err
	}
	defer func() { srv.Process.Kill(); srv.Wait(); lf.Close() }()
	base := "http://" + addr
	if err := harness.WaitUp(base); err != nil {
		return err
	}

	client := &http.Client{Timeout: o.storeTimeout + 10*time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: o.clients}}
	ws := make([]*writer, o.clients)
	for i := range ws {
		res, err := client.Get(base + "/prime")
		if err != nil {
			return err
		}
		io.Copy(io.Discard, res.Body)
		res.Body.Close()
		c := res.Cookies()
		if res.StatusCode != 200 || len(c) == 0 {
			return fmt.Errorf("/prime: %d", res.StatusCode)
		}
		ws[i] = &writer{cookie: c[0].Name + "=" + c[0].Value}
	}
	baseline, err := goroutines(client, base)
	if err != nil {
		return err
	}

	// Load: every writer sets n, one request after another, until stop;
	// the even ones stop when the store comes back (back), so that the
	// last value acknowledged to them is one of the outage's, which no
	// later write of theirs overwrites.
	var stop, back atomic.Bool
	var wg sync.WaitGroup
	for i, w := range ws {
		wg.Go(func() {
			for !stop.Load() && !(i%2 == 0 && back.Load()) {
				w.sent++
				req, _ := http.NewRequest("GET", base+"/put?v="+strconv.Itoa(w.sent), nil)
				req.Header.Set("Cookie", w.cookie)
				s := sample{start: time.Now()}
				res, err := client.Do(req)
				s.end = time.Now()
				if err == nil {
					io.Copy(io.Discard, res.Body)
					res.Body.Close()
					s.code = res.StatusCode
					if s.code == 200 {
						w.ack = w.sent
					}
				}
				w.samples = append(w.samples, s)
			}
		})
	}
	// The server's goroutines, sampled through the run.
	peak := baseline
	var peakStacks string
	var sampling sync.WaitGroup
	sampling.Go(func() {
		for !stop.Load() {
			if n, err := goroutines(client, base); err == nil && n > peak {
				peak = n
				if os.Getenv("CRUMBS_FAULTS_STACKS") != "" {
					if res, err := client.Get(base + "/debug/pprof/goroutine?debug=1"); err == nil {
						b, _ := io.ReadAll(res.Body)
						res.Body.Close()
						peakStacks = string(b)
					}
				}
			}
			time.Sleep(100 * time.Millisecond)
		}
	})

	time.Sleep(o.before)
	if stopAtAway {
		back.Store(true)
	}
	awayAt := time.Now()
	if err := takeAway(); err != nil {
		return err
	}
	if !waitsItself {
		time.Sleep(o.outage)
		back.Store(true)
	}
	if err := bringBack(); err != nil {
		return err
	}
	backAt := time.Now()
	back.Store(true)
	time.Sleep(o.after)
	stop.Store(true)
	wg.Wait()
	sampling.Wait()

	// Afterwards: each session holds what its writer was last told was saved.
	var problems []string
	lost := 0
	for i, w := range ws {
		req, _ := http.NewRequest("GET", base+"/get", nil)
		req.Header.Set("Cookie", w.cookie)
		res, err := client.Do(req)
		if err != nil {
			return err
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		n, _ := strconv.Atoi(strings.TrimSpace(string(b)))
		if res.StatusCode != 200 || n < w.ack || n > w.sent {
			lost++
			problems = append(problems, fmt.Sprintf("session %d: holds n=%s (HTTP %d), the last acknowledged was %d, the last sent %d", i, strings.TrimSpace(string(b)), res.StatusCode, w.ack, w.sent))
		}
	}
	// Goroutines come back once the load ends.
	client.CloseIdleConnections()
	var settled int
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		if settled, err = goroutines(client, base); err != nil {
			return err
		}
		if settled <= baseline+2 || time.Now().After(deadline) {
			break
		}
	}

	// The answers, by phase.
	var total, ok, unavailable, other, none, lateFail int
	var slowest503 time.Duration
	var lastFailEnd time.Time
	recoverBy := backAt.Add(time.Second)
	for _, w := range ws {
		for _, s := range w.samples {
			total++
			inOutage := s.end.After(awayAt) && s.start.Before(recoverBy)
			switch {
			case s.code == 200:
				ok++
			case s.code == 503:
				unavailable++
				slowest503 = max(slowest503, s.end.Sub(s.start))
			case s.code == 0:
				none++
			default:
				other++
			}
			if s.code != 200 {
				lastFailEnd = later(lastFailEnd, s.end)
				if !inOutage {
					lateFail++
				}
			}
		}
	}
	logged, err := os.ReadFile(logFile)
	if err != nil {
		return err
	}
	if o.printLog {
		os.Stderr.Write(logged)
	}
	lines := strings.Count(string(logged), "\n")
	panics := strings.Count(string(logged), "panic")
	errorLines := strings.Count(string(logged), "level=ERROR")

	away := o.outage
	if waitsItself {
		away = backAt.Sub(awayAt).Round(time.Millisecond)
	}
	fmt.Printf("## %s: %v away under %d writers (%s)\n\n", o.fault, away, o.clients, time.Now().UTC().Format("2006-01-02"))
	fmt.Printf("| figure | value |\n|---|---|\n")
	if !failoverAt.IsZero() {
		fmt.Printf("| replica promoted, store back (after the kill) | %v, %v |\n", failoverAt.Sub(awayAt).Round(time.Millisecond), backAt.Sub(awayAt).Round(time.Millisecond))
		fmt.Printf("| last failure after the replica was promoted | %v |\n", max(0, lastFailEnd.Sub(failoverAt)).Round(time.Millisecond))
	}
	fmt.Printf("| requests | %d: %d × 200, %d × 503, %d other, %d unanswered |\n", total, ok, unavailable, other, none)
	fmt.Printf("| non-200 outside the outage (and the 1 s after it) | %d |\n", lateFail)
	fmt.Printf("| slowest 503 | %v (store deadline %v) |\n", slowest503.Round(time.Millisecond), o.storeTimeout)
	fmt.Printf("| last failure after the store came back | %v |\n", max(0, lastFailEnd.Sub(backAt)).Round(time.Millisecond))
	fmt.Printf("| server goroutines: before, peak, after | %d, %d, %d |\n", baseline, peak, settled)
	fmt.Printf("| sessions checked afterwards, acknowledged values lost | %d, %d |\n", len(ws), lost)
	fmt.Printf("| panics | %d |\n", panics)
	fmt.Printf("| log lines (ERROR) for %d failed requests | %d (%d) |\n\n", unavailable+other, lines, errorLines)

	if peakStacks != "" {
		fmt.Fprintf(os.Stderr, "the server's goroutines at the peak:\n%s\n", peakStacks)
	}
	if panics > 0 {
		problems = append(problems, fmt.Sprintf("%d panics in the server's log", panics))
	}
	if other > 0 || none > 0 {
		problems = append(problems, fmt.Sprintf("%d answers other than 200 and 503, %d unanswered", other, none))
	}
	if lateFail > 0 {
		problems = append(problems, fmt.Sprintf("%d failures outside the outage and the second after it", lateFail))
	}
	if slowest503 > o.storeTimeout+time.Second {
		problems = append(problems, fmt.Sprintf("a 503 took %v, past the store deadline %v", slowest503, o.storeTimeout))
	}
	// Per request in flight: net/http's two (its connection's, and the one
	// that watches for the client leaving), and at most one of the Redis
	// client's dialers (go-redis dials for each waiting caller, up to its
	// pool's size). Past that, goroutines pile up.
	if peak > baseline+3*o.clients+8 {
		problems = append(problems, fmt.Sprintf("goroutines piled up: %d at the peak, %d before, %d writers (up to 3 per request in flight)", peak, baseline, o.clients))
	}
	if settled > baseline+2 {
		problems = append(problems, fmt.Sprintf("goroutines leaked: %d after, %d before", settled, baseline))
	}
	if unavailable > 0 && errorLines == 0 {
		problems = append(problems, "the failures reached no log line")
	}
	if unavailable > 0 && errorLines > 10*(1+int((o.before+away+o.after)/(10*time.Second))) {
		problems = append(problems, fmt.Sprintf("%d ERROR lines: the log is not rate-limited", errorLines))
	}
	if ok == 0 || unavailable == 0 && away >= o.storeTimeout {
		problems = append(problems, "the fault did not show: no 503 in an outage longer than the store deadline")
	}
	if len(problems) > 0 {
		return errors.New(strings.Join(problems, "\n"))
	}
	return nil
}

// onInterrupt makes an interrupted run (SIGINT, SIGTERM) call stop and
// remove dir before it exits; the returned func undoes it.
func onInterrupt(dir string, stop func()) func() {
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	go func() {
		if _, ok := <-sig; ok {
			stop()
			os.RemoveAll(dir)
			os.Exit(1)
		}
	}()
	return func() { signal.Stop(sig); close(sig) }
}

func goroutines(c *http.Client, base string) (int, error) {
	m, err := harness.Stats(c, base)
	return int(m["goroutines"]), err
}

// redisServer is a dedicated redis-server that persists every write
// before it answers.
type redisServer struct {
	dir, addr string
	cmd       *exec.Cmd
}

func startRedis(dir string) (*redisServer, error) {
	port := 30000 + rand.IntN(2000)
	r := &redisServer{dir: dir, addr: fmt.Sprintf("127.0.0.1:%d", port)}
	return r, r.start()
}

func (r *redisServer) start() error {
	_, port, _ := net.SplitHostPort(r.addr)
	r.cmd = exec.Command("redis-server", "--port", port, "--bind", "127.0.0.1", "--dir", r.dir,
		"--appendonly", "yes", "--appendfsync", "always", "--save", "", "--daemonize", "no")
	r.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	out, err := r.cmd.StdoutPipe()
	if err != nil {
		return err
	}
	if err := r.cmd.Start(); err != nil {
		return fmt.Errorf("redis-server: %v (apt-get install redis-server)", err)
	}
	ready := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if strings.Contains(sc.Text(), "Ready to accept connections") {
				close(ready)
				break
			}
		}
		io.Copy(io.Discard, out)
	}()
	select {
	case <-ready:
		return nil
	case <-time.After(10 * time.Second):
		return errors.New("redis-server did not start")
	}
}

func (r *redisServer) kill() error {
	if err := r.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		return err
	}
	r.cmd.Wait()
	return nil
}

func (r *redisServer) stop() {
	r.cmd.Process.Kill()
	r.cmd.Wait()
}

// proxy forwards TCP connections to a backend; hold stops it forwarding
// anything, in either direction, without closing a connection.
type proxy struct {
	ln      net.Listener
	backend string
	mu      sync.Mutex
	held    bool
	resume  chan struct{} // closed when hold(false)
	conns   []net.Conn
}

func newProxy(backend string) (*proxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &proxy{ln: ln, backend: backend, resume: make(chan struct{})}
	close(p.resume)
	go p.serve()
	return p, nil
}

func (p *proxy) addr() string { return p.ln.Addr().String() }

func (p *proxy) hold(on bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if on && !p.held {
		p.resume = make(chan struct{})
	}
	if !on && p.held {
		close(p.resume)
	}
	p.held = on
}

// gate blocks while the proxy holds.
func (p *proxy) gate() {
	p.mu.Lock()
	c := p.resume
	p.mu.Unlock()
	<-c
}

func (p *proxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		go func() {
			p.gate() // a connection made during the hold hangs, as a SYN to a vanished host does
			b, err := net.Dial("tcp", p.backend)
			if err != nil {
				c.Close()
				return
			}
			p.mu.Lock()
			p.conns = append(p.conns, c, b)
			p.mu.Unlock()
			go p.pipe(b, c)
			p.pipe(c, b)
		}()
	}
}

func (p *proxy) pipe(dst, src net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		p.gate() // what arrives during the hold is delivered after it, or never
		if n > 0 {
			if _, err := dst.Write(buf[:n]); err != nil {
				break
			}
		}
		if err != nil {
			break
		}
	}
	dst.Close()
	src.Close()
}

func (p *proxy) close() {
	p.hold(false)
	p.ln.Close()
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		c.Close()
	}
}

// cleanupRedis deletes the keys the run stored under prefix.
func cleanupRedis(addr, prefix string) {
	out, err := exec.Command("redis-cli", "-h", strings.Split(addr, ":")[0], "-p", strings.Split(addr, ":")[1], "--scan", "--pattern", prefix+"*").Output()
	if err != nil {
		return
	}
	for _, k := range strings.Fields(string(out)) {
		exec.Command("redis-cli", "-h", strings.Split(addr, ":")[0], "-p", strings.Split(addr, ":")[1], "del", k).Run()
	}
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// postgresServer is a PostgreSQL cluster of the run's own, in a temporary
// folder, run as the user postgres when this runs as root (PostgreSQL
// refuses root).
type postgresServer struct {
	bin, data, url string
	port           int
	asPostgres     bool
}

func startPostgres(dir string) (*postgresServer, error) {
	bins, _ := filepath.Glob("/usr/lib/postgresql/*/bin/pg_ctl")
	if len(bins) == 0 {
		return nil, errors.New("no pg_ctl in /usr/lib/postgresql/*/bin (apt-get install postgresql)")
	}
	// A port below Linux's range for outgoing connections (32768 and up by
	// default): while the cluster is down, the pool's dials go on, and one
	// whose source port were the cluster's would connect to itself and hold
	// the port in TIME-WAIT, so that the restart could not bind it.
	p := &postgresServer{bin: filepath.Dir(bins[len(bins)-1]), data: filepath.Join(dir, "pg"), port: 14000 + rand.IntN(2000), asPostgres: os.Geteuid() == 0}
	p.url = fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres", p.port)
	if err := os.MkdirAll(p.data, 0o700); err != nil {
		return nil, err
	}
	if p.asPostgres {
		os.Chmod(dir, 0o755)
		if out, err := exec.Command("chown", "-R", "postgres", p.data).CombinedOutput(); err != nil {
			return nil, fmt.Errorf("chown: %v: %s", err, out)
		}
	}
	if out, err := p.run("initdb", "-D", p.data, "-A", "trust", "-U", "postgres", "--no-sync").CombinedOutput(); err != nil {
		return nil, fmt.Errorf("initdb: %v: %s", err, out)
	}
	return p, p.start()
}

func (p *postgresServer) run(tool string, args ...string) *exec.Cmd {
	if p.asPostgres {
		return exec.Command("runuser", append([]string{"-u", "postgres", "--", filepath.Join(p.bin, tool)}, args...)...)
	}
	return exec.Command(filepath.Join(p.bin, tool), args...)
}

func (p *postgresServer) start() error {
	opts := fmt.Sprintf("-p %d -k %s -c listen_addresses=127.0.0.1 -c fsync=on", p.port, p.data)
	if out, err := p.run("pg_ctl", "-D", p.data, "-o", opts, "-l", filepath.Join(p.data, "log"), "-w", "start").CombinedOutput(); err != nil {
		return fmt.Errorf("pg_ctl start: %v: %s", err, out)
	}
	return nil
}

// stopImmediate stops the cluster without a checkpoint, as a crash would.
func (p *postgresServer) stopImmediate() error {
	if out, err := p.run("pg_ctl", "-D", p.data, "-m", "immediate", "-w", "stop").CombinedOutput(); err != nil {
		return fmt.Errorf("pg_ctl stop: %v: %s", err, out)
	}
	return nil
}

func (p *postgresServer) stop() { p.run("pg_ctl", "-D", p.data, "-m", "immediate", "-w", "stop").Run() }
