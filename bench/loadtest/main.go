// Command loadtest measures session libraries over real HTTP: for each
// case it starts bench/loadserver with one system after another on one
// CPU (GOMAXPROCS=1, taskset) and drives it with wrk on the other, in one
// run, and prints a table of requests/s, latency percentiles, allocations
// per request and peak RSS, with crumbs' ratios to its peers.
//
//	go run ./bench/loadtest -duration 10s -rounds 3
//
// The cases, each with SMALL and LARGE sessions (internal/fixtures):
//
//	read    a session per connection; each request reads one value
//	change  a session per connection; each request reads one value and
//	        sets it one higher
//	hot     one session shared by every connection; each request reads
//	        one value and sets its connection's own key to the next number
//
// With -check it fails (exit 1) when a crumbs system answers anything but
// 200, loses an acknowledged change of the hot session (each connection's
// key must hold at least the last number a 200 answered; a server store
// must lose no parallel change), or keeps more goroutines after the load
// than before it. It needs wrk
// (Debian's package), and Redis and PostgreSQL for those stores.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"

	"github.com/crumbs-go/session/bench/internal/harness"
)

// A system is one loadserver setup.
type system struct {
	name  string
	args  []string // loadserver's flags, with {prefix} and {table} replaced per run
	redis bool     // keys under {prefix} to delete afterwards
	table bool     // a PostgreSQL table {table} to drop afterwards
	ours  bool     // a crumbs system: -check applies
}

var systems = []system{
	{name: "bare", args: []string{"-system", "bare"}},
	{name: "crumbs-cookie", args: []string{"-system", "crumbs", "-store", "cookie"}, ours: true},
	{name: "crumbs-memory", args: []string{"-system", "crumbs", "-store", "memory"}, ours: true},
	{name: "crumbs-redis", args: []string{"-system", "crumbs", "-store", "redis://{redis}/0?crumbs_prefix={prefix}"}, redis: true, ours: true},
	{name: "crumbs-postgres", args: []string{"-system", "crumbs", "-store", "{postgres}?crumbs_table={table}"}, table: true, ours: true},
	{name: "gorilla", args: []string{"-system", "gorilla"}},
	{name: "scs-memory", args: []string{"-system", "scs-memory"}},
	{name: "scs-redis", args: []string{"-system", "scs-redis", "-redis", "{redis}", "-prefix", "{prefix}"}, redis: true},
}

// ratios are the comparisons the table ends with: crumbs against a peer.
var ratios = [][2]string{
	{"crumbs-cookie", "gorilla"},
	{"crumbs-cookie", "scs-memory"},
	{"crumbs-memory", "scs-memory"},
	{"crumbs-redis", "scs-redis"},
	{"crumbs-cookie", "bare"},
	{"crumbs-memory", "bare"},
}

// result is one run of one system in one case.
type result struct {
	rps                 float64
	p50, p99, p999      time.Duration
	requests, bad       int64 // bad: non-2xx answers and socket errors
	allocs              float64
	rssKB               int64
	lostKeys, leakedGos int
}

type options struct {
	duration    time.Duration
	connections int
	redis       string
	postgres    string
	check       bool
	serverCPU   string
	clientCPU   string
}

