package store

import (
	"context"
	"database/sql"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/model"
)

// The dashboard (issue 17; migrations/*/00029_dashboard.sql). A page view
// must not count a million devices, so RecomputeDashboard, run every minute
// by the node holding the dashboard lease (and at start), writes summaries
// with one row per installer and what it is counted by; Dashboard sums the
// rows of the actor's subtree (a few hundred rows at most per installer,
// read through an index on the subtree's column). The rollouts running and
// the failed commands of the last day are read live, bounded.

// dashboardLeaseName is the one row of dashboard_state.
const dashboardLeaseName = "dashboard"

// dashboardKeepDays bounds the daily snapshots kept.
const dashboardKeepDays = 35

// dashboardOpenUpgrade are the states of a device being upgraded: released
// to it and not finished.
const dashboardOpenUpgrade = `('queued','sent','downloading','verifying','installing','rebooting')`

// dashboardScope limits summary rows (which carry installer_id,
// subdistributor_id and distributor_id) to the actor's subtree.
func dashboardScope(a *model.Actor) (string, []any) {
	switch a.Role {
	case model.RoleAdmin:
		return "1=1", nil
	case model.RoleDistributor:
		return "distributor_id = ?", []any{a.AccountID}
	case model.RoleSubdistributor:
		return "subdistributor_id = ?", []any{a.AccountID}
	default:
		return "installer_id = ?", []any{a.AccountID}
	}
}

// LeaseDashboard takes or renews, for node, the dashboard recompute's lease
// until now + ttl, and reports whether node holds it. (System side.)
func (s *Store) LeaseDashboard(ctx context.Context, node string, ttl time.Duration) (bool, error) {
	return s.takeLease(ctx, "dashboard_state", dashboardLeaseName, node, ttl)
}

// FreeDashboardLease gives node's lease up (a node shutting down).
func (s *Store) FreeDashboardLease(ctx context.Context, node string) error {
	return s.freeLease(ctx, "dashboard_state", dashboardLeaseName, node)
}

// dashExpiringKinds are the end-user lists in the order of
// dashboard_installers' expiring_* columns.
var dashExpiringKinds = [3]model.EndUserKind{model.KindVilla, model.KindCommunity, model.KindOffice}

func dashExpiringIndex(k model.EndUserKind) int {
	for i, x := range dashExpiringKinds {
		if x == k {
			return i
		}
	}
	return 1
}

type dashDevKey struct {
	installer             int64
	kind, model, firmware string
	online                bool
}

type dashTree struct{ sub, dist int64 }

type dashOrderKey struct {
	month     string
	installer int64
	currency  string
}

