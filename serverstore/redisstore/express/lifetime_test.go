package express_test

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/crumbs-go/session"
	"github.com/crumbs-go/session/driver"
	"github.com/crumbs-go/session/serverstore/redisstore/express"
)

// connectSID is the connect.sid express-session sets for id under secret.
func connectSID(id, secret string) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(id))
	return url.PathEscape("s:" + id + "." + base64.RawStdEncoding.EncodeToString(m.Sum(nil)))
}

// stored reads a record's cookie object and TTL.
func stored(t *testing.T, store *express.Store, id string) (map[string]any, time.Duration) {
	t.Helper()
	c := client(t)
	raw, err := c.Get(context.Background(), store.Prefix()+id).Result()
	if err != nil {
		t.Fatalf("get %s: %v", id, err)
	}
	var doc struct {
		Cookie map[string]any `json:"cookie"`
	}
	if err := json.Unmarshal([]byte(raw), &doc); err != nil {
		t.Fatal(err)
	}
	return doc.Cookie, c.PTTL(context.Background(), store.Prefix()+id).Val()
}

// maxAge is the Max-Age of the response's connect.sid, 0 when none.
func maxAge(w *httptest.ResponseRecorder) int {
	for _, c := range w.Result().Cookies() {
		if c.Name == "connect.sid" {
			return c.MaxAge
		}
	}
	return 0
}

// TestExpressSessionKeepsItsLifetime: express-session lets a request set
// req.session.cookie.maxAge ("remember me" for 30 days, a 10-minute sudo
// session). A Go read or write keeps that span, not the Manager's idle
// timeout, in the TTL, in cookie.expires and in Max-Age; originalMaxAge
// stays as Express stored it.
func TestExpressSessionKeepsItsLifetime(t *testing.T) {
	c := client(t)
	for _, tt := range []struct {
		name string
		span time.Duration
	}{{"30 days", 30 * 24 * time.Hour}, {"10 minutes", 10 * time.Minute}} {
		t.Run(tt.name, func(t *testing.T) {
			store := newStore(t, c)
			id := "exp" + strings.ReplaceAll(tt.name, " ", "")
			ms := tt.span.Milliseconds()
			expires := time.Now().Add(tt.span).UTC().Format("2006-01-02T15:04:05.000Z")
			c.Set(context.Background(), store.Prefix()+id, `{"cookie":{"originalMaxAge":`+itoa(ms)+`,"expires":"`+expires+`","httpOnly":true,"path":"/"},"user":"ada"}`, tt.span)
			a := newExpressApp(t, store) // the Manager's idle timeout: 1 h
			a.jar = connectSID(id, "keyboard cat")
			for _, step := range []struct {
				name string
				f    func(*session.Session)
			}{
				{"a read", func(s *session.Session) { s.Get("user") }},
				{"a write", func(s *session.Session) { s.Set("n", 1) }},
				{"a Touch", func(s *session.Session) { s.Touch() }},
			} {
				w := a.do(step.f)
				cookie, ttl := stored(t, store, id)
				if got := cookie["originalMaxAge"]; got != float64(ms) {
					t.Fatalf("after %s: originalMaxAge %v, want %d", step.name, got, ms)
				}
				if ttl > tt.span || ttl < tt.span-time.Minute {
					t.Fatalf("after %s: TTL %v, want the session's %v", step.name, ttl, tt.span)
				}
				exp, _ := time.Parse(time.RFC3339, cookie["expires"].(string))
				if d := time.Until(exp); d > tt.span+time.Second || d < tt.span-time.Minute {
					t.Fatalf("after %s: cookie.expires in %v, want the session's %v", step.name, d, tt.span)
				}
				if age := maxAge(w); age != 0 && (age > int(tt.span/time.Second) || age < int((tt.span-time.Minute)/time.Second)) {
					t.Fatalf("after %s: Max-Age %d, want the session's %v", step.name, age, tt.span)
				}
			}
		})
	}
}

func itoa(n int64) string { b, _ := json.Marshal(n); return string(b) }

