package store

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/model"
)

// Availability history (README "Availability"; migrations/*/
// 00030_availability.sql). The triggers of 00030 write a row into
// device_availability whenever devices.online changes, in the same
// transaction, and one when a device is added. The sweep (usecase
// AvailabilitySweeper, one node at a time under its lease) recomputes the
// stored 7-day figure devices.availability_7d, which the lists sort by, and
// prunes the rows older than the retention but the last one of each device
// before it (its state at the start of any window).

const availabilityLeaseName = "availability"

// availabilityBatch is how many devices a recompute or prune reads and
// writes at a time.
const availabilityBatch = 1000

// ErrAvailabilityLeaseLost is returned to a node that no longer holds the
// availability sweep's lease: it stops, another node goes on.
var ErrAvailabilityLeaseLost = errors.New("store: the availability lease is held by another node")

// availabilityIndex is the index a list sorted by availability walks at
// the actor's level of the tree.
func availabilityIndex(act *model.Actor) string {
	switch act.Role {
	case model.RoleAdmin:
		return idxDevicesAvailAll
	case model.RoleDistributor:
		return idxDevicesAvailDist
	case model.RoleSubdistributor:
		return idxDevicesAvailSub
	default:
		return idxDevicesAvailInst
	}
}

// availabilityOrder is the ORDER BY of a list sorted by 7-day
// availability in direction dir, the id breaking ties.
func availabilityOrder(dir string) string {
	return "d.availability_7d " + dir + ", d.id " + dir
}

// GetDeviceAvailability returns the availability over the last days days
// (1–model.MaxAvailabilityDays) of a device of the actor's subtree, by MAC
// in any notation; a device out of the subtree is not found.
func (s *Store) GetDeviceAvailability(ctx context.Context, mac string, days int) (*model.Availability, error) {
	act, err := actor(ctx)
	if err != nil {
		return nil, err
	}
	if days < 1 || days > model.MaxAvailabilityDays {
		return nil, model.Invalid("days", "must be 1 to %d", model.MaxAvailabilityDays)
	}
	m, ok := model.NormalizeMAC(mac)
	if !ok {
		return nil, model.NotFound("device")
	}
	cond, args := installerScope(act, "d.installer_id")
	var id int64
	if err := s.queryRow(ctx, `SELECT d.id FROM devices d WHERE d.mac = ? AND `+cond, append([]any{m}, args...)...).Scan(&id); isNoRows(err) {
		return nil, model.NotFound("device")
	} else if err != nil {
		return nil, err
	}
	to := s.now()
	from := to.Add(-time.Duration(days) * 24 * time.Hour)
	pts, err := s.availabilityPoints(ctx, id, from)
	if err != nil {
		return nil, err
	}
	a := model.ComputeAvailability(pts, from, to)
	a.MAC, a.Days = m, days
	return &a, nil
}

