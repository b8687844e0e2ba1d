package e2e

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
	goredis "github.com/redis/go-redis/v9"

	"github.com/crumbs-go/session"
	"github.com/crumbs-go/session/cookiestore"
	"github.com/crumbs-go/session/crypto"
	"github.com/crumbs-go/session/devices"
	"github.com/crumbs-go/session/driver"
	"github.com/crumbs-go/session/examples/demo/app"
	"github.com/crumbs-go/session/serverstore"
	"github.com/crumbs-go/session/serverstore/redisstore"
	"github.com/crumbs-go/session/serverstore/storetest"
)

var (
	secretOld = bytes.Repeat([]byte("o"), 32)
	secretNew = bytes.Repeat([]byte("n"), 32)
	secretOut = bytes.Repeat([]byte("x"), 32)
)

// chromium finds the browser: CRUMBS_CHROMIUM, or Debian's chromium. Without
// it the browser tests skip, except under CI, where .ci/run installs it.
func chromium(t *testing.T) string {
	t.Helper()
	for _, p := range []string{os.Getenv("CRUMBS_CHROMIUM"), "/usr/bin/chromium", "/usr/bin/chromium-browser"} {
		if p != "" {
			if _, err := exec.LookPath(p); err == nil {
				return p
			}
		}
	}
	if os.Getenv("CI") != "" {
		t.Fatal("no Chromium (CI is set: .ci/run installs the chromium package)")
	}
	t.Skip("no Chromium: apt-get install chromium")
	return ""
}

// browser starts headless Chromium with a fresh profile.
func browser(t *testing.T) context.Context {
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium(t)),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.UserDataDir(t.TempDir()),
	)
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelC := chromedp.NewContext(actx)
	t.Cleanup(func() { cancelC(); cancelA() })
	if err := chromedp.Do(ctx); err != nil { // starts the browser
		t.Fatalf("start Chromium: %v", err)
	}
	return ctx
}

// demo is the demo's handlers behind a real listener on 127.0.0.1 that can
// be restarted on the same address with another configuration.
type demo struct {
	t          *testing.T
	addr       string
	srv        *http.Server
	name       string
	cookieMode bool
}

type demoConfig struct {
	store session.Store
	opts  []session.Option
	name  string
}

func cookieConfig(t *testing.T, secrets ...[]byte) demoConfig {
	store, err := cookiestore.New(secrets)
	if err != nil {
		t.Fatal(err)
	}
	return demoConfig{store: store}
}

func startDemo(t *testing.T, cfg demoConfig) *demo {
	d := &demo{t: t, addr: "127.0.0.1:0"}
	d.start(cfg)
	t.Cleanup(d.stop)
	return d
}

func (d *demo) start(cfg demoConfig) {
	d.name = cfg.name
	if d.name == "" {
		d.name = "demo"
	}
	opts := append([]session.Option{
		session.WithCookieName(d.name),
		session.WithMaxChunks(4),
		session.WithIdentityKey("user"), // as the demo binary: the active sessions page
		session.WithErrorHandler(app.ErrorHandler),
		session.WithLogger(slog.New(slog.DiscardHandler)),
	}, cfg.opts...)
	m, err := session.New(cfg.store, opts...)
	if err != nil {
		d.t.Fatal(err)
	}
	var ln net.Listener
	for range 50 { // the address of a server just stopped can take a moment
		if ln, err = net.Listen("tcp", d.addr); err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		d.t.Fatal(err)
	}
	d.addr = ln.Addr().String()
	idx, _ := devices.New(cfg.store) // nil in cookie mode
	d.srv = &http.Server{Handler: m.Handler(app.Handler(d.name, idx))}
	go d.srv.Serve(ln)
}

func (d *demo) stop() {
	if d.srv != nil {
		d.srv.Close()
		d.srv = nil
	}
}

// restart stops the server and starts it again, same address.
func (d *demo) restart(cfg demoConfig) { d.stop(); d.start(cfg) }

func (d *demo) url(path string) string { return "http://" + d.addr + path }

