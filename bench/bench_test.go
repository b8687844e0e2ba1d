// Package bench measures crumbs against gorilla/sessions and scs through the
// full net/http middleware of each, in one run. See BENCHMARKS.md.
package bench

import (
	"bytes"
	crand "crypto/rand"
	"encoding/base64"
	"encoding/gob"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/alexedwards/scs/v2"
	"github.com/alexedwards/scs/v2/memstore"
	"github.com/gorilla/securecookie"
	"github.com/gorilla/sessions"
	"golang.org/x/crypto/chacha20poly1305"

	"github.com/crumbs-go/session"
	"github.com/crumbs-go/session/cookiestore"
	"github.com/crumbs-go/session/internal/fixtures"
)

func init() {
	gob.Register(map[string]any{})
	gob.Register([]any{})
}

var secret = bytes.Repeat([]byte("k"), 32)

// payload is a session's values: the fixture JSON (internal/fixtures), one key each.
type payload struct {
	name   string
	values map[string]any
}

func payloads(tb testing.TB) []payload {
	var out []payload
	for _, p := range []struct {
		name string
		json []byte
	}{{"SMALL", fixtures.Small}, {"LARGE", fixtures.Large}} {
		var v map[string]any
		if err := json.Unmarshal(p.json, &v); err != nil {
			tb.Fatal(err)
		}
		v["views"] = 42
		out = append(out, payload{p.name, v})
	}
	return out
}

// A system is one session library set up as its users would: a middleware
// (or none) and handlers for the three kinds of request.
type system struct {
	name     string
	wrap     func(http.Handler) http.Handler
	populate http.HandlerFunc // store every value of the payload
	change   http.HandlerFunc // load, change one value, save
	read     http.HandlerFunc // load, read one value
}

func crumbs(tb testing.TB, p payload) system {
	store, err := cookiestore.New([][]byte{secret})
	if err != nil {
		tb.Fatal(err)
	}
	m, err := session.New(store)
	if err != nil {
		tb.Fatal(err)
	}
	return system{
		name: "crumbs",
		wrap: m.Handler,
		populate: func(w http.ResponseWriter, r *http.Request) {
			s := session.From(r)
			for k, v := range p.values {
				s.Set(k, v)
			}
		},
		change: func(w http.ResponseWriter, r *http.Request) {
			s := session.From(r)
			n, _ := session.Get[int](s, "views")
			s.Set("views", n+1)
		},
		read: func(w http.ResponseWriter, r *http.Request) {
			if n, _ := session.Get[int](session.From(r), "views"); n < 42 {
				panic("crumbs: lost the session")
			}
		},
	}
}

func gorilla(tb testing.TB, p payload, maxLength int) system {
	// Signed and encrypted (hash key, then AES-256 block key), like crumbs.
	store := sessions.NewCookieStore(secret, bytes.Repeat([]byte("b"), 32))
	for _, c := range store.Codecs {
		c.(*securecookie.SecureCookie).MaxLength(maxLength)
	}
	get := func(r *http.Request) *sessions.Session {
		s, err := store.Get(r, "s")
		if err != nil {
			panic(err)
		}
		return s
	}
	name := "gorilla"
	if maxLength == 0 {
		name = "gorilla-MaxLength0"
	}
	return system{
		name: name,
		wrap: func(h http.Handler) http.Handler { return h },
		populate: func(w http.ResponseWriter, r *http.Request) {
			s := get(r)
			for k, v := range p.values {
				s.Values[k] = v
			}
			if err := s.Save(r, w); err != nil {
				panic(err)
			}
		},
		change: func(w http.ResponseWriter, r *http.Request) {
			s := get(r)
			s.Values["views"] = s.Values["views"].(int) + 1
			if err := s.Save(r, w); err != nil {
				panic(err)
			}
		},
		read: func(w http.ResponseWriter, r *http.Request) {
			if get(r).Values["views"].(int) < 42 {
				panic("gorilla: lost the session")
			}
		},
	}
}

