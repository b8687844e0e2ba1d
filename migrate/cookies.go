package migrate

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/crumbs-go/session/driver"
)

// maxValue bounds a cookie value before anything is decoded: browsers keep
// at most 4096 bytes of name and value.
const maxValue = 4096

// firstCookie returns the value of the first cookie named name in r's
// Cookie headers, without its surrounding quotes, as the libraries these
// cookies come from read it (the first occurrence wins). It allocates
// nothing: the value is a substring of the header.
func firstCookie(r *http.Request, name string) (string, bool) {
	for _, line := range r.Header["Cookie"] {
		for line != "" {
			var part string
			part, line, _ = strings.Cut(line, ";")
			n, v, ok := strings.Cut(strings.TrimSpace(part), "=")
			if !ok || n != name {
				continue
			}
			if len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"' {
				v = v[1 : len(v)-1]
			}
			return v, true
		}
	}
	return "", false
}

// cookieValue returns the bounded value of the cookie name, ErrNotFound
// when r carries none.
func cookieValue(r *http.Request, from, name string) (string, error) {
	v, ok := firstCookie(r, name)
	switch {
	case !ok:
		return "", driver.ErrNotFound
	case len(v) > maxValue:
		return "", fmt.Errorf("migrate: %s cookie %q: %d bytes, over %d: %w", from, name, len(v), maxValue, driver.ErrInvalid)
	}
	return v, nil
}

// checkName validates a cookie name and path given to an Importer.
func checkName(from, name, path, domain string) error {
	if name == "" {
		return fmt.Errorf("migrate: %s: give the cookie name", from)
	}
	if err := (&http.Cookie{Name: name, Value: "x", Path: path, Domain: domain}).Valid(); err != nil {
		return fmt.Errorf("migrate: %s: cookie name %q, path %q, domain %q: %w", from, name, path, domain, err)
	}
	return nil
}
