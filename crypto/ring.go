// Package crypto seals and signs the values that crumbs puts in cookies, in the
// format of spec/cookie-v1.md: a key ring built from a list of secrets, keys
// derived with HKDF-SHA256 per purpose, an AEAD with a key ID in the
// envelope (XChaCha20-Poly1305 by default, AES-256-GCM with WithCipher),
// optional Zstandard compression under the seal, and issue, absolute and
// idle times enforced on open.
//
// Most applications won't need this package: the cookie and server stores use
// it. It is exported for tools that must read or write crumbs values.
//
// FIPS 140-3: a Ring that only signs and verifies (server mode) uses
// HKDF-SHA256 and HMAC-SHA256, which FIPS 140-only mode
// (GODEBUG=fips140=only) allows. Sealing with AES256GCM (envelope version 2:
// AES-256-GCM under a key derived for each message with HKDF-SHA256) is
// approved too. XChaCha20-Poly1305 (envelope version 1) is not: in that mode
// Seal fails with it, and Open reports a version 1 value as invalid.
package crypto

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/fips140"
	"crypto/hkdf"
	"crypto/hmac"
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
	// Overhead is the number of bytes a sealed envelope of version 1
	// (XChaCha20Poly1305) adds to the data before base64url: version, key
	// ID, nonce, flags, three times and tag.
	Overhead = headerSize + plainHeaderSize + tagSize
	// OverheadAES256GCM is the same for version 2 (AES256GCM): version, key
	// ID, salt, nonce, flags, three times and tag.
	OverheadAES256GCM = headerSizeV2 + plainHeaderSize + tagSize
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

	versionV2    = 2
	saltSize     = 16
	gcmNonceSize = 12
	gcmTagSize   = 16
	saltAt       = 1 + KeyIDSize
	gcmNonceAt   = saltAt + saltSize
	headerSizeV2 = gcmNonceAt + gcmNonceSize // version, key ID, salt, nonce

	flagRaw    = 0
	flagZstd   = 1
	flagPadded = 2 // with either: the body ends with padding (spec §3.1)

	// MaxPadding is the largest bucket WithPadding takes, in bytes.
	MaxPadding = 4096
	// maxPadLen is the most padding bytes a body ends with: a bucket of
	// MaxPadding, less one byte, and the two of the length.
	maxPadLen = MaxPadding + 1

	labelKeyID     = "github.com/crumbs-go/session/v1/key-id"
	labelSeal      = "github.com/crumbs-go/session/v1/cookie"
	labelSign      = "github.com/crumbs-go/session/v1/server-id"
	labelSealV2    = "github.com/crumbs-go/session/v2/cookie"
	labelMessageV2 = "github.com/crumbs-go/session/v2/message"
)

// A Cipher is the AEAD that seals, and with it the envelope version of the
// values a Ring seals. Open reads both versions whatever the Ring's Cipher
// (except in FIPS 140-only mode, which refuses version 1), so a migration
// is: deploy WithCipher(AES256GCM); values sealed before keep opening until
// their deadline, and are re-sealed as version 2 on their next response.
type Cipher uint8

const (
	// XChaCha20Poly1305 seals envelope version 1 (spec/cookie-v1.md §3):
	// XChaCha20-Poly1305 with a random 192-bit nonce. The default. FIPS
	// 140-only mode refuses it.
	XChaCha20Poly1305 Cipher = 1
	// AES256GCM seals envelope version 2 (spec/cookie-v1.md §3.4):
	// AES-256-GCM under a key derived for each message with HKDF-SHA256
	// from a random 128-bit salt, with a random 96-bit nonce, approved under
	// FIPS 140-3. A value is 4 bytes longer than with XChaCha20Poly1305.
	AES256GCM Cipher = 2
)

// String returns the cipher's name as configuration strings spell it:
// "xchacha20-poly1305" or "aes-256-gcm".
func (c Cipher) String() string {
	switch c {
	case XChaCha20Poly1305:
		return "xchacha20-poly1305"
	case AES256GCM:
		return "aes-256-gcm"
	}
	return fmt.Sprintf("Cipher(%d)", uint8(c))
}

// ParseCipher returns the Cipher that String spells s as.
func ParseCipher(s string) (Cipher, error) {
	for _, c := range []Cipher{XChaCha20Poly1305, AES256GCM} {
		if s == c.String() {
			return c, nil
		}
	}
	return 0, fmt.Errorf("crypto: unknown cipher %q: write %q or %q", s, XChaCha20Poly1305, AES256GCM)
}

// b64 is the only text encoding of the format: base64url, no padding,
// canonical. (It still skips CR and LF, which decode rejects beforehand.)
var b64 = base64.RawURLEncoding.Strict()

