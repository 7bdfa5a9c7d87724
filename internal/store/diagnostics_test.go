package store_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/model"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

var pingReq = model.DiagnosticRequest{Kind: model.DiagnosticPing, DiagnosticParams: model.DiagnosticParams{Host: "8.8.8.8", Count: 2}}

// doneDiagnostic makes a finished diagnostic of b's device, with a file.
func doneDiagnostic(t testing.TB, st *store.Store, b *branch) *model.Diagnostic {
	g, err := st.CreateDiagnostic(sys, b.device.MAC, pingReq, 1<<20)
	if err != nil {
		panic(err)
	}
	if ok, err := st.StartDiagnostic(sys, g.ID, "n1"); err != nil || !ok {
		panic(err)
	}
	if err := st.FinishDiagnostic(sys, g.ID, "", "ping.txt", "text/plain; charset=utf-8", []byte("PING 8.8.8.8\n")); err != nil {
		panic(err)
	}
	return g
}

func init() {
	tenancyCases = append(tenancyCases,
		tenancyCase{method: "CreateDiagnostic", call: func(st *store.Store, ctx context.Context, b *branch) error {
			g, err := st.CreateDiagnostic(ctx, b.device.MAC, pingReq, 1<<20)
			if err == nil { // finished at once: the device's two open places stay free
				st.StartDiagnostic(sys, g.ID, "n1")
				err = st.FinishDiagnostic(sys, g.ID, "test", "", "", nil)
			}
			return err
		}},
		tenancyCase{method: "ListDiagnostics", call: func(st *store.Store, ctx context.Context, b *branch) error {
			_, err := st.ListDiagnostics(ctx, b.device.MAC, 0)
			return err
		}},
		tenancyCase{method: "GetDiagnostic", call: func(st *store.Store, ctx context.Context, b *branch) error {
			_, err := st.GetDiagnostic(ctx, doneDiagnostic(nil2(), st, b).ID)
			return err
		}},
		tenancyCase{method: "OpenDiagnosticFile", call: func(st *store.Store, ctx context.Context, b *branch) error {
			_, _, err := st.OpenDiagnosticFile(ctx, doneDiagnostic(nil2(), st, b).ID)
			return err
		}},
	)
	for _, m := range []string{"DiagnosticsOpen", "QueuedDiagnostics", "QueuedDiagnosticDevices", "StartDiagnostic", "FinishDiagnostic"} {
		coveredElsewhere[m] = "system side: the gateway (TestDiagnosticsLifecycle)"
	}
	for _, m := range []string{"LeaseDiagnostics", "SweepDiagnostics", "FreeDiagnosticsLease"} {
		coveredElsewhere[m] = "system side: the sweeper (TestDiagnosticsSweep)"
	}
}

