// gen_vectors_v2.mjs writes the envelope version 2 vectors of
// spec/cookie-v1.md §3.4 (AES-256-GCM under a key derived for each message)
// into testdata/vectors/, as files named v2_*. It is an implementation of
// the spec in another language, on Node's OpenSSL (HKDF-SHA256,
// AES-256-GCM, base64url), sharing no code with the library or with the Go
// generator of the version 1 vectors. Secrets, salts, nonces and clock are
// fixed: running it twice writes the same bytes. Released vectors are never
// edited, only added: it refuses to change a file that is there.
//
// Run: node crypto/gen_vectors_v2.mjs           (writes the files)
//      node crypto/gen_vectors_v2.mjs --check   (CI: the files are what it writes)
import { createCipheriv, createHash, hkdfSync } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const dir = join(dirname(fileURLToPath(import.meta.url)), '..', 'testdata', 'vectors');
const check = process.argv.includes('--check');

const NOW = 1764201600; // 2025-11-27T00:00:00Z
const ISSUED = NOW - 60;
const ABSOLUTE = ISSUED + 7 * 86400;
const IDLE = NOW + 1800;

const sha256 = (s) => createHash('sha256').update(s).digest();
const secret = (label) => sha256('crumbs test vector secret ' + label);
const A = secret('A'); // primary
const B = secret('B'); // older, still in the ring
const C = secret('C'); // never in the receiver's ring

// §2: HKDF-SHA256, empty salt, the info string names version and purpose.
const hkdf = (ikm, salt, info, n) => Buffer.from(hkdfSync('sha256', ikm, salt, Buffer.from(info, 'ascii'), n));
const keyID = (s) => hkdf(s, Buffer.alloc(0), 'github.com/crumbs-go/session/v1/key-id', 4);
const sealKey = (s) => hkdf(s, Buffer.alloc(0), 'github.com/crumbs-go/session/v2/cookie', 32);
// §3.4: the message key, from the sealing key and the message's salt.
const messageKey = (s, salt) => hkdf(sealKey(s), salt, 'github.com/crumbs-go/session/v2/message', 32);

const u64 = (n) => {
  const b = Buffer.alloc(8);
  b.writeBigUInt64BE(BigInt(n));
  return b;
};

// seal builds an envelope of §3.4 with every field under the caller's control.
function seal({
  secret = A, label, name = 's', flags = 0, issued = ISSUED, absolute = ABSOLUTE, idle = IDLE, body,
  version = 2, aadVersion, key, trailing = Buffer.alloc(0),
}) {
  const salt = sha256('salt ' + label).subarray(0, 16);
  const nonce = sha256('nonce ' + label).subarray(0, 12);
  const id = keyID(secret);
  const plain = Buffer.concat([Buffer.from([flags]), u64(issued), u64(absolute), u64(idle), body]);
  const aad = Buffer.concat([Buffer.from([aadVersion ?? version]), id, Buffer.from(name, 'latin1')]);
  const c = createCipheriv('aes-256-gcm', key ? key(secret, salt) : messageKey(secret, salt), nonce);
  c.setAAD(aad);
  const ct = Buffer.concat([c.update(plain), c.final()]);
  return Buffer.concat([Buffer.from([version]), id, salt, nonce, ct, c.getAuthTag(), trailing]);
}

const b64 = (b) => b.toString('base64url'); // RFC 4648 §5, no padding

// §6.2: one cookie if it fits, else greedy chunks "n.<part>", name.1, ...
function split(name, value, budget) {
  if (name.length + value.length <= budget) return [[name, value]];
  for (let n = 2; ; n++) {
    const out = [];
    let rest = value;
    for (let i = 0; i < n && rest !== ''; i++) {
      const cname = i === 0 ? name : name + '.' + i;
      const p = i === 0 ? n + '.' : '';
      const room = Math.min(budget - cname.length - p.length, rest.length);
      out.push([cname, p + rest.slice(0, room)]);
      rest = rest.slice(room);
    }
    if (rest === '' && out.length === n) return out;
  }
}
const header = (pairs) => pairs.map(([n, v]) => n + '=' + v).join('; ');

const SMALL = Buffer.from('{"user_id":"u_2b7e1516","email":"grace@example.com","name":"Grace Hopper","roles":["admin"],"csrf":"Zm9vYmFyYmF6cXV4","theme":"light","views":7}');

