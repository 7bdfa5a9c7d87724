package store

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/model"
)

// Diagnostics of devices (docs/device-protocol.md §5.2). The scoped
// methods serve people: a device outside the caller's subtree, or a
// diagnostic of one, is not found. The system side is the gateway's (it
// runs them) and the sweeper's (expiry, retention, under a lease).

// DiagnosticWait is how long a diagnostic waits for its device to be (or
// come) online before it expires.
const DiagnosticWait = 5 * time.Minute

// diagLeaseName is the sweeper's row of the lease table the notifier uses.
const diagLeaseName = "diagnostics"

const diagnosticCols = `g.id, d.mac, g.device_id, g.kind, g.params, g.state, g.error, coalesce(a.username, ''), g.created_at, g.started_at,
	g.finished_at, g.expires_at, g.max_bytes, g.node, g.file_name, g.content_type, g.size, g.sha256`

const diagnosticFrom = `device_diagnostics g JOIN devices d ON d.id = g.device_id LEFT JOIN accounts a ON a.id = g.requested_by`

func scanDiagnostic(r scanner) (*model.Diagnostic, error) {
	var g model.Diagnostic
	var params string
	err := r.Scan(&g.ID, &g.MAC, &g.DeviceID, &g.Kind, &params, &g.State, &g.Error, &g.RequestedBy, &g.Created, &g.Started,
		&g.Finished, &g.Expires, &g.MaxBytes, &g.Node, &g.FileName, &g.ContentType, &g.Size, &g.SHA256)
	if err == nil {
		err = json.Unmarshal([]byte(params), &g.Params)
	}
	return &g, err
}

// CreateDiagnostic queues a diagnostic of the device mac in the caller's
// subtree (ENOTFOUND otherwise): req must be normalized
// (model.DiagnosticRequest.Normalize); the device sends at most maxBytes.
// At most model.DiagnosticsOpenMax open per device and
// model.DiagnosticsAccountOpenMax per requesting account (ECONFLICT
// beyond). Audited as "device.diagnose". The caller then tells the gateway
// (Gateway.Kick).
func (s *Store) CreateDiagnostic(ctx context.Context, mac string, req model.DiagnosticRequest, maxBytes int64) (*model.Diagnostic, error) {
	act, err := actor(ctx)
	if err != nil {
		return nil, err
	}
	if _, err := req.Normalize(); err != nil {
		return nil, err
	}
	params, err := json.Marshal(req.DiagnosticParams)
	if err != nil {
		return nil, err
	}
	var g *model.Diagnostic
	err = s.inTx(ctx, func(tx *Tx) error {
		d, err := s.getDevice(ctx, tx.tx, act, mac, s.lockFor(" FOR UPDATE"))
		if err != nil {
			return err
		}
		var open int
		if err := tx.queryRow(ctx, `SELECT count(*) FROM device_diagnostics WHERE device_id = ? AND state IN ('queued','running')`, d.ID).Scan(&open); err != nil {
			return err
		}
		if open >= model.DiagnosticsOpenMax {
			return model.Errorf(model.ECONFLICT, "Device %s has %d diagnostics queued or running already: wait until one is finished.", d.MAC, open)
		}
		if act.AccountID != 0 {
			if err := tx.queryRow(ctx, `SELECT count(*) FROM device_diagnostics WHERE requested_by = ? AND state IN ('queued','running')`, act.AccountID).Scan(&open); err != nil {
				return err
			}
			if open >= model.DiagnosticsAccountOpenMax {
				return model.Errorf(model.ECONFLICT, "You have %d diagnostics queued or running already: wait until some are finished.", open)
			}
		}
		now := s.now().Truncate(time.Microsecond)
		hourAgo := now.Add(-time.Hour)
		var recent int
		if err := tx.queryRow(ctx, `SELECT count(*) FROM device_diagnostics WHERE device_id = ? AND created_at > ?`,
			d.ID, hourAgo).Scan(&recent); err != nil {
			return err
		}
		if recent >= model.DiagnosticsDeviceHourMax {
			return model.Errorf(model.ETOOMANY, "Device %s was asked for %d diagnostics in the last hour, the most it takes: try again later.", d.MAC, recent)
		}
		if act.AccountID != 0 {
			if err := tx.queryRow(ctx, `SELECT count(*) FROM device_diagnostics WHERE requested_by = ? AND created_at > ?`,
				act.AccountID, hourAgo).Scan(&recent); err != nil {
				return err
			}
			if recent >= model.DiagnosticsAccountHourMax {
				return model.Errorf(model.ETOOMANY, "You asked for %d diagnostics in the last hour, the most an account may: try again later.", recent)
			}
		}
		g = &model.Diagnostic{MAC: d.MAC, DeviceID: d.ID, Kind: req.Kind, Params: req.DiagnosticParams, State: model.DiagnosticQueued,
			RequestedBy: act.Username, Created: now, Expires: now.Add(DiagnosticWait), MaxBytes: maxBytes}
		if err := tx.queryRow(ctx, `INSERT INTO device_diagnostics (device_id, kind, params, state, requested_by, created_at, expires_at, max_bytes)
			VALUES (?,?,?,'queued',?,?,?,?) RETURNING id`, d.ID, string(req.Kind), string(params), nullID(act.AccountID), now, g.Expires, maxBytes).Scan(&g.ID); err != nil {
			return err
		}
		return s.audit(ctx, tx, "device.diagnose", "device", d.MAC, map[string]any{"diagnostic_id": g.ID, "kind": string(req.Kind), "params": req.Describe()})
	})
	if err != nil {
		return nil, err
	}
	return g, nil
}

