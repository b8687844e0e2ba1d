package fibersession_test

import (
	"bufio"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"github.com/gofiber/fiber/v3"

	"github.com/crumbs-go/session"
	"github.com/crumbs-go/session/adapters/fibersession"
	"github.com/crumbs-go/session/adapters/internal/flowtest"
	_ "github.com/crumbs-go/session/serverstore/redisstore"
)

// routes are the flows' routes as fiber handlers, each answering with the
// fiber helper a handler would use.
func routes(m *session.Manager) *fiber.App {
	app := fiber.New(fiber.Config{ReadBufferSize: fibersession.ReadBufferSize(m)})
	app.Use(fibersession.New(m))
	app.Get("/", func(c fiber.Ctx) error {
		return c.SendString(flowtest.Home(fibersession.From(c)))
	})
	app.Post("/login", func(c fiber.Ctx) error {
		flowtest.Login(fibersession.From(c), c.FormValue("name"))
		return c.Redirect().Status(fiber.StatusSeeOther).To("/")
	})
	app.Post("/logout", func(c fiber.Ctx) error {
		fibersession.From(c).Destroy()
		return c.SendString("bye")
	})
	app.Post("/cart/add", func(c fiber.Ctx) error {
		return c.JSON(fiber.Map{"items": flowtest.AddItems(fibersession.From(c), c.FormValue("n"))})
	})
	app.Post("/cart/clear", func(c fiber.Ctx) error {
		fibersession.From(c).Delete("cart")
		return c.SendStatus(fiber.StatusNoContent)
	})
	app.Get("/stream", func(c fiber.Ctx) error {
		views := flowtest.View(fibersession.From(c))
		return c.SendStreamWriter(func(w *bufio.Writer) {
			for range 3 {
				fmt.Fprintf(w, "views=%d\n", views)
				w.Flush()
			}
		})
	})
	return app
}

// serve runs app on a real fasthttp server on a free local port.
func serve(t *testing.T, app *fiber.App) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go app.Listener(ln, fiber.ListenConfig{DisableStartupMessage: true})
	t.Cleanup(func() { app.Shutdown() })
	return "http://" + ln.Addr().String()
}

// The demo's flows, on a real fasthttp server, in cookie mode and Redis
// server mode, send the browser what net/http sends: every Set-Cookie line
// of every chunk and every expiry arrives.
func TestFlows(t *testing.T) {
	for _, mode := range flowtest.Modes(t) {
		t.Run(mode, func(t *testing.T) {
			got := flowtest.Run(t, serve(t, routes(flowtest.Manager(t, mode))), mode == "cookie")
			ref := httptest.NewServer(flowtest.Reference(flowtest.Manager(t, mode)))
			defer ref.Close()
			flowtest.Compare(t, got, flowtest.Run(t, ref.URL, mode == "cookie"))
		})
	}
}

// With fiber's test tool (app.Test): a handler's Cache-Control choice
// stands on a read-only response, its Vary and exposed headers are kept,
// and a handler that returns an error has its session committed, the
// error response carrying the cookie.
func TestFiberSemantics(t *testing.T) {
	app := routes(flowtest.Manager(t, "cookie"))
	app.Get("/private", func(c fiber.Ctx) error {
		c.Set("Cache-Control", "private, max-age=60")
		c.Set("Vary", "Accept-Encoding")
		c.Set("Access-Control-Expose-Headers", "X-Request-Id")
		_, _ = session.Get[string](fibersession.From(c), "user")
		return c.SendString("read")
	})
	app.Post("/fail", func(c fiber.Ctx) error {
		fibersession.From(c).Set("user", "Grace")
		return fiber.NewError(fiber.StatusTeapot, "no")
	})
	app.Get("/ctx", func(c fiber.Ctx) error {
		if session.FromContext(c.Context()) != fibersession.From(c) {
			return c.SendString("different")
		}
		return c.SendString("same")
	})

	res, err := app.Test(httptest.NewRequest(http.MethodGet, "/private", nil))
	if err != nil {
		t.Fatal(err)
	}
	if cc, vary := res.Header.Get("Cache-Control"), strings.Join(res.Header.Values("Vary"), ", "); cc != "private, max-age=60" || vary != "Accept-Encoding, Cookie" {
		t.Errorf("read-only response: Cache-Control %q, Vary %q", cc, vary)
	}
	if got := res.Header.Get("Access-Control-Expose-Headers"); got != "X-Request-Id" {
		t.Errorf("Access-Control-Expose-Headers %q", got)
	}

	res, err = app.Test(httptest.NewRequest(http.MethodPost, "/fail", nil))
	if err != nil {
		t.Fatal(err)
	}
	if res.StatusCode != fiber.StatusTeapot || len(res.Cookies()) != 1 || res.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("failing handler: %d with %d cookies, Cache-Control %q", res.StatusCode, len(res.Cookies()), res.Header.Get("Cache-Control"))
	}
	req := httptest.NewRequest(http.MethodGet, "/", nil)
	req.AddCookie(res.Cookies()[0])
	res, err = app.Test(req)
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := io.ReadAll(res.Body); !strings.Contains(string(b), "user=Grace") {
		t.Fatalf("the next request reads %q", b)
	}

	res, err = app.Test(httptest.NewRequest(http.MethodGet, "/ctx", nil))
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := io.ReadAll(res.Body); string(b) != "same" {
		t.Fatalf("session.FromContext(c.Context()): %s", b)
	}
}

