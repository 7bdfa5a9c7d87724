package usecase

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/model"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// rolloutFixture is an installer with n online devices of model R29 on
// 1.0, firmware R29 2.0, a draft rollout of them started, and a settable
// clock.
type rolloutFixture struct {
	tc        *testCases
	installer *model.Account
	tree      *deviceTree
	rollout   *model.Rollout
	mu        sync.Mutex
	now       time.Time
}

func (f *rolloutFixture) clock() time.Time { f.mu.Lock(); defer f.mu.Unlock(); return f.now }
func (f *rolloutFixture) add(d time.Duration) {
	f.mu.Lock()
	f.now = f.now.Add(d)
	f.mu.Unlock()
}

func newRolloutFixture(t *testing.T, backend string, n int, plan model.RolloutPlan) *rolloutFixture {
	t.Helper()
	f := &rolloutFixture{tc: newTestCases(t, backend), now: time.Date(2026, 12, 5, 2, 0, 0, 0, time.UTC)}
	st := f.tc.store
	st.SetClock(f.clock)
	tree := newDeviceTree(t, st)
	f.installer, f.tree = tree.own.installer, tree
	deviceMore(t, st, tree.own, n)
	if _, err := st.DB().Exec(`UPDATE devices SET model = 'R29', firmware = '1.0', online = true`); err != nil {
		t.Fatal(err)
	}
	fw := &model.Firmware{Version: "2.0", Model: "R29", FileURL: "https://fw.example/r29.bin", Checksum: strings.Repeat("c", 64), Size: 4 << 20}
	if err := f.tc.CreateFirmware(deviceSys, fw); err != nil {
		t.Fatal(err)
	}
	ctx := deviceAs(f.installer)
	preview, err := f.tc.CountRolloutTargets(ctx, model.RolloutInput{FirmwareID: fw.ID, Plan: plan})
	if err != nil || preview.Matching != n+1 {
		t.Fatalf("preview: %+v %v", preview, err)
	}
	f.rollout, err = f.tc.CreateRollout(ctx, model.RolloutInput{FirmwareID: fw.ID, Plan: plan})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.tc.StartRollout(ctx, f.rollout.ID); err != nil {
		t.Fatal(err)
	}
	return f
}

// scheduler is a node's scheduler whose kicks are counted per MAC into
// kicked (shared by the nodes of a test).
func (f *rolloutFixture) scheduler(node string, kicked map[string]int, mu *sync.Mutex) *RolloutScheduler {
	sc := f.tc.NewRolloutScheduler(node)
	sc.Kick = func(_ context.Context, macs ...string) {
		mu.Lock()
		defer mu.Unlock()
		for _, m := range macs {
			kicked[m]++
		}
	}
	return sc
}

// finishQueued ends every released upgrade done, as the devices would.
func (f *rolloutFixture) finishQueued(t *testing.T) {
	t.Helper()
	st := f.tc.store
	q := `UPDATE firmware_upgrades SET state = 'done', finished_at = ? WHERE state = 'queued'`
	if st.Dialect() == store.Postgres {
		q = strings.Replace(q, "?", "$1", 1)
	}
	if _, err := st.DB().Exec(q, f.clock()); err != nil {
		t.Fatal(err)
	}
}

// The scheduler tells the gateway of each device it released, once.
func TestRolloutSchedulerKicksReleased(t *testing.T) {
	forEachBackend(t, func(t *testing.T, backend string) {
		f := newRolloutFixture(t, backend, 9, model.RolloutPlan{CanaryCount: 2, WaveSize: 4})
		kicked, mu := map[string]int{}, &sync.Mutex{}
		sc := f.scheduler("node-a", kicked, mu)
		ctx := context.Background()
		steps, err := sc.Step(ctx)
		if err != nil || len(steps) != 1 || len(steps[0].Released) != 2 || len(kicked) != 2 {
			t.Fatalf("first step: %+v %v, kicked %v", steps, err, kicked)
		}
		if steps, _ := sc.Step(ctx); len(steps[0].Released) != 0 || len(kicked) != 2 {
			t.Fatalf("the canary still under way, yet: %+v", steps[0])
		}
		for range 4 {
			f.finishQueued(t)
			if _, err := sc.Step(ctx); err != nil {
				t.Fatal(err)
			}
		}
		for m, n := range kicked {
			if n != 1 {
				t.Errorf("%s kicked %d times", m, n)
			}
		}
		r, _ := f.tc.store.GetRollout(deviceSys, f.rollout.ID)
		if len(kicked) != 10 || r.Status != model.RolloutDone {
			t.Errorf("kicked %d, rollout %s", len(kicked), r.Status)
		}
	})
}