// ListDiagnostics returns the newest diagnostics of the device mac in the
// caller's subtree, newest first, at most limit (20 when limit ≤ 0, at most
// 200). No file is read.
func (s *Store) ListDiagnostics(ctx context.Context, mac string, limit int) ([]*model.Diagnostic, error) {
	act, err := actor(ctx)
	if err != nil {
		return nil, err
	}
	if limit <= 0 {
		limit = 20
	}
	limit = min(limit, 200)
	d, err := s.getDevice(ctx, s.db, act, mac)
	if err != nil {
		return nil, err
	}
	rows, err := s.query(ctx, `SELECT `+diagnosticCols+` FROM `+diagnosticFrom+` WHERE g.device_id = ? ORDER BY g.id DESC LIMIT ?`, d.ID, limit)
	if err != nil {
		return nil, err
	}
	return scanAll(rows, scanDiagnostic)
}

// GetDiagnostic returns a diagnostic of a device in the caller's subtree.
func (s *Store) GetDiagnostic(ctx context.Context, id int64) (*model.Diagnostic, error) {
	act, err := actor(ctx)
	if err != nil {
		return nil, err
	}
	return s.getDiagnostic(ctx, s.db, act, id)
}

func (s *Store) getDiagnostic(ctx context.Context, q querier, act *model.Actor, id int64) (*model.Diagnostic, error) {
	cond, args := installerScope(act, "d.installer_id")
	g, err := scanDiagnostic(q.QueryRowContext(ctx, s.q(`SELECT `+diagnosticCols+` FROM `+diagnosticFrom+` WHERE g.id = ? AND `+cond),
		append([]any{id}, args...)...))
	if isNoRows(err) {
		return nil, model.NotFound("diagnostic")
	}
	return g, err
}

