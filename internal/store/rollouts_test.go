package store_test

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/model"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

func init() {
	tenancyCases = append(tenancyCases,
		tenancyCase{method: "GetRollout", call: func(st *store.Store, ctx context.Context, b *branch) error {
			_, err := st.GetRollout(ctx, branchRollout(st, b))
			return err
		}},
		tenancyCase{method: "RolloutProgress", call: func(st *store.Store, ctx context.Context, b *branch) error {
			_, err := st.RolloutProgress(ctx, branchRollout(st, b))
			return err
		}},
		tenancyCase{method: "ListRolloutDevices", call: func(st *store.Store, ctx context.Context, b *branch) error {
			l, err := st.ListRolloutDevices(ctx, branchRollout(st, b), model.RolloutDeviceFilter{})
			if err == nil && (l.Total != 1 || l.Items[0].MAC != b.device.MAC) {
				return fmt.Errorf("devices of the branch's rollout: %+v", l)
			}
			return err
		}},
		tenancyCase{method: "SetRolloutStatus", call: func(st *store.Store, ctx context.Context, b *branch) error {
			// Starting a running rollout: found, then refused by its
			// status (409) — or not found at all (404) for a stranger.
			_, err := st.SetRolloutStatus(ctx, branchRollout(st, b), model.RolloutStart)
			if model.ErrorCode(err) == model.ECONFLICT {
				return nil
			}
			if err == nil {
				return fmt.Errorf("a running rollout was started")
			}
			return err
		}},
		tenancyCase{method: "CountRolloutTargets", call: func(st *store.Store, ctx context.Context, b *branch) error {
			branchRollout(st, b)
			n, err := st.CountRolloutTargets(ctx, model.RolloutInput{FirmwareID: tenancyFirmware(st),
				Targets: model.RolloutTargets{InstallerID: b.installer.ID}})
			if err == nil && n.InOtherRollout != 1 {
				return fmt.Errorf("count of the branch's installer: %+v", n)
			}
			return err
		}},
		tenancyCase{method: "DeviceUpgrades", call: func(st *store.Store, ctx context.Context, b *branch) error {
			branchRollout(st, b)
			h, err := st.DeviceUpgrades(ctx, b.device.MAC, 10)
			if err == nil && len(h) != 1 {
				return fmt.Errorf("history: %+v", h)
			}
			return err
		}},
	)
	coveredElsewhere["CreateRollout"] = "TestRolloutCreateTenancy"
	coveredElsewhere["ListRollouts"] = "TestRolloutCreateTenancy"
	coveredElsewhere["ExpireUpgrades"] = "system side: the scheduler (TestRolloutDeadline)"
	coveredElsewhere["LeaseRollouts"] = "system side: the scheduler (TestRolloutLeases)"
	coveredElsewhere["FreeRolloutLeases"] = "system side: the scheduler (TestRolloutLeases)"
	coveredElsewhere["StepRollout"] = "system side: the scheduler (TestRolloutThresholdPausesBeforeNextWave …)"
}

// tenancy fixtures: one firmware per store, one running rollout per branch
// (made by the branch's installer for its one device).
var (
	tenancyFirmwares sync.Map // *store.Store → firmware id
	branchRollouts   sync.Map // *branch → rollout id
	fixtureMu        sync.Mutex
)

func tenancyFirmware(st *store.Store) int64 {
	fixtureMu.Lock()
	defer fixtureMu.Unlock()
	if id, ok := tenancyFirmwares.Load(st); ok {
		return id.(int64)
	}
	f := &model.Firmware{Version: "9.9.9", Model: "TM1", FileURL: "https://fw.example/tm1.bin", Checksum: strings.Repeat("a", 64), Size: 1 << 20}
	if err := st.CreateFirmware(sys, f); err != nil {
		panic(err)
	}
	tenancyFirmwares.Store(st, f.ID)
	return f.ID
}

func branchRollout(st *store.Store, b *branch) int64 {
	fw := tenancyFirmware(st)
	fixtureMu.Lock()
	defer fixtureMu.Unlock()
	if id, ok := branchRollouts.Load(b); ok {
		return id.(int64)
	}
	if _, err := st.DB().Exec(`UPDATE devices SET model = 'TM1' WHERE id = ` + strconv.FormatInt(b.device.ID, 10)); err != nil {
		panic(err)
	}
	r, err := st.CreateRollout(as(b.installer), model.RolloutInput{FirmwareID: fw})
	if err != nil {
		panic(err)
	}
	// Started: its device is in an open upgrade (a draft holds none).
	if _, err := st.SetRolloutStatus(as(b.installer), r.ID, model.RolloutStart); err != nil {
		panic(err)
	}
	branchRollouts.Store(b, r.ID)
	return r.ID
}

// sqlExec runs a test's own SQL with ? placeholders on either back end.
func sqlExec(t *testing.T, st *store.Store, query string, args ...any) {
	t.Helper()
	if st.Dialect() == store.Postgres {
		n := 0
		var b strings.Builder
		for _, c := range query {
			if c == '?' {
				n++
				fmt.Fprintf(&b, "$%d", n)
			} else {
				b.WriteRune(c)
			}
		}
		query = b.String()
	}
	if _, err := st.DB().Exec(query, args...); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
}

// fleet is n devices of one model in a project of an installer, all online.
type fleet struct {
	inst    *model.Account
	project *model.Project
	macs    []string
	ids     []int64
}

