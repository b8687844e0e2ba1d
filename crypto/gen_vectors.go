//go:build ignore

// gen_vectors writes testdata/vectors/ for spec/cookie-v1.md. It implements
// the format from the primitives (HKDF, XChaCha20-Poly1305, Zstandard,
// base64url) without the library, so the vectors check the library against
// the spec rather than against itself. Secrets, nonces and clock are fixed:
// running it twice writes the same bytes. Released vectors are never edited,
// only added: it refuses to overwrite a file whose content would change.
//
// Run: go generate ./crypto   (or: cd crypto && go run gen_vectors.go)
package main

import (
	"bytes"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/klauspost/compress/zstd"
	"golang.org/x/crypto/chacha20poly1305"

	"github.com/crumbs-go/session/internal/fixtures"
)

const (
	now      = 1764201600 // 2025-11-27T00:00:00Z
	issued   = now - 60
	absolute = issued + 7*86400
	idle     = now + 1800
	dir      = "../testdata/vectors"
)

var (
	secretA = secret("A") // primary
	secretB = secret("B") // older, still in the ring
	secretC = secret("C") // never in the receiver's ring
	b64     = base64.RawURLEncoding
)

func secret(label string) []byte {
	s := sha256.Sum256([]byte("crumbs test vector secret " + label))
	return s[:]
}

func derive(s []byte, info string, n int) []byte {
	k, err := hkdf.Key(sha256.New, s, nil, "github.com/crumbs-go/session/v1/"+info, n)
	if err != nil {
		log.Fatal(err)
	}
	return k
}

// seal is the envelope of spec §3, with every field under the caller's control.
type seal struct {
	secret                 []byte
	version                byte
	nonceLabel             string
	name                   string
	flags                  byte
	issued, absolute, idle uint64
	body                   []byte
	aadVersion             byte // the version bound in the AAD; 0 = same as version
	trailing               []byte
}

func (s seal) bytes() []byte {
	if s.version == 0 {
		s.version = 1
	}
	keyID := derive(s.secret, "key-id", 4)
	nonce := sha256.Sum256([]byte("nonce " + s.nonceLabel))
	aead, err := chacha20poly1305.NewX(derive(s.secret, "cookie", 32))
	if err != nil {
		log.Fatal(err)
	}
	plain := []byte{s.flags}
	plain = binary.BigEndian.AppendUint64(plain, s.issued)
	plain = binary.BigEndian.AppendUint64(plain, s.absolute)
	plain = binary.BigEndian.AppendUint64(plain, s.idle)
	plain = append(plain, s.body...)
	aadVersion := s.version
	if s.aadVersion != 0 {
		aadVersion = s.aadVersion
	}
	aad := append(append([]byte{aadVersion}, keyID...), s.name...)
	env := append(append([]byte{s.version}, keyID...), nonce[:24]...)
	env = aead.Seal(env, nonce[:24], plain, aad)
	return append(env, s.trailing...)
}

func (s seal) value() string { return b64.EncodeToString(s.bytes()) }

// split is spec §6.2: one cookie if it fits, else greedy chunks.
func split(name, value string, budget int) [][2]string {
	if len(name)+len(value) <= budget {
		return [][2]string{{name, value}}
	}
	for n := 2; ; n++ {
		prefix := strconv.Itoa(n) + "."
		var out [][2]string
		rest := value
		for i := 0; i < n && rest != ""; i++ {
			cname, p := name, ""
			if i == 0 {
				p = prefix
			} else {
				cname = name + "." + strconv.Itoa(i)
			}
			room := min(budget-len(cname)-len(p), len(rest))
			out = append(out, [2]string{cname, p + rest[:room]})
			rest = rest[room:]
		}
		if rest == "" && len(out) == n {
			return out
		}
	}
}

func header(pairs [][2]string) string {
	var parts []string
	for _, p := range pairs {
		parts = append(parts, p[0]+"="+p[1])
	}
	return strings.Join(parts, "; ")
}

// sizeLie is a frame of 100000 zero bytes whose header declares 70000.
func sizeLie() []byte {
	lie := zstdFrame(make([]byte, 100000))
	var h zstd.Header
	if err := h.Decode(lie); err != nil || !h.HasFCS {
		log.Fatalf("bomb frame: %v %+v", err, h)
	}
	// The frame content size sits after the magic (4) and descriptor (1),
	// and a window descriptor byte when not single-segment.
	at := 5
	if !h.SingleSegment {
		at = 6
	}
	if binary.LittleEndian.Uint32(lie[at:]) != 100000 {
		log.Fatalf("unexpected frame header %x", lie[:12])
	}
	binary.LittleEndian.PutUint32(lie[at:], 70000) // still a 4-byte field
	return lie
}

func zstdFrame(data []byte) []byte {
	e, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedFastest), zstd.WithEncoderCRC(false))
	if err != nil {
		log.Fatal(err)
	}
	return e.EncodeAll(data, nil)
}

// compressed is zstdFrame for valid vectors, which a sealer produces only
// when the frame is smaller than the data (spec §3.2).
func compressed(data []byte) []byte {
	f := zstdFrame(data)
	if len(f) >= len(data) {
		log.Fatalf("a frame of %d bytes does not shrink %d bytes of data", len(f), len(data))
	}
	return f
}

// wordsJSON is JSON of about n bytes that compresses to about a third.
func wordsJSON(n int) []byte {
	words := strings.Fields("alpha bravo charlie delta echo foxtrot golf hotel india juliet kilo lima mike november oscar papa quebec romeo sierra tango uniform victor whiskey xray yankee zulu")
	var b strings.Builder
	b.WriteString(`{"notes":[`)
	for i := 0; b.Len() < n; i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		h := sha256.Sum256([]byte(strconv.Itoa(i)))
		fmt.Fprintf(&b, `"%s %s %s %d"`, words[h[0]%26], words[h[1]%26], words[h[2]%26], binary.BigEndian.Uint16(h[3:]))
	}
	b.WriteString(`]}`)
	return []byte(b.String())
}

type vector struct {
	file    string
	expect  string
	name    string
	secrets [][]byte
	maxCh   int
	maxData int
	now     uint64
	data    []byte
	times   [3]uint64
	rotated bool
	comment string
	cookie  string
	sid     string // server-id vectors: the ID
	header  string // header-token vectors: the request header
	padding int    // the sealer's padding bucket (spec §3.1), for re-sealing; 0: none
}

