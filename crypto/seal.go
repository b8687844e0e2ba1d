package crypto

import (
	"crypto/cipher"
	"encoding/binary"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/klauspost/compress/zstd"

	"github.com/crumbs-go/session/internal/errs"
	"github.com/crumbs-go/session/internal/timex"
)

// A Payload is what a sealed value carries: the data and its times. Times
// travel in whole seconds; a zero deadline means none.
type Payload struct {
	Data []byte
	// IssuedAt is when the value was sealed.
	IssuedAt time.Time
	// Expires is the absolute deadline: the session ends then, used or not.
	Expires time.Time
	// IdleExpires is the idle deadline: the session ends then unless it is
	// re-sealed with a later one first.
	IdleExpires time.Time
}

// Seal encrypts p for the cookie called name under the primary secret and
// returns the base64url value. Data of at least the compression threshold is
// compressed when that makes it smaller. Seal returns an error wrapping
// ErrTooLarge when p.Data is over the maximum data size, and an error for a
// name outside 1 to MaxNameSize bytes or a time before 1970.
func (r *Ring) Seal(name string, p Payload) (string, error) {
	if err := checkName(name); err != nil {
		return "", err
	}
	if len(p.Data) > r.maxData {
		return "", fmt.Errorf("crypto: data is %d bytes, over the %d-byte maximum (WithMaxDataSize): %w", len(p.Data), r.maxData, errs.ErrTooLarge)
	}
	issued, err := unix(p.IssuedAt)
	if err != nil {
		return "", err
	}
	absolute, err := unix(p.Expires)
	if err != nil {
		return "", err
	}
	idle, err := unix(p.IdleExpires)
	if err != nil {
		return "", err
	}

	// One buffer holds the envelope and, after it, the associated data:
	// version | key ID | nonce (v1) or salt and nonce (v2) | flags | times |
	// body | tag | aad.
	k := &r.keys[0]
	hdr, ver := headerSize, byte(version)
	var aead cipher.AEAD
	if r.cipher == AES256GCM {
		hdr, ver = headerSizeV2, versionV2
	} else if aead, err = k.aead(); err != nil {
		return "", err
	}
	bodyAt := hdr + plainHeaderSize
	aadLen := 1 + KeyIDSize + len(name)
	room := 0
	if r.pad > 0 {
		room = r.pad + 1 // the most padding a body takes
	}
	buf := make([]byte, bodyAt+len(p.Data)+room+tagSize+aadLen)
	buf[0] = ver
	copy(buf[1:], k.id[:])

	flags, bodyLen := byte(flagRaw), len(p.Data)
	if r.threshold > 0 && len(p.Data) >= r.threshold {
		// Compress into the space the raw data would take; the frame is kept
		// only if it fits there with room to spare (smaller than the data).
		room := buf[bodyAt : bodyAt : bodyAt+len(p.Data)]
		c := r.encoder().EncodeAll(p.Data, room)
		if len(c) < len(p.Data) && len(c) > 0 && &c[0] == &buf[bodyAt] && declares(c, len(p.Data)) {
			flags, bodyLen = flagZstd, len(c)
		}
	}
	if flags == flagRaw {
		copy(buf[bodyAt:], p.Data)
	}
	if r.pad > 0 {
		// Zeros, then the padding's length: the body's length becomes a
		// multiple of the bucket.
		n := (bodyLen+2+r.pad-1)/r.pad*r.pad - bodyLen
		clear(buf[bodyAt+bodyLen : bodyAt+bodyLen+n-2])
		binary.BigEndian.PutUint16(buf[bodyAt+bodyLen+n-2:], uint16(n))
		flags, bodyLen = flags|flagPadded, bodyLen+n
	}
	buf[hdr] = flags
	putTimes(buf[hdr+1:], issued, absolute, idle)

	envLen := bodyAt + bodyLen + tagSize
	aad := buf[envLen : envLen+aadLen]
	copy(aad, buf[:1+KeyIDSize])
	copy(aad[1+KeyIDSize:], name)
	plain := buf[hdr : bodyAt+bodyLen]
	// Every dst below is capped at the envelope (three-index slice):
	// cipher.AEAD may overwrite dst up to its capacity, and the AAD lies just
	// after it.
	switch {
	case ver == version:
		nonce := buf[1+KeyIDSize : hdr]
		if _, err := io.ReadFull(r.rand, nonce); err != nil {
			return "", fmt.Errorf("crypto: read nonce: %w", err)
		}
		aead.Seal(buf[hdr:hdr:envLen], nonce, plain, aad)
	case !r.testRand:
		// The approved AES-GCM (FIPS 140-3, whenever the module is in FIPS
		// mode) draws its nonce in the module and writes it before the
		// ciphertext; its plaintext must start where its output does.
		if _, err := io.ReadFull(r.rand, buf[saltAt:gcmNonceAt]); err != nil {
			return "", fmt.Errorf("crypto: read salt: %w", err)
		}
		if aead, err = k.messageGCM(buf[saltAt:gcmNonceAt], true); err != nil {
			return "", err
		}
		moved := buf[gcmNonceAt : gcmNonceAt+len(plain)]
		copy(moved, plain)
		aead.Seal(buf[gcmNonceAt:gcmNonceAt:envLen], nil, moved, aad)
	default:
		// A test's source (SetRandForTest): salt, then nonce, from r.rand,
		// so that vectors can be reproduced.
		if _, err := io.ReadFull(r.rand, buf[saltAt:hdr]); err != nil {
			return "", fmt.Errorf("crypto: read salt and nonce: %w", err)
		}
		if aead, err = k.messageGCM(buf[saltAt:gcmNonceAt], false); err != nil {
			return "", err
		}
		aead.Seal(buf[hdr:hdr:envLen], buf[gcmNonceAt:hdr], plain, aad)
	}

	out := make([]byte, b64.EncodedLen(envLen))
	b64.Encode(out, buf[:envLen])
	return stringOf(out), nil
}