let cart = '{"cart":[';
for (let i = 0; i < 40; i++) {
  cart += (i > 0 ? ',' : '') + `{"sku":"SKU-${String((i * 37) % 10000).padStart(4, '0')}","qty":${(i % 5) + 1},"note":"gift wrap please"}`;
}
const CART = Buffer.from(cart + ']}');
// CART as one Zstandard frame (RFC 8878) with its content size and no
// checksum, as the library's compressor writes it (klauspost/compress,
// SpeedFastest), so that the library re-seals these vectors byte for byte.
// Any frame of §3.1 opens; this one is fixed here, not computed.
const CART_FRAME = Buffer.from(
  '28b52ffd6052077d060042cc231e606d920150302e2daa0a30da1c6831a802b79452fe9452bfd9f8b62862108f82f36fec4ea6b579e9d09dad8f7a4e23cfe7c646a7d41a5ed321749e4fd473683fdbb9314e356de2dd21de89fcf7d869e76cdf24a76b5b1e3af493f44f8f9147291a8a62619158280c88c4729080504929960686429854c4e250489999010c040854520f0a8d721024b530148372044fa81110d6a6ff07e037031238607043f03b04eff0035d6569ed3c62b518fbe85ed3c75f4be52e6b0f3725b17e5678f890c6fea15ae2244ed7ed1898fc',
  'hex');
if (CART_FRAME.readUInt32LE(0) !== 0xfd2fb528 || CART_FRAME.length >= CART.length) throw new Error('CART_FRAME is not a smaller zstd frame');

// Hex strings that Zstandard does not shrink, for a raw value in two chunks.
let blob = '{"blob":[';
for (let i = 0; blob.length < 5000; i++) blob += (i > 0 ? ',' : '') + '"' + sha256(String(i)).subarray(0, 12).toString('hex') + '"';
const BLOB = Buffer.from(blob + ']}');

const vectors = [];
function add(file, expect, comment, cookie, extra = {}) {
  vectors.push({ file: 'v2_' + file, expect, comment, cookie, ...extra });
}
const times = { issued: ISSUED, absolute: ABSOLUTE, idle: IDLE };
const ok = (data, more = {}) => ({ data, ...times, rotated: false, ...more });
const single = (env) => 's=' + b64(env);
const flip = (buf, at, bit = 1) => {
  const b = Buffer.from(buf);
  b[at] ^= bit;
  return b;
};

const base = seal({ label: 'single', body: SMALL });
add('ok_single_raw', 'ok', 'version 2 (AES-256-GCM, a key per message), one cookie, uncompressed, under the primary secret', single(base), ok(SMALL));
add('ok_single_compressed', 'ok', 'version 2, one cookie, zstd-compressed (flags 1)',
  single(seal({ label: 'compressed', flags: 1, body: CART_FRAME })), ok(CART));
add('ok_older_secret', 'ok', 'version 2 sealed under the second secret of the ring: opens, and reports rotation',
  single(seal({ secret: B, label: 'older', body: SMALL })), ok(SMALL, { rotated: true }));
add('ok_no_deadlines', 'ok', 'version 2 with absolute and idle 0: no deadline',
  single(seal({ label: 'nodeadline', absolute: 0, idle: 0, body: SMALL })), ok(SMALL, { absolute: 0, idle: 0 }));
const two = split('s', b64(seal({ label: 'two', body: BLOB })), 4000);
if (two.length !== 2) throw new Error('two chunks expected, got ' + two.length);
add('ok_chunks_2_raw', 'ok', 'version 2 in two chunks, uncompressed', header(two), ok(BLOB));
add('ok_host_prefix', 'ok', 'version 2 for a __Host- cookie: the prefix is part of the bound name',
  '__Host-s=' + b64(seal({ label: 'host', name: '__Host-s', body: SMALL })), ok(SMALL, { name: '__Host-s' }));

