package session_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/crumbs-go/session"
)

// TestDeploymentLimits: New refuses partitioned cookies whose largest set
// Chrome would not keep (10 KiB per embedded site), and so does SetCookie;
// a request whose Cookie header nears the limits of common proxies is
// logged once.
func TestDeploymentLimits(t *testing.T) {
	t.Parallel()
	part := session.WithCookie(session.Cookie{Partitioned: true})
	if _, err := session.New(mustCookieStore(t), part, session.WithMaxChunks(3)); err == nil || !strings.Contains(err.Error(), "10240 bytes of partitioned cookies") {
		t.Fatalf("Partitioned over 3 chunks of 4000 bytes: %v, want a refusal naming Chrome's limit", err)
	}
	if _, err := session.New(mustCookieStore(t), part, session.WithMaxChunks(3), session.WithTotalBudget(10000)); err != nil {
		t.Fatalf("Partitioned within 10 000 bytes: %v", err)
	}
	if _, err := session.New(mustCookieStore(t), part); err != nil {
		t.Fatalf("Partitioned with the default budget: %v", err)
	}
	h := newHarness(t, session.WithMaxChunks(3))
	if err := setCookie(t, h, session.Cookie{Partitioned: true, Secure: session.SecureAlways}); err == nil || !strings.Contains(err.Error(), "Chrome keeps at most") {
		t.Fatalf("SetCookie(Partitioned) under 3 chunks of 4000 bytes: %v", err)
	}

	h = newHarness(t)
	other := "pref=" + strings.Repeat("x", 6200)
	for range 2 {
		h.do(t, counter, func(r *http.Request) { r.Header.Add("Cookie", other) })
	}
	if n := strings.Count(h.logged(), "near the header limits"); n != 1 {
		t.Fatalf("a 6 KiB Cookie header was logged %d times, want once:\n%s", n, h.logged())
	}
	if !strings.Contains(h.logged(), "nginx") {
		t.Fatalf("the warning does not name nginx: %s", h.logged())
	}
	h = newHarness(t)
	h.do(t, counter, func(r *http.Request) { r.Header.Add("Cookie", "pref="+strings.Repeat("x", 4000)) })
	if strings.Contains(h.logged(), "near the header limits") {
		t.Fatal("a 4 KiB Cookie header was logged")
	}
}
