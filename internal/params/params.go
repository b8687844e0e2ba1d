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

// Parse parses a configuration string as a URL. Its errors never quote
// the string, nor any part of it: they say which part is wrong. A string
// whose user info holds an unescaped '/', '?' or '#' (which url.Parse
// splits at, spilling the password into the port, path, query or
// fragment) is an error that says so, and so is any '#' or an '@' past
// the host.
func Parse(pkg, config string) (*url.URL, error) {
	u, err := url.Parse(config)
	if err != nil {
		return nil, fmt.Errorf("%s: the configuration string is not a URL: %s", pkg, urlProblem(config, err))
	}
	if i := strings.Index(config, "://"); i != len(u.Scheme) || u.Opaque != "" {
		return nil, fmt.Errorf("%s: write the configuration string as %s://[user:password@]host…, with \"://\" after the scheme", pkg, u.Scheme)
	}
	if stranded(config) {
		return nil, fmt.Errorf("%s: %s", pkg, strandedHint)
	}
	if strings.Contains(config, "#") {
		return nil, fmt.Errorf("%s: the configuration string has a '#': write a '#' in a password as %%23", pkg)
	}
	if bareAfterPassword(u.Scheme, u.RawQuery) {
		return nil, fmt.Errorf("%s: what follows a password parameter is not a parameter: write an '&' in a password as %%26", pkg)
	}
	if _, err := url.ParseQuery(u.RawQuery); err != nil {
		// url.URL.Query drops such a parameter without a word.
		return nil, fmt.Errorf("%s: the parameters are not a URL query: separate them with '&' (not ';'), and write a '%%' as %%25", pkg)
	}
	return u, nil
}

const strandedHint = "an '@' follows the host's '/', '?' or '#': percent-encode the user name's and password's '/', '?', '#' (%2F, %3F, %23), and an '@' elsewhere as %40"

// stranded reports an '@' that url.Parse would not read as the end of the
// user info: in the path, in a parameter's name, or after a '#'. That is a
// password with a '/', '?' or '#' nearly always (redis://u:a/b@host).
func stranded(config string) bool {
	_, rest, ok := strings.Cut(config, "://")
	if !ok {
		return false
	}
	end := strings.IndexAny(rest, "/?#")
	if end < 0 {
		return false
	}
	rest = rest[end:]
	if frag := strings.IndexByte(rest, '#'); frag >= 0 {
		if strings.Contains(rest[frag:], "@") {
			return true
		}
		rest = rest[:frag]
	}
	path, query, _ := strings.Cut(rest, "?")
	if strings.Contains(path, "@") {
		return true
	}
	for item := range strings.SplitSeq(query, "&") {
		if name, _, _ := strings.Cut(item, "="); strings.Contains(name, "@") {
			return true
		}
	}
	return false
}

// bareAfterPassword reports a parameter without '=' right after a
// password parameter: an unescaped '&' in the password.
func bareAfterPassword(scheme, rawQuery string) bool {
	after := false
	for item := range strings.SplitSeq(rawQuery, "&") {
		name, _, hasValue := strings.Cut(item, "=")
		if after && item != "" && (!hasValue || !parameterName(scheme, name)) {
			// Not a parameter: the rest of a password with an '&' in it
			// ("password=ab&Cd=ef").
			return true
		}
		n, err := url.QueryUnescape(name)
		after = err == nil && hasValue && isPasswordName(n)
	}
	return false
}

// parameterName reports whether name, in a string of scheme, is a
// parameter rather than the rest of a password with an '&' in it:
// lower-case letters, digits and '_' (go-redis's, pgx's and crumbs'
// parameters), or for mongodb and mongodb+srv one of the driver's options
// (camelCase; "password=ab&etPart=x" is still a password's rest).
func parameterName(scheme, name string) bool {
	if name == "" {
		return false
	}
	if scheme == "mongodb" || scheme == "mongodb+srv" {
		if mongoOptions[strings.ToLower(name)] {
			return true
		}
	}
	for i := 0; i < len(name); i++ {
		if c := name[i]; !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}

// mongoOptions are the MongoDB connection string options, lower case.
var mongoOptions = map[string]bool{}

func init() {
	for _, o := range strings.Fields(`appName authMechanism authMechanismProperties authSource
		compressors connectTimeoutMS directConnection heartbeatFrequencyMS journal loadBalanced
		localThresholdMS maxIdleTimeMS maxPoolSize minPoolSize maxConnecting readConcernLevel
		readPreference readPreferenceTags maxStalenessSeconds replicaSet retryReads retryWrites
		serverSelectionTimeoutMS serverSelectionTryOnce socketTimeoutMS srvMaxHosts srvServiceName
		ssl tls tlsCAFile tlsCertificateKeyFile tlsCertificateKeyFilePassword tlsInsecure
		tlsAllowInvalidCertificates tlsAllowInvalidHostnames tlsDisableOCSPEndpointCheck
		tlsDisableCertificateRevocationCheck w wTimeoutMS zlibCompressionLevel timeoutMS
		waitQueueTimeoutMS proxyHost proxyPort proxyUsername proxyPassword serverMonitoringMode
		gssapiServiceName uuidRepresentation`) {
		mongoOptions[strings.ToLower(o)] = true
	}
}

func isPasswordName(name string) bool {
	return strings.HasSuffix(strings.ToLower(name), "password")
}

// urlProblem describes url.Parse's error without the text it quotes (the
// port it read, an escape, a host character: parts of a password, often).
func urlProblem(config string, err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	var esc url.EscapeError
	var host url.InvalidHostError
	switch msg := err.Error(); {
	case errors.As(err, &esc):
		return "a '%' is not followed by two hexadecimal digits (write a '%' in a password as %25)"
	case strandedAuthority(config):
		return strandedHint
	case errors.As(err, &host):
		return "the host has a character a host name cannot have"
	case strings.HasPrefix(msg, "invalid port"):
		return "what follows the host's ':' is not a port number"
	case msg == "net/url: invalid userinfo":
		return "the user name or password has a character that must be percent-encoded"
	case msg == "net/url: invalid control character in URL":
		return "it has a control character (a newline, say)"
	case msg == "missing protocol scheme":
		return "it does not start with a scheme"
	default:
		return "its host, port or user info is malformed"
	}
}

// strandedAuthority: the part before the first '/', '?' or '#' after "://"
// has no '@' and an '@' follows; url.Parse then reads the password's start
// as the port (redis://u:a/b@host: port "a").
func strandedAuthority(config string) bool {
	_, rest, ok := strings.Cut(config, "://")
	if !ok {
		return false
	}
	end := strings.IndexAny(rest, "/?#")
	return end >= 0 && !strings.Contains(rest[:end], "@") && strings.Contains(rest[end:], "@")
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
		if isPasswordName(name) {
			q.Set(name, "xxxxx")
		}
	}
	c.RawQuery = q.Encode()
	c.Fragment, c.RawFragment = "", ""
	return c.Redacted()
}
