package serverstore_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/crumbs-go/session"
	"github.com/crumbs-go/session/serverstore"
)

func TestOpenMemory(t *testing.T) {
	sec := [][]byte{bytes.Repeat([]byte("m"), 32)}
	ctx := context.Background()
	store, err := session.OpenStore(ctx, "memory?crumbs_max_entries=3", sec)
	if err != nil {
		t.Fatal(err)
	}
	ss := store.(*serverstore.Store)
	if err := ss.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	b := ss.Backend().(*serverstore.Memory)
	for i := range 5 {
		e := &serverstore.Entry{Meta: make([]byte, 18), Values: map[string][]byte{}}
		if err := b.Create(ctx, fmt.Sprint("k", i), e, time.Now().Add(time.Duration(i+1)*time.Hour)); err != nil {
			t.Fatal(err)
		}
	}
	if n, _ := b.Count(ctx); n != 3 {
		t.Fatalf("crumbs_max_entries=3 kept %d sessions", n)
	}
	if err := store.(io.Closer).Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := session.OpenStore(ctx, "memory?crumbs_client_details=true&crumbs_grace=0s", sec); err != nil {
		t.Fatal(err)
	}
	// The memory backend is keyed by raw IDs, the parameter given or not;
	// asked for hashed keys, it says it cannot.
	if _, err := session.OpenStore(ctx, "memory?crumbs_raw_ids=false", sec); err == nil || !strings.Contains(err.Error(), "always keyed by raw IDs") {
		t.Fatalf("memory?crumbs_raw_ids=false: %v", err)
	}
	for _, config := range []string{"memory?crumbs_raw_ids=true", "memory"} {
		raw, err := session.OpenStore(ctx, config, sec)
		if err != nil {
			t.Fatal(err)
		}
		if id := strings.Repeat("A", 43); raw.(*serverstore.Store).Key(id) != id {
			t.Fatalf("%s: keys are not the IDs", config)
		}
	}
	for _, tc := range []struct{ config, want string }{
		{"memoryx", "no store registered"},
		{"memory?crumbs_max_entries=0", "crumbs_max_entries"},
		{"memory?max_entries=5", "unknown parameter \"max_entries\""},
		{"memory?crumbs_max_entries=0&crumbs_max_entries=5", "given 2 times"},
		{"memory?=1", "unknown parameter \"\""},
		{"memory?crumbs_raw_ids=yes", "crumbs_raw_ids"},
		{"memory?crumbs_client_details=maybe", "crumbs_client_details"},
		{"memory?crumbs_grace=soon", "crumbs_grace"},
		{"memory?crumbs_grace=-1s", "crumbs_grace"},
		{"memory?crumbs_grace=11m", "WithGrace(11m0s)"},
	} {
		if _, err := session.OpenStore(ctx, tc.config, sec); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("OpenStore(%q) = %v, want an error naming %q", tc.config, err, tc.want)
		}
	}
}
