package store_test

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/model"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

func init() {
	tenancyCases = append(tenancyCases,
		tenancyCase{method: "CreateCommand", call: func(st *store.Store, ctx context.Context, b *branch) error {
			c, err := st.CreateCommand(ctx, strings.ToLower(b.device.MAC), model.CommandReboot, "")
			if err == nil && (c.MAC != b.device.MAC || c.Status != model.CommandQueued || c.ID == 0) {
				return fmt.Errorf("wrong command: %+v", c)
			}
			return err
		}},
		tenancyCase{method: "ListCommands", call: func(st *store.Store, ctx context.Context, b *branch) error {
			cs, err := st.ListCommands(ctx, b.device.MAC, 10)
			if err == nil {
				for _, c := range cs {
					if c.MAC != b.device.MAC {
						return fmt.Errorf("foreign command listed: %+v", c)
					}
				}
			}
			return err
		}},
	)
	for _, m := range []string{"AuthenticateDevice", "DeviceKeyRefused", "EnrollDeviceKeys", "DeviceConnected", "DeviceReported", "DevicesSeen", "DeviceDisconnected",
		"NodeOffline", "StaleOffline", "PendingCommands", "MarkCommandsSent", "AckCommand", "ExpireCommands", "DeviceNode", "QueuedCommandDevices", "QueuedCommands"} {
		coveredElsewhere[m] = "system only: the device gateway (TestDeviceKeys, TestCommandLifecycle)"
	}
}

func deviceKey(n int) string { return fmt.Sprintf("key-%d-%s", n, strings.Repeat("x", 40)) }

func auditCount(t *testing.T, st *store.Store, action, mac string) int {
	t.Helper()
	l, err := st.ListAudit(sys, model.AuditFilter{Action: action, ObjectType: "device", ObjectID: mac, Page: model.Page{Page: 1, PerPage: 100}})
	if err != nil {
		t.Fatal(err)
	}
	return l.Total
}

func keyHashOf(t *testing.T, st *store.Store, mac string) string {
	t.Helper()
	var h string
	if err := st.DB().QueryRow(`SELECT key_hash FROM devices WHERE mac = '` + mac + `'`).Scan(&h); err != nil {
		t.Fatal(err)
	}
	return h
}

