package cookiestore_test

import (
	"context"
	"strings"
	"testing"

	"github.com/crumbs-go/session"
	"github.com/crumbs-go/session/cookiestore"
	"github.com/crumbs-go/session/serverstore"
	"github.com/crumbs-go/session/serverstore/storetest"
)

var spillSecrets = [][]byte{[]byte("0123456789abcdef0123456789abcdef-spill")}

// TestSpillConformance runs the conformance suite's scenarios of what
// users see over a Spill on the memory backend, every session on the
// server (spill mark 0): as server mode does.
func TestSpillConformance(t *testing.T) {
	storetest.RunSpill(t, func(t *testing.T) serverstore.Backend { return serverstore.NewMemory() }, cookiestore.WithSpillAt(0))
}

// TestOpenSpill: the configuration string "cookie+" before a server
// store's, with the marks and the cookie store's parameters among the
// server store's.
func TestOpenSpill(t *testing.T) {
	ctx := context.Background()
	st, err := session.OpenStore(ctx, "cookie+memory?crumbs_spill_at=1000&crumbs_max_entries=50&crumbs_return_at=100&crumbs_cipher=aes-256-gcm&crumbs_return_grace=5s", spillSecrets)
	if err != nil {
		t.Fatal(err)
	}
	sp, ok := st.(*cookiestore.Spill)
	if !ok || sp.SpillAt() != 1000 || sp.ReturnAt() != 100 {
		t.Fatalf("OpenStore = %T %+v", st, st)
	}
	sp.Close()
	if st, err = session.OpenStore(ctx, "cookie+memory", spillSecrets); err != nil || st.(*cookiestore.Spill).SpillAt() != cookiestore.DefaultSpillAt || st.(*cookiestore.Spill).ReturnAt() != cookiestore.DefaultSpillAt/2 {
		t.Fatalf("the defaults: %v", err)
	}
	for config, want := range map[string]string{
		"cookie+":                                                "before a server store's",
		"cookie+cookie":                                          "no server store registered",
		"cookie+nosuch://x":                                      "no server store registered",
		"cookie+memory?crumbs_spill_at=x":                        "crumbs_spill_at",
		"cookie+memory?crumbs_spill_at=-1":                       "WithSpillAt(-1)",
		"cookie+memory?crumbs_return_at=4000":                    "must be under the spill mark",
		"cookie+memory?crumbs_cipher=rot13":                      "crumbs_cipher",
		"cookie+memory?crumbs_no_such=1":                         "crumbs_no_such",
		"cookie+memory?crumbs_spill_at=100000":                   "WithSpillAt(100000)",
		"cookie+memory?crumbs_spill_at=100&crumbs_spill_at=3000": "given 2 times",
		"cookie+memory?crumbs_return_grace=0s":                   "crumbs_return_grace",
		"cookie+memory?crumbs_return_grace=1h":                   "WithReturnGrace(1h0m0s)",
		"cookie+host=db password=s3cret":                         "does not start with a server store's scheme",
	} {
		if _, err := session.OpenStore(ctx, config, spillSecrets); err == nil || !strings.Contains(err.Error(), want) || strings.Contains(err.Error(), "s3cret") {
			t.Errorf("OpenStore(%q) = %v, want an error naming %q (and no password)", config, err, want)
		}
	}
}
