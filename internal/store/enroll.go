package store

import (
	"context"
	"crypto/subtle"
	"errors"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/model"
)

// Device enrollment (DESIGN.md §3, docs/device-protocol.md §1). The accepted
// key of a device is devices.key_hash; any other key it presents waits in
// device_keys as pending until a person of its subtree accepts or rejects
// it. An open acceptance window of the device (or, for a device without an
// accepted key, of its project) or the maker's claim code of its MAC
// accepts a key at once. Only the gateway calls AuthenticateDevice: the
// AutoP server reads the accepted key and never records one.

// keyRefusedEvery is how often at most a refused key is audited per device,
// so that a misbehaving device cannot flood the audit log.
const keyRefusedEvery = time.Minute

// maxPendingKeys bounds the pending keys kept per device: a stranger
// trying keys pushes out only the least recently tried ones, and the real
// device, retrying every minute, stays listed.
const maxPendingKeys = 8

// Fingerprint is how a key is shown to people: the first 16 hex digits of
// its SHA-256.
func Fingerprint(keyHash string) string {
	if len(keyHash) < 16 {
		return keyHash
	}
	return keyHash[:16]
}

// ClaimCodeHash is what the store keeps of a claim code (normalised first).
func ClaimCodeHash(code string) string {
	c, _ := model.NormalizeClaimCode(code)
	return DeviceKeyHash("claim:" + c)
}

// errRefused is the one refusal of every key the cloud did not accept; the
// transports answer it, an unknown MAC and a wrong key alike.
func errRefused(mac, why string) error {
	return model.Errorf(model.EFORBIDDEN, "The key of device %s is not accepted (%s).", mac, why)
}

// AuthenticateDevice checks a device's attempt to connect: a malformed MAC
// or key is model.Invalid, an unregistered MAC ENOTFOUND, and a key that is
// not (or cannot become) the accepted one EFORBIDDEN. The hot path — the
// accepted key — is one indexed SELECT and no write. Otherwise a.Allow is
// asked first (for unknown MACs too, so that rate limits treat them alike),
// then:
//   - a key a factory reset voided, or a person rejected, is refused;
//   - a new key while a factory reset of the device is sent and not yet
//     acknowledged completes that reset (the device reset itself before its
//     acknowledgement arrived), clearing the binding;
//   - the device's open acceptance window accepts the key (replacing an
//     accepted one: an installer stands at the device), and closes;
//   - for a device without an accepted key, the maker's claim code of its MAC
//     or an open window of its project accepts the key;
//   - any other key is recorded as pending (audited once per key) and
//     refused.
//
// It returns the device's id and MAC: what its connection needs, and all
// the hot path reads.
func (s *Store) AuthenticateDevice(ctx context.Context, a model.DeviceAttempt) (*AuthenticatedDevice, error) {
	m, ok := model.NormalizeMAC(a.MAC)
	if !ok {
		return nil, model.Invalid("mac", "must be 12 hex digits")
	}
	if !ValidDeviceKey(a.Key) {
		return nil, model.Invalid("key", "must be 32 to 128 characters from A-Z a-z 0-9 - _")
	}
	hash := DeviceKeyHash(a.Key)
	ctx = sysCtx(ctx)
	// The hot path: the accepted key, two columns of one indexed row.
	var id int64
	var bound string
	err := s.queryRowP(ctx, `SELECT id, key_hash FROM devices WHERE mac = CAST(? AS TEXT)`, m).Scan(&id, &bound)
	if err == nil && bound != "" && subtle.ConstantTimeCompare([]byte(bound), []byte(hash)) == 1 {
		return &AuthenticatedDevice{ID: id, MAC: m}, nil
	} else if err != nil && !isNoRows(err) {
		return nil, err
	}
	for attempt := 0; ; attempt++ {
		d, au, err := s.deviceForAuth(ctx, m)
		if err == nil && au.bound != "" && subtle.ConstantTimeCompare([]byte(au.bound), []byte(hash)) == 1 {
			return &AuthenticatedDevice{ID: d.ID, MAC: d.MAC}, nil // accepted meanwhile
		}
		if err != nil && model.ErrorCode(err) != model.ENOTFOUND {
			return nil, err
		}
		if attempt == 0 && a.Allow != nil {
			if err := a.Allow(); err != nil {
				return nil, err
			}
		}
		if err != nil {
			return nil, err
		}
		d, err = s.enroll(ctx, d, au, hash, a)
		if err == nil {
			return &AuthenticatedDevice{ID: d.ID, MAC: d.MAC}, nil
		} else if !errors.Is(err, errLostRace) {
			return nil, err
		}
		if attempt == 3 {
			return nil, model.Errorf(model.ECONFLICT, "The binding of device %s keeps changing; try again.", m)
		}
	}
}

