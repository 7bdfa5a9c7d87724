package store

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/model"
)

// Firmware rollouts (issue 15): a rollout puts one firmware on the devices
// its creator chose, in waves; each device's upgrade is a firmware_upgrades
// row, released (pending → queued) by the scheduler (StepRollout) when its
// wave has come, the device is online and its maintenance window is open.
// A rollout is seen, like the audit log, by its creator's account and that
// account's ancestors; the devices it may target are the creator's subtree's.

const (
	upgradeOpenSQL     = `'pending','queued','sent','downloading','verifying','installing','rebooting'`
	upgradeReleasedSQL = `'queued','sent','downloading','verifying','installing','rebooting'`
	// ErrNoOutcome is the error of an upgrade whose device told no outcome
	// by its deadline.
	errNoOutcome = "no outcome by the deadline"
	// errOutsideWindow is the error of an upgrade whose deadline was its
	// maintenance window's end.
	errOutsideWindow = "not done within the maintenance window"
)

const rolloutCols = `r.id, r.firmware_id, f.version, f.model, r.account_id, coalesce(a.username, ''), r.name, r.status, r.targets,
	r.total, r.waves, r.current_wave, r.canary_count, r.canary_percent, r.wave_size, r.wave_percent, r.window_start, r.window_end,
	r.failure_threshold, r.device_timeout, r.pause_reason, r.created_at, r.started_at, r.finished_at, r.updated_at`

const rolloutFrom = `rollouts r JOIN firmware f ON f.id = r.firmware_id LEFT JOIN accounts a ON a.id = r.account_id`

func scanRollout(sc scanner) (*model.Rollout, error) {
	var r model.Rollout
	var targets string
	var start, end int
	err := sc.Scan(&r.ID, &r.FirmwareID, &r.FirmwareVersion, &r.FirmwareModel, &r.AccountID, &r.Account, &r.Name, &r.Status, &targets,
		&r.Total, &r.Waves, &r.CurrentWave, &r.Plan.CanaryCount, &r.Plan.CanaryPercent, &r.Plan.WaveSize, &r.Plan.WavePercent, &start, &end,
		&r.Plan.FailureThreshold, &r.Plan.DeviceTimeout, &r.PauseReason, &r.Created, &r.Started, &r.Finished, &r.Updated)
	if err != nil {
		return nil, err
	}
	r.Plan.WindowStart, r.Plan.WindowEnd = model.FormatClock(start), model.FormatClock(end)
	_ = json.Unmarshal([]byte(targets), &r.Targets) // written by CreateRollout; a bad one shows as no filters
	return &r, nil
}

// rolloutScope limits rollouts (aliased r) to those of the actor's subtree,
// as auditScope does for the audit log.
func rolloutScope(a *model.Actor) (string, []any) {
	switch a.Role {
	case model.RoleAdmin:
		return "1=1", nil
	case model.RoleDistributor:
		return "r.distributor_id = ?", []any{a.AccountID}
	case model.RoleSubdistributor:
		return "r.subdistributor_id = ?", []any{a.AccountID}
	default:
		return "r.account_id = ?", []any{a.AccountID}
	}
}

// rolloutTargets builds the WHERE of the devices (aliased d) the actor may
// target with the filters t (the model is the caller's to add). The scope
// reads the devices' own ancestor columns (as the device lists do), so
// that a count is one index range, not a join per device.
func rolloutTargets(act *model.Actor, t model.RolloutTargets) ([]string, []any) {
	var where []string
	var args []any
	switch act.Role {
	case model.RoleAdmin:
	case model.RoleDistributor:
		where, args = append(where, "d.distributor_id = ?"), append(args, act.AccountID)
	case model.RoleSubdistributor:
		where, args = append(where, "d.subdistributor_id = ?"), append(args, act.AccountID)
	default:
		where, args = append(where, "d.installer_id = ?"), append(args, act.AccountID)
	}
	if t.Scope != "" {
		where, args = append(where, "d.project_kind = ?"), append(args, string(t.Scope))
	}
	if t.ProjectID != 0 {
		where, args = append(where, "d.project_id = ?"), append(args, t.ProjectID)
	}
	if t.InstallerID != 0 {
		where, args = append(where, "d.installer_id = ?"), append(args, t.InstallerID)
	}
	if t.CurrentVersion != "" {
		where, args = append(where, "d.firmware = ?"), append(args, t.CurrentVersion)
	}
	if t.Online != nil {
		where, args = append(where, "d.online = ?"), append(args, *t.Online)
	}
	if len(where) == 0 {
		where = []string{"1=1"}
	}
	return where, args
}

