package store_test

import (
	"context"
	"database/sql"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/testutil"
)

// The two migration trees (migrations/sqlite, migrations/postgres) are
// written by hand, side by side. TestSchemaSameOnBothEngines migrates a
// fresh database of each engine fully and compares what their catalogs say:
// tables, columns (type through sqliteTypeToPostgres, nullability, default,
// identity), primary keys, unique constraints, foreign keys (columns,
// referenced table and columns, ON DELETE and ON UPDATE), check constraints,
// indexes (name, table, uniqueness, columns and expressions in order,
// partial WHERE) and triggers (by name and table).
//
// What is compared up to the engines' ways of saying the same thing:
//   - Types: sqliteTypeToPostgres. SQLite's `id INTEGER PRIMARY KEY` is the
//     64-bit rowid: it is PostgreSQL's bigint identity (AUTOINCREMENT ↔
//     GENERATED … AS IDENTITY).
//   - Expressions (defaults, checks, index expressions, partial WHERE): case,
//     white space, parentheses, double quotes and PostgreSQL's casts
//     (::text) are left out; PostgreSQL's `x = ANY (ARRAY[a, b])` is
//     SQLite's `x IN (a, b)` and `x BETWEEN a AND b` is `x >= a AND x <= b`.
//   - Index columns: SQLite has no INCLUDE, so PostgreSQL's INCLUDE columns
//     count as trailing key columns; an SQLite index entry ends with the
//     rowid, so in a non-unique index of a table whose key is `id` a last
//     column id is left out on both sides. Collations and operator classes
//     are not compared (PostgreSQL's COLLATE "C" is SQLite's BINARY);
//     DESC is.
//
// Left out: goose's version table, SQLite's own tables (sqlite_*, ANALYZE's
// statistics), FTS5 shadow tables, the indexes behind primary keys and
// unique constraints (compared as constraints), PostgreSQL's internal
// triggers (foreign keys) and the functions its triggers execute (the
// triggers are compared). Everything else one engine has alone must be in
// schemaOneEngineOnly, with the reason.
func TestSchemaSameOnBothEngines(t *testing.T) {
	if !slices.Contains(testutil.Backends(t), "postgres") {
		t.Skipf("compares SQLite with PostgreSQL: %s is not set", testutil.PostgresEnv)
	}
	ctx := context.Background()
	lite, err := readSQLiteSchema(ctx, testutil.NewStore(t, "sqlite").DB())
	if err != nil {
		t.Fatal(err)
	}
	pg, err := readPostgresSchema(ctx, testutil.NewStore(t, "postgres").DB())
	if err != nil {
		t.Fatal(err)
	}
	if diffs := compareSchemas(lite, pg); len(diffs) > 0 {
		t.Errorf("the SQLite and PostgreSQL migrations describe different schemas (%d differences; fix them with a new migration pair, "+
			"or add an engine-only object to schemaOneEngineOnly with the reason):\n  %s", len(diffs), strings.Join(diffs, "\n  "))
	}
}

// sqliteTypeToPostgres maps the column types the SQLite tree declares to
// the PostgreSQL tree's (information_schema data_type).
var sqliteTypeToPostgres = map[string]string{
	"INTEGER":  "integer",
	"BIGINT":   "bigint",
	"TEXT":     "text",
	"BOOLEAN":  "boolean",
	"DATETIME": "timestamp with time zone",
	"BLOB":     "bytea",
	"REAL":     "double precision",
}

