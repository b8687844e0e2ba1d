// Package fibersession puts crumbs sessions in fiber v3 applications.
//
//	app.Use(fibersession.New(m))
//	app.Get("/", func(c fiber.Ctx) error {
//		views, _ := session.Update(fibersession.From(c), "views", func(n int) int { return n + 1 })
//		return c.SendString(strconv.Itoa(views))
//	})
//
// Fiber runs on fasthttp, which has no net/http underneath. The middleware
// hands the Manager a net/http view of the request (method, URL, headers
// with the cookies, host, remote address, whether the connection is TLS),
// runs the rest of the chain inside it, and copies what the Manager wrote
// back into fasthttp's response. The session's rules are therefore exactly
// those of net/http, with fiber's quirks handled so:
//   - Fiber sends nothing until the last handler has returned, so the
//     session commits when the chain returns, before fasthttp writes the
//     headers, whatever helper answered (c.SendString, c.JSON, c.Redirect,
//     c.SendStatus, a stream writer). A change made inside a
//     SendStreamWriter callback, which runs after that, is not saved.
//   - Each Set-Cookie line the Manager writes (the session cookie, its
//     chunks, the expiry of chunks the request carried) is added to
//     fasthttp's response as a line of its own, value and attributes as
//     written, never parsed into fasthttp's cookie type; fasthttp sends every
//     one. A cookie the handler sets with c.Cookie under the session's
//     names is a conflict: don't.
//   - The Manager's cache rule sees the Cache-Control the handler chose,
//     and its Vary and Access-Control-Expose-Headers values are merged
//     with the handler's (and a CORS middleware's).
//   - When the commit fails (a store failure, a session too large for its
//     cookies), the Manager's error handler ([session.WithErrorHandler])
//     answers instead of the handler: its status, headers and body replace
//     the handler's response.
//   - A handler that returns an error has its session committed; fiber's
//     ErrorHandler then writes the error response, which keeps the
//     session's cookies.
//   - fasthttp answers 431 to a request whose headers exceed the app's
//     ReadBufferSize, 4096 bytes by default: less than one full-size
//     session cookie. Create the app with
//     fiber.Config{ReadBufferSize: ReadBufferSize(m)}; New logs a warning
//     on the first request when it is smaller. Server mode's cookie is
//     short, but its size limit is the same for the cookie-mode fallback.
//   - fasthttp reuses a request's buffers after the handler returns: a
//     session must not be used after its handler returned (as with
//     net/http, where it is committed by then).
//
// The session is in c.Locals and in c.Context() (session.FromContext works
// there). Fiber v2 runs on fasthttp too, with another Ctx type; this
// package covers v3, the current major version.
package fibersession

import (
	"bytes"
	"crypto/tls"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"

	"github.com/gofiber/fiber/v3"

	"github.com/crumbs-go/session"
)

type localsKey struct{}

// merged are the response headers the Manager adds to rather than sets.
var merged = []string{fiber.HeaderCacheControl, fiber.HeaderVary, fiber.HeaderAccessControlExposeHeaders}

// ReadBufferSize returns the fiber.Config ReadBufferSize that requests
// carrying m's session need: fasthttp answers 431 to a request whose
// headers exceed it, and its default, 4096 bytes, is smaller than one
// full-size session cookie. It leaves 4096 bytes for the other headers:
//
//	app := fiber.New(fiber.Config{ReadBufferSize: fibersession.ReadBufferSize(m)})
func ReadBufferSize(m *session.Manager) int {
	return m.RequestHeaderBytes() + 4096
}

