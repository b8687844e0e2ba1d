package mongotest_test

import (
	"context"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/crumbs-go/session/driver"
	"github.com/crumbs-go/session/serverstore"
	"github.com/crumbs-go/session/serverstore/mongostore"
	"github.com/crumbs-go/session/serverstore/mongostore/mongotest"
)

// TestUnacknowledgedWriteConcern: with w=0 an insert never reports the
// duplicate _id, and the compare-and-set is gone: Open refuses it, and a
// Backend on such a collection reports every write failed rather than
// tell a writer overtaken by another that its change landed.
func TestUnacknowledgedWriteConcern(t *testing.T) {
	ctx := context.Background()
	be, _, err := mongostore.Open(ctx, mongotest.URI(t)+"?w=0&crumbs_collection=w0")
	if err == nil || !strings.Contains(err.Error(), "w=0") {
		if err == nil {
			be.(io.Closer).Close()
		}
		t.Fatalf("Open with w=0 = %v, want a refusal naming w=0", err)
	}

	b, c := newBackend(t)
	g := &gate{}
	cl, err := mongo.Connect(options.Client().ApplyURI(mongotest.Start(t) + "?w=0").SetDialer(g))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Disconnect(ctx)
	a, err := mongostore.New(cl.Database(c.Database().Name()).Collection(c.Name()))
	if err != nil {
		t.Fatal(err)
	}
	exp := time.Now().Add(time.Hour)
	if err := b.Create(ctx, "k", entry("start", "1"), exp); err != nil {
		t.Fatal(err)
	}
	h := g.next("insert")
	var wg sync.WaitGroup
	var errA error
	wg.Go(func() {
		_, errA = a.Apply(ctx, "k", &serverstore.Write{Meta: hdr(), Expires: exp, Changes: []driver.Change{setv("a", "A")}})
	})
	<-h.arrived // A read revision 1
	if _, err := b.Apply(ctx, "k", &serverstore.Write{Meta: hdr(), Expires: exp, Changes: []driver.Change{setv("b", "B")}}); err != nil {
		t.Fatal(err)
	}
	close(h.release)
	wg.Wait()
	time.Sleep(200 * time.Millisecond) // let the unacknowledged insert reach the server
	e, err := b.Get(ctx, "k")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("A's Apply: %v; values: %q", errA, e.Values)
	if errA == nil && e.Values["a"] == nil {
		t.Fatal("with w=0, A's Apply returned nil and its change is lost")
	}
	if errA == nil || !strings.Contains(errA.Error(), "unacknowledged") {
		t.Fatalf("A's Apply with w=0 = %v, want the write concern named", errA)
	}
}
