package store_test

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/model"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

func init() {
	coveredElsewhere["Dashboard"] = "sums the actor's subtree, checked per role (TestDashboardFiguresPerSubtree)"
	coveredElsewhere["ListFailedCommands"] = "the actor's subtree, checked per role (TestDashboardFiguresPerSubtree)"
	coveredElsewhere["RecomputeDashboard"] = "system side: the dashboard recompute (TestDashboardFiguresPerSubtree)"
	coveredElsewhere["LeaseDashboard"] = "system side: the dashboard recompute (TestDashboardLease)"
	coveredElsewhere["FreeDashboardLease"] = "system side: the dashboard recompute (TestDashboardLease)"
}

// dashFixture fills a tree with devices, failures, expiring users, orders
// and an upgrade whose figures are known per branch.
type dashFixture struct {
	tr *tree
	// The failed commands of the last day, by branch: reboot/reset, AutoP.
	failedCmd, failedAutoP map[*branch][]int64
}

func mustDashFixture(t *testing.T, st *store.Store) *dashFixture {
	t.Helper()
	tr := mustTree(t, st)
	fx := &dashFixture{tr: tr, failedCmd: map[*branch][]int64{}, failedAutoP: map[*branch][]int64{}}
	now := st.Now()
	// a1 (subA1): its branch device (community, offline, model TM1 in an
	// upgrade), 3 community R29C 1.0 online, 2 of them then offline; an
	// office fleet of 4 X916 2.0 online.
	branchRollout(st, tr.a1)
	sqlExec(t, st, `UPDATE firmware_upgrades SET state = 'downloading' WHERE device_id = ?`, tr.a1.device.ID)
	f1 := mustFleet(t, st, tr.a1.installer, "", 3, "R29C", "1.0")
	sqlExec(t, st, `UPDATE devices SET online = false WHERE id IN (?, ?)`, f1.ids[0], f1.ids[1])
	f2 := mustFleet(t, st, tr.a1.installer, "", 4, "X916", "2.0")
	sqlExec(t, st, `UPDATE devices SET project_id = ? WHERE project_id = ?`, tr.a1.office.ID, f2.project.ID)
	// a2 (subA2): 5 community R29C 1.1 online.
	mustFleet(t, st, tr.a2.installer, "", 5, "R29C", "1.1")
	// b (subB): 2 online.
	mustFleet(t, st, tr.b.installer, "", 2, "E12", "3.0")

	cmd := func(b *branch, device int64, kind, status string, finished time.Time) int64 {
		sqlExec(t, st, `INSERT INTO device_commands (device_id, kind, status, created_at, finished_at, expires_at, error)
			VALUES (?, ?, ?, ?, ?, ?, 'no answer')`, device, kind, status, finished.Add(-time.Minute), finished, finished.Add(time.Hour))
		var id int64
		if err := st.DB().QueryRow(`SELECT max(id) FROM device_commands`).Scan(&id); err != nil {
			t.Fatal(err)
		}
		return id
	}
	fx.failedCmd[tr.a1] = []int64{cmd(tr.a1, f1.ids[0], "reboot", "failed", now.Add(-time.Hour)),
		cmd(tr.a1, f1.ids[1], "reset", "expired", now.Add(-2*time.Hour))}
	fx.failedAutoP[tr.a1] = []int64{cmd(tr.a1, f1.ids[2], "autop", "failed", now.Add(-3*time.Hour))}
	cmd(tr.a1, f1.ids[0], "reboot", "failed", now.Add(-25*time.Hour)) // more than a day ago
	cmd(tr.a1, f1.ids[0], "reboot", "done", now.Add(-time.Hour))      // not failed
	fx.failedAutoP[tr.b] = []int64{cmd(tr.b, tr.b.device.ID, "autop", "failed", now.Add(-time.Hour))}

	// End users: a1's expires in 10 days, a2's in 40, b's in 1.
	for b, days := range map[*branch]int{tr.a1: 10, tr.a2: 40, tr.b: 1} {
		sqlExec(t, st, `UPDATE end_users SET app_expires_at = ? WHERE id = ?`, now.AddDate(0, 0, days), b.user.ID)
	}
	// Orders: a1 this month a completed USD 1000 and a failed EUR 500, a
	// completed USD 200 two months ago, a hidden one; a2 a completed EUR 300
	// this month; b a completed USD 700 this month.
	order := func(b *branch, status string, total int64, cur string, at time.Time, hidden bool) {
		n := nextSeq()
		sqlExec(t, st, `INSERT INTO orders (number, type, installer_id, subdistributor_id, distributor_id, project_type, status,
			counts, total, currency, hidden, created_at, processing_since, updated_at) VALUES (?, 'activation', ?, ?, ?, 'community', ?, 1, ?, ?, ?, ?, ?, ?)`,
			fmt.Sprintf("DASH%08d", n), b.installer.ID, b.installer.SubdistributorID, b.installer.DistributorID, status, total, cur, hidden, at, at, at)
	}
	thisMonth := time.Date(now.Year(), now.Month(), 1, 12, 0, 0, 0, time.UTC)
	order(tr.a1, "completed", 1000, "USD", thisMonth, false)
	order(tr.a1, "failed", 500, "EUR", thisMonth, false)
	order(tr.a1, "completed", 200, "USD", thisMonth.AddDate(0, -2, 0), false)
	order(tr.a1, "completed", 9999, "USD", thisMonth, true)
	order(tr.a2, "completed", 300, "EUR", thisMonth, false)
	order(tr.b, "completed", 700, "USD", thisMonth, false)
	return fx
}

