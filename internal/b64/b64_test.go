package b64

import "testing"

func TestValid(t *testing.T) {
	for c := range 256 {
		want := 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_'
		if IsChar(byte(c)) != want || Valid("ab"+string([]byte{byte(c)})+"cd") != want {
			t.Errorf("byte %#x: IsChar %t, want %t", c, IsChar(byte(c)), want)
		}
	}
	if !Valid("") {
		t.Error(`Valid("") = false`)
	}
}