// OpenDiagnosticFile returns a done diagnostic of the caller's subtree
// and its file, and audits the download ("device.diagnostic_download").
// ENOTFOUND for a foreign id, ECONFLICT while it has no file. The file is
// read outside any transaction (a file of megabytes must not hold
// SQLite's write lock); only the audit row is written in one.
func (s *Store) OpenDiagnosticFile(ctx context.Context, id int64) (*model.Diagnostic, []byte, error) {
	act, err := actor(ctx)
	if err != nil {
		return nil, nil, err
	}
	g, err := s.getDiagnostic(ctx, s.db, act, id)
	if err != nil {
		return nil, nil, err
	}
	if g.State != model.DiagnosticDone {
		return nil, nil, model.Errorf(model.ECONFLICT, "Diagnostic %d is %s: it has no file.", id, g.State)
	}
	var data []byte
	if err := s.db.QueryRowContext(ctx, s.q(`SELECT data FROM device_diagnostic_files WHERE diagnostic_id = ?`), id).Scan(&data); err != nil {
		if isNoRows(err) {
			return nil, nil, model.Errorf(model.ECONFLICT, "Diagnostic %d has no file.", id)
		}
		return nil, nil, err
	}
	err = s.inTx(ctx, func(tx *Tx) error {
		return s.audit(ctx, tx, "device.diagnostic_download", "device", g.MAC, map[string]any{"diagnostic_id": g.ID, "size": len(data)})
	})
	if err != nil {
		return nil, nil, err
	}
	return g, data, nil
}

// --- system side: the gateway ---

// DiagnosticsOpen reports whether any diagnostic is queued, anywhere: a
// connect looks for its device's only then. (System side.)
func (s *Store) DiagnosticsOpen(ctx context.Context) (bool, error) {
	var n int
	err := s.queryRow(ctx, `SELECT count(*) FROM (SELECT 1 FROM device_diagnostics WHERE state IN ('queued','running') LIMIT 1) x`).Scan(&n)
	return n > 0, err
}

// QueuedDiagnostics returns the queued, unexpired diagnostics of the
// devices with these ids, oldest first. (System side.)
func (s *Store) QueuedDiagnostics(ctx context.Context, deviceIDs ...int64) ([]*model.Diagnostic, error) {
	var out []*model.Diagnostic
	for len(deviceIDs) > 0 {
		n := min(len(deviceIDs), 500)
		in, args := idList(deviceIDs[:n])
		deviceIDs = deviceIDs[n:]
		rows, err := s.query(ctx, `SELECT `+diagnosticCols+` FROM `+diagnosticFrom+` WHERE g.device_id IN `+in+`
			AND g.state IN ('queued','running') ORDER BY g.id`, args...)
		if err != nil {
			return nil, err
		}
		gs, err := scanAll(rows, scanDiagnostic)
		if err != nil {
			return nil, err
		}
		now := s.now()
		for _, g := range gs {
			if g.State == model.DiagnosticQueued && g.Expires.After(now) {
				out = append(out, g)
			}
		}
	}
	return out, nil
}

// QueuedDiagnosticDevices returns the MACs of the devices held by node
// that have a queued diagnostic (Run's safety net). (System side.)
func (s *Store) QueuedDiagnosticDevices(ctx context.Context, node string) ([]string, error) {
	return s.macs(ctx, `SELECT DISTINCT d.mac FROM device_diagnostics g JOIN devices d ON d.id = g.device_id
		WHERE g.state = 'queued' AND g.expires_at > ? AND d.online AND d.node = ?`, s.now(), node)
}