// schemaOneEngineOnly lists the objects that exist on one engine only, on
// purpose, keyed as the comparison names them.
var schemaOneEngineOnly = map[string]struct {
	engine string
	why    string
}{
	// "Contains" searches: SQLite keeps FTS5 trigram tables in step by
	// triggers; PostgreSQL has GIN trigram indexes (pg_trgm) that need no
	// triggers and are made only where the extension can be had.
	"table end_users_search":                    {"sqlite", "FTS5 trigram index of end users (PostgreSQL: end_users_*_trgm)"},
	"table devices_search":                      {"sqlite", "FTS5 trigram index of devices (PostgreSQL: devices_*_trgm)"},
	"trigger end_users.end_users_search_insert": {"sqlite", "keeps end_users_search in step"},
	"trigger end_users.end_users_search_delete": {"sqlite", "keeps end_users_search in step"},
	"trigger end_users.end_users_search_update": {"sqlite", "keeps end_users_search in step"},
	"trigger devices.devices_search_insert":     {"sqlite", "keeps devices_search in step"},
	"trigger devices.devices_search_delete":     {"sqlite", "keeps devices_search in step"},
	"trigger devices.devices_search_update":     {"sqlite", "keeps devices_search in step"},
	"index end_users.end_users_name_trgm":       {"postgres", "trigram search (SQLite: end_users_search)"},
	"index end_users.end_users_email_trgm":      {"postgres", "trigram search (SQLite: end_users_search)"},
	"index end_users.end_users_mobile_trgm":     {"postgres", "trigram search (SQLite: end_users_search)"},
	"index devices.devices_mac_trgm":            {"postgres", "trigram search (SQLite: devices_search)"},
	"index devices.devices_name_trgm":           {"postgres", "trigram search (SQLite: devices_search)"},
	"index projects.projects_name_trgm":         {"postgres", "community/office search by trigram (SQLite reads projects_kind_name)"},
	"index projects.projects_manager_trgm":      {"postgres", "manager search by trigram (SQLite reads projects_kind_manager)"},
	// A SIP prefix: SQLite reads a range of end_users_sip (binary
	// collation); PostgreSQL's LIKE 'x%' needs text_pattern_ops under a
	// database collation other than C.
	"index end_users.end_users_sip_prefix": {"postgres", "LIKE-prefix index (SQLite: a range of end_users_sip)"},
	// PostgreSQL's row triggers fill the NEW row BEFORE the write, for
	// INSERT and UPDATE in one trigger; SQLite's AFTER triggers update the
	// row, one per event.
	"trigger devices.devices_follow_project":                      {"sqlite", "UPDATE half of devices_fill_list_columns"},
	"trigger third_party_devices.third_party_devices_list_insert": {"sqlite", "INSERT half of third_party_devices_list_fill"},
	"trigger third_party_devices.third_party_devices_list_update": {"sqlite", "UPDATE half of third_party_devices_list_fill"},
	"trigger third_party_devices.third_party_devices_list_fill":   {"postgres", "BEFORE INSERT OR UPDATE (SQLite: …_list_insert, …_list_update)"},
	"trigger end_users.end_users_follow_move":                     {"sqlite", "UPDATE half of end_users_fill_list_columns"},
	// The end-user words: SQLite's triggers split a name with json_each;
	// PostgreSQL's call this function (and the migration's backfill).
	"function end_user_words_of": {"postgres", "splits a name into its words (SQLite: json_each in end_user_words_*)"},
}

type dbSchema struct {
	tables   map[string]*dbTable
	views    map[string]bool
	triggers map[string]bool // "table.name"
	extras   []string        // objects outside the model (PostgreSQL functions no trigger runs)
}

type dbTable struct {
	columns map[string]dbColumn
	pk      []string
	uniques []string // column lists: "(a, b)"
	fks     []string // "(col) REFERENCES t(col) ON DELETE … ON UPDATE …"
	checks  []string // normalized expressions
	indexes map[string]dbIndex
}

type dbColumn struct {
	typ      string // PostgreSQL's name (SQLite's through sqliteTypeToPostgres)
	notNull  bool
	dflt     string // normalized expression, "" for none
	identity bool
}

type dbIndex struct {
	unique  bool
	method  string
	columns []string // normalized
	where   string   // normalized
}

