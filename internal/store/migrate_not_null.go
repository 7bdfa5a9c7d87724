package store

import (
	"context"
	"database/sql"
	"fmt"
	"regexp"
)

// A primary key never holds NULL on PostgreSQL. SQLite, for compatibility
// with its early versions, lets a key column that is not the INTEGER rowid
// (sessions.token_hash TEXT PRIMARY KEY, device_autop.device_id BIGINT
// PRIMARY KEY…) hold NULL unless it is declared NOT NULL as well
// (TestSchemaSameOnBothEngines found eight). Migration 00020 rebuilds, on
// SQLite, every table with such a key with its key columns NOT NULL,
// keeping every row, index, trigger and planner statistic. No query finds a
// row by a NULL key, and the store never wrote one: such a row, if any, is
// left behind. New tables declare their key columns NOT NULL (or make the
// key `id INTEGER PRIMARY KEY AUTOINCREMENT`).
const keysNotNullMigration = 20

func sqliteKeysNotNull(ctx context.Context, db *sql.DB) error {
	return sqliteRebuild(ctx, db, rebuildKeysNotNull)
}

func rebuildKeysNotNull(ctx context.Context, tx *sql.Tx) error {
	// The ordinary tables (not SQLite's, goose's or a full-text index's)
	// and their key columns that may hold NULL, but the rowid.
	rows, err := tx.QueryContext(ctx, `SELECT s.name, s.sql, c.name FROM sqlite_schema s
		JOIN pragma_table_list l ON l.schema = 'main' AND l.name = s.name AND l.type = 'table'
		JOIN pragma_table_info(s.name) c ON c.pk > 0 AND NOT c."notnull"
		WHERE s.type = 'table' AND s.name NOT LIKE 'sqlite\_%' ESCAPE '\' AND s.name <> 'goose_db_version'
		AND NOT (upper(c.type) = 'INTEGER' AND (SELECT count(*) FROM pragma_table_info(s.name) WHERE pk > 0) = 1
			AND s.sql NOT LIKE '%WITHOUT ROWID%')
		ORDER BY s.name, c.pk`)
	if err != nil {
		return err
	}
	type table struct {
		name, def string
		keys      []string
	}
	var tables []*table
	for rows.Next() {
		var name, def, col string
		if err := rows.Scan(&name, &def, &col); err != nil {
			rows.Close()
			return err
		}
		if len(tables) == 0 || tables[len(tables)-1].name != name {
			tables = append(tables, &table{name: name, def: def})
		}
		t := tables[len(tables)-1]
		t.keys = append(t.keys, col)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	stats, err := sqliteStrings(ctx, tx, `SELECT name FROM sqlite_schema WHERE name IN ('sqlite_stat1','sqlite_stat4') ORDER BY name`)
	if err != nil {
		return err
	}
	for _, t := range tables {
		def, where := t.def, ""
		for _, col := range t.keys {
			// The column's definition, up to its type: NOT NULL goes after it.
			re := regexp.MustCompile("(?i)([(,]\\s*[\"`\\[]?" + regexp.QuoteMeta(col) + "[\"`\\]]?\\s+\\w+)")
			if n := len(re.FindAllStringIndex(def, -1)); n != 1 {
				return fmt.Errorf("rebuild %s with NOT NULL keys: found %d definitions of column %s in %q", t.name, n, col, t.def)
			}
			def = re.ReplaceAllString(def, "$1 NOT NULL")
			if where != "" {
				where += " AND "
			}
			where += quoteIdent(col) + " IS NOT NULL"
		}
		if err := copyTable(ctx, tx, t.name, def, "_not_null", where, stats); err != nil {
			return fmt.Errorf("rebuild %s with NOT NULL keys: %w", t.name, err)
		}
	}
	return nil
}