func TestCommandLifecycle(t *testing.T) {
	eachBackend(t, func(t *testing.T, st *store.Store) {
		tr := mustTree(t, st)
		ctx := context.Background()
		dev, other := tr.a1.device, tr.a2.device

		// A reset needs a valid mode; the kind must be known.
		for _, mode := range []string{"", "everything"} {
			_, err := st.CreateCommand(as(tr.subA1), dev.MAC, model.CommandReset, mode)
			if model.ErrorCode(err) != model.EINVALID || model.ErrorFields(err)["mode"] == "" {
				t.Errorf("reset mode %q: %v", mode, err)
			}
		}
		if _, err := st.CreateCommand(as(tr.subA1), dev.MAC, "explode", ""); model.ErrorCode(err) != model.EINVALID {
			t.Errorf("unknown kind: %v", err)
		}
		if cs, _ := st.ListCommands(as(tr.subA1), dev.MAC, 0); len(cs) != 0 {
			t.Fatalf("refused commands were stored: %+v", cs)
		}

		reboot, err := st.CreateCommand(as(tr.subA1), dev.MAC, model.CommandReboot, "ignored")
		if err != nil {
			t.Fatal(err)
		}
		if reboot.Mode != "" || reboot.Expires.Sub(reboot.Created) != 24*time.Hour {
			t.Errorf("reboot: %+v", reboot)
		}
		reset, _ := st.CreateCommand(as(tr.a1.installer), dev.MAC, model.CommandReset, "Config")
		autop, _ := st.CreateCommand(as(tr.subA1), dev.MAC, model.CommandAutoP, "")
		if autop.Expires.Sub(autop.Created) != time.Hour {
			t.Errorf("autop expiry: %v", autop.Expires.Sub(autop.Created))
		}
		foreign, _ := st.CreateCommand(as(tr.subA2), other.MAC, model.CommandReboot, "")

		l, _ := st.ListAudit(as(tr.subA1), model.AuditFilter{Action: "device.reset", ObjectID: dev.MAC, Page: model.Page{Page: 1, PerPage: 10}})
		if l.Total != 1 || l.Items[0].Details["mode"] != "config" || l.Items[0].Actor != "inst-a1" {
			t.Errorf("reset audit: %+v", l.Items)
		}
		if n := auditCount(t, st, "device.reboot", dev.MAC); n != 1 {
			t.Errorf("reboot audited %d times", n)
		}

		cs, err := st.ListCommands(as(tr.distA), strings.ToLower(dev.MAC), 10)
		if err != nil || len(cs) != 3 || cs[0].ID != autop.ID || cs[2].ID != reboot.ID {
			t.Fatalf("list newest first: %+v %v", cs, err)
		}
		if cs[2].CreatedBy != "sub-a1" || cs[1].CreatedBy != "inst-a1" || cs[1].Mode != "config" || cs[2].Status != model.CommandQueued {
			t.Errorf("list fields: %+v %+v", cs[1], cs[2])
		}
		if cs, _ := st.ListCommands(as(tr.distA), dev.MAC, 1); len(cs) != 1 {
			t.Errorf("limit: %d", len(cs))
		}

		// Pending: queued and sent, oldest first, per device.
		p, err := st.PendingCommands(ctx, dev.ID, other.ID)
		if err != nil || len(p[dev.ID]) != 3 || p[dev.ID][0].ID != reboot.ID || len(p[other.ID]) != 1 || p[other.ID][0].ID != foreign.ID {
			t.Fatalf("pending: %+v %v", p, err)
		}
		st.MarkCommandsSent(ctx, reboot.ID, reset.ID)
		st.MarkCommandsSent(ctx, reboot.ID)
		// Queued only: what a connected device was not told yet.
		if q, err := st.QueuedCommands(ctx, dev.ID, other.ID); err != nil || len(q[dev.ID]) != 1 || q[dev.ID][0].ID != autop.ID ||
			len(q[other.ID]) != 1 {
			t.Errorf("queued: %+v %v", q, err)
		}
		p, _ = st.PendingCommands(ctx, dev.ID)
		if c := p[dev.ID][0]; c.Status != model.CommandSent || c.Attempts != 2 || c.Sent == nil {
			t.Errorf("sent twice: %+v", c)
		}

		// Acks: done, failed with its error, autop with its version; an ack
		// for a finished, unknown or foreign command is ignored.
		if _, done, err := st.AckCommand(ctx, dev.ID, reboot.ID, true, "", ""); !done || err != nil {
			t.Errorf("ack reboot: %v %v", done, err)
		}
		if _, done, _ := st.AckCommand(ctx, dev.ID, reboot.ID, false, "late", ""); done {
			t.Errorf("a second ack changed a finished command")
		}
		if _, done, _ := st.AckCommand(ctx, dev.ID, 999999, true, "", ""); done {
			t.Errorf("ack of an unknown id")
		}
		if _, done, _ := st.AckCommand(ctx, dev.ID, foreign.ID, true, "", ""); done {
			t.Errorf("a device acked another device's command")
		}
		st.AckCommand(ctx, dev.ID, reset.ID, false, "relay busy", "")
		st.MarkCommandsSent(ctx, autop.ID)
		if kind, done, _ := st.AckCommand(ctx, dev.ID, autop.ID, true, "", "9f2c41d07a1b3e55"); !done || kind != model.CommandAutoP {
			t.Errorf("ack autop: %v %v", kind, done)
		}
		st.MarkCommandsSent(ctx, reboot.ID) // a late resend does not reopen it
		cs, _ = st.ListCommands(as(tr.subA1), dev.MAC, 10)
		byID := map[int64]*model.DeviceCommand{}
		for _, c := range cs {
			byID[c.ID] = c
		}
		if c := byID[reboot.ID]; c.Status != model.CommandDone || c.Finished == nil || c.Attempts != 2 || c.Error != "" {
			t.Errorf("reboot done: %+v", c)
		}
		if c := byID[reset.ID]; c.Status != model.CommandFailed || c.Error != "relay busy" {
			t.Errorf("reset failed: %+v", c)
		}
		if c := byID[autop.ID]; c.Status != model.CommandDone || c.Version != "9f2c41d07a1b3e55" {
			t.Errorf("autop done: %+v", c)
		}
		if h := keyHashOf(t, st, dev.MAC); h != "" {
			t.Errorf("a failed reset touched the binding: %q", h)
		}
		if p, _ := st.PendingCommands(ctx, dev.ID); len(p[dev.ID]) != 0 {
			t.Errorf("finished commands pending: %+v", p[dev.ID])
		}

		// Expiry: queued and sent commands past their time.
		late, _ := st.CreateCommand(as(tr.subA1), dev.MAC, model.CommandAutoP, "")
		st.MarkCommandsSent(ctx, late.ID)
		base := time.Now().UTC()
		st.SetClock(func() time.Time { return base.Add(2 * time.Hour).Truncate(time.Microsecond) })
		if p, _ := st.PendingCommands(ctx, dev.ID, other.ID); len(p[dev.ID]) != 0 || len(p[other.ID]) != 1 {
			t.Errorf("pending past expiry: %+v", p)
		}
		n, err := st.ExpireCommands(ctx)
		if err != nil || n != 1 {
			t.Errorf("expire after 2h: %d %v", n, err)
		}
		st.SetClock(func() time.Time { return base.Add(25 * time.Hour).Truncate(time.Microsecond) })
		if n, _ := st.ExpireCommands(ctx); n != 1 {
			t.Errorf("expire after 25h: %d", n)
		}
		if _, done, _ := st.AckCommand(ctx, dev.ID, late.ID, true, "", "v"); done {
			t.Errorf("ack of an expired command")
		}
		cs, _ = st.ListCommands(as(tr.subA2), other.MAC, 10)
		if cs[0].Status != model.CommandExpired || cs[0].Finished == nil {
			t.Errorf("foreign reboot: %+v", cs[0])
		}
	})
}

