package e2e

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestBrowserInspector runs the demo binary in cookie mode and drives it in
// headless Chromium: the inspector shows one bar per cookie as the cart
// grows past one cookie, the key ID and which secret opened the cookie, and
// after "Rotate the secrets" the page that follows sees the old key as the
// second secret and re-seals under a new key ID, which the next page shows
// first. With CRUMBS_SCREENSHOT=path it saves a screenshot there (the
// README's).
func TestBrowserInspector(t *testing.T) {
	ctx := browser(t)
	bin := filepath.Join(t.TempDir(), "demo")
	if out, err := exec.Command("go", "build", "-o", bin, "github.com/crumbs-go/session/examples/demo").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	cmd := exec.Command(bin)
	cmd.Env = append(os.Environ(), "CRUMBS_ADDR="+addr, "CRUMBS_STORE=cookie", "CRUMBS_SECRETS=MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	for i := 0; ; i++ {
		if res, err := http.Get("http://" + addr + "/metrics"); err == nil {
			res.Body.Close()
			break
		}
		if i > 100 {
			t.Fatal("the demo did not start")
		}
		time.Sleep(100 * time.Millisecond)
	}
	text := func(id string) string {
		t.Helper()
		s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("#"+id)))
		if err != nil {
			t.Fatalf("#%s: %v", id, err)
		}
		return strings.TrimSpace(s)
	}
	open(t, ctx, "http://"+addr+"/")
	open(t, ctx, "http://"+addr+"/")
	click(t, ctx, "add500")
	click(t, ctx, "add500")
	reload(t, ctx)
	bars, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll("#cookies .bar").length`))
	if err != nil {
		t.Fatal(err)
	}
	if bars < 2 || !pageHas(t, ctx, "#cookie-1") {
		t.Fatalf("%d cookie bars after 1000 items, want 2 or more", bars)
	}
	key := text("key-id")
	if s := text("secret"); s != "1 of 1 (the primary)" || text("mode") != "cookie" || text("version") != "1" {
		t.Fatalf("before the rotation: secret %q", s)
	}
	click(t, ctx, "rotate")
	if s := text("secret"); s != "2 of 2 (older: this response re-seals it)" || text("key-id") != key {
		t.Fatalf("the page after the rotation: secret %q, key ID %q (was %q)", s, text("key-id"), key)
	}
	reload(t, ctx)
	if s := text("secret"); s != "1 of 2 (the primary)" || text("key-id") == key {
		t.Fatalf("the next page: secret %q, key ID %q (was %q)", s, text("key-id"), key)
	}
	if !pageHas(t, ctx, "#metrics") {
		t.Fatal("no metrics on the page")
	}
	if path := os.Getenv("CRUMBS_SCREENSHOT"); path != "" {
		if _, err := chromedp.Run(ctx, chromedp.EmulateViewport(900, 1200)); err != nil {
			t.Fatal(err)
		}
		png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, png, 0o644); err != nil {
			t.Fatal(err)
		}
		fmt.Println("screenshot:", path, len(png), "bytes")
	}
}
