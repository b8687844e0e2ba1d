package redisstore_test

import (
	"context"
	"io"
	"testing"

	"github.com/crumbs-go/session"
	"github.com/crumbs-go/session/serverstore/redisstore"
)

// BenchmarkWait: a request that changes one value and saves, on the
// Sentinel group's master (one replica), without and with crumbs_wait=1.
//
//	go test -run '^$' -bench Wait -count 6 ./serverstore/redisstore
func BenchmarkWait(b *testing.B) {
	sg := sentinel(b)
	c := sentinelClient(b)
	for _, tc := range []struct{ name, params string }{{"no-wait", ""}, {"wait-1-replica", "&crumbs_wait=1&crumbs_wait_timeout=1s"}} {
		b.Run(tc.name, func(b *testing.B) {
			p := uniquePrefix(b)
			b.Cleanup(func() {
				be, _ := redisstore.New(c, redisstore.WithPrefix(p))
				be.Clear(context.Background())
			})
			store, err := session.OpenStore(context.Background(), sg.URL()+"&crumbs_prefix="+p+tc.params, secrets)
			if err != nil {
				b.Fatal(err)
			}
			defer store.(io.Closer).Close()
			m, err := session.New(store, session.WithCookieName("sid"), session.WithLogger(newLogger(io.Discard)))
			if err != nil {
				b.Fatal(err)
			}
			_, cookie := serve(b, m, "", func(s *session.Session) { s.Set("n", 0) })
			i := 0
			for b.Loop() {
				i++
				if w, _ := serve(b, m, cookie, func(s *session.Session) { s.Set("n", i) }); w.Code != 200 {
					b.Fatalf("status %d", w.Code)
				}
			}
		})
	}
}