// cookies returns what the browser itself holds for the demo's origin:
// CDP's cookie list, not our parser.
func cookies(t *testing.T, ctx context.Context, d *demo) map[string]*network.Cookie {
	t.Helper()
	res, err := chromedp.Call(ctx, network.GetCookies, network.GetCookiesParams{URLs: []string{d.url("/")}})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]*network.Cookie{}
	for _, c := range res.Cookies {
		if c.Name == d.name || strings.HasPrefix(c.Name, d.name+".") {
			out[c.Name] = c
		}
	}
	return out
}

// number reads an integer the page shows in the element with that id.
func number(t *testing.T, ctx context.Context, id string) int {
	t.Helper()
	s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("#"+id)))
	if err != nil {
		t.Fatalf("read #%s: %v", id, err)
	}
	n, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil {
		t.Fatalf("#%s shows %q", id, s)
	}
	return n
}

// open navigates and returns the HTTP status of the page.
func open(t *testing.T, ctx context.Context, url string) int64 {
	t.Helper()
	res, err := chromedp.Run(ctx, chromedp.NavigateResponse(url))
	if err != nil {
		t.Fatalf("open %s: %v", url, err)
	}
	return res.Status
}

// click presses a button and waits for the page it leads to.
func click(t *testing.T, ctx context.Context, id string) {
	t.Helper()
	if _, err := chromedp.Run(ctx, chromedp.WaitEvent(page.LoadEventFired, nil, chromedp.Click(chromedp.CSS("#"+id)))); err != nil {
		t.Fatalf("click #%s: %v", id, err)
	}
}