func TestDashboardFiguresPerSubtree(t *testing.T) {
	eachBackend(t, func(t *testing.T, st *store.Store) {
		fx := mustDashFixture(t, st)
		tr := fx.tr
		// Before the first recompute: no figures, no "as of".
		d, err := st.Dashboard(as(tr.subA1))
		if err != nil || d.AsOf != nil || d.Online+d.Offline != 0 {
			t.Fatalf("before recompute: %+v, %v", d, err)
		}
		if err := st.RecomputeDashboard(sys); err != nil {
			t.Fatal(err)
		}
		type want struct {
			online, offline, upgrading, expiring, rollouts, failedCmds, failedAutoP int64
			kinds                                                                   map[model.ProjectKind][2]int64
		}
		// a1: branch device offline + 1 online R29C + 2 offline R29C + 4
		// online office; a2: branch device offline + 5 online; b: branch
		// device offline + 2 online.
		wa1 := want{online: 5, offline: 3, upgrading: 1, expiring: 1, rollouts: 1, failedCmds: 2, failedAutoP: 1,
			kinds: map[model.ProjectKind][2]int64{model.ProjectCommunity: {1, 3}, model.ProjectOffice: {4, 0}}}
		wa2 := want{online: 5, offline: 1, kinds: map[model.ProjectKind][2]int64{model.ProjectCommunity: {5, 1}}}
		wb := want{online: 2, offline: 1, expiring: 1, failedAutoP: 1, kinds: map[model.ProjectKind][2]int64{model.ProjectCommunity: {2, 1}}}
		sum := func(ws ...want) want {
			out := want{kinds: map[model.ProjectKind][2]int64{}}
			for _, w := range ws {
				out.online += w.online
				out.offline += w.offline
				out.upgrading += w.upgrading
				out.expiring += w.expiring
				out.rollouts += w.rollouts
				out.failedCmds += w.failedCmds
				out.failedAutoP += w.failedAutoP
				for k, v := range w.kinds {
					out.kinds[k] = [2]int64{out.kinds[k][0] + v[0], out.kinds[k][1] + v[1]}
				}
			}
			return out
		}
		for _, c := range []struct {
			who  *model.Account
			want want
		}{
			{tr.a1.installer, wa1}, {tr.subA1, wa1}, {tr.subA2, wa2}, {tr.subB, wb},
			{tr.distA, sum(wa1, wa2)}, {tr.distB, wb}, {tr.admin, sum(wa1, wa2, wb)},
		} {
			d, err := st.Dashboard(as(c.who))
			if err != nil {
				t.Fatalf("%s: %v", c.who.Username, err)
			}
			if d.AsOf == nil {
				t.Errorf("%s: no as-of time after a recompute", c.who.Username)
			}
			got := want{online: d.Online, offline: d.Offline, upgrading: d.Upgrading, expiring: d.Expiring, rollouts: d.Rollouts,
				failedCmds: d.FailedCmds, failedAutoP: d.FailedAutoP, kinds: map[model.ProjectKind][2]int64{}}
			for _, k := range d.Kinds {
				if k.Online+k.Offline > 0 {
					got.kinds[k.Kind] = [2]int64{k.Online, k.Offline}
				}
			}
			if fmt.Sprint(got) != fmt.Sprint(c.want) {
				t.Errorf("%s: got %+v, want %+v", c.who.Username, got, c.want)
			}
			if len(d.Days) != 1 || d.Days[0].Online != c.want.online || d.Days[0].Offline != c.want.offline {
				t.Errorf("%s: days %+v", c.who.Username, d.Days)
			}
		}

		// Models and firmware of subA1: R29C 3, X916 4, TM1 1.
		d, _ = st.Dashboard(as(tr.subA1))
		if got := fmt.Sprint(d.Models); got != "[{X916 4 false 0 4 0} {R29C 3 false 3 0 0} {TM1 1 false 1 0 0}]" {
			t.Errorf("subA1 models: %s", got)
		}
		if got := fmt.Sprint(d.Firmware); got != "[{2.0 4 false 0 4 0} {1.0 3 false 3 0 0} { 1 false 1 0 0}]" {
			t.Errorf("subA1 firmware: %s", got)
		}

		// Orders: a distributor sees payments; distA's month holds a1's two
		// shown orders and a2's one, the completed amounts per currency.
		d, _ = st.Dashboard(as(tr.distA))
		if !d.Payments || len(d.Months) != model.DashboardMonths {
			t.Fatalf("distA months: %+v", d.Months)
		}
		last, before := d.Months[len(d.Months)-1], d.Months[len(d.Months)-3]
		if last.Orders != 3 || fmt.Sprint(last.Amounts) != "[{EUR 300} {USD 1000}]" || before.Orders != 1 || fmt.Sprint(before.Amounts) != "[{USD 200}]" {
			t.Errorf("distA: this month %+v, two months ago %+v", last, before)
		}
		// The admin has no Payments module; a sub-distributor without the
		// payment feature neither; with it, it sees its own orders only.
		if d, _ := st.Dashboard(as(tr.admin)); d.Payments || d.Months != nil {
			t.Errorf("admin sees payments: %+v", d.Months)
		}
		if d, _ := st.Dashboard(as(tr.subA1)); d.Payments {
			t.Errorf("subA1 without the payment feature sees payments")
		}
		if err := st.SetSubdistributorSwitches(sys, tr.subA1.ID, new(true), new(false)); err != nil {
			t.Fatal(err)
		}
		d, _ = st.Dashboard(as(tr.subA1))
		if !d.Payments || d.Months[len(d.Months)-1].Orders != 2 || fmt.Sprint(d.Months[len(d.Months)-1].Amounts) != "[{USD 1000}]" {
			t.Errorf("subA1 with payments: %+v", d.Months)
		}

		// The device lists' model filter (the shares' links) finds exactly
		// the model's devices of the kind in scope.
		for _, c := range []struct {
			who          *model.Account
			kind         model.ProjectKind
			model, fw    string
			want         int
			wantByShares int64
		}{
			{tr.subA1, model.ProjectCommunity, "R29C", "", 3, 3}, {tr.subA1, model.ProjectOffice, "X916", "", 4, 4},
			{tr.subA1, model.ProjectCommunity, "X916", "", 0, 0}, {tr.subA2, model.ProjectCommunity, "R29C", "", 5, 5},
			{tr.subA2, model.ProjectCommunity, "R29C", "1.1", 5, -1}, {tr.subA2, model.ProjectCommunity, "R29C", "1.0", 0, -1},
			{tr.distA, model.ProjectCommunity, "R29C", "", 8, 8}, {tr.subB, model.ProjectCommunity, "R29C", "", 0, 0},
		} {
			l, err := st.ListDevices(as(c.who), model.DeviceFilter{Scope: c.kind, Model: c.model, Firmware: c.fw, Sort: "created_at", Order: "desc",
				Page: model.Page{Page: 1, PerPage: 50}})
			if err != nil {
				t.Fatal(err)
			}
			ok := l.Total == c.want && len(l.Items) == c.want
			for _, it := range l.Items {
				ok = ok && it.Model == c.model
			}
			if !ok {
				t.Errorf("%s %s model %s firmware %q: %d devices (%d rows), want %d", c.who.Username, c.kind, c.model, c.fw, l.Total, len(l.Items), c.want)
			}
			if c.wantByShares < 0 {
				continue
			}
			d, _ := st.Dashboard(as(c.who))
			var n int64
			for _, sh := range d.Models {
				if sh.Name == c.model {
					n = map[model.ProjectKind]int64{model.ProjectCommunity: sh.Community, model.ProjectOffice: sh.Office}[c.kind]
				}
			}
			if n != c.wantByShares {
				t.Errorf("%s: the %s share of %s is %d, want %d", c.who.Username, c.kind, c.model, n, c.wantByShares)
			}
		}

		// The failed-commands list holds exactly the rows counted.
		for _, c := range []struct {
			who  *model.Account
			kind string
			want []int64
		}{
			{tr.subA1, model.FailedKindCommand, fx.failedCmd[tr.a1]},
			{tr.subA1, model.FailedKindAutoP, fx.failedAutoP[tr.a1]},
			{tr.a1.installer, model.FailedKindCommand, fx.failedCmd[tr.a1]},
			{tr.subA2, model.FailedKindCommand, nil},
			{tr.subB, model.FailedKindAutoP, fx.failedAutoP[tr.b]},
			{tr.distA, model.FailedKindAutoP, fx.failedAutoP[tr.a1]},
			{tr.admin, model.FailedKindAutoP, append(slices.Clone(fx.failedAutoP[tr.a1]), fx.failedAutoP[tr.b]...)},
		} {
			l, err := st.ListFailedCommands(as(c.who), model.FailedCommandFilter{Kind: c.kind, Page: model.Page{Page: 1, PerPage: 50}})
			if err != nil {
				t.Fatal(err)
			}
			var got []int64
			for _, it := range l.Items {
				got = append(got, it.ID)
			}
			slices.Sort(got)
			w := slices.Clone(c.want)
			slices.Sort(w)
			if fmt.Sprint(got) != fmt.Sprint(w) || l.Total != len(w) {
				t.Errorf("%s %s: got %v (total %d), want %v", c.who.Username, c.kind, got, l.Total, w)
			}
		}

		// A device going offline shows at the next recompute, and the day's
		// snapshot is replaced, not added to; the next day adds one.
		sqlExec(t, st, `UPDATE devices SET online = false WHERE installer_id = ?`, tr.a2.installer.ID)
		if err := st.RecomputeDashboard(sys); err != nil {
			t.Fatal(err)
		}
		d, _ = st.Dashboard(as(tr.subA2))
		if d.Online != 0 || d.Offline != 6 || len(d.Days) != 1 || d.Days[0].Offline != 6 {
			t.Errorf("after a2 went offline: %d online, %d offline, days %+v", d.Online, d.Offline, d.Days)
		}
		now := st.Now()
		st.SetClock(func() time.Time { return now.Add(24 * time.Hour) })
		if err := st.RecomputeDashboard(sys); err != nil {
			t.Fatal(err)
		}
		if d, _ = st.Dashboard(as(tr.subA2)); len(d.Days) != 2 {
			t.Errorf("a day later: days %+v", d.Days)
		}
		// 40 days later the old snapshots are gone (kept 35 days).
		st.SetClock(func() time.Time { return now.Add(40 * 24 * time.Hour) })
		if err := st.RecomputeDashboard(sys); err != nil {
			t.Fatal(err)
		}
		var n int
		if err := st.DB().QueryRow(`SELECT count(DISTINCT day) FROM dashboard_days`).Scan(&n); err != nil || n != 1 {
			t.Errorf("40 days later: %d days kept (%v), want 1", n, err)
		}
	})
}

