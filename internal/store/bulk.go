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
		if err := bulkInsert(ctx, tx, table, cols, rows); err != nil {
			return err
		}
		if s.dialect == Postgres {
			// Rows came with explicit ids: move the identity past them.
			_, err := tx.exec(ctx, fmt.Sprintf(`SELECT setval(pg_get_serial_sequence('%s','id'), (SELECT max(id) FROM %s))`, table, table))
			return err
		}
		return nil
	})
}

// MaxID returns the highest id of a table (0 when empty), for the demo loader.
func (s *Store) MaxID(ctx context.Context, table string) (int64, error) {
	var id int64
	err := s.queryRow(ctx, fmt.Sprintf(`SELECT coalesce(max(id), 0) FROM %s`, table)).Scan(&id)
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
