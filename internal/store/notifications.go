package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/model"
)

// Notifications (README "Notifications"): an account's e-mail switches
// (Setting → Notification), and the system side of the scheduler — its
// lease, the generators that decide which notices are owed (each writing
// its ledger rows and advancing its cursor in one transaction), and the
// digests the scheduler mails.
//
// Exactly once: a notice is a row of the ledger (notifications), unique by
// (account, kind, subject, occasion); a generator inserts with ON CONFLICT
// DO NOTHING, so two nodes, or a run repeated after a crash, decide it once.
// A row stays pending until the digest carrying it was accepted by the SMTP
// server; a failed delivery leaves it pending for a later run.

const (
	// notifyLeaseName is the one lease row of the scheduler.
	notifyLeaseName = "notifications"
	// notifySettle keeps the order and rollout scans this far behind the
	// clock, so that a transaction that stamped its row earlier but
	// committed later than another is still seen.
	notifySettle = 30 * time.Second
	// notifyInsertBatch rows per INSERT of ledger rows.
	notifyInsertBatch = 100
)

// notifyWait is how long a new ledger row waits before its digest is due:
// notices decided meanwhile join the same mail (a power cut's devices, a
// night's expiry notices).
var notifyWait = map[string]time.Duration{
	model.NotifyEndUserExpiry: 5 * time.Minute,
	model.NotifyDeviceOffline: 2 * time.Minute,
	model.NotifyOrderResult:   0,
	model.NotifyRolloutPaused: 0,
}

const notifySettingsCols = `enduser_expiry, device_offline, order_result, rollout_paused, offline_minutes`

func scanNotifySettings(r scanner, ns *model.NotificationSettings, extra ...any) error {
	return r.Scan(append([]any{&ns.EndUserExpiry, &ns.DeviceOffline, &ns.OrderResult, &ns.RolloutPaused, &ns.OfflineMinutes}, extra...)...)
}

// GetNotificationSettings returns the actor's own notification settings
// (the defaults when it never saved them), with the address and language
// its mails go to.
func (s *Store) GetNotificationSettings(ctx context.Context) (model.NotificationSettings, error) {
	act, err := actor(ctx)
	if err != nil {
		return model.NotificationSettings{}, err
	}
	if act.AccountID == 0 {
		return model.NotificationSettings{}, model.NotFound("account")
	}
	return s.notificationSettings(ctx, s.db, act.AccountID)
}

func (s *Store) notificationSettings(ctx context.Context, q querier, id int64) (model.NotificationSettings, error) {
	ns := model.DefaultNotificationSettings()
	var email, lang string
	var updated sql.NullTime
	var e, d, o, r sql.NullBool
	var mins sql.NullInt64
	err := q.QueryRowContext(ctx, s.q(`SELECT a.email, a.language, n.enduser_expiry, n.device_offline, n.order_result, n.rollout_paused,
		n.offline_minutes, n.updated_at FROM accounts a LEFT JOIN notification_settings n ON n.account_id = a.id WHERE a.id = ?`), id).
		Scan(&email, &lang, &e, &d, &o, &r, &mins, &updated)
	if isNoRows(err) {
		return ns, model.NotFound("account")
	} else if err != nil {
		return ns, err
	}
	if updated.Valid {
		ns.EndUserExpiry, ns.DeviceOffline, ns.OrderResult, ns.RolloutPaused = e.Bool, d.Bool, o.Bool, r.Bool
		ns.OfflineMinutes = int(mins.Int64)
		t := updated.Time.UTC()
		ns.Updated = &t
	}
	ns.Email, ns.Language = email, lang
	if ns.Language == "" {
		ns.Language = "en"
	}
	return ns, nil
}

