// Package crypto seals and signs the values that crumbs puts in cookies, in the
// format of spec/cookie-v1.md: a key ring built from a list of secrets, keys
// derived with HKDF-SHA256 per purpose, XChaCha20-Poly1305 with a key ID in
// the envelope, optional Zstandard compression under the seal, and issue,
// absolute and idle times enforced on open.
//
// Most applications won't need this package: the cookie and server stores use
// it. It is exported for tools that must read or write crumbs values.
//
// FIPS 140-3: a Ring that only signs and verifies (server mode) uses
// HKDF-SHA256 and HMAC-SHA256, which FIPS 140-only mode
// (GODEBUG=fips140=only) allows; XChaCha20-Poly1305 is built on the first
// Seal or Open, which then fail in that mode.
package crypto

import (
	"bytes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"sync"
	"unsafe"

	"github.com/klauspost/compress/zstd"
	"golang.org/x/crypto/chacha20poly1305"
)

const (
	// MinSecretSize is the shortest secret New accepts, in bytes.
	MinSecretSize = 32
	// KeyIDSize is the length of a key ID in bytes.
	KeyIDSize = 4
	// Overhead is the number of bytes a sealed envelope adds to the data
	// before base64url: version, key ID, nonce, flags, three times and tag.
	Overhead = headerSize + plainHeaderSize + tagSize
	// MaxNameSize is the longest cookie name Seal and Open accept.
	MaxNameSize = 256
	// DefaultMaxDataSize is the default largest data Seal accepts and Open
	// decompresses: 128 KiB.
	DefaultMaxDataSize = 128 << 10
	// DefaultCompressionThreshold is the default size from which Seal tries
	// compression: 512 bytes.
	DefaultCompressionThreshold = 512

	version         = 1
	nonceSize       = chacha20poly1305.NonceSizeX
	tagSize         = chacha20poly1305.Overhead
	headerSize      = 1 + KeyIDSize + nonceSize // version, key ID, nonce
	plainHeaderSize = 1 + 3*8                   // flags, issued, absolute, idle
	maxDataLimit    = 16 << 20

	flagRaw  = 0
	flagZstd = 1

	labelKeyID = "github.com/crumbs-go/session/v1/key-id"
	labelSeal  = "github.com/crumbs-go/session/v1/cookie"
	labelSign  = "github.com/crumbs-go/session/v1/server-id"
)

// b64 is the only text encoding of the format: base64url, no padding,
// canonical. (It still skips CR and LF, which decode rejects beforehand.)
var b64 = base64.RawURLEncoding.Strict()

// A Ring seals, opens, signs and verifies under a list of secrets. The first
// secret seals and signs; every secret opens and verifies. A Ring is immutable
// and safe for concurrent use.
type Ring struct {
	keys      []ringKey
	maxData   int
	threshold int
	maxValue  int       // longest value Open decodes, in characters
	rand      io.Reader // nonce source; crypto/rand unless a test sets it

	encoder func() *zstd.Encoder // built on first use
	decoder func() *zstd.Decoder
}

type ringKey struct {
	id [KeyIDSize]byte
	// aead is built on the first Seal or Open: a Ring that only signs
	// (server mode, header tokens in server mode) never builds
	// ChaCha20-Poly1305, which FIPS 140-only mode (GODEBUG=fips140=only)
	// refuses; HKDF-SHA256 and HMAC-SHA256 are approved.
	aead func() (cipher.AEAD, error)
	mac  []byte
}

type config struct {
	maxData   int
	threshold int
}

// An Option configures a Ring.
type Option func(*config) error

// WithMaxDataSize sets the largest data, in bytes, that Seal accepts and that
// Open decompresses; a compressed value that would expand past it is
// rejected without allocating past it. The default is DefaultMaxDataSize
// (128 KiB); the valid range is 1 byte to 16 MiB. Both sides of a rotation
// should use the same value.
func WithMaxDataSize(n int) Option {
	return func(c *config) error {
		if n < 1 || n > maxDataLimit {
			return fmt.Errorf("crypto: WithMaxDataSize(%d): the limit must be between 1 and %d bytes", n, maxDataLimit)
		}
		c.maxData = n
		return nil
	}
}

// WithCompressionThreshold sets the data size, in bytes, from which Seal tries
// Zstandard compression; the compressed form is kept only when it is
// smaller. The default is DefaultCompressionThreshold (512 bytes); 0 turns
// compression off; a negative value is an error. Open decompresses whatever
// the setting.
func WithCompressionThreshold(n int) Option {
	return func(c *config) error {
		if n < 0 {
			return fmt.Errorf("crypto: WithCompressionThreshold(%d): use 0 to turn compression off, or a positive size in bytes", n)
		}
		c.threshold = n
		return nil
	}
}

