package store_test

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/model"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

func init() {
	for _, m := range []string{"LeaseAvailability", "FreeAvailabilityLease", "RecomputeAvailability", "PruneAvailability"} {
		coveredElsewhere[m] = "system side: the availability sweep (TestAvailabilityRecomputeSortsTheLists, TestAvailabilityPruneKeepsTheStateAtTheWindowStart)"
	}
	coveredElsewhere["GetDeviceAvailability"] = "TestAvailabilityHistories (another tree's and a sibling installer's device are not found)"
}

// availRows counts the stored transitions of device id.
func availRows(t *testing.T, st *store.Store, id int64) int {
	t.Helper()
	var n int
	if err := st.DB().QueryRow(fmt.Sprintf(`SELECT count(*) FROM device_availability WHERE device_id = %d`, id)).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// availDevice adds a device to b's community at the store's clock.
func availDevice(t *testing.T, st *store.Store, b *branch, name string) *model.Device {
	t.Helper()
	d := &model.Device{MAC: fmt.Sprintf("0c1105%06x", nextSeq()), ProjectID: b.project.ID, Type: model.DoorPhone, Name: name}
	if err := st.CreateDevice(as(b.installer), d); err != nil {
		t.Fatal(err)
	}
	return d
}

// The gateway's writes leave the transitions (the triggers): a connect, a
// disconnect, and a node found gone taking all its devices offline at
// once; the figure counts the time since the device was added only.
func TestAvailabilityFollowsTheGateway(t *testing.T) {
	eachBackend(t, func(t *testing.T, st *store.Store) {
		tr := mustTree(t, st)
		t0 := time.Date(2031, 3, 2, 0, 0, 0, 0, time.UTC)
		now := t0
		st.SetClock(func() time.Time { return now })
		d1 := availDevice(t, st, tr.a1, "one")
		d2 := availDevice(t, st, tr.a1, "two")
		if n := availRows(t, st, d1.ID); n != 1 {
			t.Fatalf("a new device has %d rows, want 1 (where its history starts)", n)
		}
		must := func(err error) {
			t.Helper()
			if err != nil {
				t.Fatal(err)
			}
		}
		must(st.DeviceConnected(sys, d1.MAC, "n1", t0.Add(1*time.Hour), model.DeviceHello{}))
		must(st.DeviceDisconnected(sys, d1.MAC, "n1", t0.Add(1*time.Hour), t0.Add(3*time.Hour)))
		must(st.DeviceConnected(sys, d1.MAC, "n1", t0.Add(5*time.Hour), model.DeviceHello{}))
		must(st.DeviceConnected(sys, d2.MAC, "n1", t0.Add(5*time.Hour), model.DeviceHello{}))
		// Connected again on a newer connection while online: no change.
		must(st.DeviceConnected(sys, d2.MAC, "n1", t0.Add(5*time.Hour+time.Minute), model.DeviceHello{}))
		must(st.DevicesSeen(sys, "n1", t0.Add(6*time.Hour), []int64{d1.ID, d2.ID}))
		n, err := st.NodeOffline(sys, "n1", t0.Add(7*time.Hour))
		if err != nil || n != 2 {
			t.Fatalf("node offline: %d %v", n, err)
		}
		if got := availRows(t, st, d1.ID); got != 5 {
			t.Errorf("d1 has %d rows, want 5 (added, on, off, on, node gone)", got)
		}
		if got := availRows(t, st, d2.ID); got != 3 {
			t.Errorf("d2 has %d rows, want 3 (added, on, node gone)", got)
		}
		now = t0.Add(10 * time.Hour)
		a, err := st.GetDeviceAvailability(as(tr.subA1), d1.MAC, 1)
		if err != nil {
			t.Fatal(err)
		}
		// Known since it was added (10 h ago): online 1–3 h and 5–6 h; its
		// addition is the first of its 5 transitions.
		if a.KnownSeconds != 10*3600 || a.OnlineSeconds != 3*3600 || a.BasisPoints != 3000 || a.Transitions != 5 {
			t.Errorf("d1: %+v, want 3 of 10 known hours online", a)
		}
		if len(a.Spans) == 0 || a.Spans[0].Known || !a.Spans[0].To.Equal(t0) {
			t.Errorf("the time before the device was added is not unknown: %+v", a.Spans)
		}
		if len(a.Recent) != 5 || a.Recent[0].Online || !a.Recent[0].At.Equal(t0.Add(6*time.Hour)) {
			t.Errorf("recent, newest first: %+v (the node's devices go offline when last heard)", a.Recent)
		}
		// Deleted with the device.
		must(st.DeleteDevices(as(tr.a1.installer), []string{d2.MAC}))
		if got := availRows(t, st, d2.ID); got != 0 {
			t.Errorf("a deleted device keeps %d rows", got)
		}
	})
}

// Hand-made histories: a device added 2 days ago, one offline the whole
// week, one flapping every second (its rows stay bounded); and the
// tenancy of the read.
func TestAvailabilityHistories(t *testing.T) {
	eachBackend(t, func(t *testing.T, st *store.Store) {
		tr := mustTree(t, st)
		end := time.Date(2031, 6, 20, 12, 0, 0, 0, time.UTC)
		now := end.Add(-20 * 24 * time.Hour)
		st.SetClock(func() time.Time { return now })
		off := availDevice(t, st, tr.a1, "always offline") // added 20 days ago, never connected
		on := availDevice(t, st, tr.a1, "always online")
		if err := st.DeviceConnected(sys, on.MAC, "n1", now, model.DeviceHello{}); err != nil {
			t.Fatal(err)
		}
		now = end.Add(-48 * time.Hour)
		young := availDevice(t, st, tr.a1, "two days")
		if err := st.DeviceConnected(sys, young.MAC, "n1", end.Add(-24*time.Hour), model.DeviceHello{}); err != nil {
			t.Fatal(err)
		}
		now = end.Add(-2 * time.Hour)
		flap := availDevice(t, st, tr.a1, "flapping")
		ft := now
		for i := 0; i < 300; i++ { // 10 minutes of flapping, a change a second
			ft = ft.Add(time.Second)
			if err := st.DeviceConnected(sys, flap.MAC, "n1", ft, model.DeviceHello{}); err != nil {
				t.Fatal(err)
			}
			ft = ft.Add(time.Second)
			if err := st.DeviceDisconnected(sys, flap.MAC, "n1", ft.Add(-time.Second), ft); err != nil {
				t.Fatal(err)
			}
		}
		// Online for good 30 minutes later: a new hour's row.
		if err := st.DeviceConnected(sys, flap.MAC, "n1", end.Add(-time.Hour), model.DeviceHello{}); err != nil {
			t.Fatal(err)
		}
		now = end
		ctx := as(tr.subA1)
		want := map[string]int{off.MAC: 0, on.MAC: 10000, young.MAC: 5000}
		for mac, bp := range want {
			a, err := st.GetDeviceAvailability(ctx, mac, 7)
			if err != nil || a.BasisPoints != bp || a.Percent != float64(bp)/100 {
				t.Errorf("%s: %+v %v, want %d bp", mac, a, err, bp)
			}
		}
		a, _ := st.GetDeviceAvailability(ctx, young.MAC, 7)
		if a.KnownSeconds != 48*3600 {
			t.Errorf("the two-day device's known time is %d s, want 2 days (before it was added counts as neither)", a.KnownSeconds)
		}
		// 600 changes within an hour: 12 rows in that hour (its addition
		// and 11 changes; the others merged into the 11th), 1 for the last
		// connect an hour after its addition.
		if n := availRows(t, st, flap.ID); n != 13 {
			t.Errorf("the flapping device has %d rows, want 13 (12 an hour)", n)
		}
		a, _ = st.GetDeviceAvailability(ctx, flap.MAC, 1)
		// Known 2 h: 5 s online in its first 11 changes, then the merged
		// row (offline, the burst's last state) until the last connect an
		// hour before the end: 3605 of 7200 s.
		if a.BasisPoints != 5006 {
			t.Errorf("flapping device: %d bp, want about 5000 (online the last of its 2 hours)", a.BasisPoints)
		}
		// days bounded; another tree's device is not found.
		if _, err := st.GetDeviceAvailability(ctx, on.MAC, 31); model.ErrorFields(err)["days"] == "" {
			t.Errorf("31 days: %v", err)
		}
		if _, err := st.GetDeviceAvailability(as(tr.subB), on.MAC, 7); model.ErrorCode(err) != model.ENOTFOUND {
			t.Errorf("a foreign device: %v, want not found", err)
		}
		if _, err := st.GetDeviceAvailability(as(tr.a2.installer), on.MAC, 7); model.ErrorCode(err) != model.ENOTFOUND {
			t.Errorf("a sibling installer's device: %v, want not found", err)
		}
	})
}

// The retention prune keeps each device's last transition before its
// bound, so the state at any window's start is still known.
func TestAvailabilityPruneKeepsTheStateAtTheWindowStart(t *testing.T) {
	eachBackend(t, func(t *testing.T, st *store.Store) {
		tr := mustTree(t, st)
		end := time.Date(2031, 9, 1, 0, 0, 0, 0, time.UTC)
		day := 24 * time.Hour
		now := end.Add(-41 * day)
		st.SetClock(func() time.Time { return now })
		d := availDevice(t, st, tr.a1, "old")
		quiet := availDevice(t, st, tr.a1, "quiet") // its one row is its state: kept
		connect := func(at time.Time) {
			if err := st.DeviceConnected(sys, d.MAC, "n1", at, model.DeviceHello{}); err != nil {
				t.Fatal(err)
			}
		}
		disconnect := func(c, at time.Time) {
			if err := st.DeviceDisconnected(sys, d.MAC, "n1", c, at); err != nil {
				t.Fatal(err)
			}
		}
		connect(end.Add(-40 * day))
		disconnect(end.Add(-40*day), end.Add(-38*day))
		connect(end.Add(-36 * day)) // online from here until 1 day ago
		disconnect(end.Add(-36*day), end.Add(-1*day))
		now = end
		ctx := as(tr.subA1)
		before, err := st.GetDeviceAvailability(ctx, d.MAC, 30)
		if err != nil || before.BasisPoints != 9666 {
			t.Fatalf("before: %+v %v, want 29 of 30 days", before, err)
		}
		if ok, err := st.LeaseAvailability(sys, "n1", time.Minute); err != nil || !ok {
			t.Fatal(ok, err)
		}
		if _, err := st.PruneAvailability(sys, "n2", end.Add(-35*day)); !errors.Is(err, store.ErrAvailabilityLeaseLost) {
			t.Errorf("another node pruned: %v", err)
		}
		n, err := st.PruneAvailability(sys, "n1", end.Add(-35*day))
		if err != nil || n != 3 {
			t.Fatalf("pruned %d rows, %v; want 3 (added, on, off: before the one at 36 days)", n, err)
		}
		if got := availRows(t, st, d.ID); got != 2 {
			t.Errorf("%d rows left, want 2", got)
		}
		if got := availRows(t, st, quiet.ID); got != 1 {
			t.Errorf("the quiet device has %d rows, want its one", got)
		}
		after, _ := st.GetDeviceAvailability(ctx, d.MAC, 30)
		if after.BasisPoints != before.BasisPoints || after.KnownSeconds != before.KnownSeconds {
			t.Errorf("after the prune: %+v, before %+v", after, before)
		}
		// Again at the same bound: nothing to read.
		if n, err := st.PruneAvailability(sys, "n1", end.Add(-35*day)); err != nil || n != 0 {
			t.Errorf("again: %d %v", n, err)
		}
	})
}

// The recompute writes the stored figure, which the lists sort by; later
// runs read only the devices whose figure can have changed.
func TestAvailabilityRecomputeSortsTheLists(t *testing.T) {
	eachBackend(t, func(t *testing.T, st *store.Store) {
		tr := mustTree(t, st)
		end := time.Date(2031, 11, 10, 0, 0, 0, 0, time.UTC)
		day := 24 * time.Hour
		now := end.Add(-30 * day)
		st.SetClock(func() time.Time { return now })
		up := availDevice(t, st, tr.a1, "up")
		availDevice(t, st, tr.a1, "down") // never connected
		half := availDevice(t, st, tr.a1, "half")
		if err := st.DeviceConnected(sys, up.MAC, "n1", now, model.DeviceHello{}); err != nil {
			t.Fatal(err)
		}
		if err := st.DeviceConnected(sys, half.MAC, "n1", end.Add(-7*day), model.DeviceHello{}); err != nil {
			t.Fatal(err)
		}
		if err := st.DeviceDisconnected(sys, half.MAC, "n1", end.Add(-7*day), end.Add(-3*day-12*time.Hour)); err != nil {
			t.Fatal(err)
		}
		now = end
		ctx := as(tr.subA1)
		order := func(dir string) []string {
			t.Helper()
			l, err := st.ListDevices(ctx, model.DeviceFilter{Scope: model.ProjectCommunity, Sort: "availability", Order: dir,
				Page: model.Page{Page: 1, PerPage: 50}})
			if err != nil {
				t.Fatal(err)
			}
			var out []string
			for _, r := range l.Items {
				if r.ProjectID == tr.a1.project.ID && r.Name != "Gate inst-a1" {
					out = append(out, fmt.Sprintf("%s:%d", r.Name, r.Availability7d))
				}
			}
			return out
		}
		if got := fmt.Sprint(order("asc")); got != "[up:0 down:0 half:0]" {
			t.Errorf("before the recompute: %s", got)
		}
		if _, err := st.RecomputeAvailability(sys, "n1"); !errors.Is(err, store.ErrAvailabilityLeaseLost) {
			t.Errorf("recomputed without the lease: %v", err)
		}
		if ok, err := st.LeaseAvailability(sys, "n1", time.Minute); err != nil || !ok {
			t.Fatal(ok, err)
		}
		if ok, _ := st.LeaseAvailability(sys, "n2", time.Minute); ok {
			t.Error("two nodes hold the lease")
		}
		r, err := st.RecomputeAvailability(sys, "n1")
		if err != nil || r.Changed != 2 {
			t.Fatalf("recompute: %+v %v, want 2 changed (up, half)", r, err)
		}
		if got := fmt.Sprint(order("asc")); got != "[down:0 half:5000 up:10000]" {
			t.Errorf("ascending: %s", got)
		}
		if got := fmt.Sprint(order("desc")); got != "[up:10000 half:5000 down:0]" {
			t.Errorf("descending: %s", got)
		}
		// A device added after the run: its first row is read once.
		now = end.Add(time.Hour)
		availDevice(t, st, tr.a1, "fresh")
		// A day later only the devices with transitions in the last window
		// (since the previous run's window start) are read: half and the
		// new one; not up, whose connect 30 days ago is out of it.
		now = end.Add(day)
		if ok, err := st.LeaseAvailability(sys, "n1", time.Minute); err != nil || !ok {
			t.Fatal(ok, err)
		}
		r, err = st.RecomputeAvailability(sys, "n1")
		if err != nil {
			t.Fatal(err)
		}
		if r.Changed != 1 || r.Devices != 2 {
			t.Errorf("a day later: %+v, want half and fresh read, half changed", r)
		}
		// Another run: fresh's first row is in the window, but old news.
		now = end.Add(day + time.Hour)
		if ok, err := st.LeaseAvailability(sys, "n1", time.Minute); err != nil || !ok {
			t.Fatal(ok, err)
		}
		if r, err = st.RecomputeAvailability(sys, "n1"); err != nil || r.Devices != 1 {
			t.Errorf("the next run: %+v %v, want half alone read", r, err)
		}
		if got := fmt.Sprint(order("asc")); got != "[down:0 fresh:0 half:3511 up:10000]" { // half: 59 of 168 hours
			t.Errorf("a day later: %s", got)
		}
		if err := st.FreeAvailabilityLease(sys, "n1"); err != nil {
			t.Fatal(err)
		}
		if ok, _ := st.LeaseAvailability(sys, "n2", time.Minute); !ok {
			t.Error("the freed lease is not taken")
		}
	})
}

// availStored reads the stored 7-day figure of device id.
func availStored(t *testing.T, st *store.Store, id int64) int {
	t.Helper()
	var n int
	if err := st.DB().QueryRow(fmt.Sprintf(`SELECT availability_7d FROM devices WHERE id = %d`, id)).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// The times of the transitions come from the nodes that made the changes:
// a reconnect recorded on a node whose clock is a second behind, after the
// drop another node recorded, is still the history's last (the device is
// online), for the strip and the stored figure. The same order arises
// without skew when the reconnect took its time before the drop committed.
func TestAvailabilityLaterChangeWinsOverSkewedClocks(t *testing.T) {
	eachBackend(t, func(t *testing.T, st *store.Store) {
		tr := mustTree(t, st)
		t0 := time.Date(2031, 4, 7, 0, 0, 0, 0, time.UTC)
		now := t0
		st.SetClock(func() time.Time { return now })
		d := availDevice(t, st, tr.a1, "skewed")
		must := func(err error) {
			t.Helper()
			if err != nil {
				t.Fatal(err)
			}
		}
		must(st.DeviceConnected(sys, d.MAC, "nA", t0.Add(1*time.Hour), model.DeviceHello{}))
		must(st.DeviceDisconnected(sys, d.MAC, "nA", t0.Add(1*time.Hour), t0.Add(3*time.Hour)))
		must(st.DeviceConnected(sys, d.MAC, "nB", t0.Add(3*time.Hour-time.Second), model.DeviceHello{}))
		got, err := st.GetDevice(as(tr.subA1), d.MAC)
		if err != nil || !got.Online {
			t.Fatalf("the device: %+v %v, want online", got, err)
		}
		now = t0.Add(10 * time.Hour)
		a, err := st.GetDeviceAvailability(as(tr.subA1), d.MAC, 1)
		if err != nil {
			t.Fatal(err)
		}
		// Known 10 h, online from 1 h on: 9 of 10 hours.
		if a.BasisPoints != 9000 || a.OnlineSeconds != 9*3600 {
			t.Errorf("availability: %+v, want 9 of 10 hours online", a)
		}
		if n := len(a.Spans); n == 0 || !a.Spans[n-1].Known || !a.Spans[n-1].Online {
			t.Errorf("the last span is not online: %+v", a.Spans)
		}
		if len(a.Recent) == 0 || !a.Recent[0].Online {
			t.Errorf("the latest transition is not online: %+v", a.Recent)
		}
		if ok, err := st.LeaseAvailability(sys, "n1", time.Minute); err != nil || !ok {
			t.Fatal(ok, err)
		}
		if _, err := st.RecomputeAvailability(sys, "n1"); err != nil {
			t.Fatal(err)
		}
		if v := availStored(t, st, d.ID); v != 9000 {
			t.Errorf("stored figure %d, want 9000", v)
		}
		// Later, offline and back on in order: recorded as usual.
		must(st.DeviceDisconnected(sys, d.MAC, "nB", t0.Add(3*time.Hour-time.Second), t0.Add(11*time.Hour)))
		must(st.DeviceConnected(sys, d.MAC, "nA", t0.Add(12*time.Hour), model.DeviceHello{}))
		now = t0.Add(14 * time.Hour)
		a, _ = st.GetDeviceAvailability(as(tr.subA1), d.MAC, 1)
		if a.OnlineSeconds != 12*3600 || a.KnownSeconds != 14*3600 {
			t.Errorf("after an ordered drop and reconnect: %+v, want 12 of 14 hours", a)
		}
	})
}

// The recompute reads of a device with 30 days of history only what its
// 7-day figure needs: the transitions within the window and the last one
// before it (its state at the window's start), and gets the figure the
// device's page shows.
func TestAvailabilityRecomputeReadsTheWindowOnly(t *testing.T) {
	eachBackend(t, func(t *testing.T, st *store.Store) {
		tr := mustTree(t, st)
		start := time.Date(2031, 7, 1, 0, 0, 0, 0, time.UTC)
		now := start
		st.SetClock(func() time.Time { return now })
		d := availDevice(t, st, tr.a1, "thirty days")
		// Every 8 hours for 30 days: online 5 hours, then offline.
		for k := 0; k < 90; k++ {
			c := start.Add(time.Hour + time.Duration(k)*8*time.Hour)
			if err := st.DeviceConnected(sys, d.MAC, "n1", c, model.DeviceHello{}); err != nil {
				t.Fatal(err)
			}
			if err := st.DeviceDisconnected(sys, d.MAC, "n1", c, c.Add(5*time.Hour)); err != nil {
				t.Fatal(err)
			}
		}
		if n := availRows(t, st, d.ID); n != 181 {
			t.Fatalf("%d rows, want 181 (added, 90 connects and drops)", n)
		}
		end := start.Add(721*time.Hour + 30*time.Minute)
		now = end
		from := end.Add(-model.AvailabilityWindow) // 553.5 h: within cycle 69 (553–558 h online)
		pts, err := store.AvailabilityPointsOf(sys, st, []int64{d.ID}, from)
		if err != nil {
			t.Fatal(err)
		}
		// The drop of cycle 69 and cycles 70–89 (41), and the connect of
		// cycle 69 before the window's start.
		if got := pts[d.ID]; len(got) != 42 || !got[0].At.Equal(start.Add(553*time.Hour)) || !got[0].Online {
			t.Errorf("the recompute read %d rows (%v), want 42 from the connect at 553 h", len(got), got)
		}
		if ok, err := st.LeaseAvailability(sys, "n1", time.Minute); err != nil || !ok {
			t.Fatal(ok, err)
		}
		if _, err := st.RecomputeAvailability(sys, "n1"); err != nil {
			t.Fatal(err)
		}
		// Online 4.5 h of cycle 69 and 5 h of each of the 20 after: 104.5
		// of 168 hours.
		a, err := st.GetDeviceAvailability(as(tr.subA1), d.MAC, 7)
		if err != nil || a.BasisPoints != 6220 {
			t.Fatalf("the page's figure: %+v %v, want 6220", a, err)
		}
		if v := availStored(t, st, d.ID); v != 6220 {
			t.Errorf("stored figure %d, want 6220", v)
		}
	})
}

// Flapping between two nodes whose clocks disagree stays bounded (12 rows
// an hour) and ends in the device's state: the clamp of a change's time to
// the latest row keeps the cap working (a guard for the triggers' cap,
// which already merged such changes before the clamp).
func TestAvailabilitySkewedFlappingStaysBounded(t *testing.T) {
	eachBackend(t, func(t *testing.T, st *store.Store) {
		tr := mustTree(t, st)
		t0 := time.Date(2031, 5, 3, 0, 0, 0, 0, time.UTC)
		now := t0
		st.SetClock(func() time.Time { return now })
		d := availDevice(t, st, tr.a1, "skewed flapping")
		c, node := t0.Add(time.Minute), "nA"
		for i := 0; i < 100; i++ {
			if err := st.DeviceConnected(sys, d.MAC, node, c, model.DeviceHello{}); err != nil {
				t.Fatal(err)
			}
			if err := st.DeviceDisconnected(sys, d.MAC, node, c, c.Add(2*time.Second)); err != nil {
				t.Fatal(err)
			}
			// The next connect, on the other node, a second before the drop
			// on half of the turns.
			if i%2 == 0 {
				c, node = c.Add(time.Second), "nB"
			} else {
				c, node = c.Add(3*time.Second), "nA"
			}
		}
		// The last connect, on nB, a second before the last drop on nA.
		if err := st.DeviceConnected(sys, d.MAC, "nB", c.Add(-2*time.Second), model.DeviceHello{}); err != nil {
			t.Fatal(err)
		}
		if n := availRows(t, st, d.ID); n > 12 {
			t.Errorf("%d rows within an hour, want at most 12", n)
		}
		now = t0.Add(2 * time.Hour)
		a, err := st.GetDeviceAvailability(as(tr.subA1), d.MAC, 1)
		if err != nil {
			t.Fatal(err)
		}
		if n := len(a.Spans); n == 0 || !a.Spans[n-1].Online || len(a.Recent) == 0 || !a.Recent[0].Online {
			t.Errorf("the history does not end online: %+v", a)
		}
	})
}
