package redisstore_test

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/crumbs-go/session"
	"github.com/crumbs-go/session/serverstore"
	"github.com/crumbs-go/session/serverstore/redisstore"
	"github.com/crumbs-go/session/serverstore/redisstore/internal/redistest"
	"github.com/crumbs-go/session/serverstore/storetest"
)

// uniquePrefix is a key prefix of the test's own.
func uniquePrefix(t testing.TB) string {
	return "crumbs-test-open:" + strings.ReplaceAll(t.Name(), "/", ".") + ":" + time.Now().Format("150405.000000") + ":"
}

// openAndUse opens a store from config, keeps a session across two
// requests, checks that it landed under prefix on the server c reaches,
// and closes the store: afterwards Ping fails (the client is released).
func openAndUse(t *testing.T, config, prefix string, c redis.UniversalClient) {
	t.Helper()
	t.Cleanup(func() {
		b, _ := redisstore.New(c, redisstore.WithPrefix(prefix))
		b.Clear(context.Background())
	})
	store, err := session.OpenStore(context.Background(), config, secrets)
	if err != nil {
		t.Fatalf("OpenStore(%q): %v", config, err)
	}
	ss := store.(*serverstore.Store)
	if err := ss.Ping(context.Background()); err != nil {
		t.Fatalf("Ping: %v", err)
	}
	m, err := session.New(store, session.WithCookieName("sid"))
	if err != nil {
		t.Fatal(err)
	}
	_, cookie := serve(t, m, "", func(s *session.Session) { s.Set("n", 7) })
	var n int
	serve(t, m, cookie, func(s *session.Session) { n, _ = session.Get[int](s, "n") })
	if n != 7 {
		t.Fatalf("through %q: n = %d, want 7", config, n)
	}
	b, _ := redisstore.New(c, redisstore.WithPrefix(prefix))
	if got, err := b.Count(context.Background()); err != nil || got != 1 {
		t.Fatalf("%d sessions under %q on the topology, %v; want 1", got, prefix, err)
	}
	closer, ok := store.(io.Closer)
	if !ok {
		t.Fatal("the store is not an io.Closer")
	}
	if err := closer.Close(); err != nil {
		t.Fatal(err)
	}
	if err := ss.Ping(context.Background()); err == nil {
		t.Fatal("Ping after Close succeeded: the client was not closed")
	}
}

func TestOpenStoreTopologies(t *testing.T) {
	t.Run("single", func(t *testing.T) {
		c := client(t)
		p := uniquePrefix(t)
		openAndUse(t, "redis://"+addr()+"/0?crumbs_prefix="+p, p, c)
	})
	t.Run("single/prefix-alias", func(t *testing.T) {
		c := client(t)
		p := uniquePrefix(t)
		openAndUse(t, "redis://"+addr()+"/0?prefix="+p+"&dial_timeout=2s", p, c)
	})
	t.Run("cluster", func(t *testing.T) {
		c := clusterClient(t)
		p := uniquePrefix(t)
		openAndUse(t, cluster(t).URL()+"&crumbs_prefix="+p, p, c)
	})
	t.Run("cluster/one-seed", func(t *testing.T) {
		c := clusterClient(t)
		p := uniquePrefix(t)
		openAndUse(t, "redis://"+cluster(t).Nodes[0].Addr+"?crumbs_cluster=true&crumbs_prefix="+p, p, c)
	})
	t.Run("sentinel", func(t *testing.T) {
		c := sentinelClient(t)
		p := uniquePrefix(t)
		openAndUse(t, sentinel(t).URL()+"&crumbs_prefix="+p, p, c)
	})
	t.Run("acl-user", func(t *testing.T) {
		srv, err := redistest.StartServer("--user", "default", "off", "--user", "app", "on", ">s3cret-pw", "~*", "&*", "+@all")
		if err != nil {
			storetest.Unavailable(t, "a local redis-server", err)
		}
		t.Cleanup(srv.Stop)
		c := redis.NewClient(&redis.Options{Addr: srv.Addr, Username: "app", Password: "s3cret-pw"})
		t.Cleanup(func() { c.Close() })
		p := uniquePrefix(t)
		openAndUse(t, "redis://app:s3cret-pw@"+srv.Addr+"/0?crumbs_prefix="+p, p, c)
		// Without the password: a clear error at open, the password never in it.
		_, err = session.OpenStore(context.Background(), "redis://app:wrong-pw@"+srv.Addr+"/0", secrets)
		if err == nil || strings.Contains(err.Error(), "wrong-pw") || !strings.Contains(err.Error(), "did not answer") {
			t.Fatalf("a wrong password: %v", err)
		}
	})
}

