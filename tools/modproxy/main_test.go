package main

import (
	"archive/zip"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// tree writes files (path → content) under a new directory.
func tree(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, body := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// The zip holds the module's files and none of a nested module's, and the
// go command, reading the proxy through GOPROXY=file://, downloads it
// with the hashes Publish printed.
func TestPublishServesTheGoCommand(t *testing.T) {
	src := tree(t, map[string]string{
		"go.mod":              "module example.com/crumbsproxytest\n\ngo 1.26.0\n",
		"a.go":                "package crumbsproxytest\n\nconst A = 1\n",
		"sub/b.go":            "package sub\n",
		"nested/go.mod":       "module example.com/crumbsproxytest/nested\n\ngo 1.26.0\n",
		"nested/c.go":         "package nested\n",
		".git/config":         "[core]\n",
		"testdata/vector.txt": "x\n",
	})
	out := t.TempDir()
	at := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	p, err := Publish(out, src, "v0.1.0", at)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Publish(out, filepath.Join(src, "nested"), "v0.1.0", at); err != nil {
		t.Fatal(err)
	}

	vdir := filepath.Join(out, "example.com", "crumbsproxytest", "@v")
	zr, err := zip.OpenReader(filepath.Join(vdir, "v0.1.0.zip"))
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	var names []string
	for _, f := range zr.File {
		names = append(names, strings.TrimPrefix(f.Name, "example.com/crumbsproxytest@v0.1.0/"))
	}
	slices.Sort(names)
	if want := []string{"a.go", "go.mod", "sub/b.go", "testdata/vector.txt"}; !slices.Equal(names, want) {
		t.Errorf("zip holds %q, want %q", names, want)
	}
	var info struct{ Version, Time string }
	b, _ := os.ReadFile(filepath.Join(vdir, "v0.1.0.info"))
	if err := json.Unmarshal(b, &info); err != nil || info.Version != "v0.1.0" || info.Time != "2026-12-01T00:00:00Z" {
		t.Errorf("info %s (%v)", b, err)
	}

	// A second version is listed beside the first, in order.
	if _, err := Publish(out, src, "v0.0.9", at); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(vdir, "list")); string(b) != "v0.0.9\nv0.1.0\n" {
		t.Errorf("list %q", b)
	}

	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(gobin, "mod", "download", "-json", "example.com/crumbsproxytest@v0.1.0")
	cmd.Dir = t.TempDir()
	cache := t.TempDir()
	cmd.Env = append(os.Environ(), "GOWORK=off", "GOFLAGS=-modcacherw", "GOMODCACHE="+cache,
		"GOPROXY=file://"+filepath.ToSlash(out), "GONOSUMDB=example.com", "GOSUMDB=off")
	got, err := cmd.Output()
	if err != nil {
		t.Fatalf("go mod download: %v\n%s", err, got)
	}
	var dl struct{ Sum, GoModSum string }
	if err := json.Unmarshal(got, &dl); err != nil {
		t.Fatalf("%v: %s", err, got)
	}
	if dl.Sum != p.ZipHash || dl.GoModSum != p.ModHash {
		t.Errorf("the go command got %s, %s; Publish said %s, %s", dl.Sum, dl.GoModSum, p.ZipHash, p.ModHash)
	}
}

func TestPublishRefuses(t *testing.T) {
	src := tree(t, map[string]string{"go.mod": "module example.com/x\n", "x.go": "package x\n"})
	for _, v := range []string{"0.1.0", "v0.1", "v0.1.0+meta"} {
		if _, err := Publish(t.TempDir(), src, v, time.Now()); err == nil {
			t.Errorf("version %q accepted", v)
		}
	}
	if _, err := Publish(t.TempDir(), t.TempDir(), "v0.1.0", time.Now()); err == nil {
		t.Error("a directory without go.mod accepted")
	}
	big := tree(t, map[string]string{"go.mod": "module example.com/x\n", "X.go": "package x\n", "x.go": "package x\n"})
	if _, err := Publish(t.TempDir(), big, "v0.1.0", time.Now()); err == nil {
		t.Error("files that differ only in case accepted")
	}
}

// A module in a subdirectory of a repository gets the repository root's
// LICENSE in its zip when it has none of its own, as the go command does
// when it zips a tag (cmd/go/internal/modfetch, coderepo.go), so that the
// go.sum hashes of the proxy's zips are those of the released versions.
func TestPublishAddsTheRootLicense(t *testing.T) {
	src := tree(t, map[string]string{
		".git/config":    "[core]\n",
		"LICENSE":        "root licence\n",
		"go.mod":         "module example.com/crumbslicense\n\ngo 1.26.0\n",
		"sub/go.mod":     "module example.com/crumbslicense/sub\n\ngo 1.26.0\n",
		"sub/a.go":       "package sub\n",
		"own/go.mod":     "module example.com/crumbslicense/own\n\ngo 1.26.0\n",
		"own/LICENSE":    "own licence\n",
		"deep/x/go.mod":  "module example.com/crumbslicense/deep/x\n\ngo 1.26.0\n",
		"deep/x/main.go": "package x\n",
	})
	out := t.TempDir()
	for _, tc := range []struct{ dir, module, want string }{
		{"sub", "sub", "root licence\n"},
		{"own", "own", "own licence\n"},
		{"deep/x", "deep/x", "root licence\n"},
		{".", "", "root licence\n"},
	} {
		if _, err := Publish(out, filepath.Join(src, filepath.FromSlash(tc.dir)), "v0.1.0", time.Now()); err != nil {
			t.Fatal(err)
		}
		zr, err := zip.OpenReader(filepath.Join(out, "example.com", "crumbslicense", filepath.FromSlash(tc.module), "@v", "v0.1.0.zip"))
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, f := range zr.File {
			if strings.HasSuffix(f.Name, "/LICENSE") {
				rc, _ := f.Open()
				b := new(strings.Builder)
				_, _ = io.Copy(b, rc)
				rc.Close()
				got = append(got, f.Name+": "+b.String())
			}
		}
		zr.Close()
		prefix := "example.com/crumbslicense"
		if tc.module != "" {
			prefix += "/" + tc.module
		}
		want := []string{prefix + "@v0.1.0/LICENSE: " + tc.want}
		if !slices.Equal(got, want) {
			t.Errorf("%s: licenses in the zip %q, want %q", tc.dir, got, want)
		}
	}
}
