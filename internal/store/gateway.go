package store

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/model"
)

// The device gateway's side of the store (docs/device-protocol.md): what a
// connected device reports (its authentication and enrollment are in
// enroll.go). These methods run as the system: the device is the
// authority, not a person, so they take no actor's scope.

// ValidDeviceKey reports whether key has the form of docs/device-protocol.md
// §1: 32 to 128 characters from A–Z a–z 0–9 - _.
func ValidDeviceKey(key string) bool {
	if len(key) < 32 || len(key) > 128 {
		return false
	}
	for i := 0; i < len(key); i++ {
		c := key[i]
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// DeviceKeyHash is what the store keeps of a device key: hex SHA-256.
func DeviceKeyHash(key string) string {
	sum := sha256.Sum256([]byte(key))
	return hex.EncodeToString(sum[:])
}

func sysCtx(ctx context.Context) context.Context {
	if model.ActorFrom(ctx) == model.System {
		return ctx
	}
	return model.WithActor(ctx, model.System)
}

func scanDeviceAnd(r scanner, extra ...any) (*model.Device, error) {
	var d model.Device
	err := r.Scan(append([]any{&d.ID, &d.MAC, &d.InstallerID, &d.ProjectID, nid(&d.BuildingID), nid(&d.ApartmentID), nid(&d.DepartmentID),
		nid(&d.OwnerID), &d.Type, &d.Model, &d.Name, &d.SIP, &d.Firmware, &d.Location, &d.Online, &d.LastSeen, &d.Created}, extra...)...)
	return &d, err
}

// clip makes a device-reported string storable, at most the protocol's 64 bytes.
func clip(s string) string { return model.StorableText(strings.TrimSpace(s), 64) }

// DeviceConnected records that the device mac connected to node at at and
// said hello: online, its IP, model, firmware, uptime and config version
// (the device's own model and firmware overwrite the stored ones).
func (s *Store) DeviceConnected(ctx context.Context, mac, node string, at time.Time, h model.DeviceHello) error {
	// Group-committed with the other hellos of the moment (group.go).
	var refused error
	err := s.inGroupTx(ctx, func(tx *Tx) error {
		refused = nil
		// A connection older than the one recorded for an online device
		// lost a race with it (two at once): the newer one stays the
		// device's.
		res, err := tx.execP(ctx, `UPDATE devices SET online = true, ip = ?,
			uptime = ?, config_version = ?, node = ?, connected_at = ?, last_seen = ?
			WHERE mac = CAST(? AS TEXT) AND (online = false OR connected_at IS NULL OR connected_at <= ?)`, clip(h.IP),
			max(h.Uptime, 0), clip(h.ConfigVersion), node, at, at, mac, at)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n > 0 {
			if err := setModelFirmware(ctx, tx, mac, h.Model, h.Firmware); err != nil {
				return err
			}
			// Written only when an endpoint subscribes (webhooks.go).
			return s.emitConnectWebhook(ctx, tx, model.EventDeviceOnline, mac, map[string]any{"node": node,
				"ip": clip(h.IP), "firmware": clip(h.Firmware), "model": clip(h.Model), "at": at.UTC()})
		}
		var one int
		if err := tx.queryRowP(ctx, `SELECT 1 FROM devices WHERE mac = CAST(? AS TEXT)`, mac).Scan(&one); isNoRows(err) {
			refused = model.NotFound("device")
		} else if err != nil {
			return err
		} else {
			refused = model.Errorf(model.ECONFLICT, "A newer connection of device %s is recorded.", mac)
		}
		return nil // nothing written: the batch goes on
	})
	if err != nil {
		return err
	}
	return refused
}

// DeviceReported records what a connected device's status changed: its
// IP, model, firmware, uptime and config version, and when it was seen —
// provided the connection of node at connectedAt is still the device's
// current one.
func (s *Store) DeviceReported(ctx context.Context, mac, node string, connectedAt, seen time.Time, h model.DeviceHello) error {
	return s.inGroupTx(ctx, func(tx *Tx) error {
		res, err := tx.execP(ctx, `UPDATE devices SET ip = ?, uptime = ?, config_version = ?, last_seen = ?
			WHERE mac = CAST(? AS TEXT) AND node = CAST(? AS TEXT) AND connected_at = ?`, clip(h.IP),
			max(h.Uptime, 0), clip(h.ConfigVersion), seen, mac, node, connectedAt)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n > 0 {
			return setModelFirmware(ctx, tx, mac, h.Model, h.Firmware)
		}
		return nil
	})
}

// setModelFirmware records the model and firmware a device reported (an
// empty one keeps the stored), writing the row only when one changed: both
// are in indexes (devices_model, devices_firmware: the rollouts' targets and
// the lists' filter by version), which SQLite rewrites whenever an UPDATE
// sets the column, changed or not — on every connect, were they in the
// hello's SET.
func setModelFirmware(ctx context.Context, tx *Tx, mac, mdl, firmware string) error {
	mdl, firmware = clip(mdl), clip(firmware)
	if mdl == "" && firmware == "" {
		return nil
	}
	_, err := tx.execP(ctx, `UPDATE devices SET model = CASE WHEN ? <> '' THEN ? ELSE model END,
		firmware = CASE WHEN ? <> '' THEN ? ELSE firmware END
		WHERE mac = CAST(? AS TEXT) AND ((? <> '' AND model <> ?) OR (? <> '' AND firmware <> ?))`,
		mdl, mdl, firmware, firmware, mac, mdl, mdl, firmware, firmware)
	return err
}

// DevicesSeen records that the devices with these ids, connected to node,
// were heard from at at: one statement per 500 devices, so that heartbeats
// of many devices cost few writes.
func (s *Store) DevicesSeen(ctx context.Context, node string, at time.Time, ids []int64) error {
	for len(ids) > 0 {
		n := min(len(ids), 500)
		args := make([]any, 0, n+2)
		args = append(args, at, node)
		for _, id := range ids[:n] {
			args = append(args, id)
		}
		if _, err := s.exec(ctx, `UPDATE devices SET last_seen = ? WHERE node = ? AND online = true AND id IN (?`+
			strings.Repeat(",?", n-1)+`)`, args...); err != nil {
			return err
		}
		ids = ids[n:]
	}
	return nil
}

// DeviceDisconnected marks the device offline, provided its connection of
// node at connectedAt is still the current one: a reconnect elsewhere in the
// meantime is not overwritten.
func (s *Store) DeviceDisconnected(ctx context.Context, mac, node string, connectedAt, seen time.Time) error {
	return s.inGroupTx(ctx, func(tx *Tx) error {
		res, err := tx.execP(ctx, `UPDATE devices SET online = false, node = '', last_seen = ?
			WHERE mac = CAST(? AS TEXT) AND node = CAST(? AS TEXT) AND connected_at = ?`,
			seen, mac, node, connectedAt)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n > 0 {
			return s.emitConnectWebhook(ctx, tx, model.EventDeviceOffline, mac, map[string]any{"at": seen.UTC()})
		}
		return nil
	})
}

// NodeOffline marks offline every device the store still holds online on
// node from a connection made before since: a node starting up again (after
// a crash) holds none of them, while a device that reconnected to the new
// run in the meantime is left alone.
//
// On PostgreSQL it never waits for a device's row while holding others: a
// batch of hellos locks its rows in the order the devices arrived, a bulk
// UPDATE in the order it scans them, and each waiting for the other was a
// deadlock. It takes the rows no one holds (5,000 at a time, SKIP LOCKED),
// then looks again for those it skipped once their writer ended (a
// reconnected device's row no longer matches), within ctx.
func (s *Store) NodeOffline(ctx context.Context, node string, before time.Time) (int64, error) {
	const where = `online = true AND node = ? AND (connected_at IS NULL OR connected_at < ?)`
	var total int64
	for {
		var n int64
		var err error
		if s.webhookWanted(ctx, s.db, model.WebhookEventBit(model.EventDeviceOffline)) {
			n, err = s.offlineWithEvents(ctx, where+` LIMIT 5000`, "node restarted", node, before)
		} else {
			n, err = s.offlineChunks(ctx, where, node, before)
		}
		total += n
		if err != nil || s.dialect != Postgres {
			return total, err
		}
		var left int
		if err := s.queryRow(ctx, `SELECT count(*) FROM (SELECT 1 FROM devices WHERE `+where+` LIMIT 1) l`, node, before).Scan(&left); err != nil || left == 0 {
			return total, err
		}
		select {
		case <-ctx.Done():
			return total, ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// skipLocked ends a SELECT of rows to write so that it takes only those no
// other transaction holds (PostgreSQL; SQLite has one writer at a time).
func (s *Store) skipLocked() string {
	if s.dialect == Postgres {
		return ` FOR UPDATE SKIP LOCKED`
	}
	return ""
}

// offlineChunks marks offline, 5,000 at a time, the devices where (a
// condition on devices) selects and no other transaction holds.
func (s *Store) offlineChunks(ctx context.Context, where string, args ...any) (int64, error) {
	var total int64
	for {
		res, err := s.exec(ctx, `UPDATE devices SET online = false, node = '' WHERE id IN (
			SELECT id FROM devices WHERE `+where+` LIMIT 5000`+s.skipLocked()+`)`, args...)
		if err != nil {
			return total, err
		}
		n, _ := res.RowsAffected()
		total += n
		if n < 5000 || ctx.Err() != nil {
			return total, ctx.Err()
		}
	}
}

// StaleOffline marks offline the devices held online that nothing was heard
// from since seenBefore: those of a node that died without a goodbye, or
// marked online by an import without any connection. Every node's
// heartbeat refreshes last_seen, so a live device is never stale. In chunks,
// so that a large sweep never holds the database for long; a row another
// transaction holds is left to the next sweep (see NodeOffline).
func (s *Store) StaleOffline(ctx context.Context, seenBefore time.Time) (int64, error) {
	if s.webhookWanted(ctx, s.db, model.WebhookEventBit(model.EventDeviceOffline)) {
		return s.offlineWithEvents(ctx, `online = true AND (last_seen IS NULL OR last_seen < ?) LIMIT 5000`, "not heard from", seenBefore)
	}
	return s.offlineChunks(ctx, `online = true AND (last_seen IS NULL OR last_seen < ?)`, seenBefore)
}

// DeviceNode tells which node holds the connection of the device mac (any
// notation), if it is online: where a Remote Control request must go.
func (s *Store) DeviceNode(ctx context.Context, mac string) (node string, online bool, err error) {
	m, ok := model.NormalizeMAC(mac)
	if !ok {
		return "", false, model.NotFound("device")
	}
	err = s.queryRow(ctx, `SELECT node, online FROM devices WHERE mac = ?`, m).Scan(&node, &online)
	if isNoRows(err) {
		return "", false, model.NotFound("device")
	}
	return node, online, err
}

// offlineWithEvents marks offline, 5,000 at a time, the devices where
// (a condition on devices, with its LIMIT) selects, each with its
// device.offline event in the same transaction: NodeOffline's and
// StaleOffline's way when an endpoint subscribes to device.offline. Rows
// another transaction holds are skipped (see NodeOffline).
func (s *Store) offlineWithEvents(ctx context.Context, where, reason string, args ...any) (int64, error) {
	var total int64
	for {
		var n int64
		err := s.inTx(ctx, func(tx *Tx) error {
			rows, err := tx.query(ctx, `SELECT id FROM devices WHERE `+where+s.skipLocked(), args...)
			if err != nil {
				return err
			}
			ids, err := scanIDs(rows)
			if err != nil || len(ids) == 0 {
				return err
			}
			at := s.now()
			for _, id := range ids {
				if err := s.emitDeviceWebhook(ctx, tx, model.EventDeviceOffline, id, "", map[string]any{"at": at.UTC(), "reason": reason}); err != nil {
					return err
				}
			}
			in := make([]any, len(ids))
			for i, id := range ids {
				in[i] = id
			}
			res, err := tx.exec(ctx, `UPDATE devices SET online = false, node = '' WHERE id IN (?`+strings.Repeat(",?", len(ids)-1)+`)`, in...)
			if err != nil {
				return err
			}
			n, err = res.RowsAffected()
			return err
		})
		total += n
		if err != nil || n < 5000 || ctx.Err() != nil {
			return total, errors.Join(err, ctx.Err())
		}
	}
}
