package migrate_test

import (
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"hash"
)

// keygrip signs data as keygrip 1.1 does: HMAC, base64url without padding.
func keygrip(alg, key, data string) string {
	h := map[string]func() hash.Hash{"sha1": sha1.New, "sha256": sha256.New}[alg]
	m := hmac.New(h, []byte(key))
	m.Write([]byte(data))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}
