package crypto_test

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/crumbs-go/session/crypto"
	"github.com/crumbs-go/session/internal/fixtures"
)

func TestInspect(t *testing.T) {
	t.Parallel()
	old := mustRing(t, [][]byte{secret(1)})
	ring := mustRing(t, [][]byte{secret(2), secret(1)}, crypto.WithCipher(crypto.AES256GCM))
	other := mustRing(t, [][]byte{secret(3)})
	p := crypto.Payload{Data: fixtures.Large, IssuedAt: t0, Expires: t0.Add(time.Hour), IdleExpires: t0.Add(time.Minute)}
	for _, tt := range []struct {
		name       string
		sealer     *crypto.Ring
		version    int
		secret     int
		now        time.Time
		compressed bool
		err        string // "" opens; else a fragment of the error
	}{
		{"primary, version 2", ring, 2, 0, t0, true, ""},
		{"older secret, version 1", old, 1, 1, t0, true, ""},
		{"idle deadline passed", ring, 2, 0, t0.Add(time.Minute), true, "idle deadline"},
		{"absolute deadline passed", old, 1, 1, t0.Add(2 * time.Hour), true, "absolute deadline"},
		{"removed secret", other, 1, -1, t0, false, "unknown key ID"},
	} {
		v, err := tt.sealer.Seal("s", p)
		if err != nil {
			t.Fatal(err)
		}
		env, got, err := ring.Inspect("s", v, tt.now)
		if env.Version != tt.version || env.Secret != tt.secret || env.Compressed != tt.compressed || env.Size != len(decode(t, v)) {
			t.Errorf("%s: %+v", tt.name, env)
		}
		if tt.err == "" && err != nil || tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err) || !errors.Is(err, crypto.ErrInvalid)) {
			t.Errorf("%s: error %v, want %q", tt.name, err, tt.err)
		}
		if opened := tt.secret >= 0; opened && (!bytes.Equal(got.Data, p.Data) || !got.Expires.Equal(p.Expires)) {
			t.Errorf("%s: the payload did not come back", tt.name)
		}
	}
	if env, _, err := ring.Inspect("s", "not base64!", t0); err == nil || env.Version != 0 || env.Secret != -1 {
		t.Errorf("garbage: %+v, %v", env, err)
	}
	signed, _ := old.Sign("sid", "abcdefghijklmnopqrstuv")
	env, payload, err := ring.InspectSigned("sid", signed)
	if err != nil || payload != "abcdefghijklmnopqrstuv" || env.Secret != 1 || env.Version != 1 {
		t.Errorf("InspectSigned = %+v, %q, %v", env, payload, err)
	}
	if env, _, err := ring.InspectSigned("other", signed); err == nil || env.Secret != 1 {
		t.Errorf("InspectSigned under another name = %+v, %v; want the key found and an error", env, err)
	}
}
