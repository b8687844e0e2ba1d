// Package app is the crumbs demo: a view counter, login and logout, and a
// cart that can grow until the session needs several cookies. It is a
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

	"github.com/crumbs-go/session"
)

// Item is one line of the cart.
type Item struct {
	SKU  string `json:"sku"`
	Name string `json:"name"`
	Qty  int    `json:"qty"`
}

// Handler returns the demo's routes. The Manager must wrap it (see Wrap).
func Handler(cookieName string) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) { home(w, r, cookieName) })
	mux.HandleFunc("POST /login", login)
	mux.HandleFunc("POST /logout", logout)
	mux.HandleFunc("POST /cart/add", addItems)
	mux.HandleFunc("POST /cart/clear", clearCart)
	return mux
}

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

func home(w http.ResponseWriter, r *http.Request, cookieName string) {
	s := session.From(r)
	views, _ := session.Get[int](s, "views")
	views++
	s.Set("views", views)
	user, _ := session.Get[string](s, "user")
	cart, _ := session.Get[[]Item](s, "cart")

	// What the browser sent: the session's cookies and their size.
	chunks, wire := 0, 0
	for _, c := range r.Cookies() {
		if c.Name == cookieName || isChunk(c.Name, cookieName) {
			chunks++
			wire += len(c.Name) + len(c.Value)
		}
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
		"ID": s.ID()[:8],
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
	s.Regenerate(true) // a new ID at login defeats session fixation; keep the cart
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
<p>Figures describe the request that rendered this page, before this view was counted.</p>
`))