// Two nodes' schedulers stepping at once release every device once; a
// node restarted mid-rollout (a new scheduler, same node name) goes on at
// once, another node takes over a stopped one's rollout after its lease,
// and nothing is released twice.
func TestRolloutSchedulersTwoNodesAndRestart(t *testing.T) {
	forEachBackend(t, func(t *testing.T, backend string) {
		f := newRolloutFixture(t, backend, 59, model.RolloutPlan{CanaryCount: 5, WaveSize: 11})
		kicked, mu := map[string]int{}, &sync.Mutex{}
		a, b := f.scheduler("node-a", kicked, mu), f.scheduler("node-b", kicked, mu)
		ctx := context.Background()
		both := func() {
			var wg sync.WaitGroup
			for _, sc := range []*RolloutScheduler{a, b} {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for range 3 {
						if _, err := sc.Step(ctx); err != nil {
							t.Error(err)
						}
					}
				}()
			}
			wg.Wait()
		}
		both()
		if len(kicked) != 5 {
			t.Fatalf("canary: %d kicked", len(kicked))
		}
		f.finishQueued(t)
		both()
		f.finishQueued(t)
		if len(kicked) != 16 {
			t.Fatalf("wave 1: %d kicked", len(kicked))
		}
		// Whoever holds it "restarts": a new scheduler of the same name
		// goes on at once, repeating nothing.
		var holder string
		f.tc.store.DB().QueryRow(`SELECT lease_node FROM rollouts`).Scan(&holder)
		restarted := f.scheduler(holder, kicked, mu)
		if _, err := restarted.Step(ctx); err != nil {
			t.Fatal(err)
		}
		if len(kicked) != 27 {
			t.Fatalf("after the restart: %d kicked", len(kicked))
		}
		f.finishQueued(t)
		// It stops for good, its lease not freed: the other node waits for
		// the lease, then goes on.
		other := a
		if holder == "node-a" {
			other = b
		}
		if _, err := other.Step(ctx); err != nil {
			t.Fatal(err)
		}
		if len(kicked) != 27 {
			t.Fatalf("the other node stepped a leased rollout: %d kicked", len(kicked))
		}
		f.add(rolloutLeaseFor + time.Second)
		for range 4 {
			if _, err := other.Step(ctx); err != nil {
				t.Fatal(err)
			}
			f.finishQueued(t)
		}
		for m, n := range kicked {
			if n != 1 {
				t.Errorf("%s released %d times", m, n)
			}
		}
		r, _ := f.tc.store.GetRollout(deviceSys, f.rollout.ID)
		if len(kicked) != 60 || r.Status != model.RolloutDone {
			t.Errorf("kicked %d, rollout %s", len(kicked), r.Status)
		}
	})
}

// Run steps until its context ends, then frees its leases so that another
// node goes on without waiting for them to run out.
func TestRolloutSchedulerRunFreesLeases(t *testing.T) {
	f := newRolloutFixture(t, "sqlite", 3, model.RolloutPlan{})
	kicked, mu := map[string]int{}, &sync.Mutex{}
	sc := f.scheduler("node-a", kicked, mu)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { sc.Run(ctx, time.Millisecond); close(done) }()
	for i := 0; ; i++ {
		mu.Lock()
		n := len(kicked)
		mu.Unlock()
		if n == 4 {
			break
		}
		if i > 5000 {
			t.Fatalf("nothing released: %v", kicked)
		}
		time.Sleep(time.Millisecond)
	}
	cancel()
	<-done
	var node string
	f.tc.store.DB().QueryRow(`SELECT lease_node FROM rollouts`).Scan(&node)
	if node != "" {
		t.Errorf("lease still held by %q", node)
	}
}

