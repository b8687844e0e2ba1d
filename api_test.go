package session_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// exported counts a package's exported identifiers as the release
// candidate's issue counts them: functions, types, variables and constants,
// methods of exported types (interface methods included), and exported
// fields of exported structs.
func exported(t *testing.T, dir string) (int, []string) {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	var names []string
	add := func(n string) { names = append(names, n) }
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, parser.SkipObjectResolution)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(f.Name.Name, "_") || f.Name.Name == "main" {
			continue
		}
		for _, d := range f.Decls {
			switch d := d.(type) {
			case *ast.FuncDecl:
				if !d.Name.IsExported() {
					continue
				}
				if d.Recv == nil {
					add(d.Name.Name)
					continue
				}
				typ := d.Recv.List[0].Type
				if s, ok := typ.(*ast.StarExpr); ok {
					typ = s.X
				}
				if id, ok := typ.(*ast.Ident); ok && id.IsExported() {
					add(id.Name + "." + d.Name.Name)
				}
			case *ast.GenDecl:
				for _, s := range d.Specs {
					switch s := s.(type) {
					case *ast.ValueSpec:
						for _, n := range s.Names {
							if n.IsExported() {
								add(n.Name)
							}
						}
					case *ast.TypeSpec:
						if !s.Name.IsExported() {
							continue
						}
						add(s.Name.Name)
						if s.Assign != 0 {
							continue // an alias: its members are counted where it is defined
						}
						var fields *ast.FieldList
						switch typ := s.Type.(type) {
						case *ast.StructType:
							fields = typ.Fields
						case *ast.InterfaceType:
							fields = typ.Methods
						}
						if fields == nil {
							continue
						}
						for _, fl := range fields.List {
							for _, n := range fl.Names { // embedded fields are not counted
								if n.IsExported() {
									add(s.Name.Name + "." + n.Name)
								}
							}
						}
					}
				}
			}
		}
	}
	return len(names), names
}

// TestExportedIdentifiers holds the root package to what an application
// author writes, and prints the counts of both audiences' packages:
//
//	go test -run ExportedIdentifiers -v .
func TestExportedIdentifiers(t *testing.T) {
	const limit = 90
	n, names := exported(t, ".")
	d, _ := exported(t, "driver")
	t.Logf("package session: %d exported identifiers (limit %d); package driver: %d", n, limit, d)
	if n > limit {
		t.Errorf("package session exports %d identifiers, more than %d:\n%s", n, limit, strings.Join(names, "\n"))
	}
	if _, err := os.Stat("driver"); err != nil {
		t.Fatal(err)
	}
}
