package usecase

import (
	"slices"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/model"
)

func TestDeviceDeleteTellsTheNodesOnlyWhatWasDeleted(t *testing.T) {
	forEachBackend(t, func(t *testing.T, backend string) {
		var nodes deviceNodes
		tc := newTestCases(t, backend, withDeviceGateway(t, &nodes))
		tr := newDeviceTree(t, tc.store)
		ctx := deviceAs(tr.own.sub)

		// Another sub-distributor's device: not found, nobody told.
		if err := tc.DeleteDevice(ctx, tr.other.device.MAC); model.ErrorCode(err) != model.ENOTFOUND {
			t.Fatalf("foreign device: %v, want not found", err)
		}
		nodes.none(t, "foreign device")
		if _, err := tc.store.GetDevice(deviceAs(tr.other.sub), tr.other.device.MAC); err != nil {
			t.Fatalf("the foreign device is gone: %v", err)
		}

		if err := tc.DeleteDevice(ctx, "0c:11:05:00:00:01"); err != nil {
			t.Fatal(err)
		}
		if got := nodes.take(deviceSubjectDeleted); !slices.EqualFunc(got, [][]string{{tr.own.device.MAC}}, slices.Equal) {
			t.Errorf("told deleted %v, want [[%s]]", got, tr.own.device.MAC)
		}
	})
}

func TestDeviceBatchDeleteIsAllOrNone(t *testing.T) {
	forEachBackend(t, func(t *testing.T, backend string) {
		var nodes deviceNodes
		tc := newTestCases(t, backend, withDeviceGateway(t, &nodes))
		tr := newDeviceTree(t, tc.store)
		ctx := deviceAs(tr.own.sub)
		macs := deviceMore(t, tc.store, tr.own, 3)
		before := deviceCount(t, tc.store, "devices")

		// One foreign MAC refuses the batch: nothing deleted, nobody told.
		_, err := tc.DeleteDevices(ctx, append(slices.Clone(macs), tr.other.device.MAC))
		if model.ErrorCode(err) != model.ENOTFOUND {
			t.Fatalf("batch with a foreign device: %v, want not found", err)
		}
		if n := deviceCount(t, tc.store, "devices"); n != before {
			t.Errorf("%d devices after a refused batch, want %d", n, before)
		}
		nodes.none(t, "refused batch")

		// Any notation, a MAC twice: each deleted once, answered normalised.
		given := []string{macs[0], "0c:ab:" + macs[1][4:6] + ":" + macs[1][6:8] + ":" + macs[1][8:10] + ":" + macs[1][10:], macs[2], macs[0]}
		deleted, err := tc.DeleteDevices(ctx, given)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(deleted, macs) {
			t.Errorf("deleted %v, want %v", deleted, macs)
		}
		if got := nodes.take(deviceSubjectDeleted); !slices.EqualFunc(got, [][]string{macs}, slices.Equal) {
			t.Errorf("told deleted %v, want [%v]", got, macs)
		}
		if n := deviceCount(t, tc.store, "devices"); n != before-3 {
			t.Errorf("%d devices, want %d", n, before-3)
		}
	})
}
