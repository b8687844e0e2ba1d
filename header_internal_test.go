package session

import (
	"context"
	"errors"
	"net/http/httptest"
	"net/textproto"
	"strings"
	"testing"
	"time"

	"github.com/crumbs-go/session/driver"
	"github.com/crumbs-go/session/internal/vectors"
)

// TestHeaderVectors reads every request of testdata/header-vectors through
// the header transport and opens what it yields, for the binding of
// spec/header-token-v1.md §1: ok vectors give their data, none vectors no
// token, invalid ones an error wrapping ErrInvalid.
func TestHeaderVectors(t *testing.T) {
	for _, v := range vectors.MustLoadHeader(t) {
		t.Run(v.File, func(t *testing.T) {
			ring, err := v.Ring()
			if err != nil {
				t.Fatal(err)
			}
			var opts []Option
			if name := v.Header["header"]; name != "Authorization" {
				opts = append(opts, WithHeaderToken(name, ""))
			} else {
				opts = append(opts, WithHeaderToken("", ""))
			}
			m, err := New(nopStore{}, append(opts, WithCookieName(v.Header["name"]))...)
			if err != nil {
				t.Fatal(err)
			}
			r := httptest.NewRequest("GET", "/", nil)
			for _, line := range v.Lines {
				name, value, _ := strings.Cut(line, ":")
				r.Header.Add(textproto.CanonicalMIMEHeaderKey(name), strings.TrimLeft(value, " "))
			}
			s := &Session{exchange: exchange{m: m, r: r, t: m.http}}
			token, err := s.t.read(s)
			if err == nil {
				var p []byte
				payload, rotated, oerr := ring.Open(s.t.binding(), token, v.Now())
				p, err = payload.Data, oerr
				if err == nil && v.Header["expect"] == "ok" {
					if string(p) != v.Header["data"] || rotated != (v.Header["rotated"] == "true") {
						t.Fatalf("opened %q (rotated %t), want the vector's data", p, rotated)
					}
				}
			}
			switch v.Header["expect"] {
			case "ok":
				if err != nil {
					t.Fatalf("ok vector: %v", err)
				}
			case "none":
				if !errors.Is(err, driver.ErrNotFound) {
					t.Fatalf("none vector: %v, want ErrNotFound", err)
				}
			default:
				if !errors.Is(err, driver.ErrInvalid) {
					t.Fatalf("invalid vector: %v, want ErrInvalid", err)
				}
			}
		})
	}
}

// nopStore is a Store for tests that never reach one.
type nopStore struct{}

func (nopStore) Load(context.Context, string, string, time.Time) (*driver.Record, error) {
	return nil, driver.ErrNotFound
}
func (nopStore) Save(context.Context, string, *driver.Commit, time.Time) (string, error) {
	return "", nil
}
func (nopStore) Retire(context.Context, string, *driver.Record, *driver.Record, time.Time) (*driver.Record, error) {
	return nil, nil
}
func (nopStore) Delete(context.Context, string, *driver.Record, time.Time) error { return nil }
