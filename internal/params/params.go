// Package params reads the crumbs_ parameters of the stores'
// configuration strings the same way in every store module: each read in
// name order and given once, values checked with an error that names the
// parameter, and no password in any message.
package params

import (
	"errors"
	"fmt"
	"maps"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Parse parses a configuration string as a URL. Its error never quotes
// the string (url.Error does, password included).
func Parse(pkg, config string) (*url.URL, error) {
	u, err := url.Parse(config)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, fmt.Errorf("%s: the configuration string is not a URL: %w", pkg, err)
	}
	return u, nil
}

// Each calls f for every parameter of q that own claims, in name order,
// with its one value, and removes it from q; a parameter given twice is an
// error.
func Each(pkg string, q url.Values, own func(name string) bool, f func(name, value string) error) error {
	for _, name := range slices.Sorted(maps.Keys(q)) {
		if !own(name) {
			continue
		}
		if vals := q[name]; len(vals) > 1 {
			return fmt.Errorf("%s: parameter %s is given %d times: give it once", pkg, name, len(vals))
		}
		if err := f(name, q.Get(name)); err != nil {
			return err
		}
		q.Del(name)
	}
	return nil
}

// Crumbs claims the crumbs_ parameters.
func Crumbs(name string) bool { return strings.HasPrefix(name, "crumbs_") }

// Bad is the error for a parameter's value: what to give instead.
func Bad(pkg, name, value, want string) error {
	return fmt.Errorf("%s: parameter %s=%q: give %s", pkg, name, value, want)
}

// Bool reads true or false.
func Bool(pkg, name, value string) (bool, error) {
	on, err := strconv.ParseBool(value)
	if err != nil {
		return false, Bad(pkg, name, value, "true or false")
	}
	return on, nil
}

// Duration reads a duration of at least min.
func Duration(pkg, name, value string, min time.Duration) (time.Duration, error) {
	d, err := time.ParseDuration(value)
	if err != nil || d < min {
		return 0, Bad(pkg, name, value, fmt.Sprintf("a duration of %v or more", min))
	}
	return d, nil
}

// Redact is u for an error message: the password of the user info and of
// every parameter whose name ends in "password" masked.
func Redact(u *url.URL) string {
	c := *u
	q := c.Query()
	for name := range q {
		if strings.HasSuffix(name, "password") {
			q.Set(name, "xxxxx")
		}
	}
	c.RawQuery = q.Encode()
	return c.Redacted()
}
