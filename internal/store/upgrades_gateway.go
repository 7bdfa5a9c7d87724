package store

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/model"
)

// The gateway's side of firmware upgrades (docs/device-protocol.md §5.1,
// issue 15): which upgrades a device must be told, and what it reports —
// progress, its acknowledgement, the firmware it comes back with. These run
// as the system, like AckCommand: the device reports, no person's scope
// applies, and an id that is not the device's own is ignored.

// openUpgradeStates is the condition of the partial unique index
// firmware_upgrades_one_open, written exactly so: SQLite uses a partial
// index only for a query that repeats its condition term for term. With
// it, a device's open upgrade is one index probe (at most one row).
const openUpgradeStates = `'pending','queued','sent','downloading','verifying','installing','rebooting'`

// inFlightUpgradeStates is the condition of firmware_upgrades_deadline:
// released to the device and not finished.
const inFlightUpgradeStates = `'queued','sent','downloading','verifying','installing','rebooting'`

const upgradeGatewayCols = `u.id, u.device_id, u.firmware_id, u.state, u.to_version, f.version, f.size, f.checksum, f.file_url,
	f.stored, u.deadline_at`

const upgradeGatewayFrom = `firmware_upgrades u JOIN firmware f ON f.id = u.firmware_id`

// openUpgrade is one open upgrade as the gateway sees it.
type openUpgrade struct {
	cmd   model.UpgradeCommand
	state model.UpgradeState
}

func scanOpenUpgrade(r scanner) (*openUpgrade, error) {
	var u openUpgrade
	var toVersion, fwVersion, checksum, fileURL string
	var stored bool
	var deadline sql.NullTime
	if err := r.Scan(&u.cmd.ID, &u.cmd.DeviceID, &u.cmd.FirmwareID, &u.state, &toVersion, &fwVersion, &u.cmd.Size, &checksum,
		&fileURL, &stored, &deadline); err != nil {
		return nil, err
	}
	u.cmd.Version = toVersion
	if u.cmd.Version == "" {
		u.cmd.Version = fwVersion
	}
	u.cmd.SHA256 = strings.TrimPrefix(strings.ToLower(checksum), "sha256:")
	if !stored {
		u.cmd.URL = fileURL
	}
	if deadline.Valid {
		u.cmd.Deadline = deadline.Time.UTC()
	}
	return &u, nil
}

// sendable: the upgrade is one the gateway (re)sends on connect (protocol
// §5.1): released, not past the install, not past its deadline.
func (u *openUpgrade) sendable(now time.Time) bool {
	switch u.state {
	case model.UpgradeQueued, model.UpgradeSent, model.UpgradeDownloading, model.UpgradeVerifying:
		return u.cmd.Deadline.IsZero() || u.cmd.Deadline.After(now)
	}
	return false
}

// OpenUpgrades returns the upgrades the gateway must (re)send to the
// devices with these ids, by device id: queued, sent, downloading or
// verifying, deadline not passed. URL is the external file_url, or "" for an
// image the cloud stores (the gateway makes its download URL). (System side.)
func (s *Store) OpenUpgrades(ctx context.Context, deviceIDs ...int64) (map[int64][]*model.UpgradeCommand, error) {
	return s.openUpgrades(ctx, deviceIDs, false)
}

// QueuedUpgrades is OpenUpgrades without those sent already: what a
// connected device was not told yet (a Kick). (System side.)
func (s *Store) QueuedUpgrades(ctx context.Context, deviceIDs ...int64) (map[int64][]*model.UpgradeCommand, error) {
	return s.openUpgrades(ctx, deviceIDs, true)
}

