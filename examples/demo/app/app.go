// Package app is the crumbs demo: a view counter, login and logout, a
// cart that can grow until the session needs several cookies, and in server
// mode the signed-in user's active sessions, each of which can be signed
// out. It is a
// package so that the demo binary, the browser tests and other front ends
// (a serverless adapter) serve the very same handlers.
package app

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/crumbs-go/session"
	"github.com/crumbs-go/session/devices"
)

// Item is one line of the cart.
type Item struct {
	SKU  string `json:"sku"`
	Name string `json:"name"`
	Qty  int    `json:"qty"`
}

// An Envelope is what the demo's inspector shows of the request's token:
// see WithInspector.
type Envelope struct {
	Mode                   string // "cookie" (sealed) or "server" (a signed ID)
	Version                int
	Cipher                 string
	KeyID                  string
	Secret                 int // 1-based position in the secret list; 0: none of it
	Secrets                int // how many secrets the list holds
	Issued, Idle, Absolute time.Time
	Compressed, Padded     bool
	Problem                string // why it does not open; "" when it does
}

// An Option adds to the demo's page.
type Option func(*options)

type options struct {
	inspect func(*http.Request) *Envelope
	rotate  bool
	metrics func() []Metric
}

// A Metric is one line of the page's metrics table.
type Metric struct {
	Name  string
	Value float64
}

// WithInspector shows, for each request, what its token holds: inspect
// returns nil when the request carried none.
func WithInspector(inspect func(*http.Request) *Envelope) Option {
	return func(o *options) { o.inspect = inspect }
}

// WithRotateButton shows a button that posts to /rotate, which the
// caller serves (outside the session middleware): a new secret goes first.
func WithRotateButton() Option { return func(o *options) { o.rotate = true } }

// WithMetrics shows the Manager's metrics that read returns.
func WithMetrics(read func() []Metric) Option { return func(o *options) { o.metrics = read } }

// Handler returns the demo's routes, which the Manager's Handler must wrap.
// idx is the store's index of active sessions (devices.New), nil when the
// store keeps none (cookie mode): the sessions page then says so. The
// Manager should bind sessions with session.WithIdentityKey("user").
func Handler(cookieName string, idx *devices.Index, opts ...Option) http.Handler {
	var o options
	for _, f := range opts {
		f(&o)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) { home(w, r, cookieName, &o) })
	mux.HandleFunc("POST /login", login)
	mux.HandleFunc("POST /logout", logout)
	mux.HandleFunc("POST /cart/add", addItems)
	mux.HandleFunc("POST /cart/clear", clearCart)
	a := &active{idx: idx}
	mux.HandleFunc("GET /sessions", a.list)
	mux.HandleFunc("POST /sessions/end", a.end)
	mux.HandleFunc("POST /sessions/end-others", a.endOthers)
	return mux
}

// active serves the "active sessions" page.
type active struct{ idx *devices.Index }