// availabilityPoints reads the transitions of device id from the last one
// at or before from on.
func (s *Store) availabilityPoints(ctx context.Context, id int64, from time.Time) ([]model.AvailabilityPoint, error) {
	rows, err := s.query(ctx, `SELECT at, online FROM device_availability WHERE device_id = ? AND at > ?
		UNION ALL SELECT at, online FROM (SELECT at, online FROM device_availability WHERE device_id = ? AND at <= ?
		ORDER BY at DESC LIMIT 1) b`, id, from, id, from)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []model.AvailabilityPoint
	for rows.Next() {
		var p model.AvailabilityPoint
		if err := rows.Scan(&p.At, &p.Online); err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, rows.Err()
}

// LeaseAvailability takes or renews, for node, the availability sweep's
// lease until now + ttl, and reports whether node holds it: free, expired
// or node's own. (System side.)
func (s *Store) LeaseAvailability(ctx context.Context, node string, ttl time.Duration) (bool, error) {
	return s.takeLease(ctx, "availability_leases", availabilityLeaseName, node, ttl)
}

// FreeAvailabilityLease gives node's lease up (a node shutting down), so
// that another node goes on at its next run.
func (s *Store) FreeAvailabilityLease(ctx context.Context, node string) error {
	return s.freeLease(ctx, "availability_leases", availabilityLeaseName, node)
}

// availabilityMark reads, for node holding the lease, when the last
// recompute ran and before when the last prune removed rows (zero: never).
func (s *Store) availabilityMark(ctx context.Context, node string) (recomputed, pruned time.Time, err error) {
	var r, p *time.Time
	err = s.queryRow(ctx, `SELECT recomputed_at, pruned_before FROM availability_leases WHERE name = ? AND node = ? AND until_at >= ?`,
		availabilityLeaseName, node, s.now()).Scan(&r, &p)
	if isNoRows(err) {
		return recomputed, pruned, ErrAvailabilityLeaseLost
	}
	if r != nil {
		recomputed = *r
	}
	if p != nil {
		pruned = *p
	}
	return recomputed, pruned, err
}

// setAvailabilityMark records col (recomputed_at or pruned_before) as at,
// if node still holds the lease.
func (s *Store) setAvailabilityMark(ctx context.Context, node, col string, at time.Time) error {
	res, err := s.exec(ctx, `UPDATE availability_leases SET `+col+` = ? WHERE name = ? AND node = ?`, at, availabilityLeaseName, node)
	if err != nil {
		return err
	}
	if n, err := res.RowsAffected(); err != nil {
		return err
	} else if n != 1 {
		return ErrAvailabilityLeaseLost
	}
	return nil
}

// AvailabilityRecompute is what one recompute did.
type AvailabilityRecompute struct {
	Devices int // devices whose figure was computed
	Changed int // of them, those whose stored figure changed
}

// RecomputeAvailability recomputes, for node holding the availability
// lease, the stored 7-day figure of the devices whose figure can have
// changed since the last recompute: those with a transition in the window
// of the last recompute or later (a transition in the window, or one the
// window's start has passed since), but for the row where a device's
// history starts, which counts only when it is new since the last run (a
// device added since: its figure is its state). The first run computes
// every device with history. (System side.)
func (s *Store) RecomputeAvailability(ctx context.Context, node string) (AvailabilityRecompute, error) {
	var out AvailabilityRecompute
	last, _, err := s.availabilityMark(ctx, node)
	if err != nil {
		return out, err
	}
	now := s.now()
	from := now.Add(-model.AvailabilityWindow)
	since := time.Time{}
	if !last.IsZero() {
		since = last.Add(-model.AvailabilityWindow)
	}
	var after int64
	skipped := false // a device's row another transaction held: not written
	for {
		if err := ctx.Err(); err != nil {
			return out, err
		}
		var rows *sql.Rows
		var err error
		if since.IsZero() {
			rows, err = s.query(ctx, `SELECT DISTINCT device_id FROM device_availability WHERE device_id > ? ORDER BY device_id LIMIT ?`,
				after, availabilityBatch)
		} else {
			// A device's first row (where its history starts) changes
			// nothing as time passes: its figure is its state until it
			// changes. Such a row counts only if it is new since the last
			// run (a device added since).
			rows, err = s.query(ctx, `SELECT DISTINCT t.device_id FROM device_availability t WHERE t.device_id > ? AND t.at >= ?
				AND (t.at >= ? OR EXISTS (SELECT 1 FROM device_availability p WHERE p.device_id = t.device_id AND p.at < t.at))
				ORDER BY t.device_id LIMIT ?`, after, since, last, availabilityBatch)
		}
		if err != nil {
			return out, err
		}
		ids, err := scanIDs(rows)
		if err != nil {
			return out, err
		}
		if len(ids) == 0 {
			break
		}
		after = ids[len(ids)-1]
		changed, held, err := s.recomputeAvailabilityOf(ctx, ids, from, now)
		if err != nil {
			return out, err
		}
		skipped = skipped || held
		out.Devices += len(ids)
		out.Changed += changed
		if len(ids) < availabilityBatch {
			break
		}
	}
	if skipped {
		// The mark stays: the next run reads the same devices again.
		return out, nil
	}
	return out, s.setAvailabilityMark(ctx, node, "recomputed_at", now)
}

// recomputeAvailabilityOf computes the figure over [from, to] of the
// devices ids and stores those that changed; it returns how many did, and
// whether a row another transaction held was left as it was.
func (s *Store) recomputeAvailabilityOf(ctx context.Context, ids []int64, from, to time.Time) (int, bool, error) {
	pts, err := s.availabilityPointsOf(ctx, ids, from)
	if err != nil {
		return 0, false, err
	}
	list, args := idList(ids)
	cur := make(map[int64]int, len(ids))
	rows, err := s.query(ctx, `SELECT id, availability_7d FROM devices WHERE id IN `+list, args...)
	if err != nil {
		return 0, false, err
	}
	for rows.Next() {
		var id int64
		var v int
		if err := rows.Scan(&id, &v); err != nil {
			rows.Close()
			return 0, false, err
		}
		cur[id] = v
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, false, err
	}
	var b strings.Builder
	var uargs []any
	n := 0
	for _, id := range ids {
		v, ok := cur[id]
		if !ok {
			continue // deleted meanwhile
		}
		bp := model.ComputeAvailability(pts[id], from, to).BasisPoints
		if bp == v {
			continue
		}
		if n > 0 {
			b.WriteByte(',')
		}
		b.WriteString("(CAST(? AS BIGINT), CAST(? AS INTEGER))")
		uargs = append(uargs, id, bp)
		n++
	}
	if n == 0 {
		return 0, false, nil
	}
	lock := ""
	if s.dialect == Postgres {
		// Only the rows no one holds: a batch of hellos locks its devices'
		// rows in the order they arrived, this UPDATE in its own, and each
		// waiting for the other was a deadlock (gateway_locks_test.go). A
		// device skipped is looked at again by the next run
		// (RecomputeAvailability keeps its mark).
		changed := make([]int64, 0, n)
		for i := 0; i < len(uargs); i += 2 {
			changed = append(changed, uargs[i].(int64))
		}
		l, largs := idList(changed)
		lock = ` AND devices.id IN (SELECT id FROM devices WHERE id IN ` + l + ` FOR UPDATE SKIP LOCKED)`
		uargs = append(uargs, largs...)
	}
	res, err := s.exec(ctx, `UPDATE devices SET availability_7d = v.column2 FROM (VALUES `+b.String()+`) AS v
		WHERE devices.id = v.column1`+lock, uargs...)
	if err != nil {
		return 0, false, err
	}
	updated, err := res.RowsAffected()
	return int(updated), int(updated) < n, err
}

// availabilityPointsOf reads, for each of the devices ids, its transitions
// from the last one at or before from on (what its figure over a window
// starting at from needs), as availabilityPoints does for one device.
func (s *Store) availabilityPointsOf(ctx context.Context, ids []int64, from time.Time) (map[int64][]model.AvailabilityPoint, error) {
	list, args := idList(ids)
	pts := make(map[int64][]model.AvailabilityPoint, len(ids))
	// The rows within the window, and each device's last one at or before
	// its start (its state then; found through the key, one row a device),
	// not the whole history kept (up to the retention).
	qargs := append(append(append([]any{}, args...), from, from), args...)
	rows, err := s.query(ctx, `SELECT device_id, at, online FROM device_availability WHERE device_id IN `+list+` AND at > ?
		UNION ALL
		SELECT t.device_id, t.at, t.online FROM (SELECT d.id, (SELECT max(k.at) FROM device_availability k
			WHERE k.device_id = d.id AND k.at <= ?) AS m FROM devices d WHERE d.id IN `+list+`) b
		JOIN device_availability t ON t.device_id = b.id AND t.at = b.m
		ORDER BY device_id, at`, qargs...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var id int64
		var p model.AvailabilityPoint
		if err := rows.Scan(&id, &p.At, &p.Online); err != nil {
			return nil, err
		}
		pts[id] = append(pts[id], p)
	}
	return pts, rows.Err()
}

// PruneAvailability removes, for node holding the availability lease, the
// transitions before before, keeping each device's last one at or before
// it (its state from then on). It reads only the devices with transitions
// between the previous prune's bound and before; it returns how many rows
// it removed. (System side.)
func (s *Store) PruneAvailability(ctx context.Context, node string, before time.Time) (int64, error) {
	_, prev, err := s.availabilityMark(ctx, node)
	if err != nil {
		return 0, err
	}
	if !prev.IsZero() && !before.After(prev) {
		return 0, nil
	}
	var removed int64
	var after int64
	for {
		if err := ctx.Err(); err != nil {
			return removed, err
		}
		rows, err := s.query(ctx, `SELECT DISTINCT device_id FROM device_availability WHERE at >= ? AND at <= ? AND device_id > ?
			ORDER BY device_id LIMIT ?`, prev, before, after, availabilityBatch)
		if err != nil {
			return removed, err
		}
		ids, err := scanIDs(rows)
		if err != nil {
			return removed, err
		}
		if len(ids) == 0 {
			break
		}
		after = ids[len(ids)-1]
		err = s.inTx(ctx, func(tx *Tx) error {
			for _, id := range ids {
				res, err := tx.exec(ctx, `DELETE FROM device_availability WHERE device_id = ? AND at < (
					SELECT max(k.at) FROM device_availability k WHERE k.device_id = ? AND k.at <= ?)`, id, id, before)
				if err != nil {
					return err
				}
				n, err := res.RowsAffected()
				if err != nil {
					return err
				}
				removed += n
			}
			return nil
		})
		if err != nil {
			return removed, err
		}
		if len(ids) < availabilityBatch {
			break
		}
	}
	return removed, s.setAvailabilityMark(ctx, node, "pruned_before", before)
}
