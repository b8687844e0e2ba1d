package migrate_test

import (
	"bytes"
	"context"
	"encoding/gob"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/securecookie"

	"github.com/crumbs-go/session"
	"github.com/crumbs-go/session/cookiestore"
	"github.com/crumbs-go/session/driver"
	"github.com/crumbs-go/session/migrate"
	"github.com/crumbs-go/session/serverstore"
)

// User is a type an application registered with gob for gorilla.
type User struct {
	Name  string
	Admin bool
}

// gorilla/sessions registers []interface{} (its flashes) in its init.
func init() { gob.Register(User{}); gob.Register([]any{}) }

var (
	hashKey  = []byte("gorilla-hash-key-0123456789abcdef0123456789abcdef0123456789abcd")
	blockKey = []byte("gorilla-block-key-0123456789abcd")
	secret   = bytes.Repeat([]byte("c"), 32)
)

// logBuf collects a Manager's log.
type logBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuf) Write(p []byte) (int, error) { l.mu.Lock(); defer l.mu.Unlock(); return l.b.Write(p) }
func (l *logBuf) String() string              { l.mu.Lock(); defer l.mu.Unlock(); return l.b.String() }

// app is a crumbs application with importers, served over real HTTP: GET
// /show prints the session, as the next request sees it.
type app struct {
	m   *session.Manager
	srv *httptest.Server
	log *logBuf
}

func newApp(t *testing.T, mode string, opts ...session.Option) *app {
	t.Helper()
	var store session.Store
	var err error
	switch mode {
	case "cookie":
		store, err = cookiestore.New([][]byte{secret})
	case "memory":
		store, err = serverstore.New(serverstore.NewMemory(), [][]byte{secret})
	}
	if err != nil {
		t.Fatal(err)
	}
	a := &app{log: &logBuf{}}
	opts = append([]session.Option{session.WithLogger(slog.New(slog.NewTextHandler(a.log, &slog.HandlerOptions{Level: slog.LevelInfo})))}, opts...)
	if a.m, err = session.New(store, opts...); err != nil {
		t.Fatal(err)
	}
	a.srv = httptest.NewServer(a.m.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s := session.From(r)
		if r.URL.Path == "/set" {
			s.Set("note", r.URL.Query().Get("v"))
		}
		user, _ := session.Get[string](s, "user")
		n, _ := session.Get[int](s, "n")
		u, _ := session.Get[User](s, "u")
		fmt.Fprintf(w, "user=%s n=%d u=%+v flashes=%v keys=%v new=%v", user, n, u, s.Flashes(), s.Keys(), s.IsNew())
	})))
	t.Cleanup(a.srv.Close)
	return a
}

// browser is a cookie jar in front of the app.
type browser struct {
	t   *testing.T
	a   *app
	jar *cookiejar.Jar
	res *http.Response
}

func (a *app) browser(t *testing.T, cookies ...*http.Cookie) *browser {
	jar, _ := cookiejar.New(nil)
	u, _ := url.Parse(a.srv.URL)
	jar.SetCookies(u, cookies)
	return &browser{t: t, a: a, jar: jar}
}

