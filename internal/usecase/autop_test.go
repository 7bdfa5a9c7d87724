package usecase

import (
	"slices"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/model"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

func TestAutoPBatchOverTheLimitWritesNothing(t *testing.T) {
	forEachBackend(t, func(t *testing.T, backend string) {
		var nodes deviceNodes
		tc := newTestCases(t, backend, withDeviceGateway(t, &nodes))
		tr := newDeviceTree(t, tc.store)
		ctx := deviceAs(tr.own.sub)
		macs := deviceMore(t, tc.store, tr.own, model.MaxAutoPBatch+1)
		req := store.AutoPBatchRequest{Scope: string(model.ProjectCommunity), Type: model.AutoPRegular,
			Commands: []string{"Config.Settings.GENERAL.Volume=5"}, MACs: macs}

		_, err := tc.CreateAutoPBatch(ctx, req)
		if model.ErrorCode(err) != model.EINVALID || model.ErrorFields(err)["macs"] == "" {
			t.Fatalf("501 devices: %v, want invalid macs", err)
		}
		for _, table := range []string{"autop_batches", "device_commands", "device_autop"} {
			if n := deviceCount(t, tc.store, table); n != 0 {
				t.Errorf("%s: %d rows after a refused batch", table, n)
			}
		}
		nodes.none(t, "refused batch")

		// A foreign device among 500 refuses them all.
		req.MACs = append(slices.Clone(macs[:model.MaxAutoPBatch-1]), tr.other.device.MAC)
		if _, err := tc.CreateAutoPBatch(ctx, req); model.ErrorCode(err) != model.ENOTFOUND {
			t.Fatalf("batch with a foreign device: %v, want not found", err)
		}
		for _, table := range []string{"autop_batches", "device_commands", "device_autop"} {
			if n := deviceCount(t, tc.store, table); n != 0 {
				t.Errorf("%s: %d rows after a refused batch", table, n)
			}
		}
		nodes.none(t, "batch with a foreign device")

		// 500: every device gets the commands and one command, in one batch;
		// the nodes are told once, of each device once.
		req.MACs = append(slices.Clone(macs[:model.MaxAutoPBatch]), macs[0])
		b, err := tc.CreateAutoPBatch(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		if b.Devices != model.MaxAutoPBatch {
			t.Errorf("batch of %d devices, want %d", b.Devices, model.MaxAutoPBatch)
		}
		if n := deviceCount(t, tc.store, "device_commands"); n != model.MaxAutoPBatch {
			t.Errorf("%d commands, want %d", n, model.MaxAutoPBatch)
		}
		if got := nodes.take(deviceSubjectKick); len(got) != 1 || !slices.Equal(got[0], macs[:model.MaxAutoPBatch]) {
			t.Errorf("kicked %d times (%d devices the first), want once, the 500 devices", len(got), len(slices.Concat(got...)))
		}
	})
}

func TestAutoPSaveTellsOnlyTheDeviceSaved(t *testing.T) {
	forEachBackend(t, func(t *testing.T, backend string) {
		var nodes deviceNodes
		tc := newTestCases(t, backend, withDeviceGateway(t, &nodes))
		tr := newDeviceTree(t, tc.store)
		ctx := deviceAs(tr.own.sub)
		cmds := []string{"Config.Settings.GENERAL.Volume=5"}

		if _, err := tc.SaveDeviceAutoP(ctx, tr.other.device.MAC, cmds, nil); model.ErrorCode(err) != model.ENOTFOUND {
			t.Fatalf("foreign device: %v, want not found", err)
		}
		if _, err := tc.SaveDeviceAutoP(ctx, tr.own.device.MAC, []string{"not a command"}, nil); model.ErrorCode(err) != model.EINVALID {
			t.Fatalf("a bad line: %v, want invalid", err)
		}
		if _, err := tc.SaveDeviceConnectType(ctx, tr.own.device.MAC, "carrier-pigeon"); model.ErrorCode(err) != model.EINVALID {
			t.Fatalf("a bad connect type: %v, want invalid", err)
		}
		nodes.none(t, "refused saves")

		saved, err := tc.SaveDeviceAutoP(ctx, "0c-11-05-00-00-01", append(cmds, cmds...), nil)
		if err != nil {
			t.Fatal(err)
		}
		if len(saved.Regular) != 1 || saved.MAC != tr.own.device.MAC {
			t.Errorf("saved %+v: want one command of %s", saved, tr.own.device.MAC)
		}
		if _, err := tc.SaveDeviceConnectType(ctx, tr.own.device.MAC, "tls"); err != nil {
			t.Fatal(err)
		}
		want := [][]string{{tr.own.device.MAC}, {tr.own.device.MAC}}
		if got := nodes.take(deviceSubjectKick); !slices.EqualFunc(got, want, slices.Equal) {
			t.Errorf("kicked %v, want %v", got, want)
		}
	})
}
