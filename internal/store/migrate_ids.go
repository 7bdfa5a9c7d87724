package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"fmt"
	"regexp"
	"strings"

	"github.com/pressly/goose/v3"
)

// Ids are never handed out twice, on either engine: an audit entry, a URL,
// a device's memory of the command ids it executed, a row of another table
// that outlived its parent would otherwise reach a new object that happens to
// get a deleted one's id (issue 12: a new installer's Recent changes listed
// the deleted installer's logins).
//
// PostgreSQL identities never go back. SQLite gives an INTEGER PRIMARY KEY
// max(id)+1, so deleting the newest row frees its id; AUTOINCREMENT keeps a
// high-water mark in sqlite_sequence instead. SQLite cannot add it to a
// table in place, so migration 00018 rebuilds, on SQLite, every table whose
// integer id lacks it. It is written in Go: it reads each table's definition
// as it stands in the database, so columns, indexes and triggers added by any
// migration before it are carried over without being listed here. Every new
// table must declare `id INTEGER PRIMARY KEY AUTOINCREMENT` itself
// (TestSchemaIDsAreNeverReused checks the whole schema).
const idsMigration = 18

// goMigrations are the migrations written in Go, for a dialect.
func goMigrations(d Dialect) []*goose.Migration {
	if d != SQLite {
		return nil // postgres/00018_ids_never_reused.sql and 00020_schema_parity.sql record the versions
	}
	// Down changes nothing: AUTOINCREMENT suits the older schema as well,
	// and taking it away would let ids be reused again; so does NOT NULL on
	// a key.
	return []*goose.Migration{
		goose.NewGoMigration(idsMigration, &goose.GoFunc{RunDB: sqliteNeverReuseIDs}, nil),
		goose.NewGoMigration(keysNotNullMigration, &goose.GoFunc{RunDB: sqliteKeysNotNull}, nil),
	}
}

// sqliteNeverReuseIDs rebuilds the tables whose ids SQLite may reuse with
// AUTOINCREMENT, keeping every row, id, index, trigger and planner
// statistic, in one transaction.
func sqliteNeverReuseIDs(ctx context.Context, db *sql.DB) error {
	return sqliteRebuild(ctx, db, rebuildWithAutoincrement)
}

// sqliteRebuild runs rebuild, which rebuilds tables (copyTable), in one
// transaction, with foreign keys off.
func sqliteRebuild(ctx context.Context, db *sql.DB, rebuild func(context.Context, *sql.Tx) error) (err error) {
	// The pragmas below are per connection and foreign_keys cannot change
	// inside a transaction: the whole migration runs on one connection.
	conn, err := db.Conn(ctx)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			// It may still have foreign keys off: it must not serve the app.
			conn.Raw(func(any) error { return driver.ErrBadConn })
		}
		conn.Close()
	}()
	// With foreign keys on, DROP TABLE first deletes every row, running the
	// children's ON DELETE CASCADE (dropping accounts would empty sessions,
	// password links, MAC libraries…), and RENAME rewrites the children's
	// REFERENCES. legacy_alter_table keeps RENAME from checking triggers of
	// other tables that name a table dropped a moment before.
	for _, p := range []string{`PRAGMA foreign_keys = OFF`, `PRAGMA legacy_alter_table = ON`} {
		if _, err = conn.ExecContext(ctx, p); err != nil {
			return err
		}
	}
	tx, err := conn.BeginTx(ctx, nil) // BEGIN IMMEDIATE (_txlock): the tables are read under the write lock
	if err != nil {
		return err
	}
	if err = rebuild(ctx, tx); err != nil {
		tx.Rollback()
		return err
	}
	if err = tx.Commit(); err != nil {
		return err
	}
	for _, p := range []string{`PRAGMA legacy_alter_table = OFF`, `PRAGMA foreign_keys = ON`} {
		if _, err = conn.ExecContext(ctx, p); err != nil {
			return err
		}
	}
	return nil
}

var (
	autoincrementRE = regexp.MustCompile(`(?i)\bAUTOINCREMENT\b`)
	withoutRowidRE  = regexp.MustCompile(`(?i)\bWITHOUT\s+ROWID\b`)
	// The id column's definition: `id INTEGER PRIMARY KEY`, optionally quoted.
	idColumnRE = regexp.MustCompile("(?i)([(,]\\s*[\"`\\[]?id[\"`\\]]?\\s+INTEGER\\s+PRIMARY\\s+KEY)\\b")
	// The head of a CREATE TABLE statement, up to the table's name.
	createTableRE = regexp.MustCompile("(?is)^\\s*CREATE\\s+TABLE\\s+(\"[^\"]+\"|'[^']+'|`[^`]+`|\\[[^\\]]+\\]|\\w+)")
)