func (b *browser) get(path string) string {
	b.t.Helper()
	c := &http.Client{Jar: b.jar}
	res, err := c.Get(b.a.srv.URL + path)
	if err != nil {
		b.t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	if res.StatusCode != 200 {
		b.t.Fatalf("GET %s: %d %s", path, res.StatusCode, body)
	}
	b.res = res
	return string(body)
}

// names returns the cookie names the browser now holds.
func (b *browser) names() []string {
	u, _ := url.Parse(b.a.srv.URL)
	var out []string
	for _, c := range b.jar.Cookies(u) {
		out = append(out, c.Name)
	}
	return out
}

func (b *browser) setCookies() []string { return b.res.Header.Values("Set-Cookie") }

// gorillaCookie mints a cookie exactly as gorilla/sessions' CookieStore.Save
// does: securecookie.EncodeMulti of the session's Values under its codecs.
func gorillaCookie(t *testing.T, name string, values map[any]any, pairs ...[]byte) *http.Cookie {
	t.Helper()
	codecs := securecookie.CodecsFromPairs(pairs...)
	for _, c := range codecs {
		c.(*securecookie.SecureCookie).MaxAge(86400 * 30)
	}
	v, err := securecookie.EncodeMulti(name, values, codecs...)
	if err != nil {
		t.Fatal(err)
	}
	return &http.Cookie{Name: name, Value: v, Path: "/"}
}

func gorilla(t *testing.T, g migrate.Gorilla) driver.Importer {
	t.Helper()
	if g.Name == "" {
		g.Name = "app"
	}
	if g.KeyPairs == nil {
		g.KeyPairs = [][]byte{hashKey, blockKey}
	}
	im, err := migrate.FromGorilla(g)
	if err != nil {
		t.Fatal(err)
	}
	return im
}

var modes = []string{"cookie", "memory"}

func TestGorillaSessionMigrates(t *testing.T) {
	for _, mode := range modes {
		t.Run(mode, func(t *testing.T) {
			a := newApp(t, mode, session.WithImport(gorilla(t, migrate.Gorilla{})))
			old := gorillaCookie(t, "app", map[any]any{"user": "alice", "n": 42, "u": User{"Alice", true}, "_flash": []any{"welcome"}}, hashKey, blockKey)
			b := a.browser(t, old)
			got := b.get("/show")
			want := "user=alice n=42 u={Name:Alice Admin:true} flashes=[welcome] keys=[n u user] new=false"
			if got != want {
				t.Fatalf("first request:\n got %s\nwant %s", got, want)
			}
			lines := strings.Join(b.setCookies(), "\n")
			if !strings.Contains(lines, "app=; Path=/; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Max-Age=0") {
				t.Errorf("the gorilla cookie is not expired:\n%s", lines)
			}
			if n := b.names(); len(n) != 1 || n[0] != "session" {
				t.Fatalf("the browser holds %v, want only the crumbs cookie", n)
			}
			// The next request carries only the crumbs cookie: the same
			// values (the flash was read).
			if got, want := b.get("/show"), "user=alice n=42 u={Name:Alice Admin:true} flashes=[] keys=[n u user] new=false"; got != want {
				t.Fatalf("second request:\n got %s\nwant %s", got, want)
			}
			if got := a.m.Migrations()["gorilla/sessions"]; got != 1 {
				t.Errorf("Migrations = %d, want 1", got)
			}
			if c := strings.Count(a.log.String(), "migrated a session of gorilla/sessions"); c != 1 {
				t.Errorf("logged %d migrations, want 1:\n%s", c, a.log)
			}
		})
	}
}

func TestGorillaWrongKeyIsRejected(t *testing.T) {
	for _, mode := range modes {
		t.Run(mode, func(t *testing.T) {
			a := newApp(t, mode, session.WithImport(gorilla(t, migrate.Gorilla{})))
			other := []byte("another-hash-key-0123456789abcdef0123456789abcdef0123456789abc")
			b := a.browser(t, gorillaCookie(t, "app", map[any]any{"user": "mallory"}, other, blockKey))
			if got, want := b.get("/show"), "user= n=0 u={Name: Admin:false} flashes=[] keys=[] new=true"; got != want {
				t.Fatalf("got %s\nwant %s", got, want)
			}
			if !strings.Contains(a.log.String(), "rejected a session of gorilla/sessions") || !strings.Contains(a.log.String(), "securecookie") {
				t.Errorf("the log gives no reason:\n%s", a.log)
			}
			if len(b.names()) != 0 {
				t.Errorf("the browser still holds %v", b.names())
			}
			if a.m.Migrations()["gorilla/sessions"] != 0 {
				t.Error("a rejected cookie was counted")
			}
		})
	}
}

func TestGorillaBothCookiesCrumbsWins(t *testing.T) {
	a := newApp(t, "memory", session.WithImport(gorilla(t, migrate.Gorilla{})))
	b := a.browser(t)
	b.get("/set?v=crumbs")
	// The browser also sends an old gorilla cookie (its expiry was lost).
	u, _ := url.Parse(a.srv.URL)
	b.jar.SetCookies(u, []*http.Cookie{gorillaCookie(t, "app", map[any]any{"user": "alice"}, hashKey, blockKey)})
	if got := b.get("/show"); !strings.Contains(got, "keys=[note]") {
		t.Fatalf("the crumbs session did not win: %s", got)
	}
	if n := b.names(); len(n) != 1 || n[0] != "session" {
		t.Errorf("the old cookie was not expired again: the browser holds %v", n)
	}
	if a.m.Migrations()["gorilla/sessions"] != 0 {
		t.Error("counted a migration that did not happen")
	}
}

func TestGorillaSharesTheCrumbsName(t *testing.T) {
	for _, mode := range modes {
		t.Run(mode, func(t *testing.T) {
			a := newApp(t, mode, session.WithImport(gorilla(t, migrate.Gorilla{Name: "session"})))
			b := a.browser(t, gorillaCookie(t, "session", map[any]any{"user": "alice"}, hashKey, blockKey))
			if got := b.get("/show"); !strings.HasPrefix(got, "user=alice") {
				t.Fatalf("got %s", got)
			}
			sc := b.setCookies()
			if len(sc) < 2 || !strings.HasPrefix(sc[0], "session=; Path=/; Expires=Thu, 01 Jan 1970") {
				t.Fatalf("the old cookie's expiry must come before the new cookie: %q", sc)
			}
			if got := b.get("/show"); !strings.HasPrefix(got, "user=alice") || strings.Contains(got, "new=true") {
				t.Fatalf("next request: %s", got)
			}
			if strings.Contains(a.log.String(), "rejected the session token") {
				t.Errorf("the gorilla cookie under the crumbs name was logged as a rejected crumbs cookie:\n%s", a.log)
			}
			if a.m.Migrations()["gorilla/sessions"] != 1 {
				t.Errorf("Migrations = %v", a.m.Migrations())
			}
		})
	}
}

type color struct{ R, G, B uint8 }

func init() { gob.Register(color{}); gob.Register(map[any]any{}) }

func TestGorillaDropsWhatDoesNotConvert(t *testing.T) {
	type key string
	gob.Register(key(""))
	a := newApp(t, "cookie", session.WithImport(gorilla(t, migrate.Gorilla{})))
	vals := map[any]any{"user": "alice", 7: "seven", key("n"): 3, "nested": map[any]any{1: 2}, color{1, 2, 3}: "struct key"}
	b := a.browser(t, gorillaCookie(t, "app", vals, hashKey, blockKey))
	if got := b.get("/show"); !strings.Contains(got, "user=alice n=3 ") || !strings.Contains(got, "keys=[n user]") {
		t.Fatalf("got %s", got)
	}
	log := a.log.String()
	for _, want := range []string{"key 7 (int): not a string", `key \"nested\" (map[interface {}]interface {})`, "migrate_test.color"} {
		if !strings.Contains(log, want) {
			t.Errorf("the log does not name %s:\n%s", want, log)
		}
	}
	if a.m.Migrations()["gorilla/sessions"] != 1 {
		t.Error("the session was not migrated with what converts")
	}
}

func TestGorillaMaxAge(t *testing.T) {
	a := newApp(t, "cookie", session.WithImport(gorilla(t, migrate.Gorilla{MaxAge: 1})))
	old := gorillaCookie(t, "app", map[any]any{"user": "alice"}, hashKey, blockKey)
	time.Sleep(2100 * time.Millisecond) // securecookie's timestamps are seconds
	b := a.browser(t, old)
	if got := b.get("/show"); !strings.Contains(got, "new=true") {
		t.Fatalf("an expired gorilla cookie was imported: %s", got)
	}
	if !strings.Contains(a.log.String(), "expired") {
		t.Errorf("the log does not say it expired:\n%s", a.log)
	}
}

func TestGorillaJSONSerializer(t *testing.T) {
	a := newApp(t, "cookie", session.WithImport(gorilla(t, migrate.Gorilla{Serializer: securecookie.JSONEncoder{}, KeyPairs: [][]byte{hashKey}})))
	sc := securecookie.New(hashKey, nil).SetSerializer(securecookie.JSONEncoder{})
	v, err := sc.Encode("app", map[string]any{"user": "alice", "n": 5})
	if err != nil {
		t.Fatal(err)
	}
	b := a.browser(t, &http.Cookie{Name: "app", Value: v})
	if got := b.get("/show"); !strings.HasPrefix(got, "user=alice n=5 ") {
		t.Fatalf("got %s", got)
	}
}

func TestGorillaOldCookieAttributes(t *testing.T) {
	im := gorilla(t, migrate.Gorilla{Path: "/app", Domain: "example.com"})
	a := newApp(t, "cookie", session.WithImport(im))
	r := httptest.NewRequest("GET", "http://localhost/show", nil)
	r.AddCookie(gorillaCookie(t, "app", map[any]any{"user": "alice"}, hashKey, blockKey))
	w := httptest.NewRecorder()
	a.m.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { session.From(r).Get("user") })).ServeHTTP(w, r)
	lines := strings.Join(w.Result().Header.Values("Set-Cookie"), "\n")
	if !strings.Contains(lines, "app=; Path=/app; Domain=example.com; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Max-Age=0") {
		t.Errorf("the old cookie is not expired with its Path and Domain:\n%s", lines)
	}
}