func (i dbIndex) String() string {
	s := "(" + strings.Join(i.columns, ", ") + ")"
	if i.unique {
		s = "UNIQUE " + s
	}
	if i.method != "btree" {
		s = "USING " + i.method + " " + s
	}
	if i.where != "" {
		s += " WHERE " + i.where
	}
	return s
}

func newTable() *dbTable {
	return &dbTable{columns: map[string]dbColumn{}, indexes: map[string]dbIndex{}}
}

var (
	castRE     = regexp.MustCompile(`::\s*(text|bigint|integer|boolean|numeric|double precision|timestamp with time zone|timestamp without time zone|character varying)(\[\])?`)
	anyArrayRE = regexp.MustCompile(`=\s*any\s*\(\s*array\s*\[([^\]]*)\]\s*\)`)
	betweenRE  = regexp.MustCompile(`([a-z_][a-z_0-9.]*)\s+between\s+(\S+)\s+and\s+(\S+)`)
	parenRE    = regexp.MustCompile(`[()"]`)
	opSpaceRE  = regexp.MustCompile(`\s*([,=<>!])\s*`)
	spaceRE    = regexp.MustCompile(`\s+`)
)

// normExpr is an SQL expression in a form both engines' texts of it share.
func normExpr(s string) string {
	s = strings.ToLower(strings.TrimSpace(s))
	s = castRE.ReplaceAllString(s, "")
	s = anyArrayRE.ReplaceAllString(s, " in ($1)")
	s = betweenRE.ReplaceAllString(s, "$1 >= $2 and $1 <= $3")
	s = opSpaceRE.ReplaceAllString(parenRE.ReplaceAllString(s, " "), "$1")
	return strings.TrimSpace(spaceRE.ReplaceAllString(s, " "))
}

// dropRowid leaves out a non-unique index's last column id, which every
// SQLite index entry of a table keyed by id ends with anyway.
func dropRowid(t *dbTable, ix dbIndex) dbIndex {
	if !ix.unique && len(t.pk) == 1 && t.pk[0] == "id" && len(ix.columns) > 1 && ix.columns[len(ix.columns)-1] == "id" {
		ix.columns = ix.columns[:len(ix.columns)-1]
	}
	return ix
}

func readSQLiteSchema(ctx context.Context, db *sql.DB) (*dbSchema, error) {
	s := &dbSchema{tables: map[string]*dbTable{}, views: map[string]bool{}, triggers: map[string]bool{}}
	type object struct{ typ, name, table, sql, kind string }
	var objects []object
	err := queryAll(ctx, db, func(scan func(...any) error) error {
		var o object
		err := scan(&o.typ, &o.name, &o.table, &o.sql, &o.kind)
		objects = append(objects, o)
		return err
	}, `SELECT s.type, s.name, s.tbl_name, coalesce(s.sql, ''), coalesce(l.type, '') FROM sqlite_schema s
		LEFT JOIN pragma_table_list l ON l.schema = 'main' AND l.name = s.name
		WHERE s.name NOT LIKE 'sqlite\_%' ESCAPE '\' AND s.tbl_name <> 'goose_db_version'`)
	if err != nil {
		return nil, err
	}
	indexSQL := map[string]string{}
	for _, o := range objects {
		switch {
		case o.typ == "table" && o.kind == "shadow":
			// An FTS5 table's storage.
		case o.typ == "table" && o.kind == "virtual":
			s.extras = append(s.extras, "table "+o.name)
		case o.typ == "table":
			t, err := readSQLiteTable(ctx, db, o.name, o.sql)
			if err != nil {
				return nil, fmt.Errorf("table %s: %w", o.name, err)
			}
			s.tables[o.name] = t
		case o.typ == "view":
			s.views[o.name] = true
		case o.typ == "trigger":
			s.triggers[o.table+"."+o.name] = true
		case o.typ == "index":
			indexSQL[o.name] = o.sql
		}
	}
	for name, t := range s.tables {
		if err := readSQLiteIndexes(ctx, db, name, t, indexSQL); err != nil {
			return nil, fmt.Errorf("indexes of %s: %w", name, err)
		}
	}
	return s, nil
}

