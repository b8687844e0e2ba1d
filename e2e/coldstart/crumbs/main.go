// Command crumbs is the cold-start probe for crumbs cookie mode: from
// process start, build the store and middleware and produce one sealed
// response, then print the Set-Cookie size and exit.
package main

import (
	"bytes"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"

	"github.com/crumbs-go/session"
	"github.com/crumbs-go/session/cookiestore"
)

func main() {
	store, err := cookiestore.New([][]byte{bytes.Repeat([]byte("c"), 32)})
	if err != nil {
		panic(err)
	}
	m, err := session.New(store, session.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		panic(err)
	}
	w := httptest.NewRecorder()
	m.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		session.From(r).Set("user", "ada")
	})).ServeHTTP(w, httptest.NewRequest("GET", "/", nil))
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
