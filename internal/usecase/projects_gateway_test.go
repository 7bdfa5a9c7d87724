package usecase

import (
	"slices"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/model"
)

// TestProjectDeletionDisconnectsItsDevices: deleting a project deletes its
// devices, and their connections must end as when a device or its installer
// is deleted (a deleted device must not stay connected); a refused deletion
// tells nobody.
func TestProjectDeletionDisconnectsItsDevices(t *testing.T) {
	forEachBackend(t, func(t *testing.T, backend string) {
		var nodes deviceNodes
		tc := newTestCases(t, backend, withDeviceGateway(t, &nodes))
		tr := newDeviceTree(t, tc.store)
		more := deviceMore(t, tc.store, tr.own, 2)

		if _, err := tc.DeleteProject(deviceAs(tr.own.installer), tr.other.project.ID); model.ErrorCode(err) != model.ENOTFOUND {
			t.Fatalf("another installer's project: %v, want not found", err)
		}
		nodes.none(t, "foreign project")

		gone, err := tc.DeleteProject(deviceAs(tr.own.installer), tr.own.project.ID)
		if err != nil {
			t.Fatal(err)
		}
		if gone.Devices != 3 {
			t.Errorf("%d devices deleted, want 3", gone.Devices)
		}
		var told []string
		for _, macs := range nodes.take(deviceSubjectDeleted) {
			told = append(told, macs...)
		}
		want := append([]string{tr.own.device.MAC}, more...)
		slices.Sort(told)
		slices.Sort(want)
		if !slices.Equal(told, want) {
			t.Errorf("the nodes were told deleted %v, want %v", told, want)
		}
	})
}