func (v vector) text() []byte {
	var b bytes.Buffer
	if v.name == "" {
		v.name = "s"
	}
	if v.secrets == nil {
		v.secrets = [][]byte{secretA, secretB}
	}
	if v.maxCh == 0 {
		v.maxCh = 2
	}
	if v.maxData == 0 {
		v.maxData = 131072
	}
	if v.now == 0 {
		v.now = now
	}
	var hs []string
	for _, s := range v.secrets {
		hs = append(hs, hex.EncodeToString(s))
	}
	fmt.Fprintf(&b, "expect: %s\n", v.expect)
	fmt.Fprintf(&b, "comment: %s\n", v.comment)
	fmt.Fprintf(&b, "name: %s\n", v.name)
	fmt.Fprintf(&b, "secrets: %s\n", strings.Join(hs, ","))
	fmt.Fprintf(&b, "now: %d\n", v.now)
	fmt.Fprintf(&b, "max-chunks: %d\n", v.maxCh)
	fmt.Fprintf(&b, "max-data: %d\n", v.maxData)
	if v.padding != 0 {
		fmt.Fprintf(&b, "padding: %d\n", v.padding)
	}
	if v.header != "" {
		fmt.Fprintf(&b, "header: %s\n", v.header)
	}
	if v.sid != "" {
		if v.expect == "ok" {
			fmt.Fprintf(&b, "id: %s\nrotated: %t\n", v.sid, v.rotated)
		}
	} else if v.expect == "ok" {
		fmt.Fprintf(&b, "data: %s\n", v.data)
		fmt.Fprintf(&b, "issued: %d\nabsolute: %d\nidle: %d\n", v.times[0], v.times[1], v.times[2])
		fmt.Fprintf(&b, "rotated: %t\n", v.rotated)
	}
	fmt.Fprintf(&b, "\n%s\n", v.cookie)
	return b.Bytes()
}

// bigJSON is poorly compressible JSON of about n bytes, for multi-chunk vectors.
func bigJSON(n int) []byte {
	var b strings.Builder
	b.WriteString(`{"blob":[`)
	for i := 0; b.Len() < n; i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		h := sha256.Sum256([]byte(strconv.Itoa(i)))
		fmt.Fprintf(&b, `"%x"`, h[:12])
	}
	b.WriteString(`]}`)
	return []byte(b.String())
}

