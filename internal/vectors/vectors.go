// Package vectors reads the test vectors of spec/cookie-v1.md §9 and opens
// them through the library: chunking.Join, then crypto.Open. Tests of several
// packages and the fuzz targets' seed corpora share it.
package vectors

import (
	"bufio"
	"encoding/hex"
	"fmt"
	"iter"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/crumbs-go/session/chunking"
	"github.com/crumbs-go/session/crypto"
)

// A Vector is one file of testdata/vectors.
type Vector struct {
	File   string            // base name
	Header map[string]string // the key: value lines
	Cookie string            // the raw Cookie request header (the first body line)
	Lines  []string          // every body line: the request header lines of a header-token vector
}

// Dir returns the absolute path of testdata/vectors.
func Dir() string { return dirOf("vectors") }

func dirOf(name string) string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "testdata", name)
}

// Load reads every cookie vector, sorted by file name.
func Load() ([]Vector, error) { return loadDir(Dir()) }

// MustLoadHeader reads the vectors of spec/header-token-v1.md, failing tb
// when there are none.
func MustLoadHeader(tb testing.TB) []Vector {
	tb.Helper()
	vs, err := loadDir(dirOf("header-vectors"))
	if err != nil {
		tb.Fatal(err)
	}
	if len(vs) == 0 {
		tb.Fatal("no header-token test vectors")
	}
	return vs
}

// MustLoadServerID reads the vectors of spec/server-id-v1.md, failing tb
// when there are none.
func MustLoadServerID(tb testing.TB) []Vector {
	tb.Helper()
	vs, err := loadDir(dirOf("server-id-vectors"))
	if err != nil {
		tb.Fatal(err)
	}
	if len(vs) == 0 {
		tb.Fatal("no server-id test vectors")
	}
	return vs
}

func loadDir(dir string) ([]Vector, error) {
	paths, err := filepath.Glob(filepath.Join(dir, "*"))
	if err != nil {
		return nil, err
	}
	sort.Strings(paths)
	var out []Vector
	for _, p := range paths {
		v, err := parse(p)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, nil
}

// MustLoad is Load for tests and fuzz targets: it fails tb when there is no
// vector at all, so a moved folder cannot silently seed nothing.
func MustLoad(tb testing.TB) []Vector {
	tb.Helper()
	vs, err := Load()
	if err != nil {
		tb.Fatal(err)
	}
	if len(vs) == 0 {
		tb.Fatalf("no test vectors in %s", Dir())
	}
	return vs
}

func parse(path string) (Vector, error) {
	f, err := os.Open(path)
	if err != nil {
		return Vector{}, err
	}
	defer f.Close()
	v := Vector{File: filepath.Base(path), Header: map[string]string{}}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	inHeader := true
	for sc.Scan() {
		line := sc.Text()
		if inHeader {
			if line == "" {
				inHeader = false
				continue
			}
			k, val, ok := strings.Cut(line, ": ")
			if !ok {
				return v, fmt.Errorf("%s: header line %q", path, line)
			}
			v.Header[k] = val
			continue
		}
		if v.Lines == nil {
			v.Cookie = line
		}
		v.Lines = append(v.Lines, line)
	}
	if err := sc.Err(); err != nil {
		return v, fmt.Errorf("%s: %w", path, err)
	}
	if inHeader || v.Header["expect"] == "" {
		return v, fmt.Errorf("%s: no expect header or no cookie line", path)
	}
	return v, nil
}

// Int returns a numeric header.
func (v Vector) Int(key string) int64 {
	n, err := strconv.ParseInt(v.Header[key], 10, 64)
	if err != nil {
		panic(fmt.Sprintf("vector %s: %s: %v", v.File, key, err))
	}
	return n
}

// Now is the receiver's clock.
func (v Vector) Now() time.Time { return time.Unix(v.Int("now"), 0) }

// Ring builds the receiver's key ring.
func (v Vector) Ring() (*crypto.Ring, error) {
	var secrets [][]byte
	for _, h := range strings.Split(v.Header["secrets"], ",") {
		s, err := hex.DecodeString(h)
		if err != nil {
			return nil, err
		}
		secrets = append(secrets, s)
	}
	// A receiver that seals what the vector holds: its rotated says only
	// that a non-primary secret opened it (the other version would be
	// re-sealed too).
	cipher := crypto.XChaCha20Poly1305
	if strings.HasPrefix(v.File, "v2_") {
		cipher = crypto.AES256GCM
	}
	opts := []crypto.Option{crypto.WithCipher(cipher), crypto.WithMaxDataSize(int(v.Int("max-data")))}
	if _, ok := v.Header["padding"]; ok {
		opts = append(opts, crypto.WithPadding(int(v.Int("padding"))))
	}
	return crypto.New(secrets, opts...)
}

// Codec builds the receiver's chunk codec.
func (v Vector) Codec() (*chunking.Codec, error) {
	return chunking.New(v.Header["name"], chunking.WithMaxChunks(int(v.Int("max-chunks"))))
}

// Pairs returns the cookies of the vector's Cookie header.
func (v Vector) Pairs() iter.Seq2[string, string] { return Pairs(v.Cookie) }

// Pairs splits a raw Cookie header into name and value pairs, the way a
// server's cookie parser does, keeping whatever bytes the pairs hold so that
// the library's own checks are what accept or reject them.
func Pairs(header string) iter.Seq2[string, string] {
	return func(yield func(string, string) bool) {
		for part := range strings.SplitSeq(header, ";") {
			part = strings.TrimLeft(part, " ")
			name, value, ok := strings.Cut(part, "=")
			if !ok {
				continue
			}
			if !yield(name, value) {
				return
			}
		}
	}
}

// Open joins and opens the session the vector's receiver would see.
func (v Vector) Open() (crypto.Payload, bool, error) {
	return v.OpenHeader(v.Cookie)
}

// OpenHeader opens another Cookie header with the vector's receiver.
func (v Vector) OpenHeader(header string) (crypto.Payload, bool, error) {
	r, err := v.Receiver()
	if err != nil {
		return crypto.Payload{}, false, err
	}
	return r.Open(header)
}

// A Receiver is the server a vector describes: its ring, codec and clock.
type Receiver struct {
	Ring  *crypto.Ring
	Codec *chunking.Codec
	Now   time.Time
}

// Receiver builds the vector's receiver, to open many headers with it.
func (v Vector) Receiver() (*Receiver, error) {
	ring, err := v.Ring()
	if err != nil {
		return nil, err
	}
	codec, err := v.Codec()
	if err != nil {
		return nil, err
	}
	return &Receiver{Ring: ring, Codec: codec, Now: v.Now()}, nil
}

// Open joins and opens a Cookie header.
func (r *Receiver) Open(header string) (crypto.Payload, bool, error) {
	value, err := r.Codec.Join(Pairs(header))
	if err != nil {
		return crypto.Payload{}, false, err
	}
	return r.Ring.Open(r.Codec.Name(), value, r.Now)
}

// Joined returns the vector's reassembled value, or "" when it does not join.
func (v Vector) Joined() string {
	codec, err := v.Codec()
	if err != nil {
		return ""
	}
	value, _ := codec.Join(v.Pairs())
	return value
}
