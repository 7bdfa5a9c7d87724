package store_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/autop"
	"github.com/gatehouse-dev/gatehouse/internal/model"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

func init() {
	tenancyCases = append(tenancyCases,
		tenancyCase{method: "GetDeviceAutoP", call: func(st *store.Store, ctx context.Context, b *branch) error {
			_, err := st.GetDeviceAutoP(ctx, strings.ToLower(b.device.MAC))
			return err
		}},
		tenancyCase{method: "SetDeviceAutoP", call: func(st *store.Store, ctx context.Context, b *branch) error {
			_, err := st.SetDeviceAutoP(ctx, b.device.MAC, []string{fmt.Sprintf("Config.Test.TENANCY.Seq = %d", nextSeq())}, nil)
			return err
		}},
		tenancyCase{method: "AutoPPreview", call: func(st *store.Store, ctx context.Context, b *branch) error {
			_, err := st.AutoPPreview(ctx, dashed(b.device.MAC))
			return err
		}},
		tenancyCase{method: "CreateAutoPBatch", call: func(st *store.Store, ctx context.Context, b *branch) error {
			_, err := st.CreateAutoPBatch(ctx, store.AutoPBatchRequest{Scope: "community", Type: "regular",
				Commands: []string{"Config.Test.TENANCY.Batch = 1"}, MACs: []string{b.device.MAC}})
			return err
		}},
		// A batch is read by the subtree of the account that sent it: here
		// the branch's installer.
		tenancyCase{method: "GetAutoPBatch", call: func(st *store.Store, ctx context.Context, b *branch) error {
			batch, err := st.CreateAutoPBatch(as(b.installer), store.AutoPBatchRequest{Scope: "community", Type: "once",
				Commands: []string{"Config.Test.TENANCY.Read = 1"}, MACs: []string{b.device.MAC}})
			if err != nil {
				return fmt.Errorf("setup: %w", err)
			}
			got, err := st.GetAutoPBatch(ctx, batch.ID)
			if err == nil && (len(got.Items) != 1 || got.Items[0].MAC != b.device.MAC) {
				return fmt.Errorf("items %+v", got.Items)
			}
			return err
		}},
	)
	// The AutoP server and the gateway: the device authenticates itself
	// (AuthenticateDevice), no person's subtree applies.
	coveredElsewhere["AutoPServe"] = "system side: the AutoP server (TestAutoPServeAndApplied)"
	coveredElsewhere["AutoPFetched"] = "system side: the AutoP server (TestAutoPBatch)"
	coveredElsewhere["AutoPApplied"] = "system side: the gateway (TestAutoPServeAndApplied)"
	coveredElsewhere["LoadDeviceAutoP"] = "system only: the demo loader"
	coveredElsewhere["PrepareAutoP"] = "system side: the AutoP server (TestAutoPServeAndApplied)"
}