func mustFleet(t *testing.T, st *store.Store, inst *model.Account, tz string, n int, modelName, firmware string) *fleet {
	t.Helper()
	p := &model.Project{Kind: model.ProjectCommunity, Name: fmt.Sprintf("Fleet %d", nextSeq())}
	if err := st.CreateProject(as(inst), p); err != nil {
		t.Fatal(err)
	}
	if tz != "" {
		sqlExec(t, st, `UPDATE projects SET time_zone = ? WHERE id = ?`, tz, p.ID)
	}
	f := &fleet{inst: inst, project: p}
	rows := make([][]any, n)
	now := st.Now()
	for i := range rows {
		mac := fmt.Sprintf("0C11%08X", nextSeq())
		f.macs = append(f.macs, mac)
		rows[i] = []any{mac, inst.ID, p.ID, string(model.DoorPhone), modelName, firmware, true, now}
	}
	if err := st.BulkInsert(sys, "devices", []string{"mac", "installer_id", "project_id", "type", "model", "firmware", "online", "created_at"}, rows); err != nil {
		t.Fatal(err)
	}
	dr, err := st.DB().Query(`SELECT id FROM devices WHERE project_id = ` + strconv.FormatInt(p.ID, 10) + ` ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	defer dr.Close()
	for dr.Next() {
		var id int64
		dr.Scan(&id)
		f.ids = append(f.ids, id)
	}
	return f
}

func mustFirmware(t *testing.T, st *store.Store, modelName, version string) *model.Firmware {
	t.Helper()
	f := &model.Firmware{Version: version, Model: modelName, FileURL: "https://fw.example/" + version + ".bin", Checksum: strings.Repeat("b", 64), Size: 1 << 20}
	if err := st.CreateFirmware(sys, f); err != nil {
		t.Fatal(err)
	}
	return f
}

// upgrades reads a rollout's upgrades by wave and id (system).
func upgrades(t *testing.T, st *store.Store, id int64) []*model.DeviceUpgrade {
	t.Helper()
	l, err := st.ListRolloutDevices(sys, id, model.RolloutDeviceFilter{Page: model.Page{Page: 1, PerPage: model.MaxPerPage}})
	if err != nil {
		t.Fatal(err)
	}
	return l.Items
}

func statesOf(us []*model.DeviceUpgrade) map[model.UpgradeState]int {
	m := map[model.UpgradeState]int{}
	for _, u := range us {
		m[u.State]++
	}
	return m
}

// finish ends the released upgrades of a rollout's wave: the first failed
// ones failed, the rest done (as the gateway would on the devices' word).
func finish(t *testing.T, st *store.Store, rollout int64, wave, failed int) {
	t.Helper()
	for _, u := range upgrades(t, st, rollout) {
		if u.Wave != wave || u.State != model.UpgradeQueued {
			continue
		}
		state, msg := model.UpgradeDone, ""
		if failed > 0 {
			state, msg, failed = model.UpgradeFailed, "checksum mismatch", failed-1
		}
		sqlExec(t, st, `UPDATE firmware_upgrades SET state = ?, error = ?, finished_at = ? WHERE id = ?`, string(state), msg, st.Now(), u.ID)
	}
}

// clock is a settable store clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock(st *store.Store, t time.Time) *clock {
	c := &clock{t: t}
	st.SetClock(c.now)
	return c
}
func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

const node1, node2 = "node-1", "node-2"

func step(t *testing.T, st *store.Store, id int64, node string) *model.RolloutStep {
	t.Helper()
	if _, err := st.ExpireUpgrades(sys); err != nil {
		t.Fatal(err)
	}
	if _, err := st.LeaseRollouts(sys, node, 30*time.Second); err != nil {
		t.Fatal(err)
	}
	s, err := st.StepRollout(sys, id, node, 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func mustStatus(t *testing.T, st *store.Store, ctx context.Context, id int64, action string) *model.Rollout {
	t.Helper()
	r, err := st.SetRolloutStatus(ctx, id, action)
	if err != nil {
		t.Fatalf("%s: %v", action, err)
	}
	return r
}

// The preview counts what a rollout would take and what it leaves out; the
// draft has its waves and each device's time zone (project, else the
// installer's, else UTC).
func TestRolloutCreate(t *testing.T) {
	eachBackend(t, func(t *testing.T, st *store.Store) {
		tr := mustTree(t, st)
		fw := mustFirmware(t, st, "R29", "2.0")
		inst := tr.a1.installer
		sqlExec(t, st, `UPDATE accounts SET time_zone = 'America/New_York' WHERE id = ?`, inst.ID)
		tokyo := mustFleet(t, st, inst, "Asia/Tokyo", 6, "R29", "1.0")
		plain := mustFleet(t, st, inst, "", 3, "R29", "1.0")
		mustFleet(t, st, inst, "", 2, "R29", "2.0") // on the version already
		mustFleet(t, st, inst, "", 4, "X915", "1.0")
		other := mustFleet(t, st, tr.a2.installer, "", 5, "R29", "1.0") // another sub-distributor's

		// A first rollout takes two of the Tokyo devices (a project of them).
		busy := mustFleet(t, st, inst, "", 2, "R29", "1.0")
		first, err := st.CreateRollout(as(inst), model.RolloutInput{FirmwareID: fw.ID, Targets: model.RolloutTargets{ProjectID: busy.project.ID}})
		if err != nil || first.Total != 2 {
			t.Fatalf("first rollout: %+v, %v", first, err)
		}
		mustStatus(t, st, as(inst), first.ID, model.RolloutStart) // a draft would hold no device
		in := model.RolloutInput{FirmwareID: fw.ID, Name: "R29 2.0 night", Plan: model.RolloutPlan{CanaryCount: 1, WaveSize: 4, WindowStart: "01:00", WindowEnd: "05:00"}}
		n, err := st.CountRolloutTargets(as(tr.subA1), in)
		if err != nil {
			t.Fatal(err)
		}
		want := model.RolloutTargetCount{Matching: 9, InOtherRollout: 2, OnVersion: 2, WrongModel: 5 /* 4 X915 + the branch's device */, Waves: []int{1, 4, 4}}
		if !equalCount(n, want) {
			t.Errorf("count by sub-distributor = %+v, want %+v", n, want)
		}
		if n, _ := st.CountRolloutTargets(as(tr.distA), in); n.Matching != 14 {
			t.Errorf("distributor A counts %d, want 14 (both its installers)", n.Matching)
		}
		r, err := st.CreateRollout(as(tr.subA1), in)
		if err != nil {
			t.Fatal(err)
		}
		if r.Status != model.RolloutDraft || r.Total != 9 || r.Waves != 3 || r.Name != "R29 2.0 night" || r.Plan.WindowStart != "01:00" ||
			r.FirmwareVersion != "2.0" || r.Targets.Model != "R29" || r.Account != "sub-a1" {
			t.Errorf("rollout: %+v", r)
		}
		us := upgrades(t, st, r.ID)
		tz := map[int64]string{}
		for _, u := range us {
			tz[u.DeviceID] = u.TimeZone
			if u.State != model.UpgradeDraft || u.FromVersion != "1.0" || u.ToVersion != "2.0" {
				t.Errorf("upgrade: %+v", u)
			}
		}
		mustStatus(t, st, as(tr.subA1), r.ID, model.RolloutStart)
		if n := statesOf(upgrades(t, st, r.ID)); n[model.UpgradePending] != 9 {
			t.Errorf("started: %v, want 9 pending", n)
		}
		if tz[tokyo.ids[0]] != "Asia/Tokyo" || tz[plain.ids[0]] != "America/New_York" {
			t.Errorf("time zones: %v", tz)
		}
		if us[0].Wave != 0 || us[1].Wave != 1 || us[8].Wave != 2 {
			t.Errorf("waves: %d %d %d", us[0].Wave, us[1].Wave, us[8].Wave)
		}
		// Nothing left: the same again is refused, naming the targets.
		if _, err := st.CreateRollout(as(tr.subA1), in); model.ErrorFields(err)["targets"] == "" {
			t.Errorf("second rollout of the same devices: %v", err)
		}
		// A catalogue entry of unknown size: devices could not check it.
		unsized := &model.Firmware{Version: "2.1", Model: "R29", FileURL: "https://fw.example/2.1.bin", Checksum: strings.Repeat("c", 64)}
		if err := st.CreateFirmware(sys, unsized); err != nil {
			t.Fatal(err)
		}
		for _, call := range []func() error{
			func() error {
				_, err := st.CountRolloutTargets(as(tr.subA1), model.RolloutInput{FirmwareID: unsized.ID})
				return err
			},
			func() error {
				_, err := st.CreateRollout(as(tr.subA1), model.RolloutInput{FirmwareID: unsized.ID})
				return err
			},
		} {
			if err := call(); !strings.Contains(model.ErrorFields(call())["firmware_id"], "no known size") {
				t.Errorf("rollout of firmware of unknown size: %v", err)
			}
		}
		// Another model, a foreign project, a foreign installer.
		bad := in
		bad.Targets = model.RolloutTargets{Model: "X915"}
		if _, err := st.CreateRollout(as(tr.subA1), bad); model.ErrorFields(err)["targets.model"] == "" {
			t.Errorf("wrong model: %v", err)
		}
		bad.Targets = model.RolloutTargets{ProjectID: other.project.ID}
		if _, err := st.CountRolloutTargets(as(tr.subA1), bad); model.ErrorFields(err)["targets.project_id"] != "no such project" {
			t.Errorf("foreign project: %v", err)
		}
		bad.Targets = model.RolloutTargets{InstallerID: tr.a2.installer.ID}
		if _, err := st.CountRolloutTargets(as(tr.subA1), bad); model.ErrorFields(err)["targets.installer_id"] != "no such installer" {
			t.Errorf("foreign installer: %v", err)
		}
		// The device's history.
		h, err := st.DeviceUpgrades(as(tr.subA1), tokyo.macs[0], 10)
		if err != nil || len(h) != 1 || h[0].RolloutID != r.ID || h[0].RolloutName != "R29 2.0 night" {
			t.Errorf("history: %+v, %v", h, err)
		}
		// Searches of the device table.
		l, err := st.ListRolloutDevices(as(tr.subA1), r.ID, model.RolloutDeviceFilter{MAC: strings.ToLower(tokyo.macs[1][6:]), Page: model.Page{Page: 1, PerPage: 10}})
		if err != nil || l.Total != 1 || l.Items[0].MAC != tokyo.macs[1] {
			t.Errorf("search by MAC: %+v, %v", l, err)
		}
		w := 1
		if l, _ := st.ListRolloutDevices(as(tr.subA1), r.ID, model.RolloutDeviceFilter{Wave: &w, State: model.UpgradePending}); l.Total != 4 {
			t.Errorf("wave 1 pending: %d", l.Total)
		}
		if _, err := st.ListRolloutDevices(as(tr.subA1), r.ID, model.RolloutDeviceFilter{State: "lost"}); model.ErrorFields(err)["state"] == "" {
			t.Errorf("bad state: %v", err)
		}
		p, err := st.RolloutProgress(as(tr.subA1), r.ID)
		if err != nil || p.Total != 9 || p.ByState[model.UpgradePending] != 9 || len(p.ByWave) != 3 || !p.ByWave[0].Canary || p.ByWave[1].Total != 4 {
			t.Errorf("progress: %+v, %v", p, err)
		}
	})
}

func equalCount(a, b model.RolloutTargetCount) bool {
	return a.Matching == b.Matching && a.InOtherRollout == b.InOtherRollout && a.OnVersion == b.OnVersion &&
		a.WrongModel == b.WrongModel && slices.Equal(a.Waves, b.Waves)
}

// A rollout is seen by its creator's account and that account's ancestors.
func TestRolloutCreateTenancy(t *testing.T) {
	eachBackend(t, func(t *testing.T, st *store.Store) {
		tr := mustTree(t, st)
		fw := mustFirmware(t, st, "R29", "2.0")
		mustFleet(t, st, tr.a1.installer, "", 2, "R29", "1.0")
		mustFleet(t, st, tr.b.installer, "", 2, "R29", "1.0")
		r, err := st.CreateRollout(as(tr.subA1), model.RolloutInput{FirmwareID: fw.ID})
		if err != nil || r.Total != 2 {
			t.Fatalf("sub-distributor A1's rollout: %+v %v", r, err)
		}
		rb, err := st.CreateRollout(as(tr.b.installer), model.RolloutInput{FirmwareID: fw.ID})
		if err != nil || rb.Total != 2 {
			t.Fatalf("installer B's rollout: %+v %v", rb, err)
		}
		for _, c := range []struct {
			who  *model.Account
			want []int64
		}{
			{tr.admin, []int64{rb.ID, r.ID}}, {tr.distA, []int64{r.ID}}, {tr.subA1, []int64{r.ID}}, {tr.subA2, nil},
			{tr.a1.installer, nil}, {tr.distB, []int64{rb.ID}}, {tr.subB, []int64{rb.ID}}, {tr.b.installer, []int64{rb.ID}},
		} {
			l, err := st.ListRollouts(as(c.who), model.RolloutFilter{})
			if err != nil {
				t.Fatal(err)
			}
			var got []int64
			for _, it := range l.Items {
				got = append(got, it.ID)
			}
			if !slices.Equal(got, c.want) || l.Total != len(c.want) {
				t.Errorf("%s lists %v, want %v", c.who.Username, got, c.want)
			}
		}
		if l, _ := st.ListRollouts(as(tr.admin), model.RolloutFilter{Status: model.RolloutDraft, FirmwareID: fw.ID, Name: "r29"}); l.Total != 2 {
			t.Errorf("filtered: %d", l.Total)
		}
		if _, err := st.ListRollouts(as(tr.admin), model.RolloutFilter{Status: "sleeping"}); model.ErrorFields(err)["status"] == "" {
			t.Errorf("bad status: %v", err)
		}
	})
}

// Status actions: the valid transitions only (409 otherwise), audited;
// cancel ends the upgrades not yet sent, and those under way finish.
func TestRolloutTransitionsAndCancel(t *testing.T) {
	eachBackend(t, func(t *testing.T, st *store.Store) {
		tr := mustTree(t, st)
		fw := mustFirmware(t, st, "R29", "2.0")
		mustFleet(t, st, tr.a1.installer, "", 4, "R29", "1.0")
		ctx := as(tr.a1.installer)
		r, err := st.CreateRollout(ctx, model.RolloutInput{FirmwareID: fw.ID, Plan: model.RolloutPlan{CanaryCount: 2}})
		if err != nil {
			t.Fatal(err)
		}
		for _, a := range []string{model.RolloutPause, model.RolloutResume} {
			if _, err := st.SetRolloutStatus(ctx, r.ID, a); model.ErrorCode(err) != model.ECONFLICT {
				t.Errorf("%s a draft: %v", a, err)
			}
		}
		if _, err := st.SetRolloutStatus(ctx, r.ID, "explode"); model.ErrorFields(err)["action"] == "" {
			t.Errorf("bad action: %v", err)
		}
		if got := mustStatus(t, st, ctx, r.ID, model.RolloutStart); got.Status != model.RolloutRunning || got.Started == nil {
			t.Errorf("started: %+v", got)
		}
		if _, err := st.SetRolloutStatus(ctx, r.ID, model.RolloutStart); model.ErrorCode(err) != model.ECONFLICT {
			t.Errorf("start twice: %v", err)
		}
		s := step(t, st, r.ID, node1)
		if len(s.Released) != 2 {
			t.Fatalf("canary released: %+v", s)
		}
		us := upgrades(t, st, r.ID)
		sqlExec(t, st, `UPDATE firmware_upgrades SET state = 'downloading' WHERE id = ?`, us[0].ID)
		if got := mustStatus(t, st, ctx, r.ID, model.RolloutPause); got.Status != model.RolloutPaused || got.PauseReason == "" {
			t.Errorf("paused: %+v", got)
		}
		if s := step(t, st, r.ID, node1); s != nil {
			t.Errorf("a paused rollout stepped: %+v", s)
		}
		mustStatus(t, st, ctx, r.ID, model.RolloutResume)
		got := mustStatus(t, st, ctx, r.ID, model.RolloutCancel)
		if got.Status != model.RolloutCanceled || got.Finished == nil {
			t.Errorf("canceled: %+v", got)
		}
		if st := statesOf(upgrades(t, st, r.ID)); st[model.UpgradeDownloading] != 1 || st[model.UpgradeCanceled] != 3 {
			t.Errorf("after cancel: %v", st)
		}
		for _, a := range []string{model.RolloutStart, model.RolloutPause, model.RolloutResume, model.RolloutCancel} {
			if _, err := st.SetRolloutStatus(ctx, r.ID, a); model.ErrorCode(err) != model.ECONFLICT {
				t.Errorf("%s a canceled rollout: %v", a, err)
			}
		}
		l, _ := st.ListAudit(ctx, model.AuditFilter{ObjectType: "rollout", Page: model.Page{Page: 1, PerPage: 50}})
		var actions []string
		for _, e := range l.Items {
			actions = append(actions, e.Action)
		}
		slices.Sort(actions)
		if !slices.Equal(actions, []string{"rollout.cancel", "rollout.create", "rollout.pause", "rollout.resume", "rollout.start"}) {
			t.Errorf("audit: %v", actions)
		}
		// The canceled devices are free for another rollout; the one
		// downloading is not.
		n, _ := st.CountRolloutTargets(ctx, model.RolloutInput{FirmwareID: fw.ID})
		if n.Matching != 3 || n.InOtherRollout != 1 {
			t.Errorf("after cancel: %+v", n)
		}
	})
}

// The demand: a wave whose failures pass the threshold pauses the
// rollout before the next wave starts; resume goes on with the next wave.
func TestRolloutThresholdPausesBeforeNextWave(t *testing.T) {
	eachBackend(t, func(t *testing.T, st *store.Store) {
		tr := mustTree(t, st)
		newClock(st, time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC))
		fw := mustFirmware(t, st, "R29", "2.0")
		mustFleet(t, st, tr.a1.installer, "", 10, "R29", "1.0")
		ctx := as(tr.subA1)
		r, err := st.CreateRollout(ctx, model.RolloutInput{FirmwareID: fw.ID,
			Plan: model.RolloutPlan{CanaryCount: 4, WaveSize: 3, FailureThreshold: 25}})
		if err != nil {
			t.Fatal(err)
		}
		mustStatus(t, st, ctx, r.ID, model.RolloutStart)
		if s := step(t, st, r.ID, node1); len(s.Released) != 4 || s.Status != model.RolloutRunning {
			t.Fatalf("canary: %+v", s)
		}
		// Canary: 1 of 4 failed = 25%, not more than 25%: wave 1 goes.
		finish(t, st, r.ID, 0, 1)
		if s := step(t, st, r.ID, node1); len(s.Released) != 3 || s.Advanced != 1 {
			t.Fatalf("wave 1: %+v", s)
		}
		// Wave 1: 1 of 3 failed = 33% > 25%: paused, wave 2 untouched.
		finish(t, st, r.ID, 1, 1)
		s := step(t, st, r.ID, node1)
		if s.Status != model.RolloutPaused || len(s.Released) != 0 || !strings.Contains(s.Reason, "Wave 1: 1 of 3 upgrades failed (33%)") {
			t.Fatalf("threshold: %+v", s)
		}
		got, _ := st.GetRollout(ctx, r.ID)
		if got.Status != model.RolloutPaused || got.PauseReason != s.Reason || got.CurrentWave != 2 {
			t.Errorf("paused rollout: %+v", got)
		}
		w := 2
		if l, _ := st.ListRolloutDevices(ctx, r.ID, model.RolloutDeviceFilter{Wave: &w, State: model.UpgradePending}); l.Total != 3 {
			t.Errorf("wave 2 pending while paused: %d, want 3", l.Total)
		}
		for range 3 {
			if s := step(t, st, r.ID, node1); s != nil {
				t.Fatalf("stepped while paused: %+v", s)
			}
		}
		// Resume: wave 2 goes, then done.
		mustStatus(t, st, ctx, r.ID, model.RolloutResume)
		if s := step(t, st, r.ID, node1); len(s.Released) != 3 {
			t.Fatalf("after resume: %+v", s)
		}
		finish(t, st, r.ID, 2, 0)
		if s := step(t, st, r.ID, node1); s.Status != model.RolloutDone {
			t.Fatalf("end: %+v", s)
		}
		got, _ = st.GetRollout(ctx, r.ID)
		if got.Status != model.RolloutDone || got.Finished == nil {
			t.Errorf("done: %+v", got)
		}
		// The creator's tree reads why it paused in its audit log.
		l, _ := st.ListAudit(as(tr.distA), model.AuditFilter{ObjectType: "rollout", Page: model.Page{Page: 1, PerPage: 50}})
		found := map[string]string{}
		for _, e := range l.Items {
			found[e.Action] = e.Actor
		}
		if found["rollout.pause"] != "system" || found["rollout.done"] != "system" || found["rollout.resume"] != "sub-a1" {
			t.Errorf("audit seen by the distributor: %v", found)
		}
	})
}

// The maintenance window is in each device's local time, across midnight,
// with devices in two time zones.
func TestRolloutWindowInLocalTime(t *testing.T) {
	eachBackend(t, func(t *testing.T, st *store.Store) {
		tr := mustTree(t, st)
		// 14:30 UTC = 23:30 in Tokyo (UTC+9), 15:30 in Berlin (UTC+1).
		clk := newClock(st, time.Date(2026, 12, 5, 14, 30, 0, 0, time.UTC))
		fw := mustFirmware(t, st, "R29", "2.0")
		tokyo := mustFleet(t, st, tr.a1.installer, "Asia/Tokyo", 2, "R29", "1.0")
		berlin := mustFleet(t, st, tr.a1.installer, "Europe/Berlin", 2, "R29", "1.0")
		ctx := as(tr.a1.installer)
		r, err := st.CreateRollout(ctx, model.RolloutInput{FirmwareID: fw.ID, Plan: model.RolloutPlan{WindowStart: "22:00", WindowEnd: "04:00"}})
		if err != nil {
			t.Fatal(err)
		}
		mustStatus(t, st, ctx, r.ID, model.RolloutStart)
		s := step(t, st, r.ID, node1)
		slices.Sort(s.Released)
		if !slices.Equal(s.Released, tokyo.macs) {
			t.Fatalf("at 23:30 Tokyo / 15:30 Berlin released %v, want Tokyo's %v", s.Released, tokyo.macs)
		}
		finish(t, st, r.ID, 0, 0)
		// 20:00 UTC = 05:00 Tokyo (closed), 21:00 Berlin (not yet).
		clk.add(5*time.Hour + 30*time.Minute)
		if s := step(t, st, r.ID, node1); len(s.Released) != 0 || s.Status != model.RolloutRunning {
			t.Fatalf("at 21:00 Berlin: %+v", s)
		}
		// 02:30 UTC next day = 03:30 Berlin: inside, after midnight.
		clk.add(6*time.Hour + 30*time.Minute)
		s = step(t, st, r.ID, node1)
		slices.Sort(s.Released)
		if !slices.Equal(s.Released, berlin.macs) {
			t.Fatalf("at 03:30 Berlin released %v, want %v", s.Released, berlin.macs)
		}
		// The device timeout (an hour) would pass the window's end (04:00
		// Berlin, 03:00 UTC): the window's end is the deadline.
		windowEnd := time.Date(2026, 12, 6, 3, 0, 0, 0, time.UTC)
		us := upgrades(t, st, r.ID)
		for _, u := range us {
			if u.State != model.UpgradeDone && (u.Deadline == nil || !u.Deadline.Equal(windowEnd)) {
				t.Errorf("deadline: %+v, want the window's end %v", u, windowEnd)
			}
		}
		clk.add(30 * time.Minute)
		if n, err := st.ExpireUpgrades(sys); err != nil || n != 2 {
			t.Errorf("expired at the window's end: %d %v", n, err)
		}
		for _, u := range upgrades(t, st, r.ID) {
			if u.State != model.UpgradeDone && (u.State != model.UpgradeFailed || u.Error != "not done within the maintenance window") {
				t.Errorf("past the window: %s %q", u.State, u.Error)
			}
		}
	})
}

// A device offline in its wave stays pending; the wave ends after one
// device timeout without it, and the device is released when it comes back
// (within its window) while the rollout runs.
func TestRolloutOfflineDeviceReleasedWhenBack(t *testing.T) {
	eachBackend(t, func(t *testing.T, st *store.Store) {
		tr := mustTree(t, st)
		clk := newClock(st, time.Date(2026, 12, 5, 1, 0, 0, 0, time.UTC))
		fw := mustFirmware(t, st, "R29", "2.0")
		f := mustFleet(t, st, tr.a1.installer, "UTC", 4, "R29", "1.0")
		sqlExec(t, st, `UPDATE devices SET online = false WHERE id = ?`, f.ids[1])
		ctx := as(tr.a1.installer)
		r, err := st.CreateRollout(ctx, model.RolloutInput{FirmwareID: fw.ID,
			Plan: model.RolloutPlan{CanaryCount: 2, WaveSize: 2, WindowStart: "01:00", WindowEnd: "05:00", DeviceTimeout: 600}})
		if err != nil {
			t.Fatal(err)
		}
		mustStatus(t, st, ctx, r.ID, model.RolloutStart)
		if s := step(t, st, r.ID, node1); !slices.Equal(s.Released, f.macs[:1]) {
			t.Fatalf("canary with one device offline: %+v", s)
		}
		finish(t, st, r.ID, 0, 0)
		clk.add(5 * time.Minute)
		if s := step(t, st, r.ID, node1); s.Advanced != 0 || len(s.Released) != 0 {
			t.Fatalf("the wave waits for its offline device: %+v", s)
		}
		clk.add(5 * time.Minute) // one device timeout since the wave began
		if s := step(t, st, r.ID, node1); s.Advanced != 1 || !slices.Equal(s.Released, f.macs[2:]) {
			t.Fatalf("next wave after the wait: %+v", s)
		}
		finish(t, st, r.ID, 1, 0)
		if s := step(t, st, r.ID, node1); s.Status != model.RolloutRunning || s.Advanced != 1 {
			t.Fatalf("all waves through, one device open: %+v", s)
		}
		// It comes back outside the window: not yet.
		clk.add(5 * time.Hour)
		sqlExec(t, st, `UPDATE devices SET online = true WHERE id = ?`, f.ids[1])
		if s := step(t, st, r.ID, node1); len(s.Released) != 0 {
			t.Fatalf("released outside the window: %+v", s)
		}
		clk.add(20 * time.Hour) // 02:10 the next night
		if s := step(t, st, r.ID, node1); !slices.Equal(s.Released, f.macs[1:2]) {
			t.Fatalf("back within the window: %+v", s)
		}
		finish(t, st, r.ID, 0, 0)
		if s := step(t, st, r.ID, node1); s.Status != model.RolloutDone {
			t.Fatalf("done: %+v", s)
		}
	})
}

// Released upgrades with no outcome by their deadline fail with that reason.
func TestRolloutDeadline(t *testing.T) {
	eachBackend(t, func(t *testing.T, st *store.Store) {
		tr := mustTree(t, st)
		clk := newClock(st, time.Date(2026, 12, 5, 1, 0, 0, 0, time.UTC))
		fw := mustFirmware(t, st, "R29", "2.0")
		mustFleet(t, st, tr.a1.installer, "", 2, "R29", "1.0")
		ctx := as(tr.a1.installer)
		r, _ := st.CreateRollout(ctx, model.RolloutInput{FirmwareID: fw.ID, Plan: model.RolloutPlan{DeviceTimeout: 60, FailureThreshold: 50}})
		mustStatus(t, st, ctx, r.ID, model.RolloutStart)
		step(t, st, r.ID, node1)
		us := upgrades(t, st, r.ID)
		sqlExec(t, st, `UPDATE firmware_upgrades SET state = 'done', finished_at = ? WHERE id = ?`, clk.now(), us[0].ID)
		clk.add(59 * time.Second)
		if n, _ := st.ExpireUpgrades(sys); n != 0 {
			t.Errorf("expired before the deadline: %d", n)
		}
		clk.add(time.Second)
		s := step(t, st, r.ID, node1)
		us = upgrades(t, st, r.ID)
		if us[1].State != model.UpgradeFailed || us[1].Error != "no outcome by the deadline" {
			t.Errorf("after the deadline: %+v", us[1])
		}
		// 1 of 2 failed = 50%, not more than 50%: done.
		if s.Status != model.RolloutDone {
			t.Errorf("step: %+v", s)
		}
	})
}

// Two nodes stepping the same rollouts at once never release a device
// twice; a node that stopped mid-rollout is taken over after its lease and
// nothing is repeated.
func TestRolloutLeases(t *testing.T) {
	eachBackend(t, func(t *testing.T, st *store.Store) {
		tr := mustTree(t, st)
		clk := newClock(st, time.Date(2026, 12, 5, 1, 0, 0, 0, time.UTC))
		fw := mustFirmware(t, st, "R29", "2.0")
		var ids []int64
		for i := range 4 {
			f := mustFleet(t, st, tr.a1.installer, "", 30, "R29", "1.0")
			r, err := st.CreateRollout(as(tr.a1.installer), model.RolloutInput{FirmwareID: fw.ID, Name: strconv.Itoa(i),
				Targets: model.RolloutTargets{ProjectID: f.project.ID}, Plan: model.RolloutPlan{CanaryCount: 5, WaveSize: 10}})
			if err != nil {
				t.Fatal(err)
			}
			mustStatus(t, st, as(tr.a1.installer), r.ID, model.RolloutStart)
			ids = append(ids, r.ID)
		}
		released := map[string]int{}
		var mu sync.Mutex
		run := func(node string) {
			var wg sync.WaitGroup
			for _, n := range []string{node1, node2} {
				if node != "" && n != node {
					continue
				}
				wg.Add(1)
				go func() {
					defer wg.Done()
					leased, err := st.LeaseRollouts(sys, n, 30*time.Second)
					if err != nil {
						t.Error(err)
						return
					}
					for _, id := range leased {
						s, err := st.StepRollout(sys, id, n, 30*time.Second)
						if err != nil {
							t.Error(err)
							return
						}
						if s != nil {
							mu.Lock()
							for _, m := range s.Released {
								released[m]++
							}
							mu.Unlock()
						}
					}
				}()
			}
			wg.Wait()
		}
		finishAll := func() {
			sqlExec(t, st, `UPDATE firmware_upgrades SET state = 'done', finished_at = ? WHERE state = 'queued'`, clk.now())
		}
		// Both nodes, concurrently: each rollout has one driver.
		run("")
		owners := map[string]int{}
		rows, _ := st.DB().Query(`SELECT lease_node FROM rollouts`)
		for rows.Next() {
			var n string
			rows.Scan(&n)
			owners[n]++
		}
		rows.Close()
		if owners[node1]+owners[node2] != 4 {
			t.Errorf("lease owners: %v", owners)
		}
		finishAll()
		run("")
		// node-1 takes every rollout, releases wave 2, then stops without a
		// word (no FreeRolloutLeases); node-2 takes over only once node-1's
		// leases ran out, and repeats nothing.
		finishAll()
		if err := st.FreeRolloutLeases(sys, node2); err != nil {
			t.Fatal(err)
		}
		run(node1)
		if len(released) != 4*25 {
			t.Fatalf("after wave 2: %d released", len(released))
		}
		finishAll()
		run(node2)
		if len(released) != 4*25 {
			t.Fatalf("node-2 stepped rollouts node-1 holds: %d released", len(released))
		}
		clk.add(31 * time.Second)
		for range 3 {
			run(node2)
			finishAll()
		}
		for m, n := range released {
			if n != 1 {
				t.Errorf("device %s released %d times", m, n)
			}
		}
		if len(released) != 120 {
			t.Errorf("released %d devices, want 120", len(released))
		}
		for _, id := range ids {
			r, _ := st.GetRollout(sys, id)
			if r.Status != model.RolloutDone {
				t.Errorf("rollout %d: %s", id, r.Status)
			}
		}
		var queuedTwice int
		st.DB().QueryRow(`SELECT count(*) FROM firmware_upgrades WHERE state <> 'done'`).Scan(&queuedTwice)
		if queuedTwice != 0 {
			t.Errorf("%d upgrades not done", queuedTwice)
		}
	})
}

// Making a rollout of 10,000 devices (batched inserts); the time is
// logged, not asserted.
func TestRolloutTenThousand(t *testing.T) {
	eachBackend(t, func(t *testing.T, st *store.Store) {
		tr := mustTree(t, st)
		fw := mustFirmware(t, st, "R29", "2.0")
		mustFleet(t, st, tr.a1.installer, "Europe/Berlin", 10000, "R29", "1.0")
		in := model.RolloutInput{FirmwareID: fw.ID, Plan: model.RolloutPlan{CanaryPercent: 1, WavePercent: 25}}
		start := time.Now()
		n, err := st.CountRolloutTargets(as(tr.subA1), in)
		if err != nil || n.Matching != 10000 {
			t.Fatalf("count: %+v %v", n, err)
		}
		counted := time.Since(start)
		start = time.Now()
		r, err := st.CreateRollout(as(tr.subA1), in)
		if err != nil {
			t.Fatal(err)
		}
		created := time.Since(start)
		if r.Total != 10000 || r.Waves != 5 {
			t.Errorf("rollout: %+v", r)
		}
		mustStatus(t, st, as(tr.subA1), r.ID, model.RolloutStart)
		start = time.Now()
		s := step(t, st, r.ID, node1)
		stepped := time.Since(start)
		if len(s.Released) != 100 {
			t.Errorf("canary: %d", len(s.Released))
		}
		finish(t, st, r.ID, 0, 0)
		start = time.Now()
		s = step(t, st, r.ID, node1)
		wave := time.Since(start)
		if len(s.Released) != 2500 {
			t.Errorf("wave 1: %d", len(s.Released))
		}
		t.Logf("%s, 10,000 devices: count %v, create %v, step (canary) %v, step (2,500 released) %v", st.Dialect(), counted, created, stepped, wave)
	})
}

// Two drafts of the same devices started at once: one takes them, the
// other is refused with a clear 409 and stays a draft, never a 500; no
// device is in two open upgrades.
func TestRolloutStartRace(t *testing.T) {
	eachBackend(t, func(t *testing.T, st *store.Store) {
		tr := mustTree(t, st)
		fw := mustFirmware(t, st, "R29", "2.0")
		mustFleet(t, st, tr.a1.installer, "", 300, "R29", "1.0")
		for round := range 3 {
			errs := make(chan error, 2)
			var wg sync.WaitGroup
			drafts := map[*model.Account]*model.Rollout{}
			for _, who := range []*model.Account{tr.subA1, tr.a1.installer} {
				r, err := st.CreateRollout(as(who), model.RolloutInput{FirmwareID: fw.ID})
				if err != nil || r.Total != 300 {
					t.Fatalf("round %d: draft: %+v %v", round, r, err)
				}
				drafts[who] = r
			}
			for who, r := range drafts {
				wg.Add(1)
				go func() {
					defer wg.Done()
					_, err := st.SetRolloutStatus(as(who), r.ID, model.RolloutStart)
					errs <- err
				}()
			}
			wg.Wait()
			close(errs)
			ok := 0
			for err := range errs {
				switch model.ErrorCode(err) {
				case "":
					ok++
				case model.ECONFLICT:
					t.Logf("round %d: refused: %v", round, err)
				default:
					t.Errorf("round %d: %v", round, err)
				}
			}
			if ok != 1 {
				t.Errorf("round %d: %d rollouts started, want 1", round, ok)
			}
			var left int
			st.DB().QueryRow(`SELECT count(*) FROM rollouts WHERE status = 'draft'`).Scan(&left)
			if left != 1 {
				t.Errorf("round %d: %d drafts, want the refused one", round, left)
			}
			var n int
			st.DB().QueryRow(`SELECT count(*) FROM firmware_upgrades WHERE state = 'pending'`).Scan(&n)
			if n != 300 {
				t.Errorf("round %d: %d pending upgrades, want 300", round, n)
			}
			sqlExec(t, st, `UPDATE firmware_upgrades SET state = 'canceled'`)
			sqlExec(t, st, `UPDATE rollouts SET status = 'canceled'`)
		}
	})
}

// A draft holds no device: another rollout may take them meanwhile. At the
// start the draft skips those (in another rollout, or already on the
// version), with why, and takes the rest; a draft left with none is
// refused. Canceling a draft cancels its upgrades.
func TestRolloutDraftHoldsNoDevice(t *testing.T) {
	eachBackend(t, func(t *testing.T, st *store.Store) {
		tr := mustTree(t, st)
		fw := mustFirmware(t, st, "R29", "2.0")
		inst := tr.a1.installer
		a := mustFleet(t, st, inst, "", 3, "R29", "1.0")
		b := mustFleet(t, st, inst, "", 2, "R29", "1.0")
		wide, err := st.CreateRollout(as(tr.subA1), model.RolloutInput{FirmwareID: fw.ID})
		if err != nil || wide.Total != 5 {
			t.Fatalf("wide draft: %+v %v", wide, err)
		}
		// The preview of another rollout still counts the devices as free.
		narrowIn := model.RolloutInput{FirmwareID: fw.ID, Targets: model.RolloutTargets{ProjectID: a.project.ID}}
		if n, err := st.CountRolloutTargets(as(inst), narrowIn); err != nil || n.Matching != 3 || n.InOtherRollout != 0 {
			t.Errorf("preview beside a draft: %+v %v", n, err)
		}
		narrow, err := st.CreateRollout(as(inst), narrowIn)
		if err != nil {
			t.Fatal(err)
		}
		mustStatus(t, st, as(inst), narrow.ID, model.RolloutStart)
		// One of b's devices got the version by other means.
		sqlExec(t, st, `UPDATE devices SET firmware = '2.0' WHERE id = ?`, b.ids[0])
		mustStatus(t, st, as(tr.subA1), wide.ID, model.RolloutStart)
		byMAC := map[string]*model.DeviceUpgrade{}
		for _, u := range upgrades(t, st, wide.ID) {
			byMAC[u.MAC] = u
		}
		for _, mac := range a.macs {
			if u := byMAC[mac]; u.State != model.UpgradeSkipped || u.Error != "in another rollout" {
				t.Errorf("%s taken by the narrow rollout: %s %q", mac, u.State, u.Error)
			}
		}
		if u := byMAC[b.macs[0]]; u.State != model.UpgradeSkipped || u.Error != "already on the version" {
			t.Errorf("on the version: %s %q", u.State, u.Error)
		}
		if u := byMAC[b.macs[1]]; u.State != model.UpgradePending {
			t.Errorf("free device: %s", u.State)
		}
		p, err := st.RolloutProgress(as(tr.subA1), wide.ID)
		if err != nil || p.Ended != 4 || p.ByState[model.UpgradeSkipped] != 4 {
			t.Errorf("progress: %+v %v", p, err)
		}
		// A draft whose devices are all taken cannot start; canceled, its
		// upgrades are canceled.
		late, err := st.CreateRollout(as(inst), model.RolloutInput{FirmwareID: fw.ID, Targets: model.RolloutTargets{ProjectID: b.project.ID}})
		if err == nil {
			t.Fatalf("a draft of devices all in open upgrades or on the version: %+v", late)
		}
		sqlExec(t, st, `UPDATE devices SET firmware = '1.0' WHERE id = ?`, b.ids[0])
		late, err = st.CreateRollout(as(inst), model.RolloutInput{FirmwareID: fw.ID, Targets: model.RolloutTargets{ProjectID: b.project.ID}})
		if err != nil || late.Total != 1 {
			t.Fatalf("late draft: %+v %v", late, err)
		}
		sqlExec(t, st, `UPDATE devices SET firmware = '2.0' WHERE id = ?`, b.ids[0])
		if _, err := st.SetRolloutStatus(as(inst), late.ID, model.RolloutStart); model.ErrorCode(err) != model.ECONFLICT {
			t.Errorf("start with every device taken: %v", err)
		}
		if r, _ := st.GetRollout(as(inst), late.ID); r.Status != model.RolloutDraft {
			t.Errorf("refused start left %s", r.Status)
		}
		mustStatus(t, st, as(inst), late.ID, model.RolloutCancel)
		if n := statesOf(upgrades(t, st, late.ID)); n[model.UpgradeCanceled] != 1 {
			t.Errorf("canceled draft: %v", n)
		}
	})
}

// A canary whose devices all stay offline tells nothing: after the device
// timeout the rollout pauses for a person to decide; resumed, it goes on
// with wave 1 (the canary's devices stay pending for when they come back).
func TestRolloutCanaryOfflinePauses(t *testing.T) {
	eachBackend(t, func(t *testing.T, st *store.Store) {
		tr := mustTree(t, st)
		clk := newClock(st, time.Date(2026, 12, 5, 1, 0, 0, 0, time.UTC))
		fw := mustFirmware(t, st, "R29", "2.0")
		f := mustFleet(t, st, tr.a1.installer, "UTC", 5, "R29", "1.0")
		sqlExec(t, st, `UPDATE devices SET online = false WHERE id IN (?, ?)`, f.ids[0], f.ids[1])
		ctx := as(tr.a1.installer)
		r, err := st.CreateRollout(ctx, model.RolloutInput{FirmwareID: fw.ID, Plan: model.RolloutPlan{CanaryCount: 2, DeviceTimeout: 600}})
		if err != nil {
			t.Fatal(err)
		}
		mustStatus(t, st, ctx, r.ID, model.RolloutStart)
		if s := step(t, st, r.ID, node1); len(s.Released) != 0 || s.Status != model.RolloutRunning {
			t.Fatalf("canary offline: %+v", s)
		}
		clk.add(10 * time.Minute)
		s := step(t, st, r.ID, node1)
		if s.Status != model.RolloutPaused || len(s.Released) != 0 || !strings.Contains(s.Reason, "none of its 2 devices came online") {
			t.Fatalf("after the timeout: %+v", s)
		}
		mustStatus(t, st, ctx, r.ID, model.RolloutResume)
		if s := step(t, st, r.ID, node1); !slices.Equal(s.Released, f.macs[2:]) {
			t.Fatalf("wave 1 after resume: %+v", s)
		}
	})
}

// An installer with rollouts of its own, and devices in its
// sub-distributor's rollout, can be deleted: its rollouts go with it, its
// devices leave the other rollout (review M1: the foreign key answered 500).
func TestDeleteInstallerWithRollouts(t *testing.T) {
	eachBackend(t, func(t *testing.T, st *store.Store) {
		tr := mustTree(t, st)
		fw := mustFirmware(t, st, "R29", "2.0")
		inst := tr.a1.installer
		mine := mustFleet(t, st, inst, "", 2, "R29", "1.0")
		mustFleet(t, st, tr.a2.installer, "", 2, "R29", "1.0")
		own, err := st.CreateRollout(as(inst), model.RolloutInput{FirmwareID: fw.ID, Targets: model.RolloutTargets{ProjectID: mine.project.ID}})
		if err != nil {
			t.Fatal(err)
		}
		mustStatus(t, st, as(inst), own.ID, model.RolloutStart)
		mustFleet(t, st, inst, "", 1, "R29", "1.0")
		sub, err := st.CreateRollout(as(tr.distA), model.RolloutInput{FirmwareID: fw.ID})
		if err != nil || sub.Total != 3 {
			t.Fatalf("distributor's rollout: %+v %v", sub, err)
		}
		if _, err := st.DeleteInstaller(as(tr.subA1), inst.ID, true); err != nil {
			t.Fatalf("delete installer with rollouts: %v", err)
		}
		if _, err := st.GetRollout(as(tr.subA1), own.ID); model.ErrorCode(err) != model.ENOTFOUND {
			t.Errorf("the installer's rollout: %v", err)
		}
		if p, err := st.RolloutProgress(as(tr.distA), sub.ID); err != nil || p.Total != 2 {
			t.Errorf("the distributor's rollout after: %+v %v (want the other installer's 2 devices)", p, err)
		}
	})
}

// A device's history shows the installer a rollout of its sub-distributor
// without the rollout's name and id (it cannot open it); the
// sub-distributor sees both.
func TestDeviceHistoryHidesUpstreamRollouts(t *testing.T) {
	eachBackend(t, func(t *testing.T, st *store.Store) {
		tr := mustTree(t, st)
		fw := mustFirmware(t, st, "R29", "2.0")
		f := mustFleet(t, st, tr.a1.installer, "", 1, "R29", "1.0")
		r, err := st.CreateRollout(as(tr.subA1), model.RolloutInput{FirmwareID: fw.ID, Name: "Sub's secret plan"})
		if err != nil {
			t.Fatal(err)
		}
		h, err := st.DeviceUpgrades(as(tr.a1.installer), f.macs[0], 10)
		if err != nil || len(h) != 1 || h[0].RolloutID != 0 || h[0].RolloutName != "" || h[0].ToVersion != "2.0" {
			t.Errorf("the installer's history: %+v %v", h, err)
		}
		h, err = st.DeviceUpgrades(as(tr.subA1), f.macs[0], 10)
		if err != nil || len(h) != 1 || h[0].RolloutID != r.ID || h[0].RolloutName != "Sub's secret plan" {
			t.Errorf("the sub-distributor's history: %+v %v", h, err)
		}
	})
}