// floor is the naive pipeline of a sealed cookie, for the same values:
// encoding/json of a map, XChaCha20-Poly1305 under a random nonce, base64url
// into one cookie, and back (net/http's cookie parsing). No key ring, no
// chunking, no compression, no expiry, no lazy decoding: what a session in
// a cookie costs at least, done the obvious way. SMALL only: LARGE does
// not fit one cookie.
func floor(tb testing.TB, p payload) system {
	aead, err := chacha20poly1305.NewX(secret)
	if err != nil {
		tb.Fatal(err)
	}
	load := func(r *http.Request) map[string]any {
		c, err := r.Cookie("f")
		if err != nil {
			return map[string]any{}
		}
		sealed, err := base64.RawURLEncoding.DecodeString(c.Value)
		if err != nil || len(sealed) < chacha20poly1305.NonceSizeX {
			panic("floor: a bad cookie")
		}
		plain, err := aead.Open(nil, sealed[:chacha20poly1305.NonceSizeX], sealed[chacha20poly1305.NonceSizeX:], nil)
		if err != nil {
			panic(err)
		}
		var m map[string]any
		if err := json.Unmarshal(plain, &m); err != nil {
			panic(err)
		}
		return m
	}
	save := func(w http.ResponseWriter, m map[string]any) {
		plain, err := json.Marshal(m)
		if err != nil {
			panic(err)
		}
		nonce := make([]byte, chacha20poly1305.NonceSizeX, chacha20poly1305.NonceSizeX+len(plain)+chacha20poly1305.Overhead)
		crand.Read(nonce)
		sealed := aead.Seal(nonce, nonce, plain, nil)
		http.SetCookie(w, &http.Cookie{Name: "f", Value: base64.RawURLEncoding.EncodeToString(sealed), Path: "/",
			HttpOnly: true, Secure: true, SameSite: http.SameSiteLaxMode})
	}
	return system{
		name: "floor-naive",
		wrap: func(h http.Handler) http.Handler { return h },
		populate: func(w http.ResponseWriter, r *http.Request) {
			m := load(r)
			for k, v := range p.values {
				m[k] = v
			}
			save(w, m)
		},
		change: func(w http.ResponseWriter, r *http.Request) {
			m := load(r)
			m["views"] = m["views"].(float64) + 1
			save(w, m)
		},
		read: func(w http.ResponseWriter, r *http.Request) {
			if load(r)["views"].(float64) < 42 {
				panic("floor: lost the session")
			}
		},
	}
}

func scsMem(tb testing.TB, p payload) system {
	sm := scs.New()
	sm.Store = memstore.New()
	return system{
		name: "scs-memstore",
		wrap: sm.LoadAndSave,
		populate: func(w http.ResponseWriter, r *http.Request) {
			for k, v := range p.values {
				sm.Put(r.Context(), k, v)
			}
		},
		change: func(w http.ResponseWriter, r *http.Request) {
			sm.Put(r.Context(), "views", sm.GetInt(r.Context(), "views")+1)
		},
		read: func(w http.ResponseWriter, r *http.Request) {
			if sm.GetInt(r.Context(), "views") < 42 {
				panic("scs: lost the session")
			}
		},
	}
}

// discard is a reusable ResponseWriter, so the harness costs the same for
// every system.
type discard struct{ h http.Header }

func (d *discard) Header() http.Header         { return d.h }
func (d *discard) Write(b []byte) (int, error) { return len(b), nil }
func (d *discard) WriteHeader(int)             {}

// prime runs populate once and returns a request that carries the cookies
// it set, and the Set-Cookie lines.
func prime(tb testing.TB, sys system) (*http.Request, []string) {
	w := &discard{h: http.Header{}}
	r, _ := http.NewRequest("GET", "http://example.com/", nil)
	sys.wrap(sys.populate).ServeHTTP(w, r)
	lines := w.h.Values("Set-Cookie")
	req, _ := http.NewRequest("GET", "http://example.com/", nil)
	res := http.Response{Header: w.h}
	for _, c := range res.Cookies() {
		if c.MaxAge >= 0 {
			req.AddCookie(c)
		}
	}
	if req.Header.Get("Cookie") == "" {
		tb.Fatalf("%s set no cookie", sys.name)
	}
	return req, lines
}

// run serves base's copy n times through h. The shallow request copy is the
// same work for every system; gorilla's registry needs a fresh request.
func run(b *testing.B, h http.Handler, base *http.Request) {
	w := &discard{h: http.Header{}}
	b.ReportAllocs()
	for b.Loop() {
		r := new(http.Request)
		*r = *base
		clear(w.h)
		h.ServeHTTP(w, r)
	}
}

func systems(tb testing.TB, p payload) []system {
	out := []system{crumbs(tb, p), scsMem(tb, p)}
	if p.name == "SMALL" {
		out = append(out, gorilla(tb, p, 4096), floor(tb, p))
	}
	return append(out, gorilla(tb, p, 0))
}

// BenchmarkLoadChangeSave: load the session, change one value, save.
func BenchmarkLoadChangeSave(b *testing.B) {
	for _, p := range payloads(b) {
		for _, sys := range systems(b, p) {
			base, _ := prime(b, sys)
			b.Run(p.name+"/"+sys.name, func(b *testing.B) { run(b, sys.wrap(sys.change), base) })
		}
	}
}