func TestDeviceAutoPSave(t *testing.T) {
	eachBackend(t, func(t *testing.T, st *store.Store) {
		tr := mustTree(t, st)
		ctx := as(tr.subA1)
		mac := tr.a1.device.MAC
		got, err := st.GetDeviceAutoP(ctx, mac)
		if err != nil || len(got.Regular) != 0 || len(got.Once) != 0 || got.Updated != nil || got.Regular == nil {
			t.Fatalf("a device without AutoP: %+v %v", got, err)
		}
		saved, err := st.SetDeviceAutoP(ctx, dashed(mac), []string{
			"Config.DoorSetting.RELAY.HoldDelayA=5", "", "Config.DoorSetting.RELAY.HoldDelayA = 5", "Config.Settings.WEB.Title = a",
			"Config.DoorSetting.RELAY.HoldDelayA = 7"}, []string{"Config.Settings.REBOOT.Now = 1"})
		if err != nil {
			t.Fatal(err)
		}
		wantReg := []string{"Config.DoorSetting.RELAY.HoldDelayA = 7", "Config.Settings.WEB.Title = a"}
		if !slices.Equal(saved.Regular, wantReg) || !slices.Equal(saved.Once, []string{"Config.Settings.REBOOT.Now = 1"}) || saved.Updated == nil {
			t.Errorf("normalised: %+v", saved)
		}
		got, _ = st.GetDeviceAutoP(ctx, mac)
		if !slices.Equal(got.Regular, wantReg) || len(got.Once) != 1 {
			t.Errorf("read back: %+v", got)
		}
		// The change is audited and the device is told to fetch.
		a, _ := st.ListAudit(ctx, model.AuditFilter{Action: "autop.update", ObjectID: mac, Page: model.Page{Page: 1, PerPage: 10}})
		if a.Total != 1 || a.Items[0].Details["regular"] != float64(2) {
			t.Errorf("audit: %+v", a.Items)
		}
		cmds, _ := st.ListCommands(ctx, mac, 10)
		if len(cmds) != 1 || cmds[0].Kind != model.CommandAutoP || cmds[0].Status != model.CommandQueued || cmds[0].CreatedBy != "sub-a1" ||
			cmds[0].Expires.Sub(cmds[0].Created) != time.Hour {
			t.Errorf("commands: %+v", cmds)
		}

		// A list left out is kept; an empty list clears.
		if s, err := st.SetDeviceAutoP(ctx, mac, nil, []string{}); err != nil || !slices.Equal(s.Regular, wantReg) || len(s.Once) != 0 {
			t.Errorf("clear once: %+v %v", s, err)
		}
		// Saving the same lists again changes nothing: no audit, no command.
		if _, err := st.SetDeviceAutoP(ctx, mac, wantReg, nil); err != nil {
			t.Fatal(err)
		}
		if cmds, _ := st.ListCommands(ctx, mac, 10); len(cmds) != 2 {
			t.Errorf("unchanged save queued a command: %d commands", len(cmds))
		}
		if _, err := st.SetDeviceAutoP(ctx, mac, nil, nil); model.ErrorFields(err)["regular"] == "" {
			t.Errorf("nothing given: %v", err)
		}

		// Bad lines are refused by field and line, and nothing changes.
		_, err = st.SetDeviceAutoP(ctx, mac, []string{"Config.A.B.C = 1", "Config.Bad = 1"}, []string{"ok", "Config.A.B.C = \x01"})
		f := model.ErrorFields(err)
		if !strings.HasPrefix(f["regular"], "line 2: ") || !strings.HasPrefix(f["once"], "line 1: ") {
			t.Errorf("bad lines: %v", err)
		}
		if got, _ := st.GetDeviceAutoP(ctx, mac); !slices.Equal(got.Regular, wantReg) {
			t.Errorf("a refused save changed the lists: %+v", got)
		}

		// 1,000 commands per device, both lists together.
		var many []string
		for i := 0; i < 999; i++ {
			many = append(many, fmt.Sprintf("Config.Test.ITEMS.Item%d = %d", i, i))
		}
		if _, err := st.SetDeviceAutoP(ctx, mac, many, []string{"Config.Test.ONCE.A = 1"}); err != nil {
			t.Fatalf("999 + 1 commands: %v", err)
		}
		_, err = st.SetDeviceAutoP(ctx, mac, nil, []string{"Config.Test.ONCE.A = 1", "", "Config.Test.ONCE.B = 1"})
		if m := model.ErrorFields(err)["once"]; !strings.HasPrefix(m, "line 3: ") || !strings.Contains(m, "1001 commands") {
			t.Errorf("1,001 commands: %v", err)
		}
		_, err = st.SetDeviceAutoP(ctx, mac, append(many, "Config.Test.ITEMS.More = 1"), nil)
		if m := model.ErrorFields(err)["regular"]; !strings.HasPrefix(m, "line 1000: ") {
			t.Errorf("1,001 commands by the regular list: %v", err)
		}
	})
}