func main() {
	var vs []vector
	std := func(name string, body []byte, flags byte, nonce string) seal {
		return seal{secret: secretA, nonceLabel: nonce, name: name, flags: flags,
			issued: issued, absolute: absolute, idle: idle, body: body}
	}
	times := [3]uint64{issued, absolute, idle}
	small := fixtures.Small
	okSingle := std("s", small, 0, "single").value()

	// --- valid ---
	vs = append(vs, vector{file: "ok_single_raw", expect: "ok", data: small, times: times,
		comment: "one cookie, uncompressed, sealed under the primary secret", cookie: "s=" + okSingle})
	typ := fixtures.Typical
	vs = append(vs, vector{file: "ok_single_compressed", expect: "ok", data: typ, times: times,
		comment: "one cookie, zstd-compressed (flags 1)", cookie: header(split("s", std("s", compressed(typ), 1, "compressed").value(), 4000))})
	big := bigJSON(5000)
	twoRaw := split("s", std("s", big, 0, "two").value(), 4000)
	vs = append(vs, vector{file: "ok_chunks_2_raw", expect: "ok", data: big, times: times,
		comment: "two chunks, uncompressed", cookie: header(twoRaw)})
	huge := wordsJSON(26000)
	three := split("s", std("s", compressed(huge), 1, "three").value(), 4000)
	if len(three) != 3 {
		log.Fatalf("three chunks expected, got %d", len(three))
	}
	vs = append(vs, vector{file: "ok_chunks_3_compressed", expect: "ok", data: huge, times: times, maxCh: 4,
		comment: "three chunks of a compressed value", cookie: header(three)})
	vs = append(vs, vector{file: "ok_chunks_header_order", expect: "ok", data: huge, times: times, maxCh: 4,
		comment: "three chunks listed in the Cookie header in reverse order: order of cookies carries no meaning",
		cookie:  header([][2]string{three[2], three[1], three[0]})})
	vs = append(vs, vector{file: "ok_other_cookies", expect: "ok", data: small, times: times,
		comment: "unrelated cookies around the session, including names that only resemble chunk names",
		cookie:  "theme=dark; s.x=1; sx=2; s=" + okSingle + "; s.=3; s.1a=4"})
	rot := seal{secret: secretB, nonceLabel: "rotated", name: "s", issued: issued, absolute: absolute, idle: idle, body: small}
	vs = append(vs, vector{file: "ok_older_secret", expect: "ok", data: small, times: times, rotated: true,
		comment: "sealed under the second secret of the ring: opens, and reports rotation", cookie: "s=" + rot.value()})
	nodl := seal{secret: secretA, nonceLabel: "nodeadline", name: "s", issued: issued, body: small}
	vs = append(vs, vector{file: "ok_no_deadlines", expect: "ok", data: small, times: [3]uint64{issued, 0, 0},
		comment: "absolute and idle deadlines 0: none", cookie: "s=" + nodl.value()})
	host := split("__Host-s", std("__Host-s", big, 0, "host").value(), 4000)
	vs = append(vs, vector{file: "ok_host_prefix_chunks", expect: "ok", name: "__Host-s", data: big, times: times,
		comment: "the __Host- prefix is part of every chunk name", cookie: header(host)})

	// --- tampered envelope: one byte in each region, re-encoded canonically ---
	env := std("s", small, 0, "tamper").bytes()
	region := func(file, comment string, at int) {
		b := bytes.Clone(env)
		b[at] ^= 0x01
		vs = append(vs, vector{file: file, expect: "invalid", comment: comment, cookie: "s=" + b64.EncodeToString(b)})
	}
	region("tamper_version", "version byte changed from 1 to 0", 0)
	region("tamper_key_id", "one bit of the key ID flipped: names no key of the ring", 2)
	region("tamper_nonce", "one bit of the nonce flipped", 10)
	region("tamper_flags", "one bit of the encrypted flags byte flipped", 29)
	region("tamper_times", "one bit of the encrypted issue time flipped", 33)
	region("tamper_body", "one bit of the encrypted data flipped", 80)
	region("tamper_tag", "one bit of the authentication tag flipped", len(env)-1)

	vs = append(vs, vector{file: "wrong_name", expect: "invalid", name: "t",
		comment: "a value sealed for cookie s presented as cookie t: the name is in the associated data", cookie: "t=" + okSingle})
	vs = append(vs, vector{file: "expired_absolute", expect: "invalid", now: absolute,
		comment: "now equals the absolute deadline", cookie: "s=" + okSingle})
	vs = append(vs, vector{file: "expired_idle", expect: "invalid", now: idle,
		comment: "now equals the idle deadline, before the absolute one", cookie: "s=" + okSingle})
	unk := seal{secret: secretC, nonceLabel: "unknown", name: "s", issued: issued, absolute: absolute, idle: idle, body: small}
	vs = append(vs, vector{file: "key_unknown", expect: "invalid",
		comment: "sealed under a secret that was never in the ring", cookie: "s=" + unk.value()})
	vs = append(vs, vector{file: "key_retired", expect: "invalid", secrets: [][]byte{secretA},
		comment: "sealed under the older secret after it left the ring", cookie: "s=" + rot.value()})
	vs = append(vs, vector{file: "truncated", expect: "invalid",
		comment: "the last 4 characters (3 bytes of tag) removed", cookie: "s=" + okSingle[:len(okSingle)-4]})
	vs = append(vs, vector{file: "truncated_short", expect: "invalid",
		comment: "shorter than the fixed overhead", cookie: "s=" + okSingle[:60]})
	v2 := std("s", small, 0, "v2")
	v2.version = 2
	vs = append(vs, vector{file: "version_2", expect: "invalid",
		comment: "a well-formed envelope of version 2 (AEAD valid over its own AAD): unknown version", cookie: "s=" + v2.value()})
	tr := std("s", small, 0, "trailing")
	tr.trailing = []byte{0, 0, 0}
	vs = append(vs, vector{file: "trailing_bytes", expect: "invalid",
		comment: "three bytes appended after the tag", cookie: "s=" + tr.value()})
	fl := std("s", small, 2, "flags2")
	vs = append(vs, vector{file: "flags_unknown", expect: "invalid",
		comment: "sealed correctly with flags 2, which version 1 does not define", cookie: "s=" + fl.value()})
	tmax := std("s", small, 0, "time")
	tmax.issued = 1 << 63
	vs = append(vs, vector{file: "time_out_of_range", expect: "invalid",
		comment: "issue time 2^63, sealed correctly", cookie: "s=" + tmax.value()})
	ztr := std("s", append(zstdFrame(typ), "junk"...), 1, "ztrailing")
	vs = append(vs, vector{file: "compress_trailing_bytes", expect: "invalid",
		comment: "bytes after the zstd frame inside the sealed plaintext", cookie: "s=" + ztr.value()})

	// Decompression bombs: authentic (sealed under the primary), so only the
	// bound stops them.
	empty := zstdFrame(nil)
	zempty := std("s", append(zstdFrame(typ), empty...), 1, "ztrailing-empty")
	vs = append(vs, vector{file: "compress_trailing_empty_frame", expect: "invalid",
		comment: "an empty zstd frame after the compressed frame (the body is exactly one frame)", cookie: "s=" + zempty.value()})
	skip := []byte{0x50, 0x2a, 0x4d, 0x18, 3, 0, 0, 0, 'a', 'b', 'c'}
	zskip := std("s", append(zstdFrame(typ), skip...), 1, "ztrailing-skippable")
	vs = append(vs, vector{file: "compress_trailing_skippable_frame", expect: "invalid",
		comment: "a skippable zstd frame after the compressed frame", cookie: "s=" + zskip.value()})
	bomb := std("s", zstdFrame(make([]byte, 1<<20)), 1, "bomb")
	vs = append(vs, vector{file: "compress_bomb", expect: "invalid",
		comment: "1 MiB of zeros compressed to a few dozen bytes; max-data is 128 KiB", cookie: "s=" + bomb.value()})
	lie := sizeLie()
	liar := std("s", lie, 1, "liar")
	vs = append(vs, vector{file: "compress_size_lie", expect: "invalid",
		comment: "a frame that declares 70000 bytes of content but holds 100000", cookie: "s=" + liar.value()})

	// --- base64 ---
	// A value of 284 bytes: its encoding has unused bits and would take one pad.
	uneven := std("s", small[:len(small)-1], 0, "uneven").value()
	pad := uneven
	for len(pad)%4 != 0 {
		pad += "="
	}
	if pad == uneven {
		log.Fatal("padded vector needs a value whose length is not a multiple of 4")
	}
	vs = append(vs, vector{file: "b64_padded", expect: "invalid",
		comment: "the canonical value with = padding added", cookie: "s=" + pad})
	vs = append(vs, vector{file: "b64_noncanonical_bits", expect: "invalid",
		comment: "the last character changed so that its unused low bits are not zero", cookie: "s=" + nonCanonicalLast(uneven)})
	i := strings.IndexAny(okSingle, "-_")
	if i < 0 {
		log.Fatal("standard-alphabet vector needs a - or _ in the value")
	}
	stdAlpha := okSingle[:i] + map[byte]string{'-': "+", '_': "/"}[okSingle[i]] + okSingle[i+1:]
	vs = append(vs, vector{file: "b64_standard_alphabet", expect: "invalid",
		comment: "a - or _ replaced by the standard alphabet's + or /", cookie: "s=" + stdAlpha})
	vs = append(vs, vector{file: "b64_bad_char", expect: "invalid",
		comment: "a character outside base64url in the middle", cookie: "s=" + okSingle[:40] + "!" + okSingle[41:]})
	vs = append(vs, vector{file: "empty_value", expect: "invalid", comment: "the session cookie is present and empty", cookie: "s="})
	vs = append(vs, vector{file: "none", expect: "none", comment: "no session cookie: no session, not an invalid one", cookie: "theme=dark; s.x=1"})

	// --- chunks ---
	ch := func(file, comment string, maxCh int, pairs [][2]string) {
		vs = append(vs, vector{file: file, expect: "invalid", maxCh: maxCh, comment: comment, cookie: header(pairs)})
	}
	ch("chunk_missing_middle", "chunk 1 of 3 absent", 4, [][2]string{three[0], three[2]})
	ch("chunk_missing_last", "chunk 2 of 3 absent", 4, [][2]string{three[0], three[1]})
	ch("chunk_missing_base", "chunks 1 and 2 without the base cookie", 4, [][2]string{three[1], three[2]})
	// Chunks beyond the declared count are ignored (spec §6.1, amended in
	// 1.1): a parallel response may have left them.
	vs = append(vs, vector{file: "ok_chunk_extra_ignored", expect: "ok", data: huge, times: times, maxCh: 4,
		comment: "a chunk with index 3 beside a count of 3: ignored", cookie: header([][2]string{three[0], three[1], three[2], {"s.3", "AAAA"}})})
	vs = append(vs, vector{file: "ok_chunk_extra_single_ignored", expect: "ok", data: small, times: times,
		comment: "a chunk cookie beside a single-cookie value: ignored", cookie: header([][2]string{{"s", okSingle}, {"s.1", "!not-base64"}})})
	ch("chunk_reordered", "the values of chunks 1 and 2 swapped", 4, [][2]string{three[0], {"s.1", three[2][1]}, {"s.2", three[1][1]}})
	ch("chunk_duplicate_index", "chunk 1 twice", 4, [][2]string{three[0], three[1], three[1], three[2]})
	ch("chunk_duplicate_base", "the base cookie twice", 2, [][2]string{{"s", okSingle}, {"s", okSingle}})
	ch("chunk_index_noncanonical", "chunk 1 named s.01", 4, [][2]string{three[0], {"s.01", three[1][1]}, three[2]})
	ch("chunk_index_zero", "a chunk cookie named s.0", 4, [][2]string{three[0], three[1], three[2], {"s.0", "AAAA"}})
	ch("chunk_count_absurd", "a count of 999999999999, rejected before it sizes anything", 4,
		[][2]string{{"s", "999999999999." + three[0][1][2:]}, three[1], three[2]})
	ch("chunk_count_over_max", "a count of 3 where the receiver allows 2", 2, three)
	ch("chunk_count_one", "a count of 1 (a single value has no count)", 4, [][2]string{{"s", "1." + okSingle}})
	ch("chunk_count_noncanonical", "a count written 03", 4, [][2]string{{"s", "03." + three[0][1][2:]}, three[1], three[2]})
	ch("chunk_empty", "chunk 2 present with an empty value", 4, [][2]string{three[0], three[1], {"s.2", ""}})
	other := split("s", std("s", zstdFrame(wordsJSON(26001)), 1, "other").value(), 4000)
	ch("chunk_mixed_sessions", "chunk 1 taken from another session sealed under the same key", 4, [][2]string{three[0], other[1], three[2]})
	over := split("s", std("s", big, 0, "over").value(), 4100)
	ch("chunk_over_4096", "a base cookie of 4100 bytes: over what any browser stores", 4, over)

	// Padding (spec §3.1, flag bit 1): zeros, then u16 of their count with
	// the two bytes of the count, the body a multiple of the bucket.
	padded := func(body []byte, bucket int) []byte {
		n := (len(body)+2+bucket-1)/bucket*bucket - len(body)
		out := append(append([]byte{}, body...), make([]byte, n-2)...)
		return binary.BigEndian.AppendUint16(out, uint16(n))
	}
	vs = append(vs, vector{file: "ok_padded_raw", expect: "ok", data: small, times: times, padding: 256,
		comment: "flags 2: the raw data padded to a multiple of 256 bytes", cookie: "s=" + std("s", padded(small, 256), 2, "padded").value()})
	vs = append(vs, vector{file: "ok_padded_compressed", expect: "ok", data: typ, times: times, padding: 64,
		comment: "flags 3: the Zstandard frame padded to a multiple of 64 bytes", cookie: "s=" + std("s", padded(compressed(typ), 64), 3, "padded-zstd").value()})
	badPad := func(file, comment string, body []byte) {
		vs = append(vs, vector{file: file, expect: "invalid", comment: comment, cookie: "s=" + std("s", body, 2, file).value()})
	}
	nonzero := padded(small, 256)
	nonzero[len(nonzero)-3] = 1
	badPad("padding_nonzero", "flags 2 with a padding byte that is not zero", nonzero)
	badPad("padding_count_over_body", "flags 2 whose padding count is larger than the body", binary.BigEndian.AppendUint16([]byte("ab"), 5))
	badPad("padding_count_1", "flags 2 whose padding count is 1: the count's own two bytes are not counted", binary.BigEndian.AppendUint16(append([]byte{}, small...), 1))
	badPad("padding_count_over_max", "flags 2 with 4098 bytes of padding, over the 4097 a bucket of 4096 leaves",
		binary.BigEndian.AppendUint16(append(append([]byte{}, small...), make([]byte, 4096)...), 4098))
	badPad("padding_short_body", "flags 2 with a body of one byte: no room for the count", []byte{0})
	badPad("padding_no_bucket", "flags 2, one byte of data and a count of 2: 3 bytes, a multiple of no bucket of 16 to 4096", []byte{'x', 0, 2})
	badPad("padding_not_canonical", "flags 2 with 4097 bytes of padding after 16 of data: 4113 bytes, which no bucket of 4096 or more divides",
		binary.BigEndian.AppendUint16(append(bytes.Repeat([]byte{'x'}, 16), make([]byte, 4095)...), 4097))
	vs = append(vs, vector{file: "flags_unknown_4", expect: "invalid",
		comment: "sealed correctly with flags 4, which version 1 does not define", cookie: "s=" + std("s", small, 4, "flags4").value()})

	write(dir, vs)
	write(sidDir, serverIDVectors())
	write(headerDir, headerVectors())
	write(recordDir, recordVectors())
	write(indexDir, indexVectors())
	write(revocationDir, revocationVectors())
	write(tombstoneDir, tombstoneVectors())
}

