package store_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/model"
	"github.com/gatehouse-dev/gatehouse/internal/store"
	"github.com/gatehouse-dev/gatehouse/internal/testutil"
)

// upgradeFixture inserts upgrades with plain SQL: the rollout engine that
// makes them is another part of the store.
type upgradeFixture struct {
	t   *testing.T
	st  *store.Store
	tr  *tree
	dev *model.Device
}

func newUpgradeFixture(t *testing.T, st *store.Store) *upgradeFixture {
	tr := mustTree(t, st)
	return &upgradeFixture{t: t, st: st, tr: tr, dev: tr.a1.device}
}

// firmware adds a catalogue entry of version; stored: the cloud keeps it.
func (fx *upgradeFixture) firmware(version string, stored bool) int64 {
	fx.t.Helper()
	var id int64
	err := fx.st.DB().QueryRow(rebind(fx.st, `INSERT INTO firmware (version, model, file_url, checksum, size, stored, created_at)
		VALUES (?,?,?,?,?,?,?) RETURNING id`), version, "R29C", "https://files.example.com/"+version+".bin",
		"sha256:"+strings.Repeat("ab", 32), 1234, stored, time.Now().UTC()).Scan(&id)
	if err != nil {
		fx.t.Fatal(err)
	}
	return id
}

// upgrade adds an upgrade of the device to firmware fw in state, with
// deadline.
func (fx *upgradeFixture) upgrade(deviceID, fw int64, state model.UpgradeState, deadline time.Time) int64 {
	fx.t.Helper()
	now := time.Now().UTC()
	var rollout, id int64
	if err := fx.st.DB().QueryRow(rebind(fx.st, `INSERT INTO rollouts (firmware_id, account_id, status, created_at, updated_at)
		VALUES (?,?,'running',?,?) RETURNING id`), fw, fx.tr.admin.ID, now, now).Scan(&rollout); err != nil {
		fx.t.Fatal(err)
	}
	var version string
	fx.st.DB().QueryRow(rebind(fx.st, `SELECT version FROM firmware WHERE id = ?`), fw).Scan(&version)
	if err := fx.st.DB().QueryRow(rebind(fx.st, `INSERT INTO firmware_upgrades (rollout_id, device_id, firmware_id, wave, state,
		from_version, to_version, queued_at, deadline_at) VALUES (?,?,?,0,?,?,?,?,?) RETURNING id`), rollout, deviceID, fw, string(state),
		"29.30.1.12", version, now, deadline).Scan(&id); err != nil {
		fx.t.Fatal(err)
	}
	return id
}

func (fx *upgradeFixture) row(id int64) (state model.UpgradeState, percent, attempts int, errMsg string) {
	fx.t.Helper()
	if err := fx.st.DB().QueryRow(rebind(fx.st, `SELECT state, percent, attempts, error FROM firmware_upgrades WHERE id = ?`), id).
		Scan(&state, &percent, &attempts, &errMsg); err != nil {
		fx.t.Fatal(err)
	}
	return
}

func (fx *upgradeFixture) setState(id int64, state model.UpgradeState) {
	fx.t.Helper()
	if _, err := fx.st.DB().Exec(rebind(fx.st, `UPDATE firmware_upgrades SET state = ? WHERE id = ?`), string(state), id); err != nil {
		fx.t.Fatal(err)
	}
}

