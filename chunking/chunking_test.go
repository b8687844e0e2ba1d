package chunking_test

import (
	"errors"
	"iter"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/crumbs-go/session/chunking"
	"github.com/crumbs-go/session/internal/vectors"
)

func pairs(cs ...chunking.Cookie) iter.Seq2[string, string] {
	return func(yield func(string, string) bool) {
		for _, c := range cs {
			if !yield(c.Name, c.Value) {
				return
			}
		}
	}
}

func mustCodec(t testing.TB, name string, opts ...chunking.Option) *chunking.Codec {
	t.Helper()
	c, err := chunking.New(name, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func b64(n int) string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	b := make([]byte, n)
	for i := range b {
		b[i] = alphabet[(i*7+i/64)%64]
	}
	return string(b)
}

func TestNewRejects(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, cookie string
		opts         []chunking.Option
		want         string
	}{
		{"empty name", "", nil, "must be 1 to 256"},
		{"name with space", "my session", nil, "not allowed"},
		{"name like a chunk", "s.1", nil, "chunk name"},
		{"budget over 4096", "s", []chunking.Option{chunking.WithCookieBudget(5000)}, "WithCookieBudget(5000)"},
		{"budget leaves no room", "s", []chunking.Option{chunking.WithCookieBudget(40)}, "fewer than 64 bytes"},
		{"zero chunks", "s", []chunking.Option{chunking.WithMaxChunks(0)}, "WithMaxChunks(0)"},
		{"too many chunks", "s", []chunking.Option{chunking.WithMaxChunks(181)}, "between 1 and 180"},
		{"total below budget", "s", []chunking.Option{chunking.WithTotalBudget(1000)}, "below the cookie budget"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := chunking.New(tt.cookie, tt.opts...)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("New = %v, want an error containing %q", err, tt.want)
			}
		})
	}
}

func TestSplitJoin(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		cookie string
		opts   []chunking.Option
		size   int
		chunks int
	}{
		{"tiny", "s", nil, 1, 1},
		{"exactly one cookie", "s", nil, 3999, 1},
		{"one byte more", "s", nil, 4000, 2},
		{"two full", "s", nil, 7990, 2},
		{"three chunks", "s", []chunking.Option{chunking.WithMaxChunks(3)}, 9000, 3},
		{"host prefix", "__Host-session", []chunking.Option{chunking.WithMaxChunks(4)}, 12000, 4},
		{"small budget, many chunks", "s", []chunking.Option{chunking.WithCookieBudget(200), chunking.WithMaxChunks(180)}, 20000, 103},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := mustCodec(t, tt.cookie, tt.opts...)
			value := b64(tt.size)
			cookies, err := c.Split(value)
			if err != nil {
				t.Fatalf("Split = %v", err)
			}
			if len(cookies) != tt.chunks {
				t.Fatalf("Split made %d cookies, want %d", len(cookies), tt.chunks)
			}
			budget := chunking.DefaultCookieBudget
			if tt.name == "small budget, many chunks" {
				budget = 200
			}
			for i, ck := range cookies {
				if n := len(ck.Name) + len(ck.Value); n > budget {
					t.Errorf("cookie %d (%s) takes %d bytes, over the budget %d", i, ck.Name, n, budget)
				}
			}
			// Any order of the cookies, and unrelated cookies, join the same.
			shuffled := slices.Clone(cookies)
			slices.Reverse(shuffled)
			shuffled = append(shuffled, chunking.Cookie{Name: "other", Value: "1"}, chunking.Cookie{Name: tt.cookie + ".x", Value: "2"})
			got, err := c.Join(pairs(shuffled...))
			if err != nil || got != value {
				t.Fatalf("Join = %v; value equal %t", err, got == value)
			}
		})
	}
}

func TestSplitTooLarge(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		opts []chunking.Option
		size int
	}{
		{"over two chunks", nil, 8000},
		{"over total budget", []chunking.Option{chunking.WithMaxChunks(5), chunking.WithTotalBudget(6000)}, 7000},
		{"one chunk only", []chunking.Option{chunking.WithMaxChunks(1)}, 4000},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := mustCodec(t, "s", tt.opts...)
			_, err := c.Split(b64(tt.size))
			var tl *chunking.TooLargeError
			if !errors.Is(err, chunking.ErrTooLarge) || !errors.As(err, &tl) {
				t.Fatalf("Split(%d) = %v, want a *TooLargeError", tt.size, err)
			}
			if tl.Size <= tt.size || !strings.Contains(err.Error(), "budget") {
				t.Fatalf("error %q does not state the size needed and the budget", err)
			}
		})
	}
	c := mustCodec(t, "s")
	for _, bad := range []string{"", "has space", "pad=", "a+b"} {
		if _, err := c.Split(bad); err == nil || errors.Is(err, chunking.ErrTooLarge) {
			t.Errorf("Split(%q) = %v, want a usage error", bad, err)
		}
	}
}