// Use-case errors: a foreign rollout is not found, a wrong transition a
// conflict.
func TestRolloutUseCaseErrors(t *testing.T) {
	f := newRolloutFixture(t, "sqlite", 1, model.RolloutPlan{})
	other := f.tree.other.sub
	if _, err := f.tc.PauseRollout(deviceAs(other), f.rollout.ID); model.ErrorCode(err) != model.ENOTFOUND {
		t.Errorf("foreign pause: %v", err)
	}
	if _, err := f.tc.StartRollout(deviceAs(f.installer), f.rollout.ID); model.ErrorCode(err) != model.ECONFLICT {
		t.Errorf("start twice: %v", err)
	}
	if _, err := f.tc.RolloutProgress(deviceAs(other), f.rollout.ID); model.ErrorCode(err) != model.ENOTFOUND {
		t.Errorf("foreign progress: %v", err)
	}
}

// With the devices' side (the gateway's store methods): the canary's
// devices are sent the upgrade, report progress, and two of three fail —
// over the threshold, the rollout pauses before wave 1; resumed, wave 1's
// devices come back on the new firmware (hello) and the rollout is done.
func TestRolloutWithDeviceOutcomes(t *testing.T) {
	forEachBackend(t, func(t *testing.T, backend string) {
		f := newRolloutFixture(t, backend, 5, model.RolloutPlan{CanaryCount: 3, FailureThreshold: 50})
		st := f.tc.store
		kicked, mu := map[string]int{}, &sync.Mutex{}
		sc := f.scheduler("node-a", kicked, mu)
		ctx := context.Background()
		if _, err := sc.Step(ctx); err != nil || len(kicked) != 3 {
			t.Fatalf("canary: %v %v", kicked, err)
		}
		list := func() []*model.DeviceUpgrade {
			l, err := st.ListRolloutDevices(deviceSys, f.rollout.ID, model.RolloutDeviceFilter{})
			if err != nil {
				t.Fatal(err)
			}
			return l.Items
		}
		var sent []int64
		for _, u := range list() {
			if u.State == model.UpgradeQueued {
				sent = append(sent, u.ID)
			}
		}
		if _, err := st.MarkUpgradesSent(deviceSys, sent...); err != nil {
			t.Fatal(err)
		}
		for i, u := range list()[:3] {
			if _, err := st.UpgradeProgress(deviceSys, u.DeviceID, u.ID, model.UpgradeDownloading, 50); err != nil {
				t.Fatal(err)
			}
			if i < 2 {
				if _, err := st.FinishUpgrade(deviceSys, u.DeviceID, u.ID, false, "checksum mismatch", ""); err != nil {
					t.Fatal(err)
				}
			}
		}
		// One still downloading: the wave is not finished.
		if steps, _ := sc.Step(ctx); steps[0].Status != model.RolloutRunning || len(steps[0].Released) != 0 {
			t.Fatalf("wave still under way: %+v", steps[0])
		}
		// The third comes back on 2.0 (its hello ends the upgrade), then acks.
		u := list()[2]
		if err := st.UpgradeHello(deviceSys, u.DeviceID, "2.0"); err != nil {
			t.Fatal(err)
		}
		if _, err := st.FinishUpgrade(deviceSys, u.DeviceID, u.ID, true, "", "2.0"); err != nil {
			t.Fatal(err)
		}
		steps, _ := sc.Step(ctx)
		if steps[0].Status != model.RolloutPaused || !strings.Contains(steps[0].Reason, "2 of 3") || len(kicked) != 3 {
			t.Fatalf("threshold: %+v, kicked %d", steps[0], len(kicked))
		}
		if _, err := f.tc.ResumeRollout(deviceAs(f.installer), f.rollout.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := sc.Step(ctx); err != nil || len(kicked) != 6 {
			t.Fatalf("wave 1: %d kicked, %v", len(kicked), err)
		}
		for _, u := range list()[3:] {
			if _, err := st.UpgradeConnect(deviceSys, u.DeviceID, "2.0"); err != nil {
				t.Fatal(err)
			}
		}
		// Back on the target version (the hello rule): done.
		if p, _ := st.RolloutProgress(deviceSys, f.rollout.ID); p.ByState[model.UpgradeDone] != 4 {
			t.Errorf("after the hellos: %+v", p.ByState)
		}
		if _, err := sc.Step(ctx); err != nil {
			t.Fatal(err)
		}
		r, _ := st.GetRollout(deviceSys, f.rollout.ID)
		p, _ := st.RolloutProgress(deviceSys, f.rollout.ID)
		if r.Status != model.RolloutDone || p.ByState[model.UpgradePending]+p.ByState[model.UpgradeQueued] != 0 {
			t.Errorf("end: %s %+v", r.Status, p.ByState)
		}
	})
}