func TestDashboardLease(t *testing.T) {
	eachBackend(t, func(t *testing.T, st *store.Store) {
		ok, err := st.LeaseDashboard(sys, "node-a", time.Minute)
		if err != nil || !ok {
			t.Fatalf("node-a: %v %v", ok, err)
		}
		if ok, _ := st.LeaseDashboard(sys, "node-b", time.Minute); ok {
			t.Fatal("node-b took a held lease")
		}
		if ok, _ := st.LeaseDashboard(sys, "node-a", time.Minute); !ok {
			t.Fatal("node-a could not renew its lease")
		}
		if err := st.FreeDashboardLease(sys, "node-a"); err != nil {
			t.Fatal(err)
		}
		if ok, _ := st.LeaseDashboard(sys, "node-b", time.Minute); !ok {
			t.Fatal("node-b could not take a freed lease")
		}
		// An expired lease goes to another node.
		now := st.Now()
		st.SetClock(func() time.Time { return now.Add(2 * time.Minute) })
		if ok, _ := st.LeaseDashboard(sys, "node-c", time.Minute); !ok {
			t.Fatal("node-c could not take an expired lease")
		}
	})
}

// A mass failure: the failed-commands list the dashboard links to counts
// at most DashboardCountCap+1 (Total above the cap means "more than that")
// and serves no page past the cap, while its first page is the newest.
func TestFailedCommandsListCapped(t *testing.T) {
	eachBackend(t, func(t *testing.T, st *store.Store) {
		tr := mustTree(t, st)
		now := time.Now().UTC().Truncate(time.Second)
		n := model.DashboardCountCap + 50
		sqlExec(t, st, `WITH RECURSIVE seq(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM seq WHERE i < ?)
			INSERT INTO device_commands (device_id, kind, status, created_at, finished_at, expires_at, error)
			SELECT (SELECT id FROM devices WHERE mac = ?), 'reboot', 'failed', ?, ?, ?, 'relay busy' FROM seq`,
			n, tr.a1.device.MAC, now.Add(-time.Hour), now.Add(-time.Minute), now.Add(time.Hour))
		l, err := st.ListFailedCommands(as(tr.subA1), model.FailedCommandFilter{Kind: model.FailedKindCommand, Page: model.Page{Page: 1, PerPage: 50}})
		if err != nil {
			t.Fatal(err)
		}
		if l.Total != model.DashboardCountCap+1 || len(l.Items) != 50 {
			t.Errorf("%d failed: total %d, %d on the first page", n, l.Total, len(l.Items))
		}
		l, err = st.ListFailedCommands(as(tr.subA1), model.FailedCommandFilter{Kind: model.FailedKindCommand,
			Page: model.Page{Page: model.DashboardCountCap/50 + 1, PerPage: 50}})
		if err != nil || len(l.Items) != 0 {
			t.Errorf("a page past the cap: %d items, %v", len(l.Items), err)
		}
	})
}
