package store_test

import (
	"context"
	"database/sql"
	"slices"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/model"
	"github.com/gatehouse-dev/gatehouse/internal/store"
	"github.com/gatehouse-dev/gatehouse/internal/testutil"
)

// The bulk writes of the gateway and of the notification scheduler against
// the devices' own writes, on PostgreSQL (SQLite has one writer at a time:
// no transaction waits for another's row there). A group-committed batch
// of hellos locks its devices' rows in the order the devices arrived; a
// bulk UPDATE locks them in the order it scans them: each waiting for a row
// the other holds was a deadlock (SQLSTATE 40P01), found by the fault suite
// (internal/faults/commands_test.go) when a killed node restarts while its
// devices reconnect. The bulk writes now take only the rows no one holds
// and come back for the others: they never wait for a row while holding
// one.

// lockOrder returns the ids of the devices where (a condition on devices)
// selects, in the order a scan of the table meets them (their physical
// place): the order a bulk UPDATE locks them in.
func lockOrder(t *testing.T, st *store.Store, where string, args ...any) []int64 {
	t.Helper()
	rows, err := st.DB().Query(`SELECT id FROM devices WHERE `+where+` ORDER BY ctid`, args...)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var ids []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	return ids
}

// holdAcross runs, in one transaction, lock on the row a bulk write meets
// last, then the bulk write (bulk, in another goroutine), then — once the
// bulk write had time to lock the rows before and wait for the held one —
// lock on the row it meets first: what a batch of two hellos does. Both
// must succeed.
func holdAcross(t *testing.T, st *store.Store, lock func(tx *sql.Tx, id int64) error, first, last int64, bulk func() error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	tx, err := st.DB().BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	if err := lock(tx, last); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- bulk() }()
	select {
	case err := <-done: // it did not wait for the held row
		if err != nil {
			t.Fatalf("the bulk write: %v", err)
		}
		done <- nil
	case <-time.After(500 * time.Millisecond):
	}
	if err := lock(tx, first); err != nil {
		t.Fatalf("the devices' transaction, after the bulk write began: %v", err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatalf("the devices' transaction: %v", err)
	}
	if err := <-done; err != nil {
		t.Fatalf("the bulk write: %v", err)
	}
}

func TestNodeOfflineNoDeadlockWithHellos(t *testing.T) {
	for _, b := range testutil.Backends(t) {
		if b != "postgres" {
			continue // one writer at a time: nothing to interleave
		}
		t.Run(b, func(t *testing.T) {
			t.Parallel()
			st := testutil.NewStore(t, b)
			tr := mustTree(t, st)
			t0 := time.Now().UTC().Add(-time.Minute).Truncate(time.Millisecond)
			for _, br := range []*branch{tr.a1, tr.a2, tr.b} {
				if err := st.DeviceConnected(sys, br.device.MAC, "node-x", t0, model.DeviceHello{IP: "10.0.0.1"}); err != nil {
					t.Fatal(err)
				}
			}
			ids := lockOrder(t, st, `online AND node = 'node-x'`)
			if len(ids) != 3 {
				t.Fatalf("devices online on node-x: %v", ids)
			}
			// A hello's write to a device of the node: last_seen and the like.
			touch := func(tx *sql.Tx, id int64) error {
				_, err := tx.Exec(`UPDATE devices SET last_seen = $1 WHERE id = $2`, t0, id)
				return err
			}
			var n int64
			holdAcross(t, st, touch, ids[0], ids[len(ids)-1], func() error {
				var err error
				n, err = st.NodeOffline(sys, "node-x", t0.Add(time.Second))
				return err
			})
			// The row held meanwhile is taken offline too once it is free.
			if left := countQ(t, st, `SELECT count(*) FROM devices WHERE online AND node = 'node-x'`); n != 3 || left != 0 {
				t.Errorf("NodeOffline took %d devices offline, %d left online", n, left)
			}
		})
	}
}

