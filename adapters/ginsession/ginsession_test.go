package ginsession_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gin-gonic/gin"

	"github.com/crumbs-go/session"
	"github.com/crumbs-go/session/adapters/ginsession"
	"github.com/crumbs-go/session/adapters/internal/flowtest"
	_ "github.com/crumbs-go/session/serverstore/redisstore"
)

func init() { gin.SetMode(gin.TestMode) }

// routes are the flows' routes as gin handlers, each answering with the gin
// helper a handler would use.
func routes(m *session.Manager) *gin.Engine {
	r := gin.New()
	r.Use(ginsession.Middleware(m))
	r.GET("/", func(c *gin.Context) {
		c.String(http.StatusOK, "%s", flowtest.Home(ginsession.From(c)))
	})
	r.POST("/login", func(c *gin.Context) {
		flowtest.Login(ginsession.From(c), c.PostForm("name"))
		c.Redirect(http.StatusSeeOther, "/")
	})
	r.POST("/logout", func(c *gin.Context) {
		ginsession.From(c).Destroy()
		c.String(http.StatusOK, "bye")
	})
	r.POST("/cart/add", func(c *gin.Context) {
		c.JSON(http.StatusOK, gin.H{"items": flowtest.AddItems(ginsession.From(c), c.PostForm("n"))})
	})
	r.POST("/cart/clear", func(c *gin.Context) {
		ginsession.From(c).Delete("cart")
		c.Status(http.StatusNoContent)
	})
	r.GET("/stream", func(c *gin.Context) {
		views := flowtest.View(ginsession.From(c))
		n := 0
		c.Stream(func(w io.Writer) bool {
			fmt.Fprintf(w, "views=%d\n", views)
			n++
			return n < 3
		})
	})
	return r
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

// With gin's test tools (a recorder through the engine): the status a
// handler records, and the headers it sets after, go out with the cookie;
// an aborted request commits too.
func TestGinSemantics(t *testing.T) {
	r := routes(flowtest.Manager(t, "cookie"))
	r.GET("/late-header", func(c *gin.Context) {
		ginsession.From(c).Set("user", "Grace")
		c.Status(http.StatusAccepted)
		c.Header("X-After-Status", "kept")
		c.String(http.StatusAccepted, "ok")
	})
	r.GET("/abort", func(c *gin.Context) {
		ginsession.From(c).Set("user", "Lin")
		c.AbortWithStatus(http.StatusUnauthorized)
	})
	r.GET("/data", func(c *gin.Context) {
		ginsession.From(c).Set("user", "Ada")
		c.Data(http.StatusCreated, "text/plain", []byte("data"))
	})
	for _, tc := range []struct {
		path, user string
		status     int
	}{{"/late-header", "Grace", http.StatusAccepted}, {"/abort", "Lin", http.StatusUnauthorized}, {"/data", "Ada", http.StatusCreated}} {
		rec := httptest.NewRecorder()
		r.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, tc.path, nil))
		cookies := rec.Result().Cookies()
		if rec.Code != tc.status || len(cookies) != 1 {
			t.Fatalf("%s: %d with %d cookies, want %d with the session cookie", tc.path, rec.Code, len(cookies), tc.status)
		}
		if tc.path == "/late-header" && rec.Header().Get("X-After-Status") != "kept" {
			t.Errorf("%s: a header set after c.Status was lost", tc.path)
		}
		req := httptest.NewRequest(http.MethodGet, "/", nil)
		req.AddCookie(cookies[0])
		rec = httptest.NewRecorder()
		r.ServeHTTP(rec, req)
		if !strings.Contains(rec.Body.String(), "user="+tc.user) {
			t.Errorf("%s: the next request reads %q", tc.path, rec.Body.String())
		}
	}
}

// A failed commit is answered by the Manager's error handler, whatever the
// handler wrote, and the handler's write error is in c.Errors.
func TestCommitFailureAnswers(t *testing.T) {
	m := flowtest.Manager(t, "cookie", session.WithErrorHandler(func(w http.ResponseWriter, _ *http.Request, err error) {
		http.Error(w, "session: "+err.Error(), http.StatusInsufficientStorage)
	}))
	r := gin.New()
	r.Use(ginsession.Middleware(m))
	var errs int
	r.GET("/big", func(c *gin.Context) {
		ginsession.From(c).Set("blob", strings.Repeat("x", 200_000))
		c.JSON(http.StatusOK, gin.H{"saved": true})
		errs = len(c.Errors)
	})
	rec := httptest.NewRecorder()
	r.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/big", nil))
	if rec.Code != http.StatusInsufficientStorage || strings.Contains(rec.Body.String(), "saved") || len(rec.Result().Cookies()) != 0 {
		t.Fatalf("got %d %q with %d cookies", rec.Code, rec.Body.String(), len(rec.Result().Cookies()))
	}
	if errs != 1 {
		t.Errorf("c.Errors holds %d errors, want the write error", errs)
	}
}
