package crypto

import "io"

// SetRandForTest replaces the nonce source, so tests can reproduce vectors.
func (r *Ring) SetRandForTest(rd io.Reader) { r.rand = rd }

// NonceOf returns the nonce of a canonical sealed value.
func NonceOf(value string) []byte {
	b, err := b64.DecodeString(value)
	if err != nil || len(b) < headerSize {
		return nil
	}
	return b[1+KeyIDSize : headerSize]
}
