// Package flowtest holds the demo's flows as a test that any HTTP server can
// be put through: the framework adapters (adapters/...) implement its routes
// with their framework's own handlers and response helpers, and the test
// drives a real server with a cookie jar, checks what the browser holds after
// each step, and compares every response's session headers with those of the
// same routes on plain net/http (Reference) under the same configuration.
//
// The routes, each answering as a handler of that framework would:
//
//	GET  /            Update "views" by one; text "views=N user=U items=K"
//	POST /login       form name=U: Regenerate(true), Set "user"; redirect 303 to /
//	POST /logout      Destroy; text "bye"
//	POST /cart/add    form n=K: append K items (Items) to "cart"; JSON {"items":N}
//	POST /cart/clear  Delete "cart"; 204 with no body
//	GET  /stream      Update "views"; three flushed text chunks "views=N\n"
package flowtest

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/crumbs-go/session"
	_ "github.com/crumbs-go/session/cookiestore"
	"github.com/crumbs-go/session/serverstore"
)

// Item is one cart line.
type Item struct {
	SKU  string `json:"sku"`
	Name string `json:"name"`
	Qty  int    `json:"qty"`
}

// Items returns the n items that follow the first `have`: the same for
// every run, and hex enough that a cart of a few hundred needs several
// cookies even compressed.
func Items(have, n int) []Item {
	out := make([]Item, n)
	for i := range out {
		h := sha256.Sum256([]byte(strconv.Itoa(have + i)))
		out[i] = Item{SKU: hex.EncodeToString(h[:8]), Name: "item " + strconv.Itoa(have+i), Qty: 1 + (have+i)%3}
	}
	return out
}

// Secret is the key every flow seals or signs with.
var Secret = []byte("flowtest-0123456789abcdef0123456789")

// Modes are the configurations every adapter is tested under: cookie mode
// and Redis server mode. The Redis one needs the redisstore package
// imported (for its "redis" scheme) and a Redis on 127.0.0.1:6379; without
// one the test skips, except under CI=true, where it fails.
func Modes(t testing.TB) []string {
	modes := []string{"cookie"}
	c, err := net.DialTimeout("tcp", "127.0.0.1:6379", time.Second)
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("no Redis at 127.0.0.1:6379 (CI=true: the service must run): %v", err)
		}
		t.Logf("no Redis at 127.0.0.1:6379: Redis server mode not tested")
		return modes
	}
	c.Close()
	return append(modes, "redis")
}