// A Ring seals, opens, signs and verifies under a list of secrets. The first
// secret seals and signs; every secret opens and verifies. A Ring is immutable
// and safe for concurrent use.
type Ring struct {
	keys      []ringKey
	cipher    Cipher
	maxData   int
	threshold int
	pad       int       // WithPadding's bucket; 0: none
	maxValue  int       // longest value Open decodes, in characters
	rand      io.Reader // nonce source; crypto/rand unless a test sets it
	testRand  bool      // a test set rand: AES-GCM takes its nonce from it too

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
	// macs holds *macState, HMAC-SHA256 keyed with mac, reset before each
	// use: hmac.New costs five allocations and two SHA-256 blocks of key
	// schedule on every Sign and Verify.
	macs *sync.Pool
	// gcm is the version 2 sealing key, from which each message's
	// AES-256-GCM key is derived.
	gcm []byte
}

type config struct {
	maxData   int
	threshold int
	cipher    Cipher
	pad       int
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

// WithCipher sets the AEAD that Seal uses, and with it the envelope version:
// XChaCha20Poly1305 (version 1, the default) or AES256GCM (version 2, for
// FIPS 140-3). Open reads both, whatever the setting, except version 1 in
// FIPS 140-only mode.
func WithCipher(c Cipher) Option {
	return func(cfg *config) error {
		if c != XChaCha20Poly1305 && c != AES256GCM {
			return fmt.Errorf("crypto: WithCipher(%d): use crypto.XChaCha20Poly1305 or crypto.AES256GCM", uint8(c))
		}
		cfg.cipher = c
		return nil
	}
}

// WithPadding pads every sealed body (compressed or not) to a multiple of
// bucket bytes, so that a value's length tells a network observer (and the
// client) the length of the session's data only to within bucket bytes:
// against guessing values from the length of their compressed form, when a
// session holds both a secret and data an attacker chooses. The default is
// 0, no padding; a bucket is 16 to MaxPadding (4096) bytes. A padded value
// is up to bucket+1 bytes longer. Open reads padded values whatever the
// setting (spec/cookie-v1.md §3.1).
func WithPadding(bucket int) Option {
	return func(c *config) error {
		if bucket != 0 && (bucket < 16 || bucket > MaxPadding) {
			return fmt.Errorf("crypto: WithPadding(%d): a bucket is 16 to %d bytes, or 0 for no padding", bucket, MaxPadding)
		}
		c.pad = bucket
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
	c := config{maxData: DefaultMaxDataSize, threshold: DefaultCompressionThreshold, cipher: XChaCha20Poly1305}
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
		cipher:    c.cipher,
		maxData:   c.maxData,
		threshold: c.threshold,
		pad:       c.pad,
		maxValue:  b64.EncodedLen(max(Overhead, OverheadAES256GCM) + c.maxData + maxPadLen),
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
	// The encoder declares a window of at least 1 KiB, 2 KiB from 1 KiB of
	// data: a smaller maximum data size must still let the decoder hold
	// it. The output stays bounded by the declared size, checked first.
	maxData := uint64(r.maxData)
	window := max(maxData, 2*zstd.MinWindowSize)
	r.decoder = sync.OnceValue(func() *zstd.Decoder {
		d, err := zstd.NewReader(nil,
			zstd.WithDecoderMaxMemory(window),
			zstd.WithDecoderMaxWindow(window),
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
	macKey := k.mac
	k.macs = &sync.Pool{New: func() any { return &macState{h: hmac.New(sha256.New, macKey)} }}
	if k.gcm, err = hkdf.Key(sha256.New, secret, nil, labelSealV2, 32); err != nil {
		return k, fmt.Errorf("crypto: derive sealing key (version 2): %w", err)
	}
	return k, nil
}

// messageGCM returns the AES-256-GCM of one version 2 message: its key is
// HKDF-SHA256 of the version 2 sealing key with the message's salt (spec
// §3.4). With randomNonce it draws its own nonce in the Go Cryptographic
// Module (NonceSize 0, the nonce before the ciphertext), as FIPS 140-3
// approves; otherwise the caller gives the nonce: a test reproducing
// vectors, or Open outside FIPS 140-only mode.
func (k *ringKey) messageGCM(salt []byte, randomNonce bool) (cipher.AEAD, error) {
	key, err := hkdf.Key(sha256.New, k.gcm, salt, labelMessageV2, 32)
	if err != nil {
		return nil, fmt.Errorf("crypto: derive message key: %w", err)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("crypto: AES-256: %w", err)
	}
	if randomNonce {
		return cipher.NewGCMWithRandomNonce(block)
	}
	return cipher.NewGCM(block)
}

// fipsOnly reports whether FIPS 140-only mode is enforced, in which
// AES-GCM may only draw its own nonces.
func fipsOnly() bool { return fips140.Enforced() }

// key returns the ring's key with the given ID and its position.
func (r *Ring) key(id []byte) (*ringKey, int) {
	for i := range r.keys {
		if string(r.keys[i].id[:]) == string(id) {
			return &r.keys[i], i
		}
	}
	return nil, -1
}

// Cipher returns the cipher Seal uses.
func (r *Ring) Cipher() Cipher { return r.cipher }

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
