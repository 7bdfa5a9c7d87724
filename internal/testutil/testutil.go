// Package testutil gives tests real databases: SQLite in a temporary
// directory, and PostgreSQL in a fresh schema when GATEHOUSE_TEST_POSTGRES
// names a server.
package testutil

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// PostgresEnv names the DSN of the PostgreSQL server tests may use.
const PostgresEnv = "GATEHOUSE_TEST_POSTGRES"

// Backends lists the back ends every store test runs against. Without
// PostgreSQL it says loudly that half was skipped; in CI it fails instead.
func Backends(t testing.TB) []string {
	if os.Getenv(PostgresEnv) != "" {
		return []string{"sqlite", "postgres"}
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s is not set: CI must run the PostgreSQL half of the store tests", PostgresEnv)
	}
	warnOnce(t)
	return []string{"sqlite"}
}

var warned atomic.Bool

func warnOnce(t testing.TB) {
	if warned.CompareAndSwap(false, true) {
		fmt.Fprintf(os.Stderr, "\n*** PostgreSQL tests SKIPPED: set %s=postgres://… to run them (CI does). ***\n\n", PostgresEnv)
	}
	t.Logf("PostgreSQL half skipped: %s is not set", PostgresEnv)
}

var schemaSeq atomic.Int64

// NewStore opens an empty, migrated store on the named back end, removed
// when the test ends.
func NewStore(t testing.TB, backend string) *store.Store {
	t.Helper()
	ctx := context.Background()
	var dsn string
	switch backend {
	case "sqlite":
		dsn = filepath.Join(t.TempDir(), "gatehouse.db")
	case "postgres":
		dsn = PostgresDSN(t)
	default:
		t.Fatalf("unknown back end %q", backend)
	}
	st, err := store.Open(ctx, dsn)
	if err != nil {
		t.Fatalf("open %s store: %v", backend, err)
	}
	if err := st.SetSecretKey(bytes.Repeat([]byte{7}, 32)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// PostgresDSN creates a fresh schema on the test server, dropped when the
// test ends, and returns a DSN whose search_path is that schema.
func PostgresDSN(t testing.TB) string {
	t.Helper()
	base := os.Getenv(PostgresEnv)
	if base == "" {
		t.Skipf("%s not set", PostgresEnv)
	}
	ctx := context.Background()
	schema := fmt.Sprintf("t_%d_%d_%d", os.Getpid(), time.Now().UnixNano()%1e9, schemaSeq.Add(1))
	admin, err := sql.Open("pgx", base)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := admin.ExecContext(ctx, "CREATE SCHEMA "+schema); err != nil {
		t.Fatalf("create schema: %v", err)
	}
	t.Cleanup(func() {
		admin.ExecContext(context.Background(), "DROP SCHEMA "+schema+" CASCADE")
		admin.Close()
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}