// PutNotificationSettings saves the actor's own notification settings
// (the switches and the offline minutes; the address and language are the
// account's). Audited.
func (s *Store) PutNotificationSettings(ctx context.Context, ns model.NotificationSettings) (model.NotificationSettings, error) {
	act, err := actor(ctx)
	if err != nil {
		return ns, err
	}
	if act.AccountID == 0 {
		return ns, model.NotFound("account")
	}
	var v model.Validator
	ns.Check(&v)
	if err := v.Err(); err != nil {
		return ns, err
	}
	var out model.NotificationSettings
	err = s.inTx(ctx, func(tx *Tx) error {
		if _, err := tx.exec(ctx, `INSERT INTO notification_settings (account_id, `+notifySettingsCols+`, updated_at)
			VALUES (?,?,?,?,?,?,?) ON CONFLICT (account_id) DO UPDATE SET enduser_expiry = excluded.enduser_expiry,
			device_offline = excluded.device_offline, order_result = excluded.order_result, rollout_paused = excluded.rollout_paused,
			offline_minutes = excluded.offline_minutes, updated_at = excluded.updated_at`,
			act.AccountID, ns.EndUserExpiry, ns.DeviceOffline, ns.OrderResult, ns.RolloutPaused, ns.OfflineMinutes, s.now()); err != nil {
			return err
		}
		if err := s.audit(ctx, tx, "notifications.save", "account", act.AccountID, map[string]any{
			model.NotifyEndUserExpiry: ns.EndUserExpiry, model.NotifyDeviceOffline: ns.DeviceOffline,
			model.NotifyOrderResult: ns.OrderResult, model.NotifyRolloutPaused: ns.RolloutPaused, "offline_minutes": ns.OfflineMinutes}); err != nil {
			return err
		}
		out, err = s.notificationSettings(ctx, tx.tx, act.AccountID)
		return err
	})
	return out, err
}

// LeaseNotifications takes or renews, for node, the scheduler's lease
// until now + ttl, and reports whether node holds it: free, expired or
// node's own. (System side.)
func (s *Store) LeaseNotifications(ctx context.Context, node string, ttl time.Duration) (bool, error) {
	return s.takeLease(ctx, "notification_leases", notifyLeaseName, node, ttl)
}

// FreeNotificationLease gives node's lease up (a node shutting down), so
// that another node goes on at its next run.
func (s *Store) FreeNotificationLease(ctx context.Context, node string) error {
	return s.freeLease(ctx, "notification_leases", notifyLeaseName, node)
}

// ErrLeaseLost is returned to a node that no longer holds the lease: it
// stops, another node goes on.
var ErrLeaseLost = errors.New("store: the notification lease is held by another node")

// fence renews node's lease within tx, failing when another node holds it:
// what a run delivers, it delivers holding the lease.
func (s *Store) fence(ctx context.Context, tx *Tx, node string, ttl time.Duration) error {
	now := s.now()
	res, err := tx.exec(ctx, `UPDATE notification_leases SET until_at = ? WHERE name = ? AND node = ? AND until_at >= ?`,
		now.Add(ttl), notifyLeaseName, node, now)
	if err != nil {
		return err
	}
	if n, err := res.RowsAffected(); err != nil {
		return err
	} else if n != 1 {
		return ErrLeaseLost
	}
	return nil
}

// notifyRow is one ledger row a generator decided.
type notifyRow struct {
	account   int64
	kind      string
	subject   string
	occasion  string
	projectID int64
	line      model.NotifyLine
}

// insertNotifications writes rows, each unless its key is already there.
func (s *Store) insertNotifications(ctx context.Context, tx *Tx, rows []notifyRow) (int, error) {
	now := s.now()
	total := 0
	for len(rows) > 0 {
		n := min(len(rows), notifyInsertBatch)
		var b strings.Builder
		b.WriteString(`INSERT INTO notifications (account_id, kind, subject, occasion, project_id, line, created_at, next_try_at) VALUES `)
		args := make([]any, 0, n*8)
		for i, r := range rows[:n] {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString("(?,?,?,?,?,?,?,?)")
			js, err := json.Marshal(r.line)
			if err != nil {
				return total, err
			}
			args = append(args, r.account, r.kind, r.subject, r.occasion, r.projectID, string(js), now, now.Add(notifyWait[r.kind]))
		}
		b.WriteString(` ON CONFLICT (account_id, kind, subject, occasion) DO NOTHING`)
		res, err := tx.exec(ctx, b.String(), args...)
		if err != nil {
			return total, err
		}
		k, _ := res.RowsAffected()
		total += int(k)
		rows = rows[n:]
	}
	return total, nil
}