// AuthenticatedDevice is a device whose key AuthenticateDevice accepted.
type AuthenticatedDevice struct {
	ID  int64
	MAC string
}

var errLostRace = errors.New("store: lost a race")

// authRow is what authentication reads of a device besides the device.
type authRow struct {
	bound, retired, claim string
}

func (s *Store) deviceForAuth(ctx context.Context, mac string) (*model.Device, authRow, error) {
	var au authRow
	d, err := scanDeviceAnd(s.queryRowP(ctx, `SELECT `+deviceCols+`, d.key_hash, d.retired_keys, coalesce(m.claim_hash, '')
		FROM devices d LEFT JOIN installer_macs m ON m.mac = d.mac AND m.installer_id = d.installer_id WHERE d.mac = CAST(? AS TEXT)`, mac),
		&au.bound, &au.retired, &au.claim)
	if isNoRows(err) {
		return nil, au, model.NotFound("device")
	}
	return d, au, err
}

// enroll decides a key that is not the device's accepted one (see
// AuthenticateDevice); errLostRace asks the caller to read again.
func (s *Store) enroll(ctx context.Context, d *model.Device, au authRow, hash string, a model.DeviceAttempt) (*model.Device, error) {
	fp := Fingerprint(hash)
	if strings.Contains(au.retired, hash) {
		// A key the device had before a factory reset: a request still in
		// flight from before it, or a copy of the old key.
		if err := s.auditKeyRefused(ctx, d.MAC, a.RemoteAddr, fp, "voided by a factory reset"); err != nil {
			return nil, err
		}
		return nil, errRefused(d.MAC, "voided by a factory reset")
	}
	var status string
	if err := s.queryRow(ctx, `SELECT status FROM device_keys WHERE device_id = ? AND key_hash = ?`, d.ID, hash).Scan(&status); err != nil && !isNoRows(err) {
		return nil, err
	}
	if status == model.KeyRejected {
		if err := s.auditKeyRefused(ctx, d.MAC, a.RemoteAddr, fp, "rejected"); err != nil {
			return nil, err
		}
		return nil, errRefused(d.MAC, "rejected")
	}
	now := s.now()
	if au.bound != "" {
		// A new key while a factory reset is sent and unacknowledged: the
		// reset is done, as its ack would have made it (the binding is
		// cleared and the old key voided). The new key is then decided as
		// any key of a device without one.
		var resetID int64
		err := s.queryRow(ctx, `SELECT id FROM device_commands WHERE device_id = ? AND kind = 'reset' AND mode = 'factory'
			AND status = 'sent' AND expires_at > ? ORDER BY id LIMIT 1`, d.ID, now).Scan(&resetID)
		if err != nil && !isNoRows(err) {
			return nil, err
		}
		if err == nil {
			err = s.inTx(ctx, func(tx *Tx) error {
				// Still bound as read (this also locks the row).
				res, err := tx.exec(ctx, `UPDATE devices SET key_hash = key_hash WHERE id = ? AND key_hash = ?`, d.ID, au.bound)
				if err != nil {
					return err
				}
				if n, _ := res.RowsAffected(); n == 0 {
					return errLostRace
				}
				done, err := s.finishCommand(ctx, tx, d.ID, resetID, true, "", "")
				if err == nil && !done {
					err = errLostRace
				}
				return err
			})
			if err != nil {
				return nil, err
			}
			return nil, errLostRace // read the cleared binding again
		}
	}
	// Who accepts the key at once, if anyone.
	var windowID int64
	var via string
	err := s.queryRow(ctx, `SELECT id FROM enroll_windows WHERE device_id = ? AND closed_at IS NULL AND expires_at > ?
		ORDER BY id DESC LIMIT 1`, d.ID, now).Scan(&windowID)
	if err != nil && !isNoRows(err) {
		return nil, err
	}
	if err == nil {
		via = "window"
	} else if au.bound == "" {
		if c, ok := model.NormalizeClaimCode(a.Claim); ok && au.claim != "" &&
			subtle.ConstantTimeCompare([]byte(au.claim), []byte(ClaimCodeHash(c))) == 1 {
			via = "claim_code"
		} else {
			var pw int64
			err := s.queryRow(ctx, `SELECT id FROM enroll_windows WHERE project_id = ? AND closed_at IS NULL AND expires_at > ?
				ORDER BY id DESC LIMIT 1`, d.ProjectID, now).Scan(&pw)
			if err != nil && !isNoRows(err) {
				return nil, err
			}
			if err == nil {
				via, windowID = "project_window", pw
			}
		}
	}
	if via == "" {
		return nil, s.recordPending(ctx, d, au, hash, a)
	}
	err = s.inTx(ctx, func(tx *Tx) error {
		tx.changed(model.AutoPChange{DeviceIDs: []int64{d.ID}, MACs: []string{d.MAC}})
		res, err := tx.exec(ctx, `UPDATE devices SET key_hash = ? WHERE id = ? AND key_hash = ?`, hash, d.ID, au.bound)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return errLostRace
		}
		if via == "window" {
			// "The next key": the window is used up by this one.
			res, err := tx.exec(ctx, `UPDATE enroll_windows SET closed_at = ? WHERE id = ? AND closed_at IS NULL`, now, windowID)
			if err != nil {
				return err
			}
			if n, _ := res.RowsAffected(); n == 0 {
				return errLostRace
			}
		}
		if _, err := tx.exec(ctx, `DELETE FROM device_keys WHERE device_id = ? AND key_hash = ?`, d.ID, hash); err != nil {
			return err
		}
		details := map[string]any{"mac": d.MAC, "via": via, "remote_addr": a.RemoteAddr, "key_fingerprint": fp}
		if windowID != 0 {
			details["window"] = windowID
		}
		if au.bound != "" {
			details["replaced"] = Fingerprint(au.bound)
		}
		return s.audit(ctx, tx, "device.key_accepted", "device", d.MAC, details)
	})
	if err != nil {
		return nil, err
	}
	return d, nil
}

