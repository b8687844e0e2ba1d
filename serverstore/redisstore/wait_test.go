package redisstore_test

import (
	"context"
	"io"
	"net/http"
	"strconv"
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

// retireDeleteWaiting sends Retire and Delete through a Backend with
// WithWait and everything else through one without: a replica slow only
// at a login's or a logout's step.
type retireDeleteWaiting struct {
	*redisstore.Backend
	waiting *redisstore.Backend
}

func (r retireDeleteWaiting) Retire(ctx context.Context, key, next string, until time.Time) (*serverstore.Entry, error) {
	return r.waiting.Retire(ctx, key, next, until)
}

func (r retireDeleteWaiting) Delete(ctx context.Context, key string) (string, error) {
	return r.waiting.Delete(ctx, key)
}

// TestWaitShortfallOnLoginAndLogout: a login and a logout whose step no
// replica confirmed in time still take effect as a whole: the login's
// response carries the new cookie with the values, the logout ends the
// login's session too (the retired ID's successor is not lost).
func TestWaitShortfallOnLoginAndLogout(t *testing.T) {
	srv, err := redistest.StartServer()
	if err != nil {
		storetest.Unavailable(t, "a local redis-server", err)
	}
	t.Cleanup(srv.Stop)
	c := redis.NewClient(&redis.Options{Addr: srv.Addr})
	t.Cleanup(func() { c.Close() })
	plain, err := redisstore.New(c, redisstore.WithPrefix("w:"))
	if err != nil {
		t.Fatal(err)
	}
	waiting, err := redisstore.New(c, redisstore.WithPrefix("w:"), redisstore.WithWait(1, 20*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	store, err := serverstore.New(retireDeleteWaiting{plain, waiting}, secrets)
	if err != nil {
		t.Fatal(err)
	}
	m, err := session.New(store, session.WithCookieName("sid"), session.WithLogger(newLogger(io.Discard)))
	if err != nil {
		t.Fatal(err)
	}
	_, before := serve(t, m, "", func(s *session.Session) { s.Set("cart", 3) })
	w, after := serve(t, m, before, func(s *session.Session) { s.Regenerate(true); s.Set("user", "ada") })
	if w.Code != http.StatusOK || after == before {
		t.Fatalf("the login answered %d, new cookie %t; want 200 and a new cookie", w.Code, after != before)
	}
	var cart int
	serve(t, m, after, func(s *session.Session) { cart, _ = session.Get[int](s, "cart") })
	if cart != 3 {
		t.Fatalf("after the login the cart is %d, want 3", cart)
	}
	if w, _ = serve(t, m, before, func(s *session.Session) { s.Destroy() }); w.Code != http.StatusOK {
		t.Fatalf("a logout through the old cookie answered %d", w.Code)
	}
	var user string
	serve(t, m, after, func(s *session.Session) { user, _ = session.Get[string](s, "user") })
	if user != "" {
		t.Fatal("the logout through the old cookie left the login's session alive")
	}
	if n, _ := plain.Count(context.Background()); n != 0 {
		t.Fatalf("%d sessions left after the logout", n)
	}
}

// TestWaitOnCluster: crumbs_wait=1 on a Cluster saves through the key's
// master and its replica; after the slot moves to another master the
// write follows the MOVED reply instead of failing until go-redis's next
// periodic reload.
func TestWaitOnCluster(t *testing.T) {
	cl, err := redistest.StartCluster(3, 1)
	if err != nil {
		storetest.Unavailable(t, "a local Redis Cluster", err)
	}
	t.Cleanup(cl.Stop)
	ctx := context.Background()
	cc := redis.NewClusterClient(&redis.ClusterOptions{Addrs: cl.Addrs()})
	t.Cleanup(func() { cc.Close() })
	b, err := redisstore.New(cc, redisstore.WithPrefix("wc:"), redisstore.WithWait(1, time.Second))
	if err != nil {
		t.Fatal(err)
	}
	e := func() *serverstore.Entry {
		return &serverstore.Entry{Meta: make([]byte, 18), Values: map[string][]byte{}}
	}
	exp := time.Now().Add(time.Hour)
	if err := b.Create(ctx, "first", e(), exp); err != nil {
		t.Fatalf("a Create under WAIT on the cluster: %v", err)
	}
	// Move the (empty) slot of another key to another master.
	key := "moved"
	from, err := cl.MasterOf(ctx, "wc:"+key)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Create(ctx, "warm", e(), exp); err != nil { // go-redis has the slot map now
		t.Fatal(err)
	}
	var to *redistest.Node
	for _, n := range cl.Nodes {
		nc := redis.NewClient(&redis.Options{Addr: n.Addr})
		info, _ := nc.Info(ctx, "replication").Result()
		nc.Close()
		if n != from && strings.Contains(info, "role:master") {
			to = n
			break
		}
	}
	toClient := redis.NewClient(&redis.Options{Addr: to.Addr})
	defer toClient.Close()
	id, err := toClient.ClusterMyID(ctx).Result()
	if err != nil {
		t.Fatal(err)
	}
	slot := strconv.Itoa(redistest.Slot("wc:" + key))
	for _, n := range []*redistest.Node{to, from} {
		nc := redis.NewClient(&redis.Options{Addr: n.Addr})
		err := nc.Do(ctx, "CLUSTER", "SETSLOT", slot, "NODE", id).Err()
		nc.Close()
		if err != nil {
			t.Fatalf("CLUSTER SETSLOT on %s: %v", n.Addr, err)
		}
	}
	fc := redis.NewClient(&redis.Options{Addr: from.Addr})
	defer fc.Close()
	if err := fc.Get(ctx, "wc:"+key).Err(); err == nil || !strings.HasPrefix(err.Error(), "MOVED") {
		t.Fatalf("the old master answers %v for the moved slot, want MOVED", err)
	}
	if err := b.Create(ctx, key, e(), exp); err != nil {
		t.Fatalf("a Create under WAIT after the slot moved: %v", err)
	}
	if n, err := toClient.Exists(ctx, "wc:"+key).Result(); err != nil || n != 1 {
		t.Fatalf("the new master holds %d keys %q: %v", n, "wc:"+key, err)
	}
}