// A diagnostic from its request to its file: bounds per device and per
// account, the gateway's side (queued, started once, finished with its
// file and checksum), lists without files, the download audited.
func TestDiagnosticsLifecycle(t *testing.T) {
	eachBackend(t, func(t *testing.T, st *store.Store) {
		tr := mustTree(t, st)
		ctx := as(tr.subA1)
		mac := tr.a1.device.MAC
		if open, err := st.DiagnosticsOpen(sys); err != nil || open {
			t.Fatalf("open before any: %v %v", open, err)
		}
		bad := model.DiagnosticRequest{Kind: model.DiagnosticPing, DiagnosticParams: model.DiagnosticParams{Host: "a b;rm", Count: 2}}
		if _, err := st.CreateDiagnostic(ctx, mac, bad, 100); model.ErrorFields(err)["host"] == "" {
			t.Fatalf("bad host: %v", err)
		}
		g1, err := st.CreateDiagnostic(ctx, mac, pingReq, 1<<20)
		if err != nil {
			t.Fatal(err)
		}
		if g1.State != model.DiagnosticQueued || g1.RequestedBy != "sub-a1" || g1.MAC != mac {
			t.Fatalf("created: %+v", g1)
		}
		g2, err := st.CreateDiagnostic(ctx, mac, model.DiagnosticRequest{Kind: model.DiagnosticLog, DiagnosticParams: model.DiagnosticParams{Lines: 5}}, 1<<20)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := st.CreateDiagnostic(as(tr.a1.installer), mac, pingReq, 1<<20); model.ErrorCode(err) != model.ECONFLICT {
			t.Fatalf("a third open one: %v", err)
		}
		if open, err := st.DiagnosticsOpen(sys); err != nil || !open {
			t.Fatalf("open: %v %v", open, err)
		}
		q, err := st.QueuedDiagnostics(sys, tr.a1.device.ID, tr.b.device.ID)
		if err != nil || len(q) != 2 || q[0].ID != g1.ID || q[1].Params.Lines != 5 {
			t.Fatalf("queued: %+v %v", q, err)
		}
		if err := st.DeviceConnected(sys, mac, "n1", st.Now(), model.DeviceHello{}); err != nil {
			t.Fatal(err)
		}
		if macs, err := st.QueuedDiagnosticDevices(sys, "n1"); err != nil || len(macs) != 1 || macs[0] != mac {
			t.Fatalf("devices of n1: %v %v", macs, err)
		}
		if macs, err := st.QueuedDiagnosticDevices(sys, "n2"); err != nil || len(macs) != 0 {
			t.Fatalf("devices of n2: %v %v", macs, err)
		}
		if ok, err := st.StartDiagnostic(sys, g1.ID, "n1"); err != nil || !ok {
			t.Fatalf("start: %v %v", ok, err)
		}
		if ok, err := st.StartDiagnostic(sys, g1.ID, "n2"); err != nil || ok {
			t.Fatalf("started twice: %v %v", ok, err)
		}
		if _, _, err := st.OpenDiagnosticFile(ctx, g1.ID); model.ErrorCode(err) != model.ECONFLICT {
			t.Fatalf("file while running: %v", err)
		}
		data := bytes.Repeat([]byte("64 bytes from 8.8.8.8\n"), 100)
		if err := st.FinishDiagnostic(sys, g1.ID, "", "ping.txt", "text/plain; charset=utf-8", data); err != nil {
			t.Fatal(err)
		}
		if err := st.FinishDiagnostic(sys, g1.ID, "", "ping.txt", "text/plain; charset=utf-8", data); err == nil {
			t.Fatal("finished twice")
		}
		st.StartDiagnostic(sys, g2.ID, "n1")
		if err := st.FinishDiagnostic(sys, g2.ID, "the device went silent", "", "", nil); err != nil {
			t.Fatal(err)
		}
		list, err := st.ListDiagnostics(as(tr.a1.installer), mac, 0)
		if err != nil || len(list) != 2 || list[0].ID != g2.ID || list[0].State != model.DiagnosticFailed || list[0].Error != "the device went silent" {
			t.Fatalf("list: %+v %v", list, err)
		}
		sum := sha256.Sum256(data)
		g, got, err := st.OpenDiagnosticFile(ctx, g1.ID)
		if err != nil || !bytes.Equal(got, data) || g.Size != int64(len(data)) || g.SHA256 != hex.EncodeToString(sum[:]) || g.FileName != "ping.txt" || g.Started == nil || g.Finished == nil {
			t.Fatalf("file: %+v %d %v", g, len(got), err)
		}
		if _, _, err := st.OpenDiagnosticFile(ctx, g2.ID); model.ErrorCode(err) != model.ECONFLICT {
			t.Fatalf("file of a failed one: %v", err)
		}
		if _, err := st.GetDiagnostic(as(tr.subB), g1.ID); model.ErrorCode(err) != model.ENOTFOUND {
			t.Fatalf("foreign: %v", err)
		}
		var n int
		if err := st.DB().QueryRow(`SELECT count(*) FROM audit_log WHERE action IN ('device.diagnose','device.diagnostic_download') AND object_id = '` + mac + `'`).Scan(&n); err != nil || n != 3 {
			t.Fatalf("audit rows: %d %v", n, err)
		}
		// Per account: at most DiagnosticsAccountOpenMax open.
		for i := 0; ; i++ {
			var dev *model.Device
			dev = &model.Device{MAC: "0C1105DD" + strings.ToUpper(hex.EncodeToString([]byte{byte(nextSeq() % 256), byte(i)})), ProjectID: tr.a1.project.ID, Type: model.IndoorMonitor}
			if err := st.CreateDevice(as(tr.a1.installer), dev); err != nil {
				t.Fatal(err)
			}
			_, err := st.CreateDiagnostic(as(tr.a1.installer), dev.MAC, pingReq, 100)
			if i < model.DiagnosticsAccountOpenMax && err != nil {
				t.Fatalf("open %d: %v", i, err)
			}
			if i == model.DiagnosticsAccountOpenMax {
				if model.ErrorCode(err) != model.ECONFLICT {
					t.Fatalf("over the account's bound: %v", err)
				}
				break
			}
		}
	})
}