// Manager returns a Manager for mode (see Modes, or "memory") with the demo's settings:
// cookie "demo", up to 4 chunks, a 2-hour idle timeout. The Redis one keeps
// its records under a key prefix of its own, cleared at the end of the test.
func Manager(t testing.TB, mode string, opts ...session.Option) *session.Manager {
	t.Helper()
	config := mode // "cookie" or "memory"
	if mode == "redis" {
		config = fmt.Sprintf("redis://127.0.0.1:6379/0?crumbs_prefix=crumbs-flowtest:%d:", time.Now().UnixNano())
	}
	store, err := session.OpenStore(context.Background(), config, [][]byte{Secret})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if s, ok := store.(*serverstore.Store); ok {
			if c, ok := s.Backend().(serverstore.Clearer); ok {
				c.Clear(context.Background())
			}
		}
		if c, ok := store.(io.Closer); ok {
			c.Close()
		}
	})
	opts = append([]session.Option{
		session.WithCookieName("demo"),
		session.WithMaxChunks(4),
		session.WithIdleTimeout(2 * time.Hour),
		session.WithLogger(slog.New(slog.DiscardHandler)), // the over-budget step logs an error
	}, opts...)
	m, err := session.New(store, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// Reference is the routes on plain net/http, wrapped by m.Handler.
func Reference(m *session.Manager) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, Home(session.From(r)))
	})
	mux.HandleFunc("POST /login", func(w http.ResponseWriter, r *http.Request) {
		Login(session.From(r), r.FormValue("name"))
		http.Redirect(w, r, "/", http.StatusSeeOther)
	})
	mux.HandleFunc("POST /logout", func(w http.ResponseWriter, r *http.Request) {
		session.From(r).Destroy()
		io.WriteString(w, "bye")
	})
	mux.HandleFunc("POST /cart/add", func(w http.ResponseWriter, r *http.Request) {
		n := AddItems(session.From(r), r.FormValue("n"))
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]int{"items": n})
	})
	mux.HandleFunc("POST /cart/clear", func(w http.ResponseWriter, r *http.Request) {
		session.From(r).Delete("cart")
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("GET /stream", func(w http.ResponseWriter, r *http.Request) {
		views := View(session.From(r))
		for range 3 {
			fmt.Fprintf(w, "views=%d\n", views)
			http.NewResponseController(w).Flush()
		}
	})
	return m.Handler(mux)
}

// The routes' session work, for every framework alike.

// View counts a view and returns the count.
func View(s *session.Session) int {
	n, _ := session.Update(s, "views", func(n int) int { return n + 1 })
	return n
}

// Home counts a view and describes the session.
func Home(s *session.Session) string {
	views := View(s)
	user, _ := session.Get[string](s, "user")
	cart, _ := session.Get[[]Item](s, "cart")
	return fmt.Sprintf("views=%d user=%s items=%d", views, user, len(cart))
}

// Login signs the user in under a new ID, keeping the session's values.
func Login(s *session.Session, name string) {
	s.Regenerate(true)
	s.Set("user", name)
}

// AddItems appends the form's n items to the cart and returns its length.
func AddItems(s *session.Session, n string) int {
	k, err := strconv.Atoi(n)
	if err != nil || k < 1 || k > 1000 {
		k = 10
	}
	cart, _ := session.Get[[]Item](s, "cart")
	cart = append(cart, Items(len(cart), k)...)
	s.Set("cart", cart)
	return len(cart)
}

// Step is what one response told the browser about its session.
type Step struct {
	Request string
	Status  int
	Body    string   // "" for the cart additions (JSON spacing differs between frameworks)
	Cookies []string // each Set-Cookie line without its value and Expires date, sorted
	Vary    string   // its tokens, sorted, without Accept-Encoding
	Cache   string   // Cache-Control
}

func (s Step) String() string {
	return fmt.Sprintf("%s: %d %q cookies=%q vary=%q cache-control=%q", s.Request, s.Status, s.Body, s.Cookies, s.Vary, s.Cache)
}

// Run drives the flows against the server at base (as "http://host:port"),
// checks what the browser holds after each step, and returns every step for
// Compare. cookieMode says whether the session lives in the cookies.
func Run(t testing.TB, base string, cookieMode bool) []Step {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse // each response is a step of its own
	}}
	u, _ := url.Parse(base)
	var steps []Step
	do := func(method, path string, form url.Values) (Step, string) {
		t.Helper()
		req, _ := http.NewRequest(method, base+path, strings.NewReader(form.Encode()))
		if method == http.MethodPost {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
		res, err := c.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		st := Step{Request: method + " " + path, Status: res.StatusCode, Body: strings.TrimSpace(string(b)),
			Vary: vary(res.Header), Cache: res.Header.Get("Cache-Control")}
		for _, line := range res.Header.Values("Set-Cookie") {
			st.Cookies = append(st.Cookies, shape(line))
		}
		slices.Sort(st.Cookies)
		if path == "/cart/add" {
			st.Body = ""
		}
		steps = append(steps, st)
		return st, string(b)
	}
	held := func() int { return len(jar.Cookies(u)) }
	want := func(st Step, status int, body string) {
		t.Helper()
		if st.Status != status || (body != "" && st.Body != body) {
			t.Fatalf("%s: got %d %q, want %d %q", st.Request, st.Status, st.Body, status, body)
		}
	}

	st, _ := do("GET", "/", nil)
	want(st, 200, "views=1 user= items=0")
	st, _ = do("GET", "/", nil)
	want(st, 200, "views=2 user= items=0")
	if held() != 1 {
		t.Fatalf("after two views the browser holds %d cookies, want 1", held())
	}
	before := jar.Cookies(u)[0].Value
	st, _ = do("POST", "/login", url.Values{"name": {"Ada"}})
	want(st, http.StatusSeeOther, "")
	if !cookieMode && jar.Cookies(u)[0].Value == before {
		t.Fatal("login did not change the session ID")
	}
	st, _ = do("GET", "/", nil)
	want(st, 200, "views=3 user=Ada items=0")
	st, _ = do("GET", "/stream", nil)
	want(st, 200, "views=4\nviews=4\nviews=4")

	// The cart grows to several chunks (cookie mode) or stays behind one
	// cookie (server mode).
	items := 0
	for i := 0; cookieMode && held() < 3 || !cookieMode && i < 2; i++ {
		st, body := do("POST", "/cart/add", url.Values{"n": {"60"}})
		items += 60
		if want := fmt.Sprintf(`{"items":%d}`, items); st.Status != 200 || strings.ReplaceAll(strings.TrimSpace(body), " ", "") != want {
			t.Fatalf("adding items: %d %q, want 200 %s", st.Status, body, want)
		}
		if items > 600 {
			t.Fatalf("%d items and the browser holds %d cookies", items, held())
		}
	}
	if !cookieMode && held() != 1 {
		t.Fatalf("server mode: the browser holds %d cookies, want 1", held())
	}
	st, _ = do("GET", "/", nil)
	want(st, 200, fmt.Sprintf("views=5 user=Ada items=%d", items))

	if cookieMode {
		// Over the budget: the error handler answers (500), and the cookies
		// the browser holds are those of before.
		held0 := slices.Collect(cookieValues(jar.Cookies(u)))
		for {
			st, _ := do("POST", "/cart/add", url.Values{"n": {"60"}})
			if st.Status == http.StatusInternalServerError {
				break
			}
			want(st, 200, "")
			items += 60
			held0 = slices.Collect(cookieValues(jar.Cookies(u)))
			if items > 2000 {
				t.Fatal("the session never went over its budget")
			}
		}
		if got := slices.Collect(cookieValues(jar.Cookies(u))); !slices.Equal(got, held0) {
			t.Fatal("a save over the budget changed the browser's cookies")
		}
		st, _ = do("GET", "/", nil)
		want(st, 200, fmt.Sprintf("views=6 user=Ada items=%d", items))
	}

	st, _ = do("POST", "/cart/clear", nil)
	want(st, http.StatusNoContent, "")
	if held() != 1 {
		t.Fatalf("after emptying the cart the browser holds %d cookies, want 1", held())
	}
	last := jar.Cookies(u)[0].Value
	st, _ = do("POST", "/logout", nil)
	want(st, 200, "bye")
	if held() != 0 {
		t.Fatalf("after logout the browser holds %d cookies", held())
	}
	st, _ = do("GET", "/", nil)
	want(st, 200, "views=1 user= items=0")

	if !cookieMode {
		// The logged-out token, replayed, is a fresh session.
		req, _ := http.NewRequest("GET", base+"/", nil)
		req.AddCookie(&http.Cookie{Name: "demo", Value: last})
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if got := strings.TrimSpace(string(b)); got != "views=1 user= items=0" {
			t.Fatalf("the token of a destroyed session still reads %q", got)
		}
	}
	return steps
}

