package session

import (
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/crumbs-go/session/driver"
)

// headerBinding is the name header tokens are sealed or signed for
// (spec/header-token-v1.md §1): never a cookie name, so a cookie value is
// not a header token nor a header token a cookie.
func headerBinding(name string) string { return "header:" + name }

// headerTransport carries the token in a request header and a response
// header (spec/header-token-v1.md), for APIs and mobile clients.
type headerTransport struct {
	m        *Manager
	request  string // canonical request header name
	response string // canonical response header name
	bearer   bool   // the request header is Authorization with the Bearer scheme
}

func (t headerTransport) binding() string { return headerBinding(t.m.cfg.name) }

// value returns the request header's value: ok is false when it is absent
// or, for Authorization, of another scheme; err rejects what §2 rejects.
func (t headerTransport) value(r *http.Request) (token string, ok bool, err error) {
	lines := r.Header[t.request]
	switch {
	case len(lines) == 0:
		return "", false, nil
	case len(lines) > 1:
		return "", true, fmt.Errorf("session: %d %s headers: %w", len(lines), t.request, driver.ErrInvalid)
	}
	v := strings.TrimSpace(lines[0])
	if len(v) > MaxTokenSize+len("Bearer ") {
		return "", true, fmt.Errorf("session: a %s header over %d bytes: %w", t.request, MaxTokenSize, driver.ErrInvalid)
	}
	if t.bearer {
		scheme, rest, _ := strings.Cut(v, " ")
		if !strings.EqualFold(scheme, "Bearer") {
			return "", false, nil // another scheme: the application's
		}
		v = strings.TrimLeft(rest, " ")
	}
	switch {
	case len(v) > MaxTokenSize:
		return "", true, fmt.Errorf("session: a token over %d bytes: %w", MaxTokenSize, driver.ErrInvalid)
	case v == "":
		return "", true, fmt.Errorf("session: an empty token in %s: %w", t.request, driver.ErrInvalid)
	}
	return v, true, nil
}

func (t headerTransport) read(s *Session) (string, error) {
	v, ok, err := t.value(s.r)
	switch {
	case err != nil:
		return "", err
	case !ok:
		return "", driver.ErrNotFound
	}
	return v, nil
}

func (t headerTransport) carried(s *Session) bool {
	_, ok, _ := t.value(s.r)
	return ok
}

func (t headerTransport) write(s *Session, token string, _ time.Time) error {
	if len(token) > MaxTokenSize {
		return fmt.Errorf("session: the session's token is %d bytes, over the %d a header token may take: %w", len(token), MaxTokenSize, ErrTooLarge)
	}
	t.set(s, token)
	return nil
}

func (t headerTransport) expire(s *Session) { t.set(s, "") }

func (t headerTransport) set(s *Session, token string) {
	s.sentBytes, s.sentCookies = len(token), 1
	h := s.w.rw.Header()
	h[t.response] = []string{token}
	if !headerHasToken(h, "Access-Control-Expose-Headers", t.response) && !headerHasToken(h, "Access-Control-Expose-Headers", "*") {
		h.Add("Access-Control-Expose-Headers", t.response)
	}
}

func (t headerTransport) tidy(*Session) bool { return false }

func (t headerTransport) unwrite(s *Session) { s.w.rw.Header().Del(t.response) }

func (t headerTransport) finish(s *Session, wrote bool) {
	cacheHeaders(s.w.rw.Header(), t.request, wrote)
}
