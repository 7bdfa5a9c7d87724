package model

import (
	"net/url"
	"slices"
	"testing"
	"time"
)

func TestPlanWaves(t *testing.T) {
	cases := []struct {
		total int
		plan  RolloutPlan
		want  []int
	}{
		{1, RolloutPlan{}, []int{1}},
		{1, RolloutPlan{CanaryCount: 5, WaveSize: 10}, []int{1}},
		{1, RolloutPlan{CanaryPercent: 1, WavePercent: 10}, []int{1}},
		{10, RolloutPlan{CanaryCount: 2, WaveSize: 3}, []int{2, 3, 3, 2}},
		{10, RolloutPlan{CanaryPercent: 15, WavePercent: 50}, []int{2, 5, 3}}, // 1.5 → 2, 5
		{10, RolloutPlan{WavePercent: 33}, []int{4, 4, 2}},
		{10, RolloutPlan{CanaryCount: 10, WaveSize: 3}, []int{10}},
		{10000, RolloutPlan{CanaryPercent: 1, WavePercent: 25}, []int{100, 2500, 2500, 2500, 2400}},
		{10000, RolloutPlan{CanaryCount: 50, WaveSize: 1000}, append([]int{50}, append(slices.Repeat([]int{1000}, 9), 950)...)},
		{0, RolloutPlan{CanaryCount: 5}, nil},
	}
	for _, c := range cases {
		got := PlanWaves(c.total, c.plan)
		if !slices.Equal(got, c.want) {
			t.Errorf("PlanWaves(%d, %+v) = %v, want %v", c.total, c.plan, got, c.want)
		}
		sum := 0
		for _, n := range got {
			sum += n
		}
		if sum != c.total {
			t.Errorf("PlanWaves(%d, %+v) sums to %d", c.total, c.plan, sum)
		}
	}
}

func TestInWindow(t *testing.T) {
	at := func(h, m int) time.Time { return time.Date(2026, 12, 5, h, m, 0, 0, time.UTC) }
	cases := []struct {
		start, end string
		t          time.Time
		want       bool
	}{
		{"01:00", "05:00", at(0, 59), false},
		{"01:00", "05:00", at(1, 0), true},
		{"01:00", "05:00", at(4, 59), true},
		{"01:00", "05:00", at(5, 0), false},
		{"22:00", "04:00", at(23, 30), true},
		{"22:00", "04:00", at(3, 59), true},
		{"22:00", "04:00", at(4, 0), false},
		{"22:00", "04:00", at(12, 0), false},
		{"00:00", "24:00", at(12, 0), true},
		{"03:00", "03:00", at(12, 0), true},
	}
	for _, c := range cases {
		s, _ := ParseClock(c.start)
		e, _ := ParseClock(c.end)
		if got := InWindow(c.t, s, e); got != c.want {
			t.Errorf("InWindow(%s, %s–%s) = %v", c.t.Format("15:04"), c.start, c.end, got)
		}
	}
}

func TestRolloutInputValidation(t *testing.T) {
	in := RolloutInput{Plan: RolloutPlan{CanaryCount: 2, CanaryPercent: 5, WavePercent: 120, WindowStart: "25:00",
		WindowEnd: "1:00", FailureThreshold: -1, DeviceTimeout: 5}, Targets: RolloutTargets{Scope: "garage"}}
	fields := ErrorFields(in.Check())
	for _, f := range []string{"firmware_id", "plan.canary_percent", "plan.wave_percent", "plan.window_start", "plan.window_end",
		"plan.failure_threshold", "plan.device_timeout", "targets.scope"} {
		if fields[f] == "" {
			t.Errorf("no complaint about %s: %v", f, fields)
		}
	}
}

func TestRolloutTransition(t *testing.T) {
	allowed := map[RolloutStatus]map[string]RolloutStatus{
		RolloutDraft:    {RolloutStart: RolloutRunning, RolloutCancel: RolloutCanceled},
		RolloutRunning:  {RolloutPause: RolloutPaused, RolloutCancel: RolloutCanceled},
		RolloutPaused:   {RolloutResume: RolloutRunning, RolloutCancel: RolloutCanceled},
		RolloutCanceled: {},
		RolloutDone:     {},
	}
	for from, to := range allowed {
		for _, action := range []string{RolloutStart, RolloutPause, RolloutResume, RolloutCancel} {
			got, ok := RolloutTransition(from, action)
			want, wantOK := to[action]
			if ok != wantOK || (ok && got != want) {
				t.Errorf("%s from %s: %s %v, want %s %v", action, from, got, ok, want, wantOK)
			}
		}
	}
}