func TestDeviceConnectionState(t *testing.T) {
	eachBackend(t, func(t *testing.T, st *store.Store) {
		tr := mustTree(t, st)
		ctx := context.Background()
		mac := tr.b.device.MAC
		t1 := st.Now()
		h := model.DeviceHello{Model: "R29C", Firmware: "29.30.1.12", IP: "192.168.1.20", Uptime: 3605, ConfigVersion: "v1"}
		if err := st.DeviceConnected(ctx, mac, "node-a", t1, h); err != nil {
			t.Fatal(err)
		}
		if node, online, err := st.DeviceNode(ctx, strings.ToLower(mac)); err != nil || node != "node-a" || !online {
			t.Errorf("DeviceNode: %q %v %v", node, online, err)
		}
		if _, _, err := st.DeviceNode(ctx, "0C1105FFFFFF"); model.ErrorCode(err) != model.ENOTFOUND {
			t.Errorf("DeviceNode of an unknown MAC: %v", err)
		}
		// Queued commands of the devices a node holds: the resend sweep.
		if macs, err := st.QueuedCommandDevices(ctx, "node-a"); err != nil || len(macs) != 0 {
			t.Errorf("nothing queued yet: %v %v", macs, err)
		}
		q1, _ := st.CreateCommand(as(tr.subB), mac, model.CommandReboot, "")
		st.CreateCommand(as(tr.subB), mac, model.CommandReboot, "")
		st.CreateCommand(as(tr.a1.installer), tr.a1.device.MAC, model.CommandReboot, "") // offline
		if macs, _ := st.QueuedCommandDevices(ctx, "node-a"); len(macs) != 1 || macs[0] != mac {
			t.Errorf("queued on node-a: %v", macs)
		}
		if macs, _ := st.QueuedCommandDevices(ctx, "node-x"); len(macs) != 0 {
			t.Errorf("queued on another node: %v", macs)
		}
		p, _ := st.PendingCommands(ctx, tr.b.device.ID)
		for _, c := range p[tr.b.device.ID] {
			st.MarkCommandsSent(ctx, c.ID)
		}
		if macs, _ := st.QueuedCommandDevices(ctx, "node-a"); len(macs) != 0 {
			t.Errorf("sent commands are not queued: %v (first %d)", macs, q1.ID)
		}
		det, err := st.GetDeviceDetail(as(tr.subB), mac)
		if err != nil || !det.Online || det.IP != "192.168.1.20" || det.Model != "R29C" || det.Firmware != "29.30.1.12" ||
			det.Uptime != 3605 || det.ConfigVersion != "v1" || det.Connected == nil || det.LastSeen == nil {
			t.Fatalf("after hello: %+v %v", det, err)
		}
		// A status of this connection updates what changed.
		h.IP, h.Uptime, h.Firmware = "192.168.1.21", 3700, "29.30.1.13"
		t2 := t1.Add(time.Minute)
		if err := st.DeviceReported(ctx, mac, "node-a", t1, t2, h); err != nil {
			t.Fatal(err)
		}
		det, _ = st.GetDeviceDetail(as(tr.subB), mac)
		if det.IP != "192.168.1.21" || !det.LastSeen.Equal(t2) || det.Firmware != "29.30.1.13" {
			t.Errorf("after status: %+v", det)
		}
		// Heartbeats in bulk.
		t3 := t2.Add(time.Minute)
		if err := st.DevicesSeen(ctx, "node-a", t3, []int64{tr.b.device.ID, tr.a1.device.ID}); err != nil {
			t.Fatal(err)
		}
		det, _ = st.GetDeviceDetail(as(tr.subB), mac)
		if !det.LastSeen.Equal(t3) {
			t.Errorf("seen: %v", det.LastSeen)
		}
		if d, _ := st.GetDevice(sys, tr.a1.device.MAC); d.LastSeen != nil {
			t.Errorf("an offline device was marked seen")
		}
		// The device reconnects to node B; node A's late close does not
		// take it offline, nor does A's late status overwrite B's facts.
		t4 := t3.Add(time.Second)
		st.DeviceConnected(ctx, mac, "node-b", t4, model.DeviceHello{IP: "10.1.1.1", Firmware: "30.0.0.1"})
		st.DeviceDisconnected(ctx, mac, "node-a", t1, t4)
		st.DeviceReported(ctx, mac, "node-a", t1, t4, h)
		det, _ = st.GetDeviceDetail(as(tr.subB), mac)
		if !det.Online || det.IP != "10.1.1.1" || det.Model != "R29C" || det.Firmware != "30.0.0.1" {
			t.Errorf("stale connection overwrote the new one: %+v", det)
		}
		st.DeviceDisconnected(ctx, mac, "node-b", t4, t4.Add(time.Second))
		if det, _ = st.GetDeviceDetail(as(tr.subB), mac); det.Online {
			t.Errorf("still online after its close")
		}
		// A node restarting takes its leftovers offline.
		st.DeviceConnected(ctx, mac, "node-c", t4, h)
		if n, err := st.NodeOffline(ctx, "node-c", t4); err != nil || n != 0 {
			t.Errorf("NodeOffline took a connection of the new run: %d %v", n, err)
		}
		if n, err := st.NodeOffline(ctx, "node-c", t4.Add(time.Millisecond)); err != nil || n != 1 {
			t.Errorf("NodeOffline: %d %v", n, err)
		}
		// A device nothing was heard from goes offline; a live one stays.
		other := tr.a1.device.MAC
		st.DeviceConnected(ctx, mac, "node-d", t4, h)
		st.DeviceConnected(ctx, other, "node-d", t4.Add(time.Minute), h)
		if n, err := st.StaleOffline(ctx, t4.Add(time.Second)); err != nil || n != 1 {
			t.Errorf("StaleOffline: %d %v", n, err)
		}
		if det, _ := st.GetDeviceDetail(as(tr.subB), mac); det.Online {
			t.Error("stale device still online")
		}
		if det, _ := st.GetDeviceDetail(as(tr.subA1), other); !det.Online {
			t.Error("live device taken offline")
		}
		if err := st.DeviceConnected(ctx, "0C1105FFFFFF", "node-a", t4, h); model.ErrorCode(err) != model.ENOTFOUND {
			t.Errorf("unknown device: %v", err)
		}
	})
}

