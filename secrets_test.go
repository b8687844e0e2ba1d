package session_test

import (
	"bytes"
	"encoding/base64"
	"strings"
	"testing"

	"github.com/crumbs-go/session"
)

func TestParseSecrets(t *testing.T) {
	a, b := bytes.Repeat([]byte{0xfb}, 32), bytes.Repeat([]byte{0x3e}, 48)
	std, url := base64.StdEncoding.EncodeToString(a), base64.RawURLEncoding.EncodeToString(b)
	for _, tc := range []struct {
		list string
		want [][]byte
		err  string
	}{
		{list: std, want: [][]byte{a}},
		{list: " " + url + " , " + std + "\n", want: [][]byte{b, a}},
		{list: base64.RawStdEncoding.EncodeToString(a), want: [][]byte{a}},
		{list: base64.URLEncoding.EncodeToString(b), want: [][]byte{b}},
		{list: "", err: "no secrets"},
		{list: "  ", err: "no secrets"},
		{list: std + ",", err: "secret 2 of the list is empty"},
		{list: std + ",not base64!", err: "secret 2 of the list is not base64"},
		{list: base64.StdEncoding.EncodeToString(a[:31]), err: "secret 1 of the list is 31 bytes once decoded"},
		{list: "0123456789abcdef0123456789abcdef", err: "24 bytes once decoded"}, // raw text is not a secret
		{list: std[:len(std)-2] + "+_", err: "not base64"},                       // two alphabets mixed
		// Go's decoder skips line breaks: two secrets a line each would be
		// read as one, and the rotation would sign everyone out.
		{list: std + "\n" + url, err: "secret 1 of the list has a line break"},
		{list: std + "\r\n" + std, err: "has a line break"},
		{list: base64.StdEncoding.EncodeToString(b) + "\n" + base64.StdEncoding.EncodeToString(b), err: "secret 1 of the list has a line break"}, // no padding: decodes as one 96-byte secret
		{list: url + "," + std + "\n" + std, err: "secret 2 of the list has a line break"},
	} {
		got, err := session.ParseSecrets(tc.list)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("ParseSecrets(%q) = %v, want an error with %q", tc.list, err, tc.err)
			} else if strings.Contains(err.Error(), tc.list) && strings.TrimSpace(tc.list) != "" {
				t.Errorf("the error %q shows the secret", err)
			}
			continue
		}
		if err != nil || len(got) != len(tc.want) {
			t.Errorf("ParseSecrets(%q) = %d secrets, %v", tc.list, len(got), err)
			continue
		}
		for i := range got {
			if !bytes.Equal(got[i], tc.want[i]) {
				t.Errorf("ParseSecrets(%q)[%d] = %x", tc.list, i, got[i])
			}
		}
	}
}
