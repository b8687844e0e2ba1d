package chunking_test

import (
	"fmt"
	"strings"

	"github.com/crumbs-go/session/chunking"
)

func ExampleCodec_Split() {
	codec, err := chunking.New("__Host-session")
	if err != nil {
		panic(err)
	}
	value := strings.Repeat("A", 6000) // a sealed value, base64url
	cookies, err := codec.Split(value)
	if err != nil {
		panic(err)
	}
	for _, c := range cookies {
		fmt.Println(c.Name, len(c.Name)+len(c.Value))
	}
	// The response writes 2 cookies; what else must it expire?
	fmt.Println(codec.Stale(func(yield func(string, string) bool) {
		yield("__Host-session.7", "left from a larger configuration")
	}, len(cookies)))
	joined, err := codec.Join(func(yield func(string, string) bool) {
		for _, c := range cookies {
			if !yield(c.Name, c.Value) {
				return
			}
		}
	})
	fmt.Println(joined == value, err)

	_, err = codec.Split(strings.Repeat("A", 9000))
	fmt.Println(err)
	// Output:
	// __Host-session 4000
	// __Host-session.1 2032
	// [__Host-session.7]
	// true <nil>
	// chunking: session cookie "__Host-session" needs 9048 bytes in 3 cookies; the budget is 2 cookies of at most 4000 bytes and 8000 bytes in all (WithMaxChunks, WithCookieBudget, WithTotalBudget)
}