func TestOpenUpgradesAndMarkSent(t *testing.T) {
	eachBackend(t, func(t *testing.T, st *store.Store) {
		fx := newUpgradeFixture(t, st)
		stored, external := fx.firmware("29.30.2.1", true), fx.firmware("29.30.2.2", false)
		later := time.Now().Add(time.Hour)
		pending := fx.upgrade(fx.tr.a2.device.ID, stored, model.UpgradePending, later)
		if any, err := st.UpgradesInFlight(sys); err != nil || any {
			t.Errorf("in flight with only a pending upgrade: %v %v", any, err)
		}
		id := fx.upgrade(fx.dev.ID, stored, model.UpgradeQueued, later)
		if any, err := st.UpgradesInFlight(sys); err != nil || !any {
			t.Errorf("in flight with a queued upgrade: %v %v", any, err)
		}
		other := fx.tr.b.device
		ext := fx.upgrade(other.ID, external, model.UpgradeDownloading, later)
		got, err := st.OpenUpgrades(sys, fx.dev.ID)
		if err != nil {
			t.Fatal(err)
		}
		if len(got[fx.dev.ID]) != 1 {
			t.Fatalf("open upgrades: %+v", got)
		}
		u := got[fx.dev.ID][0]
		if u.ID != id || u.FirmwareID != stored || u.Version != "29.30.2.1" || u.URL != "" || u.Size != 1234 ||
			u.SHA256 != strings.Repeat("ab", 32) || u.Deadline.Unix() != later.Unix() {
			t.Errorf("stored image's upgrade: %+v", u)
		}
		both, err := st.OpenUpgrades(sys, fx.dev.ID, other.ID)
		if err != nil {
			t.Fatal(err)
		}
		if len(both) != 2 || both[other.ID][0].URL != "https://files.example.com/29.30.2.2.bin" {
			t.Errorf("two devices: %+v", both)
		}
		if q, _ := st.QueuedUpgrades(sys, fx.dev.ID, other.ID); len(q) != 1 || len(q[fx.dev.ID]) != 1 {
			t.Errorf("queued only: %+v", q)
		}
		if moved, err := st.MarkUpgradesSent(sys, id); err != nil || !slices.Equal(moved, []int64{id}) {
			t.Fatalf("marked %v %v", moved, err)
		}
		if moved, err := st.MarkUpgradesSent(sys, id, ext); err != nil || len(moved) != 2 {
			t.Fatalf("marked %v %v", moved, err)
		}
		if s, _, n, _ := fx.row(id); s != model.UpgradeSent || n != 2 {
			t.Errorf("marked sent twice: %s, %d attempts", s, n)
		}
		if s, _, n, _ := fx.row(ext); s != model.UpgradeDownloading || n != 1 {
			t.Errorf("a downloading one stays downloading: %s, %d attempts", s, n)
		}
		// Past its deadline, or installing: not sent again.
		fx.setState(ext, model.UpgradeInstalling)
		if got, _ := st.OpenUpgrades(sys, other.ID); len(got) != 0 {
			t.Errorf("installing is not resent: %+v", got)
		}
		fx.setState(pending, model.UpgradeSkipped) // one open upgrade per device
		late := fx.upgrade(fx.tr.a2.device.ID, stored, model.UpgradeQueued, time.Now().Add(-time.Minute))
		if got, _ := st.OpenUpgrades(sys, fx.tr.a2.device.ID); len(got) != 0 {
			t.Errorf("past its deadline: %+v", got)
		}
		if moved, err := st.MarkUpgradesSent(sys, late); err != nil || !slices.Equal(moved, []int64{late}) {
			t.Fatalf("marked %v %v", moved, err)
		}
		// Ended or canceled since it was read: not marked, so not sent
		// (one at a time, as a connect marks; and in a batch).
		fx.setState(late, model.UpgradeCanceled)
		if moved, err := st.MarkUpgradesSent(sys, late); err != nil || len(moved) != 0 {
			t.Errorf("a canceled upgrade marked: %v %v", moved, err)
		}
		if moved, err := st.MarkUpgradesSent(sys, late, ext); err != nil || len(moved) != 0 {
			t.Errorf("a canceled and an installing upgrade marked: %v %v", moved, err)
		}
	})
}

func TestUpgradeProgressMovesForwardOnly(t *testing.T) {
	eachBackend(t, func(t *testing.T, st *store.Store) {
		fx := newUpgradeFixture(t, st)
		fw := fx.firmware("29.30.2.1", true)
		id := fx.upgrade(fx.dev.ID, fw, model.UpgradeSent, time.Now().Add(time.Hour))
		step := func(stage model.UpgradeState, pct int, want bool) {
			t.Helper()
			moved, err := st.UpgradeProgress(sys, fx.dev.ID, id, stage, pct)
			if err != nil {
				t.Fatal(err)
			}
			if moved != want {
				t.Errorf("%s %d: moved %v, want %v", stage, pct, moved, want)
			}
		}
		step(model.UpgradeDownloading, 10, true)
		step(model.UpgradeDownloading, 40, true)
		step(model.UpgradeDownloading, 20, false) // back
		if s, p, _, _ := fx.row(id); s != model.UpgradeDownloading || p != 40 {
			t.Errorf("after 40, 20: %s %d", s, p)
		}
		step(model.UpgradeVerifying, 0, true)
		step(model.UpgradeDownloading, 90, false) // back to an earlier stage
		step(model.UpgradeDone, 0, false)         // not a stage a device reports
		step(model.UpgradeInstalling, 0, true)
		step(model.UpgradeRebooting, 0, true)
		if s, p, _, _ := fx.row(id); s != model.UpgradeRebooting || p != 100 {
			t.Errorf("rebooting: %s %d", s, p)
		}
		// Another device's id is ignored.
		if moved, _ := st.UpgradeProgress(sys, fx.tr.b.device.ID, id, model.UpgradeRebooting, 0); moved {
			t.Error("a foreign device's progress counted")
		}
	})
}

