// Package b64 tells whether text is in the base64url alphabet, the only
// characters crumbs writes into cookie values.
package b64

// IsChar reports whether c is in the base64url alphabet (RFC 4648 §5).
func IsChar(c byte) bool {
	return 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_'
}

// Valid reports whether every byte of s is in the base64url alphabet.
func Valid(s string) bool {
	for i := 0; i < len(s); i++ {
		if !IsChar(s[i]) {
			return false
		}
	}
	return true
}
