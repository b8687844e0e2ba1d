package e2e

import (
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/crumbs-go/session"
	"github.com/crumbs-go/session/cookiestore"
)

// TestBrowserInterleavedResponses: two parallel requests of one page carry
// the same one-cookie session; the first response to arrive grows it to
// three chunks, the second shrinks it back to one cookie without knowing of
// those chunks. The browser then holds the second's base cookie beside the
// first's chunks. The next request must read the second's session (the
// chunks beyond the count its base cookie declares are ignored) and expire
// the leftovers, so the browser ends with one cookie (spec/cookie-v1.md
// §6.1, §6.3).
func TestBrowserInterleavedResponses(t *testing.T) {
	ctx := browser(t)
	store, err := cookiestore.New([][]byte{secretNew}, cookiestore.WithCompressionThreshold(0))
	if err != nil {
		t.Fatal(err)
	}
	m, err := session.New(store, session.WithCookieName("tab"), session.WithMaxChunks(4), session.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatal(err)
	}
	var (
		mu                sync.Mutex
		growLoaded        = make(chan struct{})
		shrinkLoaded      = make(chan struct{})
		growAnswered      = make(chan struct{})
		growOnce, shrOnce sync.Once
		seenBySecondLoad  string
		growCookies       int
	)
	mux := http.NewServeMux()
	mux.HandleFunc("/{$}", func(w http.ResponseWriter, r *http.Request) { // not /favicon.ico, which would write the session too
		session.From(r).Set("v", "start")
		io.WriteString(w, `<!doctype html><p id="ready">ready</p>`)
	})
	mux.HandleFunc("/race", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, `<!doctype html><script>
Promise.all([fetch('/grow'), fetch('/shrink')])
  .then(() => { const p = document.createElement('p'); p.id = 'raced'; document.body.appendChild(p); });
</script>`)
	})
	mux.HandleFunc("/grow", func(w http.ResponseWriter, r *http.Request) {
		s := session.From(r)
		s.Get("v")
		growOnce.Do(func() { close(growLoaded) })
		<-shrinkLoaded // both requests loaded the one-cookie session
		s.Set("v", strings.Repeat("g", 6000))
		w.WriteHeader(200) // commits: three chunks
		mu.Lock()
		growCookies = len(w.Header().Values("Set-Cookie"))
		mu.Unlock()
		io.WriteString(w, "grown")
		w.(http.Flusher).Flush()
		close(growAnswered)
	})
	mux.HandleFunc("/shrink", func(w http.ResponseWriter, r *http.Request) {
		s := session.From(r)
		s.Get("v")
		shrOnce.Do(func() { close(shrinkLoaded) })
		<-growLoaded
		<-growAnswered
		time.Sleep(300 * time.Millisecond) // the browser stores the first response's cookies first
		s.Set("v", "small")
		io.WriteString(w, "shrunk")
	})
	mux.HandleFunc("/read", func(w http.ResponseWriter, r *http.Request) {
		v, _ := session.Get[string](session.From(r), "v")
		mu.Lock()
		seenBySecondLoad = v
		mu.Unlock()
		io.WriteString(w, v)
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: m.Handler(mux)}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	d := &demo{t: t, addr: ln.Addr().String(), name: "tab"}

	open(t, ctx, d.url("/"))
	if got := cookies(t, ctx, d); len(got) != 1 {
		t.Fatalf("the browser holds %v, want one cookie", names(got))
	}
	open(t, ctx, d.url("/race"))
	if _, err := chromedp.Run(ctx, chromedp.WaitReady(chromedp.CSS("#raced"))); err != nil {
		t.Fatal(err)
	}
	if got := cookies(t, ctx, d); len(got) != 3 {
		t.Fatalf("after the interleaved responses the browser holds %v, want the last base cookie and the first's two chunks", names(got))
	}
	// The next request only reads.
	open(t, ctx, d.url("/read"))
	text, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("body")))
	if err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if growCookies != 3 {
		t.Fatalf("the first response set %d cookies, want 3 chunks", growCookies)
	}
	if text != "small" || seenBySecondLoad != "small" {
		t.Fatalf("after the interleaved responses the next request read %.20q, want the last response's session", text)
	}
	if got := cookies(t, ctx, d); len(got) != 1 {
		t.Fatalf("after the next response the browser holds %v, want the one session cookie (the leftover chunks expired)", names(got))
	}
}