// recordPending keeps a key nobody accepted as pending (a new one audited
// once), and refuses it.
func (s *Store) recordPending(ctx context.Context, d *model.Device, au authRow, hash string, a model.DeviceAttempt) error {
	now := s.now()
	mdl, fw, addr := clip(a.Model), clip(a.Firmware), clip(a.RemoteAddr)
	err := s.inTx(ctx, func(tx *Tx) error {
		res, err := tx.exec(ctx, `UPDATE device_keys SET last_at = ?, attempts = attempts + 1, remote_addr = ?,
			model = CASE WHEN ? <> '' THEN ? ELSE model END, firmware = CASE WHEN ? <> '' THEN ? ELSE firmware END
			WHERE device_id = ? AND key_hash = ? AND status = 'pending'`, now, addr, mdl, mdl, fw, fw, d.ID, hash)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n > 0 {
			return nil
		}
		var n int
		if err := tx.queryRow(ctx, `SELECT count(*) FROM device_keys WHERE device_id = ? AND status = 'pending'`, d.ID).Scan(&n); err != nil {
			return err
		}
		if n >= maxPendingKeys {
			if _, err := tx.exec(ctx, `DELETE FROM device_keys WHERE id IN (SELECT id FROM device_keys WHERE device_id = ? AND status = 'pending'
				ORDER BY last_at, id LIMIT ?)`, d.ID, n-maxPendingKeys+1); err != nil {
				return err
			}
		}
		if _, err := tx.exec(ctx, `INSERT INTO device_keys (device_id, key_hash, remote_addr, model, firmware, first_at, last_at)
			VALUES (?, ?, ?, ?, ?, ?, ?)`, d.ID, hash, addr, mdl, fw, now, now); err != nil {
			return err
		}
		return s.audit(ctx, tx, "device.key_pending", "device", d.MAC, map[string]any{"mac": d.MAC, "remote_addr": a.RemoteAddr,
			"key_fingerprint": Fingerprint(hash), "model": mdl, "firmware": fw, "device_has_accepted_key": au.bound != ""})
	})
	if isUniqueViolation(err) {
		err = nil // the same key at once from two connections: recorded by the other
	}
	if err != nil {
		return err
	}
	return errRefused(d.MAC, "waiting to be accepted")
}