// rolloutFirmware reads the firmware of a rollout input and checks the
// targets' model against it.
func (s *Store) rolloutFirmware(ctx context.Context, q querier, in *model.RolloutInput) (*model.Firmware, error) {
	if err := in.Check(); err != nil {
		return nil, err
	}
	f, err := scanFirmware(q.QueryRowContext(ctx, s.q(`SELECT `+firmwareCols+` FROM firmware WHERE id = ?`), in.FirmwareID))
	if isNoRows(err) {
		return nil, model.Invalid("firmware_id", "no such firmware")
	} else if err != nil {
		return nil, err
	}
	if f.Size <= 0 || f.SHA256() == "" {
		// A device checks what it downloaded against both before it installs.
		return nil, model.Invalid("firmware_id", "firmware %s has no known size: devices could not check the image; upload it, or give its size", f.Version)
	}
	if in.Targets.Model != "" && !strings.EqualFold(in.Targets.Model, f.Model) {
		return nil, model.Invalid("targets.model", "must be the firmware's model, %s", f.Model)
	}
	in.Targets.Model = f.Model
	act, err := actor(ctx)
	if err != nil {
		return nil, err
	}
	var one int
	if id := in.Targets.ProjectID; id != 0 {
		cond, args := installerScope(act, "p.installer_id")
		err := q.QueryRowContext(ctx, s.q(`SELECT 1 FROM projects p WHERE p.id = ? AND `+cond), append([]any{id}, args...)...).Scan(&one)
		if isNoRows(err) {
			return nil, model.Invalid("targets.project_id", "no such project")
		} else if err != nil {
			return nil, err
		}
	}
	if id := in.Targets.InstallerID; id != 0 {
		cond, args := installerScope(act, "i.id")
		err := q.QueryRowContext(ctx, s.q(`SELECT 1 FROM accounts i WHERE i.id = ? AND i.role = 'installer' AND `+cond),
			append([]any{id}, args...)...).Scan(&one)
		if isNoRows(err) {
			return nil, model.Invalid("targets.installer_id", "no such installer")
		} else if err != nil {
			return nil, err
		}
	}
	return f, nil
}

// CountRolloutTargets previews a rollout's targets: the devices it would
// upgrade, and those the filters match but it leaves out (in another open
// upgrade, already on the version, another model), with the plan's waves.
func (s *Store) CountRolloutTargets(ctx context.Context, in model.RolloutInput) (model.RolloutTargetCount, error) {
	out := model.RolloutTargetCount{Waves: []int{}}
	act, err := actor(ctx)
	if err != nil {
		return out, err
	}
	f, err := s.rolloutFirmware(ctx, s.db, &in)
	if err != nil {
		return out, err
	}
	where, args := rolloutTargets(act, in.Targets)
	cond := strings.Join(where, " AND ")
	// The firmware's model first (an index range on model and firmware),
	// then every device the filters match, for those of other models.
	err = s.queryRow(ctx, `SELECT
		coalesce(sum(CASE WHEN NOT x.o AND NOT x.v THEN 1 ELSE 0 END), 0),
		coalesce(sum(CASE WHEN x.o THEN 1 ELSE 0 END), 0),
		coalesce(sum(CASE WHEN NOT x.o AND x.v THEN 1 ELSE 0 END), 0)
		FROM (SELECT d.firmware = ? AS v,
			EXISTS (SELECT 1 FROM firmware_upgrades u WHERE u.device_id = d.id AND u.state IN (`+upgradeOpenSQL+`)) AS o
			FROM devices d WHERE d.model = ? AND `+cond+`) x`,
		append([]any{f.Version, f.Model}, args...)...).Scan(&out.Matching, &out.InOtherRollout, &out.OnVersion)
	if err != nil {
		return out, err
	}
	var all int
	if err := s.queryRow(ctx, `SELECT count(*) FROM devices d WHERE `+cond, args...).Scan(&all); err != nil {
		return out, err
	}
	out.WrongModel = all - out.Matching - out.InOtherRollout - out.OnVersion
	if w := model.PlanWaves(out.Matching, in.Plan); w != nil {
		out.Waves = w
	}
	return out, nil
}

// rolloutInsertBatch bounds the rows of one INSERT of a rollout's upgrades.
const rolloutInsertBatch = 500

