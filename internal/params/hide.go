package params

import (
	"errors"
	"net/url"
	"regexp"
	"strings"
)

// Hide returns err unchanged when config holds no password; otherwise an
// error whose message has each piece (3 bytes or more) of a password
// masked, that answers errors.Is as err does but does not unwrap to it:
// err's chain can hold the password in fields (pgconn.ParseConfigError's
// ConnString, pgconn.ConnectError's Config.Password). OpenStore passes
// every error through Hide: whatever a store, go-redis or pgx quotes, no
// password leaves it.
func Hide(config string, err error) error {
	if err == nil {
		return nil
	}
	secrets := Secrets(config)
	if len(secrets) == 0 {
		return err
	}
	return &hidden{msg: mask(err.Error(), secrets), err: err}
}

type hidden struct {
	msg string
	err error
}

func (h *hidden) Error() string        { return h.msg }
func (h *hidden) Is(target error) bool { return errors.Is(h.err, target) }

var kvPassword = regexp.MustCompile(`(?i)password\s*=\s*('(?:[^'\\]|\\.)*'|\S*)`)

// Secrets returns the passwords config may hold, as written and decoded:
// the user info's password as its writer meant it (up to the '@' before
// the host, whatever '/', '?' or '#' it holds), every value of a
// parameter whose name ends in "password" (with the bare items an
// unescaped '&' split off it), and keyword=value passwords.
func Secrets(config string) []string {
	var out []string
	add := func(s string) {
		if s == "" {
			return
		}
		out = append(out, s)
		if d, err := url.PathUnescape(s); err == nil && d != s {
			out = append(out, d)
		}
		if d, err := url.QueryUnescape(s); err == nil && d != s {
			out = append(out, d)
		}
	}
	if scheme, rest, ok := strings.Cut(config, "://"); ok {
		scheme = strings.ToLower(scheme)
		// The user info's password: url.Parse's, and, when the string is
		// malformed, what lies between the first ':' and the first or the
		// last '@' (a password with a '/', '?', '#' or '@').
		auth := rest
		if end := strings.IndexAny(rest, "/?#"); end >= 0 {
			auth = rest[:end]
		}
		if at := strings.LastIndexByte(auth, '@'); at >= 0 {
			if _, pw, ok := strings.Cut(auth[:at], ":"); ok {
				add(pw) // as written, and decoded
			}
		}
		// A malformed string: the password may run past what url.Parse
		// reads as the user info (a '/', '?', '#' or '@' in it); take what
		// lies between the first ':' and the first, and the last, '@'.
		if _, err := url.Parse(config); err != nil || stranded(config) || strings.Contains(config, "#") {
			for _, at := range []int{strings.IndexByte(rest, '@'), strings.LastIndexByte(rest, '@')} {
				if at < 0 {
					continue
				}
				if _, pw, ok := strings.Cut(rest[:at], ":"); ok {
					add(pw)
				}
			}
		}
		if _, q, ok := strings.Cut(rest, "?"); ok {
			items := strings.Split(q, "&")
			for i := 0; i < len(items); i++ {
				name, v, ok := strings.Cut(items[i], "=")
				if n, err := url.QueryUnescape(name); !ok || err != nil || !isPasswordName(n) {
					continue
				}
				for i+1 < len(items) {
					next, _, hasValue := strings.Cut(items[i+1], "=")
					if hasValue && parameterName(scheme, next) {
						break
					}
					i++
					v += "&" + items[i] // the rest of a password with an '&' in it
				}
				add(v)
			}
		}
	}
	if !strings.Contains(config, "://") {
		for _, m := range kvPassword.FindAllStringSubmatch(config, -1) {
			add(strings.Trim(m[1], "'"))
		}
	}
	return out
}

// mask replaces each run of msg covered by 3-byte pieces of a secret with
// "xxxxx". A 2-byte secret is masked whole; a 1-byte one is not masked (it
// would mask every such letter).
func mask(msg string, secrets []string) string {
	if len(secrets) == 0 {
		return msg
	}
	cover := make([]bool, len(msg))
	any := false
	mark := func(piece string) {
		for off := 0; ; {
			i := strings.Index(msg[off:], piece)
			if i < 0 {
				return
			}
			for k := off + i; k < off+i+len(piece); k++ {
				cover[k] = true
			}
			any = true
			off += i + 1
		}
	}
	for _, s := range secrets {
		if len(s) < 3 {
			if len(s) == 2 {
				mark(s)
			}
			continue
		}
		for i := 0; i+3 <= len(s); i++ {
			mark(s[i : i+3])
		}
	}
	if !any {
		return msg
	}
	var b strings.Builder
	for i := 0; i < len(msg); {
		if !cover[i] {
			b.WriteByte(msg[i])
			i++
			continue
		}
		for i < len(msg) && cover[i] {
			i++
		}
		b.WriteString("xxxxx")
	}
	return b.String()
}