// auditKeyRefused records a refused key unless one was recorded for the
// device within keyRefusedEvery (read from the audit log itself, so that
// every node shares the limit).
func (s *Store) auditKeyRefused(ctx context.Context, mac, remoteAddr, fingerprint, why string) error {
	var last time.Time
	err := s.queryRow(ctx, `SELECT at FROM audit_log WHERE object_type = 'device' AND object_id = ? AND action = 'device.key_refused'
		ORDER BY id DESC LIMIT 1`, mac).Scan(&last)
	if err != nil && !isNoRows(err) {
		return err
	}
	if err == nil && s.now().Sub(last) < keyRefusedEvery {
		return nil
	}
	return s.inTx(ctx, func(tx *Tx) error {
		details := map[string]any{"mac": mac, "remote_addr": remoteAddr, "key_fingerprint": fingerprint}
		if why != "" {
			details["reason"] = why
		}
		return s.audit(ctx, tx, "device.key_refused", "device", mac, details)
	})
}

// DeviceKeyRefused audits, as auditKeyRefused bounds it, a key the AutoP
// server refused for a registered MAC (it records nothing else: only the
// gateway records keys). An unknown MAC is not audited here.
func (s *Store) DeviceKeyRefused(ctx context.Context, mac, key, remoteAddr, where string) error {
	m, ok := model.NormalizeMAC(mac)
	if !ok {
		return nil
	}
	ctx = sysCtx(ctx)
	var one int
	if err := s.queryRow(ctx, `SELECT 1 FROM devices WHERE mac = ?`, m).Scan(&one); isNoRows(err) {
		return nil
	} else if err != nil {
		return err
	}
	fp := ""
	if key != "" {
		fp = Fingerprint(DeviceKeyHash(key))
	}
	return s.auditKeyRefused(ctx, m, remoteAddr, fp, where)
}

// EnrollDeviceKeys accepts keys (MAC → key) for devices that have no
// accepted key yet, as per-device credentials registered in advance: the
// simulator with database access and tests use it, as a maker's factory
// would. System only; it answers how many it accepted.
func (s *Store) EnrollDeviceKeys(ctx context.Context, keys map[string]string) (int, error) {
	if model.ActorFrom(ctx) != model.System {
		return 0, model.Errorf(model.EFORBIDDEN, "Only the system enrolls device keys in advance.")
	}
	n := 0
	err := s.inTx(ctx, func(tx *Tx) error {
		for mac, key := range keys {
			m, ok := model.NormalizeMAC(mac)
			if !ok {
				return model.Invalid("mac", "%q is not 12 hex digits", mac)
			}
			if !ValidDeviceKey(key) {
				return model.Invalid("key", "of %s must be 32 to 128 characters from A-Z a-z 0-9 - _", m)
			}
			tx.changed(model.AutoPChange{MACs: []string{m}})
			res, err := tx.exec(ctx, `UPDATE devices SET key_hash = ? WHERE mac = ? AND key_hash = ''`, DeviceKeyHash(key), m)
			if err != nil {
				return err
			}
			k, _ := res.RowsAffected()
			n += int(k)
		}
		if n == 0 {
			return nil
		}
		return s.audit(ctx, tx, "device.keys_enrolled", "device", "", map[string]any{"devices": n})
	})
	return n, err
}

// The people's side: pending keys, accept and reject, acceptance windows.
// Every method is scoped to the actor's subtree: an id of another subtree
// is not found.

const pendingKeyCols = `k.id, d.mac, d.name, p.name, i.username, k.key_hash, k.status, k.remote_addr, k.model, k.firmware,
	k.attempts, k.first_at, k.last_at, d.key_hash <> '', coalesce(x.username, ''), k.decided_at`

const pendingKeyFrom = `device_keys k JOIN devices d ON d.id = k.device_id JOIN projects p ON p.id = d.project_id
	JOIN accounts i ON i.id = d.installer_id LEFT JOIN accounts x ON x.id = k.decided_by`

