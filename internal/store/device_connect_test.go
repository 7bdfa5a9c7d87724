package store_test

import (
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/model"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// The guide's remote maintenance sets a device's data transmission type:
// stored per device, it overrides the installer's Connect Type in the
// device's AutoP file, is audited, and is scoped like the device.
func TestDeviceConnectType(t *testing.T) {
	eachBackend(t, func(t *testing.T, st *store.Store) {
		tr := mustTree(t, st)
		inst, mac := tr.a1.installer, tr.a1.device.MAC
		ctx := as(tr.subA1)
		tls := "tls"
		if _, err := st.UpdateInstaller(ctx, inst.ID, model.InstallerPatch{ConnectType: &tls}); err != nil {
			t.Fatal(err)
		}
		file := func() string {
			t.Helper()
			f, err := st.AutoPPreview(ctx, mac)
			if err != nil {
				t.Fatal(err)
			}
			return string(f.Body)
		}
		if !strings.Contains(file(), "Config.Account1.SIP.TransType = 2\n") {
			t.Fatalf("installer's tls: %s", file())
		}
		a, err := st.SetDeviceConnectType(ctx, mac, "udp")
		if err != nil {
			t.Fatal(err)
		}
		if a.ConnectType != "udp" {
			t.Errorf("answered %+v", a)
		}
		if got, _ := st.GetDeviceAutoP(ctx, mac); got.ConnectType != "udp" {
			t.Errorf("stored %+v", got)
		}
		if f := file(); !strings.Contains(f, "Config.Account1.SIP.TransType = 0\n") || strings.Count(f, "TransType") != 1 {
			t.Errorf("device's udp over the installer's tls: %s", f)
		}
		// The installer's change does not override the device's own.
		tcp := "tcp"
		if _, err := st.UpdateInstaller(ctx, inst.ID, model.InstallerPatch{ConnectType: &tcp}); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(file(), "TransType = 0\n") {
			t.Errorf("after the installer's change: %s", file())
		}
		// "default" (or empty) goes back to the installer's.
		if _, err := st.SetDeviceConnectType(as(inst), mac, "default"); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(file(), "TransType = 1\n") {
			t.Errorf("back to the installer's tcp: %s", file())
		}
		// Bad input names the field; nothing changes.
		if _, err := st.SetDeviceConnectType(ctx, mac, "sctp"); model.ErrorCode(err) != model.EINVALID || model.ErrorFields(err)["connect_type"] == "" {
			t.Errorf("bad type: %v", err)
		}
		// Another subtree: not found.
		if _, err := st.SetDeviceConnectType(as(tr.subB), mac, "udp"); model.ErrorCode(err) != model.ENOTFOUND {
			t.Errorf("foreign device: %v", err)
		}
		if !strings.Contains(file(), "TransType = 1\n") {
			t.Errorf("a refused change changed the file: %s", file())
		}
		var n int
		if err := st.DB().QueryRow(`SELECT count(*) FROM audit_log WHERE action = 'device.connect_type' AND object_id = '` + mac + `'`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != 2 {
			t.Errorf("%d audit rows, want 2", n)
		}
	})
}

func init() { coveredElsewhere["SetDeviceConnectType"] = "TestDeviceConnectType" }
