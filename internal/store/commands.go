package store

import (
	"context"
	"database/sql"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/model"
)

// Commands for devices (docs/device-protocol.md §5). The scoped methods
// serve people; the gateway's own methods run as the system.

// CommandExpiry is how long a command waits for its device: 24 hours for a
// reboot or reset, one hour for an AutoP fetch.
func CommandExpiry(kind model.CommandKind) time.Duration {
	if kind == model.CommandAutoP {
		return time.Hour
	}
	return 24 * time.Hour
}

const commandCols = `c.id, d.mac, c.kind, c.mode, c.status, c.batch_id, coalesce(a.username, ''), c.created_at, c.sent_at,
	c.finished_at, c.expires_at, c.attempts, c.error, c.version`

const commandFrom = `device_commands c JOIN devices d ON d.id = c.device_id LEFT JOIN accounts a ON a.id = c.created_by`

func scanCommand(r scanner) (*model.DeviceCommand, error) {
	var c model.DeviceCommand
	err := r.Scan(&c.ID, &c.MAC, &c.Kind, &c.Mode, &c.Status, nid(&c.BatchID), &c.CreatedBy, &c.Created, &c.Sent,
		&c.Finished, &c.Expires, &c.Attempts, &c.Error, &c.Version)
	return &c, err
}

// CreateCommand queues a reboot, a reset (mode factory | config) or an
// AutoP fetch for the device mac in the caller's subtree (ENOTFOUND
// otherwise), audited as "device.reboot", "device.reset" or "device.autop".
// The caller then tells the gateway (Gateway.Kick).
func (s *Store) CreateCommand(ctx context.Context, mac string, kind model.CommandKind, mode string) (*model.DeviceCommand, error) {
	act, err := actor(ctx)
	if err != nil {
		return nil, err
	}
	mode = strings.TrimSpace(strings.ToLower(mode))
	switch kind {
	case model.CommandReset:
		if mode != model.ResetFactory && mode != model.ResetConfig {
			return nil, model.Invalid("mode", "must be factory or config")
		}
	case model.CommandReboot, model.CommandAutoP:
		mode = ""
	default:
		return nil, model.Invalid("kind", "must be reboot, reset or autop")
	}
	var c *model.DeviceCommand
	err = s.inTx(ctx, func(tx *Tx) error {
		d, err := s.getDevice(ctx, tx.tx, act, mac)
		if err != nil {
			return err
		}
		now := s.now()
		c = &model.DeviceCommand{MAC: d.MAC, Kind: kind, Mode: mode, Status: model.CommandQueued, CreatedBy: act.Username,
			Created: now, Expires: now.Add(CommandExpiry(kind))}
		if err := tx.queryRow(ctx, `INSERT INTO device_commands (device_id, kind, mode, status, created_by, created_at, expires_at)
			VALUES (?,?,?,'queued',?,?,?) RETURNING id`, d.ID, string(kind), mode, nullID(act.AccountID), now, c.Expires).Scan(&c.ID); err != nil {
			return err
		}
		details := map[string]any{"command_id": c.ID}
		if mode != "" {
			details["mode"] = mode
		}
		return s.audit(ctx, tx, "device."+string(kind), "device", d.MAC, details)
	})
	if err != nil {
		return nil, err
	}
	return c, nil
}

// ListCommands returns the newest commands of the device mac in the
// caller's subtree, newest first, at most limit (50 when limit ≤ 0, at most
// 500).
func (s *Store) ListCommands(ctx context.Context, mac string, limit int) ([]*model.DeviceCommand, error) {
	act, err := actor(ctx)
	if err != nil {
		return nil, err
	}
	if limit <= 0 {
		limit = 50
	}
	limit = min(limit, 500)
	d, err := s.getDevice(ctx, s.db, act, mac)
	if err != nil {
		return nil, err
	}
	return s.commands(ctx, `c.device_id = ? ORDER BY c.id DESC LIMIT ?`, d.ID, limit)
}

func (s *Store) commands(ctx context.Context, where string, args ...any) ([]*model.DeviceCommand, error) {
	rows, err := s.query(ctx, `SELECT `+commandCols+` FROM `+commandFrom+` WHERE `+where, args...)
	if err != nil {
		return nil, err
	}
	return scanAll(rows, scanCommand)
}

// PendingCommands returns the commands the gateway must (re)send to the
// devices with these ids, by device id: queued or sent, not expired, oldest
// first. (System side.)
func (s *Store) PendingCommands(ctx context.Context, deviceIDs ...int64) (map[int64][]*model.DeviceCommand, error) {
	return s.openCommands(ctx, "'queued','sent'", deviceIDs)
}