// A failed commit is answered by the Manager's error handler: its status,
// headers and body replace the handler's response.
func TestCommitFailureAnswers(t *testing.T) {
	m := flowtest.Manager(t, "cookie", session.WithErrorHandler(func(w http.ResponseWriter, _ *http.Request, err error) {
		w.Header().Set("X-Session-Error", "1")
		http.Error(w, "session: "+err.Error(), http.StatusInsufficientStorage)
	}))
	app := fiber.New()
	app.Use(fibersession.New(m))
	app.Get("/big", func(c fiber.Ctx) error {
		fibersession.From(c).Set("blob", strings.Repeat("x", 200_000))
		c.Set("X-Handler", "1")
		return c.JSON(fiber.Map{"saved": true})
	})
	res, err := app.Test(httptest.NewRequest(http.MethodGet, "/big", nil))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(res.Body)
	if res.StatusCode != http.StatusInsufficientStorage || strings.Contains(string(b), "saved") || len(res.Cookies()) != 0 ||
		res.Header.Get("X-Session-Error") != "1" || res.Header.Get("X-Handler") != "" || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/plain") {
		t.Fatalf("got %d %q with %d cookies, headers %v", res.StatusCode, b, len(res.Cookies()), res.Header)
	}
}

// Behind TLS the cookie is Secure; on plain HTTP from this machine to a
// loopback host it is not (SecureAuto), as with net/http; a request nginx
// forwards (HTTP/1.0, Connection: close) is.
func TestSecureFollowsTheConnection(t *testing.T) {
	app := routes(flowtest.Manager(t, "cookie"))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go app.Listener(ln, fiber.ListenConfig{DisableStartupMessage: true})
	t.Cleanup(func() { app.Shutdown() })
	res, err := http.Get("http://" + ln.Addr().String() + "/")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if len(res.Cookies()) != 1 || res.Cookies()[0].Secure {
		t.Fatalf("plain HTTP to loopback: %v", res.Cookies())
	}
	for _, raw := range []string{"GET / HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n", "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"} {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		io.WriteString(c, raw)
		res, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatal(err)
		}
		c.Close()
		if len(res.Cookies()) != 1 || !res.Cookies()[0].Secure {
			t.Fatalf("%q, as nginx's proxy_pass sends it: %v", raw, res.Cookies())
		}
	}
	res, err = app.Test(httptest.NewRequest(http.MethodGet, "http://app.example/", nil))
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Cookies()) != 1 || !res.Cookies()[0].Secure {
		t.Fatalf("plain HTTP to a public host (a TLS proxy in front): %v", res.Cookies())
	}
}

// With fiber's default ReadBufferSize a request carrying a full-size
// cookie session is refused by fasthttp (431) before any handler runs, so
// the first request logs a warning that says what to set; with
// ReadBufferSize(m) a session grown to its budget is served.
func TestReadBufferSize(t *testing.T) {
	var logged strings.Builder
	defer slog.SetDefault(slog.Default())
	slog.SetDefault(slog.New(slog.NewTextHandler(&logged, nil)))

	m := flowtest.Manager(t, "cookie")
	small := fiber.New()
	small.Use(fibersession.New(m))
	small.Get("/", func(c fiber.Ctx) error { return c.SendString(flowtest.Home(fibersession.From(c))) })
	if _, err := small.Test(httptest.NewRequest(http.MethodGet, "/", nil)); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(logged.String(), "ReadBufferSize=4096") || !strings.Contains(logged.String(), "fibersession.ReadBufferSize(m)") {
		t.Fatalf("no warning about the default ReadBufferSize; logged %q", logged.String())
	}

	// A session at its budget: 4 chunks of nearly 4000 bytes.
	req := httptest.NewRequest(http.MethodGet, "/", nil)
	var cookies []string
	for i := range 4 {
		name := "demo"
		if i > 0 {
			name += "." + strconv.Itoa(i)
		}
		cookies = append(cookies, name+"="+strings.Repeat("A", 3980))
	}
	req.Header.Set("Cookie", strings.Join(cookies, "; "))
	if len(req.Header.Get("Cookie")) > m.RequestHeaderBytes() {
		t.Fatalf("the test's cookies (%d bytes) exceed RequestHeaderBytes (%d)", len(req.Header.Get("Cookie")), m.RequestHeaderBytes())
	}
	// A real server answers 431 (TestFlows met it before ReadBufferSize
	// existed); app.Test reports fasthttp's error.
	res, err := small.Test(req)
	if err == nil && res.StatusCode != fiber.StatusRequestHeaderFieldsTooLarge || err != nil && !strings.Contains(err.Error(), "small read buffer") {
		t.Fatalf("fiber's default ReadBufferSize served the request (%v, %v): the warning is wrong", res, err)
	}
	sized := routes(m)
	res, err = sized.Test(req)
	if err != nil {
		t.Fatal(err)
	}
	if res.StatusCode != http.StatusOK {
		t.Fatalf("with ReadBufferSize(m): %d", res.StatusCode)
	}
}
