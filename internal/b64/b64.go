// Package b64 tells whether text is in the base64url alphabet, the only
// characters crumbs writes into cookie values.
package b64

// invalid[c] is 1 for bytes outside the alphabet.
var invalid = func() (t [256]byte) {
	for i := range t {
		t[i] = 1
	}
	for _, c := range []byte("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") {
		t[c] = 0
	}
	return t
}()

// IsChar reports whether c is in the base64url alphabet (RFC 4648 §5).
func IsChar(c byte) bool { return invalid[c] == 0 }

// Valid reports whether every byte of s is in the base64url alphabet.
func Valid(s string) bool {
	var bad byte
	for i := 0; i < len(s); i++ {
		bad |= invalid[s[i]] // no branch in the loop
	}
	return bad == 0
}