func (a *active) list(w http.ResponseWriter, r *http.Request) {
	s := session.From(r)
	user, _ := session.Get[string](s, "user")
	data := map[string]any{"User": user, "Flashes": s.Flashes(), "Index": a.idx != nil, "Listed": true}
	if a.idx != nil && user != "" {
		list, err := a.idx.List(r.Context(), user)
		if errors.Is(err, errors.ErrUnsupported) {
			// Cookie mode with a revocation store: no list, but this
			// browser and every other one can be signed out.
			data["Listed"], data["Here"] = false, a.idx.Handle(s)
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			sessionsPage.Execute(w, data)
			return
		}
		if err != nil {
			http.Error(w, "The list of sessions is not available right now.", http.StatusServiceUnavailable)
			return
		}
		here := a.idx.Handle(s)
		rows := make([]map[string]any, len(list))
		for i, d := range list {
			rows[i] = map[string]any{"Handle": d.Handle, "Here": d.Handle == here,
				"Created": d.Created.UTC().Format("2006-01-02 15:04:05"), "Seen": d.LastSeen.UTC().Format("2006-01-02 15:04:05"),
				"Agent": d.UserAgent, "Addr": d.Addr}
		}
		data["Sessions"] = rows
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	sessionsPage.Execute(w, data)
}

// end signs out one session: this device (a Destroy, which also expires
// its cookies) or another one (by its handle).
func (a *active) end(w http.ResponseWriter, r *http.Request) {
	s := session.From(r)
	user, _ := session.Get[string](s, "user")
	handle := r.FormValue("handle")
	switch {
	case a.idx == nil || user == "":
	case handle == a.idx.Handle(s):
		s.Destroy()
		logout(w, r)
		return
	default:
		ok, err := a.idx.End(r.Context(), user, handle)
		if err != nil {
			http.Error(w, "The session could not be signed out right now.", http.StatusServiceUnavailable)
			return
		}
		if ok {
			s.AddFlash("Signed out that session.")
		} else {
			s.AddFlash("That session had ended already.")
		}
	}
	http.Redirect(w, r, "/sessions", http.StatusSeeOther)
}

// listed reports whether the store lists sessions (server mode), not only
// ends them (cookie mode with a revocation store).
func (a *active) listed(r *http.Request) bool {
	_, err := a.idx.List(r.Context(), "-")
	return !errors.Is(err, errors.ErrUnsupported)
}

// endOthers signs out everywhere else.
func (a *active) endOthers(w http.ResponseWriter, r *http.Request) {
	s := session.From(r)
	user, _ := session.Get[string](s, "user")
	if a.idx != nil && user != "" {
		n, err := a.idx.EndAll(r.Context(), user, a.idx.Handle(s))
		if err != nil {
			http.Error(w, "The sessions could not be signed out right now.", http.StatusServiceUnavailable)
			return
		}
		if n == 0 && !a.listed(r) {
			s.AddFlash("Signed out every other session: each is refused at its next check.")
		} else {
			s.AddFlash(fmt.Sprintf("Signed out %d other sessions.", n))
		}
	}
	http.Redirect(w, r, "/sessions", http.StatusSeeOther)
}

var sessionsPage = template.Must(template.New("sessions").Parse(`<!doctype html>
<meta charset="utf-8">
<title>Active sessions · crumbs demo</title>
<style>body{font:16px system-ui;max-width:48em;margin:2em auto}td,th{padding:.2em .6em;text-align:left}</style>
<h1>Active sessions</h1>
{{range .Flashes}}<p class="flash">{{.}}</p>{{end}}
{{if not .Index}}
<p id="no-index">This store keeps no list of sessions: cookie mode stores nothing on the server. Run the demo with
CRUMBS_STORE=memory, redis://… or postgres://… to see it, or keep cookie mode and add a revocation store with
CRUMBS_REVOCATION=memory (or redis://…) to sign sessions out for good.</p>
{{else if not .User}}
<p id="signed-out">Sign in first.</p>
{{else if not .Listed}}
<p>Signed in as <b id="user">{{.User}}</b>. Cookie mode keeps no list of your sessions: each lives in its browser's
cookie. Its revocation store keeps what is signed out, and every cookie is checked against it at least once a minute,
so a copy of a signed-out cookie stops working.</p>
<table><tr class="session" data-handle="{{.Here}}"><td><b class="here">this browser</b></td>
<td><form method="post" action="/sessions/end" style="display:inline"><input type="hidden" name="handle" value="{{.Here}}"><button class="end">Sign out</button></form></td></tr></table>
<form method="post" action="/sessions/end-others"><button id="end-others">Sign out everywhere else</button></form>
{{else}}
<p>Signed in as <b id="user">{{.User}}</b>, in <span id="count">{{len .Sessions}}</span> sessions:</p>
<table>
<tr><th>signed in</th><th>last seen</th><th>browser</th><th>address</th><th></th></tr>
{{range .Sessions}}<tr class="session" data-handle="{{.Handle}}">
<td>{{.Created}}</td><td>{{.Seen}}</td><td>{{or .Agent "—"}}</td><td>{{or .Addr "—"}}</td>
<td>{{if .Here}}<b class="here">this browser</b> {{end}}<form method="post" action="/sessions/end" style="display:inline"><input type="hidden" name="handle" value="{{.Handle}}"><button class="end">Sign out</button></form></td>
</tr>{{end}}
</table>
<form method="post" action="/sessions/end-others"><button id="end-others">Sign out everywhere else</button></form>
{{end}}
<p><a href="/">Back</a></p>`))

// ErrorHandler answers a session that could not be saved: the reason (for
// example the size and the budget) on a plain page, and no Set-Cookie, so
// the browser keeps its previous session.
func ErrorHandler(w http.ResponseWriter, r *http.Request, err error) {
	if errors.Is(err, session.ErrHeadersWritten) {
		return
	}
	status := http.StatusInternalServerError
	msg := "The session could not be saved."
	if errors.Is(err, session.ErrTooLarge) {
		status = http.StatusRequestEntityTooLarge
		msg = "The session is too large to fit in its cookies: " + err.Error()
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	errorPage.Execute(w, msg)
}

var errorPage = template.Must(template.New("error").Parse(`<!doctype html>
<title>Session error</title>
<h1>Session error</h1>
<p id="error">{{.}}</p>
<p><a href="/">Back</a></p>`))

// A chunk is one of the session's cookies, as the page draws it.
type chunk struct {
	Name    string
	Bytes   int
	Percent int // of the 4096 bytes a browser keeps per cookie
}

func home(w http.ResponseWriter, r *http.Request, cookieName string, o *options) {
	s := session.From(r)
	views, _ := session.Get[int](s, "views")
	views++
	s.Set("views", views)
	user, _ := session.Get[string](s, "user")
	cart, _ := session.Get[[]Item](s, "cart")

	// What the browser sent: the session's cookies and their size.
	chunks, wire := 0, 0
	var parts []chunk
	for _, c := range r.Cookies() {
		if c.Name == cookieName || isChunk(c.Name, cookieName) {
			chunks++
			n := len(c.Name) + len(c.Value)
			wire += n
			parts = append(parts, chunk{Name: c.Name, Bytes: n, Percent: min(100, n*100/4096)})
		}
	}
	var env *Envelope
	if o.inspect != nil {
		env = o.inspect(r)
	}
	var ms []Metric
	if o.metrics != nil {
		ms = o.metrics()
	}
	values := map[string]any{}
	for _, k := range s.Keys() {
		values[k] = s.Get(k)
	}
	raw, _ := json.Marshal(values)
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	page.Execute(w, map[string]any{
		"Views": views, "User": user, "Cart": cart, "Items": len(cart),
		"Flashes": s.Flashes(), "JSONBytes": len(raw), "Chunks": chunks, "WireBytes": wire,
		"ID": s.ID()[:8], "Parts": parts, "Envelope": env, "Rotate": o.rotate, "Metrics": ms,
	})
}

func isChunk(name, base string) bool {
	rest, ok := strings.CutPrefix(name, base+".")
	_, err := strconv.Atoi(rest)
	return ok && err == nil
}

func login(w http.ResponseWriter, r *http.Request) {
	s := session.From(r)
	name := strings.TrimSpace(r.FormValue("name"))
	if name == "" || len(name) > 64 {
		s.AddFlash("Give a name of 1 to 64 characters.")
		http.Redirect(w, r, "/", http.StatusSeeOther)
		return
	}
	// With WithIdentityKey("user") the Manager would regenerate by itself,
	// keeping only what this request sets; Regenerate(true) keeps the cart.
	s.Regenerate(true) // a new ID at login defeats session fixation
	s.Set("user", name)
	s.AddFlash("Signed in as " + name + ".")
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

// logout destroys the session and answers with a page that does not touch
// the session, so the browser is left with no session cookie at all.
func logout(w http.ResponseWriter, r *http.Request) {
	session.From(r).Destroy()
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	io.WriteString(w, `<!doctype html><title>Signed out</title><h1 id="signed-out">Signed out</h1><p>The session and every cookie of it are gone. <a href="/">Start again</a></p>`)
}

var names = []string{"Notebook", "Fountain pen", "Desk lamp", "Coffee grinder", "Wool socks", "Tea tin"}

func addItems(w http.ResponseWriter, r *http.Request) {
	s := session.From(r)
	n, err := strconv.Atoi(r.FormValue("n"))
	if err != nil || n < 1 || n > 500 {
		n = 10
	}
	cart, _ := session.Get[[]Item](s, "cart")
	for i := range n {
		var b [6]byte
		rand.Read(b[:])
		cart = append(cart, Item{SKU: hex.EncodeToString(b[:]), Name: names[(len(cart)+i)%len(names)], Qty: 1 + (len(cart)+i)%3})
	}
	s.Set("cart", cart)
	s.AddFlash(fmt.Sprintf("Added %d items.", n))
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

func clearCart(w http.ResponseWriter, r *http.Request) {
	s := session.From(r)
	s.Delete("cart")
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

var page = template.Must(template.New("home").Parse(`<!doctype html>
<meta charset="utf-8">
<title>crumbs demo</title>
<style>body{font:16px system-ui;max-width:40em;margin:2em auto}td,th{padding:0 .6em;text-align:left}</style>
<h1>crumbs demo</h1>
{{range .Flashes}}<p class="flash">{{.}}</p>{{end}}
<p>Views in this session: <b id="views">{{.Views}}</b> (session {{.ID}}…)</p>
{{if .User}}
<p>Signed in as <b id="user">{{.User}}</b>.</p>
<form method="post" action="/logout"><button id="logout">Sign out</button></form>
<p><a href="/sessions" id="sessions">Active sessions</a></p>
{{else}}
<form method="post" action="/login"><input name="name" id="name" placeholder="your name"> <button id="login">Sign in</button></form>
{{end}}
<h2>Cart: <span id="items">{{.Items}}</span> items</h2>
<form method="post" action="/cart/add" style="display:inline"><input type="hidden" name="n" value="10"><button id="add10">Add 10 items</button></form>
<form method="post" action="/cart/add" style="display:inline"><input type="hidden" name="n" value="100"><button id="add100">Add 100 items</button></form>
<form method="post" action="/cart/add" style="display:inline"><input type="hidden" name="n" value="500"><button id="add500">Add 500 items</button></form>
<form method="post" action="/cart/clear" style="display:inline"><button id="clear">Empty the cart</button></form>
<h2>The session on the wire</h2>
<table>
<tr><th>values as JSON</th><td><span id="json-bytes">{{.JSONBytes}}</span> bytes</td></tr>
<tr><th>cookies the browser sent</th><td><span id="chunks">{{.Chunks}}</span></td></tr>
<tr><th>their size (names and values, sealed and compressed when it pays)</th><td><span id="wire-bytes">{{.WireBytes}}</span> bytes</td></tr>
</table>
{{if .Parts}}<table id="cookies">{{range $i, $p := .Parts}}
<tr><th>{{$p.Name}}</th><td><span class="bytes" id="cookie-{{$i}}">{{$p.Bytes}}</span> of 4096 bytes</td>
<td><div style="width:12em;background:#eee"><div class="bar" style="width:{{$p.Percent}}%;background:{{if ge $p.Percent 90}}#c33{{else}}#3a7{{end}};height:.8em"></div></div></td></tr>{{end}}
</table>{{end}}
{{with .Envelope}}<h2>The token, inspected</h2>
<table id="envelope">
<tr><th>mode</th><td id="mode">{{.Mode}}</td></tr>
{{if .Problem}}<tr><th>does not open</th><td id="problem">{{.Problem}}</td></tr>{{end}}
<tr><th>format</th><td>version <span id="version">{{.Version}}</span>{{if .Cipher}} ({{.Cipher}}){{end}}{{if .Compressed}}, compressed{{end}}{{if .Padded}}, padded{{end}}</td></tr>
<tr><th>key ID</th><td id="key-id">{{.KeyID}}</td></tr>
<tr><th>secret</th><td id="secret">{{if .Secret}}{{.Secret}} of {{.Secrets}}{{if eq .Secret 1}} (the primary){{else}} (older: this response re-seals it){{end}}{{else}}none of the list{{end}}</td></tr>
{{if not .Issued.IsZero}}<tr><th>issued</th><td>{{.Issued.UTC.Format "15:04:05 MST"}}</td></tr>{{end}}
{{if not .Idle.IsZero}}<tr><th>idle deadline</th><td id="idle">{{.Idle.UTC.Format "15:04:05 MST"}}</td></tr>{{end}}
{{if not .Absolute.IsZero}}<tr><th>absolute deadline</th><td>{{.Absolute.UTC.Format "2006-01-02 15:04 MST"}}</td></tr>{{end}}
</table>{{end}}
{{if .Rotate}}<form method="post" action="/rotate"><button id="rotate">Rotate the secrets</button> a new secret goes first; the old one still opens, and the next response re-seals under the new key ID</form>{{end}}
<p>Figures describe the request that rendered this page, before this view was counted.</p>
{{if .Metrics}}<h2>Metrics</h2><table id="metrics">{{range .Metrics}}<tr><th>{{.Name}}</th><td>{{.Value}}</td></tr>{{end}}</table><p><a href="/metrics">/metrics</a> (Prometheus)</p>{{end}}
`))