func TestJoinRejects(t *testing.T) {
	t.Parallel()
	c := mustCodec(t, "s", chunking.WithMaxChunks(3))
	ok := b64(100)
	tests := []struct {
		name    string
		cookies []chunking.Cookie
		want    error
	}{
		{"nothing", nil, chunking.ErrNotFound},
		{"only others", []chunking.Cookie{{"a", "1"}, {"s.x", "2"}}, chunking.ErrNotFound},
		{"chunk without base", []chunking.Cookie{{"s.1", ok}}, chunking.ErrInvalid},
		{"duplicate base", []chunking.Cookie{{"s", ok}, {"s", ok}}, chunking.ErrInvalid},
		{"long non-canonical index", []chunking.Cookie{{"s", "2." + ok}, {"s.1", ok}, {"s.00001", ok}}, chunking.ErrInvalid},
		{"index zero", []chunking.Cookie{{"s", "2." + ok}, {"s.1", ok}, {"s.0", ok}}, chunking.ErrInvalid},
		{"missing", []chunking.Cookie{{"s", "3." + ok}, {"s.2", ok}}, chunking.ErrInvalid},
		{"count one", []chunking.Cookie{{"s", "1." + ok}}, chunking.ErrInvalid},
		{"count over max", []chunking.Cookie{{"s", "4." + ok}, {"s.1", ok}, {"s.2", ok}, {"s.3", ok}}, chunking.ErrInvalid},
		{"count absurd", []chunking.Cookie{{"s", strings.Repeat("9", 5000) + "." + ok}}, chunking.ErrInvalid},
		{"count empty", []chunking.Cookie{{"s", "." + ok}}, chunking.ErrInvalid},
		{"count leading zero", []chunking.Cookie{{"s", "02." + ok}, {"s.1", ok}}, chunking.ErrInvalid},
		{"first part empty", []chunking.Cookie{{"s", "2."}, {"s.1", ok}}, chunking.ErrInvalid},
		{"bad char", []chunking.Cookie{{"s", ok + "="}}, chunking.ErrInvalid},
		{"bad char in chunk", []chunking.Cookie{{"s", "2." + ok}, {"s.1", ok + "+"}}, chunking.ErrInvalid},
		{"empty", []chunking.Cookie{{"s", ""}}, chunking.ErrInvalid},
		{"oversized", []chunking.Cookie{{"s", b64(4096)}}, chunking.ErrInvalid},
		{"duplicate chunk", []chunking.Cookie{{"s", "3." + ok}, {"s.1", ok}, {"s.1", ok}, {"s.2", ok}}, chunking.ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := c.Join(pairs(tt.cookies...))
			if !errors.Is(err, tt.want) {
				t.Fatalf("Join = %v, want %v", err, tt.want)
			}
		})
	}
}

// Chunk cookies beyond the count the base declares are ignored, whatever
// they hold: a parallel response may have left them (spec/cookie-v1.md §6.1).
func TestJoinIgnoresExtraChunks(t *testing.T) {
	t.Parallel()
	c := mustCodec(t, "s", chunking.WithMaxChunks(3))
	ok := b64(100)
	tests := []struct {
		name    string
		cookies []chunking.Cookie
		want    string
	}{
		{"extra beside single", []chunking.Cookie{{"s", ok}, {"s.1", ok}}, ok},
		{"extra beyond max", []chunking.Cookie{{"s", ok}, {"s.3", ok}}, ok},
		{"extra beyond count", []chunking.Cookie{{"s", "2." + ok}, {"s.1", ok}, {"s.2", "!!"}}, ok + ok},
		{"duplicate beyond count", []chunking.Cookie{{"s", "2." + ok}, {"s.1", ok}, {"s.2", ok}, {"s.2", ok}}, ok + ok},
		{"empty beyond count", []chunking.Cookie{{"s", ok}, {"s.1", ""}}, ok},
		{"oversized beyond count", []chunking.Cookie{{"s", ok}, {"s.2", b64(5000)}}, ok},
		{"four-digit index", []chunking.Cookie{{"s", ok}, {"s.1000", ok}}, ok},
		{"twenty-digit index", []chunking.Cookie{{"s", "2." + ok}, {"s.1", ok}, {"s.99999999999999999999", ok}}, ok + ok},
	}
	for _, tt := range tests {
		got, err := c.Join(pairs(tt.cookies...))
		if err != nil || got != tt.want {
			t.Errorf("%s: Join = %d bytes, %v; want %d bytes", tt.name, len(got), err, len(tt.want))
		}
	}
}

