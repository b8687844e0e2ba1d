package redisstore_test

import (
	"bytes"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/crumbs-go/session"
	"github.com/crumbs-go/session/cookiestore"
)

// cookieSite is cookie mode with a Redis revocation store behind a proxy
// that can go down.
func cookieSite(t testing.TB, target string, opts ...cookiestore.Option) (*session.Manager, *bytes.Buffer, *redis.Client) {
	return cookieSiteCtx(t, target, false, opts...)
}

// cookieSiteCtx is cookieSite with the client's ContextTimeoutEnabled set
// as bound says: the revocation check then calls Redis directly.
func cookieSiteCtx(t testing.TB, target string, bound bool, opts ...cookiestore.Option) (*session.Manager, *bytes.Buffer, *redis.Client) {
	t.Helper()
	c := redis.NewClient(&redis.Options{Addr: target, MaxRetries: -1, ContextTimeoutEnabled: bound,
		DialTimeout: 300 * time.Millisecond, ReadTimeout: 3 * time.Second, WriteTimeout: 3 * time.Second})
	t.Cleanup(func() { c.Close() })
	store, err := cookiestore.New(secrets, append([]cookiestore.Option{cookiestore.WithRevocation(newBackend(t, c))}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	m, err := session.New(store, session.WithCookieName("sid"), session.WithIdentityKey("user"),
		session.WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
	if err != nil {
		t.Fatal(err)
	}
	return m, &logs, c
}

// TestCookieRevocationStoreDown: with the Redis of a revocation store
// unreachable, a signed-in cookie due for a check fails closed (503, the
// cookie kept) or, with WithFailOpen, is accepted with a warning; anonymous
// sessions never notice; when Redis is back, the signed-in user still is.
func TestCookieRevocationStoreDown(t *testing.T) {
	client(t) // skip (or fail under CI) without Redis
	p := newProxy(t, addr())
	m, logs, _ := cookieSite(t, p.ln.Addr().String(), cookiestore.WithCheckInterval(0))
	_, ann := serve(t, m, "", func(s *session.Session) { s.Set("user", "ann") })
	_, anon := serve(t, m, "", func(s *session.Session) { s.Set("cart", 1) })

	p.set(false)
	w, after := serve(t, m, ann, func(s *session.Session) { s.Get("user") })
	if w.Code != http.StatusServiceUnavailable || after != ann {
		t.Fatalf("fail closed, Redis down: status %d, cookie changed %v; want 503 and the cookie kept", w.Code, after != ann)
	}
	if !strings.Contains(logs.String(), "revocation check") {
		t.Fatalf("the failure was not logged:\n%s", logs)
	}
	if w, _ := serve(t, m, anon, func(s *session.Session) { s.Set("cart", 2) }); w.Code != 200 {
		t.Fatalf("an anonymous session with Redis down: %d, want 200", w.Code)
	}
	p.set(true)
	var user string
	if w, _ := serve(t, m, ann, func(s *session.Session) { user, _ = session.Get[string](s, "user") }); w.Code != 200 || user != "ann" {
		t.Fatalf("Redis back: %d, user %q; want 200, ann", w.Code, user)
	}

	open, logs, _ := cookieSite(t, p.ln.Addr().String(), cookiestore.WithCheckInterval(0), cookiestore.WithFailOpen())
	_, ann = serve(t, open, "", func(s *session.Session) { s.Set("user", "ann") })
	p.set(false)
	user = ""
	if w, _ := serve(t, open, ann, func(s *session.Session) { user, _ = session.Get[string](s, "user") }); w.Code != 200 || user != "ann" {
		t.Fatalf("fail open, Redis down: %d, user %q; want 200, ann", w.Code, user)
	}
	if !strings.Contains(logs.String(), "level=WARN") || !strings.Contains(logs.String(), "accepted the cookie unchecked") {
		t.Fatalf("no warning:\n%s", logs)
	}
}

// TestCookieRevocationCheckTimeout: a Redis that accepts and never answers
// holds a check no longer than WithCheckTimeout, whatever the client's own
// read timeout (3 s here).
func TestCookieRevocationCheckTimeout(t *testing.T) {
	client(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	var held []net.Conn
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			held = append(held, c) // never answered
		}
	}()
	for _, bound := range []bool{false, true} { // in a goroutine, and called directly
		// Signing in makes no round trip to the revocation store.
		m, _, _ := cookieSiteCtx(t, ln.Addr().String(), bound, cookiestore.WithCheckInterval(0), cookiestore.WithCheckTimeout(300*time.Millisecond))
		_, ann := serve(t, m, "", func(s *session.Session) { s.Set("user", "ann") })
		start := time.Now()
		w, _ := serve(t, m, ann, func(s *session.Session) { s.Get("user") })
		if d := time.Since(start); w.Code != http.StatusServiceUnavailable || d > 2*time.Second {
			t.Fatalf("a silent Redis (ContextTimeoutEnabled %v): status %d after %v; want 503 within the 300ms check timeout", bound, w.Code, d)
		}
	}
}

// BenchmarkCookieRevocationCheck is the cost of a revocation check per
// request with the round trip to Redis: a signed-in cookie request that
// reads one value, with no revocation store, with one checked on every
// request, and with the default interval (one check a minute).
func BenchmarkCookieRevocationCheck(b *testing.B) {
	c := client(b)
	for _, tc := range []struct {
		name string
		opts []cookiestore.Option
	}{
		{"none", nil},
		{"every-request", []cookiestore.Option{cookiestore.WithRevocation(newBackend(b, c)), cookiestore.WithCheckInterval(0)}},
		{"every-request-ctx", []cookiestore.Option{cookiestore.WithRevocation(newBackend(b, redis.NewClient(&redis.Options{Addr: addr(), ContextTimeoutEnabled: true}))), cookiestore.WithCheckInterval(0)}},
		{"interval-1m", []cookiestore.Option{cookiestore.WithRevocation(newBackend(b, c))}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			store, err := cookiestore.New(secrets, tc.opts...)
			if err != nil {
				b.Fatal(err)
			}
			m, err := session.New(store, session.WithCookieName("sid"), session.WithIdentityKey("user"), session.WithLogger(slog.New(slog.DiscardHandler)))
			if err != nil {
				b.Fatal(err)
			}
			_, ann := serve(b, m, "", func(s *session.Session) { s.Set("user", "ann") })
			b.ReportAllocs()
			for b.Loop() {
				if w, _ := serve(b, m, ann, func(s *session.Session) { s.Get("user") }); w.Code != 200 {
					b.Fatal(w.Code)
				}
			}
		})
	}
}