func TestAutoPPreviewRendersSettings(t *testing.T) {
	eachBackend(t, func(t *testing.T, st *store.Store) {
		tr := mustTree(t, st)
		ctx := as(tr.subA1)
		inst := tr.a1.installer
		tz, ct, rtp := "Europe/Berlin", "tls", true
		if _, err := st.UpdateInstaller(ctx, inst.ID, model.InstallerPatch{TimeZone: &tz, ConnectType: &ct, RTPConfusion: &rtp}); err != nil {
			t.Fatal(err)
		}
		mac := tr.a1.device.MAC
		if _, err := st.SetDeviceAutoP(ctx, mac, []string{"Config.DoorSetting.RELAY.HoldDelayA = 5"}, []string{"Config.Account1.SIP.TransType = 1"}); err != nil {
			t.Fatal(err)
		}
		f, err := st.AutoPPreview(ctx, strings.ToLower(mac))
		if err != nil {
			t.Fatal(err)
		}
		// The community was created with the installer's zone of then (UTC):
		// the project's setting wins over the installer's.
		p, _ := st.GetProject(ctx, tr.a1.project.ID)
		want := "# Gatehouse AutoP " + mac + " version " + f.Version + "\n" +
			"Config.Settings.SNTP.TimeZone = " + or(p.TimeZone, tz) + "\n" +
			"Config.Account1.SIP.TransType = 1\n" +
			"Config.Account1.SIP.RtpConfusion = 1\n" +
			"Config.DoorSetting.RELAY.HoldDelayA = 5\n"
		if string(f.Bytes()) != want {
			t.Errorf("preview:\n%s\nwant:\n%s", f.Bytes(), want)
		}
		// A project with its own time zone.
		proj := &model.Project{Kind: model.ProjectPersonal, Name: "Villa Tokio", TimeZone: "Asia/Tokyo"}
		if err := st.CreateProject(as(inst), proj); err != nil {
			t.Fatal(err)
		}
		dev := &model.Device{MAC: fmt.Sprintf("0C1105F0%04X", nextSeq()), ProjectID: proj.ID, Type: model.DoorPhone}
		if err := st.CreateDevice(as(inst), dev); err != nil {
			t.Fatal(err)
		}
		f, _ = st.AutoPPreview(ctx, dev.MAC)
		if !strings.Contains(string(f.Body), "TimeZone = Asia/Tokyo\n") || !strings.Contains(string(f.Body), "TransType = 2\n") {
			t.Errorf("project time zone, connect type tls: %s", f.Body)
		}
		// The installer's settings flow into the file at once.
		ct = "default"
		if _, err := st.UpdateInstaller(ctx, inst.ID, model.InstallerPatch{ConnectType: &ct}); err != nil {
			t.Fatal(err)
		}
		g, _ := st.AutoPPreview(ctx, dev.MAC)
		if strings.Contains(string(g.Body), "TransType") || g.Version == f.Version {
			t.Errorf("connect type default: %s (version %s → %s)", g.Body, f.Version, g.Version)
		}
		if _, err := st.AutoPPreview(ctx, "not-a-mac"); model.ErrorCode(err) != model.ENOTFOUND {
			t.Errorf("bad MAC: %v", err)
		}
	})
}

