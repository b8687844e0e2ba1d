package crypto_test

import (
	"bytes"
	"fmt"
	"time"

	"github.com/crumbs-go/session/crypto"
)

func ExampleNew() {
	// Load real secrets from a vault: at least 32 random bytes each.
	secret := bytes.Repeat([]byte("k"), 32)
	ring, err := crypto.New([][]byte{secret})
	if err != nil {
		panic(err)
	}
	now := time.Unix(1764201600, 0)
	value, err := ring.Seal("session", crypto.Payload{
		Data:        []byte(`{"user":"ada"}`),
		IssuedAt:    now,
		IdleExpires: now.Add(30 * time.Minute),
	})
	if err != nil {
		panic(err)
	}
	p, _, err := ring.Open("session", value, now.Add(time.Minute))
	fmt.Println(string(p.Data), err)
	_, _, err = ring.Open("session", value, now.Add(time.Hour))
	fmt.Println(err)
	// Output:
	// {"user":"ada"} <nil>
	// crypto: expired (idle deadline)
}

func Example_keyRotation() {
	oldSecret := bytes.Repeat([]byte("o"), 32) // load real secrets from a vault
	newSecret := bytes.Repeat([]byte("n"), 32)
	now := time.Unix(1764201600, 0)

	before, _ := crypto.New([][]byte{oldSecret})
	value, _ := before.Seal("session", crypto.Payload{Data: []byte("cart=3"), IssuedAt: now})

	// Deploy with the new secret first and the old one after it.
	after, _ := crypto.New([][]byte{newSecret, oldSecret})
	p, stale, err := after.Open("session", value, now)
	fmt.Println(string(p.Data), stale, err)
	if stale {
		value, _ = after.Seal("session", p) // now under the new secret
	}
	_, stale, err = after.Open("session", value, now)
	fmt.Println(stale, err)
	// Output:
	// cart=3 true <nil>
	// false <nil>
}
