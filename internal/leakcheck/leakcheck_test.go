package leakcheck

import (
	"strings"
	"testing"
	"time"
)

func TestMain(m *testing.M) { Main(m) }

// Find names a goroutine that outlives its test, and not one that ends
// within the wait.
func TestFind(t *testing.T) {
	stop := make(chan struct{})
	go func() { <-stop }()
	leaked := Find(100 * time.Millisecond)
	if len(leaked) != 1 || !strings.Contains(leaked[0], "leakcheck.TestFind") {
		t.Fatalf("Find: %q", leaked)
	}
	if got := Find(100*time.Millisecond, "github.com/crumbs-go/session/internal/leakcheck.TestFind.func1"); len(got) != 0 {
		t.Fatalf("Ignore did not skip it: %q", got)
	}
	time.AfterFunc(50*time.Millisecond, func() { close(stop) })
	if leaked := Find(2 * time.Second); len(leaked) != 0 {
		t.Fatalf("a goroutine that ended within the wait: %q", leaked)
	}
}