const indexDir = "../testdata/index-vectors"

// An indexVector is server-id-v1.md §7: a session's handle (§7.3), or a
// stored binding and what a reader makes of it (§7.1).
type indexVector struct {
	file, expect, comment string
	secret                []byte
	id, key, handle       string // handle vectors
	binding               []byte // binding vectors
	seen                  uint64
	user, agent, addr     string
	created               uint64
}

func (v indexVector) text() []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "expect: %s\ncomment: %s\n", v.expect, v.comment)
	if v.id != "" {
		fmt.Fprintf(&b, "secret: %x\nid: %s\nkey: %s\nhandle: %s\n", v.secret, v.id, v.key, v.handle)
		return b.Bytes()
	}
	fmt.Fprintf(&b, "binding: %x\nseen: %d\n", v.binding, v.seen)
	if v.expect == "ok" {
		fmt.Fprintf(&b, "user: %s\ncreated: %d\nagent: %s\naddr: %s\n", v.user, v.created, v.agent, v.addr)
	}
	return b.Bytes()
}

func indexVectors() []indexVector {
	id := b64.EncodeToString(bytes.Repeat([]byte{0x5a}, 32))
	sum := sha256.Sum256([]byte(id))
	key := b64.EncodeToString(sum[:])
	handle := func(secret []byte, key string) string {
		m := hmac.New(sha256.New, derive(secret, "handle", 32))
		m.Write([]byte(key))
		return b64.EncodeToString(m.Sum(nil)[:16])
	}
	bind := func(created uint64, parts ...string) []byte {
		b := binary.BigEndian.AppendUint64([]byte{1}, created)
		for _, p := range parts {
			b = append(b, byte(len(p)))
			b = append(b, p...)
		}
		return b
	}
	ok := bind(issued, "ada", "Firefox/140", "203.0.113.9")
	return []indexVector{
		{file: "handle_hashed_key", expect: "ok", comment: "the handle of a session stored under base64url(SHA-256(id)), with the primary secret",
			secret: secretA, id: id, key: key, handle: handle(secretA, key)},
		{file: "handle_raw_key", expect: "ok", comment: "the handle of a session stored under its raw ID (WithRawIDs)",
			secret: secretA, id: id, key: id, handle: handle(secretA, id)},
		{file: "handle_other_secret", expect: "ok", comment: "another primary secret gives another handle",
			secret: secretB, id: id, key: key, handle: handle(secretB, key)},
		{file: "binding_ok", expect: "ok", comment: "a binding with client details", binding: ok, seen: now,
			user: "ada", created: issued, agent: "Firefox/140", addr: "203.0.113.9"},
		{file: "binding_ok_no_details", expect: "ok", comment: "a binding without client details (the default)", binding: bind(issued, "42", "", ""), seen: now,
			user: "42", created: issued},
		{file: "binding_short", expect: "invalid", comment: "cut inside the user", binding: ok[:11], seen: now},
		{file: "binding_trailing", expect: "invalid", comment: "a byte after the address", binding: append(append([]byte{}, ok...), 0), seen: now},
		{file: "binding_version_2", expect: "invalid", comment: "version 2", binding: append([]byte{2}, ok[1:]...), seen: now},
		{file: "binding_no_user", expect: "invalid", comment: "an empty user", binding: bind(issued, "", "", ""), seen: now},
	}
}

