// Command hostile sends hostile traffic at a crumbs server
// (bench/loadserver) from many clients at once and checks that it never
// answers with a 5xx and that its memory stays bounded:
//
//	go run ./bench/hostile -clients 200 -duration 10s
//
// Each request is one of:
//
//	huge      a Cookie header of 1 MiB (what net/http accepts at most),
//	          and one just over it (net/http answers 431)
//	many      1,000 cookies named like the session's chunks
//	forged    a chunk set whose first cookie declares up to 9,999 chunks,
//	          or one mixed from the chunks of two real sessions
//	bomb      a real session cookie whose sealed body is replaced by a
//	          maximal run of zeros (what a compression bomb looks like
//	          before it is authenticated) or by random bytes
//	tampered  a real two-chunk session with one byte flipped
//
// Every answer must be 200 (a fresh session) or a 4xx from net/http;
// peak RSS (VmHWM) must stay under -max-rss. It prints the figures as
// Markdown, for RELIABILITY.md.
package main

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/crumbs-go/session/bench/internal/harness"
)

func main() {
	clients := flag.Int("clients", 200, "concurrent clients, a connection each")
	duration := flag.Duration("duration", 10*time.Second, "how long they send")
	store := flag.String("store", "cookie", "the server's store: cookie or memory")
	system := flag.String("system", "crumbs", "crumbs, or bare (no session: what net/http alone costs)")
	maxRSS := flag.Int("max-rss", 512, "the most MiB of peak RSS the server may reach")
	flag.Parse()
	if err := run(*clients, *duration, *system, *store, int64(*maxRSS)<<10); err != nil {
		fmt.Fprintln(os.Stderr, "hostile:", err)
		os.Exit(1)
	}
}