// reusingTables lists the ordinary tables whose rowid is an `id` column
// without AUTOINCREMENT (not SQLite's own, goose's or a full-text index's).
func reusingTables(ctx context.Context, tx *sql.Tx) (map[string]string, error) {
	rows, err := tx.QueryContext(ctx, `SELECT s.name, s.sql FROM sqlite_schema s
		JOIN pragma_table_list l ON l.schema = 'main' AND l.name = s.name AND l.type = 'table'
		WHERE s.type = 'table' AND s.name NOT LIKE 'sqlite\_%' ESCAPE '\' AND s.name <> 'goose_db_version'`)
	if err != nil {
		return nil, err
	}
	all := map[string]string{}
	for rows.Next() {
		var name, def string
		if err := rows.Scan(&name, &def); err != nil {
			rows.Close()
			return nil, err
		}
		all[name] = def
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	out := map[string]string{}
	for name, def := range all {
		if autoincrementRE.MatchString(def) || withoutRowidRE.MatchString(def) {
			continue
		}
		var pks, ids int
		if err := tx.QueryRowContext(ctx, `SELECT count(*), count(*) FILTER (WHERE lower(name) = 'id' AND upper(type) = 'INTEGER')
			FROM pragma_table_info(?) WHERE pk > 0`, name).Scan(&pks, &ids); err != nil {
			return nil, err
		}
		if pks == 1 && ids == 1 {
			out[name] = def
		}
	}
	return out, nil
}

func rebuildWithAutoincrement(ctx context.Context, tx *sql.Tx) error {
	tables, err := reusingTables(ctx, tx)
	if err != nil {
		return err
	}
	// ANALYZE's tables (sqlite_stat4 when SQLite is built with it, as
	// modernc's is).
	stats, err := sqliteStrings(ctx, tx, `SELECT name FROM sqlite_schema WHERE name IN ('sqlite_stat1','sqlite_stat4') ORDER BY name`)
	if err != nil {
		return err
	}
	for name, def := range tables {
		if err := rebuildTable(ctx, tx, name, def, stats); err != nil {
			return fmt.Errorf("rebuild %s with AUTOINCREMENT: %w", name, err)
		}
	}
	return nil
}

func rebuildTable(ctx context.Context, tx *sql.Tx, name, def string, statTables []string) error {
	if n := len(idColumnRE.FindAllStringIndex(def, -1)); n != 1 {
		return fmt.Errorf("found %d definitions of an `id INTEGER PRIMARY KEY` column in %q", n, def)
	}
	// The counter starts above every id the table ever gave out that is
	// still remembered somewhere, so that an id freed before this migration
	// is not handed out once more either.
	high, err := highWaterMark(ctx, tx, name)
	if err != nil {
		return err
	}
	if err := copyTable(ctx, tx, name, idColumnRE.ReplaceAllString(def, "$1 AUTOINCREMENT"), "_autoincrement", "", statTables); err != nil {
		return err
	}
	if high > 0 {
		res, err := tx.ExecContext(ctx, `UPDATE sqlite_sequence SET seq = max(seq, ?) WHERE name = ?`, high, name)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			if _, err := tx.ExecContext(ctx, `INSERT INTO sqlite_sequence (name, seq) VALUES (?, ?)`, name, high); err != nil {
				return err
			}
		}
	}
	return nil
}

// copyTable replaces table name with one made by newDef (a CREATE TABLE of
// name) holding its rows (those matching where, if not ""), through a table
// name+suffix, and makes its indexes, triggers and planner statistics again.
func copyTable(ctx context.Context, tx *sql.Tx, name, newDef, suffix, where string, statTables []string) error {
	tmp := name + suffix
	head := createTableRE.FindString(newDef)
	if head == "" {
		return fmt.Errorf("cannot read the table's definition %q", newDef)
	}
	newDef = `CREATE TABLE ` + quoteIdent(tmp) + newDef[len(head):]

	// What DROP TABLE takes with the table: its indexes (but those of its
	// UNIQUE constraints, which the definition makes again), its triggers
	// and its planner statistics.
	objects, err := sqliteStrings(ctx, tx, `SELECT sql FROM sqlite_schema WHERE tbl_name = ? AND type IN ('index','trigger')
		AND sql IS NOT NULL ORDER BY type = 'trigger', name`, name)
	if err != nil {
		return err
	}
	var stats []statRows
	for _, st := range statTables {
		r, err := readStats(ctx, tx, st, name)
		if err != nil {
			return err
		}
		stats = append(stats, r)
	}
	cols, err := sqliteStrings(ctx, tx, `SELECT name FROM pragma_table_xinfo(?) WHERE hidden = 0 ORDER BY cid`, name)
	if err != nil {
		return err
	}
	for i, c := range cols {
		cols[i] = quoteIdent(c)
	}
	if where != "" {
		where = ` WHERE ` + where
	}

	list := strings.Join(cols, ", ")
	stmts := []string{
		newDef,
		`INSERT INTO ` + quoteIdent(tmp) + ` (` + list + `) SELECT ` + list + ` FROM ` + quoteIdent(name) + where,
		`DROP TABLE ` + quoteIdent(name),
		`ALTER TABLE ` + quoteIdent(tmp) + ` RENAME TO ` + quoteIdent(name),
	}
	stmts = append(stmts, objects...)
	for _, q := range stmts {
		if _, err := tx.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("%s: %w", q, err)
		}
	}
	for _, st := range stats {
		for _, row := range st.rows {
			q := `INSERT INTO ` + st.table + ` VALUES (` + strings.TrimSuffix(strings.Repeat("?,", len(row)), ",") + `)`
			if _, err := tx.ExecContext(ctx, q, row...); err != nil {
				return err
			}
		}
	}
	return nil
}

