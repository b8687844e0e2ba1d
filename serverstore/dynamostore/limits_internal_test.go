package dynamostore

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/crumbs-go/session/driver"
	"github.com/crumbs-go/session/serverstore"
)

// TestUpdateWithinDynamoDBLimits: every UpdateItem that update builds is
// within DynamoDB's limits (expressions of 4 KB, 300 operators each),
// which dynalite does not enforce; a write beyond them takes the fallback.
func TestUpdateWithinDynamoDBLimits(t *testing.T) {
	b := &Backend{table: "t", now: time.Now}
	meta := make([]byte, 18)
	meta[0] = 2
	for _, clear := range []bool{false, true} {
		for _, check := range []bool{false, true} {
			for n := 1; n <= 400; n++ {
				var cs []driver.Change
				for i := range n {
					c := driver.Change{Key: fmt.Sprintf("k%d", i), Value: []byte{0, 'v'}}
					if check {
						c.Check, c.HadOld, c.Old = true, i%2 == 0, []byte{0, 'o'}
					}
					cs = append(cs, c)
				}
				w := &serverstore.Write{Meta: meta, Expires: time.Now().Add(time.Hour), Clear: clear, Changes: cs,
					User: "u", Binding: &serverstore.Binding{User: "u"}, Header: serverstore.HeaderFlags | serverstore.HeaderAbsolute}
				in, ok := b.update("key", w, cs, "token", time.Now())
				if !ok {
					if n < 100 {
						t.Fatalf("clear %v, check %v: %d changes took the fallback", clear, check, n)
					}
					continue
				}
				for _, e := range []string{*in.UpdateExpression, *in.ConditionExpression} {
					if len(e) > 4096 {
						t.Fatalf("clear %v, check %v, %d changes: an expression of %d bytes", clear, check, n, len(e))
					}
					if ops := operators(e); ops > 300 {
						t.Fatalf("clear %v, check %v, %d changes: %d operators in %.80q…", clear, check, n, ops, e)
					}
				}
			}
		}
	}
}

// operators counts what DynamoDB counts as operators and functions:
// comparators, AND, OR, NOT, functions, and the + of an update.
func operators(e string) int {
	n := 0
	for _, f := range strings.Fields(strings.NewReplacer("(", " ( ", ")", " ) ", ",", " ").Replace(e)) {
		switch f {
		case "=", "<>", "<", "<=", ">", ">=", "AND", "OR", "NOT", "+", "-",
			"attribute_exists", "attribute_not_exists", "if_not_exists", "begins_with", "contains", "size":
			n++
		}
	}
	return n
}