// CreateRollout makes a draft rollout of the firmware for the devices its
// targets choose in the actor's subtree, of the firmware's model, not on
// its version already and in no other open upgrade, with each device's
// upgrade (draft: the devices are taken at the start, see
// takeDraftDevices) in its wave: the canary first, in device order. Each
// upgrade keeps the device's time zone (its project's, else its
// installer's, else UTC) for the maintenance window.
func (s *Store) CreateRollout(ctx context.Context, in model.RolloutInput) (*model.Rollout, error) {
	act, err := actor(ctx)
	if err != nil {
		return nil, err
	}
	if act.AccountID == 0 {
		return nil, model.Errorf(model.EFORBIDDEN, "A rollout is made by an account (its tree sees it), not by the system.")
	}
	var id int64
	err = s.inTx(ctx, func(tx *Tx) error {
		f, err := s.rolloutFirmware(ctx, tx.tx, &in)
		if err != nil {
			return err
		}
		where, args := rolloutTargets(act, in.Targets)
		rows, err := tx.query(ctx, `SELECT d.id, d.firmware, coalesce(nullif(p.time_zone, ''), nullif(ia.time_zone, ''), 'UTC')
			FROM devices d JOIN projects p ON p.id = d.project_id JOIN accounts ia ON ia.id = d.installer_id
			WHERE `+strings.Join(where, " AND ")+` AND d.model = ? AND d.firmware <> ?
			AND NOT EXISTS (SELECT 1 FROM firmware_upgrades u WHERE u.device_id = d.id AND u.state IN (`+upgradeOpenSQL+`))
			ORDER BY d.id`, append(args, f.Model, f.Version)...)
		if err != nil {
			return err
		}
		type target struct {
			id       int64
			from, tz string
		}
		var targets []target
		for rows.Next() {
			var t target
			if err := rows.Scan(&t.id, &t.from, &t.tz); err != nil {
				rows.Close()
				return err
			}
			targets = append(targets, t)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		if len(targets) == 0 {
			return model.Invalid("targets", "no device to upgrade: none of your %s devices matching the filters is off version %s and free of another upgrade", f.Model, f.Version)
		}
		waves := model.PlanWaves(len(targets), in.Plan)
		js, err := json.Marshal(in.Targets)
		if err != nil {
			return err
		}
		start, _ := model.ParseClock(in.Plan.WindowStart)
		end, _ := model.ParseClock(in.Plan.WindowEnd)
		now := s.now()
		name := in.Name
		if name == "" {
			name = fmt.Sprintf("%s %s", f.Model, f.Version)
		}
		err = tx.queryRow(ctx, `INSERT INTO rollouts (firmware_id, account_id, distributor_id, subdistributor_id, name, status, targets,
			total, waves, current_wave, canary_count, canary_percent, wave_size, wave_percent, window_start, window_end, failure_threshold,
			device_timeout, created_by, created_at, updated_at) VALUES (?,?,?,?,?,'draft',?,?,?,0,?,?,?,?,?,?,?,?,?,?,?) RETURNING id`,
			f.ID, act.AccountID, nullID(act.DistributorID), nullID(act.SubdistributorID), name, string(js), len(targets), len(waves),
			in.Plan.CanaryCount, in.Plan.CanaryPercent, in.Plan.WaveSize, in.Plan.WavePercent, start, end, in.Plan.FailureThreshold,
			in.Plan.DeviceTimeout, nullID(act.AccountID), now, now).Scan(&id)
		if err != nil {
			return err
		}
		cols := []string{"rollout_id", "device_id", "firmware_id", "wave", "time_zone", "state", "from_version", "to_version", "updated_at"}
		batch := make([][]any, 0, rolloutInsertBatch)
		i := 0
		for w, n := range waves {
			for range n {
				t := targets[i]
				i++
				batch = append(batch, []any{id, t.id, f.ID, w, t.tz, string(model.UpgradeDraft), t.from, f.Version, now})
				if len(batch) == rolloutInsertBatch || i == len(targets) {
					if err := bulkInsert(ctx, tx, "firmware_upgrades", cols, batch); err != nil {
						return err
					}
					batch = batch[:0]
				}
			}
		}
		return s.audit(ctx, tx, "rollout.create", "rollout", id, map[string]any{"firmware_id": f.ID, "version": f.Version,
			"model": f.Model, "devices": len(targets), "waves": len(waves), "name": name})
	})
	if err != nil {
		return nil, err
	}
	return s.GetRollout(ctx, id)
}

// GetRollout returns one rollout the actor may see.
func (s *Store) GetRollout(ctx context.Context, id int64) (*model.Rollout, error) {
	act, err := actor(ctx)
	if err != nil {
		return nil, err
	}
	return s.getRollout(ctx, s.db, act, id)
}

func (s *Store) getRollout(ctx context.Context, q querier, act *model.Actor, id int64) (*model.Rollout, error) {
	cond, args := rolloutScope(act)
	r, err := scanRollout(q.QueryRowContext(ctx, s.q(`SELECT `+rolloutCols+` FROM `+rolloutFrom+` WHERE r.id = ? AND `+cond),
		append([]any{id}, args...)...))
	if isNoRows(err) {
		return nil, model.NotFound("rollout")
	}
	return r, err
}

// ListRollouts lists the rollouts the actor may see, newest first, by
// firmware, status and a part of the name.
func (s *Store) ListRollouts(ctx context.Context, f model.RolloutFilter) (model.List[*model.Rollout], error) {
	act, err := actor(ctx)
	if err != nil {
		return model.List[*model.Rollout]{}, err
	}
	var v model.Validator
	v.Check(f.Status == "" || f.Status.Valid(), "status", "must be draft, running, paused, canceled or done")
	v.Check(len(f.Name) <= model.MaxRolloutName, "name", "must be at most %d characters", model.MaxRolloutName)
	if err := v.Err(); err != nil {
		return model.List[*model.Rollout]{}, err
	}
	cond, args := rolloutScope(act)
	where := []string{cond}
	if f.FirmwareID != 0 {
		where, args = append(where, "r.firmware_id = ?"), append(args, f.FirmwareID)
	}
	if f.Status != "" {
		where, args = append(where, "r.status = ?"), append(args, string(f.Status))
	}
	if n := strings.TrimSpace(f.Name); n != "" {
		where, args = append(where, `lower(r.name) LIKE ? ESCAPE '\'`), append(args, likeContains(n))
	}
	f.Page = defaultPage(f.Page)
	return list(ctx, s, rolloutFrom, strings.Join(where, " AND "), "r.id DESC", rolloutCols, args, f.Page, scanRollout)
}

func defaultPage(p model.Page) model.Page {
	if p.Page < 1 {
		p.Page = 1
	}
	if p.PerPage < 1 {
		p.PerPage = model.DefaultPerPage
	}
	return p
}

// RolloutProgress counts a rollout's upgrades per state, in all and per
// wave.
func (s *Store) RolloutProgress(ctx context.Context, id int64) (*model.RolloutProgress, error) {
	r, err := s.GetRollout(ctx, id)
	if err != nil {
		return nil, err
	}
	p := &model.RolloutProgress{RolloutID: r.ID, Status: r.Status, ByState: map[model.UpgradeState]int{}, ByWave: []model.WaveProgress{}}
	canary := r.Plan.CanaryCount > 0 || r.Plan.CanaryPercent > 0
	for w := range r.Waves {
		p.ByWave = append(p.ByWave, model.WaveProgress{Wave: w, Canary: canary && w == 0, ByState: map[model.UpgradeState]int{}})
	}
	rows, err := s.query(ctx, `SELECT wave, state, count(*) FROM firmware_upgrades WHERE rollout_id = ? GROUP BY wave, state`, r.ID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var wave, n int
		var state model.UpgradeState
		if err := rows.Scan(&wave, &state, &n); err != nil {
			return nil, err
		}
		p.ByState[state] += n
		p.Total += n
		if state.Ended() {
			p.Ended += n
		}
		if wave >= 0 && wave < len(p.ByWave) {
			p.ByWave[wave].ByState[state] += n
			p.ByWave[wave].Total += n
		}
	}
	if p.Total > 0 {
		p.Percent = p.Ended * 100 / p.Total
	}
	return p, rows.Err()
}

const upgradeCols = `u.id, u.rollout_id, coalesce(r.name, ''), u.device_id, d.mac, d.name, u.firmware_id, u.wave, u.time_zone, u.state,
	u.percent, u.from_version, u.to_version, u.error, u.attempts, u.queued_at, u.sent_at, u.updated_at, u.finished_at, u.deadline_at`

func scanUpgrade(sc scanner) (*model.DeviceUpgrade, error) {
	var u model.DeviceUpgrade
	err := sc.Scan(&u.ID, &u.RolloutID, &u.RolloutName, &u.DeviceID, &u.MAC, &u.DeviceName, &u.FirmwareID, &u.Wave, &u.TimeZone, &u.State,
		&u.Percent, &u.FromVersion, &u.ToVersion, &u.Error, &u.Attempts, &u.Queued, &u.Sent, &u.Updated, &u.Finished, &u.Deadline)
	return &u, err
}

// ListRolloutDevices lists a rollout's devices' upgrades in wave and device
// order, searched by MAC (any part), state, error (contains) and wave.
func (s *Store) ListRolloutDevices(ctx context.Context, id int64, f model.RolloutDeviceFilter) (model.List[*model.DeviceUpgrade], error) {
	var v model.Validator
	f.Check(&v)
	if err := v.Err(); err != nil {
		return model.List[*model.DeviceUpgrade]{}, err
	}
	r, err := s.GetRollout(ctx, id)
	if err != nil {
		return model.List[*model.DeviceUpgrade]{}, err
	}
	where, args := []string{"u.rollout_id = ?"}, []any{r.ID}
	if f.MAC != "" {
		where, args = append(where, "d.mac LIKE ?"), append(args, "%"+f.MAC+"%")
	}
	if f.State != "" {
		where, args = append(where, "u.state = ?"), append(args, string(f.State))
	}
	if f.Error != "" {
		where, args = append(where, `lower(u.error) LIKE ? ESCAPE '\'`), append(args, likeContains(f.Error))
	}
	if f.Wave != nil {
		where, args = append(where, "u.wave = ?"), append(args, *f.Wave)
	}
	f.Page = defaultPage(f.Page)
	return list(ctx, s, `firmware_upgrades u JOIN devices d ON d.id = u.device_id JOIN rollouts r ON r.id = u.rollout_id`,
		strings.Join(where, " AND "), "u.wave, u.id", upgradeCols, args, f.Page, scanUpgrade)
}

// DeviceUpgrades returns a device's firmware history (its upgrades), newest
// first; the device must be in the actor's subtree.
func (s *Store) DeviceUpgrades(ctx context.Context, mac string, limit int) ([]*model.DeviceUpgrade, error) {
	act, err := actor(ctx)
	if err != nil {
		return nil, err
	}
	d, err := s.getDevice(ctx, s.db, act, mac)
	if err != nil {
		return nil, err
	}
	if limit < 1 || limit > model.MaxPerPage {
		limit = model.DefaultPerPage
	}
	// A rollout of an ancestor (a sub-distributor's, seen by its
	// installer on the device's page) is shown without its name and id:
	// the installer may not open it.
	seen, seenArgs := rolloutScope(act)
	cols := strings.Replace(upgradeCols, "u.rollout_id, coalesce(r.name, '')",
		"CASE WHEN "+seen+" THEN u.rollout_id ELSE 0 END, CASE WHEN "+seen+" THEN r.name ELSE '' END", 1)
	args := append(append(append([]any{}, seenArgs...), seenArgs...), d.ID, limit)
	rows, err := s.query(ctx, `SELECT `+cols+` FROM firmware_upgrades u JOIN devices d ON d.id = u.device_id
		JOIN rollouts r ON r.id = u.rollout_id WHERE u.device_id = ? ORDER BY u.id DESC LIMIT ?`, args...)
	if err != nil {
		return nil, err
	}
	return scanAll(rows, scanUpgrade)
}

// SetRolloutStatus applies a status action to a rollout the actor may see:
// start (a draft), pause (running), resume (paused) or cancel (any not
// ended: its upgrades not yet sent — pending or queued — are canceled; those
// a device is working on finish). A wrong action for the status is a
// conflict. Audited.
func (s *Store) SetRolloutStatus(ctx context.Context, id int64, action string) (*model.Rollout, error) {
	act, err := actor(ctx)
	if err != nil {
		return nil, err
	}
	switch action {
	case model.RolloutStart, model.RolloutPause, model.RolloutResume, model.RolloutCancel:
	default:
		return nil, model.Invalid("action", "must be start, pause, resume or cancel")
	}
	err = s.inTx(ctx, func(tx *Tx) error {
		r, err := s.getRollout(ctx, tx.tx, act, id)
		if err != nil {
			return err
		}
		to, ok := model.RolloutTransition(r.Status, action)
		if !ok {
			return model.Errorf(model.ECONFLICT, "A %s rollout cannot be %s.", r.Status, map[string]string{model.RolloutStart: "started",
				model.RolloutPause: "paused", model.RolloutResume: "resumed", model.RolloutCancel: "canceled"}[action])
		}
		now := s.now()
		var res interface{ RowsAffected() (int64, error) }
		switch action {
		case model.RolloutStart:
			res, err = tx.exec(ctx, `UPDATE rollouts SET status = ?, started_at = ?, updated_at = ?, current_wave = 0, pause_reason = '',
				lease_node = '', lease_until = NULL WHERE id = ? AND status = ?`, string(to), now, now, r.ID, string(r.Status))
			if err == nil {
				err = s.takeDraftDevices(ctx, tx, r, now)
			}
		case model.RolloutPause:
			res, err = tx.exec(ctx, `UPDATE rollouts SET status = ?, updated_at = ?, pause_reason = ? WHERE id = ? AND status = ?`,
				string(to), now, "Paused by "+act.Username+".", r.ID, string(r.Status))
		case model.RolloutResume:
			// updated_at marks when the current wave (re)began: devices
			// offline get their wait again (see StepRollout).
			res, err = tx.exec(ctx, `UPDATE rollouts SET status = ?, updated_at = ?, pause_reason = '', lease_node = '', lease_until = NULL
				WHERE id = ? AND status = ?`, string(to), now, r.ID, string(r.Status))
		case model.RolloutCancel:
			res, err = tx.exec(ctx, `UPDATE rollouts SET status = ?, updated_at = ?, finished_at = ?, lease_node = '', lease_until = NULL
				WHERE id = ? AND status = ?`, string(to), now, now, r.ID, string(r.Status))
			if err == nil {
				_, err = tx.exec(ctx, `UPDATE firmware_upgrades SET state = 'canceled', error = 'rollout canceled', finished_at = ?, updated_at = ?
					WHERE rollout_id = ? AND state IN ('draft','pending','queued')`, now, now, r.ID)
			}
		}
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return model.Errorf(model.ECONFLICT, "The rollout changed meanwhile: reload it and try again.")
		}
		if err := s.emitRolloutWebhook(ctx, tx, r.ID, rolloutEventOf(action), ""); err != nil {
			return err
		}
		return s.audit(ctx, tx, "rollout."+action, "rollout", r.ID, map[string]any{"from": string(r.Status), "to": string(to)})
	})
	if err != nil {
		return nil, err
	}
	return s.GetRollout(ctx, id)
}