// notifySettingsOf reads the settings of accounts (the defaults for those
// that never saved them), into cache.
func (s *Store) notifySettingsOf(ctx context.Context, tx *Tx, cache map[int64]model.NotificationSettings, ids ...int64) error {
	var want []any
	for _, id := range ids {
		if _, ok := cache[id]; !ok && id != 0 {
			cache[id] = model.DefaultNotificationSettings()
			want = append(want, id)
		}
	}
	for len(want) > 0 {
		n := min(len(want), 500)
		rows, err := tx.query(ctx, `SELECT account_id, `+notifySettingsCols+` FROM notification_settings WHERE account_id IN (?`+
			strings.Repeat(",?", n-1)+`)`, want[:n]...)
		if err != nil {
			return err
		}
		for rows.Next() {
			var id int64
			var ns model.NotificationSettings
			if err := rows.Scan(&id, &ns.EndUserExpiry, &ns.DeviceOffline, &ns.OrderResult, &ns.RolloutPaused, &ns.OfflineMinutes); err != nil {
				rows.Close()
				return err
			}
			cache[id] = ns
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		want = want[n:]
	}
	return nil
}

// cursor reads a generator's position, starting it at (at, 0) — nothing
// before at is owed — the first time.
func (s *Store) cursor(ctx context.Context, tx *Tx, name string, at time.Time) (time.Time, int64, error) {
	var t time.Time
	var id int64
	err := tx.queryRow(ctx, `SELECT at, last_id FROM notification_cursors WHERE name = ?`, name).Scan(&t, &id)
	if isNoRows(err) {
		_, err = tx.exec(ctx, `INSERT INTO notification_cursors (name, at, last_id) VALUES (?,?,0) ON CONFLICT (name) DO NOTHING`, name, at)
		return at, 0, err
	}
	return t.UTC(), id, err
}

func (s *Store) setCursor(ctx context.Context, tx *Tx, name string, at time.Time, id int64) error {
	_, err := tx.exec(ctx, `UPDATE notification_cursors SET at = ?, last_id = ? WHERE name = ?`, at, id, name)
	return err
}

// The expiry notices: each service's expiry is owed four notices — 30, 7
// and 1 days before the day it expires, and the day after (expired) — each
// at 00:00 UTC, so that one night's notices make one digest. offset is how
// far before the expiry's day a notice is due (negative: after).
var expiryNotices = []struct {
	event  string
	offset time.Duration
}{{"30d", 30 * 24 * time.Hour}, {"7d", 7 * 24 * time.Hour}, {"1d", 24 * time.Hour}, {"expired", -24 * time.Hour}}

// expiryBound is the exclusive upper bound of the expiries whose notice
// with offset is due at now: day(E) - offset <= now ⟺ E < day(now + offset) + 1 day.
func expiryBound(now time.Time, offset time.Duration) time.Time {
	return now.Add(offset).UTC().Truncate(24 * time.Hour).Add(24 * time.Hour)
}

// DecideNotifications runs every generator once, each deciding at most
// limit subjects: end users' expiry notices, devices offline and back,
// orders completed or failed, rollouts paused. Each generator writes its
// ledger rows and advances its cursor in one transaction. (System side.)
func (s *Store) DecideNotifications(ctx context.Context, limit int) (model.NotifyDecided, error) {
	if limit <= 0 {
		limit = 1000
	}
	out := model.NotifyDecided{}
	var errs []error
	for _, svc := range []string{"app", "premium"} {
		for i := range expiryNotices {
			n, err := s.decideExpiry(ctx, svc, i, limit)
			out[model.NotifyEndUserExpiry] += n
			if err != nil {
				errs = append(errs, fmt.Errorf("%s expiry %s: %w", svc, expiryNotices[i].event, err))
			}
		}
	}
	n, err := s.decideDevices(ctx, limit)
	out[model.NotifyDeviceOffline] += n
	if err != nil {
		errs = append(errs, fmt.Errorf("devices: %w", err))
	}
	n, err = s.decideOrders(ctx, limit)
	out[model.NotifyOrderResult] += n
	if err != nil {
		errs = append(errs, fmt.Errorf("orders: %w", err))
	}
	n, err = s.decideRollouts(ctx, limit)
	out[model.NotifyRolloutPaused] += n
	if err != nil {
		errs = append(errs, fmt.Errorf("rollouts: %w", err))
	}
	return out, errors.Join(errs...)
}

// decideExpiry owes notice i of service svc to the installer and the
// sub-distributor of each end user whose expiry passed its bound since the
// cursor — unless a later notice of that expiry is due already (the
// scheduler was down): then only the latest is sent, by its own cursor.
// It reads end_users_app_expiry / end_users_premium_expiry: one range.
func (s *Store) decideExpiry(ctx context.Context, svc string, i, limit int) (int, error) {
	col, idx := "app_expires_at", idxEndUsersAppExpiry
	if svc == "premium" {
		col, idx = "premium_expires_at", idxEndUsersPremiumExpiry
	}
	notice := expiryNotices[i]
	name := "expiry:" + svc + ":" + notice.event
	decided := 0
	err := s.inTx(ctx, func(tx *Tx) error {
		decided = 0
		now := s.now()
		hi := expiryBound(now, notice.offset)
		at, last, err := s.cursor(ctx, tx, name, hi)
		if err != nil {
			return err
		}
		from := "end_users u"
		if s.dialect == SQLite {
			from += indexedBy(idx)
		}
		rows, err := tx.query(ctx, `SELECT u.id, u.`+col+`, u.installer_id, u.subdistributor_id, u.name, p.name, ia.username
			FROM `+from+` JOIN projects p ON p.id = u.project_id JOIN accounts ia ON ia.id = u.installer_id
			WHERE u.`+col+` IS NOT NULL AND u.`+col+` >= ? AND (u.`+col+` > ? OR u.id > ?) AND u.`+col+` < ?
			ORDER BY u.`+col+`, u.id LIMIT ?`, at, at, last, hi, limit)
		if err != nil {
			return err
		}
		type user struct {
			id, installer, sub  int64
			exp                 time.Time
			name, project, inst string
		}
		var users []user
		for rows.Next() {
			var u user
			if err := rows.Scan(&u.id, &u.exp, &u.installer, nid(&u.sub), &u.name, &u.project, &u.inst); err != nil {
				rows.Close()
				return err
			}
			u.exp = u.exp.UTC()
			users = append(users, u)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		if len(users) == 0 {
			return nil
		}
		cache := map[int64]model.NotificationSettings{}
		var ids []int64
		for _, u := range users {
			ids = append(ids, u.installer, u.sub)
		}
		if err := s.notifySettingsOf(ctx, tx, cache, ids...); err != nil {
			return err
		}
		var out []notifyRow
		for _, u := range users {
			if i+1 < len(expiryNotices) && u.exp.Before(expiryBound(now, expiryNotices[i+1].offset)) {
				continue // a later notice is due already: it alone is sent
			}
			line := model.NotifyLine{Event: notice.event, ID: u.id, Name: u.name, Project: u.project, Installer: u.inst, Service: svc, At: u.exp}
			for _, to := range []int64{u.installer, u.sub} {
				if to != 0 && cache[to].EndUserExpiry {
					out = append(out, notifyRow{account: to, kind: model.NotifyEndUserExpiry,
						subject: "enduser:" + strconv.FormatInt(u.id, 10) + ":" + svc, occasion: notice.event + ":" + u.exp.Format(time.RFC3339), line: line})
				}
			}
		}
		if decided, err = s.insertNotifications(ctx, tx, out); err != nil {
			return err
		}
		lastU := users[len(users)-1]
		return s.setCursor(ctx, tx, name, lastU.exp, lastU.id)
	})
	return decided, err
}

// decideDevices reads the offline episodes due for a look (device_offline_check:
// one range), oldest first: a device offline longer than a recipient's
// minutes is owed that recipient an "offline" notice; one that came back
// after such a notice is owed an "online" one; one back sooner, nothing
// (the quiet period). Recipients: the installer owning the device and its
// sub-distributor, each by its own switch and minutes.
func (s *Store) decideDevices(ctx context.Context, limit int) (int, error) {
	decided := 0
	err := s.inTx(ctx, func(tx *Tx) error {
		decided = 0
		now := s.now()
		from, lock := "device_offline o", ""
		if s.dialect == SQLite {
			from += indexedBy(idxDeviceOfflineCheck)
		} else {
			// The episodes a device's write holds (its hello's or
			// disconnect's trigger) wait for the next step: this
			// transaction writes the episodes in its own order, a batch of
			// hellos in theirs, and each waiting for a row the other held
			// was a deadlock (gateway_locks_test.go).
			lock = ` FOR UPDATE OF o SKIP LOCKED`
		}
		rows, err := tx.query(ctx, `SELECT o.device_id, o.offline_since, o.back_at, o.alerted, d.mac, d.name, d.project_id,
			COALESCE(p.name, ''), d.installer_id, d.subdistributor_id, ia.username
			FROM `+from+` JOIN devices d ON d.id = o.device_id LEFT JOIN projects p ON p.id = d.project_id
			JOIN accounts ia ON ia.id = d.installer_id
			WHERE o.check_at IS NOT NULL AND o.check_at <= ? ORDER BY o.check_at LIMIT ?`+lock, now, limit)
		if err != nil {
			return err
		}
		type episode struct {
			device, project, installer, sub int64
			since                           time.Time
			back                            sql.NullTime
			alerted                         bool
			mac, name, pname, inst          string
		}
		var eps []episode
		for rows.Next() {
			var e episode
			if err := rows.Scan(&e.device, &e.since, &e.back, &e.alerted, &e.mac, &e.name, &e.project, &e.pname, &e.installer,
				nid(&e.sub), &e.inst); err != nil {
				rows.Close()
				return err
			}
			e.since = e.since.UTC()
			eps = append(eps, e)
		}
		rows.Close()
		if err := rows.Err(); err != nil || len(eps) == 0 {
			return err
		}
		cache := map[int64]model.NotificationSettings{}
		var ids []int64
		for _, e := range eps {
			ids = append(ids, e.installer, e.sub)
		}
		if err := s.notifySettingsOf(ctx, tx, cache, ids...); err != nil {
			return err
		}
		var out []notifyRow
		var done []any // episodes over: the row goes
		for _, e := range eps {
			subject := "device:" + strconv.FormatInt(e.device, 10)
			offOcc := "offline:" + e.since.Format(time.RFC3339Nano)
			end := now
			if e.back.Valid {
				end = e.back.Time.UTC()
			}
			alerted := e.alerted
			var next time.Time
			for _, to := range []int64{e.installer, e.sub} {
				ns := cache[to]
				if to == 0 || !ns.DeviceOffline {
					continue
				}
				mins := time.Duration(max(ns.OfflineMinutes, model.MinOfflineMinutes)) * time.Minute
				if end.Sub(e.since) < mins {
					if !e.back.Valid && (next.IsZero() || e.since.Add(mins).Before(next)) {
						next = e.since.Add(mins)
					}
					continue
				}
				// Offline longer than the recipient's minutes: owed, once
				// (the key keeps a repeated look from owing it again).
				out = append(out, notifyRow{account: to, kind: model.NotifyDeviceOffline, subject: subject, occasion: offOcc,
					projectID: e.project, line: model.NotifyLine{Event: "offline", ID: e.device, Name: e.name, MAC: e.mac,
						Project: e.pname, ProjectID: e.project, Installer: e.inst, At: e.since}})
				alerted = true
				if e.back.Valid {
					out = append(out, notifyRow{account: to, kind: model.NotifyDeviceOffline, subject: subject,
						occasion: "online:" + e.back.Time.UTC().Format(time.RFC3339Nano), projectID: e.project,
						line: model.NotifyLine{Event: "online", ID: e.device, Name: e.name, MAC: e.mac, Project: e.pname,
							ProjectID: e.project, Installer: e.inst, At: e.back.Time.UTC(), Since: e.since}})
				}
			}
			switch {
			case e.back.Valid:
				done = append(done, e.device)
			case !next.IsZero():
				if _, err := tx.exec(ctx, `UPDATE device_offline SET check_at = ?, alerted = ? WHERE device_id = ?`, next, alerted, e.device); err != nil {
					return err
				}
			default: // every recipient told (or none wants it): wait for the device to come back
				if _, err := tx.exec(ctx, `UPDATE device_offline SET check_at = NULL, alerted = ? WHERE device_id = ?`, alerted, e.device); err != nil {
					return err
				}
			}
		}
		var err2 error
		if decided, err2 = s.insertNotifications(ctx, tx, out); err2 != nil {
			return err2
		}
		for len(done) > 0 {
			n := min(len(done), 500)
			if _, err := tx.exec(ctx, `DELETE FROM device_offline WHERE device_id IN (?`+strings.Repeat(",?", n-1)+`)`, done[:n]...); err != nil {
				return err
			}
			done = done[n:]
		}
		return nil
	})
	return decided, err
}

// decideOrders owes the account that placed each order completed or failed
// since the cursor a notice (orders_result: one range).
func (s *Store) decideOrders(ctx context.Context, limit int) (int, error) {
	decided := 0
	err := s.inTx(ctx, func(tx *Tx) error {
		decided = 0
		hi := s.now().Add(-notifySettle)
		at, last, err := s.cursor(ctx, tx, "orders", hi)
		if err != nil {
			return err
		}
		from := "orders o"
		if s.dialect == SQLite {
			from += indexedBy(idxOrdersResult)
		}
		rows, err := tx.query(ctx, `SELECT o.id, o.number, o.status, o.total, o.currency, o.updated_at, COALESCE(o.created_by, o.installer_id),
			o.project_name FROM `+from+` WHERE o.status IN ('completed','failed') AND o.updated_at >= ? AND (o.updated_at > ? OR o.id > ?)
			AND o.updated_at <= ? ORDER BY o.updated_at, o.id LIMIT ?`, at, at, last, hi, limit)
		if err != nil {
			return err
		}
		type order struct {
			id, total, to           int64
			number, status, cur, pj string
			at                      time.Time
		}
		var orders []order
		for rows.Next() {
			var o order
			if err := rows.Scan(&o.id, &o.number, &o.status, &o.total, &o.cur, &o.at, &o.to, &o.pj); err != nil {
				rows.Close()
				return err
			}
			o.at = o.at.UTC()
			orders = append(orders, o)
		}
		rows.Close()
		if err := rows.Err(); err != nil || len(orders) == 0 {
			return err
		}
		cache := map[int64]model.NotificationSettings{}
		var ids []int64
		for _, o := range orders {
			ids = append(ids, o.to)
		}
		if err := s.notifySettingsOf(ctx, tx, cache, ids...); err != nil {
			return err
		}
		var out []notifyRow
		for _, o := range orders {
			if !cache[o.to].OrderResult {
				continue
			}
			out = append(out, notifyRow{account: o.to, kind: model.NotifyOrderResult, subject: "order:" + strconv.FormatInt(o.id, 10),
				occasion: o.status, line: model.NotifyLine{Event: o.status, ID: o.id, Name: o.number, Project: o.pj,
					Detail: fmt.Sprintf("%d.%02d %s", o.total/100, o.total%100, o.cur), At: o.at}})
		}
		if decided, err = s.insertNotifications(ctx, tx, out); err != nil {
			return err
		}
		lastO := orders[len(orders)-1]
		return s.setCursor(ctx, tx, "orders", lastO.at, lastO.id)
	})
	return decided, err
}

// decideRollouts owes each rollout's account a notice of every pause
// (by its failure threshold or by a person) since the cursor
// (rollouts_paused: one range).
func (s *Store) decideRollouts(ctx context.Context, limit int) (int, error) {
	decided := 0
	err := s.inTx(ctx, func(tx *Tx) error {
		decided = 0
		hi := s.now().Add(-notifySettle)
		at, last, err := s.cursor(ctx, tx, "rollouts", hi)
		if err != nil {
			return err
		}
		from := "rollouts r"
		if s.dialect == SQLite {
			from += indexedBy(idxRolloutsPaused)
		}
		rows, err := tx.query(ctx, `SELECT r.id, r.name, r.pause_reason, r.updated_at, r.account_id FROM `+from+`
			WHERE r.status = 'paused' AND r.updated_at >= ? AND (r.updated_at > ? OR r.id > ?) AND r.updated_at <= ?
			ORDER BY r.updated_at, r.id LIMIT ?`, at, at, last, hi, limit)
		if err != nil {
			return err
		}
		type rollout struct {
			id, to       int64
			name, reason string
			at           time.Time
		}
		var rs []rollout
		for rows.Next() {
			var r rollout
			if err := rows.Scan(&r.id, &r.name, &r.reason, &r.at, &r.to); err != nil {
				rows.Close()
				return err
			}
			r.at = r.at.UTC()
			rs = append(rs, r)
		}
		rows.Close()
		if err := rows.Err(); err != nil || len(rs) == 0 {
			return err
		}
		cache := map[int64]model.NotificationSettings{}
		var ids []int64
		for _, r := range rs {
			ids = append(ids, r.to)
		}
		if err := s.notifySettingsOf(ctx, tx, cache, ids...); err != nil {
			return err
		}
		var out []notifyRow
		for _, r := range rs {
			if !cache[r.to].RolloutPaused {
				continue
			}
			out = append(out, notifyRow{account: r.to, kind: model.NotifyRolloutPaused, subject: "rollout:" + strconv.FormatInt(r.id, 10),
				occasion: "paused:" + r.at.Format(time.RFC3339Nano), line: model.NotifyLine{Event: "paused", ID: r.id, Name: r.name,
					Detail: r.reason, At: r.at}})
		}
		if decided, err = s.insertNotifications(ctx, tx, out); err != nil {
			return err
		}
		lastR := rs[len(rs)-1]
		return s.setCursor(ctx, tx, "rollouts", lastR.at, lastR.id)
	})
	return decided, err
}

// DueNotificationDigests lists up to limit digests with a row due for
// delivery, the longest waiting first (notifications_due: one range).
// (System side.)
func (s *Store) DueNotificationDigests(ctx context.Context, limit int) ([]model.NotifyDigestKey, error) {
	if limit <= 0 {
		limit = 100
	}
	from := "notifications"
	if s.dialect == SQLite {
		from += indexedBy(idxNotificationsDue)
	}
	rows, err := s.query(ctx, `SELECT account_id, kind, project_id FROM `+from+` WHERE status = 'pending' AND next_try_at <= ?
		ORDER BY next_try_at LIMIT ?`, s.now(), limit*20)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	seen := map[model.NotifyDigestKey]bool{}
	var out []model.NotifyDigestKey
	for rows.Next() {
		var k model.NotifyDigestKey
		if err := rows.Scan(&k.AccountID, &k.Kind, &k.ProjectID); err != nil {
			return nil, err
		}
		if !seen[k] && len(out) < limit {
			seen[k] = true
			out = append(out, k)
		}
	}
	return out, rows.Err()
}

// NotificationDigest reads digest k for delivery — its recipient, its
// first lines (at most lines), how many rows it holds and the last one's
// id — renewing node's lease in the same transaction: ErrLeaseLost when
// another node holds it, so that two nodes never mail one digest.
// (System side; notifications_digest: one range.)
func (s *Store) NotificationDigest(ctx context.Context, node string, ttl time.Duration, k model.NotifyDigestKey, lines int) (*model.NotifyDigest, error) {
	d := &model.NotifyDigest{NotifyDigestKey: k}
	err := s.inTx(ctx, func(tx *Tx) error {
		if err := s.fence(ctx, tx, node, ttl); err != nil {
			return err
		}
		ns, err := s.notificationSettings(ctx, tx.tx, k.AccountID)
		if err != nil {
			return err
		}
		d.On, d.Email, d.Language = ns.On(k.Kind), ns.Email, ns.Language
		if err := tx.queryRow(ctx, `SELECT username, name, role FROM accounts WHERE id = ?`, k.AccountID).Scan(&d.Username, &d.Name, &d.Role); err != nil {
			return err
		}
		if err := tx.queryRow(ctx, `SELECT count(*), COALESCE(max(id), 0), COALESCE(max(attempts), 0) FROM notifications
			WHERE account_id = ? AND kind = ? AND project_id = ? AND status = 'pending'`, k.AccountID, k.Kind, k.ProjectID).
			Scan(&d.Count, &d.MaxID, &d.Attempts); err != nil {
			return err
		}
		rows, err := tx.query(ctx, `SELECT line FROM notifications WHERE account_id = ? AND kind = ? AND project_id = ? AND status = 'pending'
			ORDER BY id LIMIT ?`, k.AccountID, k.Kind, k.ProjectID, lines)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var js string
			var l model.NotifyLine
			if err := rows.Scan(&js); err != nil {
				return err
			}
			if err := json.Unmarshal([]byte(js), &l); err != nil {
				return err
			}
			l.At, l.Since = l.At.UTC(), l.Since.UTC()
			d.Lines = append(d.Lines, l)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, err
	}
	return d, nil
}

// Outcomes of a digest's delivery.
const (
	NotifySent    = "sent"    // the SMTP server accepted the mail
	NotifyDropped = "dropped" // it can never go: no address, or the kind turned off
	NotifyFailed  = "failed"  // try again at retryAt
)

// SettleNotificationDigest records what became of digest d's rows (those
// up to d.MaxID: rows decided since wait for the next digest). (System side.)
func (s *Store) SettleNotificationDigest(ctx context.Context, d *model.NotifyDigest, outcome string, retryAt time.Time) error {
	where := ` WHERE account_id = ? AND kind = ? AND project_id = ? AND status = 'pending' AND id <= ?`
	args := []any{d.AccountID, d.Kind, d.ProjectID, d.MaxID}
	var err error
	switch outcome {
	case NotifySent, NotifyDropped:
		_, err = s.exec(ctx, `UPDATE notifications SET status = ?, sent_at = ?`+where, append([]any{outcome, s.now()}, args...)...)
	case NotifyFailed:
		_, err = s.exec(ctx, `UPDATE notifications SET attempts = attempts + 1, next_try_at = ?`+where, append([]any{retryAt}, args...)...)
	default:
		err = fmt.Errorf("store: no outcome %q", outcome)
	}
	return err
}

// PruneNotifications deletes ledger rows sent or dropped before before, in
// chunks. Their occasions are past: no generator decides them again (the
// cursors moved on; a device's episode is gone). (System side.)
func (s *Store) PruneNotifications(ctx context.Context, before time.Time) (int64, error) {
	res, err := s.exec(ctx, `DELETE FROM notifications WHERE id IN (SELECT id FROM notifications
		WHERE status <> 'pending' AND sent_at < ? LIMIT 5000)`, before)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

// takeLease takes or renews, for node, the lease row name of table (a
// table of name, node, until_at: one row per background job) until now +
// ttl, and reports whether node holds it: free, expired or node's own.
// table is one of the store's own names, never input.
func (s *Store) takeLease(ctx context.Context, table, name, node string, ttl time.Duration) (bool, error) {
	if node == "" {
		return false, errors.New("store: lease for no node")
	}
	now := s.now()
	res, err := s.exec(ctx, `INSERT INTO `+table+` (name, node, until_at) VALUES (?,?,?)
		ON CONFLICT (name) DO UPDATE SET node = excluded.node, until_at = excluded.until_at
		WHERE `+table+`.node = excluded.node OR `+table+`.until_at IS NULL OR `+table+`.until_at < ?`,
		name, node, now.Add(ttl), now)
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

// freeLease gives node's lease row name of table up (a node shutting
// down), so that another node goes on at once.
func (s *Store) freeLease(ctx context.Context, table, name, node string) error {
	_, err := s.exec(ctx, `UPDATE `+table+` SET node = '', until_at = NULL WHERE name = ? AND node = ?`, name, node)
	return err
}