// RecomputeDashboard recomputes the summaries from the devices, upgrades,
// end users and orders, as of the store's clock. The counts are read
// outside any transaction (they take a second at a million devices, and
// must not hold SQLite's write lock); the summaries are replaced in one
// short transaction. (System side.)
func (s *Store) RecomputeDashboard(ctx context.Context) error {
	now := s.now().UTC()
	tree := map[int64]dashTree{}
	rows, err := s.query(ctx, `SELECT id, COALESCE(subdistributor_id, 0), COALESCE(distributor_id, 0) FROM accounts WHERE role = 'installer'`)
	if err != nil {
		return err
	}
	for rows.Next() {
		var id int64
		var t dashTree
		if err := rows.Scan(&id, &t.sub, &t.dist); err != nil {
			rows.Close()
			return err
		}
		tree[id] = t
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}

	devs := map[dashDevKey]int64{}
	rows, err = s.query(ctx, `SELECT installer_id, project_kind, model, firmware, online, count(*) FROM devices
		GROUP BY installer_id, project_kind, model, firmware, online`)
	if err != nil {
		return err
	}
	for rows.Next() {
		var k dashDevKey
		var n int64
		if err := rows.Scan(&k.installer, &k.kind, &k.model, &k.firmware, &k.online, &n); err != nil {
			rows.Close()
			return err
		}
		devs[k] = n
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}

	// Expiring: per end-user list (villa, community, office), as the
	// lists' expiring filter counts them (ListEndUsers, ExpiringDays 30).
	type inst struct {
		upgrading int64
		expiring  [3]int64
	}
	insts := map[int64]*inst{}
	get := func(id int64) *inst {
		if insts[id] == nil {
			insts[id] = &inst{}
		}
		return insts[id]
	}
	if err := s.groupCount(ctx, `SELECT d.installer_id, count(*) FROM firmware_upgrades u JOIN devices d ON d.id = u.device_id
		WHERE u.state IN `+dashboardOpenUpgrade+` GROUP BY d.installer_id`, nil, func(id, n int64) { get(id).upgrading = n }); err != nil {
		return err
	}
	rows, err = s.query(ctx, `SELECT installer_id, project_kind, count(*) FROM end_users WHERE app_expires_at >= ? AND app_expires_at < ?
		GROUP BY installer_id, project_kind`, now, now.AddDate(0, 0, model.DashboardExpiringDays))
	if err != nil {
		return err
	}
	for rows.Next() {
		var id, n int64
		var kind string
		if err := rows.Scan(&id, &kind, &n); err != nil {
			rows.Close()
			return err
		}
		get(id).expiring[dashExpiringIndex(endUserKindOf(model.ProjectKind(kind)))] += n
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}

	// Orders of the last DashboardMonths months (this one included), by
	// month: one scan with the month found by a CASE on its bounds.
	months := dashboardMonths(now)
	var cases strings.Builder
	var args []any
	cases.WriteString("CASE")
	for i := len(months) - 1; i >= 0; i-- {
		cases.WriteString(" WHEN created_at >= ? THEN " + itoa(i))
		args = append(args, months[i].start)
	}
	cases.WriteString(" ELSE -1 END")
	args = append(args, months[0].start)
	orders := map[dashOrderKey][2]int64{}
	rows, err = s.query(ctx, `SELECT m, installer_id, currency, count(*), COALESCE(sum(paid), 0) FROM (
		SELECT `+cases.String()+` AS m, installer_id, currency, CASE WHEN status = 'completed' THEN total ELSE 0 END AS paid
		FROM orders WHERE hidden = false AND created_at >= ?) o GROUP BY m, installer_id, currency`, args...)
	if err != nil {
		return err
	}
	for rows.Next() {
		var m int
		var k dashOrderKey
		var v [2]int64
		if err := rows.Scan(&m, &k.installer, &k.currency, &v[0], &v[1]); err != nil {
			rows.Close()
			return err
		}
		if m < 0 || m >= len(months) {
			continue
		}
		k.month = months[m].name
		orders[k] = v
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}

	// Devices per installer, kind and status; shares per scope (0: the
	// platform, then each installer's distributor, sub-distributor and
	// itself).
	type devKey struct {
		installer int64
		kind      string
		online    bool
	}
	counts := map[devKey]int64{}
	type shareKey struct {
		scope int64
		dim   string
	}
	shares := map[shareKey]map[string]*model.DashboardShare{}
	share := func(scope int64, dim, name string, kind model.ProjectKind, n int64) {
		k := shareKey{scope, dim}
		if shares[k] == nil {
			shares[k] = map[string]*model.DashboardShare{}
		}
		addShare(shares[k], name, kind, n)
	}
	for k, n := range devs {
		counts[devKey{k.installer, k.kind, k.online}] += n
		t := tree[k.installer]
		for i, scope := range []int64{0, t.dist, t.sub, k.installer} {
			if i > 0 && scope == 0 {
				continue // no such ancestor: the platform counted it
			}
			share(scope, "model", k.model, model.ProjectKind(k.kind), n)
			share(scope, "firmware", k.firmware, model.ProjectKind(k.kind), n)
		}
	}
	day := now.Format("2006-01-02")
	perDay := map[int64][2]int64{}
	for k, n := range devs {
		v := perDay[k.installer]
		if k.online {
			v[0] += n
		} else {
			v[1] += n
		}
		perDay[k.installer] = v
	}
	return s.inTx(ctx, func(tx *Tx) error {
		for _, t := range []string{"dashboard_devices", "dashboard_installers", "dashboard_orders", "dashboard_shares"} {
			if _, err := tx.exec(ctx, `DELETE FROM `+t); err != nil {
				return err
			}
		}
		ins := newBatchInsert(tx, `INSERT INTO dashboard_devices (installer_id, subdistributor_id, distributor_id, project_kind, online, devices) VALUES `, 6)
		for k, n := range counts {
			t := tree[k.installer]
			if err := ins.add(ctx, k.installer, t.sub, t.dist, k.kind, k.online, n); err != nil {
				return err
			}
		}
		if err := ins.flush(ctx); err != nil {
			return err
		}
		ins = newBatchInsert(tx, `INSERT INTO dashboard_shares (account_id, dim, rank, name, others, community, office, personal) VALUES `, 8)
		for k, m := range shares {
			for rank, x := range topShares(m) {
				if err := ins.add(ctx, k.scope, k.dim, rank, x.Name, x.Others, x.Community, x.Office, x.Personal); err != nil {
					return err
				}
			}
		}
		if err := ins.flush(ctx); err != nil {
			return err
		}
		ins = newBatchInsert(tx, `INSERT INTO dashboard_installers (installer_id, subdistributor_id, distributor_id, upgrading,
			expiring_villa, expiring_community, expiring_office) VALUES `, 7)
		for id, v := range insts {
			t := tree[id]
			if err := ins.add(ctx, id, t.sub, t.dist, v.upgrading, v.expiring[0], v.expiring[1], v.expiring[2]); err != nil {
				return err
			}
		}
		if err := ins.flush(ctx); err != nil {
			return err
		}
		ins = newBatchInsert(tx, `INSERT INTO dashboard_orders (month, installer_id, subdistributor_id, distributor_id, currency, orders, amount) VALUES `, 7)
		for k, v := range orders {
			t := tree[k.installer]
			if err := ins.add(ctx, k.month, k.installer, t.sub, t.dist, k.currency, v[0], v[1]); err != nil {
				return err
			}
		}
		if err := ins.flush(ctx); err != nil {
			return err
		}
		// Today's snapshot replaces the day's earlier one; the snapshots
		// past the retention go.
		if _, err := tx.exec(ctx, `DELETE FROM dashboard_days WHERE day = ? OR day < ?`, day,
			now.AddDate(0, 0, -dashboardKeepDays).Format("2006-01-02")); err != nil {
			return err
		}
		ins = newBatchInsert(tx, `INSERT INTO dashboard_days (day, installer_id, subdistributor_id, distributor_id, online, offline) VALUES `, 6)
		for id, v := range perDay {
			t := tree[id]
			if err := ins.add(ctx, day, id, t.sub, t.dist, v[0], v[1]); err != nil {
				return err
			}
		}
		if err := ins.flush(ctx); err != nil {
			return err
		}
		_, err := tx.exec(ctx, `INSERT INTO dashboard_state (name, computed_at) VALUES (?, ?)
			ON CONFLICT (name) DO UPDATE SET computed_at = excluded.computed_at`, dashboardLeaseName, now)
		return err
	})
}

