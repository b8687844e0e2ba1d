package echosession_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	echo4 "github.com/labstack/echo/v4"
	"github.com/labstack/echo/v5"

	"github.com/crumbs-go/session"
	"github.com/crumbs-go/session/adapters/echosession"
	"github.com/crumbs-go/session/adapters/internal/flowtest"
	_ "github.com/crumbs-go/session/serverstore/redisstore"
)

// routes are the flows' routes written as echo v5 handlers, each answering
// with the echo helper a handler would use.
func routes(m *session.Manager) *echo.Echo {
	e := echo.New()
	e.Use(echosession.Middleware(m))
	e.GET("/", func(c *echo.Context) error {
		return c.String(http.StatusOK, flowtest.Home(echosession.From(c)))
	})
	e.POST("/login", func(c *echo.Context) error {
		flowtest.Login(echosession.From(c), c.FormValue("name"))
		return c.Redirect(http.StatusSeeOther, "/")
	})
	e.POST("/logout", func(c *echo.Context) error {
		echosession.From(c).Destroy()
		return c.String(http.StatusOK, "bye")
	})
	e.POST("/cart/add", func(c *echo.Context) error {
		return c.JSON(http.StatusOK, map[string]int{"items": flowtest.AddItems(echosession.From(c), c.FormValue("n"))})
	})
	e.POST("/cart/clear", func(c *echo.Context) error {
		echosession.From(c).Delete("cart")
		return c.NoContent(http.StatusNoContent)
	})
	e.GET("/stream", func(c *echo.Context) error {
		views := flowtest.View(echosession.From(c))
		for range 3 {
			fmt.Fprintf(c.Response(), "views=%d\n", views)
			http.NewResponseController(c.Response()).Flush()
		}
		return nil
	})
	return e
}

// The demo's flows, on a real server, in cookie mode and Redis server mode,
// send the browser what net/http sends.
func TestFlows(t *testing.T) {
	for _, mode := range flowtest.Modes(t) {
		t.Run(mode, func(t *testing.T) {
			srv := httptest.NewServer(routes(flowtest.Manager(t, mode)))
			defer srv.Close()
			got := flowtest.Run(t, srv.URL, mode == "cookie")
			ref := httptest.NewServer(flowtest.Reference(flowtest.Manager(t, mode)))
			defer ref.Close()
			flowtest.Compare(t, got, flowtest.Run(t, ref.URL, mode == "cookie"))
		})
	}
}

// The same flows through echo v4's own adapter, echo.WrapMiddleware.
func TestFlowsEchoV4(t *testing.T) {
	for _, mode := range flowtest.Modes(t) {
		t.Run(mode, func(t *testing.T) {
			m := flowtest.Manager(t, mode)
			e := echo4.New()
			e.Use(echo4.WrapMiddleware(m.Handler))
			from := func(c echo4.Context) *session.Session { return session.From(c.Request()) }
			e.GET("/", func(c echo4.Context) error { return c.String(http.StatusOK, flowtest.Home(from(c))) })
			e.POST("/login", func(c echo4.Context) error {
				flowtest.Login(from(c), c.FormValue("name"))
				return c.Redirect(http.StatusSeeOther, "/")
			})
			e.POST("/logout", func(c echo4.Context) error {
				from(c).Destroy()
				return c.String(http.StatusOK, "bye")
			})
			e.POST("/cart/add", func(c echo4.Context) error {
				return c.JSON(http.StatusOK, map[string]int{"items": flowtest.AddItems(from(c), c.FormValue("n"))})
			})
			e.POST("/cart/clear", func(c echo4.Context) error {
				from(c).Delete("cart")
				return c.NoContent(http.StatusNoContent)
			})
			e.GET("/stream", func(c echo4.Context) error {
				views := flowtest.View(from(c))
				for range 3 {
					fmt.Fprintf(c.Response(), "views=%d\n", views)
					c.Response().Flush()
				}
				return nil
			})
			srv := httptest.NewServer(e)
			defer srv.Close()
			got := flowtest.Run(t, srv.URL, mode == "cookie")
			ref := httptest.NewServer(flowtest.Reference(flowtest.Manager(t, mode)))
			defer ref.Close()
			flowtest.Compare(t, got, flowtest.Run(t, ref.URL, mode == "cookie"))
		})
	}
}

// With echo's own test tools (a recorder through e.ServeHTTP): a handler
// that returns an error has its session committed, and echo's error
// response carries the cookie; the next request reads the value.
func TestHandlerErrorCommits(t *testing.T) {
	e := routes(flowtest.Manager(t, "cookie"))
	e.POST("/fail", func(c *echo.Context) error {
		echosession.From(c).Set("user", "Grace")
		return echo.NewHTTPError(http.StatusTeapot, "no")
	})
	rec := httptest.NewRecorder()
	e.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/fail", nil))
	if rec.Code != http.StatusTeapot || len(rec.Result().Cookies()) != 1 {
		t.Fatalf("got %d with %d cookies, want 418 with the session cookie", rec.Code, len(rec.Result().Cookies()))
	}
	req := httptest.NewRequest(http.MethodGet, "/", nil)
	req.AddCookie(rec.Result().Cookies()[0])
	rec = httptest.NewRecorder()
	e.ServeHTTP(rec, req)
	if !strings.Contains(rec.Body.String(), "user=Grace") {
		t.Fatalf("the next request reads %q", rec.Body.String())
	}
}

// A store failure is answered by the Manager's error handler, not by the
// handler's output.
func TestCommitFailureAnswers(t *testing.T) {
	m := flowtest.Manager(t, "cookie", session.WithErrorHandler(func(w http.ResponseWriter, _ *http.Request, err error) {
		http.Error(w, "session: "+err.Error(), http.StatusInsufficientStorage)
	}))
	e := echo.New()
	e.Use(echosession.Middleware(m))
	e.GET("/big", func(c *echo.Context) error {
		echosession.From(c).Set("blob", strings.Repeat("x", 200_000))
		return c.String(http.StatusOK, "saved")
	})
	rec := httptest.NewRecorder()
	e.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/big", nil))
	if rec.Code != http.StatusInsufficientStorage || strings.Contains(rec.Body.String(), "saved") || len(rec.Result().Cookies()) != 0 {
		t.Fatalf("got %d %q with %d cookies", rec.Code, rec.Body.String(), len(rec.Result().Cookies()))
	}
}
