package migrate

import (
	"bytes"
	"crypto/fips140"
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"net/http"
	"strings"

	"github.com/crumbs-go/session/driver"
)

// CookieSession describes a Node application's cookie-session middleware
// (cookie-session 2, with the cookies and keygrip packages): what
// FromCookieSession needs to read the cookies it wrote.
type CookieSession struct {
	// Name is cookie-session's name option: "session" when empty. The
	// values are in the cookie of that name, their signature in Name+".sig".
	Name string
	// Keys are the keys option, in the same order: every key is tried, as
	// keygrip does. Required: unsigned cookies (signed: false) are not
	// imported, as anyone can forge them. They are the application's
	// existing keys, so their length is not checked, but an empty or blank
	// key (from splitting "k1," or an unset variable) is refused: anyone
	// could sign with it. They are never used for crumbs' own cookies.
	Keys []string
	// Hash is keygrip's HMAC algorithm: "sha1" (keygrip's default) when
	// empty, or "sha256", "sha384", "sha512" for a Keygrip(keys, algorithm).
	Hash string
	// Path and Domain are the path and domain options ("/" when empty):
	// both old cookies are expired with them.
	Path, Domain string
}

type cookieSessionImporter struct {
	c    CookieSession
	keys [][]byte
	hash func() hash.Hash
}

// FromCookieSession returns an Importer of cookie-session's cookies, for
// session.WithImport. The signature (HMAC of "name=value", base64url
// without padding, every key tried in constant time) is checked on the
// value exactly as received; the value is then decoded the way Node does
// (base64, either alphabet, padding optional) and must be a JSON object.
// Each member becomes a value, as encoding/json decodes it into an any: a
// number is a float64, as in JavaScript; an object is a map[string]any.
// The Manager's Codec re-encodes them, so session.Get reads them back into
// the Go type asked for.
func FromCookieSession(c CookieSession) (driver.Importer, error) {
	if c.Name == "" {
		c.Name = "session"
	}
	if c.Path == "" {
		c.Path = "/"
	}
	if err := checkName("cookie-session", c.Name, c.Path, c.Domain); err != nil {
		return nil, err
	}
	if len(c.Keys) == 0 {
		return nil, fmt.Errorf("migrate: FromCookieSession: give the keys option of cookie-session; unsigned sessions are not imported")
	}
	im := &cookieSessionImporter{c: c}
	switch strings.ToLower(c.Hash) {
	case "", "sha1":
		if fips140.Enforced() {
			return nil, errors.New("migrate: FromCookieSession: HMAC-SHA1 (keygrip's default) is refused in FIPS 140-only mode (GODEBUG=fips140=only); the Express application must sign with sha256, sha384 or sha512")
		}
		im.hash = sha1.New
	case "sha256":
		im.hash = sha256.New
	case "sha384":
		im.hash = sha512.New384
	case "sha512":
		im.hash = sha512.New
	default:
		return nil, fmt.Errorf("migrate: FromCookieSession: hash %q: give sha1, sha256, sha384 or sha512", c.Hash)
	}
	for i, k := range c.Keys {
		if strings.TrimSpace(k) == "" {
			// A list split from "k1," or from an unset variable: anyone
			// can sign with an empty key.
			return nil, fmt.Errorf("migrate: FromCookieSession: key %d of %d is empty or blank; anyone could sign a session with it (a trailing comma, or an unset variable?)", i+1, len(c.Keys))
		}
		im.keys = append(im.keys, []byte(k))
	}
	return im, nil
}

func (*cookieSessionImporter) Name() string { return "cookie-session" }

func (im *cookieSessionImporter) Cookies() []*http.Cookie {
	return []*http.Cookie{
		{Name: im.c.Name, Path: im.c.Path, Domain: im.c.Domain},
		{Name: im.c.Name + ".sig", Path: im.c.Path, Domain: im.c.Domain},
	}
}

func (im *cookieSessionImporter) Import(r *http.Request) (*driver.Imported, error) {
	name := im.c.Name
	v, err := cookieValue(r, "cookie-session", name)
	if err != nil {
		return nil, err
	}
	sig, err := cookieValue(r, "cookie-session", name+".sig")
	if err != nil {
		return nil, fmt.Errorf("migrate: cookie-session cookie %q has no valid %q signature cookie: %w", name, name+".sig", driver.ErrInvalid)
	}
	if !im.verify(name+"="+v, sig) {
		return nil, fmt.Errorf("migrate: cookie-session cookie %q: the signature matches none of the keys: %w", name, driver.ErrInvalid)
	}
	raw, err := nodeBase64(v)
	if err != nil {
		return nil, fmt.Errorf("migrate: cookie-session cookie %q: not base64: %w", name, driver.ErrInvalid)
	}
	var vals map[string]any
	dec := json.NewDecoder(bytes.NewReader(raw))
	if err := dec.Decode(&vals); err != nil || vals == nil || dec.More() {
		return nil, fmt.Errorf("migrate: cookie-session cookie %q: not a JSON object: %w", name, driver.ErrInvalid)
	}
	return &driver.Imported{Values: vals}, nil
}

// verify checks keygrip's signature of data against every key.
func (im *cookieSessionImporter) verify(data, sig string) bool {
	ok := 0
	for _, k := range im.keys {
		mac := hmac.New(im.hash, k)
		mac.Write([]byte(data))
		want := base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
		ok |= subtle.ConstantTimeCompare([]byte(want), []byte(sig))
	}
	return ok == 1
}

// nodeBase64 decodes s as Node's Buffer.from(s, "base64") does for what
// cookie-session writes: the standard or the URL alphabet, padding
// optional.
func nodeBase64(s string) ([]byte, error) {
	s = strings.TrimRight(s, "=")
	if strings.ContainsAny(s, "-_") {
		return base64.RawURLEncoding.DecodeString(s)
	}
	return base64.RawStdEncoding.DecodeString(s)
}