// New builds a Ring from secrets. secrets[0] seals and signs; every secret
// opens and verifies, so rotation is: put the new secret first, keep the old
// one after it until every value sealed under it has expired, then drop it.
// Each secret must be at least MinSecretSize (32) random bytes, and no secret
// may appear twice; New reports the position of the first that is not. New
// keeps derived keys, not the secrets.
func New(secrets [][]byte, opts ...Option) (*Ring, error) {
	c := config{maxData: DefaultMaxDataSize, threshold: DefaultCompressionThreshold}
	for _, o := range opts {
		if err := o(&c); err != nil {
			return nil, err
		}
	}
	if len(secrets) == 0 {
		return nil, fmt.Errorf("crypto: no secrets: give at least one secret of %d or more random bytes", MinSecretSize)
	}
	r := &Ring{
		keys:      make([]ringKey, len(secrets)),
		maxData:   c.maxData,
		threshold: c.threshold,
		maxValue:  b64.EncodedLen(Overhead + c.maxData),
		rand:      rand.Reader,
	}
	for i, s := range secrets {
		if len(s) < MinSecretSize {
			return nil, fmt.Errorf("crypto: secret %d is %d bytes long; each secret must be at least %d random bytes", i, len(s), MinSecretSize)
		}
		for j := range i {
			if bytes.Equal(s, secrets[j]) {
				return nil, fmt.Errorf("crypto: secret %d is the same as secret %d; remove the duplicate", i, j)
			}
		}
		k, err := deriveKey(s)
		if err != nil {
			return nil, err
		}
		for j := range i {
			if r.keys[j].id == k.id {
				return nil, fmt.Errorf("crypto: secrets %d and %d derive the same key ID; replace one of them", j, i)
			}
		}
		r.keys[i] = k
	}
	r.encoder = sync.OnceValue(func() *zstd.Encoder {
		e, err := zstd.NewWriter(nil,
			zstd.WithEncoderLevel(zstd.SpeedFastest),
			zstd.WithEncoderCRC(false))
		if err != nil {
			panic("crypto: zstd encoder: " + err.Error()) // fixed options: a bug, not input
		}
		return e
	})
	maxData := uint64(r.maxData)
	r.decoder = sync.OnceValue(func() *zstd.Decoder {
		d, err := zstd.NewReader(nil,
			zstd.WithDecoderMaxMemory(maxData),
			zstd.WithDecoderMaxWindow(max(maxData, zstd.MinWindowSize)),
			zstd.WithDecodeAllCapLimit(true),
			zstd.WithDecoderLowmem(true))
		if err != nil {
			panic("crypto: zstd decoder: " + err.Error())
		}
		return d
	})
	return r, nil
}

func deriveKey(secret []byte) (ringKey, error) {
	var k ringKey
	id, err := hkdf.Key(sha256.New, secret, nil, labelKeyID, KeyIDSize)
	if err != nil {
		return k, fmt.Errorf("crypto: derive key ID: %w", err)
	}
	copy(k.id[:], id)
	sealKey, err := hkdf.Key(sha256.New, secret, nil, labelSeal, chacha20poly1305.KeySize)
	if err != nil {
		return k, fmt.Errorf("crypto: derive sealing key: %w", err)
	}
	k.aead = sync.OnceValues(func() (cipher.AEAD, error) {
		a, err := chacha20poly1305.NewX(sealKey)
		if err != nil {
			return nil, fmt.Errorf("crypto: sealing needs XChaCha20-Poly1305: %w", err)
		}
		return a, nil
	})
	if k.mac, err = hkdf.Key(sha256.New, secret, nil, labelSign, sha256.Size); err != nil {
		return k, fmt.Errorf("crypto: derive signing key: %w", err)
	}
	return k, nil
}

// key returns the ring's key with the given ID and its position.
func (r *Ring) key(id []byte) (*ringKey, int) {
	for i := range r.keys {
		if string(r.keys[i].id[:]) == string(id) {
			return &r.keys[i], i
		}
	}
	return nil, -1
}

// MaxDataSize returns the largest data Seal accepts and Open decompresses.
func (r *Ring) MaxDataSize() int { return r.maxData }

// MaxValueSize returns the longest value, in characters, that Open decodes.
func (r *Ring) MaxValueSize() int { return r.maxValue }

func checkName(name string) error {
	if len(name) == 0 || len(name) > MaxNameSize {
		return fmt.Errorf("crypto: cookie name of %d bytes: it must be 1 to %d bytes", len(name), MaxNameSize)
	}
	return nil
}

// The two unsafe views below save a copy of every value sealed, opened,
// signed or verified. Their rule: a view is only read. bytesOf feeds the
// base64 decoder and the HMAC, which read their input and keep nothing;
// stringOf turns a buffer Seal or Sign allocated for that one call, and
// never writes again, into the string it returns.

// bytesOf views s as bytes without copying; the result must not be written.
func bytesOf(s string) []byte { return unsafe.Slice(unsafe.StringData(s), len(s)) }

// stringOf views b as a string without copying; b must not be written after.
func stringOf(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(&b[0], len(b))
}

const maxTime = math.MaxInt64

func putTimes(dst []byte, issued, absolute, idle uint64) {
	binary.BigEndian.PutUint64(dst[0:], issued)
	binary.BigEndian.PutUint64(dst[8:], absolute)
	binary.BigEndian.PutUint64(dst[16:], idle)
}