func main() {
	var o options
	flag.DurationVar(&o.duration, "duration", 10*time.Second, "how long wrk runs each system in each case")
	rounds := flag.Int("rounds", 1, "runs of each system per case, interleaved; the table gives the median")
	flag.IntVar(&o.connections, "connections", 32, "wrk's connections (and threads: one connection each)")
	cases := flag.String("cases", "read,change,hot", "the cases")
	sizes := flag.String("sizes", "small,large", "the session sizes")
	only := flag.String("systems", "", "a comma-separated subset of the systems (default all)")
	flag.StringVar(&o.redis, "redis", "127.0.0.1:6379", "Redis address")
	flag.StringVar(&o.postgres, "postgres", "postgres://postgres@127.0.0.1:5432/test", "PostgreSQL URL")
	flag.BoolVar(&o.check, "check", false, "fail on a crumbs system's non-200, lost key or leaked goroutine")
	flag.StringVar(&o.serverCPU, "server-cpu", "0", "the CPU the server runs on (taskset), empty for any")
	flag.StringVar(&o.clientCPU, "client-cpu", "1", "the CPU wrk runs on (taskset), empty for any")
	busy := flag.Int("busy", 0, "busy loops pinned to the server's CPU for the whole run: a machine under CPU pressure")
	flag.Parse()
	if runtime.NumCPU() < 2 {
		o.serverCPU, o.clientCPU = "", ""
	}
	if _, err := exec.LookPath("wrk"); err != nil {
		fatal("wrk is not installed: apt-get install wrk")
	}
	chosen := systems
	if *only != "" {
		chosen = nil
		for _, s := range systems {
			if strings.Contains(","+*only+",", ","+s.name+",") {
				chosen = append(chosen, s)
			}
		}
	}

	dir, server, cleanup, err := harness.Setup("loadtest")
	if err != nil {
		fatal(err.Error())
	}
	defer cleanup()
	script := filepath.Join(dir, "load.lua")
	if err := os.WriteFile(script, []byte(luaScript), 0o644); err != nil {
		fatal(err.Error())
	}

	for range *busy {
		hog := exec.Command("sh", "-c", "while :; do :; done")
		if o.serverCPU != "" {
			hog = exec.Command("taskset", "-c", o.serverCPU, "sh", "-c", "while :; do :; done")
		}
		hog.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		if err := hog.Start(); err != nil {
			fatal(err.Error())
		}
		defer func() { hog.Process.Kill(); hog.Wait() }()
	}
	fmt.Printf("# loadtest: %s per run, %d round(s), %d connections, server on CPU %q with GOMAXPROCS=1 (%d busy loops beside it), wrk on CPU %q; %s\n\n",
		o.duration, *rounds, o.connections, o.serverCPU, *busy, o.clientCPU, time.Now().UTC().Format("2006-01-02 15:04 MST"))
	failed := false
	port := 20000 + rand.IntN(10000)
	for _, size := range strings.Split(*sizes, ",") {
		for _, cs := range strings.Split(*cases, ",") {
			runs := map[string][]result{}
			for range *rounds {
				for _, s := range chosen {
					port++
					r, err := run(o, server, dir, script, s, cs, size, port)
					if err != nil {
						fmt.Fprintf(os.Stderr, "%s %s %s: %v\n", s.name, cs, size, err)
						failed = true
						continue
					}
					if o.check && s.ours && (r.bad > 0 || r.lostKeys > 0 || r.leakedGos > 0) {
						fmt.Fprintf(os.Stderr, "FAIL %s %s %s: %d bad answers, %d connections' acknowledged changes lost, %d goroutines leaked\n", s.name, cs, size, r.bad, r.lostKeys, r.leakedGos)
						failed = true
					}
					runs[s.name] = append(runs[s.name], r)
				}
			}
			table(cs, size, chosen, runs)
		}
	}
	if failed {
		os.Exit(1)
	}
}

func fatal(msg string) {
	fmt.Fprintln(os.Stderr, "loadtest:", msg)
	os.Exit(1)
}

// run starts s on port, primes its sessions, runs wrk, and checks what
// the sessions hold afterwards.
func run(o options, server, dir, script string, s system, cs, size string, port int) (result, error) {
	var res result
	tag := fmt.Sprintf("%d_%d", time.Now().UnixNano(), rand.Uint32())
	prefix, table := "crumbs-load:"+tag+":", "crumbs_load_"+tag
	args := make([]string, 0, len(s.args)+6)
	for _, a := range s.args {
		a = strings.NewReplacer("{prefix}", prefix, "{table}", table, "{redis}", o.redis, "{postgres}", o.postgres).Replace(a)
		args = append(args, a)
	}
	addr := "127.0.0.1:" + strconv.Itoa(port)
	args = append(args, "-size", size, "-addr", addr)
	cmd := pinned(o.serverCPU, server, args...)
	cmd.Env = append(os.Environ(), "GOMAXPROCS=1")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		return res, err
	}
	defer func() {
		cmd.Process.Kill()
		cmd.Wait()
		cleanup(o, s, prefix, table)
	}()
	base := "http://" + addr
	if err := harness.WaitUp(base); err != nil {
		return res, fmt.Errorf("%v\n%s", err, stderr.String())
	}
	sessions := o.connections
	if cs == "hot" {
		sessions = 1
	}
	cookies := make([]string, sessions)
	for i := range cookies {
		c, err := prime(base)
		if err != nil {
			return res, err
		}
		cookies[i] = c
	}
	cookieFile := filepath.Join(dir, "cookies")
	if err := os.WriteFile(cookieFile, []byte(strings.Join(cookies, "\n")+"\n"), 0o644); err != nil {
		return res, err
	}
	path := map[string]string{"read": "/read", "change": "/bump", "hot": "/change"}[cs]
	if path == "" {
		return res, fmt.Errorf("no case %q: read, change or hot", cs)
	}
	before, err := stats(base)
	if err != nil {
		return res, err
	}
	n := strconv.Itoa(o.connections)
	if cs == "hot" {
		script = filepath.Join(dir, "hot.lua")
		if err := os.WriteFile(script, []byte(luaScript+luaHot), 0o644); err != nil {
			return res, err
		}
	}
	wrk := pinned(o.clientCPU, "wrk", "-t"+n, "-c"+n, "-d"+o.duration.String(), "--timeout", "10s", "-s", script, base)
	wrk.Env = append(os.Environ(), "CRUMBS_COOKIES="+cookieFile, "CRUMBS_PATH="+path)
	out, err := wrk.CombinedOutput()
	if err != nil {
		return res, fmt.Errorf("wrk: %v\n%s", err, out)
	}
	if err := parse(string(out), &res); err != nil {
		return res, err
	}
	after, err := stats(base)
	if err != nil {
		return res, err
	}
	if d := after["requests"] - before["requests"]; d > 0 {
		res.allocs = float64(after["mallocs"]-before["mallocs"]) / float64(d)
	}
	res.rssKB = harness.PeakRSS(cmd.Process.Pid)
	// wrk closed its connections: their goroutines end, within 3 s.
	for deadline := time.Now().Add(3 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		now, err := stats(base)
		if err != nil {
			return res, err
		}
		res.leakedGos = int(now["goroutines"] - before["goroutines"])
		if res.leakedGos <= 0 || time.Now().After(deadline) {
			res.leakedGos = max(res.leakedGos, 0)
			break
		}
	}
	if cs == "hot" && s.name != "bare" && s.name != "crumbs-cookie" && s.name != "gorilla" {
		// A server store: each connection's key holds at least the last
		// number a 200 answered. (Cookie stores cannot merge parallel
		// changes: each response carries its own cookie.)
		if res.lostKeys, err = lostAcks(base, cookies[0], string(out)); err != nil {
			return res, err
		}
	}
	return res, nil
}