func TestOpenStoreErrors(t *testing.T) {
	client(t)
	for _, tc := range []struct{ config, want string }{
		{"redis://" + addr() + "/0?crumbs_prefx=a:", "unknown parameter crumbs_prefx"},
		{"redis://" + addr() + "/0?crumbs_prefix=a*", "without glob characters"},
		{"redis://" + addr() + "/0?crumbs_raw_ids=maybe", "crumbs_raw_ids"},
		{"redis://" + addr() + "/0?crumbs_wait=-1", "crumbs_wait"},
		{"redis://" + addr() + "/0?crumbs_wait=1&crumbs_wait_timeout=0s", "crumbs_wait_timeout"},
		{"redis://" + addr() + "/0?crumbs_open_timeout=soon", "crumbs_open_timeout"},
		{"redis://" + addr() + "/0?no_such_option=1", "no_such_option"},
		{"redis://" + addr() + "/3?addr=" + addr(), "database 0 only"},
		{"redis://" + addr() + "/0?master_name=x&no_such_option=1", "no_such_option"},
		{"redis://" + addr() + "/0?prefix=a:&crumbs_prefix=b:", "not both"},
		{"redis://" + addr() + "/0?crumbs_prefix=a:&crumbs_prefix=b:", "given 2 times"},
		{"redis://" + addr() + "/0?crumbs_wait=1&crumbs_wait_timeout=500us", "1ms or more"},
		{"redis://" + addr() + "/0?crumbs_prefix=a:;b:", "not ';'"}, // url.URL.Query would drop it
		{"redis://" + addr() + "/0?crumbs_format=express", "unknown parameter crumbs_format"},
	} {
		_, err := session.OpenStore(context.Background(), tc.config, secrets)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("OpenStore(%q) = %v, want an error naming %q", tc.config, err, tc.want)
		}
	}
}

// TestOpenStoreErrorsHidePasswords: no error message carries a password,
// whether in the user info or a parameter.
func TestOpenStoreErrorsHidePasswords(t *testing.T) {
	for _, config := range []string{
		"redis://app:s3cret-pw%zz@127.0.0.1:1/0",                                           // not a URL
		"redis://app:s3cret-pw@127.0.0.1:1/0?crumbs_open_timeout=300ms",                    // unreachable
		"redis://127.0.0.1:1/0?master_name=m&password=s3cret-pw&crumbs_open_timeout=300ms", // Sentinel, the master's password
		"redis://:s3cret-pw@127.0.0.1:1/5?addr=127.0.0.1:2",                                // Cluster, database 5
	} {
		_, err := session.OpenStore(context.Background(), config, secrets)
		if err == nil || strings.Contains(err.Error(), "s3cret-pw") {
			t.Errorf("OpenStore(%q) = %v: want an error without the password", config, err)
		}
	}
	// A password with a character that must be percent-encoded: url.Parse
	// splits the string there, and the pieces land in the port, the path,
	// a parameter's name or the fragment, where errors quote them.
	storetest.CheckOpenErrors(t, secrets,
		"redis://app:PW@127.0.0.1:1/0?crumbs_open_timeout=300ms",
		"rediss://app:PW@127.0.0.1:1/0?crumbs_open_timeout=300ms",
		"redis://app:PW@127.0.0.1:1/3?crumbs_cluster=true&crumbs_open_timeout=300ms",
		"redis://127.0.0.1:1/0?master_name=m&password=PW&crumbs_open_timeout=300ms",
	)
}