// minValue is the length of the shortest value: the encoding of Overhead
// bytes (version 1; version 2 needs 4 more, checked once decoded).
var minValue = b64.EncodedLen(min(Overhead, OverheadAES256GCM))

// Open decodes, authenticates and decrypts a value sealed for the cookie
// called name, and checks its deadlines against now. Values of both envelope
// versions open, whatever the ring's Cipher (in FIPS 140-only mode, version
// 2 only). stale reports that a secret
// other than the first opened it, or that the value is of the other
// version: re-seal the payload so the value moves to the primary secret
// and the ring's cipher. Every failure caused by the value wraps
// ErrInvalid; errors.Is tells them from nothing else, and the message says
// which check failed, for the operator. Open does not modify value, and the
// Data it returns is its own.
func (r *Ring) Open(name, value string, now time.Time) (p Payload, stale bool, err error) {
	p, stale, _, err = r.open(name, value, now)
	return p, stale, err
}

// open is Open, which also returns the plaintext's flags, for Inspect.
func (r *Ring) open(name, value string, now time.Time) (p Payload, stale bool, flags byte, err error) {
	if err := checkName(name); err != nil {
		return p, false, 0, fmt.Errorf("%w: %w", err, errs.ErrInvalid)
	}
	if len(value) > r.maxValue {
		return p, false, 0, errs.Reason("crypto: value longer than the maximum data size allows")
	}
	if len(value) < minValue {
		return p, false, 0, errs.Reason("crypto: value too short")
	}
	// The decoder skips CR and LF; canonical text has neither.
	if hasLineBreak(value) {
		return p, false, 0, errs.Reason("crypto: value is not canonical base64url")
	}
	decLen := b64.DecodedLen(len(value))
	buf := make([]byte, decLen+1+KeyIDSize+len(name))
	n, err := b64.Decode(buf, bytesOf(value))
	if err != nil || n != decLen {
		return p, false, 0, errs.Reason("crypto: value is not canonical base64url")
	}
	hdr := headerSize
	switch buf[0] {
	case version:
	case versionV2:
		hdr = headerSizeV2
		if n < OverheadAES256GCM {
			return p, false, 0, errs.Reason("crypto: value too short")
		}
	default:
		return p, false, 0, errs.Reason("crypto: unsupported version")
	}
	k, idx := r.key(buf[1 : 1+KeyIDSize])
	if k == nil {
		return p, false, 0, errs.Reason("crypto: unknown key ID (sealed under a secret that is not in the ring)")
	}
	aad := buf[n:]
	copy(aad, buf[:1+KeyIDSize])
	copy(aad[1+KeyIDSize:], name)
	// Every dst is capped at the envelope: see Seal.
	var plain []byte
	switch {
	case hdr == headerSize:
		aead, err := k.aead()
		if err != nil {
			// Only FIPS 140-only mode refuses XChaCha20-Poly1305, after
			// a migration to AES256GCM: the value's version is the fault.
			return p, false, 0, errs.Reason("crypto: version 1 (XChaCha20-Poly1305) cannot be opened in FIPS 140-only mode")
		}
		plain, err = aead.Open(buf[hdr:hdr:n], buf[1+KeyIDSize:hdr], buf[hdr:n], aad)
		if err != nil {
			return p, false, 0, errs.Reason("crypto: message authentication failed")
		}
	default:
		randomNonce := fipsOnly()
		aead, err := k.messageGCM(buf[saltAt:gcmNonceAt], randomNonce)
		if err != nil {
			return p, false, 0, err // not the value's fault
		}
		if randomNonce { // the approved AES-GCM takes the nonce with the ciphertext
			plain, err = aead.Open(buf[gcmNonceAt:gcmNonceAt:n], nil, buf[gcmNonceAt:n], aad)
		} else {
			plain, err = aead.Open(buf[hdr:hdr:n], buf[gcmNonceAt:hdr], buf[hdr:n], aad)
		}
		if err != nil {
			return p, false, 0, errs.Reason("crypto: message authentication failed")
		}
	}
	flags = plain[0]
	issued := binary.BigEndian.Uint64(plain[1:])
	absolute := binary.BigEndian.Uint64(plain[9:])
	idle := binary.BigEndian.Uint64(plain[17:])
	body := plain[plainHeaderSize:]
	if issued > maxTime || absolute > maxTime || idle > maxTime {
		return p, false, 0, errs.Reason("crypto: time out of range")
	}
	sec := now.Unix()
	if absolute != 0 && (sec < 0 || uint64(sec) >= absolute) {
		return p, false, 0, errs.Reason("crypto: expired (absolute deadline)")
	}
	if idle != 0 && (sec < 0 || uint64(sec) >= idle) {
		return p, false, 0, errs.Reason("crypto: expired (idle deadline)")
	}
	if flags&flagPadded != 0 {
		if body, err = unpad(body); err != nil {
			return p, false, 0, err
		}
		flags &^= flagPadded
	}
	switch flags {
	case flagRaw:
		// body already within maxData: the length check above bounds it.
		if len(body) > r.maxData {
			return p, false, 0, errs.Reason("crypto: data over the maximum data size")
		}
		p.Data = body[:len(body):len(body)]
	case flagZstd:
		if p.Data, err = r.decompress(body); err != nil {
			return p, false, 0, err
		}
	default:
		return p, false, 0, errs.Reason("crypto: unknown flags")
	}
	p.IssuedAt, p.Expires, p.IdleExpires = timex.FromUnix(issued), timex.FromUnix(absolute), timex.FromUnix(idle)
	return p, idx != 0 || Cipher(buf[0]) != r.cipher, plain[0], nil
}