func TestGorillaConfigurationErrors(t *testing.T) {
	for _, g := range []migrate.Gorilla{
		{KeyPairs: [][]byte{hashKey}},          // no name
		{Name: "app"},                          // no keys
		{Name: "app", KeyPairs: [][]byte{nil}}, // no hash key
		{Name: "app", KeyPairs: [][]byte{hashKey, nil, []byte(" "), nil}}, // a blank hash key
		{Name: "app", KeyPairs: [][]byte{hashKey, []byte("short")}},       // a block key of 5 bytes
		{Name: "a b", KeyPairs: [][]byte{hashKey}},                        // not a cookie name
		{Name: "app", KeyPairs: [][]byte{hashKey}, MaxAge: -5},
	} {
		if _, err := migrate.FromGorilla(g); err == nil {
			t.Errorf("FromGorilla(%+v) accepted", g)
		}
	}
}

// The vector of cookie-session 2.1.1 with keys ["keyboard cat"], from
// shared/interop/express-formats.md §4.
const (
	csValue = "eyJ1c2VyIjoiYWxpY2UifQ=="
	csSig   = "4Ajb5agjB1zWZGWzyCidwKr5I_k"
)

func cookieSession(t *testing.T, c migrate.CookieSession) driver.Importer {
	t.Helper()
	im, err := migrate.FromCookieSession(c)
	if err != nil {
		t.Fatal(err)
	}
	return im
}

