package flowtest

import (
	"net/http/httptest"
	"testing"
)

// The reference passes its own flows, the same steps on every run; a
// server that drops a chunk's Set-Cookie line differs from it.
func TestReference(t *testing.T) {
	for _, mode := range []string{"cookie", "memory"} {
		t.Run(mode, func(t *testing.T) {
			run := func() []Step {
				srv := httptest.NewServer(Reference(Manager(t, mode)))
				defer srv.Close()
				return Run(t, srv.URL, mode == "cookie")
			}
			first, second := run(), run()
			Compare(t, first, second)
			if t.Failed() {
				return
			}
			most := 0
			for _, st := range first {
				most = max(most, len(st.Cookies))
			}
			if mode == "cookie" && most < 3 {
				t.Fatalf("no response set 3 or more cookies (at most %d): the cart never spread over chunks", most)
			}
		})
	}
}
