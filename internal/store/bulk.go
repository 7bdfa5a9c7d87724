package store

import (
	"context"
	"fmt"
	"strings"

	"github.com/gatehouse-dev/gatehouse/internal/model"
)

// BulkInsert loads many rows into one table in a single transaction, in
// multi-row INSERTs. It serves the demo loader only (system actor): rows are
// trusted, carry their own ids, and are not audited one by one.
func (s *Store) BulkInsert(ctx context.Context, table string, cols []string, rows [][]any) error {
	if model.ActorFrom(ctx) != model.System {
		return model.Errorf(model.EFORBIDDEN, "Bulk loading is for the system only.")
	}
	if len(rows) == 0 {
		return nil
	}
	return s.inTx(ctx, func(tx *Tx) error {
		if table == "device_autop" { // lists for devices whose files may be served already
			tx.changed(model.AutoPChange{All: true})
		}
		if err := bulkInsert(ctx, tx, table, cols, rows); err != nil {
			return err
		}
		if s.dialect == Postgres {
			// Rows came with explicit ids: move the identity past them, never
			// back (ids of deleted rows are not handed out again). SQLite's
			// AUTOINCREMENT counter follows explicit ids by itself.
			_, err := tx.exec(ctx, fmt.Sprintf(`SELECT setval(pg_get_serial_sequence('%[1]s','id'), greatest((SELECT max(id) FROM %[1]s),
				pg_sequence_last_value(pg_get_serial_sequence('%[1]s','id')::regclass)))`, table))
			return err
		}
		return nil
	})
}

// MaxID returns the highest id a table ever handed out (0 for none), for the
// demo loader: rows it writes with their own ids start above it, so that
// they never take the id of a deleted row.
func (s *Store) MaxID(ctx context.Context, table string) (int64, error) {
	q := `SELECT max(coalesce((SELECT max(id) FROM %[1]s), 0), coalesce((SELECT seq FROM sqlite_sequence WHERE name = '%[1]s'), 0))`
	if s.dialect == Postgres {
		q = `SELECT greatest(coalesce((SELECT max(id) FROM %[1]s), 0), coalesce(pg_sequence_last_value(pg_get_serial_sequence('%[1]s','id')::regclass), 0))`
	}
	var id int64
	err := s.queryRow(ctx, fmt.Sprintf(q, table)).Scan(&id)
	return id, err
}

// bulkInsert writes rows in multi-row INSERTs inside tx.
func bulkInsert(ctx context.Context, tx *Tx, table string, cols []string, rows [][]any) error {
	per := min(30000/len(cols), 500) // stay far below both back ends' parameter limits
	ph := "(" + strings.TrimSuffix(strings.Repeat("?,", len(cols)), ",") + ")"
	for start := 0; start < len(rows); start += per {
		end := min(start+per, len(rows))
		var b strings.Builder
		fmt.Fprintf(&b, "INSERT INTO %s (%s) VALUES ", table, strings.Join(cols, ","))
		args := make([]any, 0, (end-start)*len(cols))
		for i, r := range rows[start:end] {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString(ph)
			args = append(args, r...)
		}
		if _, err := tx.exec(ctx, b.String(), args...); err != nil {
			return fmt.Errorf("bulk insert into %s: %w", table, err)
		}
	}
	return nil
}

// Analyze refreshes the planner's statistics after a bulk load (system
// side): without them the first queries over a freshly loaded table may
// pick plans thousands of times slower than they need.
func (s *Store) Analyze(ctx context.Context) error {
	if _, err := actor(ctx); err != nil {
		return err
	}
	_, err := s.db.ExecContext(ctx, `ANALYZE`)
	return err
}
