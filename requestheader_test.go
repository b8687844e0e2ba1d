package session_test

import (
	"crypto/rand"
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/crumbs-go/session"
)

// RequestHeaderBytes bounds what the session's cookies (or token) take in
// the next request's headers, for every cookie configuration, and is close
// to what a session grown to its budget really sends.
func TestRequestHeaderBytes(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts []session.Option
	}{
		{"defaults", nil},
		{"4 chunks", []session.Option{session.WithMaxChunks(4)}},
		{"total below chunks", []session.Option{session.WithMaxChunks(3), session.WithTotalBudget(6000)}},
		{"small cookies", []session.Option{session.WithCookieName("__Host-s"), session.WithCookieBudget(1000), session.WithMaxChunks(9)}},
		{"header token", []session.Option{session.WithHeaderToken("", "")}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, err := session.New(mustCookieStore(t), append(tc.opts, session.WithLogger(discard()))...)
			if err != nil {
				t.Fatal(err)
			}
			limit := m.RequestHeaderBytes()
			h := m.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				s := session.From(r)
				blob, _ := session.Get[string](s, "blob")
				var b [24]byte
				rand.Read(b[:])
				s.Set("blob", blob+hex.EncodeToString(b[:])) // incompressible
			}))
			header, largest := "", 0
			for range 2000 {
				req := httptest.NewRequest(http.MethodGet, "https://app.example/", nil)
				if header != "" {
					req.Header.Set("Cookie", header)
					req.Header.Set("Authorization", header)
				}
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, req)
				if rec.Code != http.StatusOK {
					break // over the budget
				}
				header = nextHeader(rec.Result())
				largest = max(largest, len(header))
			}
			if largest > limit || largest < limit*9/10 {
				t.Fatalf("the largest session sent %d header bytes; RequestHeaderBytes says %d", largest, limit)
			}
		})
	}
}

// nextHeader is what a browser (or API client) sends after res: the
// Cookie header value of the cookies res set, or the Authorization value.
func nextHeader(res *http.Response) string {
	if tok := res.Header.Get("Session-Token"); tok != "" {
		return "Bearer " + tok
	}
	var parts []string
	for _, c := range res.Cookies() {
		if c.MaxAge >= 0 && c.Value != "" {
			parts = append(parts, c.Name+"="+c.Value)
		}
	}
	return strings.Join(parts, "; ")
}