func scanPendingKey(r scanner) (*model.PendingKey, error) {
	var k model.PendingKey
	var hash string
	err := r.Scan(&k.ID, &k.MAC, &k.DeviceName, &k.Project, &k.Installer, &hash, &k.Status, &k.RemoteAddr, &k.Model, &k.Firmware,
		&k.Attempts, &k.FirstAt, &k.LastAt, &k.Bound, &k.DecidedBy, &k.DecidedAt)
	k.Fingerprint = Fingerprint(hash)
	return &k, err
}

// ListPendingKeys lists the keys waiting to be accepted for devices of the
// actor's subtree, the most recently tried first.
func (s *Store) ListPendingKeys(ctx context.Context, f model.PendingKeyFilter) (model.List[*model.PendingKey], error) {
	act, err := actor(ctx)
	if err != nil {
		return model.List[*model.PendingKey]{}, err
	}
	cond, args := installerScope(act, "d.installer_id")
	where := []string{"k.status = 'pending'", cond}
	if q := strings.TrimSpace(f.MAC); q != "" {
		q = strings.NewReplacer(":", "", "-", "", ".", "").Replace(q)
		where = append(where, `d.mac LIKE ? ESCAPE '\'`)
		args = append(args, strings.ToUpper(likeContains(q)))
	}
	return list(ctx, s, pendingKeyFrom, strings.Join(where, " AND "), "k.last_at DESC, k.id DESC", pendingKeyCols, args, f.Page, scanPendingKey)
}

// GetDeviceEnrollment tells a device's page its enrollment: whether a key
// is accepted, its pending and rejected keys, open windows and whether a
// claim code is on file.
func (s *Store) GetDeviceEnrollment(ctx context.Context, mac string) (*model.DeviceEnrollment, error) {
	act, err := actor(ctx)
	if err != nil {
		return nil, err
	}
	d, err := s.getDevice(ctx, s.db, act, mac)
	if err != nil {
		return nil, err
	}
	out := &model.DeviceEnrollment{MAC: d.MAC, Keys: []*model.PendingKey{}}
	var bound string
	if err := s.queryRow(ctx, `SELECT d.key_hash, EXISTS (SELECT 1 FROM installer_macs m WHERE m.mac = d.mac AND m.installer_id = d.installer_id
		AND m.claim_hash <> '') FROM devices d WHERE d.id = ?`, d.ID).Scan(&bound, &out.ClaimCode); err != nil {
		return nil, err
	}
	out.Accepted, out.Fingerprint = bound != "", Fingerprint(bound)
	rows, err := s.query(ctx, `SELECT `+pendingKeyCols+` FROM `+pendingKeyFrom+` WHERE k.device_id = ? ORDER BY k.status, k.last_at DESC, k.id DESC LIMIT 50`, d.ID)
	if err != nil {
		return nil, err
	}
	if out.Keys, err = scanAll(rows, scanPendingKey); err != nil {
		return nil, err
	}
	ws, err := s.openWindows(ctx, `(w.device_id = ? OR w.project_id = ?)`, []any{d.ID, d.ProjectID})
	if err != nil {
		return nil, err
	}
	for _, w := range ws {
		if w.MAC != "" && out.Window == nil {
			out.Window = w
		} else if w.MAC == "" && out.ProjectWindow == nil {
			out.ProjectWindow = w
		}
	}
	return out, nil
}

// decideKey loads a key of the actor's subtree for a decision.
func (s *Store) decideKey(ctx context.Context, tx *Tx, act *model.Actor, id int64) (k *model.PendingKey, deviceID int64, hash string, err error) {
	cond, args := installerScope(act, "d.installer_id")
	err = tx.queryRow(ctx, `SELECT d.id, k.key_hash FROM device_keys k JOIN devices d ON d.id = k.device_id WHERE k.id = ? AND `+cond,
		append([]any{id}, args...)...).Scan(&deviceID, &hash)
	if isNoRows(err) {
		return nil, 0, "", model.NotFound("pending key")
	} else if err != nil {
		return nil, 0, "", err
	}
	k, err = scanPendingKey(tx.queryRow(ctx, `SELECT `+pendingKeyCols+` FROM `+pendingKeyFrom+` WHERE k.id = ?`, id))
	return k, deviceID, hash, err
}

