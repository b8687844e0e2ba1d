package redisstore_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/crumbs-go/session"
	"github.com/crumbs-go/session/serverstore"
	"github.com/crumbs-go/session/serverstore/redisstore/internal/redistest"
	"github.com/crumbs-go/session/serverstore/storetest"
)

// lossWindow bounds what a failover may lose without WAIT: only writes
// acknowledged this long before the master was killed (replication is
// asynchronous; on one machine a replica trails its master by well under a
// millisecond, so this is generous).
const lossWindow = 500 * time.Millisecond

// failoverApp is a real HTTP server over a Redis-backed Manager whose
// handler sets one key per request and lists the keys; panics are counted,
// not hidden.
type failoverApp struct {
	srv     *httptest.Server
	store   *serverstore.Store
	backend interface{ Prefix() string }
	mu      sync.Mutex
	panics  int
	handled int // failures the error handler answered
	logged  lockedBuffer
}

func newLogger(w io.Writer) *slog.Logger { return slog.New(slog.NewTextHandler(w, nil)) }

// lockedBuffer is an io.Writer safe for concurrent use.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) count(s string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return bytes.Count(l.b.Bytes(), []byte(s))
}

func newFailoverApp(t *testing.T, c redis.UniversalClient) *failoverApp {
	b := newBackend(t, c)
	store, err := serverstore.New(b, secrets)
	if err != nil {
		t.Fatal(err)
	}
	a := &failoverApp{store: store, backend: b}
	// The failures reach the error handler, counted here, and the log
	// (what an operator sees: the first of each kind, then the counts).
	m, err := session.New(store, session.WithCookieName("sid"),
		session.WithLogger(newLogger(&a.logged)),
		session.WithErrorHandler(func(w http.ResponseWriter, r *http.Request, err error) {
			a.mu.Lock()
			a.handled++
			a.mu.Unlock()
			http.Error(w, "unavailable", http.StatusServiceUnavailable)
		}))
	if err != nil {
		t.Fatal(err)
	}
	h := m.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s := session.From(r)
		if k := r.URL.Query().Get("set"); k != "" {
			s.Set(k, true)
		}
		keys := s.Keys()
		slices.Sort(keys)
		w.Header().Set("X-Session-ID", s.ID())
		json.NewEncoder(w).Encode(keys)
	}))
	a.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if p := recover(); p != nil {
				a.mu.Lock()
				a.panics++
				a.mu.Unlock()
				panic(p)
			}
		}()
		h.ServeHTTP(w, r)
	}))
	return a
}

// browser is one client with its cookie.
type browser struct {
	app    *failoverApp
	client *http.Client
	cookie string
	id     string
}

type ack struct {
	key  string
	at   time.Time
	code int
}

func (b *browser) get(query string) (int, []string, error) {
	req, _ := http.NewRequest("GET", b.app.srv.URL+"/?"+query, nil)
	if b.cookie != "" {
		req.Header.Set("Cookie", b.cookie)
	}
	resp, err := b.client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return resp.StatusCode, nil, nil
	}
	for _, c := range resp.Cookies() {
		if c.Name == "sid" && c.MaxAge >= 0 {
			b.cookie = "sid=" + c.Value
		}
	}
	if id := resp.Header.Get("X-Session-ID"); id != "" {
		b.id = id
	}
	var keys []string
	if err := json.Unmarshal(body, &keys); err != nil {
		return resp.StatusCode, nil, fmt.Errorf("body %q: %v", body, err)
	}
	return resp.StatusCode, keys, nil
}