// Hellos committed together (one statement for the batch) each get their
// own result, as one by one in the order they queued: an unknown device,
// an older connection than the one recorded, and the same device twice in
// one batch.
func TestDeviceConnectedInOneBatch(t *testing.T) {
	eachBackend(t, func(t *testing.T, st *store.Store) {
		tr := mustTree(t, st)
		ctx := context.Background()
		a, b, c := tr.b.device.MAC, tr.a1.device.MAC, tr.a2.device.MAC
		t0 := st.Now().UTC().Truncate(time.Microsecond)
		at := func(i int) time.Time { return t0.Add(time.Duration(i) * time.Second) }
		if err := st.DeviceConnected(ctx, c, "node-x", at(5), model.DeviceHello{IP: "10.0.0.5"}); err != nil {
			t.Fatal(err)
		}
		hellos := []struct {
			mac, node string
			at        time.Time
			want      string
		}{
			{a, "node-1", at(1), ""},
			{"0C1105FFFFFF", "node-2", at(1), model.ENOTFOUND},
			{c, "node-3", at(4), model.ECONFLICT}, // older than node-x's
			{b, "node-4", at(2), ""},
			{a, "node-5", at(3), ""},              // newer than node-1's, in the same batch
			{b, "node-6", at(0), model.ECONFLICT}, // older than node-4's, in the same batch
		}
		release := store.HoldGroupWriter(st)
		errs := make([]error, len(hellos))
		var wg sync.WaitGroup
		for i, h := range hellos {
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs[i] = st.DeviceConnected(ctx, h.mac, h.node, h.at, model.DeviceHello{IP: "10.0.1." + strconv.Itoa(i), Model: "M" + strconv.Itoa(i)})
			}()
			for store.GroupQueued(st) < i+1 { // queued in this order
				time.Sleep(time.Millisecond)
			}
		}
		release()
		wg.Wait()
		for i, h := range hellos {
			if model.ErrorCode(errs[i]) != h.want {
				t.Errorf("hello %d (%s on %s): %v, want %q", i, h.mac, h.node, errs[i], h.want)
			}
		}
		for _, want := range []struct {
			mac, node, ip, model string
			at                   time.Time
		}{{a, "node-5", "10.0.1.4", "M4", at(3)}, {b, "node-4", "10.0.1.3", "M3", at(2)}, {c, "node-x", "10.0.0.5", tr.a2.device.Model, at(5)}} {
			det, err := st.GetDeviceDetail(sys, want.mac)
			if err != nil {
				t.Fatal(err)
			}
			if node, _, _ := st.DeviceNode(ctx, want.mac); node != want.node || det.IP != want.ip || det.Model != want.model || !det.Online ||
				det.Connected == nil || !det.Connected.Equal(want.at) {
				t.Errorf("%s: node %q ip %q model %q online %v connected %v; want %+v", want.mac, node, det.IP, det.Model, det.Online, det.Connected, want)
			}
		}
	})
}
