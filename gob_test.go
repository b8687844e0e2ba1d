package session_test

import (
	"context"
	"encoding/gob"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/crumbs-go/session"
	"github.com/crumbs-go/session/cookiestore"
	"github.com/crumbs-go/session/serverstore"
)

type gobUser struct {
	Name  string
	Roles []string
}

func init() { gob.Register(gobUser{}) }

// TestGobKeepsTypes: with the Gob codec, the next request reads back the
// Go type that was stored, through Get[T] and through Get's any.
func TestGobKeepsTypes(t *testing.T) {
	for _, mode := range []string{"cookie", "memory"} {
		t.Run(mode, func(t *testing.T) {
			var store session.Store
			var err error
			if mode == "cookie" {
				store, err = cookiestore.New([][]byte{secret(3)})
			} else {
				store, err = serverstore.New(serverstore.NewMemory(), [][]byte{secret(3)})
			}
			if err != nil {
				t.Fatal(err)
			}
			m, err := session.New(store, session.WithCodec(session.Gob), session.WithLogger(discard()))
			if err != nil {
				t.Fatal(err)
			}
			w := httptest.NewRecorder()
			m.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				s := session.From(r)
				s.Set("user", gobUser{"alice", []string{"admin"}})
				s.Set("n", 7)
				s.Set("nothing", nil)
			})).ServeHTTP(w, httptest.NewRequest("GET", "http://localhost/", nil))
			if w.Code != 200 {
				t.Fatalf("%d %s", w.Code, w.Body)
			}
			r := httptest.NewRequest("GET", "http://localhost/", nil)
			for _, c := range w.Result().Cookies() {
				r.AddCookie(c)
			}
			m.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				s := session.From(r)
				if u, ok := s.Get("user").(gobUser); !ok || u.Name != "alice" || u.Roles[0] != "admin" {
					t.Errorf("Get(user) = %#v, want the gobUser", s.Get("user"))
				}
				if u, ok := session.Get[gobUser](s, "user"); !ok || u.Name != "alice" {
					t.Errorf("Get[gobUser] = %v %v", u, ok)
				}
				if n, ok := s.Get("n").(int); !ok || n != 7 {
					t.Errorf("Get(n) = %#v", s.Get("n"))
				}
				if n, ok := session.Get[int64](s, "n"); !ok || n != 7 {
					t.Errorf("Get[int64](n) = %v %v: an int converts", n, ok)
				}
				if _, ok := session.Get[string](s, "n"); ok {
					t.Error("Get[string] of an int succeeded")
				}
				if !s.Has("nothing") || s.Get("nothing") != nil {
					t.Errorf("nil: %v %v", s.Has("nothing"), s.Get("nothing"))
				}
			})).ServeHTTP(httptest.NewRecorder(), r)
		})
	}
}

// TestGobUnregisteredType: a value of a type gob does not know fails at
// commit, through the error handler, naming it.
func TestGobUnregisteredType(t *testing.T) {
	type unregistered struct{ A int }
	h := newHarness(t, session.WithCodec(session.Gob))
	res := h.do(t, func(w http.ResponseWriter, r *http.Request) { session.From(r).Set("x", unregistered{1}) })
	if res.StatusCode != 500 || len(h.errors()) != 1 || !strings.Contains(h.errors()[0].Error(), "not registered") {
		t.Fatalf("%d %v", res.StatusCode, h.errors())
	}
}

// TestOpen: a session opened outside Handler saves only when asked, into
// the writer's headers, and the next request reads it; a store failure is
// returned, not answered.
func TestOpen(t *testing.T) {
	store, err := serverstore.New(serverstore.NewMemory(), [][]byte{secret(4)})
	if err != nil {
		t.Fatal(err)
	}
	m, err := session.New(store, session.WithLogger(discard()))
	if err != nil {
		t.Fatal(err)
	}
	w := httptest.NewRecorder()
	s, err := m.LoadRequest(w, httptest.NewRequest("GET", "http://localhost/", nil))
	if err != nil || !s.IsNew() {
		t.Fatal(err, s.IsNew())
	}
	s.Set("user", "alice")
	if len(w.Header()["Set-Cookie"]) != 0 {
		t.Fatal("Open wrote before Save")
	}
	if err := s.Save(); err != nil {
		t.Fatal(err)
	}
	r := httptest.NewRequest("GET", "http://localhost/", nil)
	for _, c := range w.Result().Cookies() {
		r.AddCookie(c)
	}
	s2, err := m.LoadRequest(httptest.NewRecorder(), r)
	if u, _ := session.Get[string](s2, "user"); err != nil || u != "alice" {
		t.Fatalf("next request: %q %v", u, err)
	}

	down, _ := serverstore.New(failingBackend{}, [][]byte{secret(4)})
	md, _ := session.New(down, session.WithLogger(discard()))
	r = httptest.NewRequest("GET", "http://localhost/", nil)
	r.AddCookie(w.Result().Cookies()[0])
	w = httptest.NewRecorder()
	s3, err := md.LoadRequest(w, r)
	if !errors.Is(err, session.ErrBackend) || s3.Len() != 0 || w.Code != 200 || w.Body.Len() != 0 {
		t.Fatalf("a failing store: %v, %d values, answered %d %q", err, s3.Len(), w.Code, w.Body)
	}
	_ = context.Background
}

// TestGobConversionsKeepTheValue: Get[T] converts a stored number only
// when T holds it exactly.
func TestGobConversionsKeepTheValue(t *testing.T) {
	cases := []struct {
		stored any
		into   func([]byte) (any, bool)
		ok     bool
	}{
		{7, func(b []byte) (any, bool) { var v int64; err := session.Gob.Unmarshal(b, &v); return v, err == nil }, true},
		{-1, func(b []byte) (any, bool) { var v uint; err := session.Gob.Unmarshal(b, &v); return v, err == nil }, false},
		{300, func(b []byte) (any, bool) { var v int8; err := session.Gob.Unmarshal(b, &v); return v, err == nil }, false},
		{1e300, func(b []byte) (any, bool) { var v float32; err := session.Gob.Unmarshal(b, &v); return v, err == nil }, false},
		{0.5, func(b []byte) (any, bool) { var v float32; err := session.Gob.Unmarshal(b, &v); return v, err == nil }, true},
	}
	for _, c := range cases {
		b, err := session.Gob.Marshal(c.stored)
		if err != nil {
			t.Fatal(err)
		}
		if v, ok := c.into(b); ok != c.ok {
			t.Errorf("%v (%T) read as %v (%T): ok %v, want %v", c.stored, c.stored, v, v, ok, c.ok)
		}
	}
}