// StartDiagnostic marks a queued, unexpired diagnostic running on node:
// false when it is no longer queued (another node took it, it expired).
// (System side.)
func (s *Store) StartDiagnostic(ctx context.Context, id int64, node string) (bool, error) {
	now := s.now()
	res, err := s.exec(ctx, `UPDATE device_diagnostics SET state = 'running', started_at = ?, node = ?
		WHERE id = ? AND state = 'queued' AND expires_at > ?`, now, node, id, now)
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

// FinishDiagnostic ends a running diagnostic: done with its file (name,
// content type, data; its size and SHA-256 recorded), or failed with
// errMsg when errMsg is not empty. One transaction: a diagnostic is never
// done without its file. (System side.)
func (s *Store) FinishDiagnostic(ctx context.Context, id int64, errMsg, name, contentType string, data []byte) error {
	now := s.now()
	if errMsg != "" {
		_, err := s.exec(ctx, `UPDATE device_diagnostics SET state = 'failed', error = ?, finished_at = ? WHERE id = ? AND state = 'running'`,
			model.StorableText(errMsg, 500), now, id)
		return err
	}
	sum := sha256.Sum256(data)
	return s.inTx(sysCtx(ctx), func(tx *Tx) error {
		res, err := tx.exec(ctx, `UPDATE device_diagnostics SET state = 'done', finished_at = ?, file_name = ?, content_type = ?, size = ?, sha256 = ?
			WHERE id = ? AND state = 'running'`, now, model.StorableText(name, 100), model.StorableText(contentType, 100), int64(len(data)),
			hex.EncodeToString(sum[:]), id)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n != 1 {
			return errors.Join(err, errors.New("store: the diagnostic is no longer running"))
		}
		if data == nil {
			data = []byte{}
		}
		_, err = tx.exec(ctx, `INSERT INTO device_diagnostic_files (diagnostic_id, data) VALUES (?,?)`, id, data)
		return err
	})
}

// --- system side: the sweeper ---

// FreeDiagnosticsLease gives node's sweeper lease up (a node shutting
// down), so that another node goes on at once. (System side.)
func (s *Store) FreeDiagnosticsLease(ctx context.Context, node string) error {
	return s.freeLease(ctx, "notification_leases", diagLeaseName, node)
}

// LeaseDiagnostics takes or renews, for node, the diagnostics sweeper's
// lease until now + ttl (a row of the notifier's lease table), and reports
// whether node holds it. (System side.)
func (s *Store) LeaseDiagnostics(ctx context.Context, node string, ttl time.Duration) (bool, error) {
	return s.takeLease(ctx, "notification_leases", diagLeaseName, node, ttl)
}

// DiagnosticSweep is what one sweep did.
type DiagnosticSweep struct {
	Expired int64 // queued past their expiry
	Failed  int64 // running for longer than a diagnostic may take (a node died)
	Deleted int64 // finished before the retention, with their files
}

// SweepDiagnostics expires queued diagnostics past their expiry, fails
// those running since before stuckBefore (their node went away), and
// deletes those created before keepAfter, with their files, at most limit
// per call. (System side.)
func (s *Store) SweepDiagnostics(ctx context.Context, stuckBefore, keepAfter time.Time, limit int) (DiagnosticSweep, error) {
	var out DiagnosticSweep
	now := s.now()
	res, err := s.exec(ctx, `UPDATE device_diagnostics SET state = 'expired', finished_at = ?,
		error = 'the device was not online before the diagnostic expired' WHERE state = 'queued' AND expires_at <= ?`, now, now)
	if err != nil {
		return out, err
	}
	out.Expired, _ = res.RowsAffected()
	res, err = s.exec(ctx, `UPDATE device_diagnostics SET state = 'failed', finished_at = ?,
		error = 'the node running it went away' WHERE state = 'running' AND started_at < ?`, now, stuckBefore)
	if err != nil {
		return out, err
	}
	out.Failed, _ = res.RowsAffected()
	rows, err := s.query(ctx, `SELECT id FROM device_diagnostics WHERE created_at < ? AND state NOT IN ('queued','running') ORDER BY created_at LIMIT ?`,
		keepAfter, max(limit, 1))
	if err != nil {
		return out, err
	}
	ids, err := scanAll(rows, func(r scanner) (int64, error) {
		var id int64
		return id, r.Scan(&id)
	})
	if err != nil || len(ids) == 0 {
		return out, err
	}
	in, args := idList(ids)
	err = s.inTx(sysCtx(ctx), func(tx *Tx) error {
		if _, err := tx.exec(ctx, `DELETE FROM device_diagnostic_files WHERE diagnostic_id IN `+in, args...); err != nil {
			return err
		}
		res, err := tx.exec(ctx, `DELETE FROM device_diagnostics WHERE id IN `+in, args...)
		if err == nil {
			out.Deleted, _ = res.RowsAffected()
		}
		return err
	})
	return out, err
}