func TestFinishUpgrade(t *testing.T) {
	eachBackend(t, func(t *testing.T, st *store.Store) {
		fx := newUpgradeFixture(t, st)
		fw := fx.firmware("29.30.2.1", true)
		later := time.Now().Add(time.Hour)
		devs := []*model.Device{fx.tr.a1.device, fx.tr.a2.device, fx.tr.b.device}
		ok := fx.upgrade(devs[0].ID, fw, model.UpgradeRebooting, later)
		refused := fx.upgrade(devs[1].ID, fw, model.UpgradeVerifying, later)
		old := fx.upgrade(devs[2].ID, fw, model.UpgradeRebooting, later)

		// A foreign id first: ignored.
		if done, err := st.FinishUpgrade(sys, devs[1].ID, ok, true, "", "29.30.2.1"); err != nil || done {
			t.Errorf("foreign ack: %v %v", done, err)
		}
		// The device's hello said the target (without it an ack of the
		// target is not believed: see the last case).
		sqlExec(t, st, `UPDATE devices SET firmware = '29.30.2.1' WHERE id = ?`, devs[0].ID)
		if done, err := st.FinishUpgrade(sys, devs[0].ID, ok, true, "", "29.30.2.1"); err != nil || !done {
			t.Fatalf("ack ok: %v %v", done, err)
		}
		if s, p, _, e := fx.row(ok); s != model.UpgradeDone || p != 100 || e != "" {
			t.Errorf("done: %s %d %q", s, p, e)
		}
		// Repeated: ignored, stays done.
		if done, _ := st.FinishUpgrade(sys, devs[0].ID, ok, false, "late", ""); done {
			t.Error("an ack of a finished upgrade counted")
		}
		if done, _ := st.FinishUpgrade(sys, devs[1].ID, refused, false, "checksum mismatch", ""); !done {
			t.Error("refusal not recorded")
		}
		if s, _, _, e := fx.row(refused); s != model.UpgradeFailed || e != "checksum mismatch" {
			t.Errorf("refused: %s %q", s, e)
		}
		if done, _ := st.FinishUpgrade(sys, devs[2].ID, old, true, "", "29.30.1.12"); !done {
			t.Error("ack with the old version not recorded")
		}
		if s, _, _, e := fx.row(old); s != model.UpgradeFailed || e != "came back with firmware 29.30.1.12, expected 29.30.2.1" {
			t.Errorf("old version: %s %q", s, e)
		}
		// A pending upgrade was never sent: an ack of it is ignored.
		pend := fx.upgrade(devs[1].ID, fw, model.UpgradePending, later)
		if done, _ := st.FinishUpgrade(sys, devs[1].ID, pend, true, "", "29.30.2.1"); done {
			t.Error("ack of a pending upgrade counted")
		}
		// An ack that claims the target while the device's last hello said
		// its old firmware: failed, naming what the hello said.
		sqlExec(t, st, `UPDATE firmware_upgrades SET state = 'canceled' WHERE id = ?`, pend)
		sqlExec(t, st, `UPDATE devices SET firmware = '29.30.1.12' WHERE id = ?`, devs[1].ID)
		liar := fx.upgrade(devs[1].ID, fw, model.UpgradeRebooting, later)
		if done, _ := st.FinishUpgrade(sys, devs[1].ID, liar, true, "", "29.30.2.1"); !done {
			t.Error("ack against the hello not recorded")
		}
		if s, _, _, e := fx.row(liar); s != model.UpgradeFailed || e != "came back with firmware 29.30.1.12, expected 29.30.2.1" {
			t.Errorf("ack against the hello: %s %q", s, e)
		}
	})
}

func TestUpgradeHello(t *testing.T) {
	eachBackend(t, func(t *testing.T, st *store.Store) {
		fx := newUpgradeFixture(t, st)
		fw := fx.firmware("29.30.2.1", true)
		later := time.Now().Add(time.Hour)
		devs := []*model.Device{fx.tr.a1.device, fx.tr.a2.device, fx.tr.b.device, fx.tr.a1.device}
		cases := []struct {
			state    model.UpgradeState
			firmware string
			want     model.UpgradeState
			err      string
			send     bool
		}{
			{model.UpgradeRebooting, "29.30.2.1", model.UpgradeDone, "", false},
			{model.UpgradeInstalling, "29.30.1.12", model.UpgradeFailed, "came back with firmware 29.30.1.12, expected 29.30.2.1", false},
			{model.UpgradeDownloading, "29.30.1.12", model.UpgradeDownloading, "", true}, // reconnected mid-download: resent
			{model.UpgradeQueued, "29.30.2.1", model.UpgradeDone, "", false},             // runs the target already
		}
		for i, c := range cases {
			id := fx.upgrade(devs[i].ID, fw, c.state, later)
			send, err := st.UpgradeConnect(sys, devs[i].ID, c.firmware)
			if err != nil {
				t.Fatal(err)
			}
			if s, _, _, e := fx.row(id); s != c.want || e != c.err {
				t.Errorf("%s, hello %s: %s %q, want %s %q", c.state, c.firmware, s, e, c.want, c.err)
			}
			if (len(send) == 1) != c.send {
				t.Errorf("%s, hello %s: to send %+v", c.state, c.firmware, send)
			}
		}
		// No open upgrade: nothing happens.
		if err := st.UpgradeHello(sys, fx.tr.a2.device.ID, "29.30.2.1"); err != nil {
			t.Fatal(err)
		}
		// A pending upgrade is the rollout's, not the hello's.
		d := fx.tr.a2.device
		pend := fx.upgrade(d.ID, fw, model.UpgradePending, later)
		if err := st.UpgradeHello(sys, d.ID, "29.30.2.1"); err != nil {
			t.Fatal(err)
		}
		if s, _, _, _ := fx.row(pend); s != model.UpgradePending {
			t.Errorf("pending after hello: %s", s)
		}
	})
}

