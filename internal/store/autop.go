package store

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"database/sql"
	"database/sql/driver"
	"encoding/hex"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/autop"
	"github.com/gatehouse-dev/gatehouse/internal/model"
)

// AutoP (DESIGN.md §4, docs/device-protocol.md §7): a device's regular and
// one-time command lists (device_autop), Batch AutoP (autop_batches and one
// autop command per device in device_commands), and the file the AutoP
// server renders. The rules themselves live in internal/autop.
//
// The scoped methods serve people; AutoPServe, AutoPFetched and
// AutoPApplied serve the AutoP server and the gateway (the device is the
// authority there, not a person).

// autoPFrom and autoPCols read everything a device's file is made of: the
// device by MAC (unique index), its installer and project (primary keys) and
// its lists (primary key) — one indexed read.
const autoPFrom = `devices d JOIN accounts i ON i.id = d.installer_id JOIN projects p ON p.id = d.project_id
	LEFT JOIN device_autop a ON a.device_id = d.id`

const autoPCols = `d.id, d.mac, i.time_zone, i.connect_type, i.rtp_confusion, p.time_zone, d.connect_type,
	coalesce(a.regular, ''), coalesce(a.once, ''), a.updated_at, a.once_saved_at`

func scanAutoP(r scanner, extra ...any) (id int64, in autop.Input, updated *time.Time, err error) {
	var onceSaved *time.Time
	err = r.Scan(append([]any{&id, &in.MAC, &in.InstallerTimeZone, &in.ConnectType, &in.RTPConfusion, &in.ProjectTimeZone,
		&in.DeviceConnectType, &in.Regular, &in.Once, &updated, &onceSaved}, extra...)...)
	if onceSaved != nil {
		in.Saved = onceSaved.UnixMicro()
	}
	return
}

// onceSavedAt is the stored once_saved_at that Input.Saved was read from.
func onceSavedAt(in autop.Input) time.Time { return time.UnixMicro(in.Saved).UTC() }

// autoPRow is a device's lists as stored.
type autoPRow struct {
	regular, once string
}

// GetDeviceAutoP returns the regular and one-time commands of the device
// mac (any notation) of the actor's subtree.
func (s *Store) GetDeviceAutoP(ctx context.Context, mac string) (*model.DeviceAutoP, error) {
	act, err := actor(ctx)
	if err != nil {
		return nil, err
	}
	m, ok := model.NormalizeMAC(mac)
	if !ok {
		return nil, model.NotFound("device")
	}
	cond, args := installerScope(act, "d.installer_id")
	var regular, once string
	out := &model.DeviceAutoP{}
	err = s.queryRow(ctx, `SELECT d.mac, coalesce(a.regular, ''), coalesce(a.once, ''), a.updated_at, d.connect_type
		FROM devices d LEFT JOIN device_autop a ON a.device_id = d.id WHERE d.mac = ? AND `+cond,
		append([]any{m}, args...)...).Scan(&out.MAC, &regular, &once, &out.Updated, &out.ConnectType)
	if isNoRows(err) {
		return nil, model.NotFound("device")
	} else if err != nil {
		return nil, err
	}
	out.Regular, out.Once = autop.StoredLines(regular), autop.StoredLines(once)
	return out, nil
}