func TestParseRolloutDeviceFilter(t *testing.T) {
	var v Validator
	f := ParseRolloutDeviceFilter(url.Values{"mac": {"aa:bb"}, "state": {"failed"}, "wave": {"2"}, "error": {" checksum "}}, &v)
	if v.Err() != nil || f.MAC != "AABB" || f.State != UpgradeFailed || f.Wave == nil || *f.Wave != 2 || f.Error != "checksum" {
		t.Errorf("parsed %+v, %v", f, v.Err())
	}
	v = Validator{}
	ParseRolloutDeviceFilter(url.Values{"mac": {"xyz"}, "state": {"lost"}, "wave": {"-1"}}, &v)
	fields := ErrorFields(v.Err())
	for _, k := range []string{"mac", "state", "wave"} {
		if fields[k] == "" {
			t.Errorf("no complaint about %s: %v", k, fields)
		}
	}
}

// The end of the window occurrence a device's local time lies in: the
// release's deadline is capped by it (review M5).
func TestWindowEnd(t *testing.T) {
	tokyo, err := time.LoadLocation("Asia/Tokyo")
	if err != nil {
		t.Fatal(err)
	}
	at := func(d, h, m int) time.Time { return time.Date(2026, 12, d, h, m, 0, 0, tokyo) }
	cases := []struct {
		start, end string
		t, want    time.Time
		capped     bool
	}{
		{"01:00", "05:00", at(5, 4, 50), at(5, 5, 0), true},
		{"01:00", "05:00", at(5, 1, 0), at(5, 5, 0), true},
		{"22:00", "04:00", at(5, 23, 30), at(6, 4, 0), true}, // crosses midnight: tomorrow's 04:00
		{"22:00", "04:00", at(6, 3, 59), at(6, 4, 0), true},
		{"20:00", "24:00", at(5, 23, 0), at(6, 0, 0), true},
		{"00:00", "24:00", at(5, 12, 0), time.Time{}, false}, // all day: no end
		{"03:00", "03:00", at(5, 12, 0), time.Time{}, false},
	}
	for _, c := range cases {
		s, _ := ParseClock(c.start)
		e, _ := ParseClock(c.end)
		got, capped := WindowEnd(c.t, s, e)
		if capped != c.capped || !got.Equal(c.want) || (capped && got.Location() != tokyo) {
			t.Errorf("WindowEnd(%s, %s–%s) = %v %v, want %v %v", c.t.Format("02 15:04"), c.start, c.end, got, capped, c.want, c.capped)
		}
	}
}

// Plan numbers are bounded, naming the field: PostgreSQL's INTEGER columns
// answered a 500 for 3,000,000,000 (review L1).
func TestRolloutPlanBounds(t *testing.T) {
	for _, c := range []struct {
		field string
		plan  RolloutPlan
	}{
		{"plan.canary_count", RolloutPlan{CanaryCount: 3_000_000_000}},
		{"plan.wave_size", RolloutPlan{WaveSize: 3_000_000_000}},
		{"plan.canary_count", RolloutPlan{CanaryCount: MaxPlanDevices + 1}},
		{"plan.wave_size", RolloutPlan{WaveSize: MaxPlanDevices + 1}},
		{"plan.canary_percent", RolloutPlan{CanaryPercent: 101}},
		{"plan.wave_percent", RolloutPlan{WavePercent: -1}},
	} {
		in := RolloutInput{FirmwareID: 1, Plan: c.plan}
		if got := ErrorFields(in.Check()); got[c.field] == "" {
			t.Errorf("%+v: no complaint about %s: %v", c.plan, c.field, got)
		}
	}
	in := RolloutInput{FirmwareID: 1, Plan: RolloutPlan{CanaryCount: MaxPlanDevices, WaveSize: MaxPlanDevices}}
	if err := in.Check(); err != nil {
		t.Errorf("the bounds themselves: %v", err)
	}
}

// A draft's upgrade holds no device and is not over either.
func TestUpgradeDraftState(t *testing.T) {
	if UpgradeDraft.Open() || UpgradeDraft.Ended() || !UpgradeDraft.Valid() || UpgradeStates[0] != UpgradeDraft {
		t.Errorf("draft: open %v, ended %v, valid %v", UpgradeDraft.Open(), UpgradeDraft.Ended(), UpgradeDraft.Valid())
	}
	for _, s := range UpgradeStates[1:] {
		if s.Open() == s.Ended() {
			t.Errorf("%s: open %v, ended %v", s, s.Open(), s.Ended())
		}
	}
}
