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
						typ := s.Type
						if s.Assign != 0 {
							// An alias of another crumbs package's type:
							// its members are this package's API too.
							typ = aliased(t, f, s.Type)
						}
						var fields *ast.FieldList
						switch typ := typ.(type) {
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

// aliased returns the type an alias (type X = pkg.Y) names, when pkg is a
// package of this module; otherwise the alias's own expression.
func aliased(t *testing.T, f *ast.File, expr ast.Expr) ast.Expr {
	t.Helper()
	sel, ok := expr.(*ast.SelectorExpr)
	if !ok {
		return expr
	}
	pkg, _ := sel.X.(*ast.Ident)
	for _, imp := range f.Imports {
		path := strings.Trim(imp.Path.Value, `"`)
		dir, ok := strings.CutPrefix(path, "github.com/crumbs-go/session/")
		if !ok || pkg == nil || filepath.Base(path) != pkg.Name {
			continue
		}
		files, _ := filepath.Glob(filepath.Join(dir, "*.go"))
		for _, name := range files {
			if strings.HasSuffix(name, "_test.go") {
				continue
			}
			g, err := parser.ParseFile(token.NewFileSet(), name, nil, parser.SkipObjectResolution)
			if err != nil {
				t.Fatal(err)
			}
			for _, d := range g.Decls {
				if gd, ok := d.(*ast.GenDecl); ok {
					for _, spec := range gd.Specs {
						if ts, ok := spec.(*ast.TypeSpec); ok && ts.Name.Name == sel.Sel.Name {
							return ts.Type
						}
					}
				}
			}
		}
	}
	return expr
}

// TestExportedIdentifiers holds the root package to what an application
// author writes, and prints the counts of both audiences' packages:
//
//	go test -run ExportedIdentifiers -v .
//
// The limit was 90 at the release-candidate cut; express-session's
// req.session.cookie (CookieInfo: its type, four fields and
// Session.Cookie) and Cookie.Priority raised it to 96, WithStoreTimeout
// (the deadline of store calls that a client's disconnect does not cancel)
// to 97.
func TestExportedIdentifiers(t *testing.T) {
	const limit = 97
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