func readSQLiteTable(ctx context.Context, db *sql.DB, name, def string) (*dbTable, error) {
	t := newTable()
	var intPK string
	err := queryAll(ctx, db, func(scan func(...any) error) error {
		var col, typ, dflt string
		var notNull, pk bool
		if err := scan(&col, &typ, &notNull, &dflt, &pk); err != nil {
			return err
		}
		c := dbColumn{typ: sqliteTypeToPostgres[typ], notNull: notNull, dflt: normExpr(dflt)}
		if c.typ == "" {
			c.typ = "unmapped SQLite type " + typ + " (add it to sqliteTypeToPostgres)"
		}
		if pk && typ == "INTEGER" {
			intPK = col
		}
		t.columns[col] = c
		return nil
	}, `SELECT name, upper(type), "notnull", coalesce(dflt_value, ''), pk > 0 FROM pragma_table_info(?) ORDER BY cid`, name)
	if err != nil {
		return nil, err
	}
	if t.pk, err = sqlitePrimaryKey(ctx, db, name); err != nil {
		return nil, err
	}
	if len(t.pk) == 1 && intPK != "" && !withoutRowid.MatchString(def) {
		// The rowid: 64 bits, never NULL; AUTOINCREMENT never reuses one.
		c := t.columns[intPK]
		c.typ, c.notNull, c.identity = "bigint", true, autoincrement.MatchString(def)
		t.columns[intPK] = c
	}
	for _, chk := range sqliteChecks(def) {
		t.checks = append(t.checks, normExpr(chk))
	}

	type fk struct {
		table, onUpdate, onDelete string
		from, to                  []string
	}
	fks := map[int]*fk{}
	err = queryAll(ctx, db, func(scan func(...any) error) error {
		var id int
		var ref, from, to, onUpdate, onDelete string
		if err := scan(&id, &ref, &from, &to, &onUpdate, &onDelete); err != nil {
			return err
		}
		f := fks[id]
		if f == nil {
			f = &fk{table: ref, onUpdate: onUpdate, onDelete: onDelete}
			fks[id] = f
		}
		f.from, f.to = append(f.from, from), append(f.to, to)
		return nil
	}, `SELECT id, "table", "from", coalesce("to", ''), on_update, on_delete FROM pragma_foreign_key_list(?) ORDER BY id, seq`, name)
	if err != nil {
		return nil, err
	}
	for _, f := range fks {
		if slices.Contains(f.to, "") { // REFERENCES t: its primary key
			if f.to, err = sqlitePrimaryKey(ctx, db, f.table); err != nil {
				return nil, err
			}
		}
		t.fks = append(t.fks, fkString(f.from, f.table, f.to, f.onDelete, f.onUpdate))
	}
	return t, nil
}

func sqlitePrimaryKey(ctx context.Context, db *sql.DB, table string) ([]string, error) {
	return queryStrings(ctx, db, `SELECT name FROM pragma_table_info(?) WHERE pk > 0 ORDER BY pk`, table)
}

func fkString(from []string, table string, to []string, onDelete, onUpdate string) string {
	return fmt.Sprintf("(%s) REFERENCES %s(%s) ON DELETE %s ON UPDATE %s", strings.Join(from, ", "), table, strings.Join(to, ", "),
		strings.ToUpper(onDelete), strings.ToUpper(onUpdate))
}

var (
	autoincrement = regexp.MustCompile(`(?i)\bAUTOINCREMENT\b`)
	withoutRowid  = regexp.MustCompile(`(?i)\bWITHOUT\s+ROWID\b`)
	checkWord     = regexp.MustCompile(`(?i)^CHECK\s*\(`)
)

