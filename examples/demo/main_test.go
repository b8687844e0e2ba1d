package main

import (
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
)

// startDemo serves the demo in cookie mode, with a browser for it.
func startDemo(t *testing.T) (*httptest.Server, *http.Client) {
	t.Helper()
	return startDemoWith(t, "cookie")
}

// startDemoWith serves the demo over the store config names.
func startDemoWith(t *testing.T, config string) (*httptest.Server, *http.Client) {
	t.Helper()
	t.Setenv("CRUMBS_STORE", config)
	t.Setenv("CRUMBS_SECRETS", "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=")
	h, err := setup()
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	jar, _ := cookiejar.New(nil)
	return srv, &http.Client{Jar: jar}
}

// TestCrossSiteRotateRefused: a form on another site cannot rotate the
// demo's secrets (or post anything else to it).
func TestCrossSiteRotateRefused(t *testing.T) {
	srv, c := startDemo(t)
	for _, site := range []string{"cross-site", "same-origin"} {
		req, _ := http.NewRequest("POST", srv.URL+"/rotate", nil)
		req.Header.Set("Sec-Fetch-Site", site)
		c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
		res, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if want := map[string]int{"cross-site": http.StatusForbidden, "same-origin": http.StatusSeeOther}[site]; res.StatusCode != want {
			t.Fatalf("%s POST /rotate: %d, want %d", site, res.StatusCode, want)
		}
	}
}

// TestMetricsPage: the demo's /metrics shows what its pages did.
func TestMetricsPage(t *testing.T) {
	srv, c := startDemo(t)
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

// TestInspectorAndRotate: the page inspects its own cookie (key ID, which
// secret, version); after "Rotate the secrets" the next page sees the old
// key as the second secret, and the one after sees a new key ID, first.
func TestInspectorAndRotate(t *testing.T) {
	srv, c := startDemo(t)
	get := func() string {
		t.Helper()
		res, err := c.Get(srv.URL + "/")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		return string(b)
	}
	field := func(page, id string) string {
		t.Helper()
		m := regexp.MustCompile(`id="` + id + `">([^<]*)<`).FindStringSubmatch(page)
		if m == nil {
			t.Fatalf("no %s on the page:\n%s", id, page)
		}
		return m[1]
	}
	get()
	page := get()
	key := field(page, "key-id")
	if s := field(page, "secret"); s != "1 of 1 (the primary)" || field(page, "version") != "1" || field(page, "mode") != "cookie" || !strings.Contains(page, `id="cookie-0"`) {
		t.Fatalf("before the rotation: secret %q\n%s", s, page)
	}
	res, err := c.Post(srv.URL+"/rotate", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	page = get() // the redirect's page carried the old cookie; this one the re-sealed
	if field(page, "secret") != "1 of 2 (the primary)" || field(page, "key-id") == key {
		t.Fatalf("after the rotation: secret %q, key ID %q (was %q)", field(page, "secret"), field(page, "key-id"), key)
	}
}

// TestSpillOverCart: with CRUMBS_STORE=cookie+memory the demo's cart moves
// to the server when it outgrows the cookie, and the page says so; emptied,
// it comes back into the cookie.
func TestSpillOverCart(t *testing.T) {
	srv, c := startDemoWith(t, "cookie+memory")
	post := func(path string) string {
		t.Helper()
		req, _ := http.NewRequest("POST", srv.URL+path, strings.NewReader("n=100"))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Sec-Fetch-Site", "same-origin")
		res, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != http.StatusOK {
			t.Fatalf("POST %s: %d", path, res.StatusCode)
		}
		return string(b)
	}
	mode := regexp.MustCompile(`<td id="mode">([^<]*)</td>`)
	page := post("/cart/add")
	if m := mode.FindStringSubmatch(page); m == nil || !strings.HasPrefix(m[1], "cookie (spill-over") {
		t.Fatalf("a cart of 100 items: mode %q", m)
	}
	for i := 0; ; i++ {
		page = post("/cart/add")
		if m := mode.FindStringSubmatch(page); m != nil && strings.HasPrefix(m[1], "server (spilled over") {
			break
		}
		if i == 10 {
			t.Fatalf("the cart never moved to the server:\n%.3000s", page)
		}
	}
	post("/cart/clear")
	// The page describes the request's cookie: the next page sees the
	// cookie the clear sealed.
	res, err := c.Get(srv.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if m := mode.FindStringSubmatch(string(b)); m == nil || !strings.HasPrefix(m[1], "cookie (spill-over") {
		t.Fatalf("after emptying the cart: mode %q", m)
	}
}