// groupCount runs a query answering (id, count) rows.
func (s *Store) groupCount(ctx context.Context, query string, args []any, fn func(id, n int64)) error {
	rows, err := s.query(ctx, query, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var id, n int64
		if err := rows.Scan(&id, &n); err != nil {
			return err
		}
		fn(id, n)
	}
	return rows.Err()
}

// batchInsert writes rows of one INSERT … VALUES a hundred at a time.
type batchInsert struct {
	tx     *Tx
	prefix string
	width  int
	args   []any
}

func newBatchInsert(tx *Tx, prefix string, width int) *batchInsert {
	return &batchInsert{tx: tx, prefix: prefix, width: width}
}

func (b *batchInsert) add(ctx context.Context, vals ...any) error {
	b.args = append(b.args, vals...)
	if len(b.args) >= 100*b.width {
		return b.flush(ctx)
	}
	return nil
}

func (b *batchInsert) flush(ctx context.Context) error {
	if len(b.args) == 0 {
		return nil
	}
	row := "(" + strings.TrimSuffix(strings.Repeat("?,", b.width), ",") + ")"
	n := len(b.args) / b.width
	q := b.prefix + strings.TrimSuffix(strings.Repeat(row+",", n), ",")
	_, err := b.tx.exec(ctx, q, b.args...)
	b.args = b.args[:0]
	return err
}