func or(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// manyDevices adds n community devices to the branch's community, in bulk.
func manyDevices(t *testing.T, st *store.Store, b *branch, n int) []string {
	t.Helper()
	id, err := st.MaxID(sys, "devices")
	if err != nil {
		t.Fatal(err)
	}
	var rows [][]any
	var macs []string
	now := time.Now().UTC()
	base := nextSeq() * 1000
	for i := 0; i < n; i++ {
		id++
		mac := fmt.Sprintf("0C11%08X", base+int64(i))
		macs = append(macs, mac)
		rows = append(rows, []any{id, mac, b.installer.ID, b.project.ID, string(model.IndoorMonitor), now, "community",
			b.installer.DistributorID, b.installer.SubdistributorID})
	}
	if err := st.BulkInsert(sys, "devices", []string{"id", "mac", "installer_id", "project_id", "type", "created_at", "project_kind",
		"distributor_id", "subdistributor_id"}, rows); err != nil {
		t.Fatal(err)
	}
	return macs
}

func TestAutoPBatch(t *testing.T) {
	eachBackend(t, func(t *testing.T, st *store.Store) {
		tr := mustTree(t, st)
		ctx := as(tr.subA1)
		macs := manyDevices(t, st, tr.a1, 501)
		first := macs[0]
		if _, err := st.SetDeviceAutoP(ctx, first, []string{"Config.A.B.C = 1", "Config.D.E.F = 2"}, []string{"Config.O.N.E = 1"}); err != nil {
			t.Fatal(err)
		}
		req := store.AutoPBatchRequest{Scope: "community", Type: "regular",
			Commands: []string{"Config.G.H.I = 3", "Config.A.B.C = 9", "Config.G.H.I = 3"}, MACs: macs}

		// 501 devices: refused whole, naming the limit.
		_, err := st.CreateAutoPBatch(ctx, req)
		if m := model.ErrorFields(err)["macs"]; !strings.Contains(m, "at most 500") {
			t.Errorf("501 devices: %v", err)
		}
		// A foreign MAC: not found, naming it; nothing changed.
		req.MACs = append(slices.Clone(macs[:499]), tr.b.device.MAC)
		_, err = st.CreateAutoPBatch(ctx, req)
		if model.ErrorCode(err) != model.ENOTFOUND || !strings.Contains(model.ErrorMessage(err), tr.b.device.MAC) {
			t.Errorf("foreign MAC: %v", err)
		}
		// A device of another list: invalid, naming it.
		officeDev := &model.Device{MAC: fmt.Sprintf("0C1105E0%04X", nextSeq()), ProjectID: tr.a1.office.ID, Type: model.DoorPhone}
		if err := st.CreateDevice(as(tr.a1.installer), officeDev); err != nil {
			t.Fatal(err)
		}
		req.MACs = []string{first, officeDev.MAC}
		_, err = st.CreateAutoPBatch(ctx, req)
		if m := model.ErrorFields(err)["macs"]; model.ErrorCode(err) != model.EINVALID || !strings.Contains(m, officeDev.MAC) || !strings.Contains(m, "office") {
			t.Errorf("office device in a community batch: %v", err)
		}
		for _, bad := range []store.AutoPBatchRequest{
			{Scope: "villa", Type: "regular", Commands: req.Commands, MACs: macs[:1]},
			{Scope: "community", Type: "sometimes", Commands: req.Commands, MACs: macs[:1]},
			{Scope: "community", Type: "regular", Commands: []string{"", ""}, MACs: macs[:1]},
			{Scope: "community", Type: "regular", Commands: []string{"Config.A.B.C = 1", "Config = x"}, MACs: macs[:1]},
			{Scope: "community", Type: "regular", Commands: req.Commands},
			{Scope: "community", Type: "regular", Commands: req.Commands, MACs: []string{"0C:11:05:ZZ:00:00"}},
		} {
			_, err := st.CreateAutoPBatch(ctx, bad)
			if model.ErrorCode(err) != model.EINVALID {
				t.Errorf("bad batch %+v: %v", bad, err)
			}
		}
		_, err = st.CreateAutoPBatch(ctx, store.AutoPBatchRequest{Scope: "community", Type: "regular", Commands: []string{"Config.A.B.C = 1", "Config = x"}, MACs: macs[:1]})
		if m := model.ErrorFields(err)["commands"]; !strings.HasPrefix(m, "line 2: ") {
			t.Errorf("bad command line: %v", err)
		}
		if l, _ := st.ListCommands(ctx, first, 10); len(l) != 1 {
			t.Errorf("refused batches queued commands: %d", len(l))
		}
		if a, _ := st.GetDeviceAutoP(ctx, macs[1]); len(a.Regular) != 0 {
			t.Errorf("refused batches changed a device: %+v", a)
		}

		// 500 devices (and a repeated MAC in another notation): one transaction.
		req.MACs = append(slices.Clone(macs[:500]), dashed(strings.ToLower(first)))
		start := time.Now()
		b, err := st.CreateAutoPBatch(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("batch of 500: %s", time.Since(start))
		if b.ID == 0 || b.Devices != 500 || b.Queued != 500 || !slices.Equal(b.Commands, []string{"Config.G.H.I = 3", "Config.A.B.C = 9"}) {
			t.Errorf("batch: %+v", b)
		}
		// Merged into the regular list: the same key takes the new value in
		// place; the one-time list is untouched.
		a, _ := st.GetDeviceAutoP(ctx, first)
		if !slices.Equal(a.Regular, []string{"Config.A.B.C = 9", "Config.D.E.F = 2", "Config.G.H.I = 3"}) || !slices.Equal(a.Once, []string{"Config.O.N.E = 1"}) {
			t.Errorf("merged: %+v", a)
		}
		if a, _ := st.GetDeviceAutoP(ctx, macs[499]); !slices.Equal(a.Regular, []string{"Config.G.H.I = 3", "Config.A.B.C = 9"}) {
			t.Errorf("a device without lists: %+v", a)
		}
		if a, _ := st.GetDeviceAutoP(ctx, macs[500]); len(a.Regular) != 0 {
			t.Errorf("a device not in the batch: %+v", a)
		}
		al, _ := st.ListAudit(ctx, model.AuditFilter{Action: "autop.batch", Page: model.Page{Page: 1, PerPage: 10}})
		if al.Total != 1 || al.Items[0].ObjectID != fmt.Sprint(b.ID) || al.Items[0].Details["devices"] != float64(500) {
			t.Errorf("audit: %+v", al.Items)
		}

		// Progress: told, fetched, acknowledged, failed.
		cmds, _ := st.ListCommands(ctx, first, 10)
		if cmds[0].BatchID != b.ID || cmds[0].Kind != model.CommandAutoP || cmds[0].Status != model.CommandQueued {
			t.Fatalf("batch command: %+v", cmds[0])
		}
		d1, _ := st.GetDevice(ctx, macs[1])
		d2, _ := st.GetDevice(ctx, macs[2])
		c1, _ := st.ListCommands(ctx, macs[1], 1)
		c2, _ := st.ListCommands(ctx, macs[2], 1)
		if err := st.MarkCommandsSent(sys, cmds[0].ID, c1[0].ID, c2[0].ID); err != nil {
			t.Fatal(err)
		}
		if err := st.AutoPFetched(sys, st.Now(), d1.ID, d2.ID); err != nil {
			t.Fatal(err)
		}
		f1, _ := st.AutoPPreview(ctx, macs[1])
		if _, _, err := st.AckCommand(sys, d1.ID, c1[0].ID, true, "", f1.Version); err != nil {
			t.Fatal(err)
		}
		if _, _, err := st.AckCommand(sys, d2.ID, c2[0].ID, false, "disk full", ""); err != nil {
			t.Fatal(err)
		}
		p, err := st.GetAutoPBatch(ctx, b.ID)
		if err != nil {
			t.Fatal(err)
		}
		if p.Devices != 500 || len(p.Items) != 500 || p.Queued != 497 || p.Sent != 1 || p.Done != 1 || p.Failed != 1 || p.Fetched != 2 {
			t.Errorf("progress: queued %d sent %d done %d failed %d fetched %d of %d (%d items)", p.Queued, p.Sent, p.Done, p.Failed, p.Fetched, p.Devices, len(p.Items))
		}
		byMAC := map[string]model.AutoPBatchItem{}
		for _, it := range p.Items {
			byMAC[it.MAC] = it
		}
		if it := byMAC[macs[1]]; it.Status != model.CommandDone || !it.Fetched || it.Version != f1.Version {
			t.Errorf("acknowledged item: %+v", it)
		}
		if it := byMAC[macs[2]]; it.Status != model.CommandFailed || it.Error != "disk full" {
			t.Errorf("failed item: %+v", it)
		}
		// A fetch from before the batch does not count.
		if err := st.AutoPFetched(sys, b.Created.Add(-time.Minute), d2.ID); err != nil {
			t.Fatal(err)
		}
		if p, _ := st.GetAutoPBatch(ctx, b.ID); p.Fetched != 1 {
			t.Errorf("a fetch before the batch counted: %d", p.Fetched)
		}

		// One-time batch: merged into the one-time list.
		ob, err := st.CreateAutoPBatch(ctx, store.AutoPBatchRequest{Scope: "community", Type: "once", Commands: []string{"Config.O.N.E = 2"}, MACs: []string{first}})
		if err != nil {
			t.Fatal(err)
		}
		if a, _ := st.GetDeviceAutoP(ctx, first); !slices.Equal(a.Once, []string{"Config.O.N.E = 2"}) || len(a.Regular) != 3 {
			t.Errorf("once batch: %+v", a)
		}
		// Read by the sender's subtree only.
		for _, who := range []*model.Account{tr.admin, tr.distA} {
			if _, err := st.GetAutoPBatch(as(who), ob.ID); err != nil {
				t.Errorf("%s reads the batch: %v", who.Username, err)
			}
		}
		for _, who := range []*model.Account{tr.subA2, tr.distB, tr.a1.installer} {
			if _, err := st.GetAutoPBatch(as(who), ob.ID); model.ErrorCode(err) != model.ENOTFOUND {
				t.Errorf("%s reads the batch: %v", who.Username, err)
			}
		}

		// 1,000 commands per device after the merge: refused whole.
		var lots []string
		for i := 0; i < 997; i++ {
			lots = append(lots, fmt.Sprintf("Config.Test.ITEMS.Item%d = %d", i, i))
		}
		// first: 3 regular + 1 once = 4; 997 more regular = 1,001.
		_, err = st.CreateAutoPBatch(ctx, store.AutoPBatchRequest{Scope: "community", Type: "regular", Commands: lots, MACs: []string{macs[3], first}})
		if m := model.ErrorFields(err)["commands"]; !strings.HasPrefix(m, "line 997: ") || !strings.Contains(m, first) {
			t.Errorf("merge over 1,000: %v", err)
		}
		if a, _ := st.GetDeviceAutoP(ctx, macs[3]); len(a.Regular) != 2 {
			t.Errorf("a refused batch changed another device: %d commands", len(a.Regular))
		}
	})
}

func TestAutoPServeAndApplied(t *testing.T) {
	eachBackend(t, func(t *testing.T, st *store.Store) {
		tr := mustTree(t, st)
		ctx := as(tr.subA1)
		mac := tr.a1.device.MAC
		if _, err := st.AutoPServe(sys, "0C1105FFFFFF"); model.ErrorCode(err) != model.ENOTFOUND {
			t.Errorf("unregistered: %v", err)
		}
		sv, err := st.AutoPServe(sys, mac)
		if err != nil {
			t.Fatal(err)
		}
		if sv.MAC != mac || sv.KeyHash != "" || sv.Fetched != nil || sv.Updated != nil || !sv.NeedsFetchRecord(st.Now()) {
			t.Errorf("served: %+v", sv)
		}
		key := strings.Repeat("k", 40)
		if _, err := st.EnrollDeviceKeys(sys, map[string]string{mac: key}); err != nil {
			t.Fatal(err)
		}
		if _, err := st.SetDeviceAutoP(ctx, mac, []string{"Config.A.B.C = 1"}, []string{"Config.O.N.E = 1"}); err != nil {
			t.Fatal(err)
		}
		sv, _ = st.AutoPServe(sys, mac)
		pre, _ := st.AutoPPreview(ctx, mac)
		// The prepared read is the same read.
		rd, err := st.PrepareAutoP(sys, 2)
		if err != nil {
			t.Fatal(err)
		}
		if sv2, err := rd.Serve(sys, strings.ToUpper(mac)); err != nil || string(sv2.File.Bytes()) != string(sv.File.Bytes()) || sv2.KeyHash != sv.KeyHash || sv2.DeviceID != sv.DeviceID {
			t.Errorf("prepared read: %+v %v", sv2, err)
		}
		if _, err := rd.Serve(sys, "0C1105FFFFFF"); model.ErrorCode(err) != model.ENOTFOUND {
			t.Errorf("prepared read of an unregistered MAC: %v", err)
		}
		// Its connections are read-only: none goes back to the store's
		// pool so (writes on every pooled connection still work).
		rd.Close()
		var wg sync.WaitGroup
		for i := 0; i < 12; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := st.Audit(ctx, "test.write", "device", mac, nil); err != nil {
					t.Errorf("a write after the reader closed: %v", err)
				}
			}()
		}
		wg.Wait()
		if sv.KeyHash != store.DeviceKeyHash(key) || string(sv.File.Bytes()) != string(pre.Bytes()) || !strings.Contains(string(pre.Body), "Config.O.N.E = 1") {
			t.Errorf("served file differs from the preview:\n%s\n%s", sv.File.Bytes(), pre.Bytes())
		}
		// A fetch is recorded the first time, after a change, and once a minute.
		now := st.Now()
		if err := st.AutoPFetched(sys, now, sv.DeviceID); err != nil {
			t.Fatal(err)
		}
		sv, _ = st.AutoPServe(sys, mac)
		if sv.Fetched == nil || sv.NeedsFetchRecord(now.Add(30*time.Second)) || !sv.NeedsFetchRecord(now.Add(61*time.Second)) {
			t.Errorf("fetch record: %+v", sv)
		}

		// An acknowledged old version clears nothing.
		old := pre.Version
		if _, err := st.SetDeviceAutoP(ctx, mac, nil, []string{"Config.O.N.E = 2"}); err != nil {
			t.Fatal(err)
		}
		if sv, _ := st.AutoPServe(sys, mac); !sv.NeedsFetchRecord(now.Add(time.Second)) {
			t.Error("a fetch after a change is not recorded")
		}
		if err := st.AutoPApplied(context.Background(), strings.ToLower(mac), old); err != nil {
			t.Fatal(err)
		}
		a, _ := st.GetDeviceAutoP(ctx, mac)
		d, _ := st.GetDeviceDetail(ctx, mac)
		if !slices.Equal(a.Once, []string{"Config.O.N.E = 2"}) || d.ConfigVersion != old {
			t.Errorf("old version applied: once %v, config version %q", a.Once, d.ConfigVersion)
		}
		// The current version: one-time commands are gone, the file changes.
		cur, _ := st.AutoPPreview(ctx, mac)
		if err := st.AutoPApplied(context.Background(), mac, cur.Version); err != nil {
			t.Fatal(err)
		}
		a, _ = st.GetDeviceAutoP(ctx, mac)
		after, _ := st.AutoPPreview(ctx, mac)
		if len(a.Once) != 0 || !slices.Equal(a.Regular, []string{"Config.A.B.C = 1"}) || after.Version == cur.Version || strings.Contains(string(after.Body), "O.N.E") {
			t.Errorf("after the ack: %+v\n%s", a, after.Bytes())
		}
		al, _ := st.ListAudit(sys, model.AuditFilter{Action: "autop.once_applied", ObjectID: mac, Page: model.Page{Page: 1, PerPage: 10}})
		if al.Total != 1 || al.Items[0].Actor != "system" || al.Items[0].Details["version"] != cur.Version {
			t.Errorf("audit: %+v", al.Items)
		}
		// Acknowledging it again is harmless.
		if err := st.AutoPApplied(context.Background(), mac, cur.Version); err != nil {
			t.Fatal(err)
		}
		if err := st.AutoPApplied(context.Background(), "0C1105FFFFFF", cur.Version); model.ErrorCode(err) != model.ENOTFOUND {
			t.Errorf("unregistered: %v", err)
		}

		// A reset (the gateway's acknowledgement of it) voids pending
		// one-time commands, and keeps the regular ones.
		if _, err := st.SetDeviceAutoP(ctx, mac, nil, []string{"Config.O.N.E = 3"}); err != nil {
			t.Fatal(err)
		}
		c, err := st.CreateCommand(ctx, mac, model.CommandReset, model.ResetConfig)
		if err != nil {
			t.Fatal(err)
		}
		if err := st.MarkCommandsSent(sys, c.ID); err != nil {
			t.Fatal(err)
		}
		if _, done, err := st.AckCommand(sys, sv.DeviceID, c.ID, true, "", ""); err != nil || !done {
			t.Fatalf("reset ack: %v %v", done, err)
		}
		a, _ = st.GetDeviceAutoP(ctx, mac)
		if len(a.Once) != 0 || len(a.Regular) != 1 {
			t.Errorf("after a reset: %+v", a)
		}
		if f, _ := st.AutoPPreview(ctx, mac); strings.Contains(string(f.Body), "O.N.E") {
			t.Errorf("file after a reset:\n%s", f.Bytes())
		}
	})
}