func pageHas(t *testing.T, ctx context.Context, sel string) bool {
	t.Helper()
	ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.querySelector("`+sel+`") !== null`))
	if err != nil {
		t.Fatalf("query %s: %v", sel, err)
	}
	return ok
}

func reload(t *testing.T, ctx context.Context) {
	t.Helper()
	if err := chromedp.Do(ctx, chromedp.Reload()); err != nil {
		t.Fatalf("reload: %v", err)
	}
}

// flows runs scenarios 1 to 4 (and the same for server mode): a counter that
// survives reloads and a restart, growth to 3 chunks and back, and logout.
func flows(t *testing.T, ctx context.Context, d *demo, restart func()) {
	open(t, ctx, d.url("/"))
	first := number(t, ctx, "views")
	reload(t, ctx)
	if n := number(t, ctx, "views"); n != first+1 {
		t.Fatalf("after a reload views = %d, want %d", n, first+1)
	}
	restart()
	open(t, ctx, d.url("/"))
	if n := number(t, ctx, "views"); n != first+2 {
		t.Fatalf("after a server restart views = %d, want %d", n, first+2)
	}

	// Sign in, then grow the cart.
	if err := chromedp.Do(ctx, chromedp.SendKeys(chromedp.CSS("#name"), "Ada")); err != nil {
		t.Fatal(err)
	}
	click(t, ctx, "login")
	if !pageHas(t, ctx, "#user") {
		t.Fatal("sign-in did not show the user")
	}
	for i := 0; i < 40 && (d.cookieMode && number(t, ctx, "chunks") < 3 || !d.cookieMode && i < 3); i++ {
		click(t, ctx, "add500")
		if pageHas(t, ctx, "#error") {
			t.Fatal("the cart hit the session budget before 3 chunks")
		}
	}
	items := number(t, ctx, "items")
	if items < 1000 {
		t.Fatalf("the cart holds %d items after the clicks", items)
	}
	held := cookies(t, ctx, d)
	if !d.cookieMode && len(held) != 1 {
		t.Fatalf("server mode: the browser holds %d session cookies, want the one ID cookie", len(held))
	}
	if d.cookieMode {
		if len(held) < 3 || number(t, ctx, "chunks") < 3 {
			t.Fatalf("the browser holds %d cookies and sent %d, want at least 3", len(held), number(t, ctx, "chunks"))
		}
	}
	reload(t, ctx)
	if n := number(t, ctx, "items"); n != items {
		t.Fatalf("after a reload the cart holds %d items, want %d: the server did not read every chunk", n, items)
	}

	// Shrink back to one cookie: the extra chunk cookies are gone.
	click(t, ctx, "clear")
	if held := cookies(t, ctx, d); len(held) != 1 {
		t.Fatalf("after emptying the cart the browser holds %d session cookies: %v", len(held), names(held))
	}

	// Logout: nothing of the session is left in the browser.
	click(t, ctx, "logout")
	if !pageHas(t, ctx, "#signed-out") {
		t.Fatal("logout did not answer")
	}
	if held := cookies(t, ctx, d); len(held) != 0 {
		t.Fatalf("after logout the browser holds %v", names(held))
	}
}

func names(m map[string]*network.Cookie) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// TestBrowserCookieMode: scenarios 1–4 in cookie mode.
func TestBrowserCookieMode(t *testing.T) {
	ctx := browser(t)
	d := startDemo(t, cookieConfig(t, secretOld))
	d.cookieMode = true
	flows(t, ctx, d, func() { d.restart(cookieConfig(t, secretOld)) })
}

// TestBrowserServerMode: scenarios 1–4 (scenario 7) with the memory backend,
// which survives the in-process restart because the store is kept, and with
// Redis, which a new store on the same prefix reads back.
func TestBrowserServerMode(t *testing.T) {
	t.Run("memory", func(t *testing.T) {
		ctx := browser(t)
		store, _ := serverstore.New(serverstore.NewMemory(), [][]byte{secretOld})
		cfg := demoConfig{store: store}
		d := startDemo(t, cfg)
		flows(t, ctx, d, func() { d.restart(cfg) })
	})
	t.Run("redis", func(t *testing.T) {
		c := goredis.NewClient(&goredis.Options{Addr: "127.0.0.1:6379"})
		defer c.Close()
		if err := c.Ping(context.Background()).Err(); err != nil {
			storetest.Unavailable(t, "Redis at 127.0.0.1:6379", err)
		}
		prefix := "crumbs-e2e:" + strconv.FormatInt(time.Now().UnixNano(), 36) + ":"
		newCfg := func() demoConfig {
			be, _ := redisstore.New(c, redisstore.WithPrefix(prefix))
			store, _ := serverstore.New(be, [][]byte{secretOld})
			return demoConfig{store: store}
		}
		t.Cleanup(func() {
			be, _ := redisstore.New(c, redisstore.WithPrefix(prefix))
			be.Clear(context.Background())
		})
		ctx := browser(t)
		d := startDemo(t, newCfg())
		flows(t, ctx, d, func() { d.restart(newCfg()) })
	})
}

// TestBrowserRotation: scenario 5.
func TestBrowserRotation(t *testing.T) {
	ctx := browser(t)
	d := startDemo(t, cookieConfig(t, secretOld))
	open(t, ctx, d.url("/"))
	open(t, ctx, d.url("/"))
	if n := number(t, ctx, "views"); n != 2 {
		t.Fatalf("views = %d", n)
	}
	// New first secret, the old one second: the session survives, and the
	// browser now holds a value sealed under the new secret alone.
	d.restart(cookieConfig(t, secretNew, secretOld))
	open(t, ctx, d.url("/"))
	if n := number(t, ctx, "views"); n != 3 {
		t.Fatalf("after rotation views = %d, want 3", n)
	}
	ring, _ := crypto.New([][]byte{secretNew})
	held := cookies(t, ctx, d)
	if _, _, err := ring.Open("demo", held["demo"].Value, time.Now()); err != nil {
		t.Fatalf("the browser's cookie does not open under the new secret alone: %v", err)
	}
	// The old secret retired: the re-sealed session still opens.
	d.restart(cookieConfig(t, secretNew))
	open(t, ctx, d.url("/"))
	if n := number(t, ctx, "views"); n != 4 {
		t.Fatalf("without the old secret views = %d, want 4", n)
	}
	// A server that holds none of the secrets that sealed it: a fresh
	// session, and a normal page, not an error.
	d.restart(cookieConfig(t, secretOut))
	status := open(t, ctx, d.url("/"))
	if n := number(t, ctx, "views"); n != 1 || status != http.StatusOK {
		t.Fatalf("under an unknown secret: views %d, status %d; want a fresh session and 200", n, status)
	}
}

// TestBrowserOverBudget: scenario 6.
func TestBrowserOverBudget(t *testing.T) {
	ctx := browser(t)
	d := startDemo(t, cookieConfig(t, secretOld))
	open(t, ctx, d.url("/"))
	var before map[string]*network.Cookie
	items := 0
	for i := 0; i < 80; i++ {
		before = cookies(t, ctx, d)
		items = number(t, ctx, "items")
		click(t, ctx, "add500")
		if pageHas(t, ctx, "#error") {
			break
		}
	}
	msg, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("#error")))
	if err != nil || !strings.Contains(msg, "budget") {
		t.Fatalf("no clear error page (%v): %q", err, msg)
	}
	after := cookies(t, ctx, d)
	if len(after) != len(before) {
		t.Fatalf("the failed save changed the browser's cookies: %v -> %v", names(before), names(after))
	}
	for name, c := range before {
		if after[name] == nil || after[name].Value != c.Value {
			t.Fatalf("cookie %s changed after the failed save", name)
		}
	}
	open(t, ctx, d.url("/"))
	if n := number(t, ctx, "items"); n != items {
		t.Fatalf("after the error the cart holds %d items, want the previous %d", n, items)
	}
}

// TestBrowserAttributes: scenario 8, what the README promises on
// http://localhost (and 127.0.0.1): SecureAuto leaves plain-HTTP cookies
// without Secure; SecureAlways and the __Host- prefix work on a loopback
// origin, which browsers treat as secure; every cookie is HttpOnly and
// SameSite=Lax.
func TestBrowserAttributes(t *testing.T) {
	tests := []struct {
		name     string
		cookie   string
		opts     []session.Option
		secure   bool
		priority network.CookiePriority
	}{
		{"auto", "demo", nil, false, network.CookiePriorityMedium},
		{"always", "demo", []session.Option{session.WithCookie(session.Cookie{Secure: session.SecureAlways})}, true, network.CookiePriorityMedium},
		{"host prefix", "__Host-demo", nil, true, network.CookiePriorityMedium},
		{"priority", "demo", []session.Option{session.WithCookie(session.Cookie{Priority: "high"})}, false, network.CookiePriorityHigh},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := browser(t)
			cfg := cookieConfig(t, secretOld)
			cfg.name, cfg.opts = tt.cookie, tt.opts
			d := startDemo(t, cfg)
			d.cookieMode = true
			for _, host := range []string{"localhost", "127.0.0.1"} {
				u := "http://" + strings.Replace(d.addr, "127.0.0.1", host, 1) + "/"
				open(t, ctx, u)
				open(t, ctx, u)
				if n := number(t, ctx, "views"); n != 2 {
					t.Fatalf("%s: views = %d: the browser did not keep the cookie", host, n)
				}
				res, err := chromedp.Call(ctx, network.GetCookies, network.GetCookiesParams{URLs: []string{u}})
				if err != nil {
					t.Fatal(err)
				}
				var c *network.Cookie
				for _, x := range res.Cookies {
					if x.Name == tt.cookie {
						c = x
					}
				}
				if c == nil {
					t.Fatalf("%s: the browser holds no %s cookie", host, tt.cookie)
				}
				if c.Secure != tt.secure || !c.HTTPOnly || c.SameSite != network.CookieSameSiteLax || c.Path != "/" || c.Priority != tt.priority {
					t.Fatalf("%s: %s: Secure %t HttpOnly %t SameSite %s Path %s Priority %s", host, tt.cookie, c.Secure, c.HTTPOnly, c.SameSite, c.Path, c.Priority)
				}
				// Expires beside Max-Age: a persistent cookie, kept until
				// the session's deadline (the demo's idle timeout or
				// lifetime), not dropped as malformed.
				if left := time.Until(time.Unix(int64(c.Expires), 0)); c.Session || left < time.Minute || left > 400*24*time.Hour {
					t.Fatalf("%s: %s: session cookie %t, expires in %v", host, tt.cookie, c.Session, left)
				}
				if _, err := chromedp.Call(ctx, network.ClearBrowserCookies, cdp.Empty{}); err != nil {
					t.Fatal(err)
				}
			}
		})
	}
}

// TestBrowserSpillOver: the demo's cart, over the spill-over store on
// memory (the default spill mark, 3800 bytes), in headless Chromium. It
// grows past the mark: the session moves to the server, and the browser
// holds one cookie, a signed ID, and no chunk. It shrinks: the session
// comes back into a sealed cookie, and once the return's grace is over the
// next request ends the record (its key holds only the return's
// tombstone). At no step does the browser hold a chunk the session does
// not use, or an ID whose record is gone.
func TestBrowserSpillOver(t *testing.T) {
	ctx := browser(t)
	backend := serverstore.NewMemory()
	server, err := serverstore.New(backend, [][]byte{secretOld})
	if err != nil {
		t.Fatal(err)
	}
	cookie, err := cookiestore.New([][]byte{secretOld})
	if err != nil {
		t.Fatal(err)
	}
	const grace = 2 * time.Second
	spill, err := cookiestore.NewSpill(cookie, server, cookiestore.WithReturnGrace(grace))
	if err != nil {
		t.Fatal(err)
	}
	d := startDemo(t, demoConfig{store: spill})
	// form reads what the browser holds: "cookie" (sealed, no live record
	// under its ID), "returning" (sealed, the record live for the grace),
	// "server" (an ID whose record is live), and the record's state.
	form := func() (string, string) {
		t.Helper()
		held := cookies(t, ctx, d)
		if len(held) != 1 || held[d.name] == nil {
			t.Fatalf("the browser holds %v, want the one session cookie", names(held))
		}
		v := held[d.name].Value
		if rec, err := server.Load(context.Background(), d.name, v, time.Now()); err == nil {
			return "server", rec.ID
		} else if !errors.Is(err, driver.ErrInvalid) {
			t.Fatalf("an ID cookie whose record is not there: %v", err)
		}
		rec, err := cookie.Load(context.Background(), d.name, v, time.Now())
		if err != nil {
			t.Fatalf("the session cookie is neither form: %v", err)
		}
		if _, err := backend.Get(context.Background(), server.Key(rec.ID)); err == nil {
			return "returning", rec.ID
		}
		return "cookie", rec.ID
	}
	open(t, ctx, d.url("/"))
	click(t, ctx, "add10")
	if f, _ := form(); f != "cookie" {
		t.Fatalf("a cart of %d items is in the %s form", number(t, ctx, "items"), f)
	}
	var id string
	for i := 0; ; i++ {
		if i == 10 {
			t.Fatalf("a cart of %d items never moved out", number(t, ctx, "items"))
		}
		click(t, ctx, "add100")
		if pageHas(t, ctx, "#error") {
			t.Fatal("the cart hit the session budget")
		}
		var f string
		if f, id = form(); f == "server" {
			break
		}
	}
	items := number(t, ctx, "items")
	reload(t, ctx)
	if n := number(t, ctx, "items"); n != items {
		t.Fatalf("after the move out and a reload the cart holds %d items, want %d", n, items)
	}
	if f, got := form(); f != "server" || got != id {
		t.Fatalf("after a reload: %s, ID %s (was %s)", f, got, id)
	}
	click(t, ctx, "clear")
	if n := number(t, ctx, "items"); n != 0 {
		t.Fatalf("the emptied cart holds %d items", n)
	}
	if f, got := form(); f != "returning" || got != id {
		t.Fatalf("after emptying the cart: %s, ID %s (was %s)", f, got, id)
	}
	time.Sleep(grace + 500*time.Millisecond)
	reload(t, ctx) // counts a view: a save, which ends the record
	if f, got := form(); f != "cookie" || got != id {
		t.Fatalf("after the grace: %s, ID %s (was %s)", f, got, id)
	}
	if _, err := backend.Get(context.Background(), server.Key(id)); !errors.Is(err, serverstore.ErrMoved) {
		t.Fatalf("after the return the record's key holds %v, want the return's tombstone", err)
	}
	if n := number(t, ctx, "items"); n != 0 {
		t.Fatalf("after the return the cart holds %d items", n)
	}
}
