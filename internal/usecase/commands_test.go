package usecase

import (
	"slices"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/model"
)

func TestCommandForAForeignDeviceIsNotFoundAndTellsNobody(t *testing.T) {
	forEachBackend(t, func(t *testing.T, backend string) {
		var nodes deviceNodes
		tc := newTestCases(t, backend, withDeviceGateway(t, &nodes))
		tr := newDeviceTree(t, tc.store)
		ctx := deviceAs(tr.own.sub)

		if _, err := tc.RebootDevice(ctx, tr.other.device.MAC); model.ErrorCode(err) != model.ENOTFOUND {
			t.Fatalf("reboot of a foreign device: %v, want not found", err)
		}
		if _, err := tc.ResetDevice(ctx, tr.other.device.MAC, model.ResetFactory); model.ErrorCode(err) != model.ENOTFOUND {
			t.Fatalf("reset of a foreign device: %v, want not found", err)
		}
		// The mode is checked as given (the store would lower-case it).
		if _, err := tc.ResetDevice(ctx, tr.own.device.MAC, "FACTORY"); model.ErrorCode(err) != model.EINVALID {
			t.Fatalf("reset mode FACTORY: %v, want invalid", err)
		}
		if n := deviceCount(t, tc.store, "device_commands"); n != 0 {
			t.Errorf("%d commands stored by refused requests", n)
		}
		nodes.none(t, "refused commands")

		reboot, err := tc.RebootDevice(ctx, "0c:11:05:00:00:01")
		if err != nil {
			t.Fatal(err)
		}
		reset, err := tc.ResetDevice(ctx, tr.own.device.MAC, model.ResetConfig)
		if err != nil {
			t.Fatal(err)
		}
		if reboot.Kind != model.CommandReboot || reset.Kind != model.CommandReset || reset.Mode != model.ResetConfig ||
			reboot.Status != model.CommandQueued || reboot.MAC != tr.own.device.MAC {
			t.Errorf("commands %+v %+v", reboot, reset)
		}
		stored, err := tc.store.ListCommands(ctx, tr.own.device.MAC, 10)
		if err != nil || len(stored) != 2 {
			t.Fatalf("stored %d commands (%v), want 2", len(stored), err)
		}
		want := [][]string{{tr.own.device.MAC}, {tr.own.device.MAC}}
		if got := nodes.take(deviceSubjectKick); !slices.EqualFunc(got, want, slices.Equal) {
			t.Errorf("kicked %v, want %v", got, want)
		}
	})
}