func (s *Store) openUpgrades(ctx context.Context, deviceIDs []int64, queuedOnly bool) (map[int64][]*model.UpgradeCommand, error) {
	out := map[int64][]*model.UpgradeCommand{}
	now := s.now()
	for len(deviceIDs) > 0 {
		n := min(len(deviceIDs), 500)
		in, args := idList(deviceIDs[:n])
		deviceIDs = deviceIDs[n:]
		var rows *sql.Rows
		var err error
		if n == 1 {
			rows, err = s.queryP(ctx, `SELECT `+upgradeGatewayCols+` FROM `+upgradeGatewayFrom+`
				WHERE u.device_id = CAST(? AS BIGINT) AND u.state IN (`+openUpgradeStates+`)`, args...)
		} else {
			rows, err = s.query(ctx, `SELECT `+upgradeGatewayCols+` FROM `+upgradeGatewayFrom+`
				WHERE u.device_id IN `+in+` AND u.state IN (`+openUpgradeStates+`)`, args...)
		}
		if err != nil {
			return nil, err
		}
		for rows.Next() {
			u, err := scanOpenUpgrade(rows)
			if err != nil {
				rows.Close()
				return nil, err
			}
			if u.sendable(now) && (!queuedOnly || u.state == model.UpgradeQueued) {
				out[u.cmd.DeviceID] = append(out[u.cmd.DeviceID], &u.cmd)
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

// MarkUpgradesSent records that these upgrades are being written to their
// devices' control streams: queued ones become sent, and each counts an
// attempt; one the device reports on already keeps its state. It returns
// the ids it marked: an upgrade that ended or was canceled since it was
// read is not among them, and must not be sent. (System side.)
func (s *Store) MarkUpgradesSent(ctx context.Context, ids ...int64) ([]int64, error) {
	ctx = sysCtx(ctx)
	now := s.now()
	const set = `UPDATE firmware_upgrades SET state = CASE WHEN state = 'queued' THEN 'sent' ELSE state END, sent_at = ?,
		updated_at = ?, attempts = attempts + 1 WHERE `
	const states = ` AND state IN ('queued','sent','downloading','verifying') RETURNING id`
	if len(ids) == 1 { // a connect's: group-committed, prepared
		var moved []int64
		err := s.inGroupTx(ctx, func(tx *Tx) error {
			moved = nil
			var id int64
			err := tx.queryRowP(ctx, set+`id = CAST(? AS BIGINT)`+states, now, now, ids[0]).Scan(&id)
			if isNoRows(err) {
				return nil
			} else if err != nil {
				return err
			}
			moved = append(moved, id)
			return nil
		})
		return moved, err
	}
	var moved []int64
	for len(ids) > 0 {
		n := min(len(ids), 500)
		in, args := idList(ids[:n])
		ids = ids[n:]
		rows, err := s.query(ctx, set+`id IN `+in+states, append([]any{now, now}, args...)...)
		if err != nil {
			return moved, err
		}
		got, err := scanIDs(rows)
		if err != nil {
			return moved, err
		}
		moved = append(moved, got...)
	}
	return moved, nil
}

// upgradeStagesUpTo are, for each stage a device reports, the states it
// may follow (itself included, for a download's percent): states only
// move forward.
var upgradeStagesUpTo = map[model.UpgradeState]string{
	model.UpgradeDownloading: `'queued','sent','downloading'`,
	model.UpgradeVerifying:   `'queued','sent','downloading','verifying'`,
	model.UpgradeInstalling:  `'queued','sent','downloading','verifying','installing'`,
	model.UpgradeRebooting:   `'queued','sent','downloading','verifying','installing','rebooting'`,
}

// UpgradeProgress records a device's progress message for its upgrade id:
// the stage (downloading, verifying, installing, rebooting) and, while
// downloading, the percent. Only forward moves count (a later stage, or a
// higher percent); anything else — another stage, an unknown, foreign or
// finished id — is ignored (false). (System side.)
func (s *Store) UpgradeProgress(ctx context.Context, deviceID, id int64, stage model.UpgradeState, percent int) (bool, error) {
	from, ok := upgradeStagesUpTo[stage]
	if !ok {
		return false, nil
	}
	if stage != model.UpgradeDownloading {
		percent = 100
	}
	percent = min(max(percent, 0), 100)
	ctx = sysCtx(ctx)
	var moved bool
	err := s.inGroupTx(ctx, func(tx *Tx) error {
		res, err := tx.execP(ctx, `UPDATE firmware_upgrades SET state = ?, percent = ?, updated_at = ?
			WHERE id = CAST(? AS BIGINT) AND device_id = CAST(? AS BIGINT) AND state IN (`+from+`)
			AND NOT (state = ? AND percent >= ?)`, string(stage), percent, s.now(), id, deviceID, string(stage), percent)
		if err != nil {
			return err
		}
		n, _ := res.RowsAffected()
		moved = n > 0
		return nil
	})
	return moved, err
}

// cameBack is the failure of a device that reports firmware other than
// the upgrade's.
func cameBack(firmware, target string) string {
	return fmt.Sprintf("came back with firmware %s, expected %s", firmware, target)
}

// FinishUpgrade records a device's acknowledgement of its upgrade id: ok
// with the version it runs now (or, without one, the firmware it last
// reported) → done when that and the firmware of its last hello are the
// target, else failed "came back with
// firmware X, expected Y"; not ok → failed with errMsg. It says whether this
// call finished the upgrade: an acknowledgement of an unknown, foreign or
// finished upgrade is ignored (false). (System side.)
func (s *Store) FinishUpgrade(ctx context.Context, deviceID, id int64, ok bool, errMsg, version string) (done bool, err error) {
	ctx = sysCtx(ctx)
	err = s.inGroupTx(ctx, func(tx *Tx) error {
		done = false
		var state model.UpgradeState
		var target, fwVersion, running string
		err := tx.queryRowP(ctx, `SELECT u.state, u.to_version, f.version, d.firmware FROM firmware_upgrades u
			JOIN firmware f ON f.id = u.firmware_id JOIN devices d ON d.id = u.device_id
			WHERE u.id = CAST(? AS BIGINT) AND u.device_id = CAST(? AS BIGINT)`, id, deviceID).Scan(&state, &target, &fwVersion, &running)
		if isNoRows(err) {
			return nil
		} else if err != nil {
			return err
		}
		if !state.Open() || state == model.UpgradePending {
			return nil // never sent, or finished: nothing to acknowledge
		}
		if target == "" {
			target = fwVersion
		}
		to, why := model.UpgradeFailed, strings.TrimSpace(errMsg)
		switch {
		case !ok:
			if why == "" {
				why = "the device refused the upgrade"
			}
		default:
			v := clip(version)
			if v == "" {
				v = running
			}
			// Done only when the firmware the device said in its hello
			// is the target too: an ack is not proof against the hello.
			switch {
			case v != target:
				why = cameBack(v, target)
			case running != target:
				why = cameBack(running, target)
			default:
				to, why = model.UpgradeDone, ""
			}
		}
		done, err = s.endUpgrade(ctx, tx, deviceID, id, to, why)
		return err
	})
	return done, err
}

// endUpgrade moves the open upgrade id of the device to done or failed
// (why kept as its error), unless it ended meanwhile; true when it did.
func (s *Store) endUpgrade(ctx context.Context, tx *Tx, deviceID, id int64, to model.UpgradeState, why string) (bool, error) {
	why = model.StorableText(why, 500)
	now := s.now()
	res, err := tx.execP(ctx, `UPDATE firmware_upgrades SET state = ?, error = ?,
		percent = CASE WHEN ? = 'done' THEN 100 ELSE percent END, finished_at = ?, updated_at = ?
		WHERE id = CAST(? AS BIGINT) AND device_id = CAST(? AS BIGINT) AND state IN (`+inFlightUpgradeStates+`)`,
		string(to), why, string(to), now, now, id, deviceID)
	if err != nil {
		return false, err
	}
	n, _ := res.RowsAffected()
	return n > 0, nil
}

// UpgradeHello applies a device's hello (the firmware it runs) to its open
// upgrade: the target version → done (its acknowledgement may have been
// lost); another version after the device installed or rebooted → failed
// "came back with firmware X, expected Y". A device without an open upgrade
// costs one index probe. (System side.)
func (s *Store) UpgradeHello(ctx context.Context, deviceID int64, firmware string) error {
	_, err := s.UpgradeConnect(ctx, deviceID, firmware)
	return err
}

// UpgradeConnect is UpgradeHello and OpenUpgrades of one device in one
// read, for the gateway's connect: it applies the hello, then returns what
// is still to (re)send.
func (s *Store) UpgradeConnect(ctx context.Context, deviceID int64, firmware string) ([]*model.UpgradeCommand, error) {
	ctx = sysCtx(ctx)
	rows, err := s.queryP(ctx, `SELECT `+upgradeGatewayCols+` FROM `+upgradeGatewayFrom+`
		WHERE u.device_id = CAST(? AS BIGINT) AND u.state IN (`+openUpgradeStates+`)`, deviceID)
	if err != nil {
		return nil, err
	}
	open, err := scanAll(rows, scanOpenUpgrade)
	if err != nil || len(open) == 0 {
		return nil, err
	}
	firmware = clip(firmware)
	now := s.now()
	var send []*model.UpgradeCommand
	for _, u := range open {
		if u.state == model.UpgradePending {
			continue
		}
		to, why := model.UpgradeState(""), ""
		switch {
		case firmware == "":
			// Nothing reported: nothing to judge.
		case firmware == u.cmd.Version:
			to = model.UpgradeDone
		case u.state == model.UpgradeInstalling || u.state == model.UpgradeRebooting:
			to, why = model.UpgradeFailed, cameBack(firmware, u.cmd.Version)
		}
		if to != "" {
			if err := s.inGroupTx(ctx, func(tx *Tx) error {
				_, err := s.endUpgrade(ctx, tx, deviceID, u.cmd.ID, to, why)
				return err
			}); err != nil {
				return nil, err
			}
			continue
		}
		if u.sendable(now) {
			send = append(send, &u.cmd)
		}
	}
	return send, nil
}

// QueuedUpgradeDevices returns the MACs of the devices online on node
// with an upgrade queued (not told yet): the gateway's safety net for a
// lost Kick. (System side.)
func (s *Store) QueuedUpgradeDevices(ctx context.Context, node string) ([]string, error) {
	return s.macs(ctx, `SELECT DISTINCT d.mac FROM firmware_upgrades u JOIN devices d ON d.id = u.device_id
		WHERE u.state IN (`+inFlightUpgradeStates+`) AND u.state = 'queued' AND u.deadline_at > ? AND d.online = true AND d.node = ?`,
		s.now(), node)
}

// UpgradesInFlight reports whether any upgrade is released and not
// finished, on any device: while none is, the gateway's connects skip the
// upgrade lookup (one row of firmware_upgrades_deadline at most). (System
// side.)
func (s *Store) UpgradesInFlight(ctx context.Context) (bool, error) {
	var one int
	// ORDER BY the index's column: SQLite would otherwise scan another
	// index, through every pending upgrade of a large rollout.
	err := s.queryRowP(ctx, `SELECT 1 FROM firmware_upgrades WHERE state IN (`+inFlightUpgradeStates+`) ORDER BY deadline_at LIMIT 1`).Scan(&one)
	if isNoRows(err) {
		return false, nil
	}
	return err == nil, err
}
