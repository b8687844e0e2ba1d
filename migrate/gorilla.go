package migrate

import (
	"bytes"
	"fmt"
	"hash"
	"net/http"
	"reflect"

	"github.com/gorilla/securecookie"

	"github.com/crumbs-go/session/driver"
)

// Gorilla describes an application's gorilla/sessions CookieStore: what
// FromGorilla needs to read the cookies it wrote. Its server-side stores
// (FilesystemStore and the third-party ones) are not read.
type Gorilla struct {
	// Name is the session name the application passes to store.Get,
	// which is the cookie's name. Required. It may be the crumbs cookie's
	// own name: the crumbs format is tried first.
	Name string
	// KeyPairs are the keys given to sessions.NewCookieStore, in the same
	// order: a hash key, then its block key (nil for none), for each pair;
	// the first pair is the current one. Required. They are the
	// application's existing keys, so their length is not checked beyond
	// what securecookie needs (a hash key, a block key of 16, 24 or 32
	// bytes), but an empty or blank hash key is refused: anyone could sign
	// with it. They are never used for crumbs' own cookies.
	KeyPairs [][]byte
	// Path and Domain are the store's Options.Path ("/" when empty, as in
	// gorilla) and Options.Domain: the old cookie is expired with them.
	Path, Domain string
	// MaxAge is the store's Options.MaxAge in seconds: a cookie whose
	// signed timestamp is older is rejected, as gorilla rejects it. 0 means
	// gorilla's default, 30 days; -1 means no limit.
	MaxAge int
	// Serializer is the securecookie serializer the store's codecs use:
	// nil for gob, gorilla's default (the application's gob.Register calls
	// must run, as they do for gorilla); securecookie.JSONEncoder{} for
	// values written as a JSON object, read as map[string]any.
	Serializer securecookie.Serializer
	// HashFunc is the codecs' hash (SecureCookie.HashFunc): nil for
	// SHA-256, gorilla's default.
	HashFunc func() hash.Hash
	// Key converts a key that is not a string, returning false to drop
	// it. nil keeps a key whose type is a string type (type key string) as
	// that string, and drops the others (ints, structs). A dropped key is
	// named in the log, and the session is imported without it.
	Key func(key any) (string, bool)
}

type gorillaImporter struct {
	g      Gorilla
	codecs []securecookie.Codec
	json   bool
}

// FromGorilla returns an Importer of the cookies of g's CookieStore, for
// session.WithImport. Each cookie is opened by securecookie.DecodeMulti
// with g's key pairs, as gorilla opens it. Its values become the crumbs
// session's values, re-encoded by the Manager's Codec (JSON by default: a
// struct becomes an object that session.Get reads back into the struct; a
// value JSON cannot encode, such as a map with non-string keys, is dropped
// and named in the log). gorilla's flash messages (key "_flash") become
// crumbs' flashes when they are strings.
func FromGorilla(g Gorilla) (driver.Importer, error) {
	if g.Path == "" {
		g.Path = "/"
	}
	if err := checkName("gorilla/sessions", g.Name, g.Path, g.Domain); err != nil {
		return nil, err
	}
	if len(g.KeyPairs) == 0 {
		return nil, fmt.Errorf("migrate: FromGorilla: give the key pairs passed to sessions.NewCookieStore")
	}
	switch {
	case g.MaxAge == 0:
		g.MaxAge = 86400 * 30
	case g.MaxAge == -1:
		g.MaxAge = 0 // securecookie: no limit
	case g.MaxAge < 0:
		return nil, fmt.Errorf("migrate: FromGorilla: MaxAge %d: give the store's MaxAge in seconds, 0 for gorilla's default or -1 for none", g.MaxAge)
	}
	for i := 0; i < len(g.KeyPairs); i += 2 {
		if len(bytes.TrimSpace(g.KeyPairs[i])) == 0 {
			return nil, fmt.Errorf("migrate: FromGorilla: key pair %d: the hash key is empty or blank; anyone could sign a session with it", i/2+1)
		}
	}
	im := &gorillaImporter{g: g, codecs: securecookie.CodecsFromPairs(g.KeyPairs...)}
	_, im.json = g.Serializer.(securecookie.JSONEncoder)
	for i, c := range im.codecs {
		sc := c.(*securecookie.SecureCookie)
		sc.MaxAge(g.MaxAge)
		if g.Serializer != nil {
			sc.SetSerializer(g.Serializer)
		}
		if g.HashFunc != nil {
			sc.HashFunc(g.HashFunc)
		}
		var probe any = map[any]any{}
		if im.json {
			probe = map[string]any{}
		}
		if _, err := sc.Encode(g.Name, probe); err != nil {
			return nil, fmt.Errorf("migrate: FromGorilla: key pair %d: %w", i+1, err)
		}
	}
	return im, nil
}

func (*gorillaImporter) Name() string { return "gorilla/sessions" }

func (im *gorillaImporter) Cookies() []*http.Cookie {
	return []*http.Cookie{{Name: im.g.Name, Path: im.g.Path, Domain: im.g.Domain}}
}

func (im *gorillaImporter) Import(r *http.Request) (*driver.Imported, error) {
	v, err := cookieValue(r, "gorilla/sessions", im.g.Name)
	if err != nil {
		return nil, err
	}
	out := &driver.Imported{Values: map[string]any{}}
	if im.json {
		var vals map[string]any
		if err := securecookie.DecodeMulti(im.g.Name, v, &vals, im.codecs...); err != nil {
			return nil, fmt.Errorf("migrate: gorilla/sessions cookie %q: %v: %w", im.g.Name, err, driver.ErrInvalid)
		}
		for k, x := range vals {
			out.Values[k] = x
		}
		return out, nil
	}
	var vals map[any]any
	if err := securecookie.DecodeMulti(im.g.Name, v, &vals, im.codecs...); err != nil {
		return nil, fmt.Errorf("migrate: gorilla/sessions cookie %q: %v: %w", im.g.Name, err, driver.ErrInvalid)
	}
	for k, x := range vals {
		key, ok := im.key(k)
		if !ok {
			out.Dropped = append(out.Dropped, fmt.Sprintf("key %v (%T): not a string", k, k))
			continue
		}
		if _, dup := out.Values[key]; dup {
			out.Dropped = append(out.Dropped, fmt.Sprintf("key %v (%T): another key converted to %q", k, k, key))
			continue
		}
		out.Values[key] = x
	}
	return out, nil
}

// key converts a gorilla key to a crumbs key.
func (im *gorillaImporter) key(k any) (string, bool) {
	if s, ok := k.(string); ok {
		return s, true
	}
	if im.g.Key != nil {
		return im.g.Key(k)
	}
	if rv := reflect.ValueOf(k); rv.IsValid() && rv.Kind() == reflect.String {
		return rv.String(), true
	}
	return "", false
}