// sqliteChecks finds the CHECK constraints' expressions in a CREATE TABLE
// statement (SQLite's catalog has no table of them).
func sqliteChecks(def string) []string {
	var out []string
	for i := 0; i < len(def); i++ {
		switch def[i] {
		case '\'', '"', '`':
			i = skipQuoted(def, i)
			continue
		}
		if (i == 0 || !isIdentByte(def[i-1])) && checkWord.MatchString(def[i:]) {
			open := i + strings.IndexByte(def[i:], '(')
			end := matchParen(def, open)
			out = append(out, def[open+1:end])
			i = end
		}
	}
	return out
}

func isIdentByte(c byte) bool {
	return c == '_' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}

// skipQuoted returns the index of the quote closing the one at s[i].
func skipQuoted(s string, i int) int {
	q := s[i]
	for j := i + 1; j < len(s); j++ {
		if s[j] == q {
			if j+1 < len(s) && s[j+1] == q {
				j++
				continue
			}
			return j
		}
	}
	return len(s) - 1
}

// matchParen returns the index of the parenthesis closing the one at s[i].
func matchParen(s string, i int) int {
	depth := 0
	for j := i; j < len(s); j++ {
		switch s[j] {
		case '\'', '"', '`':
			j = skipQuoted(s, j)
		case '(':
			depth++
		case ')':
			depth--
			if depth == 0 {
				return j
			}
		}
	}
	return len(s) - 1
}

// splitTop splits s at its commas outside parentheses and quotes.
func splitTop(s string) []string {
	var out []string
	start := 0
	for j := 0; j < len(s); j++ {
		switch s[j] {
		case '\'', '"', '`':
			j = skipQuoted(s, j)
		case '(':
			j = matchParen(s, j)
		case ',':
			out = append(out, s[start:j])
			start = j + 1
		}
	}
	return append(out, s[start:])
}

var (
	indexOnRE      = regexp.MustCompile(`(?is)\bON\s+["\x60\[]?\w+["\x60\]]?\s*\(`)
	indexColTailRE = regexp.MustCompile(`(?is)(\s+COLLATE\s+\w+)?(\s+(?:ASC|(DESC)))?\s*$`)
	whereRE        = regexp.MustCompile(`(?is)^\s*WHERE\s+(.*?)\s*;?\s*$`)
)

func readSQLiteIndexes(ctx context.Context, db *sql.DB, table string, t *dbTable, indexSQL map[string]string) error {
	type ix struct {
		name, origin string
		unique       bool
	}
	var list []ix
	err := queryAll(ctx, db, func(scan func(...any) error) error {
		var i ix
		err := scan(&i.name, &i.unique, &i.origin)
		list = append(list, i)
		return err
	}, `SELECT name, "unique", origin FROM pragma_index_list(?)`, table)
	if err != nil {
		return err
	}
	for _, i := range list {
		switch i.origin {
		case "pk": // the table's primary key
		case "u":
			cols, err := queryStrings(ctx, db, `SELECT coalesce(name, '') FROM pragma_index_info(?) ORDER BY seqno`, i.name)
			if err != nil {
				return err
			}
			t.uniques = append(t.uniques, "("+strings.Join(cols, ", ")+")")
		default:
			def := indexSQL[i.name]
			loc := indexOnRE.FindStringIndex(def)
			if loc == nil {
				return fmt.Errorf("index %s: cannot read %q", i.name, def)
			}
			open := loc[1] - 1
			end := matchParen(def, open)
			x := dbIndex{unique: i.unique, method: "btree"}
			for _, c := range splitTop(def[open+1 : end]) {
				m := indexColTailRE.FindStringSubmatchIndex(c)
				col := normExpr(c[:m[0]]) // without COLLATE and ASC
				if m[6] >= 0 {
					col += " desc"
				}
				x.columns = append(x.columns, col)
			}
			if m := whereRE.FindStringSubmatch(def[end+1:]); m != nil {
				x.where = normExpr(m[1])
			} else if strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(def[end+1:]), ";")) != "" {
				return fmt.Errorf("index %s: cannot read %q", i.name, def)
			}
			t.indexes[i.name] = dropRowid(t, x)
		}
	}
	return nil
}