// takeDraftDevices turns a starting rollout's draft upgrades into pending
// ones: the devices are its from now on. A draft holds no device, so some
// may have been taken meanwhile: those in another open upgrade, or already
// on the version (another rollout put it there), are skipped, with why.
func (s *Store) takeDraftDevices(ctx context.Context, tx *Tx, r *model.Rollout, now time.Time) error {
	for _, q := range [][2]string{
		{"in another rollout", `EXISTS (SELECT 1 FROM firmware_upgrades o WHERE o.device_id = firmware_upgrades.device_id
			AND o.state IN (` + upgradeOpenSQL + `))`},
		{"already on the version", `EXISTS (SELECT 1 FROM devices d WHERE d.id = firmware_upgrades.device_id
			AND d.firmware = firmware_upgrades.to_version)`},
	} {
		if _, err := tx.exec(ctx, `UPDATE firmware_upgrades SET state = 'skipped', error = ?, finished_at = ?, updated_at = ?
			WHERE rollout_id = ? AND state = 'draft' AND `+q[1], q[0], now, now, r.ID); err != nil {
			return err
		}
	}
	res, err := tx.exec(ctx, `UPDATE firmware_upgrades SET state = 'pending', updated_at = ? WHERE rollout_id = ? AND state = 'draft'`, now, r.ID)
	if isUniqueViolation(err) {
		// Another rollout took one of the devices between the two updates.
		return model.Errorf(model.ECONFLICT, "Another rollout took some of these devices just now: start again.")
	} else if err != nil {
		return err
	}
	if n, err := res.RowsAffected(); err != nil {
		return err
	} else if n == 0 {
		return model.Errorf(model.ECONFLICT, "None of this draft's devices is free any more: each is in another rollout or on version %s already. Cancel it, or make a new one.", r.FirmwareVersion)
	}
	return nil
}