// AcceptDeviceKey makes a pending (or rejected) key of a device of the
// actor's subtree the device's accepted key, replacing any other: the
// device connects with it from its next attempt. It answers the key as it
// was, for the MAC and whether another key was replaced.
func (s *Store) AcceptDeviceKey(ctx context.Context, id int64) (*model.PendingKey, error) {
	act, err := actor(ctx)
	if err != nil {
		return nil, err
	}
	var k *model.PendingKey
	err = s.inTx(ctx, func(tx *Tx) error {
		var deviceID int64
		var hash string
		k, deviceID, hash, err = s.decideKey(ctx, tx, act, id)
		if err != nil {
			return err
		}
		var old string
		if err := tx.queryRow(ctx, `SELECT key_hash FROM devices WHERE id = ?`, deviceID).Scan(&old); err != nil {
			return err
		}
		tx.changed(model.AutoPChange{DeviceIDs: []int64{deviceID}})
		if _, err := tx.exec(ctx, `UPDATE devices SET key_hash = ? WHERE id = ?`, hash, deviceID); err != nil {
			return err
		}
		if _, err := tx.exec(ctx, `DELETE FROM device_keys WHERE id = ?`, id); err != nil {
			return err
		}
		details := map[string]any{"via": "person", "key_fingerprint": k.Fingerprint, "remote_addr": k.RemoteAddr,
			"model": k.Model, "firmware": k.Firmware}
		if old != "" {
			details["replaced"] = Fingerprint(old)
		}
		return s.audit(ctx, tx, "device.key_accepted", "device", k.MAC, details)
	})
	return k, err
}

// RejectDeviceKey marks a pending key of a device of the actor's subtree
// rejected: it is refused from then on and leaves the pending list (it
// stays on the device's page, where it can still be accepted).
func (s *Store) RejectDeviceKey(ctx context.Context, id int64) (*model.PendingKey, error) {
	act, err := actor(ctx)
	if err != nil {
		return nil, err
	}
	var k *model.PendingKey
	err = s.inTx(ctx, func(tx *Tx) error {
		k, _, _, err = s.decideKey(ctx, tx, act, id)
		if err != nil {
			return err
		}
		if k.Status == model.KeyRejected {
			return nil
		}
		now := s.now()
		if _, err := tx.exec(ctx, `UPDATE device_keys SET status = 'rejected', decided_by = ?, decided_at = ? WHERE id = ?`,
			nullID(act.AccountID), now, id); err != nil {
			return err
		}
		k.Status, k.DecidedBy, k.DecidedAt = model.KeyRejected, act.Username, &now
		return s.audit(ctx, tx, "device.key_rejected", "device", k.MAC, map[string]any{"key_fingerprint": k.Fingerprint,
			"remote_addr": k.RemoteAddr})
	})
	return k, err
}

// OpenEnrollWindow opens an "accept the next key" window for d (at most
// model.EnrollWindowMax; zero: model.EnrollWindowDefault) on one device of
// the actor's subtree (mac) or on one of its projects (projectID): any
// window open on the same target closes. A device's window accepts its next
// key, replacing an accepted one, and closes; a project's accepts the next
// key of each of its devices without an accepted key until it expires.
func (s *Store) OpenEnrollWindow(ctx context.Context, mac string, projectID int64, d time.Duration) (*model.EnrollWindow, error) {
	act, err := actor(ctx)
	if err != nil {
		return nil, err
	}
	if d == 0 {
		d = model.EnrollWindowDefault
	}
	if d < time.Minute || d > model.EnrollWindowMax {
		return nil, model.Invalid("minutes", "must be between 1 and %d", int(model.EnrollWindowMax/time.Minute))
	}
	var w *model.EnrollWindow
	err = s.inTx(ctx, func(tx *Tx) error {
		var target string
		var targetID int64
		var objType string
		var objID any
		if mac != "" {
			dev, err := s.getDevice(ctx, tx.tx, act, mac)
			if err != nil {
				return err
			}
			target, targetID, objType, objID = "device_id", dev.ID, "device", dev.MAC
		} else {
			p, err := s.getProject(ctx, tx.tx, act, projectID)
			if err != nil {
				return err
			}
			target, targetID, objType, objID = "project_id", p.ID, "project", p.ID
		}
		now := s.now()
		if _, err := tx.exec(ctx, `UPDATE enroll_windows SET closed_at = ? WHERE `+target+` = ? AND closed_at IS NULL`, now, targetID); err != nil {
			return err
		}
		var id int64
		if err := tx.queryRow(ctx, `INSERT INTO enroll_windows (`+target+`, opened_by, opened_at, expires_at) VALUES (?, ?, ?, ?) RETURNING id`,
			targetID, nullID(act.AccountID), now, now.Add(d)).Scan(&id); err != nil {
			return err
		}
		ws, err := s.openWindowsTx(ctx, tx, `w.id = ?`, []any{id})
		if err != nil || len(ws) != 1 {
			if err == nil {
				err = errors.New("store: the window just opened is not found")
			}
			return err
		}
		w = ws[0]
		return s.audit(ctx, tx, objType+".enroll_window_opened", objType, objID, map[string]any{"window": id, "expires_at": w.Expires})
	})
	return w, err
}