// testFailover runs requests from several browsers while kill ends a
// master, and checks: every response is 200 or 503, nothing panics, every
// browser gets 200s again without a restart, a write acknowledged earlier
// than lossWindow before the kill is never lost (nor any acknowledged
// after it), and no goroutine outlives the app.
func testFailover(t *testing.T, newClient func() redis.UniversalClient, victim func(a *failoverApp, ids []string) *redistest.Node, healed func() error, promoted func() bool) {
	// The goroutines before the app, less the one that waits for the
	// process the test kills.
	baseline := runtime.NumGoroutine() - 1
	c := newClient()
	a := newFailoverApp(t, c)
	const browsers = 12
	bs := make([]*browser, browsers)
	for i := range bs {
		bs[i] = &browser{app: a, client: &http.Client{Timeout: 20 * time.Second}}
		if code, _, err := bs[i].get("set=w0"); code != 200 || err != nil {
			t.Fatalf("before the failover: %d, %v", code, err)
		}
	}
	ids := make([]string, browsers)
	for i, b := range bs {
		ids[i] = b.id
	}
	time.Sleep(200 * time.Millisecond) // w0 replicated

	var killedAt time.Time
	stop := make(chan struct{})
	acks := make([][]ack, browsers)
	var acksMu sync.Mutex
	var wg sync.WaitGroup
	for i, b := range bs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for seq := 1; ; seq++ {
				select {
				case <-stop:
					return
				default:
				}
				k := "w" + strconv.Itoa(seq)
				code, _, err := b.get("set=" + k)
				if err != nil {
					t.Errorf("browser %d: %v", i, err)
					return
				}
				acksMu.Lock()
				acks[i] = append(acks[i], ack{key: k, at: time.Now(), code: code})
				acksMu.Unlock()
				time.Sleep(5 * time.Millisecond)
			}
		}()
	}
	time.Sleep(time.Second)
	n := victim(a, ids)
	killedAt = time.Now()
	n.Kill()
	deadAt := time.Now() // the process is gone: nothing it acknowledged comes later
	t.Logf("killed %s (pid %d)", n.Addr, n.PID())
	if promoted != nil {
		var watch sync.WaitGroup
		defer watch.Wait()
		watch.Add(1)
		go func() {
			defer watch.Done()
			for time.Since(killedAt) < 60*time.Second {
				select {
				case <-stop:
					return
				default:
				}
				if promoted() {
					t.Logf("the topology promoted a replica %v after the kill", time.Since(killedAt).Round(time.Millisecond))
					return
				}
				time.Sleep(20 * time.Millisecond)
			}
		}()
	}

	// Wait until every browser has been answered 200 for a second in a
	// row after its last failure, 60 s at most.
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		time.Sleep(200 * time.Millisecond)
		acksMu.Lock()
		ok := recovered(acks, killedAt)
		acksMu.Unlock()
		if ok {
			break
		}
	}
	close(stop)
	wg.Wait()
	if !recovered(acks, killedAt) {
		t.Fatalf("the sessions did not recover within 60 s of the kill")
	}
	recoverBy := 10 * time.Second // the topology promotes a replica within about 3 s
	if err := healed(); err != nil {
		t.Errorf("the topology did not heal after the failover: %v", err)
	}

	counts := map[string]int{}
	var recovery time.Duration
	for i, list := range acks {
		var lastFail time.Time
		for _, x := range list {
			phase := "before"
			if x.at.After(killedAt) {
				phase = "after"
			}
			counts[phase+" "+strconv.Itoa(x.code)]++
			if x.code != 200 && x.code != 503 {
				t.Errorf("browser %d, %s: HTTP %d, want 200 or 503", i, x.key, x.code)
			}
			if x.code != 200 {
				lastFail = x.at
			}
		}
		if d := lastFail.Sub(killedAt); !lastFail.IsZero() && d > recovery {
			recovery = d
		}
	}
	if os.Getenv("CRUMBS_FAILOVER_LOG") != "" {
		a.logged.mu.Lock()
		lines := strings.Split(a.logged.b.String(), "\n")
		a.logged.mu.Unlock()
		for _, l := range lines[max(0, len(lines)-8):] {
			t.Log(l)
		}
	}
	t.Logf("responses: %v; the last failure came %v after the kill", counts, recovery.Round(time.Millisecond))
	if recovery > recoverBy {
		t.Errorf("the last failure came %v after the kill, want %v at most", recovery.Round(time.Millisecond), recoverBy)
	}
	a.mu.Lock()
	handled := a.handled
	a.mu.Unlock()
	if fails := counts["after 503"]; handled < fails {
		t.Errorf("%d responses were 503 but the error handler saw only %d failures", fails, handled)
	} else if logged := a.logged.count("session store failed"); fails > 0 && logged == 0 {
		t.Errorf("%d responses were 503 but the log holds no failure", fails)
	}

	lost := 0
	for i, b := range bs {
		code, keys, err := b.get("")
		if code != 200 || err != nil {
			t.Fatalf("browser %d after the failover: %d, %v", i, code, err)
		}
		if b.id != ids[i] {
			t.Errorf("browser %d: the session ID changed from %s to %s: the session was lost", i, ids[i], b.id)
		}
		have := map[string]bool{}
		for _, k := range keys {
			have[k] = true
		}
		for _, x := range acks[i] {
			if x.code != 200 || have[x.key] {
				continue
			}
			lost++
			if x.at.Before(killedAt.Add(-lossWindow)) || x.at.After(deadAt) {
				t.Errorf("browser %d: %s, acknowledged %v before the kill, is lost", i, x.key, killedAt.Sub(x.at))
			}
		}
	}
	t.Logf("acknowledged writes lost: %d (each within %v before the kill)", lost, lossWindow)
	if a.panics != 0 {
		t.Errorf("%d handlers panicked", a.panics)
	}

	a.srv.Close()
	c.Close()
	for _, b := range bs {
		b.client.CloseIdleConnections()
	}
	var now int
	for range 100 {
		if now = runtime.NumGoroutine(); now <= baseline {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if now > baseline {
		buf := make([]byte, 1<<20)
		t.Errorf("%d goroutines before the app, %d after it closed:\n%s", baseline, now, buf[:runtime.Stack(buf, true)])
	}
}

// recovered: every browser's last second of requests after the kill, and
// at least one, answered 200.
func recovered(acks [][]ack, killedAt time.Time) bool {
	now := time.Now()
	for i := range acks {
		list := acks[i]
		ok := false
		for j := len(list) - 1; j >= 0; j-- {
			x := list[j]
			if x.at.Before(killedAt) {
				break
			}
			if x.code != 200 {
				ok = false
				break
			}
			if now.Sub(x.at) >= time.Second {
				ok = true
				break
			}
		}
		if !ok {
			return false
		}
	}
	return true
}

// TestClusterFailover kills, by its PID, a master that serves sessions
// while requests flow; its replica takes over.
func TestClusterFailover(t *testing.T) {
	cl, err := redistest.StartCluster(3, 1)
	if err != nil {
		storetest.Unavailable(t, "a local Redis Cluster", err)
	}
	t.Cleanup(cl.Stop)
	var key string
	testFailover(t, func() redis.UniversalClient {
		return redis.NewClusterClient(&redis.ClusterOptions{Addrs: cl.Addrs()})
	}, func(a *failoverApp, ids []string) *redistest.Node {
		key = a.backend.Prefix() + a.store.Key(ids[0])
		n, err := cl.MasterOf(context.Background(), key)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}, func() error { return cl.WaitHealthy(10 * time.Second) }, func() bool {
		n, err := cl.MasterOf(context.Background(), key)
		return err == nil && n.Alive()
	})
}

// TestSentinelFailover kills the master of a Sentinel group while requests
// flow; the sentinels promote the replica.
func TestSentinelFailover(t *testing.T) {
	sg, err := redistest.StartSentinel(1)
	if err != nil {
		storetest.Unavailable(t, "a local Redis Sentinel group", err)
	}
	t.Cleanup(sg.Stop)
	testFailover(t, func() redis.UniversalClient {
		return redis.NewFailoverClient(&redis.FailoverOptions{MasterName: redistest.MasterName, SentinelAddrs: sg.Addrs()})
	}, func(*failoverApp, []string) *redistest.Node {
		n, err := sg.Master(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		return n
	}, func() error { return sg.WaitHealthy(10 * time.Second) }, func() bool {
		n, err := sg.Master(context.Background())
		return err == nil && n.Alive()
	})
}