// A base cookie that declares chunks that never arrive is invalid, for every
// maximum chunk count New accepts (above 8 it used to panic).
func TestJoinDeclaredChunksMissing(t *testing.T) {
	t.Parallel()
	for max := 1; max <= chunking.MaxChunksLimit; max++ {
		c := mustCodec(t, "s", chunking.WithMaxChunks(max))
		for _, count := range []int{2, max, max + 1} {
			_, err := c.Join(pairs(chunking.Cookie{Name: "s", Value: strconv.Itoa(count) + ".AAAA"}))
			if !errors.Is(err, chunking.ErrInvalid) {
				t.Fatalf("WithMaxChunks(%d), count %d with no chunks: %v", max, count, err)
			}
		}
	}
}

func TestStale(t *testing.T) {
	t.Parallel()
	c := mustCodec(t, "s", chunking.WithMaxChunks(4))
	v := b64(10)
	tests := []struct {
		name    string
		request []chunking.Cookie
		written int
		want    []string
	}{
		{"shrink to one", []chunking.Cookie{{"s", v}, {"s.1", v}, {"s.2", v}}, 1, []string{"s.1", "s.2"}},
		{"full", []chunking.Cookie{{"s", v}}, 4, nil},
		{"grow: nothing carried is stale", []chunking.Cookie{{"s", v}}, 2, nil},
		{"nothing carried", nil, 1, nil},
		{"destroy", []chunking.Cookie{{"s", v}, {"s.1", v}}, 0, []string{"s", "s.1"}},
		{"destroy, chunks in any order", []chunking.Cookie{{"s.3", v}, {"s.1", v}, {"s", v}, {"s.3", v}}, 0, []string{"s", "s.1", "s.3"}},
		{"beyond the first gap and the max", []chunking.Cookie{{"s", v}, {"s.2", v}, {"s.7", v}, {"s.01", v}, {"s.x", v}}, 1, []string{"s.2", "s.7", "s.01"}},
		{"beyond the count written", []chunking.Cookie{{"s", v}, {"s.2", v}, {"s.7", v}}, 4, []string{"s.7"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := c.Stale(pairs(tt.request...), tt.written)
			if !slices.Equal(got, tt.want) {
				t.Fatalf("Stale = %q, want %q", got, tt.want)
			}
		})
	}
}

// TestJoinAllocations: a single-cookie value joins with a constant 3 small allocations (the state that the loop body, a closure, shares), never a copy of the value.
func TestJoinAllocations(t *testing.T) {
	c := mustCodec(t, "s")
	single := pairs(chunking.Cookie{Name: "a", Value: "1"}, chunking.Cookie{Name: "s", Value: b64(300)})
	if n := testing.AllocsPerRun(100, func() { c.Join(single) }); n > 3 {
		t.Errorf("Join of one cookie: %v allocations, want at most 3", n)
	}
}

// TestVectorsJoin checks every vector's reassembly verdict: the valid ones
// join, and the chunk_ ones are rejected by chunking itself, before any
// cryptography.
func TestVectorsJoin(t *testing.T) {
	t.Parallel()
	for _, v := range vectors.MustLoad(t) {
		codec, err := v.Codec()
		if err != nil {
			t.Fatal(err)
		}
		_, err = codec.Join(v.Pairs())
		switch {
		case v.Header["expect"] == "ok" && err != nil:
			t.Errorf("%s: Join = %v, want ok", v.File, err)
		case strings.HasPrefix(v.File, "chunk_") && v.Header["expect"] != "ok" && !strings.Contains(v.File, "reordered") && !strings.Contains(v.File, "mixed") && !errors.Is(err, chunking.ErrInvalid):
			t.Errorf("%s: Join = %v, want ErrInvalid", v.File, err)
		}
	}
}

// TestStaleBounded: a request carrying thousands of made-up chunk names gets
// at most MaxStaleExtra of them expired, quickly.
func TestStaleBounded(t *testing.T) {
	t.Parallel()
	c := mustCodec(t, "s")
	var many []chunking.Cookie
	for i := range 50000 {
		many = append(many, chunking.Cookie{Name: "s." + strconv.Itoa(1000+i), Value: "x"})
	}
	start := time.Now()
	got := c.Stale(pairs(many...), 1)
	if len(got) != chunking.MaxStaleExtra || time.Since(start) > time.Second {
		t.Fatalf("Stale returned %d names in %v, want %d quickly", len(got), time.Since(start), chunking.MaxStaleExtra)
	}
}