const recordDir = "../testdata/server-record-vectors"

// A recordVector is server-id-v1.md §4.1: a stored record (meta and values
// as a backend hands them out) and what a reader makes of it.
type recordVector struct {
	file, expect, comment string
	meta                  []byte
	values                [][2][]byte // key, stored value (tag || bytes)
	want                  [][2][]byte // expect ok: key, the codec's bytes
	cookie                []byte      // expect ok: the cookie attributes read
}

func (v recordVector) text() []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "expect: %s\ncomment: %s\nmax-data: 131072\n\n", v.expect, v.comment)
	fmt.Fprintf(&b, "meta %x\n", v.meta)
	for _, kv := range v.values {
		fmt.Fprintf(&b, "value %s %x\n", kv[0], kv[1])
	}
	for _, kv := range v.want {
		fmt.Fprintf(&b, "want %s %x\n", kv[0], kv[1])
	}
	if v.cookie != nil {
		fmt.Fprintf(&b, "cookie %x\n", v.cookie)
	}
	return b.Bytes()
}

func recordVectors() []recordVector {
	meta := func(format, flags byte, abs, idle uint64) []byte {
		m := []byte{format, flags}
		m = binary.BigEndian.AppendUint64(m, abs)
		return binary.BigEndian.AppendUint64(m, idle)
	}
	m := meta(2, 0, absolute, idle)
	cart := fixtures.Large
	frame := compressed(cart)
	raw := func(b []byte) []byte { return append([]byte{0}, b...) }
	zst := func(f []byte) []byte { return append([]byte{1}, f...) }
	kv := func(k string, v []byte) [2][]byte { return [2][]byte{[]byte(k), v} }
	bomb := zstdFrame(make([]byte, 131073))
	liar := sizeLie()
	// cookie-v1.md §10.1: SameSite=Strict (3), SecureAlways (1), not
	// Partitioned, Path "/admin", no Domain.
	attrs := []byte{3, 1, 0, 0, 6, '/', 'a', 'd', 'm', 'i', 'n', 0, 0}
	two := append(append([]byte{}, frame...), frame...)
	return []recordVector{
		{file: "ok_raw", expect: "ok", comment: "two raw values (tag 0)", meta: m,
			values: [][2][]byte{kv("n", raw([]byte("42"))), kv("user", raw([]byte(`"ada"`)))},
			want:   [][2][]byte{kv("n", []byte("42")), kv("user", []byte(`"ada"`))}},
		{file: "ok_compressed", expect: "ok", comment: "a large value as one Zstandard frame (tag 1) beside a raw one", meta: meta(2, 1, absolute, idle),
			values: [][2][]byte{kv("cart", zst(frame)), kv("n", raw([]byte("1")))},
			want:   [][2][]byte{kv("cart", cart), kv("n", []byte("1"))}},
		{file: "ok_raw_large", expect: "ok", comment: "a large value kept raw (as releases before compression wrote it)", meta: m,
			values: [][2][]byte{kv("cart", raw(cart))}, want: [][2][]byte{kv("cart", cart)}},
		{file: "ok_empty_value", expect: "ok", comment: "a value of zero bytes after its tag", meta: m,
			values: [][2][]byte{kv("e", raw(nil))}, want: [][2][]byte{kv("e", nil)}},
		{file: "value_empty", expect: "invalid", comment: "a stored value without its tag", meta: m, values: [][2][]byte{kv("n", nil)}},
		{file: "value_unknown_tag", expect: "invalid", comment: "tag 2", meta: m, values: [][2][]byte{kv("n", []byte{2, '4', '2'})}},
		{file: "value_zstd_over_max", expect: "invalid", comment: "a frame declaring 131073 bytes, over the maximum data size", meta: m, values: [][2][]byte{kv("n", zst(bomb))}},
		{file: "value_zstd_size_lie", expect: "invalid", comment: "a frame that declares 70000 bytes of content but holds 100000", meta: m, values: [][2][]byte{kv("cart", zst(liar))}},
		{file: "value_zstd_two_frames", expect: "invalid", comment: "two frames in one value", meta: m, values: [][2][]byte{kv("cart", zst(two))}},
		{file: "value_zstd_truncated", expect: "invalid", comment: "the frame cut short by 3 bytes", meta: m, values: [][2][]byte{kv("cart", zst(frame[:len(frame)-3]))}},
		{file: "meta_short", expect: "invalid", comment: "a header of 17 bytes", meta: m[:17]},
		{file: "meta_format_3", expect: "invalid", comment: "format 3", meta: meta(3, 0, absolute, idle)},
		{file: "meta_flag_unknown", expect: "invalid", comment: "an unknown flag bit (bit 2)", meta: meta(2, 4, absolute, idle)},
		{file: "ok_cookie_attributes", expect: "ok", comment: "flag bit 1: the session's own cookie attributes follow the deadlines (SameSite=Strict, Secure always, Path=/admin)",
			meta: append(meta(2, 2, absolute, idle), attrs...), values: [][2][]byte{kv("n", raw([]byte("42")))}, want: [][2][]byte{kv("n", []byte("42"))}, cookie: attrs},
		{file: "meta_cookie_missing", expect: "invalid", comment: "flag bit 1 without the attributes", meta: meta(2, 2, absolute, idle)},
		{file: "meta_cookie_without_flag", expect: "invalid", comment: "attributes after the deadlines without flag bit 1", meta: append(meta(2, 0, absolute, idle), attrs...)},
	}
}

const headerDir = "../testdata/header-vectors"

