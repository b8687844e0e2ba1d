// Package metricstest drives a metrics.Recorder with real requests, for
// the tests of Recorders (the adapters of this module's metrics/ modules,
// or your own).
package metricstest

import (
	"bytes"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"testing"

	"github.com/crumbs-go/session"
	"github.com/crumbs-go/session/metrics"
	"github.com/crumbs-go/session/serverstore"
)

// Drive serves one browser's requests through a Manager over a memory
// server store that reports to rec, one request per action: "set" (stores
// a value), "destroy" (ends the session), "forged" (a made-up cookie, from
// another client) or "read" (reads a value). Drive("set", "read", "set",
// "destroy") reports, in order: new and created; loaded; loaded and saved;
// loaded and destroyed; with the store calls each makes.
func Drive(t testing.TB, rec metrics.Recorder, actions ...string) {
	t.Helper()
	store, err := serverstore.New(serverstore.NewMemory(), [][]byte{bytes.Repeat([]byte("k"), 32)})
	if err != nil {
		t.Fatal(err)
	}
	m, err := session.New(store, session.WithMetrics(rec))
	if err != nil {
		t.Fatal(err)
	}
	var action string
	srv := httptest.NewServer(m.Handler(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		s := session.From(r)
		switch action {
		case "set":
			s.Set("user", "ada")
		case "destroy":
			s.Destroy()
		default:
			s.Get("user")
		}
	})))
	defer srv.Close()
	jar, _ := cookiejar.New(nil)
	browser := &http.Client{Jar: jar}
	for _, action = range actions {
		c := browser
		req, _ := http.NewRequest("GET", srv.URL, nil)
		if action == "forged" {
			c = http.DefaultClient
			req.Header.Set("Cookie", "session=forged")
		}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("%s: status %d", action, resp.StatusCode)
		}
	}
}
