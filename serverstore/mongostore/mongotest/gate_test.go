package mongotest_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"io"
	"net"
	"sync"
	"testing"

	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/crumbs-go/session/driver"
	"github.com/crumbs-go/session/serverstore"
	"github.com/crumbs-go/session/serverstore/mongostore"
	"github.com/crumbs-go/session/serverstore/mongostore/mongotest"
)

// gate holds the next wire message of a given command ("insert", "find",
// "update", "delete") of one client until released.
type gate struct {
	mu    sync.Mutex
	holds []*hold
	// replay, when set, makes the next insert message reach the server
	// twice: the first reply is dropped (a lost reply), between runs,
	// then the same message is sent again (a driver's retry), and the
	// driver reads the second reply.
	replay func()
}

type hold struct {
	cmd      string
	arrived  chan struct{}
	release  chan struct{}
	consumed bool
}

// next arms a hold on the next message of cmd.
func (g *gate) next(cmd string) *hold {
	h := &hold{cmd: cmd, arrived: make(chan struct{}), release: make(chan struct{})}
	g.mu.Lock()
	g.holds = append(g.holds, h)
	g.mu.Unlock()
	return h
}

func (g *gate) before(p []byte) {
	g.mu.Lock()
	var h *hold
	for _, x := range g.holds {
		if !x.consumed && bytes.Contains(p, []byte("\x02"+x.cmd+"\x00")) {
			x.consumed, h = true, x
			break
		}
	}
	g.mu.Unlock()
	if h != nil {
		close(h.arrived)
		<-h.release
	}
}

type gateConn struct {
	net.Conn
	g *gate
}

func (c *gateConn) Write(p []byte) (int, error) {
	c.g.mu.Lock()
	between := c.g.replay
	if between != nil && bytes.Contains(p, []byte("\x02insert\x00")) {
		c.g.replay = nil
	} else {
		between = nil
	}
	c.g.mu.Unlock()
	if between == nil {
		c.g.before(p)
		return c.Conn.Write(p)
	}
	if _, err := c.Conn.Write(p); err != nil {
		return 0, err
	}
	var hdr [4]byte
	if _, err := io.ReadFull(c.Conn, hdr[:]); err != nil {
		return 0, err
	}
	rest := make([]byte, int(binary.LittleEndian.Uint32(hdr[:]))-4)
	if _, err := io.ReadFull(c.Conn, rest); err != nil {
		return 0, err
	}
	between()
	return c.Conn.Write(p)
}

func (g *gate) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	return &gateConn{Conn: c, g: g}, nil
}

// gatedBackend is a Backend on coll through a client of its own, whose
// messages g can hold.
func gatedBackend(t *testing.T, coll *mongo.Collection, opts ...mongostore.Option) (*mongostore.Backend, *gate) {
	t.Helper()
	g := &gate{}
	cl, err := mongo.Connect(options.Client().ApplyURI(mongotest.Start(t)).SetDialer(g))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cl.Disconnect(context.Background()) })
	b, err := mongostore.New(cl.Database(coll.Database().Name()).Collection(coll.Name()), opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b, g
}

func hdr() []byte { m := make([]byte, 18); m[0] = 2; return m }

func setv(k, v string) driver.Change { return driver.Change{Key: k, Value: []byte("\x00" + v)} }

func entry(kv ...string) *serverstore.Entry {
	e := &serverstore.Entry{Meta: hdr(), Values: map[string][]byte{}}
	for i := 0; i+1 < len(kv); i += 2 {
		e.Values[kv[i]] = []byte("\x00" + kv[i+1])
	}
	return e
}