// unpad returns a padded body without its padding: zeros, then their
// count with the two bytes of the count itself, 2 to maxPadLen.
func unpad(body []byte) ([]byte, error) {
	if len(body) < 2 {
		return nil, errs.Reason("crypto: malformed padding")
	}
	n := int(binary.BigEndian.Uint16(body[len(body)-2:]))
	if n < 2 || n > maxPadLen || n > len(body) {
		return nil, errs.Reason("crypto: malformed padding")
	}
	for _, b := range body[len(body)-n : len(body)-2] {
		if b != 0 {
			return nil, errs.Reason("crypto: malformed padding")
		}
	}
	// Canonical: what a sealer writes for some bucket B of 16 to
	// MaxPadding, the smallest n that makes the body a multiple of B.
	for b := max(16, n-1); b <= MaxPadding; b++ {
		if len(body)%b == 0 {
			return body[:len(body)-n], nil
		}
	}
	return nil, errs.Reason("crypto: padding no bucket produces")
}

// hasLineBreak reports whether s holds CR or LF, which the base64 decoder
// would skip. Two IndexByte scans are vectorized; ContainsAny is not.
func hasLineBreak(s string) bool {
	return strings.IndexByte(s, '\n') >= 0 || strings.IndexByte(s, '\r') >= 0
}