// headerVectors are header-token-v1.md §7: tokens sealed for the binding
// "header:" + name, in request headers.
func headerVectors() []vector {
	times := [3]uint64{issued, absolute, idle}
	small := fixtures.Small
	tok := seal{secret: secretA, nonceLabel: "header", name: "header:s", issued: issued, absolute: absolute, idle: idle, body: small}.value()
	old := seal{secret: secretB, nonceLabel: "header-rotated", name: "header:s", issued: issued, absolute: absolute, idle: idle, body: small}.value()
	cookie := seal{secret: secretA, nonceLabel: "header-cookie", name: "s", issued: issued, absolute: absolute, idle: idle, body: small}.value()
	h := func(file, expect, comment, header string, lines ...string) vector {
		v := vector{file: file, expect: expect, comment: comment, header: header, cookie: strings.Join(lines, "\n")}
		if expect == "ok" {
			v.data, v.times = small, times
		}
		return v
	}
	i := strings.IndexAny(tok, "-_")
	if i < 0 {
		log.Fatal("the header token needs a - or _")
	}
	std := tok[:i] + map[byte]string{'-': "+", '_': "/"}[tok[i]] + tok[i+1:]
	rot := h("ok_older_secret", "ok", "sealed under the second secret of the ring: opens, and reports rotation", "Authorization", "Authorization: Bearer "+old)
	rot.rotated = true
	return []vector{
		h("ok_bearer", "ok", "a Bearer token in Authorization", "Authorization", "Accept: */*", "Authorization: Bearer "+tok),
		h("ok_bearer_case", "ok", "the header name and the scheme in other cases", "Authorization", "authorization: bEaReR "+tok),
		h("ok_named_header", "ok", "a header the operator named: the whole value is the token", "X-Session-Token", "X-Session-Token: "+tok),
		rot,
		h("none_absent", "none", "no Authorization header: no session, not an invalid one", "Authorization", "Accept: */*", "Cookie: s="+cookie),
		h("none_other_scheme", "none", "an Authorization header of another scheme belongs to the application", "Authorization", "Authorization: Basic dXNlcjpwYXNzd29yZA=="),
		h("cookie_value", "invalid", "a cookie value (sealed for the name s, not header:s) as a header token", "Authorization", "Authorization: Bearer "+cookie),
		h("two_headers", "invalid", "two Authorization headers", "Authorization", "Authorization: Bearer "+tok, "Authorization: Bearer "+tok),
		h("too_long", "invalid", "a token of 8001 characters, rejected before anything else", "Authorization", "Authorization: Bearer "+strings.Repeat("A", 8001)),
		h("empty", "invalid", "the Bearer scheme without a token", "Authorization", "Authorization: Bearer"),
		h("standard_alphabet", "invalid", "a - or _ replaced by + or /", "Authorization", "Authorization: Bearer "+std),
		h("padded", "invalid", "a = appended", "Authorization", "Authorization: Bearer "+tok+"="),
		h("tampered", "invalid", "one character of the token changed", "Authorization", "Authorization: Bearer "+tok[:60]+string("AB"[boolInt(tok[60] == 'A')])+tok[61:]),
		h("chunked", "invalid", "a chunk count: header tokens are never split", "Authorization", "Authorization: Bearer 2."+tok),
	}
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

const sidDir = "../testdata/server-id-vectors"

// signed is spec §7 with every field under the caller's control.
func signed(secret []byte, version byte, name, payload string) string {
	keyID := derive(secret, "key-id", 4)
	head := append([]byte{version}, keyID...)
	m := hmac.New(sha256.New, derive(secret, "server-id", 32))
	m.Write(head)
	m.Write([]byte{byte(len(name) >> 8), byte(len(name))})
	m.Write([]byte(name))
	m.Write([]byte(payload))
	return payload + b64.EncodeToString(m.Sum(head))
}

func serverIDVectors() []vector {
	id := b64.EncodeToString(bytes.Repeat([]byte{0x5a}, 32))
	good := signed(secretA, 1, "sid", id)
	sid := func(file, expect, comment, value string, secrets [][]byte) vector {
		return vector{file: file, expect: expect, name: "sid", secrets: secrets, comment: comment, cookie: "sid=" + value, sid: id}
	}
	flip := func(v string, i int) string {
		const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
		j := strings.IndexByte(alphabet, v[i])
		return v[:i] + string(alphabet[(j+1)%64]) + v[i+1:]
	}
	pad := signed(secretA, 1, "sid", id)
	return []vector{
		sid("sid_ok", "ok", "an ID signed with the primary secret", good, nil),
		withRotated(sid("sid_ok_older_secret", "ok", "signed with the second secret of the ring: verifies, and reports rotation", signed(secretB, 1, "sid", id), nil)),
		sid("sid_unsigned", "invalid", "the bare ID without a signature", id, nil),
		sid("sid_tampered_id", "invalid", "one character of the ID changed", flip(good, 5), nil),
		sid("sid_tampered_tag", "invalid", "one character of the tag changed", flip(good, len(good)-3), nil),
		sid("sid_tampered_key_id", "invalid", "one character of the key ID changed", flip(good, 44), nil),
		sid("sid_wrong_name", "invalid", "signed for cookie other, presented as sid", signed(secretA, 1, "other", id), nil),
		sid("sid_unknown_key", "invalid", "signed with a secret that is not in the ring", signed(secretC, 1, "sid", id), nil),
		sid("sid_retired_key", "invalid", "signed with the older secret after it left the ring", signed(secretB, 1, "sid", id), [][]byte{secretA}),
		sid("sid_version_2", "invalid", "a well-formed signature of version 2", signed(secretA, 2, "sid", id), nil),
		sid("sid_truncated", "invalid", "the last character removed", good[:len(good)-1], nil),
		sid("sid_padded", "invalid", "a = appended", pad+"=", nil),
		sid("sid_dot_separator", "invalid", "the ID and the signature separated by a dot", id+"."+good[len(id):], nil),
		sid("sid_not_an_id", "invalid", "a correctly signed payload that is not 43 characters", signed(secretA, 1, "sid", "c2hvcnQ"), nil),
		sid("sid_empty", "invalid", "an empty cookie", "", nil),
	}
}

func withRotated(v vector) vector { v.rotated = true; return v }

// A named vector is one file of a vector directory.
type named interface {
	fileName() string
	text() []byte
}

func (v vector) fileName() string           { return v.file }
func (v indexVector) fileName() string      { return v.file }
func (v recordVector) fileName() string     { return v.file }
func (v revocationVector) fileName() string { return v.file }
func (v tombstoneVector) fileName() string  { return v.file }

// write writes one file per vector into dir, refusing a duplicate name and
// any change to a file already there (released vectors are never edited).
func write[V named](dir string, vs []V) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		log.Fatal(err)
	}
	seen := map[string]bool{}
	for _, v := range vs {
		if seen[v.fileName()] {
			log.Fatalf("duplicate vector %s", v.fileName())
		}
		seen[v.fileName()] = true
		path := filepath.Join(dir, v.fileName())
		text := v.text()
		if old, err := os.ReadFile(path); err == nil && !bytes.Equal(old, text) {
			log.Fatalf("%s: released vectors are never edited; add a new one instead", path)
		}
		if err := os.WriteFile(path, text, 0o644); err != nil {
			log.Fatal(err)
		}
	}
	fmt.Printf("%d vectors in %s\n", len(vs), dir)
}

