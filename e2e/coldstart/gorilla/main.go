// Command gorilla is the cold-start probe for gorilla/sessions' CookieStore
// (signed and encrypted): one sealed response, then print its size and exit.
package main

import (
	"bytes"
	"fmt"
	"net/http/httptest"
	"os"
	"strings"

	"github.com/gorilla/sessions"
)

func main() {
	store := sessions.NewCookieStore(bytes.Repeat([]byte("c"), 32), bytes.Repeat([]byte("b"), 32))
	r := httptest.NewRequest("GET", "/", nil)
	w := httptest.NewRecorder()
	s, err := store.Get(r, "session")
	if err != nil {
		panic(err)
	}
	s.Values["user"] = "ada"
	if err := s.Save(r, w); err != nil {
		panic(err)
	}
	fmt.Println(len(w.Header().Get("Set-Cookie")), peakRSS())
}

// peakRSS is this process's high-water resident set (VmHWM), in KiB. The
// parent's rusage would count the pre-exec copy of the parent too.
func peakRSS() string {
	b, _ := os.ReadFile("/proc/self/status")
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			return strings.TrimSuffix(strings.TrimSpace(v), " kB")
		}
	}
	return "0"
}
