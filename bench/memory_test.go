package bench

import (
	"net/http"
	"testing"

	"github.com/crumbs-go/session"
	"github.com/crumbs-go/session/serverstore"
)

// crumbsMemory is crumbs in server mode on its embedded memory backend:
// what the handlers do is crumbs' (the cookie carries a signed ID).
func crumbsMemory(tb testing.TB, p payload) system {
	store, err := serverstore.New(serverstore.NewMemory(), [][]byte{secret})
	if err != nil {
		tb.Fatal(err)
	}
	m, err := session.New(store)
	if err != nil {
		tb.Fatal(err)
	}
	sys := crumbs(tb, p)
	sys.name, sys.wrap = "crumbs-memory", m.Handler
	return sys
}

// BenchmarkMemory: load + change + save and load only, in server mode on
// the memory backend.
func BenchmarkMemory(b *testing.B) {
	for _, p := range payloads(b) {
		sys := crumbsMemory(b, p)
		base, _ := prime(b, sys)
		b.Run(p.name+"/change", func(b *testing.B) { run(b, sys.wrap(sys.change), base) })
		b.Run(p.name+"/load", func(b *testing.B) { run(b, sys.wrap(http.HandlerFunc(sys.read)), base) })
	}
}
