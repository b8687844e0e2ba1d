package session_test

import (
	"bufio"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/crumbs-go/session"
)

// TestReadAfterHijackIsNotReported: a WebSocket handler that reads its
// session after Hijack has no response to cache: nothing is reported.
func TestReadAfterHijackIsNotReported(t *testing.T) {
	h := newHarness(t)
	done := make(chan struct{})
	inner := h.m.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			t.Error(err)
			return
		}
		brw.WriteString("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
		brw.Flush()
		_ = session.From(r).Get("user") // who is this WebSocket?
		conn.Close()
	}))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		inner.ServeHTTP(w, r)
		close(done) // the Manager has finished with the request
	}))
	defer srv.Close()
	c, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	c.Write([]byte("GET / HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n"))
	bufio.NewReader(c).ReadString('\n')
	c.Close()
	<-done
	if errs := h.errors(); len(errs) > 0 {
		t.Errorf("a read after Hijack reported %v", errs)
	}
}

// TestUnsecuredCookiesAreLogged: every way a cookie goes out without
// Secure is logged once; a cookie that a session's own attributes make
// Secure is not said to go without.
func TestUnsecuredCookiesAreLogged(t *testing.T) {
	set := func(w http.ResponseWriter, r *http.Request) { session.From(r).Set("u", 1) }
	h := newHarness(t, session.WithTrustProxy(true))
	res := h.do(t, set, func(r *http.Request) {
		r.Host, r.RemoteAddr = "app.example.com", "10.0.0.2:4444"
		r.Header.Set("X-Forwarded-Proto", "http")
	})
	if strings.Contains(res.Header.Get("Set-Cookie"), "Secure") || !strings.Contains(h.logged(), "without Secure") {
		t.Errorf("a trusted proxy's http: Set-Cookie %q, log %q", res.Header.Get("Set-Cookie"), h.logged())
	}
	h = newHarness(t)
	res = h.do(t, func(w http.ResponseWriter, r *http.Request) {
		s := session.From(r)
		s.Set("u", 1)
		if err := s.SetCookie(session.Cookie{SameSite: http.SameSiteNoneMode}); err != nil {
			t.Fatal(err)
		}
	})
	if !strings.Contains(res.Header.Get("Set-Cookie"), "; Secure") || strings.Contains(h.logged(), "without Secure") {
		t.Errorf("SameSite=None on localhost: Set-Cookie %q, log %q", res.Header.Get("Set-Cookie"), h.logged())
	}
	h.do(t, set, func(r *http.Request) { r.Header.Del("Cookie") }) // a new session, plain, local
	if !strings.Contains(h.logged(), "without Secure") {
		t.Errorf("the first cookie without Secure was not logged: %q", h.logged())
	}
}