// lostAcks counts the connections whose key holds less than the last
// number a 200 acknowledged (the ACK lines of luaHot's done).
func lostAcks(base, cookie, out string) (int, error) {
	req, _ := http.NewRequest("GET", base+"/values", nil)
	req.Header.Set("Cookie", cookie)
	res, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	defer res.Body.Close()
	var got map[string]int
	if err := json.NewDecoder(res.Body).Decode(&got); err != nil {
		return 0, err
	}
	lost, acks := 0, 0
	for _, l := range strings.Split(out, "\n") {
		f := strings.Fields(l)
		if len(f) != 3 || f[0] != "ACK" {
			continue
		}
		acks++
		k, _ := strconv.Atoi(f[1])
		v, _ := strconv.Atoi(f[2])
		if got["k"+strconv.Itoa(k)] < v {
			lost++
		}
	}
	if acks == 0 {
		return 0, errors.New("wrk printed no ACK line")
	}
	return lost, nil
}

var client = &http.Client{Timeout: 10 * time.Second}

func stats(base string) (map[string]int64, error) { return harness.Stats(client, base) }

// prime starts a session and returns its Cookie header.
func prime(base string) (string, error) {
	res, err := client.Get(base + "/prime")
	if err != nil {
		return "", err
	}
	io.Copy(io.Discard, res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return "", fmt.Errorf("/prime answered %d", res.StatusCode)
	}
	var parts []string
	for _, c := range res.Cookies() {
		if c.MaxAge >= 0 {
			parts = append(parts, c.Name+"="+c.Value)
		}
	}
	if len(parts) == 0 {
		return "", errors.New("/prime set no cookie")
	}
	return strings.Join(parts, "; "), nil
}

// parse reads the line the script's done() prints.
func parse(out string, r *result) error {
	for _, l := range strings.Split(out, "\n") {
		f := strings.Fields(l)
		if len(f) != 8 || f[0] != "CRUMBS" {
			continue
		}
		var v [7]float64
		for i := range v {
			x, err := strconv.ParseFloat(f[i+1], 64)
			if err != nil {
				return fmt.Errorf("wrk's summary %q: %v", l, err)
			}
			v[i] = x
		}
		r.requests = int64(v[0])
		r.rps = v[0] / (v[1] / 1e6)
		r.p50, r.p99, r.p999 = time.Duration(v[2])*time.Microsecond, time.Duration(v[3])*time.Microsecond, time.Duration(v[4])*time.Microsecond
		r.bad = int64(v[5] + v[6])
		return nil
	}
	return fmt.Errorf("no summary in wrk's output:\n%s", out)
}