// nonCanonicalLast sets an unused low bit of the last character, if it has
// any (a value whose length is 2 or 3 mod 4).
func nonCanonicalLast(v string) string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	last := strings.IndexByte(alphabet, v[len(v)-1])
	if len(v)%4 < 2 {
		log.Fatal("non-canonical vector needs a value with unused bits")
	}
	return v[:len(v)-1] + string(alphabet[last|1])
}

const revocationDir = "../testdata/revocation-vectors"

// A revocationVector is cookie-v1.md §10.2 or §10.3: a sealed session whose
// data carries a binding, and what a reader makes of it; or a user's
// revocation record and what a check makes of one session with it.
type revocationVector struct {
	file, expect, comment string
	// §10.2
	cookie  string
	data    []byte
	id      string
	user    string
	bound   uint64
	checked uint64
	values  string
	// §10.3
	key, handle string
	grace       uint64
	record      [][2]string // key, value (hex)
}

func (v revocationVector) text() []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "expect: %s\ncomment: %s\n", v.expect, v.comment)
	if v.cookie != "" {
		fmt.Fprintf(&b, "name: s\nsecrets: %x\nnow: %d\ndata: %x\n", secretA, now, v.data)
		if v.expect == "ok" {
			fmt.Fprintf(&b, "id: %s\nuser: %s\nbound: %d\nchecked: %d\nvalues: %s\n", v.id, v.user, v.bound, v.checked, v.values)
		}
		fmt.Fprintf(&b, "\n%s\n", v.cookie)
		return b.Bytes()
	}
	fmt.Fprintf(&b, "user: %s\nkey: %s\nid: %s\nhandle: %s\nbound: %d\nnow: %d\ngrace: %d\n\n", v.user, v.key, v.id, v.handle, v.bound, now, v.grace)
	for _, kv := range v.record {
		fmt.Fprintf(&b, "value %s %s\n", kv[0], kv[1])
	}
	return b.Bytes()
}

func revocationVectors() []revocationVector {
	id := b64.EncodeToString(bytes.Repeat([]byte{0x6b}, 32))
	other := b64.EncodeToString(bytes.Repeat([]byte{0x6c}, 32))
	// §10: flags || u8(len(id)) || id || [binding] || values.
	data := func(flags byte, binding []byte, values string) []byte {
		d := []byte{flags, byte(len(id))}
		d = append(d, id...)
		d = append(d, binding...)
		return append(d, values...)
	}
	// §10.2: u8(len(user)) || user || u64(bound) || u64(checked).
	bind := func(user string, bound, checked uint64) []byte {
		b := append([]byte{byte(len(user))}, user...)
		b = binary.BigEndian.AppendUint64(b, bound)
		return binary.BigEndian.AppendUint64(b, checked)
	}
	sealed := func(label string, d []byte) string {
		return "s=" + seal{secret: secretA, nonceLabel: "revocation " + label, name: "s", issued: issued, absolute: absolute, body: d}.value()
	}
	values := `{"user":"ann"}`
	okData := data(4, bind("ann", issued-3600, issued), values)
	var vs []revocationVector
	add := func(file, expect, comment string, d []byte) {
		v := revocationVector{file: file, expect: expect, comment: comment, cookie: sealed(file, d), data: d}
		if expect == "ok" {
			v.id, v.user, v.bound, v.checked, v.values = id, "ann", issued-3600, issued, values
		}
		vs = append(vs, v)
	}
	add("data_bound", "ok", "flag bit 2: the binding follows the ID, then the values", okData)
	add("data_bound_with_attributes", "ok", "flag bits 1 and 2: cookie attributes (Path=/admin), then the binding",
		append(append(data(6, nil, "")[:2+len(id)], append([]byte{0, 13}, 3, 1, 0, 0, 6, '/', 'a', 'd', 'm', 'i', 'n', 0, 0)...), append(bind("ann", issued-3600, issued), values...)...))
	add("data_binding_cut", "invalid", "flag bit 2, the binding cut inside its times", okData[:2+len(id)+1+3+10])
	add("data_binding_empty_user", "invalid", "flag bit 2 with a user of 0 bytes", data(4, bind("", issued-3600, issued), values))
	add("data_binding_zero_bound", "invalid", "a bound-at time of 0", data(4, bind("ann", 0, issued), values))
	add("data_binding_time_too_large", "invalid", "a checked-at time of 2^62", data(4, bind("ann", issued-3600, 1<<62), values))
	returned := binary.BigEndian.AppendUint64(nil, uint64(issued-60)*1000)
	add("data_returned", "ok", "flag bits 2 and 3: the binding, then the time the session returned from a server record (spill-over-v1.md)",
		data(12, append(bind("ann", issued-3600, issued), returned...), values))
	add("data_returned_cut", "invalid", "flag bit 3, the return time cut", data(12, append(bind("ann", issued-3600, issued), returned[:5]...), ""))
	add("data_returned_zero", "invalid", "flag bit 3 with a return time of 0", data(12, append(bind("ann", issued-3600, issued), make([]byte, 8)...), values))
	add("data_flag_unknown", "invalid", "flag bit 3", data(8, nil, values)) // since spill-over-v1.md a return time, here malformed (the values' first bytes)
	add("data_flag_unknown_16", "invalid", "flag bit 4", data(16, nil, values))

	// §10.3: the record of user "ann".
	userHash := sha256.Sum256([]byte("ann"))
	key := "crumbs-revoked:" + b64.EncodeToString(userHash[:16])
	hash := func(id string) []byte {
		h := sha256.Sum256([]byte("github.com/crumbs-go/session/v1/cookie-handle" + id))
		return h[:16]
	}
	handle := b64.EncodeToString(hash(id))
	u64 := func(n uint64) []byte { return binary.BigEndian.AppendUint64(nil, n) }
	hx := func(b []byte) string { return hex.EncodeToString(b) }
	entry := func(kind byte, until uint64, rest ...[]byte) string {
		b := append([]byte{kind}, u64(until)...)
		for _, r := range rest {
			b = append(b, r...)
		}
		return hx(b)
	}
	rec := func(file, expect, comment string, grace uint64, kv ...[2]string) {
		vs = append(vs, revocationVector{file: file, expect: expect, comment: comment, user: "ann", key: key, id: id,
			handle: handle, bound: issued - 3600, grace: grace, record: append([][2]string{{"v", hx(u64(1))}}, kv...)})
	}
	sEntry := "s:" + handle
	rec("record_empty", "pass", "a record that lists nothing of this session", 10)
	rec("record_ended", "revoked", "kind 1: the session was destroyed", 10, [2]string{sEntry, entry(1, now+3600)})
	rec("record_ended_expired", "pass", "kind 1, until now: the entry is over (its cookie has expired)", 10, [2]string{sEntry, entry(1, now)})
	rec("record_other_session", "pass", "another session ended", 10, [2]string{"s:" + b64.EncodeToString(hash(other)), entry(1, now+3600)})
	rec("record_not_before", "revoked", "a not-before time after the session was bound", 10, [2]string{"nb", hx(u64(issued - 3599))})
	rec("record_not_before_equal", "pass", "a not-before time equal to the bound-at time", 10, [2]string{"nb", hx(u64(issued - 3600))})
	rec("record_not_before_kept", "pass", "a not-before time that keeps this session", 10, [2]string{"nb", hx(append(u64(now), hash(id)...))})
	rec("record_not_before_keeps_other", "revoked", "a not-before time that keeps another session", 10, [2]string{"nb", hx(append(u64(now), hash(other)...))})
	rec("record_superseded_in_grace", "superseded", "kind 2, 5 s ago, grace 10 s", 10, [2]string{sEntry, entry(2, now+3600, u64(now-5), hash(other))})
	rec("record_superseded_past_grace_moved", "moved", "kind 2, 10 s ago, grace 10 s: a fresh session, the cookie left alone", 10, [2]string{sEntry, entry(2, now+3600, u64(now-10), hash(other))})
	rec("record_superseded_no_grace_moved", "moved", "kind 2, now, grace 0", 0, [2]string{sEntry, entry(2, now+3600, u64(now), hash(other))})
	rec("record_superseded_ahead", "superseded", "kind 2 at a time 2 s ahead of the reader's clock (another server's): within the grace", 10, [2]string{sEntry, entry(2, now+3600, u64(now+2), hash(other))})
	rec("record_moved", "moved", "kind 3: a Regenerate to another user or to none", 10, [2]string{sEntry, entry(3, now+3600, u64(now-5))})
	rec("record_moved_expired", "pass", "kind 3, until now", 10, [2]string{sEntry, entry(3, now, u64(now-5))})
	rec("record_moved_after_ten_minutes", "revoked", "kind 3, 600 s ago: past the 10 minutes a moved answer lasts", 10, [2]string{sEntry, entry(3, now+3600, u64(now-600))})
	rec("record_superseded_successor_ended", "revoked", "kind 2 within the grace, its successor ended (kind 1)", 10,
		[2]string{sEntry, entry(2, now+3600, u64(now-5), hash(other))}, [2]string{"s:" + b64.EncodeToString(hash(other)), entry(1, now+3600)})
	rec("record_unknown_kind", "revoked", "kind 9 (a later version's): refused as an ended session until its time", 10, [2]string{sEntry, entry(9, now+3600, u64(1))})
	rec("record_malformed_moved_length", "malformed", "kind 3 without its time", 10, [2]string{sEntry, entry(3, now+3600)})
	rec("record_malformed_kind", "malformed", "kind 3", 10, [2]string{sEntry, entry(3, now+3600)})
	rec("record_malformed_length", "malformed", "kind 2 without its successor", 10, [2]string{sEntry, entry(2, now+3600)})
	rec("record_malformed_name", "malformed", "an entry name that is not a handle", 10, [2]string{"s:abc", entry(1, now+3600)})
	rec("record_unknown_value_kept", "pass", "a value of a name this version does not know (a later version's) is ignored", 10, [2]string{"x", "00"})
	rec("record_malformed_not_before", "malformed", "a not-before of 9 bytes", 10, [2]string{"nb", "000000000000000000"})
	return vs
}

