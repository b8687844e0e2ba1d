// Command modproxy writes a Go module proxy, in the layout GOPROXY=file://
// reads, holding the modules of this repository as they stand in the
// working tree, each at one version. It stands in for the public proxy
// before a release, so that a module outside the repository can require
// them with `go get` (the consumer check in .ci/consumer) and so that the
// go.mod and go.sum files can be tidied as a consumer sees them (.ci/tidy).
//
//	go run github.com/crumbs-go/session/tools/modproxy -o DIR [-version v0.1.0] MODULE_DIR...
//
// Each MODULE_DIR holds a go.mod. Its zip is made the way the go command
// makes one from a VCS tag (golang.org/x/mod/zip.CreateFromDir): nested
// modules, vendor directories and VCS metadata are left out, and the limits
// of the module zip format are checked; a module in a subdirectory without
// a LICENSE gets the repository root's, as the go command adds it. For
// each module, DIR receives @v/list, @v/VERSION.info, @v/VERSION.mod and
// @v/VERSION.zip, and the command prints the module's path and its go.sum hashes.
//
// The versions are in no checksum database (they are not released), so the
// proxy's users set GONOSUMDB=github.com/crumbs-go; go.sum still records
// and checks their hashes.
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"golang.org/x/mod/modfile"
	"golang.org/x/mod/module"
	"golang.org/x/mod/semver"
	"golang.org/x/mod/sumdb/dirhash"
	modzip "golang.org/x/mod/zip"
)

func main() {
	out := flag.String("o", "", "the proxy's directory (created; existing versions of the same modules are replaced)")
	version := flag.String("version", "v0.1.0", "the version every module is published at")
	stamp := flag.String("time", "", "the versions' time, RFC 3339 (default: now)")
	flag.Usage = func() {
		fmt.Fprintf(flag.CommandLine.Output(), "usage: modproxy -o DIR [-version v0.1.0] [-time RFC3339] MODULE_DIR...\n")
		flag.PrintDefaults()
	}
	flag.Parse()
	if *out == "" || flag.NArg() == 0 {
		flag.Usage()
		os.Exit(2)
	}
	at := time.Now().UTC()
	if *stamp != "" {
		t, err := time.Parse(time.RFC3339, *stamp)
		if err != nil {
			fatal(fmt.Errorf("-time: %w", err))
		}
		at = t.UTC()
	}
	for _, dir := range flag.Args() {
		m, err := Publish(*out, dir, *version, at)
		if err != nil {
			fatal(err)
		}
		fmt.Printf("%s %s %s\n%s %s/go.mod %s\n", m.Path, m.Version, m.ZipHash, m.Path, m.Version, m.ModHash)
	}
}

func fatal(err error) {
	fmt.Fprintln(os.Stderr, "modproxy:", err)
	os.Exit(1)
}

// withRootLicense returns the directory to zip for the module in dir. The
// go command, zipping a tag of a module that lives in a subdirectory of its
// repository and has no LICENSE file, adds the repository root's LICENSE
// (cmd/go/internal/modfetch, coderepo.go); so that the zip and its go.sum
// hash are those of the released version, such a module is copied to a
// temporary directory with that LICENSE added. The repository root is the
// nearest parent holding .git.
func withRootLicense(dir string) (string, func(), error) {
	none := func() {}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", none, err
	}
	if _, err := os.Lstat(filepath.Join(abs, "LICENSE")); err == nil {
		return dir, none, nil
	}
	root := abs
	for {
		if _, err := os.Lstat(filepath.Join(root, ".git")); err == nil {
			break
		}
		parent := filepath.Dir(root)
		if parent == root {
			return dir, none, nil // not in a repository
		}
		root = parent
	}
	license, err := os.ReadFile(filepath.Join(root, "LICENSE"))
	if root == abs || errors.Is(err, os.ErrNotExist) {
		return dir, none, nil
	}
	if err != nil {
		return "", none, err
	}
	tmp, err := os.MkdirTemp("", "modproxy-")
	if err != nil {
		return "", none, err
	}
	cleanup := func() { os.RemoveAll(tmp) }
	copyDir := filepath.Join(tmp, "module")
	if err := os.CopyFS(copyDir, os.DirFS(abs)); err != nil {
		cleanup()
		return "", none, err
	}
	if err := os.WriteFile(filepath.Join(copyDir, "LICENSE"), license, 0o644); err != nil {
		cleanup()
		return "", none, err
	}
	return copyDir, cleanup, nil
}

// Published is one module version written to a proxy directory, with the
// hashes go.sum records for it.
type Published struct {
	Path, Version    string
	ZipHash, ModHash string // "h1:…"
}

// Publish writes the module in dir to the proxy directory out at version.
func Publish(out, dir, version string, at time.Time) (*Published, error) {
	if !semver.IsValid(version) || semver.Canonical(version) != version {
		return nil, fmt.Errorf("version %q: want a canonical semantic version such as v0.1.0", version)
	}
	gomod, err := os.ReadFile(filepath.Join(dir, "go.mod"))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", dir, err)
	}
	path := modfile.ModulePath(gomod)
	if path == "" {
		return nil, fmt.Errorf("%s/go.mod names no module", dir)
	}
	mv := module.Version{Path: path, Version: version}
	if err := module.Check(path, version); err != nil {
		return nil, err
	}
	esc, err := module.EscapePath(path)
	if err != nil {
		return nil, err
	}
	vdir := filepath.Join(out, filepath.FromSlash(esc), "@v")
	if err := os.MkdirAll(vdir, 0o755); err != nil {
		return nil, err
	}
	base := filepath.Join(vdir, version)

	src, cleanup, err := withRootLicense(dir)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	defer cleanup()
	zipPath := base + ".zip"
	if err := writeFile(zipPath, func(w io.Writer) error { return modzip.CreateFromDir(w, mv, src) }); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if err := os.WriteFile(base+".mod", gomod, 0o644); err != nil {
		return nil, err
	}
	info, _ := json.Marshal(struct {
		Version string
		Time    string
	}{version, at.Format(time.RFC3339)})
	if err := os.WriteFile(base+".info", info, 0o644); err != nil {
		return nil, err
	}
	if err := addToList(filepath.Join(vdir, "list"), version); err != nil {
		return nil, err
	}

	zipHash, err := dirhash.HashZip(zipPath, dirhash.Hash1)
	if err != nil {
		return nil, err
	}
	modHash, err := dirhash.Hash1([]string{"go.mod"}, func(string) (io.ReadCloser, error) {
		return os.Open(base + ".mod")
	})
	if err != nil {
		return nil, err
	}
	return &Published{Path: path, Version: version, ZipHash: zipHash, ModHash: modHash}, nil
}

// writeFile writes a file through fill, removing it when fill fails.
func writeFile(name string, fill func(io.Writer) error) error {
	f, err := os.Create(name)
	if err != nil {
		return err
	}
	err = fill(f)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(name)
	}
	return err
}

// addToList adds version to a proxy's @v/list file, once.
func addToList(name, version string) error {
	b, err := os.ReadFile(name)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	versions := strings.Fields(string(b))
	if slices.Contains(versions, version) {
		return nil
	}
	versions = append(versions, version)
	semver.Sort(versions)
	return os.WriteFile(name, []byte(strings.Join(versions, "\n")+"\n"), 0o644)
}