// The gateway's upgrade lookups read partial indexes, never a scan of the
// pending upgrades of a large rollout: a device's open upgrade (every
// connect while upgrades are in flight), "any in flight?", the sweep.
func TestUpgradeLookupsUseTheirIndexes(t *testing.T) {
	st := testutil.NewStore(t, "sqlite")
	for q, index := range map[string]string{
		// a device's open upgrade (every connect while upgrades are in flight)
		`SELECT u.id FROM firmware_upgrades u JOIN firmware f ON f.id = u.firmware_id WHERE u.device_id = CAST(? AS BIGINT)
			AND u.state IN ('pending','queued','sent','downloading','verifying','installing','rebooting')`: "firmware_upgrades_one_open",
		// is any in flight (the gateway's gate, once a second): not a scan of the pending ones
		`SELECT 1 FROM firmware_upgrades WHERE state IN ('queued','sent','downloading','verifying','installing','rebooting') ORDER BY deadline_at LIMIT 1`: "firmware_upgrades_deadline",
		// the gateway's sweep for upgrades released but not sent, every 30 s
		`SELECT DISTINCT d.mac FROM firmware_upgrades u JOIN devices d ON d.id = u.device_id
			WHERE u.state IN ('queued','sent','downloading','verifying','installing','rebooting') AND u.state = 'queued'
			AND u.deadline_at > ? AND d.online = true AND d.node = 'n1'`: "firmware_upgrades_deadline",
	} {
		plan := ""
		rows, err := st.DB().Query(`EXPLAIN QUERY PLAN `+q, 1)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var a, b, c int
			var detail string
			rows.Scan(&a, &b, &c, &detail)
			plan += detail + "\n"
		}
		rows.Close()
		if !strings.Contains(plan, index) {
			t.Errorf("%s\nplan:\n%s", q, plan)
		}
	}
}

// The gateway's safety net finds the devices online on its node with an
// upgrade released and not sent (a Kick lost).
func TestQueuedUpgradeDevices(t *testing.T) {
	eachBackend(t, func(t *testing.T, st *store.Store) {
		fx := newUpgradeFixture(t, st)
		fw := fx.firmware("29.30.2.1", true)
		later := time.Now().Add(time.Hour)
		on, off, sent := fx.tr.a1.device, fx.tr.a2.device, fx.tr.b.device
		for _, d := range []*model.Device{on, sent} {
			if err := st.DeviceConnected(sys, d.MAC, "n1", time.Now().UTC(), model.DeviceHello{Firmware: "29.30.1.12"}); err != nil {
				t.Fatal(err)
			}
		}
		fx.upgrade(on.ID, fw, model.UpgradeQueued, later)
		fx.upgrade(off.ID, fw, model.UpgradeQueued, later)
		fx.upgrade(sent.ID, fw, model.UpgradeSent, later)
		macs, err := st.QueuedUpgradeDevices(sys, "n1")
		if err != nil {
			t.Fatal(err)
		}
		if len(macs) != 1 || macs[0] != on.MAC {
			t.Errorf("got %v, want [%s]", macs, on.MAC)
		}
		if macs, _ := st.QueuedUpgradeDevices(sys, "n2"); len(macs) != 0 {
			t.Errorf("another node's: %v", macs)
		}
	})
}

func init() {
	// The gateway's side of firmware upgrades runs as the system, for the
	// device on the connection (by its id): no person's tenancy applies.
	for _, m := range []string{"FinishUpgrade", "MarkUpgradesSent", "OpenUpgrades", "QueuedUpgradeDevices", "QueuedUpgrades",
		"UpgradeConnect", "UpgradeHello", "UpgradeProgress", "UpgradesInFlight"} {
		coveredElsewhere[m] = "system side (the gateway): TestOpenUpgradesAndMarkSent, TestFinishUpgrade, TestUpgradeHello …"
	}
}