// CloseEnrollWindow closes an open window of the actor's subtree.
func (s *Store) CloseEnrollWindow(ctx context.Context, id int64) error {
	act, err := actor(ctx)
	if err != nil {
		return err
	}
	return s.inTx(ctx, func(tx *Tx) error {
		cond, args := installerScope(act, "p.installer_id")
		ws, err := s.openWindowsTx(ctx, tx, `w.id = ? AND `+cond, append([]any{id}, args...))
		if err != nil {
			return err
		}
		if len(ws) == 0 {
			return model.NotFound("acceptance window")
		}
		if _, err := tx.exec(ctx, `UPDATE enroll_windows SET closed_at = ? WHERE id = ? AND closed_at IS NULL`, s.now(), id); err != nil {
			return err
		}
		objType, objID := "project", any(ws[0].ProjectID)
		if ws[0].MAC != "" {
			objType, objID = "device", ws[0].MAC
		}
		return s.audit(ctx, tx, objType+".enroll_window_closed", objType, objID, map[string]any{"window": id})
	})
}

// ListEnrollWindows lists the open windows of the actor's subtree, the
// soonest to expire first.
func (s *Store) ListEnrollWindows(ctx context.Context) ([]*model.EnrollWindow, error) {
	act, err := actor(ctx)
	if err != nil {
		return nil, err
	}
	cond, args := installerScope(act, "p.installer_id")
	return s.openWindows(ctx, cond, args)
}

const windowQuery = `SELECT w.id, coalesce(d.mac, ''), coalesce(w.project_id, 0), p.name, coalesce(a.username, ''), w.opened_at, w.expires_at
	FROM enroll_windows w LEFT JOIN devices d ON d.id = w.device_id JOIN projects p ON p.id = coalesce(w.project_id, d.project_id)
	LEFT JOIN accounts a ON a.id = w.opened_by WHERE w.closed_at IS NULL AND w.expires_at > ? AND `

func scanWindows(rows interface {
	Next() bool
	Scan(...any) error
	Err() error
	Close() error
}) ([]*model.EnrollWindow, error) {
	defer rows.Close()
	out := []*model.EnrollWindow{}
	for rows.Next() {
		var w model.EnrollWindow
		if err := rows.Scan(&w.ID, &w.MAC, &w.ProjectID, &w.Project, &w.OpenedBy, &w.Opened, &w.Expires); err != nil {
			return nil, err
		}
		out = append(out, &w)
	}
	return out, rows.Err()
}

func (s *Store) openWindows(ctx context.Context, cond string, args []any) ([]*model.EnrollWindow, error) {
	rows, err := s.query(ctx, windowQuery+cond+` ORDER BY w.expires_at, w.id`, append([]any{s.now()}, args...)...)
	if err != nil {
		return nil, err
	}
	return scanWindows(rows)
}

func (s *Store) openWindowsTx(ctx context.Context, tx *Tx, cond string, args []any) ([]*model.EnrollWindow, error) {
	rows, err := tx.query(ctx, windowQuery+cond+` ORDER BY w.expires_at, w.id`, append([]any{s.now()}, args...)...)
	if err != nil {
		return nil, err
	}
	return scanWindows(rows)
}
