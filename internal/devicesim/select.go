package devicesim

import (
	"context"
	"database/sql"
	"fmt"
)

// SpreadMACs chooses n devices of a Gatehouse database to simulate (all of
// them, by id, when n is 0) spread over every list a portal shows rather
// than the first n by id: round robin over each installer's community,
// office and personal devices and, within one of those lists, over the
// device types. Round k takes the k-th device of every (installer, kind)
// list, the lists in account order, and the first installer's lists four
// each — the demo's own accounts (demo-subdistributor, demo-installer) were
// created first, so the installer a visitor logs in as has devices of every
// type online and its sub-distributor's installers fill the rounds first.
// Deterministic: the same database gives the same MACs.
//
// db is the store's handle (store.Store.DB()); the query runs on SQLite and
// PostgreSQL alike.
func SpreadMACs(ctx context.Context, db *sql.DB, n int) ([]string, error) {
	if n < 0 {
		return nil, fmt.Errorf("devicesim: %d devices", n)
	}
	q := "SELECT mac FROM devices ORDER BY id"
	if n > 0 {
		// t: the device's place among its installer's devices of the same
		// kind and type; r: its place in its (installer, kind) list, the
		// types taking turns.
		q = fmt.Sprintf(`SELECT mac FROM (
			SELECT mac, id, installer_id, project_kind, distributor_id, subdistributor_id, r,
				CASE WHEN installer_id = (SELECT MIN(installer_id) FROM devices) THEN (r + 3) / 4 ELSE r END AS turn
			FROM (SELECT mac, id, installer_id, project_kind, distributor_id, subdistributor_id,
				ROW_NUMBER() OVER (PARTITION BY installer_id, project_kind ORDER BY t, type, id) AS r
			FROM (SELECT mac, id, installer_id, project_kind, type, COALESCE(distributor_id, 0) AS distributor_id,
					COALESCE(subdistributor_id, 0) AS subdistributor_id,
					ROW_NUMBER() OVER (PARTITION BY installer_id, project_kind, type ORDER BY id) AS t
				FROM devices) typed
			) listed) ranked
			ORDER BY turn, distributor_id, subdistributor_id, installer_id, project_kind, r, id
			LIMIT %d`, n)
	}
	rows, err := db.QueryContext(ctx, q)
	if err != nil {
		return nil, fmt.Errorf("listing devices: %w", err)
	}
	defer rows.Close()
	var macs []string
	for rows.Next() {
		var m string
		if err := rows.Scan(&m); err != nil {
			return nil, err
		}
		macs = append(macs, m)
	}
	return macs, rows.Err()
}