// TestOpenStoreUnreachable: nobody listens, or a server never answers: the
// open fails within its timeout, with an error that says so.
func TestOpenStoreUnreachable(t *testing.T) {
	start := time.Now()
	_, err := session.OpenStore(context.Background(), "redis://127.0.0.1:1/0", secrets)
	if err == nil || !strings.Contains(err.Error(), "did not answer") {
		t.Fatalf("nobody listening: %v", err)
	}
	if d := time.Since(start); d > redisstore.OpenTimeout+time.Second {
		t.Fatalf("nobody listening: failed after %v", d)
	}
	// A server that accepts and never answers: the open timeout decides.
	p := newProxy(t, "127.0.0.1:1")
	start = time.Now()
	_, err = session.OpenStore(context.Background(), "redis://"+p.ln.Addr().String()+"/0?crumbs_open_timeout=500ms&read_timeout=10s", secrets)
	if err == nil || !strings.Contains(err.Error(), "within 500ms") {
		t.Fatalf("a silent server: %v", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("a silent server with crumbs_open_timeout=500ms: failed after %v", d)
	}
}

// TestWait: with crumbs_wait=1 a save waits for the Sentinel group's
// replica, which then holds it; on a node without replicas every save
// fails with ErrNotReplicated through the error handler (503), which the
// log names.
func TestWait(t *testing.T) {
	sg := sentinel(t)
	c := sentinelClient(t)
	p := uniquePrefix(t)
	t.Cleanup(func() {
		b, _ := redisstore.New(c, redisstore.WithPrefix(p))
		b.Clear(context.Background())
	})
	store, err := session.OpenStore(context.Background(), sg.URL()+"&crumbs_wait=1&crumbs_wait_timeout=1s&crumbs_prefix="+p, secrets)
	if err != nil {
		t.Fatal(err)
	}
	defer store.(io.Closer).Close()
	m, err := session.New(store, session.WithCookieName("sid"))
	if err != nil {
		t.Fatal(err)
	}
	var id string
	w, _ := serve(t, m, "", func(s *session.Session) { s.Set("n", 1); id = s.ID() })
	if w.Code != http.StatusOK {
		t.Fatalf("a save under WAIT with a replica: %d", w.Code)
	}
	// Read from the replica directly, at once: WAIT returned only after
	// it had the write.
	master, err := sg.Master(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range sg.Data {
		if n == master || !n.Alive() {
			continue
		}
		r := redis.NewClient(&redis.Options{Addr: n.Addr})
		defer r.Close()
		key := p + store.(*serverstore.Store).Key(id)
		if got, err := r.Exists(context.Background(), key).Result(); err != nil || got != 1 {
			t.Fatalf("the replica %s has %d keys %q, %v; want the write", n.Addr, got, key, err)
		}
	}

	srv, err := redistest.StartServer()
	if err != nil {
		storetest.Unavailable(t, "a local redis-server", err)
	}
	t.Cleanup(srv.Stop)
	alone, err := session.OpenStore(context.Background(), "redis://"+srv.Addr+"/0?crumbs_wait=1&crumbs_wait_timeout=50ms", secrets)
	if err != nil {
		t.Fatal(err)
	}
	defer alone.(io.Closer).Close()
	var logs lockedBuffer
	m2, err := session.New(alone, session.WithCookieName("sid"), session.WithLogger(newLogger(&logs)))
	if err != nil {
		t.Fatal(err)
	}
	w, _ = serve(t, m2, "", func(s *session.Session) { s.Set("n", 1) })
	if w.Code != http.StatusServiceUnavailable {
		t.Fatalf("a save that no replica acknowledged: %d, want 503", w.Code)
	}
	if logs.count("did not reach enough replicas") == 0 {
		t.Fatalf("the log does not say why:\n%s", logs.b.String())
	}
}