// ExpireUpgrades fails the released upgrades past their deadline ("no
// outcome by the deadline", or "not done within the maintenance window"
// when the deadline was the window's end), of every rollout. (System side: the
// scheduler's sweep on every node; a row fails once.)
func (s *Store) ExpireUpgrades(ctx context.Context) (int64, error) {
	if _, err := actor(ctx); err != nil {
		return 0, err
	}
	now := s.now()
	res, err := s.exec(ctx, `UPDATE firmware_upgrades SET state = 'failed',
		error = CASE WHEN window_deadline THEN ? ELSE ? END, finished_at = ?, updated_at = ?
		WHERE state IN (`+upgradeReleasedSQL+`) AND deadline_at <= ?`, errOutsideWindow, errNoOutcome, now, now, now)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

// LeaseRollouts takes or renews, for node, the lease of every running
// rollout whose lease is node's, free or expired, until now + ttl, and
// returns their ids: one node drives a rollout at a time, and a rollout
// of a node that stopped is taken over once its lease ran out. (System
// side.)
func (s *Store) LeaseRollouts(ctx context.Context, node string, ttl time.Duration) ([]int64, error) {
	if _, err := actor(ctx); err != nil {
		return nil, err
	}
	if node == "" {
		return nil, fmt.Errorf("store: lease for no node")
	}
	now := s.now()
	rows, err := s.query(ctx, `UPDATE rollouts SET lease_node = ?, lease_until = ?
		WHERE status = 'running' AND (lease_node = ? OR lease_until IS NULL OR lease_until < ?) RETURNING id`,
		node, now.Add(ttl), node, now)
	if err != nil {
		return nil, err
	}
	return scanIDs(rows)
}

// FreeRolloutLeases gives up node's leases (a node shutting down), so that
// another node takes its rollouts over at its next step. (System side.)
func (s *Store) FreeRolloutLeases(ctx context.Context, node string) error {
	if _, err := actor(ctx); err != nil {
		return err
	}
	_, err := s.exec(ctx, `UPDATE rollouts SET lease_node = '', lease_until = NULL WHERE lease_node = ?`, node)
	return err
}

// StepRollout drives rollout id one step, if node holds its lease (else it
// does nothing and returns nil): it ends the current wave when it is
// finished — pausing the rollout before the next wave when the wave's
// failures exceed the threshold — and releases (pending → queued, with a
// deadline of now + the device timeout) the pending upgrades of the waves
// up to the current one whose device is online and inside its maintenance
// window now. When the last wave is finished and no upgrade is open, the
// rollout is done.
//
// A wave is finished when none of its upgrades is released and unfinished,
// none is pending with its device online (it waits for its window), and
// the pending ones (devices offline) have had one device timeout since the
// wave began (rollouts.updated_at: the start, the resume, or the end of the
// wave before). Those stay pending and are released whenever their device
// is online in its window while the rollout runs. The threshold: failed
// more than FailureThreshold percent of the wave's done and failed ones.
// (System side; one transaction; a row is released once, guarded by its
// state.)
func (s *Store) StepRollout(ctx context.Context, id int64, node string, ttl time.Duration) (*model.RolloutStep, error) {
	if _, err := actor(ctx); err != nil {
		return nil, err
	}
	var step *model.RolloutStep
	err := s.inTx(ctx, func(tx *Tx) error {
		step = nil
		now := s.now()
		// Renewing the lease locks the row (PostgreSQL) for the step:
		// another node's LeaseRollouts waits and then sees it held.
		res, err := tx.exec(ctx, `UPDATE rollouts SET lease_until = ? WHERE id = ? AND status = 'running' AND lease_node = ?`,
			now.Add(ttl), id, node)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			return err
		}
		r, err := s.getRollout(ctx, tx.tx, model.System, id)
		if err != nil {
			return err
		}
		step = &model.RolloutStep{RolloutID: id, Status: r.Status}
		waveBegan := r.Updated
		for r.CurrentWave < r.Waves {
			c, err := s.waveCounts(ctx, tx, id, r.CurrentWave)
			if err != nil {
				return err
			}
			wait := time.Duration(r.Plan.DeviceTimeout) * time.Second
			if c.released > 0 || c.pendingOnline > 0 || (c.pendingOffline > 0 && now.Before(waveBegan.Add(wait))) {
				break
			}
			step.Advanced++
			r.CurrentWave++
			waveBegan = now
			ended := c.done + c.failed
			canary := r.CurrentWave == 1 && (r.Plan.CanaryCount > 0 || r.Plan.CanaryPercent > 0)
			switch {
			case ended > 0 && c.failed*100 > r.Plan.FailureThreshold*ended:
				step.Reason = fmt.Sprintf("Wave %d: %d of %d upgrades failed (%d%%), more than the threshold of %d%%.",
					r.CurrentWave-1, c.failed, ended, c.failed*100/ended, r.Plan.FailureThreshold)
				if canary {
					step.Reason = fmt.Sprintf("The canary: %d of %d upgrades failed (%d%%), more than the threshold of %d%%.",
						c.failed, ended, c.failed*100/ended, r.Plan.FailureThreshold)
				}
			case ended == 0 && canary && c.pendingOffline == 0:
				step.Reason = "The canary: none of its devices was upgraded (all were skipped or canceled)."
			case ended == 0 && canary:
				// A canary that told nothing proves nothing: the person
				// decides (resume goes on; the devices stay pending).
				step.Reason = fmt.Sprintf("The canary: none of its %d devices came online in its window within the device timeout.",
					c.pendingOffline)
			}
			if step.Reason != "" {
				step.Status = model.RolloutPaused
				if _, err := tx.exec(ctx, `UPDATE rollouts SET status = 'paused', current_wave = ?, pause_reason = ?, updated_at = ?,
					lease_node = '', lease_until = NULL WHERE id = ?`, r.CurrentWave, step.Reason, now, id); err != nil {
					return err
				}
				if err := s.emitRolloutWebhook(ctx, tx, id, model.EventRolloutPaused, step.Reason); err != nil {
					return err
				}
				return s.auditRollout(ctx, tx, id, "rollout.pause", map[string]any{"reason": step.Reason, "wave": r.CurrentWave - 1,
					"failed": c.failed, "ended": ended, "threshold": r.Plan.FailureThreshold})
			}
			if _, err := tx.exec(ctx, `UPDATE rollouts SET current_wave = ?, updated_at = ? WHERE id = ?`, r.CurrentWave, now, id); err != nil {
				return err
			}
		}
		if r.CurrentWave >= r.Waves {
			var open int
			if err := tx.queryRow(ctx, `SELECT count(*) FROM firmware_upgrades WHERE rollout_id = ? AND state IN (`+upgradeOpenSQL+`)`,
				id).Scan(&open); err != nil {
				return err
			}
			if open == 0 {
				step.Status = model.RolloutDone
				if _, err := tx.exec(ctx, `UPDATE rollouts SET status = 'done', finished_at = ?, updated_at = ?, lease_node = '', lease_until = NULL
					WHERE id = ?`, now, now, id); err != nil {
					return err
				}
				if err := s.emitRolloutWebhook(ctx, tx, id, model.EventRolloutDone, ""); err != nil {
					return err
				}
				return s.auditRollout(ctx, tx, id, "rollout.done", map[string]any{})
			}
		}
		step.Released, err = s.releaseUpgrades(ctx, tx, r, now)
		return err
	})
	if err != nil {
		return nil, err
	}
	return step, nil
}