// TestExpressCookieOptions: the Express application's cookie options,
// given to New or in the configuration string, reach the cookie object of
// the sessions Go creates (express-session rebuilds a loaded session's
// cookie from it) and Go's own Set-Cookie, whatever the Manager's
// defaults; a session Express created keeps its stored options in Go's
// Set-Cookie; a stored cookie object that disagrees with the configuration
// is logged once.
func TestExpressCookieOptions(t *testing.T) {
	c := client(t)
	ctx := context.Background()
	var log bytes.Buffer
	cfg := express.Config{Secrets: []string{"keyboard cat"}, Secure: true, SameSite: "strict", Path: "/", Logger: slog.New(slog.NewTextHandler(&log, nil))}
	fromString := func() *express.Store {
		st, err := session.OpenStore(ctx, "express+redis://"+c.Options().Addr+"/0?crumbs_cookie_secure=true&crumbs_cookie_samesite=strict&crumbs_prefix="+newStore(t, c).Prefix(), [][]byte{[]byte("keyboard cat")})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.(interface{ Close() error }).Close() })
		return st.(*express.Store)
	}
	fromNew := func() *express.Store {
		cfg.Prefix = newStore(t, c).Prefix()
		s, err := express.New(c, cfg)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	for name, store := range map[string]*express.Store{"New": fromNew(), "configuration string": fromString()} {
		a := newExpressApp(t, store)
		w := a.do(func(s *session.Session) { s.Set("user", "ada") })
		line := w.Result().Header.Get("Set-Cookie")
		if !strings.Contains(line, "; Secure") || !strings.Contains(line, "SameSite=Strict") {
			t.Errorf("%s: Go's Set-Cookie %q lacks the Express app's Secure and SameSite=Strict", name, line)
		}
		cookie, _ := stored(t, store, a.sid(t))
		if cookie["secure"] != true || cookie["sameSite"] != "strict" {
			t.Errorf("%s: the stored cookie object %v lacks secure: true and sameSite: strict", name, cookie)
		}
	}
	// A session the Express app created, with its own options: Go's
	// Set-Cookie follows them.
	store := fromNew()
	id := "fromexpress"
	c.Set(ctx, store.Prefix()+id, `{"cookie":{"originalMaxAge":3600000,"expires":"2030-01-01T01:00:00.000Z","secure":true,"httpOnly":true,"path":"/admin","sameSite":"none"},"user":"ada"}`, time.Hour)
	a := newExpressApp(t, store)
	a.jar = connectSID(id, "keyboard cat")
	line := a.do(func(s *session.Session) { s.Set("n", 1) }).Result().Header.Get("Set-Cookie")
	if !strings.Contains(line, "; Path=/admin;") || !strings.Contains(line, "SameSite=None") || !strings.Contains(line, "; Secure") {
		t.Errorf("Go's Set-Cookie %q does not follow the stored cookie object (path /admin, sameSite none, secure)", line)
	}
	if strings.Count(log.String(), "disagrees") != 1 {
		t.Errorf("want one warning that the stored cookie object disagrees with the configuration:\n%s", log.String())
	}
}

// TestExpressTokenBinding: a connect.sid is a cookie, bound to its cookie
// name; it is not a bearer token (spec/header-token-v1.md §1). A Manager
// over the Express store refuses WithHeaderToken, and the store refuses a
// header binding.
func TestExpressTokenBinding(t *testing.T) {
	c := client(t)
	store := newStore(t, c)
	if _, err := session.New(store, session.WithCookieName("connect.sid"), session.WithHeaderToken("", "")); err == nil {
		t.Error("session.New accepted WithHeaderToken over the Express store")
	}
	ctx := context.Background()
	id := "bound"
	c.Set(ctx, store.Prefix()+id, `{"cookie":{"originalMaxAge":3600000,"expires":"2030-01-01T01:00:00.000Z","httpOnly":true,"path":"/"},"user":"ada"}`, time.Hour)
	if _, err := store.Load(ctx, "header:connect.sid", connectSID(id, "keyboard cat"), time.Now()); err == nil {
		t.Error("the store loaded a connect.sid under a header binding")
	}
}

// TestExpressRegenerateKeepsTheIdleSpan: a login (Regenerate) that moves
// values a parallel request stored under the old ID meanwhile rewrites the
// new record; that rewrite is not a "remember me" (SetLifetime), so the
// new session keeps the idle span it was created with (originalMaxAge, the
// TTL), not one that runs to the absolute deadline.
func TestExpressRegenerateKeepsTheIdleSpan(t *testing.T) {
	c := client(t)
	store := newStore(t, c)
	a := newExpressApp(t, store, session.WithLifetime(24*time.Hour)) // idle 1 h
	a.do(func(s *session.Session) { s.Set("user", "ada") })
	parallel := newExpressApp(t, store, session.WithLifetime(24*time.Hour))
	parallel.jar = a.jar
	a.do(func(s *session.Session) {
		s.Get("user") // loaded; then a parallel request stores a value under the old ID
		parallel.do(func(s *session.Session) { s.Set("cart", 3) })
		s.Regenerate(true)
	})
	if len(a.errs) > 0 || len(parallel.errs) > 0 {
		t.Fatalf("errors: %v %v", a.errs, parallel.errs)
	}
	a.do(func(s *session.Session) {
		if v, _ := session.Get[int](s, "cart"); v != 3 {
			t.Errorf("the parallel request's value did not move to the new ID: cart = %d", v)
		}
	})
	cookie, ttl := stored(t, store, a.sid(t))
	if got := cookie["originalMaxAge"]; got != float64(time.Hour.Milliseconds()) {
		t.Errorf("originalMaxAge %v after the login, want the idle span %d", got, time.Hour.Milliseconds())
	}
	if ttl > time.Hour {
		t.Errorf("TTL %v after the login, want at most the idle timeout (1h)", ttl)
	}
}

