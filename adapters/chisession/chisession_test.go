package chisession_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/go-chi/chi/v5"
	"github.com/go-chi/chi/v5/middleware"

	"github.com/crumbs-go/session"
	"github.com/crumbs-go/session/adapters/internal/flowtest"
	"github.com/crumbs-go/session/cookiestore"
	_ "github.com/crumbs-go/session/serverstore/redisstore"
)

func Example() {
	store, err := cookiestore.New([][]byte{[]byte("an example secret of 32 bytes or more")})
	if err != nil {
		panic(err)
	}
	m, err := session.New(store)
	if err != nil {
		panic(err)
	}
	r := chi.NewRouter()
	r.Use(m.Handler)
	r.Get("/", func(w http.ResponseWriter, r *http.Request) {
		views, _ := session.Update(session.From(r), "views", func(n int) int { return n + 1 })
		fmt.Fprintln(w, views)
	})

	srv := httptest.NewServer(r)
	defer srv.Close()
	var cookie string
	for range 2 {
		req, _ := http.NewRequest(http.MethodGet, srv.URL, nil)
		if cookie != "" {
			req.Header.Set("Cookie", cookie)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			panic(err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		cookie = res.Cookies()[0].Name + "=" + res.Cookies()[0].Value
		fmt.Print(string(body))
	}
	// Output:
	// 1
	// 2
}

// routes are the flows' routes on a chi router, with chi's own middleware
// around the session's.
func routes(m *session.Manager, sessionFirst ...bool) http.Handler {
	r := chi.NewRouter()
	if len(sessionFirst) > 0 && sessionFirst[0] {
		r.Use(m.Handler, middleware.RequestID, middleware.Recoverer, middleware.Compress(5))
	} else {
		r.Use(middleware.RequestID, middleware.Recoverer, middleware.Compress(5), m.Handler)
	}
	r.Get("/", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, flowtest.Home(session.From(r)))
	})
	r.Post("/login", func(w http.ResponseWriter, r *http.Request) {
		flowtest.Login(session.From(r), r.FormValue("name"))
		http.Redirect(w, r, "/", http.StatusSeeOther)
	})
	r.Post("/logout", func(w http.ResponseWriter, r *http.Request) {
		session.From(r).Destroy()
		io.WriteString(w, "bye")
	})
	r.Post("/cart/add", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]int{"items": flowtest.AddItems(session.From(r), r.FormValue("n"))})
	})
	r.Post("/cart/clear", func(w http.ResponseWriter, r *http.Request) {
		session.From(r).Delete("cart")
		w.WriteHeader(http.StatusNoContent)
	})
	r.Get("/stream", func(w http.ResponseWriter, r *http.Request) {
		views := flowtest.View(session.From(r))
		for range 3 {
			fmt.Fprintf(w, "views=%d\n", views)
			http.NewResponseController(w).Flush()
		}
	})
	return r
}

// The demo's flows through a chi router on a real server, in cookie mode
// and Redis server mode, send the browser what plain net/http sends.
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

// Inside or outside chi's Compress, a compressed response carries the
// session, and the next request reads it.
func TestCompressed(t *testing.T) {
	for _, first := range []bool{false, true} {
		h := routes(flowtest.Manager(t, "cookie"), first)
		req := httptest.NewRequest(http.MethodPost, "/cart/add", strings.NewReader("n=100"))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Accept-Encoding", "gzip")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Header().Get("Content-Encoding") != "gzip" || len(rec.Result().Cookies()) == 0 || !strings.Contains(strings.Join(rec.Header().Values("Vary"), ","), "Cookie") {
			t.Fatalf("session middleware first=%v: Content-Encoding %q, %d cookies, Vary %q", first, rec.Header().Get("Content-Encoding"), len(rec.Result().Cookies()), rec.Header().Values("Vary"))
		}
		req = httptest.NewRequest(http.MethodGet, "/", nil)
		for _, c := range rec.Result().Cookies() {
			req.AddCookie(c)
		}
		rec = httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if !strings.Contains(rec.Body.String(), "items=100") {
			t.Fatalf("session middleware first=%v: the next request reads %q", first, rec.Body.String())
		}
	}
}
