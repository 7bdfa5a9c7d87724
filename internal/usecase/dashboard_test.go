package usecase

import (
	"context"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/model"
)

// One node at a time recomputes the dashboard (the lease); its step makes
// the figures appear, each sub-distributor seeing its own; an unknown
// failed-commands kind is refused naming the field.
func TestDashboardRecomputeUnderLease(t *testing.T) {
	forEachBackend(t, func(t *testing.T, backend string) {
		tc := newTestCases(t, backend)
		tr := newDeviceTree(t, tc.store)
		deviceMore(t, tc.store, tr.own, 4)
		ctx := context.Background()
		if d, err := tc.Dashboard(deviceAs(tr.own.sub)); err != nil || d.AsOf != nil {
			t.Fatalf("before any step: %+v %v", d, err)
		}
		a, b := tc.NewDashboardRecomputer("node-a"), tc.NewDashboardRecomputer("node-b")
		if ok, err := a.Step(ctx); !ok || err != nil {
			t.Fatalf("node-a: %v %v", ok, err)
		}
		if ok, err := b.Step(ctx); ok || err != nil {
			t.Fatalf("node-b recomputed while node-a holds the lease: %v %v", ok, err)
		}
		own, err := tc.Dashboard(deviceAs(tr.own.sub))
		if err != nil || own.AsOf == nil || own.Online+own.Offline != 5 {
			t.Errorf("own: %+v %v", own, err)
		}
		other, _ := tc.Dashboard(deviceAs(tr.other.sub))
		if other.Online+other.Offline != 1 {
			t.Errorf("other: %d devices, want 1", other.Online+other.Offline)
		}
		_, err = tc.FailedCommands(deviceAs(tr.own.sub), model.FailedCommandFilter{Kind: "reboots", Page: model.Page{Page: 1, PerPage: 10}})
		if model.ErrorFields(err)["kind"] == "" {
			t.Errorf("kind=reboots: %v", err)
		}
	})
}

// A recompute that takes more than a tenth of the interval stretches the
// wait to ten times its length (a million devices on SQLite must not keep
// a core busy); a quick one keeps the interval.
func TestDashboardWaitStretchesWithTheRecompute(t *testing.T) {
	for _, c := range []struct{ every, took, want time.Duration }{
		{time.Minute, 2 * time.Second, time.Minute},
		{time.Minute, 6 * time.Second, time.Minute},
		{time.Minute, 22 * time.Second, 220 * time.Second},
		{5 * time.Minute, 22 * time.Second, 5 * time.Minute},
	} {
		if got := nextDashboardWait(c.every, c.took); got != c.want {
			t.Errorf("every %v, recompute %v: wait %v, want %v", c.every, c.took, got, c.want)
		}
	}
}
