package store_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/store"
	"github.com/gatehouse-dev/gatehouse/internal/testutil"
)

// emptyDSN is a database of the back end with nothing in it, removed when
// the test ends.
func emptyDSN(t *testing.T, backend string) string {
	if backend == "postgres" {
		return testutil.PostgresDSN(t)
	}
	return filepath.Join(t.TempDir(), "gatehouse.db")
}

func dbVersion(t *testing.T, st *store.Store) int64 {
	t.Helper()
	var v int64
	if err := st.DB().QueryRow(`SELECT max(version_id) FROM goose_db_version`).Scan(&v); err != nil {
		t.Fatal(err)
	}
	return v
}

// TestMigrateFromEveryVersion: Open brings a database left at any earlier
// version (as an older binary left it) up to the newest, and opens an up to
// date one as it is. Migrations are applied in order only: in order from
// any version is what every installation does. (PostgreSQL, slower to
// migrate, starts from three: the first, 18 and the one before the newest.)
func TestMigrateFromEveryVersion(t *testing.T) {
	for _, backend := range testutil.Backends(t) {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			st, err := store.Open(ctx, emptyDSN(t, backend))
			if err != nil {
				t.Fatal(err)
			}
			newest := dbVersion(t, st)
			st.Close()
			versions := []int64{1, 18, newest - 1}
			if backend == "sqlite" {
				versions = nil
				for v := int64(1); v <= newest; v++ {
					versions = append(versions, v)
				}
			}
			for _, v := range versions {
				dsn := emptyDSN(t, backend)
				old, err := store.OpenAt(ctx, dsn, v)
				if err != nil {
					t.Fatalf("open at version %d: %v", v, err)
				}
				old.Close()
				for range 2 { // the second finds it up to date
					st, err := store.Open(ctx, dsn)
					if err != nil {
						t.Fatalf("open a database at version %d: %v", v, err)
					}
					if got := dbVersion(t, st); got != newest {
						t.Errorf("a database at version %d is at %d after Open, want %d", v, got, newest)
					}
					st.Close()
				}
			}
		})
	}
}

// TestMigrateRefusesAGap: a database that lacks a migration below its
// newest (one that an older binary applied out of order would not lack;
// one restored in part, or changed by hand, may) is refused, naming the
// version, instead of applying it on a schema it was not written for. One
// whose versions were applied in another order, but all of them, opens.
func TestMigrateRefusesAGap(t *testing.T) {
	for _, backend := range testutil.Backends(t) {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			dsn := emptyDSN(t, backend)
			st, err := store.Open(ctx, dsn)
			if err != nil {
				t.Fatal(err)
			}
			// Applied out of order by an older binary: 17 after 19.
			if _, err := st.DB().Exec(`UPDATE goose_db_version SET id = id + 1000 WHERE version_id = 17`); err != nil {
				t.Fatal(err)
			}
			st.Close()
			if st, err = store.Open(ctx, dsn); err != nil {
				t.Fatalf("a database with every version, applied out of order: %v", err)
			}
			if _, err := st.DB().Exec(`DELETE FROM goose_db_version WHERE version_id IN (5, 12)`); err != nil {
				t.Fatal(err)
			}
			st.Close()
			_, err = store.Open(ctx, dsn)
			if err == nil || !strings.Contains(err.Error(), "lacks migration 00005, 00012, below its newest applied version") ||
				!strings.Contains(err.Error(), "in order only") {
				t.Fatalf("Open of a database without versions 5 and 12: %v, want a refusal naming them", err)
			}
		})
	}
}

