package store_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/store"
	"github.com/gatehouse-dev/gatehouse/internal/testutil"
)

// TestQueryIndexesExist: every index a query names (SQLite's INDEXED BY,
// indexes.go) exists on its table in the migrated schema of both engines,
// so a migration that renames or drops one fails here rather than a list in
// production ("no such index").
func TestQueryIndexesExist(t *testing.T) {
	if len(store.QueryIndexes) == 0 {
		t.Fatal("no query indexes")
	}
	eachBackend(t, func(t *testing.T, st *store.Store) {
		q := `SELECT tbl_name FROM sqlite_schema WHERE type = 'index' AND name = $1`
		if st.Dialect() == store.Postgres {
			q = `SELECT tablename FROM pg_indexes WHERE schemaname = current_schema() AND indexname = $1`
		}
		for index, table := range store.QueryIndexes {
			var got string
			if err := st.DB().QueryRow(q, index).Scan(&got); err != nil {
				t.Errorf("index %s (indexes.go): %v: a migration renamed or dropped it; queries name it", index, err)
			} else if got != table {
				t.Errorf("index %s (indexes.go) is on table %s, want %s", index, got, table)
			}
		}
	})
}

// TestQueriesNameIndexesThroughConstants: no file of the store but
// indexes.go writes an INDEXED BY or an index's name in a string, so that
// TestQueryIndexesExist sees every index a query names.
func TestQueriesNameIndexesThroughConstants(t *testing.T) {
	lite, err := readSQLiteSchema(t.Context(), testutil.NewStore(t, "sqlite").DB())
	if err != nil {
		t.Fatal(err)
	}
	indexes := map[string]bool{}
	for _, tbl := range lite.tables {
		for name := range tbl.indexes {
			indexes[name] = true
		}
	}
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	checked := 0
	for _, file := range files {
		if strings.HasSuffix(file, "_test.go") || file == "indexes.go" {
			continue
		}
		f, err := parser.ParseFile(fset, file, nil, parser.SkipObjectResolution)
		if err != nil {
			t.Fatal(err)
		}
		checked++
		ast.Inspect(f, func(n ast.Node) bool {
			lit, ok := n.(*ast.BasicLit)
			if !ok || lit.Kind != token.STRING {
				return true
			}
			s, err := strconv.Unquote(lit.Value)
			if err != nil {
				return true
			}
			if strings.Contains(strings.ToUpper(s), "INDEXED BY") || indexes[strings.TrimSpace(s)] {
				t.Errorf("%s: %s names an index: use indexedBy and a constant of indexes.go", fset.Position(lit.Pos()), lit.Value)
			}
			return true
		})
	}
	if checked == 0 {
		t.Fatal("no source file checked")
	}
}