add('tamper_version', 'invalid', 'version byte 2 changed to 1: read as version 1, the tag fails', single(flip(base, 0, 3)));
add('tamper_key_id', 'invalid', 'a bit of the key ID flipped: no such key', single(flip(base, 1)));
add('tamper_salt', 'invalid', 'a bit of the salt flipped: another message key, the tag fails', single(flip(base, 5)));
add('tamper_nonce', 'invalid', 'a bit of the nonce flipped', single(flip(base, 21)));
add('tamper_flags', 'invalid', 'a bit of the encrypted flags flipped', single(flip(base, 33)));
add('tamper_body', 'invalid', 'a bit of the encrypted body flipped', single(flip(base, 60)));
add('tamper_tag', 'invalid', 'a bit of the tag flipped', single(flip(base, base.length - 1)));
add('truncated', 'invalid', 'version 2 cut to 73 bytes, one short of its overhead', single(base.subarray(0, 73)));
add('trailing_bytes', 'invalid', 'version 2 with a byte after the tag', single(seal({ label: 'trailing', body: SMALL, trailing: Buffer.from([0]) })));
add('wrong_name', 'invalid', 'version 2 sealed for cookie t, presented as s', single(seal({ label: 'wrongname', name: 't', body: SMALL })));
add('key_unknown', 'invalid', 'version 2 under a secret that is not in the ring', single(seal({ secret: C, label: 'unknown', body: SMALL })));
add('expired_idle', 'invalid', 'version 2 past its idle deadline', single(seal({ label: 'idle', idle: NOW, body: SMALL })));
add('expired_absolute', 'invalid', 'version 2 past its absolute deadline', single(seal({ label: 'absolute', absolute: NOW - 1, body: SMALL })));
add('flags_unknown', 'invalid', 'version 2, authentic, with flags 2', single(seal({ label: 'flags', flags: 2, body: SMALL })));
add('aad_version_1', 'invalid', 'envelope says version 2, the AAD was computed with version 1', single(seal({ label: 'aadv1', aadVersion: 1, body: SMALL })));
add('key_not_per_message', 'invalid', 'AES-256-GCM under the version 2 sealing key itself, not the key derived for the message',
  single(seal({ label: 'nokdf', body: SMALL, key: (s) => sealKey(s) })));
add('key_version_1', 'invalid', 'AES-256-GCM under the version 1 sealing key (info v1/cookie)',
  single(seal({ label: 'v1key', body: SMALL, key: (s) => hkdf(s, Buffer.alloc(0), 'github.com/crumbs-go/session/v1/cookie', 32) })));
// §3.1 padding (flag bit 1): zeros, then u16 of their count with its own
// two bytes; the body a multiple of the bucket.
function padded(body, bucket) {
  const n = Math.ceil((body.length + 2) / bucket) * bucket - body.length;
  const pad = Buffer.alloc(n);
  pad.writeUInt16BE(n, n - 2);
  return Buffer.concat([body, pad]);
}
add('ok_padded_compressed', 'ok', 'version 2, flags 3: the Zstandard frame padded to a multiple of 128 bytes',
  single(seal({ label: 'padded', flags: 3, body: padded(CART_FRAME, 128) })), ok(CART, { padding: 128 }));
add('version_3', 'invalid', 'a version 2 envelope with version byte 3 in the envelope and the AAD: unknown version',
  single(seal({ label: 'v3', version: 3, body: SMALL })));

function text(v) {
  const lines = [
    'expect: ' + v.expect,
    'comment: ' + v.comment,
    'name: ' + (v.name ?? 's'),
    'secrets: ' + [A, B].map((s) => s.toString('hex')).join(','),
    'now: ' + NOW,
    'max-chunks: 2',
    'max-data: 131072',
  ];
  if (v.padding) lines.push('padding: ' + v.padding);
  if (v.expect === 'ok') {
    lines.push('data: ' + v.data.toString('utf8'), 'issued: ' + v.issued, 'absolute: ' + v.absolute, 'idle: ' + v.idle, 'rotated: ' + v.rotated);
  }
  return lines.join('\n') + '\n\n' + v.cookie + '\n';
}

let bad = 0;
const seen = new Set();
for (const v of vectors) {
  if (seen.has(v.file)) throw new Error('duplicate vector ' + v.file);
  seen.add(v.file);
  const path = join(dir, v.file);
  const want = text(v);
  const have = existsSync(path) ? readFileSync(path, 'utf8') : null;
  if (check) {
    if (have !== want) {
      console.error(path + (have === null ? ': missing' : ': differs from what the generator writes'));
      bad++;
    }
  } else if (have !== null && have !== want) {
    console.error(path + ': released vectors are never edited; add a new one instead');
    process.exit(1);
  } else {
    writeFileSync(path, want);
  }
}
if (bad > 0) process.exit(1);
console.log(`${vectors.length} version 2 vectors ${check ? 'match' : 'in'} ${dir}`);