// queryAll runs q and hands each row's scan to fn.
func queryAll(ctx context.Context, db *sql.DB, fn func(scan func(...any) error) error, q string, args ...any) error {
	rows, err := db.QueryContext(ctx, q, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		if err := fn(rows.Scan); err != nil {
			return err
		}
	}
	return rows.Err()
}

// queryStrings is the one column of q's rows.
func queryStrings(ctx context.Context, db *sql.DB, q string, args ...any) ([]string, error) {
	var out []string
	err := queryAll(ctx, db, func(scan func(...any) error) error {
		var s string
		err := scan(&s)
		out = append(out, s)
		return err
	}, q, args...)
	return out, err
}

var pgActions = map[string]string{"a": "NO ACTION", "r": "RESTRICT", "c": "CASCADE", "n": "SET NULL", "d": "SET DEFAULT"}

func readPostgresSchema(ctx context.Context, db *sql.DB) (*dbSchema, error) {
	s := &dbSchema{tables: map[string]*dbTable{}, views: map[string]bool{}, triggers: map[string]bool{}}
	err := queryAll(ctx, db, func(scan func(...any) error) error {
		var name, typ string
		if err := scan(&name, &typ); err != nil {
			return err
		}
		if typ == "VIEW" {
			s.views[name] = true
		} else {
			s.tables[name] = newTable()
		}
		return nil
	}, `SELECT table_name, table_type FROM information_schema.tables
		WHERE table_schema = current_schema() AND table_name <> 'goose_db_version'`)
	if err != nil {
		return nil, err
	}
	err = queryAll(ctx, db, func(scan func(...any) error) error {
		var table, col, dflt string
		var c dbColumn
		if err := scan(&table, &col, &c.typ, &c.notNull, &dflt, &c.identity); err != nil {
			return err
		}
		c.dflt = normExpr(dflt)
		if t := s.tables[table]; t != nil {
			t.columns[col] = c
		}
		return nil
	}, `SELECT table_name, column_name, CASE WHEN data_type IN ('USER-DEFINED', 'ARRAY') THEN udt_name ELSE data_type END,
			is_nullable = 'NO', coalesce(column_default, ''), is_identity = 'YES'
		FROM information_schema.columns WHERE table_schema = current_schema() AND table_name <> 'goose_db_version'`)
	if err != nil {
		return nil, err
	}
	const cols = `(SELECT string_agg(a.attname, ',' ORDER BY k.n) FROM unnest(%[1]s) WITH ORDINALITY k(attnum, n)
		JOIN pg_attribute a ON a.attrelid = %[2]s AND a.attnum = k.attnum)`
	err = queryAll(ctx, db, func(scan func(...any) error) error {
		var table, typ, from, ref, to, onDelete, onUpdate, check string
		if err := scan(&table, &typ, &from, &ref, &to, &onDelete, &onUpdate, &check); err != nil {
			return err
		}
		t := s.tables[table]
		if t == nil {
			return nil
		}
		switch typ {
		case "p":
			t.pk = strings.Split(from, ",")
		case "u":
			t.uniques = append(t.uniques, "("+strings.ReplaceAll(from, ",", ", ")+")")
		case "f":
			t.fks = append(t.fks, fkString(strings.Split(from, ","), ref, strings.Split(to, ","), pgActions[onDelete], pgActions[onUpdate]))
		case "c":
			t.checks = append(t.checks, normExpr(check))
		default:
			s.extras = append(s.extras, fmt.Sprintf("constraint of type %s on %s", typ, table))
		}
		return nil
	}, `SELECT r.relname, c.contype, coalesce(`+fmt.Sprintf(cols, "c.conkey", "c.conrelid")+`, ''),
			coalesce((SELECT relname FROM pg_class WHERE oid = c.confrelid), ''), coalesce(`+fmt.Sprintf(cols, "c.confkey", "c.confrelid")+`, ''),
			c.confdeltype, c.confupdtype, coalesce(pg_get_expr(c.conbin, c.conrelid, true), '')
		FROM pg_constraint c JOIN pg_class r ON r.oid = c.conrelid
		WHERE r.relnamespace = current_schema()::regnamespace AND r.relname <> 'goose_db_version'`)
	if err != nil {
		return nil, err
	}
	err = queryAll(ctx, db, func(scan func(...any) error) error {
		var table, name, colList, where string
		var keys int
		var constraint bool
		x := dbIndex{}
		if err := scan(&table, &name, &x.unique, &x.method, &keys, &colList, &where, &constraint); err != nil {
			return err
		}
		t := s.tables[table]
		if constraint || t == nil {
			return nil
		}
		for _, c := range strings.Split(colList, "\x1f") {
			x.columns = append(x.columns, normExpr(c)) // key columns, then INCLUDE
		}
		x.where = normExpr(where)
		t.indexes[name] = x
		return nil
	}, `SELECT t.relname, i.relname, x.indisunique, am.amname, x.indnkeyatts,
			(SELECT string_agg(pg_get_indexdef(x.indexrelid, k, true) ||
				CASE WHEN k <= x.indnkeyatts AND x.indoption[k - 1] & 1 = 1 THEN ' DESC' ELSE '' END, E'\x1f' ORDER BY k)
				FROM generate_series(1, x.indnatts) k),
			coalesce(pg_get_expr(x.indpred, x.indrelid, true), ''),
			EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = x.indexrelid AND c.contype IN ('p', 'u'))
		FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid JOIN pg_class t ON t.oid = x.indrelid JOIN pg_am am ON am.oid = i.relam
		WHERE t.relnamespace = current_schema()::regnamespace AND t.relname <> 'goose_db_version'`)
	if err != nil {
		return nil, err
	}
	for _, t := range s.tables {
		for name, x := range t.indexes {
			t.indexes[name] = dropRowid(t, x)
		}
	}
	err = queryAll(ctx, db, func(scan func(...any) error) error {
		var table, name string
		if err := scan(&table, &name); err != nil {
			return err
		}
		s.triggers[table+"."+name] = true
		return nil
	}, `SELECT r.relname, g.tgname FROM pg_trigger g JOIN pg_class r ON r.oid = g.tgrelid
		WHERE NOT g.tgisinternal AND r.relnamespace = current_schema()::regnamespace`)
	if err != nil {
		return nil, err
	}
	err = queryAll(ctx, db, func(scan func(...any) error) error {
		var name string
		if err := scan(&name); err != nil {
			return err
		}
		s.extras = append(s.extras, "function "+name)
		return nil
	}, `SELECT p.proname FROM pg_proc p WHERE p.pronamespace = current_schema()::regnamespace
		AND NOT EXISTS (SELECT 1 FROM pg_trigger g WHERE g.tgfoid = p.oid)`)
	return s, err
}