// SetDeviceAutoP saves the command lists of the device mac of the actor's
// subtree: a list given (non-nil, even empty) replaces the stored one, a
// nil list is kept. Each list is checked and normalised (internal/autop):
// a bad line is refused naming its field ("regular", "once") and line
// number, and so are more than 1,000 commands for the device (both lists
// together). A change is audited ("autop.update") and queues an AutoP
// command for the device, so that it fetches its new file (the caller then
// tells the gateway). Answers the lists as stored.
func (s *Store) SetDeviceAutoP(ctx context.Context, mac string, regular, once []string) (*model.DeviceAutoP, error) {
	act, err := actor(ctx)
	if err != nil {
		return nil, err
	}
	var reg, one []autop.Command
	var v model.Validator
	if regular == nil && once == nil {
		v.Add("regular", "give the regular commands, the one-time commands (once) or both")
	}
	if regular != nil {
		if reg, err = autop.Parse("regular", regular); err != nil {
			addFields(&v, err)
		}
	}
	if once != nil {
		if one, err = autop.Parse("once", once); err != nil {
			addFields(&v, err)
		}
	}
	if err := v.Err(); err != nil {
		return nil, err
	}
	var out *model.DeviceAutoP
	err = s.inTx(ctx, func(tx *Tx) error {
		d, err := s.getDevice(ctx, tx.tx, act, mac)
		if err != nil {
			return err
		}
		rows, err := s.lockAutoP(ctx, tx, []int64{d.ID})
		if err != nil {
			return err
		}
		old := rows[d.ID]
		newReg, newOnce := old.regular, old.once
		if regular != nil {
			newReg = autop.Join(reg)
		}
		if once != nil {
			newOnce = autop.Join(one)
		}
		// The device's limit counts both lists: name the list being saved,
		// at its first command too many.
		if nr, no := autop.Count(newReg), autop.Count(newOnce); nr+no > autop.MaxCommands {
			field, list, room := "once", one, autop.MaxCommands-nr
			if once == nil {
				field, list, room = "regular", reg, autop.MaxCommands-no
			}
			return model.Invalid(field, "line %d: the device would keep %d commands (%d regular, %d one-time); at most %d",
				list[max(room, 0)].Line, nr+no, nr, no, autop.MaxCommands)
		}
		now := s.now()
		out = &model.DeviceAutoP{MAC: d.MAC, Regular: autop.StoredLines(newReg), Once: autop.StoredLines(newOnce)}
		if newReg == old.regular && newOnce == old.once {
			// Nothing changed: nothing to tell the device.
			return tx.queryRow(ctx, `SELECT updated_at FROM device_autop WHERE device_id = ?`, d.ID).Scan(&out.Updated)
		}
		if _, err := tx.exec(ctx, `UPDATE device_autop SET regular = ?, once = ?, updated_at = ?,
			once_saved_at = CASE WHEN once <> ? THEN ? ELSE once_saved_at END WHERE device_id = ?`,
			newReg, newOnce, now, newOnce, now, d.ID); err != nil {
			return err
		}
		tx.changed(model.AutoPChange{DeviceIDs: []int64{d.ID}, MACs: []string{d.MAC}})
		out.Updated = &now
		var cmdID int64
		if err := tx.queryRow(ctx, `INSERT INTO device_commands (device_id, kind, mode, status, created_by, created_at, expires_at)
			VALUES (?, 'autop', '', 'queued', ?, ?, ?) RETURNING id`, d.ID, nullID(act.AccountID), now,
			now.Add(CommandExpiry(model.CommandAutoP))).Scan(&cmdID); err != nil {
			return err
		}
		details := map[string]any{"regular": len(out.Regular), "once": len(out.Once), "command_id": cmdID}
		return s.audit(ctx, tx, "autop.update", "device", d.MAC, details)
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// SetDeviceConnectType sets the data transmission type of the device mac
// of the actor's subtree (the guide's remote maintenance): udp, tcp or tls
// overrides its installer's Connect Type in the device's AutoP file;
// "default" or "" follows the installer's again. A change is audited
// ("device.connect_type") and queues an AutoP command, so that the device
// fetches its new file (the caller then tells the gateway). Answers the
// device's AutoP settings as stored.
func (s *Store) SetDeviceConnectType(ctx context.Context, mac, connectType string) (*model.DeviceAutoP, error) {
	act, err := actor(ctx)
	if err != nil {
		return nil, err
	}
	ct := strings.ToLower(strings.TrimSpace(connectType))
	if ct == "default" {
		ct = ""
	}
	if _, ok := autop.TransType(ct); !ok && ct != "" {
		return nil, model.Invalid("connect_type", "must be default (the installer's Connect Type), udp, tcp or tls")
	}
	err = s.inTx(ctx, func(tx *Tx) error {
		d, err := s.getDevice(ctx, tx.tx, act, mac)
		if err != nil {
			return err
		}
		var old string
		if err := tx.queryRow(ctx, `SELECT connect_type FROM devices WHERE id = ?`, d.ID).Scan(&old); err != nil {
			return err
		}
		if old == ct {
			return nil
		}
		tx.changed(model.AutoPChange{DeviceIDs: []int64{d.ID}, MACs: []string{d.MAC}})
		if _, err := tx.exec(ctx, `UPDATE devices SET connect_type = ? WHERE id = ?`, ct, d.ID); err != nil {
			return err
		}
		now := s.now()
		var cmdID int64
		if err := tx.queryRow(ctx, `INSERT INTO device_commands (device_id, kind, mode, status, created_by, created_at, expires_at)
			VALUES (?, 'autop', '', 'queued', ?, ?, ?) RETURNING id`, d.ID, nullID(act.AccountID), now,
			now.Add(CommandExpiry(model.CommandAutoP))).Scan(&cmdID); err != nil {
			return err
		}
		return s.audit(ctx, tx, "device.connect_type", "device", d.MAC,
			map[string]any{"connect_type": map[string]string{"old": old, "new": ct}, "command_id": cmdID})
	})
	if err != nil {
		return nil, err
	}
	return s.GetDeviceAutoP(ctx, mac)
}

// addFields copies the field messages of an invalid-input error into v.
func addFields(v *model.Validator, err error) { v.Merge(err) }

// lockAutoP returns the stored lists of the devices ids, creating empty
// ones, and on PostgreSQL locks them for the transaction, so that two saves
// or batches merging into one device cannot lose one another's commands
// (SQLite transactions already run one at a time).
func (s *Store) lockAutoP(ctx context.Context, tx *Tx, ids []int64) (map[int64]autoPRow, error) {
	out := make(map[int64]autoPRow, len(ids))
	now := s.now()
	for start := 0; start < len(ids); start += 500 {
		chunk := ids[start:min(start+500, len(ids))]
		var b strings.Builder
		args := make([]any, 0, 2*len(chunk))
		b.WriteString(`INSERT INTO device_autop (device_id, regular, once, updated_at) VALUES `)
		for i, id := range chunk {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString(`(?, '', '', ?)`)
			args = append(args, id, now)
		}
		b.WriteString(` ON CONFLICT (device_id) DO NOTHING`)
		if _, err := tx.exec(ctx, b.String(), args...); err != nil {
			return nil, err
		}
		in, inArgs := idList(chunk)
		q := `SELECT device_id, regular, once FROM device_autop WHERE device_id IN ` + in
		if s.dialect == Postgres {
			q += ` ORDER BY device_id FOR UPDATE`
		}
		rows, err := tx.query(ctx, q, inArgs...)
		if err != nil {
			return nil, err
		}
		for rows.Next() {
			var id int64
			var r autoPRow
			if err := rows.Scan(&id, &r.regular, &r.once); err != nil {
				rows.Close()
				return nil, err
			}
			out[id] = r
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

// AutoPPreview renders the file the device mac (any notation) of the
// actor's subtree would receive now: the exact bytes and their version.
func (s *Store) AutoPPreview(ctx context.Context, mac string) (autop.File, error) {
	act, err := actor(ctx)
	if err != nil {
		return autop.File{}, err
	}
	m, ok := model.NormalizeMAC(mac)
	if !ok {
		return autop.File{}, model.NotFound("device")
	}
	cond, args := installerScope(act, "d.installer_id")
	_, in, _, err := scanAutoP(s.queryRow(ctx, `SELECT `+autoPCols+` FROM `+autoPFrom+` WHERE d.mac = ? AND `+cond,
		append([]any{m}, args...)...))
	if isNoRows(err) {
		return autop.File{}, model.NotFound("device")
	} else if err != nil {
		return autop.File{}, err
	}
	return autop.Render(in), nil
}

// AutoPBatchRequest is one Batch AutoP: the commands of one type for up to
// model.MaxAutoPBatch devices of one list (scope).
type AutoPBatchRequest struct {
	Scope    string   `json:"scope"`    // community | office | personal
	Type     string   `json:"type"`     // regular | once
	Commands []string `json:"commands"` // one command a line
	MACs     []string `json:"macs"`     // any notation
}

// CreateAutoPBatch merges the commands into the regular (or one-time) list
// of every device named, by the rule of internal/autop, in one
// transaction: all devices are changed, or none. It refuses the whole
// batch when a MAC is not a device of the actor's subtree (ENOTFOUND naming
// it), a device is of another scope, a device would keep more than 1,000
// commands, or more than 500 devices are named. Each device gets one
// AutoP command of the batch (expiring in an hour); the caller then tells
// the gateway (Gateway.Kick). Audited once, "autop.batch".
func (s *Store) CreateAutoPBatch(ctx context.Context, req AutoPBatchRequest) (*model.AutoPBatch, error) {
	act, err := actor(ctx)
	if err != nil {
		return nil, err
	}
	var v model.Validator
	kind := model.ProjectKind(req.Scope)
	v.Check(kind.Valid(), "scope", "must be community, office or personal")
	v.Check(req.Type == model.AutoPRegular || req.Type == model.AutoPOnce, "type", "must be regular or once")
	cmds, err := autop.Parse("commands", req.Commands)
	if err != nil {
		addFields(&v, err)
	} else {
		v.Check(len(cmds) > 0, "commands", "enter at least one command")
	}
	// The devices named, each once, in any notation.
	var macs []string
	seen := make(map[string]bool, len(req.MACs))
	for i, raw := range req.MACs {
		m, ok := model.NormalizeMAC(raw)
		if !ok {
			v.Add("macs", "entry %d (%q) is not a MAC", i+1, clipMAC(raw))
			break
		}
		if !seen[m] {
			seen[m] = true
			macs = append(macs, m)
		}
	}
	switch n := len(macs); {
	case len(req.MACs) == 0:
		v.Add("macs", "select at least one device")
	case n > model.MaxAutoPBatch:
		v.Add("macs", "%d devices given: at most %d devices at a time", n, model.MaxAutoPBatch)
	}
	if err := v.Err(); err != nil {
		return nil, err
	}
	if act.AccountID == 0 {
		return nil, model.Errorf(model.EFORBIDDEN, "A batch is sent by a person's account.")
	}
	b := &model.AutoPBatch{Scope: req.Scope, Type: req.Type, Commands: autop.Lines(cmds), Devices: len(macs)}
	err = s.inTx(ctx, func(tx *Tx) error {
		type dev struct {
			id        int64
			mac, kind string
		}
		found := make(map[string]dev, len(macs))
		cond, args := installerScope(act, "d.installer_id")
		for start := 0; start < len(macs); start += 500 {
			chunk := macs[start:min(start+500, len(macs))]
			qargs := make([]any, 0, len(chunk)+len(args))
			for _, m := range chunk {
				qargs = append(qargs, m)
			}
			rows, err := tx.query(ctx, `SELECT d.id, d.mac, d.project_kind FROM devices d WHERE d.mac IN (?`+
				strings.Repeat(",?", len(chunk)-1)+`) AND `+cond, append(qargs, args...)...)
			if err != nil {
				return err
			}
			for rows.Next() {
				var d dev
				if err := rows.Scan(&d.id, &d.mac, &d.kind); err != nil {
					rows.Close()
					return err
				}
				found[d.mac] = d
			}
			err = rows.Err()
			rows.Close()
			if err != nil {
				return err
			}
		}
		ids := make([]int64, 0, len(macs))
		for _, m := range macs {
			d, ok := found[m]
			if !ok {
				return model.Errorf(model.ENOTFOUND, "Device %s not found: nothing was changed.", m).
					WithField("macs", "%s is not one of your devices", m)
			}
			if d.kind != req.Scope {
				return model.Invalid("macs", "%s is a %s device, not a %s device: nothing was changed", m, scopeLabel(d.kind), scopeLabel(req.Scope))
			}
			ids = append(ids, d.id)
		}
		stored, err := s.lockAutoP(ctx, tx, ids)
		if err != nil {
			return err
		}
		now := s.now()
		b.Created = now
		if err := tx.queryRow(ctx, `INSERT INTO autop_batches (account_id, distributor_id, subdistributor_id, scope, type, commands,
			device_count, created_at) VALUES (?,?,?,?,?,?,?,?) RETURNING id`, act.AccountID, nullID(act.DistributorID),
			nullID(act.SubdistributorID), req.Scope, req.Type, autop.Join(cmds), len(ids), now).Scan(&b.ID); err != nil {
			return err
		}
		upserts := make([][]any, 0, len(ids))
		commands := make([][]any, 0, len(ids))
		expires := now.Add(CommandExpiry(model.CommandAutoP))
		for i, id := range ids {
			row := stored[id]
			list, other := row.regular, row.once
			if req.Type == model.AutoPOnce {
				list, other = row.once, row.regular
			}
			merged := autop.Merge(autop.Stored(list), cmds)
			if room := autop.MaxCommands - autop.Count(other); len(merged) > room {
				return model.Invalid("commands", "line %d: device %s would keep %d commands after the merge; at most %d: nothing was changed",
					merged[max(room, 0)].Line, macs[i], len(merged)+autop.Count(other), autop.MaxCommands)
			}
			if req.Type == model.AutoPOnce {
				row.once = autop.Join(merged)
			} else {
				row.regular = autop.Join(merged)
			}
			upserts = append(upserts, []any{id, row.regular, row.once, now})
			commands = append(commands, []any{id, string(model.CommandAutoP), "", string(model.CommandQueued), b.ID,
				act.AccountID, now, expires})
		}
		if err := s.upsertAutoP(ctx, tx, upserts); err != nil {
			return err
		}
		if err := bulkInsert(ctx, tx, "device_commands", []string{"device_id", "kind", "mode", "status", "batch_id",
			"created_by", "created_at", "expires_at"}, commands); err != nil {
			return err
		}
		return s.audit(ctx, tx, "autop.batch", "autop_batch", b.ID, map[string]any{"scope": req.Scope, "type": req.Type,
			"devices": len(ids), "commands": len(cmds)})
	})
	if err != nil {
		return nil, err
	}
	b.Queued = b.Devices
	return b, nil
}

// upsertAutoP writes rows (device_id, regular, once, updated_at) in
// multi-row statements.
func (s *Store) upsertAutoP(ctx context.Context, tx *Tx, rows [][]any) error {
	for start := 0; start < len(rows); start += 250 {
		chunk := rows[start:min(start+250, len(rows))]
		var b strings.Builder
		args := make([]any, 0, 4*len(chunk))
		ids := make([]int64, 0, len(chunk))
		b.WriteString(`INSERT INTO device_autop (device_id, regular, once, updated_at, once_saved_at) VALUES `)
		for i, r := range chunk {
			if i > 0 {
				b.WriteByte(',')
			}
			ids = append(ids, r[0].(int64))
			b.WriteString(`(?,?,?,?,?)`)
			args = append(args, r...)
			args = append(args, r[3]) // once_saved_at: the save time, for a new row
		}
		// The one-time list's save time moves only when the list changes
		// (see autop.Input.Saved).
		b.WriteString(` ON CONFLICT (device_id) DO UPDATE SET regular = excluded.regular, once = excluded.once,
			updated_at = excluded.updated_at,
			once_saved_at = CASE WHEN device_autop.once <> excluded.once THEN excluded.once_saved_at ELSE device_autop.once_saved_at END`)
		tx.changed(model.AutoPChange{DeviceIDs: ids})
		if _, err := tx.exec(ctx, b.String(), args...); err != nil {
			return err
		}
	}
	return nil
}

func scopeLabel(kind string) string {
	if kind == string(model.ProjectPersonal) {
		return "personal"
	}
	return kind
}

func clipMAC(s string) string {
	if len(s) > 40 {
		return s[:40] + "…"
	}
	return s
}

// batchScope limits Batch AutoP requests to those sent from the actor's
// subtree, as the audit log is.
func batchScope(a *model.Actor) (string, []any) {
	switch a.Role {
	case model.RoleAdmin:
		return "1=1", nil
	case model.RoleDistributor:
		return "b.distributor_id = ?", []any{a.AccountID}
	case model.RoleSubdistributor:
		return "b.subdistributor_id = ?", []any{a.AccountID}
	default:
		return "b.account_id = ?", []any{a.AccountID}
	}
}

// GetAutoPBatch returns a Batch AutoP sent from the actor's subtree, with
// its progress: per device the status of its AutoP command (queued: waiting
// for the device to connect; sent: told to fetch; done: applied; failed;
// expired), whether it fetched its file since the batch, and the version
// it acknowledged.
func (s *Store) GetAutoPBatch(ctx context.Context, id int64) (*model.AutoPBatch, error) {
	act, err := actor(ctx)
	if err != nil {
		return nil, err
	}
	cond, args := batchScope(act)
	b := &model.AutoPBatch{}
	var commands string
	err = s.queryRow(ctx, `SELECT b.id, b.scope, b.type, b.commands, b.device_count, b.created_at FROM autop_batches b
		WHERE b.id = ? AND `+cond, append([]any{id}, args...)...).Scan(&b.ID, &b.Scope, &b.Type, &commands, &b.Devices, &b.Created)
	if isNoRows(err) {
		return nil, model.NotFound("AutoP batch")
	} else if err != nil {
		return nil, err
	}
	b.Commands = autop.StoredLines(commands)
	rows, err := s.query(ctx, `SELECT d.mac, d.name, c.status, c.version, c.error, d.autop_fetched_at
		FROM device_commands c JOIN devices d ON d.id = c.device_id WHERE c.batch_id = ? ORDER BY d.mac`, b.ID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	b.Items = []model.AutoPBatchItem{}
	for rows.Next() {
		var it model.AutoPBatchItem
		var fetched *time.Time
		if err := rows.Scan(&it.MAC, &it.Name, &it.Status, &it.Version, &it.Error, &fetched); err != nil {
			return nil, err
		}
		// A device that acknowledged the batch's command fetched its file
		// first (docs/device-protocol.md §4.2), whether or not the AutoP
		// server has written down that fetch yet.
		it.Fetched = it.Status == model.CommandDone || (fetched != nil && !fetched.Before(b.Created))
		if it.Fetched {
			b.Fetched++
		}
		switch it.Status {
		case model.CommandQueued:
			b.Queued++
		case model.CommandSent:
			b.Sent++
		case model.CommandDone:
			b.Done++
		case model.CommandFailed:
			b.Failed++
		case model.CommandExpired:
			b.Expired++
		}
		b.Items = append(b.Items, it)
	}
	return b, rows.Err()
}

// AutoPServed is what the AutoP server needs to answer one fetch.
type AutoPServed struct {
	DeviceID int64
	MAC      string
	KeyHash  string // the bound key's hash ("" when none is bound)
	File     autop.File
	Fetched  *time.Time // when the device last fetched its file
	Updated  *time.Time // when its lists last changed

	// Set on a file the cache shares between fetches: when the last fetch
	// worth recording was (UnixMicro), since Fetched was read.
	noted *atomic.Int64

	// KeyHash as raw bytes, decoded once per read rather than the key's hash
	// hex-encoded per fetch; keyBound false when none is bound (or the
	// stored hash is not DeviceKeyHash's form: no key matches it).
	keySum   [sha256.Size]byte
	keyBound bool

	// The AutoP server's form of the answer, made on the first fetch
	// (Prepared) and shared, like the file, while the cache keeps it.
	prepared atomic.Pointer[preparedAnswer]
}

type preparedAnswer struct{ v any }

// KeyMatches tells, in constant time, whether key is the bound key: its
// SHA-256 is the stored hash. False when no key is bound.
func (a *AutoPServed) KeyMatches(key string) bool {
	var buf [128]byte // a valid key's most (ValidDeviceKey): hashed without a copy on the heap
	var sum [sha256.Size]byte
	if len(key) <= len(buf) {
		sum = sha256.Sum256(buf[:copy(buf[:], key)])
	} else {
		sum = sha256.Sum256([]byte(key))
	}
	return subtle.ConstantTimeCompare(sum[:], a.keySum[:])&boolInt(a.keyBound) == 1
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// Prepared returns the AutoP server's form of the answer (what every
// response with this file repeats), made by prepare on the first call and
// kept with the file: a cached file shares it between fetches. Two fetches
// racing may both prepare; either result is kept.
func (a *AutoPServed) Prepared(prepare func(*AutoPServed) any) any {
	if p := a.prepared.Load(); p != nil {
		return p.v
	}
	v := prepare(a)
	a.prepared.Store(&preparedAnswer{v})
	return v
}

// setKeySum decodes KeyHash for KeyMatches. A hash that is not exactly
// DeviceKeyHash's lower-case hex binds no key (no key's hex equals it).
func (a *AutoPServed) setKeySum() {
	if len(a.KeyHash) != 2*sha256.Size {
		return
	}
	if _, err := hex.Decode(a.keySum[:], []byte(a.KeyHash)); err != nil || hex.EncodeToString(a.keySum[:]) != a.KeyHash {
		a.keySum = [sha256.Size]byte{}
		return
	}
	a.keyBound = true
}

// NeedsFetchRecord tells whether a fetch at now is worth recording: the
// first fetch, the first since the lists changed (a batch's progress shows
// it), or the first in a minute (the device page shows when it last
// fetched). Others are not written, so a fetch costs no write.
// On a file the cache shares, a true answer also notes the fetch, so that
// the fetches after it, within the minute, are not recorded again.
func (a *AutoPServed) NeedsFetchRecord(now time.Time) bool {
	if a.noted == nil {
		return needsFetchRecord(a.Fetched, a.Updated, now)
	}
	for {
		last := a.noted.Load()
		fetched := a.Fetched
		if last != 0 {
			t := time.UnixMicro(last)
			fetched = &t
		}
		if !needsFetchRecord(fetched, a.Updated, now) {
			return false
		}
		if a.noted.CompareAndSwap(last, now.UnixMicro()) {
			return true
		}
	}
}

func needsFetchRecord(fetched, updated *time.Time, now time.Time) bool {
	return fetched == nil || (updated != nil && fetched.Before(*updated)) || now.Sub(*fetched) >= time.Minute
}

// autoPServeQuery reads a device's file inputs and key binding by MAC.
const autoPServeQuery = `SELECT ` + autoPCols + `, d.key_hash, d.autop_fetched_at FROM ` + autoPFrom + ` WHERE d.mac = CAST(? AS TEXT)`

// AutoPServe reads and renders the file of the device mac (12 upper-case
// hex digits) for the AutoP server, with the device's key binding: one
// indexed read. ENOTFOUND for an unregistered MAC. (System side: the device
// authenticates itself; see AuthenticateDevice.)
func (s *Store) AutoPServe(ctx context.Context, mac string) (*AutoPServed, error) {
	return serveAutoP(s.queryRow(ctx, autoPServeQuery, mac))
}

func serveAutoP(row scanner) (*AutoPServed, error) {
	out := &AutoPServed{}
	id, in, updated, err := scanAutoP(row, &out.KeyHash, &out.Fetched)
	if isNoRows(err) {
		return nil, model.NotFound("device")
	} else if err != nil {
		return nil, err
	}
	out.DeviceID, out.MAC, out.Updated, out.File = id, in.MAC, updated, autop.Render(in)
	out.setKeySum()
	return out, nil
}

// AutoPReader is AutoPServe on a few connections of its own, each with the
// query prepared once: the AutoP server's hot path. Parsing the query (and,
// on SQLite, opening a connection when the shared pool closed one) would
// otherwise cost more than the read itself. Its connections are taken from
// the store's pool when needed, at most max at once, and given back after
// a few idle seconds. (System side.)
type AutoPReader struct {
	s     *Store
	slots chan struct{} // one per connection in use
	idle  time.Duration
	cache *autoPCache // nil: every fetch reads

	mu      sync.Mutex
	free    []*autoPConn
	reaping bool
	closed  bool
}

type autoPConn struct {
	conn *sql.Conn
	stmt *sql.Stmt
	used time.Time
}

// PrepareAutoP returns the AutoP server's reader, using at most conns
// connections at once; 0 picks for the back end: on SQLite (reads in
// process) two per CPU, on PostgreSQL (a network round trip each) four per
// CPU, at most 16. (System side.)
func (s *Store) PrepareAutoP(ctx context.Context, conns int) (*AutoPReader, error) {
	if conns <= 0 {
		conns = 2 * runtime.GOMAXPROCS(0)
		if s.dialect == Postgres {
			conns = min(4*runtime.GOMAXPROCS(0), 16)
		}
	}
	r := &AutoPReader{s: s, slots: make(chan struct{}, conns), idle: 5 * time.Second}
	// Prepare once now, so that a broken query fails here, not per fetch.
	c, err := r.open(ctx)
	if err != nil {
		return nil, err
	}
	r.put(c)
	return r, nil
}

func (r *AutoPReader) open(ctx context.Context) (*autoPConn, error) {
	conn, err := r.s.db.Conn(ctx)
	if err != nil {
		return nil, err
	}
	if r.s.dialect == SQLite {
		// Read-only, and pages read through a memory map instead of a
		// system call each.
		for _, p := range []string{`PRAGMA query_only = true`, `PRAGMA mmap_size = 1073741824`} {
			if _, err := conn.ExecContext(ctx, p); err != nil {
				(&autoPConn{conn: conn}).close()
				return nil, err
			}
		}
	}
	stmt, err := conn.PrepareContext(ctx, r.s.q(autoPServeQuery))
	if err != nil {
		(&autoPConn{conn: conn}).close()
		return nil, err
	}
	return &autoPConn{conn: conn, stmt: stmt}, nil
}

// put gives a connection back for the next fetch; idle ones go back to the
// store's pool after a while.
func (r *AutoPReader) put(c *autoPConn) {
	c.used = time.Now()
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		c.close()
		return
	}
	r.free = append(r.free, c)
	if !r.reaping {
		r.reaping = true
		time.AfterFunc(r.idle, r.reap)
	}
	r.mu.Unlock()
}

func (r *AutoPReader) reap() {
	r.mu.Lock()
	var old []*autoPConn
	keep := r.free[:0]
	for _, c := range r.free {
		if time.Since(c.used) >= r.idle {
			old = append(old, c)
		} else {
			keep = append(keep, c)
		}
	}
	clear(r.free[len(keep):])
	r.free = keep
	r.reaping = len(keep) > 0
	if r.reaping {
		time.AfterFunc(r.idle, r.reap)
	}
	r.mu.Unlock()
	for _, c := range old {
		c.close()
	}
}

// close discards the connection rather than give it back to the store's
// pool with the reader's settings (query_only).
func (c *autoPConn) close() {
	if c.stmt != nil {
		c.stmt.Close()
	}
	c.conn.Raw(func(any) error { return driver.ErrBadConn })
	c.conn.Close()
}

// EnableCache keeps the files read, by MAC, until a change to one is
// declared (on this node, or told by another: DropAutoPCache), and at most
// maxAge, in about maxBytes; only while the node hears the others
// (CacheAutoPWhile). Call it before the first Serve. The files Serve
// returns are then shared: read only.
func (r *AutoPReader) EnableCache(maxAge time.Duration, maxBytes int) {
	r.cache = &autoPCache{gen: &r.s.autopGen, maxAge: maxAge, maxBytes: maxBytes, hearing: r.s.autoPHearing,
		hits: &r.s.autopHits}
}

// afterAutoPRead, set by tests, runs between a cache miss's read and its
// put: it widens the window in which a write can land.
var afterAutoPRead func()

// Serve is AutoPServe on the reader's connections (or from the cache).
func (r *AutoPReader) Serve(ctx context.Context, mac string) (*AutoPServed, error) {
	if r.cache == nil {
		return r.read(ctx, mac)
	}
	if sv := r.cache.get(mac); sv != nil {
		return sv, nil
	}
	gen, read := r.s.autopGen.Load(), time.Now() // before the read: see put
	sv, err := r.read(ctx, mac)
	if err != nil {
		return nil, err
	}
	if afterAutoPRead != nil {
		afterAutoPRead()
	}
	sv.noted = new(atomic.Int64)
	r.cache.put(mac, sv, gen, read)
	return sv, nil
}

func (r *AutoPReader) read(ctx context.Context, mac string) (*AutoPServed, error) {
	select {
	case r.slots <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	defer func() { <-r.slots }()
	r.mu.Lock()
	var c *autoPConn
	if n := len(r.free); n > 0 {
		c = r.free[n-1]
		r.free[n-1] = nil
		r.free = r.free[:n-1]
	}
	r.mu.Unlock()
	if c == nil {
		var err error
		if c, err = r.open(ctx); err != nil {
			return nil, err
		}
	}
	out, err := serveAutoP(c.stmt.QueryRowContext(ctx, mac))
	if err != nil && model.ErrorCode(err) == model.EINTERNAL {
		c.close() // maybe broken: the next fetch opens another
		return nil, err
	}
	r.put(c)
	return out, err
}

// Close gives every connection back to the store's pool.
func (r *AutoPReader) Close() error {
	r.mu.Lock()
	r.closed = true
	free := r.free
	r.free = nil
	r.mu.Unlock()
	for _, c := range free {
		c.close()
	}
	return nil
}

// AutoPFetched records that the devices ids fetched their files at at.
// (System side: the AutoP server, batched.)
func (s *Store) AutoPFetched(ctx context.Context, at time.Time, ids ...int64) error {
	for len(ids) > 0 {
		n := min(len(ids), 500)
		in, args := idList(ids[:n])
		ids = ids[n:]
		if _, err := s.exec(ctx, `UPDATE devices SET autop_fetched_at = ? WHERE id IN `+in, append([]any{at}, args...)...); err != nil {
			return err
		}
	}
	return nil
}

// AutoPApplied records that the device mac (any notation) reports having
// applied its configuration version (in hello / status config_version, or
// in the ack of an autop command): devices.config_version. When version is
// the file the device would receive now and that file holds one-time
// commands, they are applied: the one-time list is cleared (audited as the
// system, "autop.once_applied"), and the device's next file no longer holds
// them. A version that is not the current file (older, or unknown) clears
// nothing. (System side: the gateway.)
func (s *Store) AutoPApplied(ctx context.Context, mac, version string) error {
	ctx = model.WithActor(ctx, model.System)
	m, ok := model.NormalizeMAC(mac)
	if !ok {
		return model.NotFound("device")
	}
	version = strings.TrimSpace(version)
	if len(version) > 64 {
		version = version[:64]
	}
	// Read first: a device reconnecting with the version it has costs no
	// write (the gateway calls this on every hello).
	var stored string
	id, in, _, err := scanAutoP(s.queryRowP(ctx, `SELECT `+autoPCols+`, d.config_version FROM `+autoPFrom+` WHERE d.mac = CAST(? AS TEXT)`, m), &stored)
	if isNoRows(err) {
		return model.NotFound("device")
	} else if err != nil {
		return err
	}
	applied := in.Once != "" && version != "" && autop.Render(in).Version == version
	if stored == version && !applied {
		return nil
	}
	return s.inGroupTx(ctx, func(tx *Tx) error {
		res, err := tx.execP(ctx, `UPDATE devices SET config_version = ? WHERE id = ? AND config_version <> ?`, version, id, version)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n > 0 {
			if err := s.emitDeviceWebhook(ctx, tx, model.EventAutoPApplied, id, m, map[string]any{"config_version": version,
				"once_applied": applied}); err != nil {
				return err
			}
		}
		if !applied {
			return nil
		}
		// Only the one-time list that was rendered: a save in between (even
		// of the same commands, a new version) wins.
		res, err = tx.exec(ctx, `UPDATE device_autop SET once = '', updated_at = ? WHERE device_id = ? AND once = ? AND once_saved_at = ?`,
			s.now(), id, in.Once, onceSavedAt(in))
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return nil
		}
		tx.changed(model.AutoPChange{DeviceIDs: []int64{id}, MACs: []string{m}})
		return s.audit(ctx, tx, "autop.once_applied", "device", m, map[string]any{"version": version, "commands": autop.Count(in.Once)})
	})
}

// DeviceAutoPLists are one device's stored lists, as written by autop.Join.
type DeviceAutoPLists struct {
	DeviceID      int64
	Regular, Once string
}

// LoadDeviceAutoP writes many devices' lists at once, unchecked and
// unaudited: for the demo loader only (system actor), whose lines follow
// the rules already.
func (s *Store) LoadDeviceAutoP(ctx context.Context, lists []DeviceAutoPLists) error {
	if model.ActorFrom(ctx) != model.System {
		return model.Errorf(model.EFORBIDDEN, "Bulk loading is for the system only.")
	}
	now := s.now()
	return s.inTx(ctx, func(tx *Tx) error {
		rows := make([][]any, 0, min(len(lists), 20_000))
		for i, l := range lists {
			rows = append(rows, []any{l.DeviceID, l.Regular, l.Once, now})
			if len(rows) == cap(rows) || i == len(lists)-1 {
				if err := s.upsertAutoP(ctx, tx, rows); err != nil {
					return err
				}
				rows = rows[:0]
			}
		}
		return nil
	})
}
