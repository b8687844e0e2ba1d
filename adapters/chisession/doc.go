// Package chisession shows crumbs in chi v5 applications. There is nothing
// to adapt: chi routers are net/http handlers and take net/http middleware,
// so the Manager's middleware goes in as it is, and handlers reach the
// session with [github.com/crumbs-go/session.From]:
//
//	r := chi.NewRouter()
//	r.Use(m.Handler)
//	r.Get("/", func(w http.ResponseWriter, r *http.Request) {
//		views, _ := session.Update(session.From(r), "views", func(n int) int { return n + 1 })
//		fmt.Fprintln(w, views)
//	})
//
// The package holds only that example and tests that run the demo's flows
// through a chi router on a real server, in cookie mode and Redis server
// mode, with chi's RequestID, Recoverer and Compress middleware around the
// session's; m.Handler may go before or after them in r.Use.
package chisession
