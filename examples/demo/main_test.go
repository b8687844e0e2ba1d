package main

import (
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestMetricsPage: the demo's /metrics shows what its pages did.
func TestMetricsPage(t *testing.T) {
	t.Setenv("CRUMBS_STORE", "cookie")
	t.Setenv("CRUMBS_SECRETS", "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=")
	h, err := setup()
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	defer srv.Close()
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar}
	for range 2 {
		res, err := c.Get(srv.URL + "/")
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
	}
	res, err := c.Get(srv.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	for _, want := range []string{`crumbs_session_loads_total{outcome="new",reason=""} 1`, `crumbs_session_loads_total{outcome="loaded",reason=""} 1`, `crumbs_session_commits_total{operation="created"} 1`, "crumbs_session_token_bytes_bucket"} {
		if !strings.Contains(string(b), want) {
			t.Errorf("/metrics lacks %s:\n%.2000s", want, b)
		}
	}
}