func cookieValues(cs []*http.Cookie) func(func(string) bool) {
	return func(yield func(string) bool) {
		for _, c := range cs {
			if !yield(c.Name + "=" + c.Value) {
				return
			}
		}
	}
}

// vary is the response's Vary tokens, sorted, without Accept-Encoding (a
// compressing middleware's).
func vary(h http.Header) string {
	var tokens []string
	for _, v := range h.Values("Vary") {
		for _, t := range strings.Split(v, ",") {
			if t = strings.TrimSpace(t); t != "" && !strings.EqualFold(t, "Accept-Encoding") {
				tokens = append(tokens, t)
			}
		}
	}
	slices.Sort(tokens)
	return strings.Join(tokens, ", ")
}

// shape is a Set-Cookie line without its value and Expires date, which
// differ between two runs.
func shape(line string) string {
	parts := strings.Split(line, ";")
	name, _, _ := strings.Cut(parts[0], "=")
	out := []string{name}
	for _, p := range parts[1:] {
		p = strings.TrimSpace(p)
		if k, _, _ := strings.Cut(p, "="); strings.EqualFold(k, "Expires") {
			continue
		}
		if k, v, _ := strings.Cut(p, "="); strings.EqualFold(k, "Max-Age") && v != "0" && !strings.HasPrefix(v, "-") {
			p = "Max-Age=N"
		}
		out = append(out, p)
	}
	return strings.Join(out, "; ")
}

// Compare fails the test unless got and want are the same steps.
func Compare(t testing.TB, got, want []Step) {
	t.Helper()
	for i := range max(len(got), len(want)) {
		switch {
		case i >= len(got):
			t.Errorf("step %d missing; the reference had %v", i+1, want[i])
		case i >= len(want):
			t.Errorf("step %d is extra: %v", i+1, got[i])
		case !slices.Equal(got[i].Cookies, want[i].Cookies) || got[i].Status != want[i].Status || got[i].Body != want[i].Body ||
			got[i].Vary != want[i].Vary || got[i].Cache != want[i].Cache:
			t.Errorf("step %d differs from net/http:\n got  %v\n want %v", i+1, got[i], want[i])
		}
	}
}
