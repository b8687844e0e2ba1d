package session

import (
	"errors"
	"net/http/httptest"
	"testing"

	"github.com/crumbs-go/session/driver"
	"github.com/crumbs-go/session/internal/vectors"
)

// FuzzHeaderToken reads arbitrary request headers through the header
// transport: never a panic, only "no token", ErrInvalid, or a token within
// MaxTokenSize. (The token itself is the store's to open: FuzzOpen and
// FuzzVerify in crypto, FuzzLoad in cookiestore.)
func FuzzHeaderToken(f *testing.F) {
	for _, v := range vectors.MustLoadHeader(f) {
		for _, line := range v.Lines {
			f.Add(line, "")
		}
	}
	f.Add("Bearer", "Bearer x")
	f.Fuzz(func(t *testing.T, a, b string) {
		m, err := New(nopStore{}, WithHeaderToken("", ""))
		if err != nil {
			t.Fatal(err)
		}
		r := httptest.NewRequest("GET", "/", nil)
		r.Header["Authorization"] = []string{a}
		if b != "" {
			r.Header["Authorization"] = append(r.Header["Authorization"], b)
		}
		s := &Session{exchange: exchange{m: m, r: r, t: m.http}}
		tok, err := s.t.read(s)
		switch {
		case err == nil && (tok == "" || len(tok) > MaxTokenSize):
			t.Fatalf("a token of %d bytes", len(tok))
		case err != nil && !errors.Is(err, driver.ErrInvalid) && !errors.Is(err, driver.ErrNotFound):
			t.Fatalf("error %v is neither ErrInvalid nor ErrNotFound", err)
		}
	})
}