// luaScript gives each wrk thread (one connection each) a session cookie
// of its own from the file CRUMBS_COOKIES (or all of them the one cookie
// it holds), requests CRUMBS_PATH?k=0…99 in turn, and prints the summary.
const luaScript = `
local cookies = {}
for line in io.lines(os.getenv("CRUMBS_COOKIES")) do
  if line ~= "" then table.insert(cookies, line) end
end
local path = os.getenv("CRUMBS_PATH")
local n = 0
function setup(thread)
  n = n + 1
  thread:set("cookie", cookies[(n - 1) % #cookies + 1])
  thread:set("path", path)
  thread:set("id", n)
end
local i = 0
function init(args)
  wrk.headers["Cookie"] = cookie
end
-- Each thread cycles through the 100 keys from an offset of its own (the
-- threads' math.random would all draw one sequence): a thread that makes
-- 100 requests has set every key.
function request()
  i = i + 1
  return wrk.format("GET", path .. "?k=" .. ((id * 37 + i) % 100))
end
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("CRUMBS %d %d %d %d %d %d %d\n", summary.requests, summary.duration,
    latency:percentile(50), latency:percentile(99), latency:percentile(99.9),
    e.status, e.connect + e.read + e.write + e.timeout))
end
`

// luaHot replaces the request of luaScript for the hot case: each thread
// (one connection) sets its own key k<id> to 1, 2, 3…, remembers the last
// number a 200 answered (one request in flight per connection: responses
// come in order), and done prints it, "ACK id n", for lostAcks.
const luaHot = `
local threads = {}
local setup0 = setup
function setup(thread)
  setup0(thread)
  table.insert(threads, thread)
end
seq, acked = 0, 0 -- globals: done reads acked with thread:get
function request()
  seq = seq + 1
  return wrk.format("GET", path .. "?k=" .. id .. "&v=" .. seq)
end
function response(status, headers, body)
  if status == 200 then acked = seq end
end
local done0 = done
function done(summary, latency, requests)
  done0(summary, latency, requests)
  for _, t in ipairs(threads) do
    io.write(string.format("ACK %d %d\n", t:get("id"), t:get("acked") or 0))
  end
end
`

func median(rs []result, f func(result) float64) float64 {
	v := make([]float64, len(rs))
	for i, r := range rs {
		v[i] = f(r)
	}
	sort.Float64s(v)
	return v[len(v)/2]
}

func table(cs, size string, chosen []system, runs map[string][]result) {
	fmt.Printf("## %s, %s\n\n| system | requests/s | p50 | p99 | p99.9 | allocs/request | peak RSS | non-2xx + errors |\n|---|---|---|---|---|---|---|---|\n", cs, strings.ToUpper(size))
	med := map[string]result{}
	for _, s := range chosen {
		rs := runs[s.name]
		if len(rs) == 0 {
			continue
		}
		m := result{
			rps:    median(rs, func(r result) float64 { return r.rps }),
			p50:    time.Duration(median(rs, func(r result) float64 { return float64(r.p50) })),
			p99:    time.Duration(median(rs, func(r result) float64 { return float64(r.p99) })),
			p999:   time.Duration(median(rs, func(r result) float64 { return float64(r.p999) })),
			allocs: median(rs, func(r result) float64 { return r.allocs }),
			rssKB:  int64(median(rs, func(r result) float64 { return float64(r.rssKB) })),
		}
		for _, r := range rs {
			m.bad += r.bad
		}
		med[s.name] = m
		fmt.Printf("| %s | %.0f | %v | %v | %v | %.1f | %.1f MiB | %d |\n", s.name, m.rps, m.p50, m.p99, m.p999, m.allocs, float64(m.rssKB)/1024, m.bad)
	}
	fmt.Println()
	for _, rt := range ratios {
		a, okA := med[rt[0]]
		b, okB := med[rt[1]]
		if !okA || !okB || b.rps == 0 || b.p99 == 0 {
			continue
		}
		fmt.Printf("- %s / %s: %.2f× the requests/s, %.2f× the p99\n", rt[0], rt[1], a.rps/b.rps, float64(a.p99)/float64(b.p99))
	}
	fmt.Println()
}

// cleanup deletes what a run stored.
func cleanup(o options, s system, prefix, table string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if s.redis {
		c := redis.NewClient(&redis.Options{Addr: o.redis})
		defer c.Close()
		it := c.Scan(ctx, 0, prefix+"*", 1000).Iterator()
		for it.Next(ctx) {
			c.Del(ctx, it.Val())
		}
	}
	if s.table {
		if conn, err := pgx.Connect(ctx, o.postgres); err == nil {
			conn.Exec(ctx, "DROP TABLE IF EXISTS "+pgx.Identifier{table}.Sanitize())
			conn.Close(ctx)
		}
	}
}

// pinned runs name on cpu with taskset, if there is one.
func pinned(cpu, name string, args ...string) *exec.Cmd {
	if cpu == "" {
		return exec.Command(name, args...)
	}
	if _, err := exec.LookPath("taskset"); err != nil {
		return exec.Command(name, args...)
	}
	return exec.Command("taskset", append([]string{"-c", cpu, name}, args...)...)
}
