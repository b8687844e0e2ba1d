package crypto

import "io"

// SetRandForTest replaces the nonce source, so tests can reproduce vectors.
func (r *Ring) SetRandForTest(rd io.Reader) { r.rand, r.testRand = rd, true }

// NonceOf returns what Seal read from its random source for a canonical
// sealed value: the nonce (version 1), or the salt and the nonce (version 2).
func NonceOf(value string) []byte {
	b, err := b64.DecodeString(value)
	switch {
	case err != nil || len(b) == 0:
		return nil
	case b[0] == versionV2 && len(b) >= headerSizeV2:
		return b[saltAt:headerSizeV2]
	case len(b) >= headerSize:
		return b[1+KeyIDSize : headerSize]
	}
	return nil
}

// CipherOf returns the cipher of a sealed value's version byte, for a
// ring that re-seals it; XChaCha20Poly1305 when the value has none.
func CipherOf(value string) Cipher {
	if b, err := b64.DecodeString(value); err == nil && len(b) > 0 && b[0] == versionV2 {
		return AES256GCM
	}
	return XChaCha20Poly1305
}