// unix encodes t for the envelope.
func unix(t time.Time) (uint64, error) {
	s, err := timex.Unix(t)
	if err != nil {
		return 0, fmt.Errorf("crypto: %w", err)
	}
	return s, nil
}

// frameLen returns the length of the Zstandard frame at the start of b,
// whose header is headerSize bytes (RFC 8878 §3.1.1), walking its block
// headers without decoding them; -1 when b ends before the frame does.
func frameLen(b []byte, headerSize int, checksum bool) int {
	n := headerSize
	for {
		if n+3 > len(b) {
			return -1
		}
		h := int(b[n]) | int(b[n+1])<<8 | int(b[n+2])<<16
		last, typ, size := h&1 == 1, (h>>1)&3, h>>3
		n += 3
		switch typ {
		case 0, 2: // raw, compressed: size bytes follow
			n += size
		case 1: // RLE: one byte follows
			n++
		default: // reserved
			return -1
		}
		if n > len(b) {
			return -1
		}
		if last {
			break
		}
	}
	if checksum {
		n += 4
	}
	if n > len(b) {
		return -1
	}
	return n
}

// Compress returns data as one Zstandard frame, the way Seal compresses a
// body, and true, when data is at least the compression threshold, at most
// the maximum data size (so that Decompress takes it back), and the frame
// is smaller; otherwise nil and false. For stores that compress what they
// keep (serverstore).
func (r *Ring) Compress(data []byte) ([]byte, bool) {
	if r.threshold == 0 || len(data) < r.threshold || len(data) > r.maxData {
		return nil, false
	}
	c := r.encoder().EncodeAll(data, make([]byte, 0, len(data)))
	if len(c) == 0 || len(c) >= len(data) || !declares(c, len(data)) {
		return nil, false
	}
	return c, true
}

// declares reports whether frame declares its content size, n, as spec
// §3.2 requires and Open checks: the encoder leaves it out of some frames
// of a few bytes, which then stay raw.
func declares(frame []byte, n int) bool {
	var h zstd.Header
	return h.Decode(frame) == nil && h.HasFCS && h.FrameContentSize == uint64(n)
}

// Decompress inflates one Zstandard frame, bounded as Open bounds a sealed
// value's: the frame must declare its content size, at most the ring's
// maximum data size, and nothing may follow it. Every failure wraps
// ErrInvalid. For stores that compress what they keep (serverstore).
func (r *Ring) Decompress(frame []byte) ([]byte, error) { return r.decompress(frame) }

// decompress inflates one Zstandard frame that must declare a content size
// within the maximum: the output is allocated once, at that size, and the
// decoder may not write past it.
func (r *Ring) decompress(frame []byte) ([]byte, error) {
	var h zstd.Header
	if err := h.Decode(frame); err != nil || h.Skippable {
		return nil, errs.Reason("crypto: malformed compressed data")
	}
	if !h.HasFCS {
		return nil, errs.Reason("crypto: compressed data does not declare its size")
	}
	if h.FrameContentSize > uint64(r.maxData) {
		return nil, errs.Reason("crypto: compressed data declares a size over the maximum data size")
	}
	if h.FrameContentSize == 0 {
		return nil, errs.Reason("crypto: compressed data is empty")
	}
	if frameLen(frame, h.HeaderSize, h.HasCheckSum) != len(frame) {
		// DecodeAll would go on into further (empty or skippable) frames.
		return nil, errs.Reason("crypto: the compressed data is not exactly one frame")
	}
	out, err := r.decoder().DecodeAll(frame, make([]byte, 0, h.FrameContentSize))
	if err != nil {
		return nil, errs.Reason("crypto: compressed data does not decompress within its declared size")
	}
	if uint64(len(out)) != h.FrameContentSize {
		return nil, errs.Reason("crypto: compressed data does not match its declared size")
	}
	return out, nil
}
