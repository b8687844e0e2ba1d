package interop

import (
	"context"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/crumbs-go/session"
	"github.com/crumbs-go/session/serverstore/redisstore/express"
)

// raw sends method to base+path with cookie (and X-Forwarded-Proto: https
// when https), without a cookie jar: Secure cookies over plain HTTP to a
// test server. It returns the connect.sid Set-Cookie line, if any.
func raw(t *testing.T, method, base, path, cookie string, https bool) string {
	t.Helper()
	req, _ := http.NewRequest(method, base+path, nil)
	if cookie != "" {
		req.Header.Set("Cookie", cookie)
	}
	if https {
		req.Header.Set("X-Forwarded-Proto", "https")
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	if res.StatusCode != 200 {
		t.Fatalf("%s %s: %d %s", method, path, res.StatusCode, body)
	}
	for _, l := range res.Header.Values("Set-Cookie") {
		if strings.HasPrefix(l, "connect.sid=") {
			return l
		}
	}
	return ""
}

// attr returns the value of a Set-Cookie line's attribute, "" when absent
// ("true" for a flag).
func attr(line, name string) string {
	for _, p := range strings.Split(line, "; ")[1:] {
		k, v, ok := strings.Cut(p, "=")
		if strings.EqualFold(k, name) {
			if !ok {
				return "true"
			}
			return v
		}
	}
	return ""
}

// TestExpressSessionLifetime: express-session lets a request set the
// session's own cookie.maxAge: "remember me" for 30 days, a 10-minute
// sudo session. Go's reads and writes keep that span in the TTL, in
// cookie.expires and in Max-Age (the Go service's own idle timeout is an
// hour), and Express still sees it afterwards.
func TestExpressSessionLifetime(t *testing.T) {
	rc, prefix := redisClient(t)
	node := startNode(t, nodeConfig{Redis: "redis://" + redisAddr, Express: []expressApp{
		{Name: "default", Secrets: []string{oldSecret}, Prefix: prefix, MaxAge: maxAge.Milliseconds()}}})
	gosvc := goApp(t, rc, prefix, oldSecret)
	for _, span := range []time.Duration{30 * 24 * time.Hour, 10 * time.Minute} {
		t.Run(span.String(), func(t *testing.T) {
			b := newBrowser(t)
			st := b.post(node["default"], "/login?user=alice")
			// express-session sets originalMaxAge from expires − Date.now(),
			// so it may be a millisecond short of the span when the clock
			// ticks in between: Go must keep what Express stored.
			stored := b.post(node["default"], "/remember?ms="+itoa(span.Milliseconds())).Cookie["originalMaxAge"]
			if ms, _ := stored.(float64); ms > float64(span.Milliseconds()) || ms < float64(span.Milliseconds()-1000) {
				t.Fatalf("Express stored originalMaxAge %v for cookie.maxAge %d", stored, span.Milliseconds())
			}
			key := prefix + st.ID
			check := func(after string, setCookie string) {
				t.Helper()
				expires, ttl := storedCookie(t, rc, key)
				if ttl > span || ttl < span-time.Minute {
					t.Fatalf("after %s: TTL %v, want the session's %v", after, ttl, span)
				}
				if d := time.Until(expires); d > span+2*time.Second || d < span-time.Minute {
					t.Fatalf("after %s: cookie.expires in %v, want the session's %v", after, d, span)
				}
				if age, err := strconv.Atoi(attr(setCookie, "Max-Age")); err == nil && (time.Duration(age)*time.Second > span || time.Duration(age)*time.Second < span-time.Minute) {
					t.Fatalf("after %s: Max-Age %d, want the session's %v", after, age, span)
				}
			}
			check("Express's remember", "")
			_, res := b.call("GET", gosvc, "/whoami")
			check("a Go read", res.Header.Get("Set-Cookie"))
			_, res = b.call("POST", gosvc, "/set?k=theme&v=dark")
			check("a Go write", res.Header.Get("Set-Cookie"))
			if got := b.get(node["default"], "/whoami"); got.Cookie["originalMaxAge"] != stored || got.value("theme") != `"dark"` {
				t.Fatalf("Express afterwards: originalMaxAge %v (Express stored %v), values %v", got.Cookie["originalMaxAge"], stored, got.Values)
			}
		})
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// TestExpressSecureStrict: an Express app with cookie.secure: true and
// sameSite: 'strict' keeps both attributes on the sessions Go creates,
// whether the Go store was built with the constructor or from the
// configuration string: in Go's Set-Cookie, in the stored cookie object,
// and in the Set-Cookie Express sends for them afterwards.
func TestExpressSecureStrict(t *testing.T) {
	rc, prefix := redisClient(t)
	node := startNode(t, nodeConfig{Redis: "redis://" + redisAddr, Express: []expressApp{
		{Name: "strict", Secrets: []string{oldSecret}, Prefix: prefix, MaxAge: maxAge.Milliseconds(), Secure: true, SameSite: "strict"}}})
	byNew, err := express.New(rc, express.Config{Secrets: []string{oldSecret}, Prefix: prefix, MaxAge: maxAge, Secure: true, SameSite: "strict"})
	if err != nil {
		t.Fatal(err)
	}
	byString, err := session.OpenStore(context.Background(), "express+redis://"+redisAddr+"/0?crumbs_prefix="+prefix+
		"&crumbs_max_age=1h&crumbs_cookie_secure=true&crumbs_cookie_samesite=strict", [][]byte{[]byte(oldSecret)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { byString.(io.Closer).Close() })
	for name, store := range map[string]session.Store{"constructor": byNew, "configuration string": byString} {
		t.Run(name, func(t *testing.T) {
			gosvc := goAppOn(t, store)
			line := raw(t, "POST", gosvc, "/set?k=user&v=alice", "", true)
			if attr(line, "Secure") != "true" || attr(line, "SameSite") != "Strict" {
				t.Fatalf("Go's Set-Cookie: %q", line)
			}
			cookie := strings.SplitN(line, ";", 2)[0]
			st := raw(t, "POST", node["strict"], "/set?k=theme&v=dark", cookie, true)
			if attr(st, "Secure") != "true" || attr(st, "SameSite") != "Strict" {
				t.Fatalf("Express's Set-Cookie for a session Go created: %q", st)
			}
		})
	}
}

// TestExpressPriority: express-session's cookie.priority is shared both
// ways. An Express app with priority: 'high' and a Go store configured
// alike: a session either side creates goes out with Priority=High from
// both; a session's own Priority set in Go (SetCookie) goes into its cookie
// object, and Express's Set-Cookie for it follows.
func TestExpressPriority(t *testing.T) {
	_, prefix := redisClient(t)
	node := startNode(t, nodeConfig{Redis: "redis://" + redisAddr, Express: []expressApp{
		{Name: "high", Secrets: []string{oldSecret}, Prefix: prefix, MaxAge: maxAge.Milliseconds(), Priority: "high"}}})
	store, err := session.OpenStore(context.Background(), "express+redis://"+redisAddr+"/0?crumbs_prefix="+prefix+
		"&crumbs_max_age=1h&crumbs_cookie_priority=high", [][]byte{[]byte(oldSecret)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.(io.Closer).Close() })
	gosvc := goAppOn(t, store)

	// Created in Go: both sides send Priority=High.
	line := raw(t, "POST", gosvc, "/set?k=user&v=alice", "", false)
	if attr(line, "Priority") != "High" {
		t.Fatalf("Go's Set-Cookie for a session Go created: %q", line)
	}
	cookie := strings.SplitN(line, ";", 2)[0]
	if ex := raw(t, "POST", node["high"], "/set?k=theme&v=dark", cookie, false); attr(ex, "Priority") != "High" {
		t.Fatalf("Express's Set-Cookie for a session Go created: %q", ex)
	}
	// Created in Express: Go follows its cookie object.
	ex := raw(t, "POST", node["high"], "/set?k=user&v=bob", "", false)
	if attr(ex, "Priority") != "High" {
		t.Fatalf("Express's own Set-Cookie: %q", ex)
	}
	cookie = strings.SplitN(ex, ";", 2)[0]
	if line := raw(t, "POST", gosvc, "/set?k=theme&v=light", cookie, false); attr(line, "Priority") != "High" {
		t.Fatalf("Go's Set-Cookie for a session Express created: %q", line)
	}
	// A session's own Priority, set in Go: Express follows it.
	if line := raw(t, "POST", gosvc, "/priority?p=low", cookie, false); attr(line, "Priority") != "Low" {
		t.Fatalf("Go's Set-Cookie after SetCookie(Priority: low): %q", line)
	}
	if ex := raw(t, "POST", node["high"], "/set?k=n&v=1", cookie, false); attr(ex, "Priority") != "Low" {
		t.Fatalf("Express's Set-Cookie after Go set Priority low: %q", ex)
	}
}
