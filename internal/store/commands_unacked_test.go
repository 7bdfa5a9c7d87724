package store_test

import (
	"slices"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/model"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

func init() {
	coveredElsewhere["UnackedCommandDevices"] = "system only: the device gateway (TestUnackedCommandDevices)"
}

// UnackedCommandDevices: the devices online on a node with a command sent
// before the bound and not acknowledged — what the gateway's sweep sends
// again — and no other.
func TestUnackedCommandDevices(t *testing.T) {
	eachBackend(t, func(t *testing.T, st *store.Store) {
		tr := mustTree(t, st)
		now := time.Now().UTC().Truncate(time.Millisecond)
		st.SetClock(func() time.Time { return now })
		mac, other := tr.b.device.MAC, tr.a1.device.MAC
		for _, m := range []string{mac, other} {
			if err := st.DeviceConnected(sys, m, "node-a", now, model.DeviceHello{}); err != nil {
				t.Fatal(err)
			}
		}
		c, err := st.CreateCommand(as(tr.subB), mac, model.CommandReboot, "")
		if err != nil {
			t.Fatal(err)
		}
		queued, _ := st.CreateCommand(as(tr.subA1), other, model.CommandReboot, "") // queued, never sent
		unacked := func(node string, before time.Time) []string {
			t.Helper()
			macs, err := st.UnackedCommandDevices(sys, node, before)
			if err != nil {
				t.Fatal(err)
			}
			return macs
		}
		if got := unacked("node-a", now.Add(time.Hour)); len(got) != 0 {
			t.Errorf("nothing sent yet: %v", got)
		}
		if err := st.MarkCommandsSent(sys, c.ID); err != nil {
			t.Fatal(err)
		}
		if got := unacked("node-a", now); len(got) != 0 {
			t.Errorf("sent at the bound, not before: %v", got)
		}
		now = now.Add(time.Minute)
		if got := unacked("node-a", now.Add(-30*time.Second)); !slices.Equal(got, []string{mac}) {
			t.Errorf("sent a minute ago, not acknowledged: %v (queued %d is not)", got, queued.ID)
		}
		if got := unacked("node-b", now); len(got) != 0 {
			t.Errorf("another node's: %v", got)
		}
		if _, done, err := st.AckCommand(sys, tr.b.device.ID, c.ID, true, "", ""); err != nil || !done {
			t.Fatal(done, err)
		}
		if got := unacked("node-a", now); len(got) != 0 {
			t.Errorf("acknowledged: %v", got)
		}
	})
}