// TestKeysNotNullMigration: on SQLite, version 20 makes the key columns
// that are not the rowid NOT NULL, keeping the rows, indexes and planner
// statistics of their tables; a row with a NULL key (which no query can
// find) is left behind.
func TestKeysNotNullMigration(t *testing.T) {
	ctx := context.Background()
	dsn := emptyDSN(t, "sqlite")
	old, err := store.OpenAt(ctx, dsn, 19)
	if err != nil {
		t.Fatal(err)
	}
	db := old.DB()
	for _, q := range []string{
		`INSERT INTO accounts (id, role, username, created_at, updated_at) VALUES (7, 'subdistributor', 'sub', '2025-01-01 00:00:00', '2025-01-01 00:00:00')`,
		`INSERT INTO sessions (token_hash, account_id, csrf_token, created_at, last_seen_at, expires_at)
			VALUES ('t1', 7, 'c', '2025-01-01 00:00:00', '2025-01-01 00:00:00', '2099-01-01 00:00:00')`,
		`INSERT INTO sessions (token_hash, account_id, csrf_token, created_at, last_seen_at, expires_at)
			VALUES (NULL, 7, 'c', '2025-01-01 00:00:00', '2025-01-01 00:00:00', '2099-01-01 00:00:00')`,
		`INSERT INTO customer_service (subdistributor_id, email, updated_at) VALUES (7, 'help@example.com', '2025-01-01 00:00:00')`,
		`ANALYZE`,
	} {
		if _, err := db.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	old.Close()

	st, err := store.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	db = st.DB()
	var sessions, nulls, stats int
	var email string
	if err := db.QueryRow(`SELECT count(*), count(*) FILTER (WHERE token_hash IS NULL) FROM sessions`).Scan(&sessions, &nulls); err != nil {
		t.Fatal(err)
	}
	if sessions != 1 || nulls != 0 {
		t.Errorf("sessions after the migration: %d, %d with a NULL key; want the one with a key", sessions, nulls)
	}
	if err := db.QueryRow(`SELECT email FROM customer_service WHERE subdistributor_id = 7`).Scan(&email); err != nil || email != "help@example.com" {
		t.Errorf("customer service after the migration: %q, %v", email, err)
	}
	if err := db.QueryRow(`SELECT count(*) FROM sqlite_stat1 WHERE tbl = 'sessions'`).Scan(&stats); err != nil || stats == 0 {
		t.Errorf("sessions' planner statistics: %d rows, %v", stats, err)
	}
	for _, idx := range []string{"sessions_account", "sessions_expires"} {
		var n int
		if err := db.QueryRow(`SELECT count(*) FROM sqlite_schema WHERE type = 'index' AND name = ? AND tbl_name = 'sessions'`, idx).Scan(&n); err != nil || n != 1 {
			t.Errorf("index %s after the migration: %d, %v", idx, n, err)
		}
	}
	_, err = db.Exec(`INSERT INTO sessions (token_hash, account_id, csrf_token, created_at, last_seen_at, expires_at)
		VALUES (NULL, 7, 'c', '2025-01-01 00:00:00', '2025-01-01 00:00:00', '2099-01-01 00:00:00')`)
	if err == nil || !strings.Contains(err.Error(), "NOT NULL") {
		t.Errorf("a session with a NULL key after the migration: %v, want a NOT NULL failure", err)
	}
	// Foreign keys are back on: the rebuilt table's are enforced.
	if _, err := db.Exec(`INSERT INTO billing_info (account_id, updated_at) VALUES (999, '2025-01-01 00:00:00')`); err == nil {
		t.Error("billing information of an account that does not exist was stored")
	}
}

// TestSchemaParityMigrationRedo: version 20 goes down and up again on both
// engines, and leaves the index the device lists name.
func TestSchemaParityMigrationRedo(t *testing.T) {
	eachBackend(t, func(t *testing.T, st *store.Store) {
		if err := store.RedoMigration(context.Background(), st, 20); err != nil {
			t.Fatal(err)
		}
		q := `SELECT count(*) FROM sqlite_schema WHERE type = 'index' AND name = 'projects_kind_name'`
		if st.Dialect() == store.Postgres {
			q = `SELECT count(*) FROM pg_indexes WHERE schemaname = current_schema() AND indexname IN ('projects_kind_name', 'projects_kind_name_id')`
		}
		var n int
		if err := st.DB().QueryRow(q).Scan(&n); err != nil || n != 1 {
			t.Errorf("projects' kind and name indexes after version 20 again: %d, %v; want projects_kind_name alone", n, err)
		}
	})
}