func TestCookieSessionMigrates(t *testing.T) {
	for _, keys := range [][]string{{"keyboard cat"}, {"new key", "keyboard cat"}} {
		for _, mode := range modes {
			t.Run(fmt.Sprint(mode, keys), func(t *testing.T) {
				a := newApp(t, mode, session.WithImport(cookieSession(t, migrate.CookieSession{Keys: keys})))
				b := a.browser(t, &http.Cookie{Name: "session", Value: csValue}, &http.Cookie{Name: "session.sig", Value: csSig})
				if got := b.get("/show"); !strings.HasPrefix(got, "user=alice ") || !strings.Contains(got, "new=false") {
					t.Fatalf("got %s", got)
				}
				if n := b.names(); len(n) != 1 || n[0] != "session" {
					t.Fatalf("the browser holds %v, want only the crumbs cookie (session.sig expired)", n)
				}
				if got := b.get("/show"); !strings.HasPrefix(got, "user=alice ") {
					t.Fatalf("next request: %s", got)
				}
				if a.m.Migrations()["cookie-session"] != 1 {
					t.Errorf("Migrations = %v", a.m.Migrations())
				}
			})
		}
	}
}

func TestCookieSessionRejects(t *testing.T) {
	for name, cookies := range map[string][]*http.Cookie{
		"wrong key":     {{Name: "session", Value: csValue}, {Name: "session.sig", Value: "eM0EeCK13sVaERL-ViCnGYW48WQ"}},
		"no signature":  {{Name: "session", Value: csValue}},
		"changed value": {{Name: "session", Value: "eyJ1c2VyIjoiYm9iIn0="}, {Name: "session.sig", Value: csSig}},
	} {
		t.Run(name, func(t *testing.T) {
			a := newApp(t, "cookie", session.WithImport(cookieSession(t, migrate.CookieSession{Keys: []string{"keyboard cat"}})))
			b := a.browser(t, cookies...)
			if got := b.get("/show"); !strings.Contains(got, "new=true") {
				t.Fatalf("imported: %s", got)
			}
			if len(b.names()) != 0 {
				t.Errorf("the browser still holds %v", b.names())
			}
			if !strings.Contains(a.log.String(), "rejected a session of cookie-session") {
				t.Errorf("no reason logged:\n%s", a.log)
			}
		})
	}
}