// TestAutoPRenderMatchesPackage guards the store's reading of the inputs:
// the preview is exactly autop.Render of what is stored.
func TestAutoPRenderMatchesPackage(t *testing.T) {
	eachBackend(t, func(t *testing.T, st *store.Store) {
		tr := mustTree(t, st)
		ctx := as(tr.a1.installer)
		mac := tr.a1.device.MAC
		if _, err := st.SetDeviceAutoP(ctx, mac, []string{"Config.A.B.C = x=y"}, nil); err != nil {
			t.Fatal(err)
		}
		f, _ := st.AutoPPreview(ctx, mac)
		inst, _ := st.GetAccount(ctx, tr.a1.installer.ID)
		p, _ := st.GetProject(ctx, tr.a1.project.ID)
		want := autop.Render(autop.Input{MAC: mac, InstallerTimeZone: inst.TimeZone, ConnectType: inst.ConnectType,
			RTPConfusion: inst.RTPConfusion, ProjectTimeZone: p.TimeZone, Regular: "Config.A.B.C = x=y"})
		if string(f.Bytes()) != string(want.Bytes()) {
			t.Errorf("preview:\n%s\nwant:\n%s", f.Bytes(), want.Bytes())
		}
	})
}

// One-time commands queued again after the device applied the same ones are
// a new version: the device fetches and applies them again (no 304), and
// an acknowledgement of the old version does not clear them.
func TestAutoPOnceQueuedAgain(t *testing.T) {
	eachBackend(t, func(t *testing.T, st *store.Store) {
		tr := mustTree(t, st)
		ctx := as(tr.subA1)
		mac := tr.a1.device.MAC
		once := []string{"Config.Settings.WEB.Title = forced"}
		served := func() autop.File {
			t.Helper()
			sv, err := st.AutoPServe(sys, mac)
			if err != nil {
				t.Fatal(err)
			}
			return sv.File
		}
		if _, err := st.SetDeviceAutoP(ctx, mac, nil, once); err != nil {
			t.Fatal(err)
		}
		first := served()
		if err := st.AutoPApplied(sys, mac, first.Version); err != nil {
			t.Fatal(err)
		}
		if a, _ := st.GetDeviceAutoP(ctx, mac); len(a.Once) != 0 {
			t.Fatalf("applied one-time commands kept: %v", a.Once)
		}
		st.SetClock(func() time.Time { return time.Now().UTC().Add(time.Second).Truncate(time.Microsecond) })
		if _, err := st.SetDeviceAutoP(ctx, mac, nil, once); err != nil {
			t.Fatal(err)
		}
		again := served()
		if again.Version == first.Version || string(again.Body) != string(first.Body) {
			t.Fatalf("queued again: version %s, first time %s (bodies equal: %v)", again.Version, first.Version, string(again.Body) == string(first.Body))
		}
		// A late acknowledgement of the first time clears nothing.
		if err := st.AutoPApplied(sys, mac, first.Version); err != nil {
			t.Fatal(err)
		}
		if a, _ := st.GetDeviceAutoP(ctx, mac); len(a.Once) != 1 {
			t.Fatalf("an old acknowledgement cleared the commands queued again: %v", a.Once)
		}
		if err := st.AutoPApplied(sys, mac, again.Version); err != nil {
			t.Fatal(err)
		}
		if a, _ := st.GetDeviceAutoP(ctx, mac); len(a.Once) != 0 {
			t.Fatalf("applied again, kept: %v", a.Once)
		}
	})
}

