// Package ginsession puts crumbs sessions in gin applications.
//
//	r.Use(ginsession.Middleware(m))
//	r.GET("/", func(c *gin.Context) {
//		views, _ := session.Update(ginsession.From(c), "views", func(n int) int { return n + 1 })
//		c.String(http.StatusOK, "%d", views)
//	})
//
// Gin records a handler's status (c.Status, c.JSON, c.Redirect…) without
// writing it, and writes the headers with the first byte of the body, or
// after the last handler when there is no body. The middleware keeps that
// behaviour and commits the session at the moment gin writes the headers:
//   - whichever gin helper writes the response (c.String, c.JSON, c.HTML,
//     c.Data, c.Redirect, c.Stream, c.Writer.Flush), the session's cookies
//     go out with it, and the status the handler recorded is the one sent;
//   - a response without a body (c.Status(204), c.Redirect on a POST, an
//     aborted request) commits when the handlers return, before gin writes
//     its headers;
//   - headers set after c.Status and before the body still go out, as in gin;
//   - when the commit fails (a store failure, a session too large for its
//     cookies), the Manager's error handler ([session.WithErrorHandler])
//     answers and the handler's output is dropped: gin's helpers then see a
//     write error, which they record in c.Errors.
//
// A change to the session after the response has started is not saved; the
// Manager logs it and reports [session.ErrHeadersWritten] to its error
// handler, as with net/http.
//
// gin-contrib/sessions wraps gorilla/sessions: a map of values saved by an
// explicit call. This package gives crumbs' whole session API (typed
// values, Update, Regenerate, deadlines) and commits on its own; prefer it
// for new code.
package ginsession

import (
	"bufio"
	"io"
	"net"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/crumbs-go/session"
)

// Middleware returns gin middleware that gives every request m's session
// (see the package documentation for when it commits).
func Middleware(m *session.Manager) gin.HandlerFunc {
	return func(c *gin.Context) {
		outer := c.Writer
		m.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			c.Request = r
			c.Writer = &writer{ResponseWriter: outer, commit: w}
			c.Next()
		})).ServeHTTP(outer, c.Request)
		c.Writer = outer
	}
}

// From returns the request's session. It panics when the request did not
// pass through Middleware: a bug to fix, not a run-time condition. With
// several Managers, use Manager.Session(c.Request) for one of them.
func From(c *gin.Context) *session.Session { return session.From(c.Request) }

// writer is gin's writer with the Manager's in front of its output: the
// status and the headers stay gin's until the first byte, which goes
// through the Manager's writer, so the session commits just before it.
type writer struct {
	gin.ResponseWriter                     // gin's: status, size, CloseNotify, Pusher
	commit             http.ResponseWriter // the Manager's, in front of gin's
	started            bool
}

// start commits the session with the status gin recorded; after a failed
// commit gin's writer holds the error handler's response.
func (w *writer) start() {
	if !w.started {
		w.started = true
		w.commit.WriteHeader(w.ResponseWriter.Status())
	}
}

func (w *writer) Write(b []byte) (int, error) {
	w.start()
	return w.commit.Write(b)
}

func (w *writer) WriteString(s string) (int, error) {
	w.start()
	return io.WriteString(w.commit, s)
}

func (w *writer) WriteHeaderNow() {
	w.start()
	w.ResponseWriter.WriteHeaderNow()
}

func (w *writer) Flush() {
	w.start()
	_ = http.NewResponseController(w.commit).Flush()
}

// Hijack hands the connection over; the session is not committed.
func (w *writer) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	conn, rw, err := http.NewResponseController(w.commit).Hijack()
	if err == nil {
		w.started = true
	}
	return conn, rw, err
}

// Unwrap returns the Manager's writer, for http.ResponseController.
func (w *writer) Unwrap() http.ResponseWriter { return w.commit }