func TestCookieSessionLenientBase64AndHash(t *testing.T) {
	// Node decodes the URL alphabet and a missing padding too; the
	// signature covers the value as sent.
	im := cookieSession(t, migrate.CookieSession{Name: "sess", Keys: []string{"k1"}, Hash: "sha256"})
	for _, v := range []string{"eyJ1c2VyIjoiYWxpY2UifQ", "eyJ1c2VyIjoiYWxpY2UifQ=="} {
		r := httptest.NewRequest("GET", "/", nil)
		r.AddCookie(&http.Cookie{Name: "sess", Value: v})
		r.AddCookie(&http.Cookie{Name: "sess.sig", Value: keygrip("sha256", "k1", "sess="+v)})
		got, err := im.Import(r)
		if err != nil || got.Values["user"] != "alice" {
			t.Errorf("%s: %v %v", v, got, err)
		}
	}
}

// TestCookieSessionRefusesEmptyKeys: a key list split from an environment
// variable with a trailing comma ("k1,"), or from an empty one, holds an
// empty key, with which anyone can sign a session of their choosing.
func TestCookieSessionRefusesEmptyKeys(t *testing.T) {
	for _, keys := range [][]string{{""}, {"k1", ""}, {"", "k1"}, {"k1", " "}, {"k1", "\t\n"}} {
		im, err := migrate.FromCookieSession(migrate.CookieSession{Keys: keys})
		if err == nil {
			// Show what the mistake costs: a pair signed with the empty key.
			v := "eyJ1c2VyIjoiYWRtaW4ifQ" // {"user":"admin"}
			r := httptest.NewRequest("GET", "/", nil)
			r.AddCookie(&http.Cookie{Name: "session", Value: v})
			r.AddCookie(&http.Cookie{Name: "session.sig", Value: keygrip("sha1", "", "session="+v)})
			got, ierr := im.Import(r)
			t.Errorf("FromCookieSession(Keys: %q) accepted; a pair signed with the empty key imports as %v (%v)", keys, got, ierr)
			continue
		}
		if !strings.Contains(err.Error(), "key") {
			t.Errorf("FromCookieSession(Keys: %q): the error does not say which key: %v", keys, err)
		}
	}
}

func TestCookieSessionConfigurationErrors(t *testing.T) {
	for _, c := range []migrate.CookieSession{{}, {Keys: []string{"k"}, Hash: "md5"}, {Name: "a;b", Keys: []string{"k"}}} {
		if _, err := migrate.FromCookieSession(c); err == nil {
			t.Errorf("FromCookieSession(%+v) accepted", c)
		}
	}
}

// TestImportersRejectGarbage: whatever a request carries, an Importer
// answers ErrNotFound, ErrInvalid or values, never a panic.
func TestImportersRejectGarbage(t *testing.T) {
	ims := []driver.Importer{gorilla(t, migrate.Gorilla{}), cookieSession(t, migrate.CookieSession{Keys: []string{"keyboard cat"}})}
	for _, h := range []string{"", "app=", "app=\"\"", "app=" + strings.Repeat("A", 5000), "session=" + csValue, "session.sig=" + csSig, "session=%%%; session.sig=" + csSig, "app=MTIz|x|y"} {
		r := httptest.NewRequest("GET", "/", nil)
		r.Header.Set("Cookie", h)
		for _, im := range ims {
			if _, err := im.Import(r); err != nil && !errors.Is(err, driver.ErrNotFound) && !errors.Is(err, driver.ErrInvalid) {
				t.Errorf("%s on %q: %v", im.Name(), h, err)
			}
		}
	}
	_ = context.Background
}

// TestSharedNameNeedsTheSamePath: an old cookie under the crumbs cookie's
// name but another Path or Domain would travel beside the crumbs cookie
// (two cookies of one name), so New refuses it, saying what to change.
func TestSharedNameNeedsTheSamePath(t *testing.T) {
	store, _ := cookiestore.New([][]byte{secret})
	for _, g := range []migrate.Gorilla{{Name: "session", Path: "/admin"}, {Name: "session", Domain: "example.com"}, {Name: "session.1"}} {
		g.KeyPairs = [][]byte{hashKey}
		im, err := migrate.FromGorilla(g)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := session.New(store, session.WithImport(im)); err == nil || !strings.Contains(err.Error(), "WithCookieName") {
			t.Errorf("%+v: New gave %v", g, err)
		}
	}
	im, _ := migrate.FromGorilla(migrate.Gorilla{Name: "session", KeyPairs: [][]byte{hashKey}})
	if _, err := session.New(store, session.WithImport(im)); err != nil {
		t.Errorf("the same name, Path and Domain: %v", err)
	}
}
