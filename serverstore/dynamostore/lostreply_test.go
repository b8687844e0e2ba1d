package dynamostore_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/crumbs-go/session/driver"
	"github.com/crumbs-go/session/serverstore"
	"github.com/crumbs-go/session/serverstore/dynamostore"
	"github.com/crumbs-go/session/serverstore/dynamostore/dynamotest"
)

// lossy performs a request, then, once armed, loses its reply: the SDK
// sees a connection reset and sends the request again, as it would after
// a network fault or a 500 whose write happened. before and after, if
// set, run before the request is sent and after it was served: another
// request's write in between.
type lossy struct {
	op            string // the X-Amz-Target operation whose reply to lose
	armed         atomic.Bool
	lost          atomic.Int32
	before, after func()
}

func (l *lossy) RoundTrip(r *http.Request) (*http.Response, error) {
	match := strings.HasSuffix(r.Header.Get("X-Amz-Target"), "."+l.op) && l.armed.CompareAndSwap(true, false)
	if match && l.before != nil {
		l.before()
	}
	res, err := http.DefaultTransport.RoundTrip(r)
	if err == nil && match {
		l.lost.Add(1)
		res.Body.Close()
		if l.after != nil {
			l.after()
		}
		return nil, errors.New("read tcp 127.0.0.1:1->127.0.0.1:2: read: connection reset by peer")
	}
	return res, err
}

// lossyPair returns two Backends on one table: one through l, the other
// (another request's) not.
func lossyPair(t *testing.T) (lost, other *dynamostore.Backend, l *lossy) {
	l = &lossy{}
	c := dynamodb.New(dynamodb.Options{
		Region: "us-east-1", BaseEndpoint: aws.String(dynamotest.Start(t)),
		Credentials: credentials.NewStaticCredentialsProvider(dynamotest.AccessKeyID, dynamotest.SecretAccessKey, ""),
		HTTPClient:  &http.Client{Transport: l},
	})
	plain := dynamotest.Client(t)
	name := table(t, plain)
	lost, _ = dynamostore.New(c, name)
	other, _ = dynamostore.New(plain, name)
	return lost, other, l
}

// TestLostRepliesAndRaces: a lost reply with another request's write
// between the write and its resend. An Apply whose record another request
// then retired reports ErrMoved or success, never a malformed item; a
// Delete whose record was retired between its read and its delete still
// returns the successor.
func TestLostRepliesAndRaces(t *testing.T) {
	ctx := context.Background()
	meta := make([]byte, 18)
	meta[0] = 2
	exp := time.Now().Add(time.Hour)
	t.Run("ApplyThenRetired", func(t *testing.T) {
		a, b, l := lossyPair(t)
		b.Create(ctx, "k", &serverstore.Entry{Meta: meta, Values: map[string][]byte{"n": {0, '1'}}}, exp)
		b.Create(ctx, "succ", &serverstore.Entry{Meta: meta, Values: map[string][]byte{}}, exp)
		l.op, l.after = "UpdateItem", func() {
			if _, err := b.Retire(ctx, "k", "succ", exp); err != nil {
				t.Error(err)
			}
		}
		l.armed.Store(true)
		_, err := a.Apply(ctx, "k", &serverstore.Write{Meta: meta, Expires: exp, Changes: []driver.Change{{Key: "n", Value: []byte{0, '2'}}}})
		if err != nil && !errors.Is(err, serverstore.ErrMoved) {
			t.Fatalf("Apply (written, then retired, then resent) = %v, want success or ErrMoved", err)
		}
	})
	t.Run("DeleteAfterARetire", func(t *testing.T) {
		a, b, l := lossyPair(t)
		b.Create(ctx, "k", &serverstore.Entry{Meta: meta, Values: map[string][]byte{}}, exp)
		b.Create(ctx, "succ", &serverstore.Entry{Meta: meta, Values: map[string][]byte{}}, exp)
		l.op, l.before = "DeleteItem", func() {
			if _, err := b.Retire(ctx, "k", "succ", exp); err != nil {
				t.Error(err)
			}
		}
		l.armed.Store(true)
		if next, err := a.Delete(ctx, "k"); err != nil || next != "succ" {
			t.Fatalf("Delete = %q, %v; want the successor, so that a logout ends the session it moved to", next, err)
		}
	})
}

// TestLostReplies: a write whose reply is lost, and which the SDK sends
// again, takes effect once and reports success: an Update's increment is
// not applied twice (nor reported as a conflict), a new session is not
// refused, and a Destroy through a retired ID still ends the session it
// moved to.
func TestLostReplies(t *testing.T) {
	ep := dynamotest.Start(t)
	l := &lossy{}
	c := dynamodb.New(dynamodb.Options{
		Region: "us-east-1", BaseEndpoint: aws.String(ep),
		Credentials: credentials.NewStaticCredentialsProvider(dynamotest.AccessKeyID, dynamotest.SecretAccessKey, ""),
		HTTPClient:  &http.Client{Transport: l},
	})
	b, err := dynamostore.New(c, table(t, c))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	meta := make([]byte, 18)
	meta[0] = 2
	exp := time.Now().Add(time.Hour)
	if err := b.Create(ctx, "k", &serverstore.Entry{Meta: meta, Values: map[string][]byte{"n": {0, '1'}}}, exp); err != nil {
		t.Fatal(err)
	}

	l.op = "UpdateItem"
	l.armed.Store(true)
	_, err = b.Apply(ctx, "k", &serverstore.Write{Meta: meta, Expires: exp,
		Changes: []driver.Change{{Key: "n", Value: []byte{0, '2'}, Check: true, HadOld: true, Old: []byte{0, '1'}}}})
	if l.lost.Load() != 1 || err != nil {
		t.Fatalf("a checked Apply whose reply was lost (%d lost) = %v, want success", l.lost.Load(), err)
	}
	if e, _ := b.Get(ctx, "k"); string(e.Values["n"]) != "\x002" {
		t.Fatalf("after it n = %q, want 2", e.Values["n"])
	}

	l.op = "PutItem"
	l.armed.Store(true)
	if err := b.Create(ctx, "new", &serverstore.Entry{Meta: meta, Values: map[string][]byte{}}, exp); err != nil || l.lost.Load() != 2 {
		t.Fatalf("a Create whose reply was lost = %v, want success", err)
	}
	if err := b.Create(ctx, "new", &serverstore.Entry{Meta: meta, Values: map[string][]byte{}}, exp); !errors.Is(err, serverstore.ErrExists) {
		t.Fatalf("another Create of the key = %v, want ErrExists", err)
	}

	if err := b.Create(ctx, "succ", &serverstore.Entry{Meta: meta, Values: map[string][]byte{}}, exp); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Retire(ctx, "new", "succ", exp); err != nil {
		t.Fatal(err)
	}
	l.op = "DeleteItem"
	l.armed.Store(true)
	if next, err := b.Delete(ctx, "new"); err != nil || next != "succ" || l.lost.Load() != 3 {
		t.Fatalf("a Delete of a tombstone whose reply was lost = %q, %v; want its successor", next, err)
	}
}