type dashMonth struct {
	name  string
	start time.Time
}

// dashboardMonths are the last DashboardMonths months (UTC), oldest first,
// the month of now last.
func dashboardMonths(now time.Time) []dashMonth {
	first := time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, time.UTC)
	out := make([]dashMonth, model.DashboardMonths)
	for i := range out {
		t := first.AddDate(0, i-model.DashboardMonths+1, 0)
		out[i] = dashMonth{t.Format("2006-01"), t}
	}
	return out
}

// Dashboard returns the figures of the actor's subtree: the summaries as
// last recomputed (AsOf), the rollouts running and the failed commands
// and AutoP of the last day (live). Orders are filled only for a role that
// sees payments (a distributor; a sub-distributor or installer with the
// payment feature), as the Payments module is.
func (s *Store) Dashboard(ctx context.Context) (model.Dashboard, error) {
	act, err := actor(ctx)
	if err != nil {
		return model.Dashboard{}, err
	}
	var d model.Dashboard
	now := s.now().UTC()
	var asOf sql.NullTime
	err = s.queryRow(ctx, `SELECT computed_at FROM dashboard_state WHERE name = ?`, dashboardLeaseName).Scan(&asOf)
	if err != nil && !isNoRows(err) {
		return d, err
	}
	if asOf.Valid {
		t := asOf.Time.UTC()
		d.AsOf = &t
	}
	cond, args := dashboardScope(act)

	// Devices now.
	rows, err := s.query(ctx, `SELECT project_kind, online, sum(devices) FROM dashboard_devices WHERE `+cond+`
		GROUP BY project_kind, online`, args...)
	if err != nil {
		return d, err
	}
	kinds := map[model.ProjectKind]*model.DashboardKindCount{}
	for _, k := range []model.ProjectKind{model.ProjectCommunity, model.ProjectOffice, model.ProjectPersonal} {
		kinds[k] = &model.DashboardKindCount{Kind: k}
	}
	for rows.Next() {
		var kind string
		var online bool
		var n int64
		if err := rows.Scan(&kind, &online, &n); err != nil {
			rows.Close()
			return d, err
		}
		k := kinds[model.ProjectKind(kind)]
		if k == nil {
			k = &model.DashboardKindCount{Kind: model.ProjectKind(kind)}
			kinds[model.ProjectKind(kind)] = k
		}
		if online {
			k.Online += n
			d.Online += n
		} else {
			k.Offline += n
			d.Offline += n
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return d, err
	}
	for _, k := range []model.ProjectKind{model.ProjectCommunity, model.ProjectOffice, model.ProjectPersonal} {
		d.Kinds = append(d.Kinds, *kinds[k])
	}
	scope := act.AccountID
	if act.Role == model.RoleAdmin {
		scope = 0
	}
	rows, err = s.query(ctx, `SELECT dim, name, others, community, office, personal FROM dashboard_shares WHERE account_id = ?
		ORDER BY dim, rank`, scope)
	if err != nil {
		return d, err
	}
	d.Models, d.Firmware = []model.DashboardShare{}, []model.DashboardShare{}
	for rows.Next() {
		var dim string
		var x model.DashboardShare
		if err := rows.Scan(&dim, &x.Name, &x.Others, &x.Community, &x.Office, &x.Personal); err != nil {
			rows.Close()
			return d, err
		}
		x.Devices = x.Community + x.Office + x.Personal
		if dim == "model" {
			d.Models = append(d.Models, x)
		} else {
			d.Firmware = append(d.Firmware, x)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return d, err
	}

	var exp [3]int64
	if err := s.queryRow(ctx, `SELECT COALESCE(sum(upgrading), 0), COALESCE(sum(expiring_villa), 0), COALESCE(sum(expiring_community), 0),
		COALESCE(sum(expiring_office), 0) FROM dashboard_installers WHERE `+cond,
		args...).Scan(&d.Upgrading, &exp[0], &exp[1], &exp[2]); err != nil {
		return d, err
	}
	d.ExpiringLists = []model.DashboardExpiring{}
	for i, k := range dashExpiringKinds {
		d.Expiring += exp[i]
		d.ExpiringLists = append(d.ExpiringLists, model.DashboardExpiring{List: k, Users: exp[i]})
	}

	// The chart: the last DashboardDays days.
	from := now.AddDate(0, 0, -model.DashboardDays+1).Format("2006-01-02")
	rows, err = s.query(ctx, `SELECT day, sum(online), sum(offline) FROM dashboard_days WHERE `+cond+` AND day >= ?
		GROUP BY day ORDER BY day`, append(append([]any{}, args...), from)...)
	if err != nil {
		return d, err
	}
	d.Days = []model.DashboardDay{}
	for rows.Next() {
		var x model.DashboardDay
		if err := rows.Scan(&x.Day, &x.Online, &x.Offline); err != nil {
			rows.Close()
			return d, err
		}
		d.Days = append(d.Days, x)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return d, err
	}

	// Orders, where the role sees payments.
	if act.Role != model.RoleAdmin {
		switch err := s.requireGate(ctx, act); {
		case err == nil:
			d.Payments = true
		case model.ErrorCode(err) != model.EFORBIDDEN:
			return d, err
		}
	}
	if d.Payments {
		months := dashboardMonths(now)
		idx := map[string]int{}
		d.Months = make([]model.DashboardMonth, len(months))
		for i, m := range months {
			d.Months[i] = model.DashboardMonth{Month: m.name, Amounts: []model.DashboardAmount{}}
			idx[m.name] = i
		}
		rows, err = s.query(ctx, `SELECT month, currency, sum(orders), sum(amount) FROM dashboard_orders WHERE `+cond+` AND month >= ?
			GROUP BY month, currency ORDER BY month, currency`, append(append([]any{}, args...), months[0].name)...)
		if err != nil {
			return d, err
		}
		for rows.Next() {
			var month, cur string
			var n, amount int64
			if err := rows.Scan(&month, &cur, &n, &amount); err != nil {
				rows.Close()
				return d, err
			}
			i, ok := idx[month]
			if !ok {
				continue
			}
			d.Months[i].Orders += n
			if amount > 0 {
				d.Months[i].Amounts = append(d.Months[i].Amounts, model.DashboardAmount{Currency: cur, Amount: amount})
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return d, err
		}
	}

	// Live: the rollouts running, the failed commands of the last day.
	rc, rargs := rolloutScope(act)
	if err := s.queryRow(ctx, `SELECT count(*) FROM rollouts r WHERE r.status = 'running' AND `+rc, rargs...).Scan(&d.Rollouts); err != nil {
		return d, err
	}
	since := now.Add(-24 * time.Hour)
	for _, k := range []struct {
		kind string
		dst  *int64
	}{{model.FailedKindAutoP, &d.FailedAutoP}, {model.FailedKindCommand, &d.FailedCmds}} {
		from, where, fargs := s.failedCommandsWhere(act, k.kind, since)
		if err := s.queryRow(ctx, `SELECT count(*) FROM (SELECT 1 FROM `+from+` WHERE `+where+` LIMIT ?) x`,
			append(fargs, model.DashboardCountCap+1)...).Scan(k.dst); err != nil {
			return d, err
		}
		if *k.dst > model.DashboardCountCap {
			*k.dst, d.FailedCapped = model.DashboardCountCap, true
		}
	}
	return d, nil
}

// topShares sorts counts by size (then name) and keeps the DashboardTop
// largest, summing the rest as "others".
func topShares(m map[string]*model.DashboardShare) []model.DashboardShare {
	out := make([]model.DashboardShare, 0, len(m))
	for _, x := range m {
		out = append(out, *x)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Devices != out[j].Devices {
			return out[i].Devices > out[j].Devices
		}
		return out[i].Name < out[j].Name
	})
	if len(out) > model.DashboardTop {
		others := model.DashboardShare{Others: true}
		for _, x := range out[model.DashboardTop:] {
			others.Devices += x.Devices
			others.Community += x.Community
			others.Office += x.Office
			others.Personal += x.Personal
		}
		out = append(out[:model.DashboardTop], others)
	}
	return out
}

// failedCommandsWhere is the FROM and WHERE of the commands of kind
// (model.FailedKindAutoP or model.FailedKindCommand) of devices in the
// actor's subtree that failed or expired since then: a range of the failed
// commands' index, each joined to its device.
func (s *Store) failedCommandsWhere(act *model.Actor, kind string, since time.Time) (string, string, []any) {
	from := "device_commands c"
	if s.dialect == SQLite {
		from += indexedBy(idxDeviceCommandsFailed)
	}
	from += " JOIN devices d ON d.id = c.device_id"
	lvl := deviceLevelOf(act)
	where := "c.status IN ('failed','expired') AND c.finished_at >= ? AND " + lvl.cond
	if kind == model.FailedKindAutoP {
		where += " AND c.kind = 'autop'"
	} else {
		where += " AND c.kind <> 'autop'"
	}
	return from, where, append([]any{since.UTC()}, lvl.args...)
}

// ListFailedCommands lists the commands of f.Kind that failed or expired
// within the last day on devices of the actor's subtree, newest first.
func (s *Store) ListFailedCommands(ctx context.Context, f model.FailedCommandFilter) (model.List[*model.FailedCommand], error) {
	act, err := actor(ctx)
	if err != nil {
		return model.List[*model.FailedCommand]{}, err
	}
	from, where, args := s.failedCommandsWhere(act, f.Kind, s.now().Add(-24*time.Hour))
	// A mass failure is when this list is opened: its count stops past
	// the dashboard's cap (Total above it means "more than that"), and so
	// do its pages.
	out := model.List[*model.FailedCommand]{Page: f.Page.Page, PerPage: f.Page.PerPage, Items: []*model.FailedCommand{}}
	if err := s.queryRow(ctx, `SELECT count(*) FROM (SELECT 1 FROM `+from+` WHERE `+where+` LIMIT ?) capped`,
		append(slices.Clone(args), model.DashboardCountCap+1)...).Scan(&out.Total); err != nil {
		return out, err
	}
	if f.Page.Offset() >= model.DashboardCountCap {
		return out, nil
	}
	rows, err := s.query(ctx, `SELECT c.id, c.kind, c.status, c.error, c.finished_at, c.created_at, d.mac, d.name, d.project_kind FROM `+from+
		` WHERE `+where+` ORDER BY c.finished_at DESC, c.id DESC LIMIT ? OFFSET ?`, append(args, f.Page.PerPage, f.Page.Offset())...)
	if err != nil {
		return out, err
	}
	out.Items, err = scanAll(rows, func(r scanner) (*model.FailedCommand, error) {
		var c model.FailedCommand
		var kind string
		err := r.Scan(&c.ID, &c.Kind, &c.Status, &c.Error, &c.Finished, &c.Created, &c.MAC, &c.Device, &kind)
		c.Scope = model.ProjectKind(kind)
		return &c, err
	})
	return out, err
}

// addShare counts n devices of kind under name.
func addShare(m map[string]*model.DashboardShare, name string, kind model.ProjectKind, n int64) {
	x := m[name]
	if x == nil {
		x = &model.DashboardShare{Name: name}
		m[name] = x
	}
	x.Devices += n
	switch kind {
	case model.ProjectCommunity:
		x.Community += n
	case model.ProjectOffice:
		x.Office += n
	case model.ProjectPersonal:
		x.Personal += n
	}
}
