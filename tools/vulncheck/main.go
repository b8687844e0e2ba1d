// Command vulncheck reads govulncheck's JSON stream (govulncheck -json) on
// its standard input and fails when the code calls a vulnerable function of
// a module it requires: those are ours to fix, by raising a requirement.
// Vulnerabilities of the standard library are the toolchain's: they are
// listed, with the Go release that fixes them, and do not fail, because a
// library cannot choose the Go its users build with (the README asks for a
// patched release).
//
//	govulncheck -json -db file:///path/to/db github.com/crumbs-go/session/... | go run ./tools/vulncheck
package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sort"
)

type message struct {
	Finding *struct {
		OSV          string `json:"osv"`
		FixedVersion string `json:"fixed_version"`
		Trace        []struct {
			Module   string `json:"module"`
			Version  string `json:"version"`
			Package  string `json:"package"`
			Function string `json:"function"`
		} `json:"trace"`
	} `json:"finding"`
}

func main() {
	dec := json.NewDecoder(os.Stdin)
	modules, stdlib := map[string]string{}, map[string]string{}
	n := 0
	for {
		var m message
		if err := dec.Decode(&m); err == io.EOF {
			break
		} else if err != nil {
			fmt.Fprintln(os.Stderr, "vulncheck: reading govulncheck's output:", err)
			os.Exit(2)
		}
		n++
		f := m.Finding
		if f == nil || len(f.Trace) == 0 || f.Trace[0].Function == "" {
			continue // not called: govulncheck reports it as informational
		}
		t := f.Trace[0]
		line := fmt.Sprintf("%s: %s@%s, fixed in %s", f.OSV, t.Module, t.Version, f.FixedVersion)
		if t.Module == "stdlib" {
			stdlib[f.OSV] = line
		} else {
			modules[f.OSV] = line
		}
	}
	if n == 0 {
		fmt.Fprintln(os.Stderr, "vulncheck: no input: run govulncheck -json")
		os.Exit(2)
	}
	for _, l := range sorted(stdlib) {
		fmt.Println("standard library (build with a patched Go):", l)
	}
	for _, l := range sorted(modules) {
		fmt.Println("CALLED:", l)
	}
	if len(modules) > 0 {
		fmt.Printf("vulncheck: the code calls %d vulnerable functions of required modules: raise those requirements\n", len(modules))
		os.Exit(1)
	}
	fmt.Printf("vulncheck: no called vulnerability in a required module (%d in the standard library of this toolchain)\n", len(stdlib))
}

func sorted(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for _, v := range m {
		out = append(out, v)
	}
	sort.Strings(out)
	return out
}