// The sweeper: queued past expiry → expired, running too long → failed,
// older than the retention → deleted with the file; the lease is one
// node's at a time.
func TestDiagnosticsSweep(t *testing.T) {
	eachBackend(t, func(t *testing.T, st *store.Store) {
		tr := mustTree(t, st)
		if ok, err := st.LeaseDiagnostics(sys, "n1", time.Minute); err != nil || !ok {
			t.Fatalf("lease: %v %v", ok, err)
		}
		if ok, err := st.LeaseDiagnostics(sys, "n2", time.Minute); err != nil || ok {
			t.Fatalf("lease taken by another node: %v %v", ok, err)
		}
		// Given up (a node shutting down), another node takes it at once;
		// giving up a lease one does not hold changes nothing.
		if err := st.FreeDiagnosticsLease(sys, "n1"); err != nil {
			t.Fatal(err)
		}
		if ok, err := st.LeaseDiagnostics(sys, "n2", time.Minute); err != nil || !ok {
			t.Fatalf("lease after it was given up: %v %v", ok, err)
		}
		if err := st.FreeDiagnosticsLease(sys, "n1"); err != nil {
			t.Fatal(err)
		}
		if ok, err := st.LeaseDiagnostics(sys, "n1", time.Minute); err != nil || ok {
			t.Fatalf("a node freed another's lease: %v %v", ok, err)
		}
		if err := st.FreeDiagnosticsLease(sys, "n2"); err != nil {
			t.Fatal(err)
		}
		if ok, err := st.LeaseDiagnostics(sys, "n1", time.Minute); err != nil || !ok {
			t.Fatalf("lease back to n1: %v %v", ok, err)
		}
		done := doneDiagnostic(t, st, tr.a1)
		queued, err := st.CreateDiagnostic(sys, tr.a2.device.MAC, pingReq, 100)
		if err != nil {
			t.Fatal(err)
		}
		running, _ := st.CreateDiagnostic(sys, tr.b.device.MAC, pingReq, 100)
		st.StartDiagnostic(sys, running.ID, "n1")
		base := time.Now().UTC()
		st.SetClock(func() time.Time { return base.Add(store.DiagnosticWait + time.Second) })
		r, err := st.SweepDiagnostics(sys, base.Add(-time.Hour), base.Add(-time.Hour), 10)
		if err != nil || r.Expired != 1 || r.Failed != 0 || r.Deleted != 0 {
			t.Fatalf("first sweep: %+v %v", r, err)
		}
		if g, _ := st.GetDiagnostic(sys, queued.ID); g.State != model.DiagnosticExpired {
			t.Fatalf("queued: %+v", g)
		}
		r, err = st.SweepDiagnostics(sys, base.Add(time.Hour), base.Add(time.Hour), 10)
		if err != nil || r.Failed != 1 || r.Deleted != 3 {
			t.Fatalf("second sweep: %+v %v", r, err)
		}
		if _, err := st.GetDiagnostic(sys, done.ID); model.ErrorCode(err) != model.ENOTFOUND {
			t.Fatalf("deleted: %v", err)
		}
		var files int
		if err := st.DB().QueryRow(`SELECT count(*) FROM device_diagnostic_files`).Scan(&files); err != nil || files != 0 {
			t.Fatalf("files left: %d %v", files, err)
		}
	})
}

// Finished diagnostics count too: a loop of requests answered at once
// (each storing a file of up to the cap, kept for days) stops at the
// hourly bound of the device, and of the account across its devices; an
// hour later the device takes requests again.
func TestDiagnosticsHourlyBound(t *testing.T) {
	eachBackend(t, func(t *testing.T, st *store.Store) {
		tr := mustTree(t, st)
		now := time.Now().UTC()
		st.SetClock(func() time.Time { return now })
		ctx := as(tr.distA) // a1 and a2 are both in its tree
		ask := func(mac string) error {
			g, err := st.CreateDiagnostic(ctx, mac, pingReq, 1<<20)
			if err == nil {
				st.StartDiagnostic(sys, g.ID, "n1")
				if err := st.FinishDiagnostic(sys, g.ID, "", "ping.txt", "text/plain; charset=utf-8", bytes.Repeat([]byte("x"), 1000)); err != nil {
					t.Fatal(err)
				}
			}
			return err
		}
		for i := range model.DiagnosticsDeviceHourMax {
			if err := ask(tr.a1.device.MAC); err != nil {
				t.Fatalf("request %d: %v", i+1, err)
			}
		}
		if err := ask(tr.a1.device.MAC); model.ErrorCode(err) != model.ETOOMANY {
			t.Fatalf("request %d of a device in an hour: %v", model.DiagnosticsDeviceHourMax+1, err)
		}
		// Another device of the same account still takes requests...
		if err := ask(tr.a2.device.MAC); err != nil {
			t.Fatalf("another device: %v", err)
		}
		// ...until the account's own bound, whatever the device.
		sqlExec(t, st, `UPDATE device_diagnostics SET requested_by = (SELECT requested_by FROM device_diagnostics WHERE requested_by IS NOT NULL LIMIT 1)`)
		sqlExec(t, st, `INSERT INTO device_diagnostics (device_id, kind, params, state, requested_by, created_at, expires_at, max_bytes)
			SELECT device_id, kind, params, 'done', requested_by, created_at, expires_at, max_bytes FROM device_diagnostics`)
		for sqlCount(t, st, `SELECT count(*) FROM device_diagnostics`) < model.DiagnosticsAccountHourMax {
			sqlExec(t, st, `INSERT INTO device_diagnostics (device_id, kind, params, state, requested_by, created_at, expires_at, max_bytes)
				SELECT device_id, kind, params, 'done', requested_by, created_at, expires_at, max_bytes FROM device_diagnostics`)
		}
		sqlExec(t, st, `DELETE FROM device_diagnostics WHERE device_id = (SELECT id FROM devices WHERE mac = ?)`, tr.a2.device.MAC)
		if err := ask(tr.a2.device.MAC); model.ErrorCode(err) != model.ETOOMANY {
			t.Fatalf("past the account's hourly bound: %v", err)
		}
		now = now.Add(time.Hour + time.Second)
		if err := ask(tr.a1.device.MAC); err != nil {
			t.Fatalf("an hour later: %v", err)
		}
	})
}