func TestDecideNotificationsNoDeadlockWithDevices(t *testing.T) {
	for _, b := range testutil.Backends(t) {
		if b != "postgres" {
			continue
		}
		t.Run(b, func(t *testing.T) {
			t.Parallel()
			st := testutil.NewStore(t, b)
			tr := mustTree(t, st)
			t0 := time.Now().UTC().Add(-time.Hour).Truncate(time.Millisecond)
			// Three devices offline (their episodes due at once), in the
			// order the scheduler looks at them: by when they went.
			var ids []int64
			for i, br := range []*branch{tr.a1, tr.a2, tr.b} {
				at := t0.Add(time.Duration(i) * time.Second)
				if err := st.DeviceConnected(sys, br.device.MAC, "node-x", at, model.DeviceHello{}); err != nil {
					t.Fatal(err)
				}
				if err := st.DeviceDisconnected(sys, br.device.MAC, "node-x", at, at.Add(time.Second)); err != nil {
					t.Fatal(err)
				}
				ids = append(ids, br.device.ID)
			}
			if n := countQ(t, st, `SELECT count(*) FROM device_offline WHERE check_at IS NOT NULL`); n != 3 {
				t.Fatalf("%d offline episodes due", n)
			}
			// A device's write to its episode: what the trigger of a hello does.
			touch := func(tx *sql.Tx, id int64) error {
				_, err := tx.Exec(`UPDATE device_offline SET alerted = alerted WHERE device_id = $1`, id)
				return err
			}
			holdAcross(t, st, touch, ids[0], ids[2], func() error {
				_, err := st.DecideNotifications(sys, 100)
				return err
			})
			// The episode held meanwhile is looked at by the next step.
			if _, err := st.DecideNotifications(sys, 100); err != nil {
				t.Fatal(err)
			}
			if n := countQ(t, st, `SELECT count(*) FROM device_offline WHERE check_at IS NOT NULL AND check_at <= $1`, time.Now()); n != 0 {
				t.Errorf("%d episodes due left after two steps", n)
			}
		})
	}
}

func countQ(t *testing.T, st *store.Store, q string, args ...any) int {
	t.Helper()
	var n int
	if err := st.DB().QueryRow(q, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return n
}

func TestRecomputeAvailabilityNoDeadlockWithDevices(t *testing.T) {
	for _, b := range testutil.Backends(t) {
		if b != "postgres" {
			continue
		}
		t.Run(b, func(t *testing.T) {
			t.Parallel()
			st := testutil.NewStore(t, b)
			tr := mustTree(t, st)
			t0 := time.Now().UTC().Add(-time.Hour).Truncate(time.Millisecond)
			var ids []int64
			for _, br := range []*branch{tr.a1, tr.a2, tr.b} {
				if err := st.DeviceConnected(sys, br.device.MAC, "node-x", t0, model.DeviceHello{}); err != nil {
					t.Fatal(err)
				}
				ids = append(ids, br.device.ID)
			}
			slices.Sort(ids)
			if ok, err := st.LeaseAvailability(sys, "node-x", time.Minute); err != nil || !ok {
				t.Fatal(ok, err)
			}
			touch := func(tx *sql.Tx, id int64) error {
				_, err := tx.Exec(`UPDATE devices SET last_seen = $1 WHERE id = $2`, t0, id)
				return err
			}
			order := lockOrder(t, st, `id = ANY($1)`, ids)
			holdAcross(t, st, touch, order[0], order[2], func() error {
				_, err := st.RecomputeAvailability(sys, "node-x")
				return err
			})
			// The device held meanwhile gets its figure from the next run.
			if _, err := st.RecomputeAvailability(sys, "node-x"); err != nil {
				t.Fatal(err)
			}
			if n := countQ(t, st, `SELECT count(*) FROM devices WHERE availability_7d = 0 AND id = ANY($1)`, ids); n != 0 {
				t.Errorf("%d devices without their figure after two runs", n)
			}
		})
	}
}
