package web

import (
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/i18n"
	"github.com/gatehouse-dev/gatehouse/internal/model"
)

func TestRolloutTexts(t *testing.T) {
	en := i18n.For("en", "UTC")
	for _, c := range []struct {
		waves  []int
		canary bool
		want   string
	}{
		{nil, false, "no device to upgrade"},
		{[]int{10, 250, 250, 240}, true, "a canary of 10 devices, then 3 waves (250, 250, 240)"},
		{[]int{1}, true, "a canary of 1 device"},
		{[]int{500}, false, "1 wave (500)"},
		{[]int{1, 2, 2, 2, 2, 2, 2, 2, 1}, true, "a canary of 1 device, then 8 waves (2, 2, 2, 2, 2, 2, …)"},
	} {
		if got := planText(en, c.waves, c.canary); got != c.want {
			t.Errorf("planText(%v, %v) = %q, want %q", c.waves, c.canary, got, c.want)
		}
	}
	if waveLabel(en, 0, true) != "Canary" || waveLabel(en, 1, true) != "Wave 1" || waveLabel(en, 0, false) != "Wave 1" {
		t.Error("wave labels")
	}
	for sec, want := range map[int]string{30: "30 s", 60: "1 min", 3600: "1 h", 5400: "1 h 30 min", 604800: "168 h"} {
		if got := durationText(en, sec); got != want {
			t.Errorf("durationText(%d) = %q, want %q", sec, got, want)
		}
	}
	if byteSize(1536) != "1.5 KiB" || byteSize(0) != "-" || byteSize(3*1024*1024) != "3.0 MiB" {
		t.Error("byteSize")
	}
	if got := rolloutActions(model.RolloutDraft); len(got) != 2 || got[0] != "start" || got[1] != "cancel" {
		t.Errorf("draft actions %v", got)
	}
	if got := rolloutActions(model.RolloutDone); len(got) != 0 {
		t.Errorf("done actions %v", got)
	}
}

// TestRolloutFormReadsThePlan: the Upgrade form's fields become the
// rollout's input; bad numbers name their field.
func TestRolloutFormReadsThePlan(t *testing.T) {
	fw := &model.Firmware{ID: 7, Model: "R29", Version: "29.30.2.1"}
	_, in, err := rolloutForm(fw, map[string][]string{"canary": {"5"}, "canary_unit": {"percent"}, "wave": {"100"}, "wave_unit": {"devices"},
		"window_start": {"22:00"}, "window_end": {"04:00"}, "failure_threshold": {"20"}, "timeout": {"90"}, "online": {"true"},
		"scope": {"community"}, "current_version": {" 29.30.1.1 "}, "project_id": {"12"}})
	if err != nil {
		t.Fatal(err)
	}
	p := in.Plan
	if in.FirmwareID != 7 || in.Targets.Model != "R29" || p.CanaryPercent != 5 || p.CanaryCount != 0 || p.WaveSize != 100 ||
		p.WindowStart != "22:00" || p.WindowEnd != "04:00" || p.FailureThreshold != 20 || p.DeviceTimeout != 5400 ||
		in.Targets.Online == nil || !*in.Targets.Online || in.Targets.Scope != model.ProjectCommunity ||
		in.Targets.CurrentVersion != "29.30.1.1" || in.Targets.ProjectID != 12 {
		t.Errorf("input %+v", in)
	}
	_, _, err = rolloutForm(fw, map[string][]string{"canary": {"ten"}, "project_id": {"x"}, "online": {"maybe"}})
	f := model.ErrorFields(err)
	if f["canary"] == "" || f["project_id"] == "" || f["online"] == "" {
		t.Errorf("bad fields: %v", f)
	}
}