const tombstoneDir = "../testdata/tombstone-vectors"

// A tombstoneVector is server-id-v1.md §4.3: the value a Regenerate's
// tombstone holds, and what a reader makes of it; for a marked one, the
// values whose digest it carries.
type tombstoneVector struct {
	file, comment string
	value         string
	key           string // the successor's key a reader takes
	marked        bool
	at            int64       // marked: Unix milliseconds
	digest        string      // marked
	values        [][2]string // marked: key, value (as the codec wrote it) whose digest it is
}

func (v tombstoneVector) text() []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "comment: %s\nvalue: %s\nkey: %s\nmarked: %t\n", v.comment, v.value, v.key, v.marked)
	if v.marked {
		fmt.Fprintf(&b, "at: %d\ndigest: %s\n\n", v.at, v.digest)
		for _, kv := range v.values {
			fmt.Fprintf(&b, "value %s %s\n", kv[0], hex.EncodeToString([]byte(kv[1])))
		}
	}
	return b.Bytes()
}

func tombstoneVectors() []tombstoneVector {
	// digest = base64url(SHA-256(for each key in byte order: u32(len(key))
	// || key || u32(len(v)) || v)[0:16]).
	digest := func(kv [][2]string) string {
		sorted := append([][2]string(nil), kv...)
		for i := range sorted { // insertion sort: byte order of the keys
			for j := i; j > 0 && sorted[j][0] < sorted[j-1][0]; j-- {
				sorted[j], sorted[j-1] = sorted[j-1], sorted[j]
			}
		}
		h := sha256.New()
		for _, p := range sorted {
			h.Write(binary.BigEndian.AppendUint32(nil, uint32(len(p[0]))))
			h.Write([]byte(p[0]))
			h.Write(binary.BigEndian.AppendUint32(nil, uint32(len(p[1]))))
			h.Write([]byte(p[1]))
		}
		return b64.EncodeToString(h.Sum(nil)[:16])
	}
	key := b64.EncodeToString(bytes.Repeat([]byte{0x4e}, 32))
	at := int64(now)*1000 + 123
	ada := [][2]string{{"user", `"ada"`}}
	both := [][2]string{{"user", `"ada"`}, {"mfa", "true"}, {"cart", `[1,2]`}}
	d, d2 := digest(ada), digest(both)
	marked := func(ms int64, dg string) string { return fmt.Sprintf("~%d~%s~%s", ms, dg, key) }
	return []tombstoneVector{
		{file: "plain", comment: "a tombstone of any Regenerate but an ID-only one: the successor's key", value: key, key: key},
		{file: "marked", comment: "an ID-only Regenerate of a session holding one value", value: marked(at, d), key: key, marked: true, at: at, digest: d, values: ada},
		{file: "marked_three_values", comment: "three values: the digest takes the keys in byte order", value: marked(at, d2), key: key, marked: true, at: at, digest: d2, values: both},
		{file: "marked_no_values", comment: "a session without values", value: marked(at, digest(nil)), key: key, marked: true, at: at, digest: digest(nil), values: nil},
		{file: "bad_time", comment: "a time that is not a number: the key after the second ~, unmarked", value: "~x~" + d + "~" + key, key: key},
		{file: "zero_time", comment: "a time of 0: unmarked", value: marked(0, d), key: key},
		{file: "short_digest", comment: "a digest of 5 characters: unmarked", value: fmt.Sprintf("~%d~short~%s", at, key), key: key},
		{file: "two_parts", comment: "one ~ after the first: the key after the last ~", value: fmt.Sprintf("~%d~%s", at, key), key: key},
		{file: "tilde_only", comment: "a leading ~ and nothing else to cut: the whole value", value: "~" + key, key: "~" + key},
	}
}
