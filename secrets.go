package session

import (
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
)

// ParseSecrets reads a list of secrets as an application keeps them in an
// environment variable or a secret manager: comma-separated, each the
// base64 (standard or URL alphabet, padded or not) of 32 random bytes or
// more, the newest first. The first seals new cookies (or signs new IDs);
// every one opens, so a secret is rotated by putting a new one in front
// and dropping the old one once the sessions it sealed have expired.
// Generate one with
//
//	openssl rand -base64 32
//
// Spaces around a secret are ignored; a line break inside one is an error
// (base64 decoders skip them, so two secrets a line each would read as
// one). The error says which secret is wrong and why, never what it holds.
func ParseSecrets(list string) ([][]byte, error) {
	if strings.TrimSpace(list) == "" {
		return nil, errors.New("session: no secrets: give one or more base64 secrets of 32 bytes or more, comma-separated (generate one with: openssl rand -base64 32)")
	}
	var out [][]byte
	for i, s := range strings.Split(list, ",") {
		s = strings.TrimSpace(s)
		b, err := decodeSecret(s)
		switch {
		case s == "":
			return nil, fmt.Errorf("session: secret %d of the list is empty (a stray comma?)", i+1)
		case strings.ContainsAny(s, "\r\n"):
			return nil, fmt.Errorf("session: secret %d of the list has a line break: separate secrets with commas, each on one line (openssl rand -base64 32 prints one)", i+1)
		case err != nil:
			return nil, fmt.Errorf("session: secret %d of the list is not base64 (generate one with: openssl rand -base64 32)", i+1)
		case len(b) < 32:
			return nil, fmt.Errorf("session: secret %d of the list is %d bytes once decoded; a secret needs 32 or more (generate one with: openssl rand -base64 32)", i+1, len(b))
		}
		out = append(out, b)
	}
	return out, nil
}

func decodeSecret(s string) ([]byte, error) {
	enc := base64.RawStdEncoding
	if strings.ContainsAny(s, "-_") {
		enc = base64.RawURLEncoding
	}
	return enc.Strict().DecodeString(strings.TrimRight(s, "="))
}
