package layers

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
)

// goFile is one parsed file of the module.
type goFile struct {
	pkg  string // the package's path relative to the module
	path string
	test bool
	ast  *ast.File
}

// moduleFiles parses every Go file of the module (testdata and hidden
// folders left out).
func moduleFiles(t *testing.T) []goFile {
	t.Helper()
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Fatalf("module root not found at %s: %v", root, err)
	}
	var files []goFile
	fset := token.NewFileSet()
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if n := d.Name(); path != root && (strings.HasPrefix(n, ".") || n == "testdata" || n == "node_modules") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, filepath.Dir(path))
		files = append(files, goFile{pkg: filepath.ToSlash(rel), path: path, test: strings.HasSuffix(path, "_test.go"), ast: f})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 100 {
		t.Fatalf("found only %d Go files under %s: the walk is broken", len(files), root)
	}
	return files
}

func imports(f goFile) []string {
	var out []string
	for _, is := range f.ast.Imports {
		p, _ := strconv.Unquote(is.Path.Value)
		if rest, ok := strings.CutPrefix(p, Module); ok {
			out = append(out, rest)
		}
	}
	return out
}

// TestImportDirection fails when a package imports a package of the module
// that ARCHITECTURE.md's table (Allowed) does not let it import.
func TestImportDirection(t *testing.T) {
	seen := map[string]bool{}
	for _, f := range moduleFiles(t) {
		seen[f.pkg] = true
		for _, imp := range imports(f) {
			for _, never := range NeverFromTests {
				if f.pkg == never[0] && imp == never[1] {
					t.Errorf("%s imports %s: %s and %s never import each other (share through usecase, model or listquery)",
						f.path, imp, never[0], never[1])
				}
			}
			if f.test || imp == f.pkg {
				continue
			}
			allowed, known := Allowed[f.pkg]
			if !known {
				continue // reported once below
			}
			if !slices.Contains(allowed, imp) {
				t.Errorf("%s imports %s, against the direction of ARCHITECTURE.md (%s may import: %s)",
					f.path, imp, f.pkg, strings.Join(allowed, ", "))
			}
		}
	}
	var unknown []string
	for p := range seen {
		if _, ok := Allowed[p]; !ok {
			unknown = append(unknown, p)
		}
	}
	sort.Strings(unknown)
	for _, p := range unknown {
		t.Errorf("package %s has no row in layers.Allowed: give it a layer (ARCHITECTURE.md, \"Where a new module's code goes\")", p)
	}
}

// TestAllowedHasNoCycle keeps the table itself a direction: a cycle would let
// two layers lean on each other.
func TestAllowedHasNoCycle(t *testing.T) {
	state := map[string]int{} // 1 visiting, 2 done
	var visit func(p string, path []string)
	visit = func(p string, path []string) {
		switch state[p] {
		case 1:
			t.Errorf("cycle in layers.Allowed: %s", strings.Join(append(path, p), " → "))
			return
		case 2:
			return
		}
		state[p] = 1
		for _, q := range Allowed[p] {
			visit(q, append(path, p))
		}
		state[p] = 2
	}
	for p := range Allowed {
		visit(p, nil)
	}
}

// storeReads are the store methods a handler may call directly: reads,
// scoped by the store to the caller's subtree. Any other store method is
// taken for a write (deny by default), which belongs in a use case.
var storeReads = regexp.MustCompile(`^((Get|List|Count)[A-Z].*|PaymentGate|EndUserSearchTypes|PasswordTokenAccount|AutoPPreview|RolloutProgress|DeviceUpgrades|InstallerDeletionImpact|InvoiceFor|Now|Dialect)$`)

// TestTransportsWriteThroughUseCases fails when a portal or API handler calls
// a store method that is not a read: every write is a use case
// (internal/usecase), the one place where its rules, transaction and side
// effects live. Reads may call the tenancy-scoped store directly.
func TestTransportsWriteThroughUseCases(t *testing.T) {
	calls := 0
	for _, f := range moduleFiles(t) {
		if f.test || (f.pkg != "internal/api" && f.pkg != "internal/web") {
			continue
		}
		ast.Inspect(f.ast, func(n ast.Node) bool {
			call, ok := n.(*ast.CallExpr)
			if !ok {
				return true
			}
			sel, ok := call.Fun.(*ast.SelectorExpr)
			if !ok || !isStore(sel.X) {
				return true
			}
			calls++
			if !storeReads.MatchString(sel.Sel.Name) {
				t.Errorf("%s: a handler calls the store's %s, which is not a read: make it a use case in internal/usecase", f.path, sel.Sel.Name)
			}
			return true
		})
	}
	if calls == 0 {
		t.Fatal("found no store call in api or web: isStore no longer recognises how handlers name the store")
	}
}

// isStore recognises the store as the transports name it: a.Store, w.store, st.
func isStore(e ast.Expr) bool {
	switch x := e.(type) {
	case *ast.SelectorExpr:
		return x.Sel.Name == "Store" || x.Sel.Name == "store" || x.Sel.Name == "st"
	case *ast.Ident: // not "store": that is the package, whose functions are pure
		return x.Name == "st"
	}
	return false
}
