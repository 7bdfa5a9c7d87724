package usecase

import (
	"context"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/model"
)

// The availability sweep: one node at a time recomputes and prunes, the
// retention bounds the prune and the days a device's availability is
// asked for; a retention under 7 days is refused.
func TestAvailabilitySweepOneNodeAndRetention(t *testing.T) {
	forEachBackend(t, func(t *testing.T, backend string) {
		tc := newTestCases(t, backend, func(d *Deps) { d.Availability = AvailabilityOptions{Retention: 10 * 24 * time.Hour} })
		day := 24 * time.Hour
		t0 := time.Date(2031, 5, 20, 12, 0, 0, 0, time.UTC)
		clock := notifyWithClock(t, tc.store, t0.Add(-20*day))
		tr := newDeviceTree(t, tc.store) // added 20 days ago, offline
		id := tr.own.device.ID
		set := func(online bool, at time.Time) {
			notifyExec(t, tc.store, `UPDATE devices SET online = ?, connected_at = ?, last_seen = ? WHERE id = ?`, online, at, at, id)
		}
		set(true, t0.Add(-15*day))
		set(false, t0.Add(-12*day))
		set(true, t0.Add(-11*day)) // online ever since
		clock.set(t0)
		a, b := tc.NewAvailabilitySweeper("node-a"), tc.NewAvailabilitySweeper("node-b")
		sa, err := a.Step(context.Background())
		if err != nil || !sa.Leased || sa.Recomputed.Changed != 1 || sa.Pruned != 3 {
			t.Fatalf("node a: %+v %v, want the lease, own's figure changed, 3 rows pruned (all but the one at 11 days)", sa, err)
		}
		if sb, err := b.Step(context.Background()); err != nil || sb.Leased {
			t.Errorf("node b: %+v %v, want no lease", sb, err)
		}
		ctx := deviceAs(tr.own.sub)
		av, err := tc.DeviceAvailability(ctx, tr.own.device.MAC, 10)
		if err != nil || av.BasisPoints != 10000 {
			t.Errorf("10 days: %+v %v, want online throughout (the state at the window's start was kept)", av, err)
		}
		if _, err := tc.DeviceAvailability(ctx, tr.own.device.MAC, 11); model.ErrorFields(err)["days"] == "" {
			t.Errorf("11 days with a 10-day retention: %v", err)
		}
		if _, err := tc.DeviceAvailability(deviceAs(tr.other.sub), tr.own.device.MAC, 7); model.ErrorCode(err) != model.ENOTFOUND {
			t.Errorf("another tree's device: %v", err)
		}
		if err := CheckAvailabilityRetention(6 * day); err == nil {
			t.Error("a 6-day retention was accepted")
		}
		if err := CheckAvailabilityRetention(7 * day); err != nil {
			t.Error(err)
		}
	})
}