// QueuedCommands is PendingCommands without the commands already sent: what
// a connected device has not been told yet. (System side.)
func (s *Store) QueuedCommands(ctx context.Context, deviceIDs ...int64) (map[int64][]*model.DeviceCommand, error) {
	return s.openCommands(ctx, "'queued'", deviceIDs)
}

func (s *Store) openCommands(ctx context.Context, statuses string, deviceIDs []int64) (map[int64][]*model.DeviceCommand, error) {
	out := map[int64][]*model.DeviceCommand{}
	for len(deviceIDs) > 0 {
		n := min(len(deviceIDs), 500)
		in, args := idList(deviceIDs[:n])
		deviceIDs = deviceIDs[n:]
		now := s.now()
		var rows *sql.Rows
		var err error
		if n == 1 {
			// A connect's: one device, prepared (stmts.go), and its expiry
			// checked here, so that no bound value is one the planner looks
			// at (SQLite would plan the statement again on every call).
			rows, err = s.queryP(ctx, `SELECT c.device_id, `+commandCols+` FROM `+commandFrom+`
				WHERE c.device_id = CAST(? AS BIGINT) AND c.status IN (`+statuses+`) ORDER BY c.id`, args...)
		} else {
			rows, err = s.query(ctx, `SELECT c.device_id, `+commandCols+` FROM `+commandFrom+` WHERE c.device_id IN `+in+`
				AND c.status IN (`+statuses+`) AND c.expires_at > ? ORDER BY c.id`, append(args, now)...)
		}
		if err != nil {
			return nil, err
		}
		for rows.Next() {
			var did int64
			c, err := scanCommand(scanFunc(func(dest ...any) error { return rows.Scan(append([]any{&did}, dest...)...) }))
			if err != nil {
				rows.Close()
				return nil, err
			}
			if c.Expires.After(now) {
				out[did] = append(out[did], c)
			}
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

type scanFunc func(dest ...any) error

func (f scanFunc) Scan(dest ...any) error { return f(dest...) }

// MarkCommandsSent records that these commands were written to their
// devices' control streams: queued ones become sent, and each counts an
// attempt. Finished commands are left alone. (System side.)
func (s *Store) MarkCommandsSent(ctx context.Context, ids ...int64) error {
	now := s.now()
	for len(ids) > 0 {
		n := min(len(ids), 500)
		in, args := idList(ids[:n])
		ids = ids[n:]
		if _, err := s.exec(ctx, `UPDATE device_commands SET status = 'sent', sent_at = ?, attempts = attempts + 1
			WHERE id IN `+in+` AND status IN ('queued','sent')`, append([]any{now}, args...)...); err != nil {
			return err
		}
	}
	return nil
}

// AckCommand records a device's acknowledgement of its command id: ok →
// done, else failed with errMsg; for an AutoP fetch the version applied is
// kept. An acknowledgement of an unknown, foreign or finished command is
// ignored (done=false). A reset done clears the device's key binding and its
// pending one-time AutoP commands in the same transaction. (System side.)
func (s *Store) AckCommand(ctx context.Context, deviceID, id int64, ok bool, errMsg, version string) (kind model.CommandKind, done bool, err error) {
	ctx = sysCtx(ctx)
	err = s.inGroupTx(ctx, func(tx *Tx) error {
		kind, done, err = s.finishCommandKind(ctx, tx, deviceID, id, ok, errMsg, version)
		return err
	})
	return kind, done, err
}

func (s *Store) finishCommand(ctx context.Context, tx *Tx, deviceID, id int64, ok bool, errMsg, version string) (bool, error) {
	_, done, err := s.finishCommandKind(ctx, tx, deviceID, id, ok, errMsg, version)
	return done, err
}

func (s *Store) finishCommandKind(ctx context.Context, tx *Tx, deviceID, id int64, ok bool, errMsg, version string) (model.CommandKind, bool, error) {
	status := model.CommandDone
	if ok {
		errMsg = ""
	} else {
		status = model.CommandFailed
		if strings.TrimSpace(errMsg) == "" {
			errMsg = "the device refused the command"
		}
		version = ""
	}
	if len(errMsg) > 500 {
		errMsg = errMsg[:500]
	}
	var kind model.CommandKind
	var mode string
	err := tx.queryRowP(ctx, `UPDATE device_commands SET status = ?, finished_at = ?, error = ?,
		version = CASE WHEN kind = 'autop' THEN ? ELSE version END
		WHERE id = ? AND device_id = CAST(? AS BIGINT) AND status IN ('queued','sent') RETURNING kind, mode`,
		string(status), s.now(), errMsg, clip(version), id, deviceID).Scan(&kind, &mode)
	if isNoRows(err) {
		return "", false, nil
	} else if err != nil {
		return "", false, err
	}
	typ := model.EventCommandDone
	if !ok {
		typ = model.EventCommandFailed
	}
	if err := s.emitDeviceWebhook(ctx, tx, typ, deviceID, "", map[string]any{"command_id": id, "kind": string(kind),
		"mode": mode, "error": errMsg}); err != nil {
		return "", false, err
	}
	if kind == model.CommandReset && ok {
		if err := s.clearDeviceBinding(ctx, tx, deviceID, mode == model.ResetFactory); err != nil {
			return "", false, err
		}
		if mode == model.ResetFactory {
			var mac string
			if err := tx.queryRow(ctx, `SELECT mac FROM devices WHERE id = ?`, deviceID).Scan(&mac); err != nil {
				return "", false, err
			}
			if err := s.audit(ctx, tx, "device.key_cleared", "device", mac, map[string]any{"reset": id}); err != nil {
				return "", false, err
			}
		}
	}
	return kind, true, nil
}

// clearDeviceBinding is what a reset does in the cloud: pending one-time
// AutoP commands are voided, and a factory reset clears the key binding and
// voids the old key for good (the device made a new one, which waits to be
// accepted; a request still in flight with the old key must not come back).
// A configuration reset keeps the key, and so the binding.
func (s *Store) clearDeviceBinding(ctx context.Context, tx *Tx, deviceID int64, factory bool) error {
	tx.changed(model.AutoPChange{DeviceIDs: []int64{deviceID}})
	if factory {
		if _, err := tx.exec(ctx, `UPDATE devices SET retired_keys = CASE WHEN key_hash <> '' THEN substr(key_hash || ' ' || retired_keys, 1, 519)
			ELSE retired_keys END, key_hash = '' WHERE id = ?`, deviceID); err != nil {
			return err
		}
	}
	_, err := tx.exec(ctx, `UPDATE device_autop SET once = '', updated_at = ? WHERE device_id = ? AND once <> ''`, s.now(), deviceID)
	return err
}

// ExpireCommands ends the commands past their expiry that are still queued
// or sent: expired. (System side.)
func (s *Store) ExpireCommands(ctx context.Context) (int64, error) {
	now := s.now()
	res, err := s.exec(ctx, `UPDATE device_commands SET status = 'expired', finished_at = ?
		WHERE status IN ('queued','sent') AND expires_at <= ?`, now, now)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

// UnackedCommandDevices returns the MACs of the devices online on node
// with a command sent before sentBefore that is not acknowledged and not
// expired: its write went to a connection that was ending, or the device's
// acknowledgement was not recorded (a database too slow for it). The
// gateway sends those again to the device's connection — it executes each
// id once and answers a repeat with the same ack — since nothing else
// would while the device stays connected. (System side.)
func (s *Store) UnackedCommandDevices(ctx context.Context, node string, sentBefore time.Time) ([]string, error) {
	return s.macs(ctx, `SELECT DISTINCT d.mac FROM device_commands c JOIN devices d ON d.id = c.device_id
		WHERE c.status = 'sent' AND c.sent_at < ? AND c.expires_at > ? AND d.online = true AND d.node = ?`, sentBefore, s.now(), node)
}

// QueuedCommandDevices returns the MACs of the devices online on node that
// have queued commands not yet expired: the gateway's safety net for a
// lost bus message. (System side.)
func (s *Store) QueuedCommandDevices(ctx context.Context, node string) ([]string, error) {
	return s.macs(ctx, `SELECT DISTINCT d.mac FROM device_commands c JOIN devices d ON d.id = c.device_id
		WHERE c.status = 'queued' AND c.expires_at > ? AND d.online = true AND d.node = ?`, s.now(), node)
}

// macs runs a query of one MAC column: the gateway's safety nets list the
// devices they look at this way.
func (s *Store) macs(ctx context.Context, q string, args ...any) ([]string, error) {
	rows, err := s.query(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	return scanAll(rows, func(r scanner) (string, error) {
		var m string
		return m, r.Scan(&m)
	})
}