// Saves that leave the one-time list as it was keep the version: a device
// that applied the file before such a save has its acknowledgement count.
func TestAutoPUnchangedOnceKeepsVersion(t *testing.T) {
	eachBackend(t, func(t *testing.T, st *store.Store) {
		tr := mustTree(t, st)
		ctx := as(tr.subA1)
		mac := tr.a1.device.MAC
		once := []string{"Config.Settings.WEB.Title = forced"}
		if _, err := st.SetDeviceAutoP(ctx, mac, []string{"Config.A.B.C = 1"}, once); err != nil {
			t.Fatal(err)
		}
		v1, err := st.AutoPServe(sys, mac)
		if err != nil {
			t.Fatal(err)
		}
		st.SetClock(func() time.Time { return time.Now().UTC().Add(time.Second).Truncate(time.Microsecond) })
		// A batch of commands the device has already, regular and one-time.
		for _, typ := range []string{"regular", "once"} {
			cmds := []string{"Config.A.B.C = 1"}
			if typ == "once" {
				cmds = once
			}
			if _, err := st.CreateAutoPBatch(ctx, store.AutoPBatchRequest{Scope: string(tr.a1.project.Kind), Type: typ,
				Commands: cmds, MACs: []string{mac}}); err != nil {
				t.Fatal(err)
			}
			if v, _ := st.AutoPServe(sys, mac); v.File.Version != v1.File.Version {
				t.Errorf("a %s batch that changed nothing made version %s of %s", typ, v.File.Version, v1.File.Version)
			}
		}
		// The device's late acknowledgement of v1 clears the commands.
		if err := st.AutoPApplied(sys, mac, v1.File.Version); err != nil {
			t.Fatal(err)
		}
		if a, _ := st.GetDeviceAutoP(ctx, mac); len(a.Once) != 0 {
			t.Errorf("applied one-time commands still pending after saves that changed nothing: %v", a.Once)
		}
		// A regular change while one-time commands wait: the body changes,
		// so does the version; the one-time list keeps its queue time.
		if _, err := st.SetDeviceAutoP(ctx, mac, nil, once); err != nil {
			t.Fatal(err)
		}
		w1, _ := st.AutoPServe(sys, mac)
		if _, err := st.SetDeviceAutoP(ctx, mac, []string{"Config.A.B.C = 2"}, nil); err != nil {
			t.Fatal(err)
		}
		if _, err := st.SetDeviceAutoP(ctx, mac, []string{"Config.A.B.C = 1"}, nil); err != nil {
			t.Fatal(err)
		}
		if w2, _ := st.AutoPServe(sys, mac); w2.File.Version != w1.File.Version {
			t.Errorf("the regular list changed and back: version %s, was %s", w2.File.Version, w1.File.Version)
		}
	})
}