type waveCounts struct {
	released, pendingOnline, pendingOffline, done, failed int
}

func (s *Store) waveCounts(ctx context.Context, tx *Tx, rollout int64, wave int) (waveCounts, error) {
	var c waveCounts
	rows, err := tx.query(ctx, `SELECT u.state, d.online, count(*) FROM firmware_upgrades u JOIN devices d ON d.id = u.device_id
		WHERE u.rollout_id = ? AND u.wave = ? GROUP BY u.state, d.online`, rollout, wave)
	if err != nil {
		return c, err
	}
	defer rows.Close()
	for rows.Next() {
		var state model.UpgradeState
		var online bool
		var n int
		if err := rows.Scan(&state, &online, &n); err != nil {
			return c, err
		}
		switch {
		case state == model.UpgradePending && online:
			c.pendingOnline += n
		case state == model.UpgradePending:
			c.pendingOffline += n
		case state == model.UpgradeDone:
			c.done += n
		case state == model.UpgradeFailed:
			c.failed += n
		case state.Open():
			c.released += n
		}
	}
	return c, rows.Err()
}

// releaseUpgrades releases the pending upgrades of r's waves up to the
// current one whose device is online and inside the window in its time
// zone now, and returns their devices' MACs. The deadline is now + the
// device timeout, or the end of the device's window when that comes first
// (window_deadline: an upgrade not done by then fails "not done within the
// maintenance window", so no device installs outside its window).
func (s *Store) releaseUpgrades(ctx context.Context, tx *Tx, r *model.Rollout, now time.Time) ([]string, error) {
	rows, err := tx.query(ctx, `SELECT DISTINCT time_zone FROM firmware_upgrades WHERE rollout_id = ? AND wave <= ? AND state = 'pending'`,
		r.ID, r.CurrentWave)
	if err != nil {
		return nil, err
	}
	start, _ := model.ParseClock(r.Plan.WindowStart)
	end, _ := model.ParseClock(r.Plan.WindowEnd)
	type release struct {
		deadline time.Time
		capped   bool
		ids      []any
	}
	timeout := now.Add(time.Duration(r.Plan.DeviceTimeout) * time.Second)
	zones := map[string]*release{}
	var names []any
	for rows.Next() {
		var tz string
		if err := rows.Scan(&tz); err != nil {
			rows.Close()
			return nil, err
		}
		loc, err := time.LoadLocation(tz)
		if err != nil || tz == "" || tz == "Local" {
			loc = time.UTC // a zone this node does not know: UTC, as for a device with none
		}
		local := now.In(loc)
		if !model.InWindow(local, start, end) {
			continue
		}
		rel := &release{deadline: timeout}
		if wend, ok := model.WindowEnd(local, start, end); ok && wend.Before(timeout) {
			rel.deadline, rel.capped = wend.UTC(), true
		}
		zones[tz] = rel
		names = append(names, tz)
	}
	rows.Close()
	if err := rows.Err(); err != nil || len(zones) == 0 {
		return nil, err
	}
	rows, err = tx.query(ctx, `SELECT u.id, d.mac, u.time_zone FROM firmware_upgrades u JOIN devices d ON d.id = u.device_id
		WHERE u.rollout_id = ? AND u.wave <= ? AND u.state = 'pending' AND d.online = true
		AND u.time_zone IN (`+strings.TrimSuffix(strings.Repeat("?,", len(names)), ",")+`) ORDER BY u.wave, u.id`,
		append([]any{r.ID, r.CurrentWave}, names...)...)
	if err != nil {
		return nil, err
	}
	var macs []string
	for rows.Next() {
		var id int64
		var mac, tz string
		if err := rows.Scan(&id, &mac, &tz); err != nil {
			rows.Close()
			return nil, err
		}
		zones[tz].ids = append(zones[tz].ids, id)
		macs = append(macs, mac)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	for _, rel := range zones {
		for start := 0; start < len(rel.ids); start += rolloutInsertBatch {
			part := rel.ids[start:min(start+rolloutInsertBatch, len(rel.ids))]
			if _, err := tx.exec(ctx, `UPDATE firmware_upgrades SET state = 'queued', queued_at = ?, updated_at = ?, deadline_at = ?,
				window_deadline = ? WHERE state = 'pending' AND id IN (`+strings.TrimSuffix(strings.Repeat("?,", len(part)), ",")+`)`,
				append([]any{now, now, rel.deadline, rel.capped}, part...)...); err != nil {
				return nil, err
			}
		}
	}
	return macs, nil
}

// auditRollout records what the scheduler did to a rollout: the actor is
// the system, and the entry is the rollout's account's (and its
// ancestors'), like the creator's own entries, so that they read why their
// rollout paused.
func (s *Store) auditRollout(ctx context.Context, tx *Tx, id int64, action string, details map[string]any) error {
	js, err := json.Marshal(details)
	if err != nil {
		return err
	}
	_, err = tx.exec(ctx, `INSERT INTO audit_log (at, actor_id, actor, real_actor_id, real_actor, account_id, account, distributor_id,
		subdistributor_id, action, object_type, object_id, details)
		SELECT ?, NULL, 'system', NULL, '', r.account_id, coalesce(a.username, ''), r.distributor_id, r.subdistributor_id, ?, 'rollout', ?, ?
		FROM rollouts r LEFT JOIN accounts a ON a.id = r.account_id WHERE r.id = ?`,
		s.now(), action, strconv.FormatInt(id, 10), string(js), id)
	return err
}