// statRows are a table's rows of one of ANALYZE's tables.
type statRows struct {
	table string
	rows  [][]any
}

func readStats(ctx context.Context, tx *sql.Tx, statTable, table string) (statRows, error) {
	out := statRows{table: statTable}
	rows, err := tx.QueryContext(ctx, `SELECT * FROM `+statTable+` WHERE tbl = ?`, table)
	if err != nil {
		return out, err
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return out, err
	}
	for rows.Next() {
		row := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range row {
			ptrs[i] = &row[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			return out, err
		}
		out.rows = append(out.rows, row)
	}
	return out, rows.Err()
}

// idsKeptElsewhere says where ids of a table's deleted rows may live on:
// audit entries above all (their object, and the accounts they belong to),
// and columns that name a row without a foreign key.
var idsKeptElsewhere = map[string][]string{
	"accounts": {auditObjects("account", "price_list"),
		`SELECT max(actor_id) FROM audit_log`, `SELECT max(real_actor_id) FROM audit_log`, `SELECT max(account_id) FROM audit_log`,
		`SELECT max(distributor_id) FROM audit_log`, `SELECT max(subdistributor_id) FROM audit_log`,
		`SELECT max(distributor_id) FROM price_items`, `SELECT max(acting_by) FROM remote_sessions`},
	"api_tokens":    {auditObjects("api_token")},
	"autop_batches": {auditObjects("autop_batch"), `SELECT max(batch_id) FROM device_commands`},
	"coupons":       {auditObjects("coupon")},
	// A device executes a command id once: the ids of commands that went
	// with a deleted device are in its audit entries.
	"device_commands": {`SELECT max(CAST(json_extract(details, '$.command_id') AS INTEGER)) FROM audit_log WHERE object_type = 'device' AND json_valid(details)`,
		`SELECT max(CAST(json_extract(details, '$.reset') AS INTEGER)) FROM audit_log WHERE action = 'device.key_cleared' AND json_valid(details)`},
	"firmware":            {auditObjects("firmware")},
	"feedback":            {auditObjects("feedback")},
	"end_users":           {auditObjects("end_user")},
	"projects":            {auditObjects("project")},
	"buildings":           {auditObjects("building")},
	"apartments":          {auditObjects("apartment")},
	"departments":         {auditObjects("department")},
	"third_party_devices": {auditObjects("third_party_device")},
}

func auditObjects(types ...string) string {
	return `SELECT max(CAST(object_id AS INTEGER)) FROM audit_log WHERE object_type IN ('` + strings.Join(types, `','`) +
		`') AND object_id GLOB '[0-9]*' AND object_id NOT GLOB '*[^0-9]*'`
}

// highWaterMark is the highest id of the table, or of its rows deleted
// before the migration that something still refers to.
func highWaterMark(ctx context.Context, tx *sql.Tx, table string) (int64, error) {
	var high int64
	for _, q := range append([]string{`SELECT max(id) FROM ` + quoteIdent(table)}, idsKeptElsewhere[table]...) {
		var n sql.NullInt64
		if err := tx.QueryRowContext(ctx, q).Scan(&n); err != nil {
			return 0, fmt.Errorf("%s: %w", q, err)
		}
		high = max(high, n.Int64)
	}
	return high, nil
}

func sqliteStrings(ctx context.Context, tx *sql.Tx, q string, args ...any) ([]string, error) {
	rows, err := tx.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, rows.Err()
}

func quoteIdent(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }
