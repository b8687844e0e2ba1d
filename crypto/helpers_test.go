package crypto_test

import (
	"encoding/base64"
	"testing"
	"time"
)

func decode(t testing.TB, v string) []byte {
	t.Helper()
	b, err := base64.RawURLEncoding.Strict().DecodeString(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func encode(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func unix(s int64) time.Time { return time.Unix(s, 0) }
