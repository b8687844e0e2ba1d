// Package readme holds the programs the repository's README shows. Each
// README code block marked
//
//	<!-- code: quickstart/main.go -->          the whole file
//	<!-- code: servermode/main.go#region -->   the lines between
//	                                           "// readme:begin" and
//	                                           "// readme:end", dedented
//	<!-- code: servermode/main.go#imports -->  the import declaration
//
// just before its ```go fence must equal what this module compiles, so the
// README cannot drift from code that builds (and that .ci/consumer builds
// and runs from a module outside the repository). Rewrite the blocks from
// the files with
//
//	go test ./examples/readme -run README -update
package readme_test

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite README.md's marked code blocks from the files they name")

const readme = "../../README.md"

// block matches a marker and the fenced block after it.
var block = regexp.MustCompile("(?ms)^<!-- code: ([^ #]+?)(?:#(region|imports))? -->\n```go\n(.*?)^```\n")

// maxFrameworkLines is what the README promises for each framework: the
// adapter wired in and a handler that uses the session.
const maxFrameworkLines = 5

func TestREADMECodeMatchesTheFiles(t *testing.T) {
	src, err := os.ReadFile(readme)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	var failed bool
	out := block.ReplaceAllFunc(src, func(m []byte) []byte {
		g := block.FindSubmatch(m)
		name, part, shown := string(g[1]), string(g[2]), string(g[3])
		want, err := code(name, part)
		if err != nil {
			t.Error(err)
			failed = true
			return m
		}
		seen[strings.TrimSuffix(name+"#"+part, "#")] = true
		if shown != want {
			if !*update {
				t.Errorf("README block for %s differs from the file (run: go test ./examples/readme -run README -update)\nREADME:\n%s\nfile:\n%s", name, shown, want)
				failed = true
			}
			fence := bytes.Index(m, []byte("```go\n")) + len("```go\n")
			return []byte(string(m[:fence]) + want + "```\n")
		}
		return m
	})
	for _, name := range []string{"quickstart/main.go", "servermode/main.go#imports", "servermode/main.go#region",
		"chi/main.go#region", "echo/main.go#region", "gin/main.go#region", "fiber/main.go#region",
		"gorilla/main.go#region", "cookiesession/main.go#region", "express/main.go#region"} {
		if !seen[name] {
			t.Errorf("the README shows no block marked <!-- code: %s -->", name)
		}
	}
	for _, fw := range []string{"chi", "echo", "gin", "fiber"} {
		c, err := code(fw+"/main.go", "region")
		if err != nil {
			t.Fatal(err)
		}
		if n := strings.Count(c, "\n"); n > maxFrameworkLines {
			t.Errorf("the README's %s example is %d lines; it promises %d or fewer", fw, n, maxFrameworkLines)
		}
	}
	if *update && !failed && !bytes.Equal(out, src) {
		if err := os.WriteFile(readme, out, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Log("README.md rewritten")
	}
}

// code returns the file (part ""), its region dedented by the region's
// first line's indentation (part "region"), or its import declaration
// (part "imports").
func code(name, part string) (string, error) {
	b, err := os.ReadFile(filepath.FromSlash(name))
	if err != nil {
		return "", fmt.Errorf("README names %s: %v", name, err)
	}
	s := string(b)
	switch part {
	case "":
		return s, nil
	case "imports":
		i := strings.Index(s, "\nimport (\n")
		j := strings.Index(s[i+1:], "\n)\n")
		if i < 0 || j < 0 {
			return "", fmt.Errorf("%s has no import ( … ) declaration", name)
		}
		return s[i+1 : i+1+j+3], nil
	}
	_, rest, ok := strings.Cut(s, "// readme:begin\n")
	body, _, ok2 := strings.Cut(rest, "// readme:end")
	if !ok || !ok2 {
		return "", fmt.Errorf("%s has no // readme:begin … // readme:end region", name)
	}
	lines := strings.Split(strings.TrimRight(body, "\t\n "), "\n")
	indent := lines[0][:len(lines[0])-len(strings.TrimLeft(lines[0], "\t"))]
	var out strings.Builder
	for _, l := range lines {
		out.WriteString(strings.TrimPrefix(l, indent))
		out.WriteByte('\n')
	}
	return out.String(), nil
}