// compareSchemas lists the differences between the SQLite schema a and the
// PostgreSQL schema b, one line each, naming table, column, index.
func compareSchemas(a, b *dbSchema) []string {
	var diffs []string
	seen := map[string]bool{}
	// both says whether both engines have the object; one that one engine
	// has alone is a difference, unless schemaOneEngineOnly allows it.
	both := func(key string, onSQLite, onPostgres bool, detail string) bool {
		if onSQLite && onPostgres {
			return true
		}
		engine := "sqlite"
		if onPostgres {
			engine = "postgres"
		}
		seen[key] = true
		if ok, found := schemaOneEngineOnly[key]; !found || ok.engine != engine {
			diffs = append(diffs, fmt.Sprintf("%s: only on %s%s", key, engine, detail))
		}
		return false
	}
	for _, name := range sortedUnion(a.tables, b.tables) {
		ta, tb := a.tables[name], b.tables[name]
		if !both("table "+name, ta != nil, tb != nil, "") {
			continue
		}
		for _, col := range sortedUnion(ta.columns, tb.columns) {
			ca, oka := ta.columns[col]
			cb, okb := tb.columns[col]
			key := "table " + name + ": column " + col
			if !both(key, oka, okb, "") {
				continue
			}
			if ca.typ != cb.typ {
				diffs = append(diffs, fmt.Sprintf("%s: type %s on sqlite, %s on postgres", key, ca.typ, cb.typ))
			}
			if ca.notNull != cb.notNull {
				diffs = append(diffs, fmt.Sprintf("%s: NOT NULL %v on sqlite, %v on postgres", key, ca.notNull, cb.notNull))
			}
			if ca.dflt != cb.dflt {
				diffs = append(diffs, fmt.Sprintf("%s: DEFAULT %q on sqlite, %q on postgres", key, ca.dflt, cb.dflt))
			}
			if ca.identity != cb.identity {
				diffs = append(diffs, fmt.Sprintf("%s: never reused (AUTOINCREMENT / identity) %v on sqlite, %v on postgres", key, ca.identity, cb.identity))
			}
		}
		if !slices.Equal(ta.pk, tb.pk) {
			diffs = append(diffs, fmt.Sprintf("table %s: PRIMARY KEY %v on sqlite, %v on postgres", name, ta.pk, tb.pk))
		}
		diffs = append(diffs, compareSets("table "+name+": UNIQUE", ta.uniques, tb.uniques)...)
		diffs = append(diffs, compareSets("table "+name+": FOREIGN KEY", ta.fks, tb.fks)...)
		diffs = append(diffs, compareSets("table "+name+": CHECK", ta.checks, tb.checks)...)
		for _, ix := range sortedUnion(ta.indexes, tb.indexes) {
			xa, oka := ta.indexes[ix]
			xb, okb := tb.indexes[ix]
			detail := xa.String()
			if !oka {
				detail = xb.String()
			}
			key := "index " + name + "." + ix
			if both(key, oka, okb, " "+detail) && xa.String() != xb.String() {
				diffs = append(diffs, fmt.Sprintf("%s: %s on sqlite, %s on postgres", key, xa, xb))
			}
		}
	}
	for _, v := range sortedUnion(a.views, b.views) {
		both("view "+v, a.views[v], b.views[v], "")
	}
	for _, tr := range sortedUnion(a.triggers, b.triggers) {
		both("trigger "+tr, a.triggers[tr], b.triggers[tr], "")
	}
	for _, e := range a.extras {
		both(e, true, false, "")
	}
	for _, e := range b.extras {
		both(e, false, true, "")
	}
	for _, key := range slices.Sorted(maps.Keys(schemaOneEngineOnly)) {
		if !seen[key] && !strings.HasSuffix(key, "_trgm") { // the trigram indexes need pg_trgm
			diffs = append(diffs, fmt.Sprintf("%s: in schemaOneEngineOnly but on neither engine alone: remove it", key))
		}
	}
	return diffs
}

func compareSets(what string, a, b []string) []string {
	var diffs []string
	for _, x := range a {
		if !slices.Contains(b, x) {
			diffs = append(diffs, fmt.Sprintf("%s %s: only on sqlite", what, x))
		}
	}
	for _, x := range b {
		if !slices.Contains(a, x) {
			diffs = append(diffs, fmt.Sprintf("%s %s: only on postgres", what, x))
		}
	}
	return diffs
}

func sortedUnion[V any](a, b map[string]V) []string {
	keys := slices.Collect(maps.Keys(a))
	for k := range b {
		if _, ok := a[k]; !ok {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	return keys
}