// TestExpressRememberMeAtLogin: "remember me" set by the request that
// creates the session or logs in (SetLifetime with Regenerate, the common
// login) is express-session's cookie.maxAge from the start: the new
// record's originalMaxAge, TTL and Max-Age run 30 days, not the idle hour.
func TestExpressRememberMeAtLogin(t *testing.T) {
	c := client(t)
	const month = 30 * 24 * time.Hour
	for _, tt := range []struct {
		name  string
		first func(*session.Session)
	}{
		{"on a new session", nil},
		{"with Regenerate", func(s *session.Session) { s.Set("cart", 1) }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			store := newStore(t, c)
			a := newExpressApp(t, store) // idle 1 h
			if tt.first != nil {
				a.do(tt.first)
			}
			w := a.do(func(s *session.Session) {
				s.Regenerate(true)
				s.Set("user", "ada")
				s.SetLifetime(month)
			})
			cookie, ttl := stored(t, store, a.sid(t))
			if got := cookie["originalMaxAge"]; got != float64(month.Milliseconds()) {
				t.Errorf("originalMaxAge %v, want the month's %d", got, month.Milliseconds())
			}
			if ttl < month-time.Minute {
				t.Errorf("TTL %v, want a month", ttl)
			}
			if age := maxAge(w); age < int((month-time.Minute)/time.Second) {
				t.Errorf("Max-Age %d, want a month", age)
			}
		})
	}
}

// lossyRetire is the Express store whose first Retire succeeds but reports
// a failure, as when its reply is lost.
type lossyRetire struct {
	*express.Store
	lost bool
}

func (l *lossyRetire) Retire(ctx context.Context, name string, old, next *driver.Record, now time.Time) (*driver.Record, error) {
	rec, err := l.Store.Retire(ctx, name, old, next, now)
	if err == nil && !l.lost {
		l.lost = true
		return nil, errors.New("the reply was lost")
	}
	return rec, err
}

// TestExpressRetireReplyLost: a login whose Retire succeeded but whose
// reply was lost is saved again; the retry finds its own tombstone, and
// the new session keeps every value, its absolute deadline and its kind.
func TestExpressRetireReplyLost(t *testing.T) {
	c := client(t)
	store := newStore(t, c)
	a := newExpressApp(t, store, session.WithLifetime(24*time.Hour), session.WithBrowserSessionCookie(true))
	a.do(func(s *session.Session) { s.Set("cart", 3) })
	lossy, err := session.New(&lossyRetire{Store: store}, session.WithCookieName("connect.sid"), session.WithIdleTimeout(time.Hour),
		session.WithLifetime(24*time.Hour), session.WithBrowserSessionCookie(true), session.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatal(err)
	}
	r := httptest.NewRequest("GET", "http://localhost/", nil)
	r.Header.Set("Cookie", "connect.sid="+a.jar)
	w := httptest.NewRecorder()
	lossy.Handler(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		s := session.From(r)
		s.Set("user", "ada")
		s.Regenerate(true)
		if err := s.Save(); err == nil {
			t.Error("the first Save reported no error although its Retire failed")
		}
		if err := s.Save(); err != nil {
			t.Errorf("the retried Save: %v", err)
		}
	})).ServeHTTP(w, r)
	for _, k := range w.Result().Cookies() {
		if k.Name == "connect.sid" {
			a.jar = k.Value
		}
	}
	a.do(func(s *session.Session) {
		if v, _ := session.Get[int](s, "cart"); v != 3 {
			t.Errorf("after the login: cart = %d, want 3", v)
		}
		if v, _ := session.Get[string](s, "user"); v != "ada" {
			t.Errorf("after the login: user = %q, want ada", v)
		}
		if d := time.Until(s.Deadline()); d > time.Hour+time.Second {
			t.Errorf("after the login: deadline in %v, want within the idle hour", d)
		}
	})
	var doc map[string]any
	raw, _ := c.Get(context.Background(), store.Prefix()+a.sid(t)).Result()
	json.Unmarshal([]byte(raw), &doc)
	if _, ok := doc["_crumbsExpires"]; !ok {
		t.Errorf("the new record lost its absolute deadline: %s", raw)
	}
	if cookie, _ := doc["cookie"].(map[string]any); cookie["originalMaxAge"] != nil {
		t.Errorf("the browser-session record came back persistent: %s", raw)
	}
}