// New returns fiber middleware that gives every request m's session (see
// the package documentation for when it commits). On the first request it
// logs a warning (slog.Default) when the app's ReadBufferSize is below
// ReadBufferSize(m).
func New(m *session.Manager) fiber.Handler {
	var checked sync.Once
	return func(c fiber.Ctx) error {
		checked.Do(func() {
			have, need := c.App().Config().ReadBufferSize, ReadBufferSize(m)
			if have <= 0 {
				have = fiber.DefaultReadBufferSize
			}
			if have < need {
				slog.Default().Warn("fibersession: fiber's ReadBufferSize is too small for the session's cookies: requests that carry a large session will be answered 431; set fiber.Config{ReadBufferSize: fibersession.ReadBufferSize(m)}",
					slog.Int("ReadBufferSize", have), slog.Int("needed", need))
			}
		})
		r, err := request(c)
		if err != nil {
			return fiber.NewError(fiber.StatusBadRequest, err.Error())
		}
		res := response{h: http.Header{}}
		var chainErr error
		m.Handler(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
			c.Locals(localsKey{}, session.FromContext(r.Context()))
			c.SetContext(r.Context())
			chainErr = c.Next()
			// What the handler set in the headers the Manager adds to, so
			// that its rules see the handler's choice (Cache-Control) and
			// keep the handler's values (Vary, exposed headers).
			for _, k := range merged {
				for _, v := range c.Response().Header.PeekAll(k) {
					res.h.Add(k, string(v))
				}
			}
		})).ServeHTTP(&res, r)

		out := &c.Response().Header
		if res.status != 0 { // the Manager's error handler answered
			c.Response().ResetBody()
			out.Reset()
			c.Status(res.status)
			c.Response().SetBodyRaw(res.body.Bytes())
			chainErr = nil // the error handler has answered
		}
		// Every header the Manager wrote replaces fasthttp's, except
		// Set-Cookie, which is added line by line. All are deleted before
		// any is added: fasthttp's Del moves other headers' lines.
		for k := range res.h {
			if k != fiber.HeaderSetCookie {
				out.Del(k)
			}
		}
		for k, vs := range res.h {
			for _, v := range vs {
				out.Add(k, v)
			}
		}
		return chainErr
	}
}

// From returns the request's session. It panics when the request did not
// pass through New: a bug to fix, not a run-time condition.
func From(c fiber.Ctx) *session.Session {
	s, ok := c.Locals(localsKey{}).(*session.Session)
	if !ok {
		panic("fibersession: no session in c.Locals: add fibersession.New(m) to the app or group with app.Use")
	}
	return s
}

// request is the net/http view of fiber's request that the Manager reads:
// its headers (the cookies among them), host, remote address and TLS.
func request(c fiber.Ctx) (*http.Request, error) {
	fr := c.Request()
	// fasthttp's Request.RequestURI re-derives the URI from the request
	// line and forgets an absolute-form request's host: read the host
	// first, and the path from the parsed URI.
	host := string(fr.Host())
	u, err := url.ParseRequestURI(string(fr.URI().RequestURI()))
	if err != nil {
		return nil, err
	}
	h := make(http.Header)
	for k, v := range fr.Header.All() {
		h.Add(string(k), string(v))
	}
	r := (&http.Request{
		Method:     string(fr.Header.Method()),
		URL:        u,
		RequestURI: u.RequestURI(),
		Proto:      "HTTP/1.0",
		ProtoMajor: 1,
		Header:     h,
		Body:       http.NoBody,
		Host:       host,
		RemoteAddr: c.RequestCtx().RemoteAddr().String(),
	}).WithContext(c.Context())
	if fr.Header.IsHTTP11() {
		r.Proto, r.ProtoMinor = "HTTP/1.1", 1
	}
	r.Close = fr.Header.ConnectionClose()
	if c.RequestCtx().IsTLS() {
		r.TLS = &tls.ConnectionState{HandshakeComplete: true, ServerName: strings.Split(r.Host, ":")[0]}
	}
	return r, nil
}

// response collects what the Manager writes: its headers, and the error
// handler's answer when a commit fails.
type response struct {
	h      http.Header
	status int // 0 while the error handler has not answered
	body   bytes.Buffer
}

func (w *response) Header() http.Header { return w.h }

func (w *response) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
}

func (w *response) Write(b []byte) (int, error) {
	w.WriteHeader(http.StatusOK)
	return w.body.Write(b)
}
