// Package echosession puts crumbs sessions in echo v5 applications.
//
//	e.Use(echosession.Middleware(m))
//	e.GET("/", func(c *echo.Context) error {
//		views, _ := session.Update(echosession.From(c), "views", func(n int) int { return n + 1 })
//		return c.String(http.StatusOK, strconv.Itoa(views))
//	})
//
// Echo runs on net/http, so the [session.Manager]'s middleware does all
// the work; this package fits it to echo's conventions:
//   - The session commits just before the first byte of the response, as
//     with net/http, whichever echo helper writes it (c.String, c.JSON,
//     c.Redirect, c.NoContent, c.Stream, a flush), or when the handler
//     returns without writing.
//   - A handler that returns an error has its session committed when it
//     returns; echo's HTTPErrorHandler then writes the error response,
//     which carries the session's cookies. To drop a failing handler's
//     changes, undo them (Session.Reload) before returning the error.
//   - When the commit fails (a store failure, a session too large for its
//     cookies), the Manager's error handler ([session.WithErrorHandler])
//     answers and the handler's own output is dropped, as with net/http.
//   - c.Response() keeps unwrapping to *echo.Response inside the
//     middleware, so echo.UnwrapResponse and echo's other middleware work.
//
// Echo v4 (labstack/echo/v4) needs no package: e.Use(echo.WrapMiddleware(m.Handler)),
// and session.From(c.Request()) in handlers; the tests run the same flows
// through it.
//
// echo-contrib/session wraps gorilla/sessions: a map of values saved by an
// explicit call. This package gives crumbs' whole session API (typed
// values, Update, Regenerate, deadlines) and commits on its own; prefer it
// for new code.
package echosession

import (
	"net/http"

	"github.com/labstack/echo/v5"

	"github.com/crumbs-go/session"
)

// Middleware returns echo middleware that gives every request m's session
// (see the package documentation for when it commits).
func Middleware(m *session.Manager) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c *echo.Context) error {
			outer := c.Response()
			var err error
			m.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				c.SetRequest(r)
				c.SetResponse(echo.NewResponse(w, c.Logger()))
				err = next(c)
			})).ServeHTTP(outer, c.Request())
			// The session has committed: echo's error handler and the
			// middleware outside this one write to the response as it was.
			c.SetResponse(outer)
			return err
		}
	}
}

// From returns the request's session. It panics when the request did not
// pass through Middleware: a bug to fix, not a run-time condition. With
// several Managers, use Manager.Session(c.Request()) for one of them.
func From(c *echo.Context) *session.Session { return session.From(c.Request()) }