// BenchmarkLoadOnly: load the session and read one value.
func BenchmarkLoadOnly(b *testing.B) {
	for _, p := range payloads(b) {
		for _, sys := range systems(b, p) {
			base, _ := prime(b, sys)
			b.Run(p.name+"/"+sys.name, func(b *testing.B) { run(b, sys.wrap(sys.read), base) })
		}
	}
}

// BenchmarkUntouched: a request that carries a session cookie and never
// touches it, against the bare handler.
func BenchmarkUntouched(b *testing.B) {
	p := payloads(b)[0]
	sys := crumbs(b, p)
	base, _ := prime(b, sys)
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) })
	b.Run("bare", func(b *testing.B) { run(b, ok, base) })
	b.Run("crumbs", func(b *testing.B) { run(b, sys.wrap(ok), base) })
}

// TestSetCookieBytes prints what each system puts on the wire, and checks
// the claims BENCHMARKS.md makes: LARGE fits one crumbs cookie, and gorilla
// refuses it by default.
func TestSetCookieBytes(t *testing.T) {
	for _, p := range payloads(t) {
		for _, sys := range withDefaultGorilla(t, p) {
			if p.name == "LARGE" && sys.name == "gorilla" {
				err := func() (err error) {
					defer func() {
						if r := recover(); r != nil {
							err, _ = r.(error)
						}
					}()
					prime(t, sys)
					return nil
				}()
				if err == nil || !strings.Contains(err.Error(), "too long") {
					t.Errorf("gorilla with its default MaxLength stored LARGE: %v", err)
				}
				t.Logf("%-5s %-20s refused: %v", p.name, sys.name, err)
				continue
			}
			_, lines := prime(t, sys)
			n, live := 0, 0
			for _, l := range lines {
				n += len("Set-Cookie: ") + len(l) + 2
				if !strings.Contains(l, "Max-Age=0") {
					live++
				}
			}
			t.Logf("%-5s %-20s %d Set-Cookie lines (%d live), %d bytes", p.name, sys.name, len(lines), live, n)
			if p.name == "LARGE" && sys.name == "crumbs" && live != 1 {
				t.Errorf("crumbs needs %d cookies for LARGE, want 1", live)
			}
		}
	}
}

// TestHandlersWork runs every system's handlers once, so a broken setup
// fails here and not as a panic in a benchmark.
func TestHandlersWork(t *testing.T) {
	for _, p := range payloads(t) {
		for _, sys := range systems(t, p) {
			base, _ := prime(t, sys)
			w := &discard{h: http.Header{}}
			sys.wrap(sys.change).ServeHTTP(w, base)
			if len(w.h.Values("Set-Cookie")) == 0 {
				t.Errorf("%s/%s: changing a value set no cookie", p.name, sys.name)
			}
			r := new(http.Request)
			*r = *base
			sys.wrap(sys.read).ServeHTTP(&discard{h: http.Header{}}, r)
		}
	}
}

// withDefaultGorilla is systems plus gorilla at its default MaxLength for
// LARGE, which it refuses.
func withDefaultGorilla(tb testing.TB, p payload) []system {
	out := systems(tb, p)
	if p.name == "LARGE" {
		out = append(out, gorilla(tb, p, 4096))
	}
	return out
}

// BenchmarkTransport: the SMALL session's load+change+save and load only,
// carried by the cookie and by the header token (WithHeaderToken).
func BenchmarkTransport(b *testing.B) {
	p := payloads(b)[0]
	store, err := cookiestore.New([][]byte{secret})
	if err != nil {
		b.Fatal(err)
	}
	for _, tr := range []struct {
		name string
		opts []session.Option
	}{{"cookie", nil}, {"header", []session.Option{session.WithHeaderToken("", "")}}} {
		m, err := session.New(store, tr.opts...)
		if err != nil {
			b.Fatal(err)
		}
		sys := crumbs(b, p)
		w := &discard{h: http.Header{}}
		r, _ := http.NewRequest("GET", "http://example.com/", nil)
		m.Handler(sys.populate).ServeHTTP(w, r)
		base, _ := http.NewRequest("GET", "http://example.com/", nil)
		if tok := w.h.Get("Session-Token"); tok != "" {
			base.Header.Set("Authorization", "Bearer "+tok)
		} else {
			for _, c := range (&http.Response{Header: w.h}).Cookies() {
				base.AddCookie(c)
			}
		}
		b.Run("SMALL/"+tr.name+"/change", func(b *testing.B) { run(b, m.Handler(sys.change), base) })
		b.Run("SMALL/"+tr.name+"/read", func(b *testing.B) { run(b, m.Handler(sys.read), base) })
	}
}
