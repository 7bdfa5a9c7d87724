package devicesim_test

import (
	"context"
	"io"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/demo"
	"github.com/gatehouse-dev/gatehouse/internal/devicesim"
	"github.com/gatehouse-dev/gatehouse/internal/testutil"
)

// TestSpreadMACs: `make run`'s 500 simulated devices reach every list of the
// demo accounts — community, office and personal devices of every installer
// of demo-subdistributor, demo-installer's of every type — not only the
// first 500 devices by id (which were all community devices).
func TestSpreadMACs(t *testing.T) {
	for _, b := range testutil.Backends(t) {
		t.Run(b, func(t *testing.T) {
			ctx := context.Background()
			st := testutil.NewStore(t, b)
			if _, err := demo.Load(ctx, st, demo.Options{Password: "demo-password"}, io.Discard); err != nil {
				t.Fatal(err)
			}
			macs, err := devicesim.SpreadMACs(ctx, st.DB(), 500)
			if err != nil {
				t.Fatal(err)
			}
			if len(macs) != 500 {
				t.Fatalf("%d MACs", len(macs))
			}
			chosen := map[string]bool{}
			for _, m := range macs {
				if chosen[m] {
					t.Fatalf("%s chosen twice", m)
				}
				chosen[m] = true
			}
			type key struct{ sub, inst, kind, typ string }
			rows, err := st.DB().QueryContext(ctx, `SELECT d.mac, s.username, a.username, d.project_kind, d.type FROM devices d
				JOIN accounts a ON a.id = d.installer_id JOIN accounts s ON s.id = a.parent_id`)
			if err != nil {
				t.Fatal(err)
			}
			lists := map[key]int{}    // (sub, installer, kind) → chosen devices
			types := map[string]int{} // demo-installer's kind/type → chosen devices
			installers := map[string]int{}
			for rows.Next() {
				var mac string
				var k key
				if err := rows.Scan(&mac, &k.sub, &k.inst, &k.kind, &k.typ); err != nil {
					t.Fatal(err)
				}
				typ := k.typ
				k.typ = ""
				if _, ok := lists[k]; !ok {
					lists[k] = 0
				}
				if _, ok := installers[k.inst]; !ok {
					installers[k.inst] = 0
				}
				if k.inst == demo.InstallerUser {
					if _, ok := types[k.kind+"/"+typ]; !ok {
						types[k.kind+"/"+typ] = 0
					}
				}
				if chosen[mac] {
					lists[k]++
					installers[k.inst]++
					if k.inst == demo.InstallerUser {
						types[k.kind+"/"+typ]++
					}
				}
			}
			if err := rows.Err(); err != nil {
				t.Fatal(err)
			}
			rows.Close()
			subLists := 0
			for k, n := range lists {
				if k.sub == demo.SubdistributorUser {
					subLists++
					if n < 2 {
						t.Errorf("%s's %s %s devices: %d simulated, want at least 2", k.sub, k.inst, k.kind, n)
					}
				}
			}
			if subLists != 20*3 {
				t.Errorf("demo-subdistributor has %d (installer, kind) lists, want 60", subLists)
			}
			for inst, n := range installers {
				if n == 0 {
					t.Errorf("installer %s has no simulated device", inst)
				}
			}
			if len(types) < 3+4+2-1 {
				t.Errorf("demo-installer's device kinds and types: %v", types)
			}
			for kt, n := range types {
				if n == 0 {
					t.Errorf("demo-installer: no simulated %s device (%v)", kt, types)
				}
			}
			// Deterministic, and 0 means every device.
			again, err := devicesim.SpreadMACs(ctx, st.DB(), 500)
			if err != nil || len(again) != 500 || again[0] != macs[0] || again[499] != macs[499] {
				t.Errorf("not deterministic: %v %d", err, len(again))
			}
			if all, err := devicesim.SpreadMACs(ctx, st.DB(), 0); err != nil || len(all) != 5000 {
				t.Errorf("all: %d, %v", len(all), err)
			}
		})
	}
}
