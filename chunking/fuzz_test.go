package chunking_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/crumbs-go/session/chunking"
	"github.com/crumbs-go/session/internal/vectors"
)

// FuzzJoin reassembles arbitrary Cookie headers: never a panic, only
// ErrInvalid or ErrNotFound, a result no longer than the limits allow, and
// anything accepted splits back into cookies that join to the same value.
func FuzzJoin(f *testing.F) {
	for _, v := range vectors.MustLoad(f) {
		f.Add(v.Cookie, uint8(v.Int("max-chunks")), uint8(0))
	}
	f.Add("s=2.AAAA", uint8(8), uint8(0))   // 9 chunks allowed, none sent
	f.Add("s=9.AAAA", uint8(179), uint8(0)) // 180 allowed
	f.Add("__Host-s=2.AAAA; __Host-s.1=AAAA", uint8(3), uint8(1))
	f.Fuzz(func(t *testing.T, header string, maxChunks, name uint8) {
		// Every maximum chunk count New accepts, 1 to 180, and every shape
		// of cookie name.
		c, err := chunking.New(names[int(name)%len(names)], chunking.WithMaxChunks(int(maxChunks)%chunking.MaxChunksLimit+1))
		if err != nil {
			t.Fatal(err)
		}
		carried := map[string]bool{}
		for name := range vectors.Pairs(header) {
			carried[name] = true
		}
		for _, written := range []int{0, 1, c.MaxChunks()} {
			for _, name := range c.Stale(vectors.Pairs(header), written) {
				if !carried[name] {
					t.Fatalf("Stale(%d) names %q, which the request did not carry", written, name)
				}
			}
		}
		value, err := c.Join(vectors.Pairs(header))
		if err != nil {
			if !errors.Is(err, chunking.ErrInvalid) && !errors.Is(err, chunking.ErrNotFound) {
				t.Fatalf("Join error %v is neither ErrInvalid nor ErrNotFound", err)
			}
			return
		}
		if len(value) == 0 || len(value) > c.MaxChunks()*chunking.MaxCookieSize {
			t.Fatalf("Join accepted a value of %d bytes", len(value))
		}
		// Re-split under the largest budget and join again.
		wide, err := chunking.New(names[int(name)%len(names)], chunking.WithMaxChunks(c.MaxChunks()), chunking.WithCookieBudget(chunking.MaxCookieSize))
		if err != nil {
			t.Fatal(err)
		}
		cookies, err := wide.Split(value)
		if err != nil {
			if errors.Is(err, chunking.ErrTooLarge) {
				return // the request's chunks were fuller than any budget we write
			}
			t.Fatalf("Split of an accepted value: %v", err)
		}
		again, err := wide.Join(pairs(cookies...))
		if err != nil || again != value {
			t.Fatalf("re-split value does not join back: %v", err)
		}
	})
}

// FuzzSplitJoin splits arbitrary base64url values under arbitrary budgets:
// every cookie within the budget, at most the maximum count, and Join gives
// the value back; or a TooLargeError.
func FuzzSplitJoin(f *testing.F) {
	for _, v := range vectors.MustLoad(f) {
		if j := v.Joined(); j != "" {
			f.Add(j, uint16(4000), uint8(4), uint8(1))
		}
	}
	f.Fuzz(func(t *testing.T, value string, budget uint16, maxChunks, name uint8) {
		c, err := chunking.New(names[int(name)%len(names)], chunking.WithCookieBudget(int(budget)%4000+97),
			chunking.WithMaxChunks(int(maxChunks)%chunking.MaxChunksLimit+1))
		if err != nil {
			if strings.Contains(err.Error(), "raise WithCookieBudget or shorten the name") {
				return // a long name under a small budget: refused at construction, as it must be
			}
			t.Fatal(err)
		}
		cookies, err := c.Split(value)
		if err != nil {
			var tl *chunking.TooLargeError
			if errors.As(err, &tl) || value == "" || !isB64(value) {
				return
			}
			t.Fatalf("Split(%d bytes) = %v", len(value), err)
		}
		if len(cookies) > c.MaxChunks() {
			t.Fatalf("%d cookies, over the maximum %d", len(cookies), c.MaxChunks())
		}
		for _, ck := range cookies {
			if len(ck.Name)+len(ck.Value) > int(budget)%4000+97 {
				t.Fatalf("cookie %s of %d bytes over the budget", ck.Name, len(ck.Name)+len(ck.Value))
			}
		}
		got, err := c.Join(pairs(cookies...))
		if err != nil || got != value {
			t.Fatalf("Join(Split(v)) = %v, equal %t", err, got == value)
		}
	})
}

// names are the shapes of cookie name the fuzzers try: short, prefixed,
// with a dot, and as long as New allows.
var names = []string{"s", "__Host-s", "__Secure-session", "app.sid", "__host-x", strings.Repeat("n", 256)}

// isB64 is written differently from the package's check on purpose.
func isB64(s string) bool {
	return strings.Trim(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") == ""
}