func run(clients int, duration time.Duration, system, store string, maxRSSKB int64) error {
	_, server, cleanup, err := harness.Setup("hostile")
	if err != nil {
		return err
	}
	defer cleanup()
	addr, err := harness.FreeAddr()
	if err != nil {
		return err
	}
	srv := exec.Command(server, "-system", system, "-store", store, "-addr", addr)
	srv.Stderr = io.Discard
	if err := srv.Start(); err != nil {
		return err
	}
	defer func() { srv.Process.Kill(); srv.Wait() }()
	base := "http://" + addr
	if err := harness.WaitUp(base); err != nil {
		return err
	}
	startRSS := harness.PeakRSS(srv.Process.Pid)

	// Real sessions to take apart: two of two chunks each (incompressible
	// values), and a small one.
	big1, err := prime(base + "/prime-big")
	if err != nil {
		return err
	}
	big2, err := prime(base + "/prime-big")
	if err != nil {
		return err
	}
	small, err := prime(base + "/prime")
	if err != nil {
		return err
	}
	if system == "crumbs" && store == "cookie" && (len(big1) < 2 || len(big2) < 2) {
		return fmt.Errorf("a big session took %d and %d cookies, want 2 each", len(big1), len(big2))
	}
	attacks := []struct {
		name string
		make func() []string // Cookie header values
	}{
		{"huge", func() []string { return []string{"session=" + strings.Repeat("A", 1<<20-len("session=")-64)} }},
		{"huge+431", func() []string { return []string{"session=" + strings.Repeat("A", 1<<20+8192)} }},
		{"many", func() []string {
			var b strings.Builder
			for i := range 1000 {
				fmt.Fprintf(&b, "session.%d=%s; ", i, strings.Repeat("x", 100))
			}
			return []string{b.String()}
		}},
		{"forged-count", func() []string {
			return []string{"session=" + strconv.Itoa(mrand.IntN(9999)+2) + "." + randomB64(3000) + "; session.1=" + randomB64(3000)}
		}},
		{"forged-mixed", func() []string {
			if len(big2) < 2 { // server mode: one cookie; declare a second chunk from another session
				_, v1, _ := strings.Cut(big1[0], "=")
				_, v2, _ := strings.Cut(big2[0], "=")
				return []string{"session=2." + v1 + "; session.1=" + v2}
			}
			return []string{big1[0] + "; " + big2[1]}
		}},
		{"bomb-zeros", func() []string { return []string{reseal(small[0], func(n int) []byte { return make([]byte, n+3900) })} }},
		{"bomb-random", func() []string { return []string{reseal(small[0], randomBytes)} }},
		{"tampered", func() []string {
			c := []byte(strings.Join(big1, "; "))
			i := mrand.IntN(len(big1[0]))
			c[i] ^= 1
			if c[i] == ';' || c[i] == ' ' || c[i] == '=' {
				c[i] = 'A'
			}
			return []string{string(c)}
		}},
	}

	var mu sync.Mutex
	counts := map[string]map[int]int{}
	var errs atomic.Int64
	var firstErr atomic.Value
	var stop atomic.Bool
	var wg sync.WaitGroup
	for range clients {
		wg.Go(func() {
			c := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 1}}
			defer c.CloseIdleConnections()
			for !stop.Load() {
				a := attacks[mrand.IntN(len(attacks))]
				req, _ := http.NewRequest("GET", base+"/get", nil) // reads the session; 200 whatever it holds
				for _, v := range a.make() {
					req.Header.Add("Cookie", v)
				}
				res, err := c.Do(req)
				if err != nil {
					errs.Add(1)
					firstErr.CompareAndSwap(nil, a.name+": "+err.Error())
					continue
				}
				io.Copy(io.Discard, res.Body)
				res.Body.Close()
				mu.Lock()
				if counts[a.name] == nil {
					counts[a.name] = map[int]int{}
				}
				counts[a.name][res.StatusCode]++
				mu.Unlock()
			}
		})
	}
	// Peak RSS, sampled (VmHWM is the process's peak anyway).
	time.Sleep(duration)
	stop.Store(true)
	wg.Wait()
	rss := harness.PeakRSS(srv.Process.Pid)

	fmt.Printf("## Hostile traffic: %d clients for %v, %s with store %q (%s)\n\n| attack | answers |\n|---|---|\n", clients, duration, system, store, time.Now().UTC().Format("2006-01-02"))
	names := make([]string, 0, len(counts))
	for n := range counts {
		names = append(names, n)
	}
	sort.Strings(names)
	var problems []string
	total := 0
	for _, n := range names {
		var parts []string
		codes := make([]int, 0, len(counts[n]))
		for code := range counts[n] {
			codes = append(codes, code)
		}
		sort.Ints(codes)
		for _, code := range codes {
			k := counts[n][code]
			total += k
			parts = append(parts, fmt.Sprintf("%d × %d", k, code))
			if code >= 500 || (code != 200 && (code < 400 || code >= 500)) {
				problems = append(problems, fmt.Sprintf("%s: %d answers %d", n, k, code))
			}
		}
		fmt.Printf("| %s | %s |\n", n, strings.Join(parts, ", "))
	}
	fmt.Printf("\n%d requests, %d transport errors; server peak RSS %.1f MiB (%.1f MiB at the start)\n\n", total, errs.Load(), float64(rss)/1024, float64(startRSS)/1024)
	if e := errs.Load(); e > 0 {
		problems = append(problems, fmt.Sprintf("%d requests got no answer (the first: %v)", e, firstErr.Load()))
	}
	if rss > maxRSSKB {
		problems = append(problems, fmt.Sprintf("peak RSS %d KiB over the bound %d KiB", rss, maxRSSKB))
	}
	if total == 0 {
		problems = append(problems, "no request was answered")
	}
	if len(problems) > 0 {
		return errors.New(strings.Join(problems, "\n"))
	}
	return nil
}

// prime starts a session at url and returns its cookies, "name=value" each.
func prime(url string) ([]string, error) {
	res, err := http.Get(url)
	if err != nil {
		return nil, err
	}
	io.Copy(io.Discard, res.Body)
	res.Body.Close()
	var out []string
	for _, c := range res.Cookies() {
		if c.MaxAge >= 0 {
			out = append(out, c.Name+"="+c.Value)
		}
	}
	sort.Strings(out) // session=…, then session.1=…
	if len(out) == 0 {
		return nil, fmt.Errorf("%s set no cookie (HTTP %d)", url, res.StatusCode)
	}
	return out, nil
}

// reseal keeps the first bytes of a real cookie's value (its envelope's
// header) and replaces the rest with body(len(rest)).
func reseal(cookie string, body func(n int) []byte) string {
	name, value, _ := strings.Cut(cookie, "=")
	raw, err := base64.RawURLEncoding.DecodeString(value)
	if err != nil || len(raw) < 8 {
		return cookie
	}
	head := raw[:8]
	return name + "=" + base64.RawURLEncoding.EncodeToString(append(bytes.Clone(head), body(len(raw)-8)...))
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

func randomB64(n int) string { return base64.RawURLEncoding.EncodeToString(randomBytes(n * 3 / 4)) }
