package store_test

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/model"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// TestDeviceListFirmwareFilter: the device lists' firmware filter finds
// exactly the devices on that version, within the caller's subtree, with
// the other filters (through the firmware index, or the other filter's).
func TestDeviceListFirmwareFilter(t *testing.T) {
	eachBackend(t, func(t *testing.T, st *store.Store) {
		fx := mustDevFixture(t, st)
		m := fx.commMACs // [gate, entrance, monitor, guard]; entrance is online
		h := fx.homeMACs
		set := func(version string, macs ...string) {
			for _, mac := range macs {
				if _, err := st.DB().Exec(rebind(st, `UPDATE devices SET firmware = ? WHERE mac = ?`), version, mac); err != nil {
					t.Fatal(err)
				}
			}
		}
		set("29.30.2.1", m[0], m[1], m[3], h[1])
		set("29.30.2.10", m[2])
		// Another branch's device on the same version stays out of sub-a1's list.
		set("29.30.2.1", fx.tr.a2.device.MAC)
		C, P := model.ProjectCommunity, model.ProjectPersonal
		yes, no := true, false
		sub, inst, admin := as(fx.tr.subA1), as(fx.inst), as(fx.tr.admin)
		check := func(how string) {
			cases := []struct {
				name string
				ctx  context.Context
				f    model.DeviceFilter
				want []string
			}{
				{"version", sub, model.DeviceFilter{Scope: C, Firmware: "29.30.2.1"}, []string{m[3], m[1], m[0]}},
				{"exact, not a prefix", sub, model.DeviceFilter{Scope: C, Firmware: "29.30.2"}, nil},
				{"the longer version", sub, model.DeviceFilter{Scope: C, Firmware: " 29.30.2.10 "}, []string{m[2]}},
				{"personal", sub, model.DeviceFilter{Scope: P, Firmware: "29.30.2.1"}, []string{h[1]}},
				{"online", sub, model.DeviceFilter{Scope: C, Firmware: "29.30.2.1", Online: &yes}, []string{m[1]}},
				{"offline", sub, model.DeviceFilter{Scope: C, Firmware: "29.30.2.1", Online: &no}, []string{m[3], m[0]}},
				{"and mac", sub, model.DeviceFilter{Scope: C, Firmware: "29.30.2.1", MAC: "A4B2"}, []string{m[1]}},
				{"and community", sub, model.DeviceFilter{Scope: C, Firmware: "29.30.2.1", Community: "riverside"}, []string{m[3]}},
				{"and sip", sub, model.DeviceFilter{Scope: C, Firmware: "29.30.2.1", SIP: "8801"}, []string{m[1]}},
				{"sorted by mac", sub, model.DeviceFilter{Scope: C, Firmware: "29.30.2.1", Sort: "mac"}, []string{m[0], m[1], m[3]}},
				{"installer", inst, model.DeviceFilter{Scope: C, Firmware: "29.30.2.1"}, []string{m[3], m[1], m[0]}},
				{"admin sees both branches", admin, model.DeviceFilter{Scope: C, Firmware: "29.30.2.1"},
					[]string{m[3], m[1], fx.tr.a2.device.MAC, m[0]}},
			}
			for _, c := range cases {
				got := macsOf(allDevices(t, st, c.ctx, c.f))
				if c.want == nil {
					c.want = []string{}
				}
				if !slices.Equal(got, c.want) {
					t.Errorf("%s, %s: got %v, want %v", how, c.name, got, c.want)
				}
			}
		}
		check("through the firmware index")
		// A version too long is refused naming the field.
		_, err := st.ListDevices(sub, model.DeviceFilter{Scope: C, Firmware: strings.Repeat("9", 65)})
		if model.ErrorFields(err)["firmware"] == "" {
			t.Errorf("a 65-character version: %v", err)
		}
	})
}
