package store_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/gatehouse-dev/gatehouse/internal/model"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

func init() {
	tenancyCases = append(tenancyCases,
		tenancyCase{method: "GetDeviceEnrollment", call: func(st *store.Store, ctx context.Context, b *branch) error {
			e, err := st.GetDeviceEnrollment(ctx, strings.ToLower(b.device.MAC))
			if err == nil && e.MAC != b.device.MAC {
				return fmt.Errorf("wrong device: %+v", e)
			}
			return err
		}},
		tenancyCase{method: "AcceptDeviceKey", call: func(st *store.Store, ctx context.Context, b *branch) error {
			id, err := newPendingKey(st, b.device.MAC)
			if err != nil {
				return err
			}
			k, err := st.AcceptDeviceKey(ctx, id)
			if err == nil && k.MAC != b.device.MAC {
				return fmt.Errorf("accepted a key of %s", k.MAC)
			}
			return err
		}},
		tenancyCase{method: "RejectDeviceKey", call: func(st *store.Store, ctx context.Context, b *branch) error {
			id, err := newPendingKey(st, b.device.MAC)
			if err != nil {
				return err
			}
			_, err = st.RejectDeviceKey(ctx, id)
			return err
		}},
		tenancyCase{method: "OpenEnrollWindow", call: func(st *store.Store, ctx context.Context, b *branch) error {
			if _, err := st.OpenEnrollWindow(ctx, b.device.MAC, 0, 0); err != nil {
				return err
			}
			_, err := st.OpenEnrollWindow(ctx, "", b.project.ID, 5*time.Minute)
			return err
		}},
		tenancyCase{method: "CloseEnrollWindow", call: func(st *store.Store, ctx context.Context, b *branch) error {
			w, err := st.OpenEnrollWindow(sys, b.device.MAC, 0, 0)
			if err != nil {
				return err
			}
			return st.CloseEnrollWindow(ctx, w.ID)
		}},
	)
	coveredElsewhere["ListPendingKeys"] = "TestEnrollmentListsAreScoped"
	coveredElsewhere["ListEnrollWindows"] = "TestEnrollmentListsAreScoped"
}

// newPendingKey makes a device present a new key, and answers the pending
// key's id.
func newPendingKey(st *store.Store, mac string) (int64, error) {
	key := fmt.Sprintf("pending-%d-%s", nextSeq(), strings.Repeat("p", 40))
	_, err := st.AuthenticateDevice(context.Background(), model.DeviceAttempt{MAC: mac, Key: key, RemoteAddr: "192.0.2.1:4000"})
	if model.ErrorCode(err) != model.EFORBIDDEN {
		return 0, fmt.Errorf("a new key: %v", err)
	}
	l, err := st.ListPendingKeys(sys, model.PendingKeyFilter{MAC: mac, Page: model.Page{Page: 1, PerPage: 1}})
	if err != nil || len(l.Items) == 0 || l.Items[0].Fingerprint != store.Fingerprint(store.DeviceKeyHash(key)) {
		return 0, fmt.Errorf("the new key is not pending: %+v %v", l.Items, err)
	}
	return l.Items[0].ID, nil
}

func attempt(mac, key string) model.DeviceAttempt {
	return model.DeviceAttempt{MAC: mac, Key: key, RemoteAddr: "10.0.0.1:5"}
}

// TestDeviceKeys: a device's keys from first attempt to reset and delete.
// Nothing binds on first use: a key waits as pending until accepted.
func TestDeviceKeys(t *testing.T) {
	eachBackend(t, func(t *testing.T, st *store.Store) {
		tr := mustTree(t, st)
		ctx := context.Background() // the gateway has no actor
		inst := as(tr.a1.installer)
		mac := tr.a1.device.MAC
		colons := strings.ToLower(mac[0:2] + ":" + mac[2:4] + ":" + mac[4:6] + ":" + mac[6:8] + ":" + mac[8:10] + ":" + mac[10:12])

		// Malformed input; unknown MACs are asked about the limits too.
		if _, err := st.AuthenticateDevice(ctx, attempt("0C11", deviceKey(1))); model.ErrorCode(err) != model.EINVALID {
			t.Errorf("short MAC: %v", err)
		}
		for _, k := range []string{"short", strings.Repeat("a", 129), strings.Repeat("a", 31) + "!"} {
			if _, err := st.AuthenticateDevice(ctx, attempt(mac, k)); model.ErrorCode(err) != model.EINVALID {
				t.Errorf("key %q: %v", k, err)
			}
		}
		asked := 0
		allow := func() error { asked++; return nil }
		a := attempt("0C1105FFFFFF", deviceKey(1))
		a.Allow = allow
		if _, err := st.AuthenticateDevice(ctx, a); model.ErrorCode(err) != model.ENOTFOUND || asked != 1 {
			t.Errorf("unregistered MAC: %v (limits asked %d times)", err, asked)
		}
		limited := model.Errorf(model.ETOOMANY, "limited")
		a.Allow = func() error { return limited }
		if _, err := st.AuthenticateDevice(ctx, a); err != limited {
			t.Errorf("limited: %v", err)
		}

		// First use: pending, with what the device said, audited once.
		first := model.DeviceAttempt{MAC: colons, Key: deviceKey(1), RemoteAddr: "10.0.0.1:5", Model: "R29C", Firmware: "29.30.1.12", Allow: allow}
		for i := 0; i < 3; i++ {
			if _, err := st.AuthenticateDevice(ctx, first); model.ErrorCode(err) != model.EFORBIDDEN {
				t.Fatalf("first use: %v", err)
			}
		}
		if h := keyHashOf(t, st, mac); h != "" {
			t.Fatalf("bound on first use: %q", h)
		}
		l, err := st.ListPendingKeys(inst, model.PendingKeyFilter{MAC: colons, Page: model.Page{Page: 1, PerPage: 10}})
		if err != nil || l.Total != 1 {
			t.Fatalf("pending: %+v %v", l, err)
		}
		k := l.Items[0]
		if k.MAC != mac || k.Model != "R29C" || k.Firmware != "29.30.1.12" || k.RemoteAddr != "10.0.0.1:5" || k.Attempts != 3 ||
			k.Fingerprint != store.Fingerprint(store.DeviceKeyHash(deviceKey(1))) || k.Bound || k.Status != model.KeyPending {
			t.Errorf("pending key: %+v", k)
		}
		if n := auditCount(t, st, "device.key_pending", mac); n != 1 {
			t.Errorf("key_pending audited %d times", n)
		}

		// Accepted by its installer: the device authenticates, without asking
		// the limits (the hot path).
		if _, err := st.AcceptDeviceKey(inst, k.ID); err != nil {
			t.Fatal(err)
		}
		asked = 0
		d, err := st.AuthenticateDevice(ctx, first)
		if err != nil || d.MAC != mac || d.ID != tr.a1.device.ID || asked != 0 {
			t.Fatalf("accepted key: %+v %v (limits asked %d)", d, err, asked)
		}
		if l, _ := st.ListPendingKeys(inst, model.PendingKeyFilter{Page: model.Page{Page: 1, PerPage: 10}}); l.Total != 0 {
			t.Errorf("accepted key still pending: %+v", l.Items)
		}

		// Another key: pending beside the accepted one, which stays.
		id2, err := newPendingKey(st, mac)
		if err != nil {
			t.Fatal(err)
		}
		if h := keyHashOf(t, st, mac); h != store.DeviceKeyHash(deviceKey(1)) {
			t.Errorf("another key changed the binding")
		}
		en, err := st.GetDeviceEnrollment(inst, mac)
		if err != nil || !en.Accepted || len(en.Keys) != 1 || !en.Keys[0].Bound || en.Keys[0].ID != id2 {
			t.Errorf("enrollment: %+v %v", en, err)
		}
		// Rejected: refused from then on (audited at most once a minute),
		// off the pending list, on the device's page.
		rk, err := st.RejectDeviceKey(as(tr.subA1), id2)
		if err != nil || rk.Status != model.KeyRejected || rk.DecidedBy != tr.subA1.Username {
			t.Fatalf("reject: %+v %v", rk, err)
		}
		var rejectedKey string
		for i, n := int64(0), nextSeq(); i <= n; i++ {
			if k := fmt.Sprintf("pending-%d-%s", i, strings.Repeat("p", 40)); store.Fingerprint(store.DeviceKeyHash(k)) == rk.Fingerprint {
				rejectedKey = k
			}
		}
		for i := 0; i < 3; i++ {
			if _, err := st.AuthenticateDevice(ctx, attempt(mac, rejectedKey)); model.ErrorCode(err) != model.EFORBIDDEN {
				t.Errorf("rejected key: %v", err)
			}
		}
		if n := auditCount(t, st, "device.key_refused", mac); n != 1 {
			t.Errorf("key_refused audited %d times", n)
		}
		if l, _ := st.ListPendingKeys(inst, model.PendingKeyFilter{Page: model.Page{Page: 1, PerPage: 10}}); l.Total != 0 {
			t.Errorf("rejected key still pending")
		}

		// A configuration reset keeps the key (the device does too).
		cfg, _ := st.CreateCommand(as(tr.subA1), mac, model.CommandReset, "config")
		st.MarkCommandsSent(ctx, cfg.ID)
		if _, done, _ := st.AckCommand(ctx, d.ID, cfg.ID, true, "", ""); !done || keyHashOf(t, st, mac) != store.DeviceKeyHash(deviceKey(1)) {
			t.Errorf("config reset: done %v, binding %q", done, keyHashOf(t, st, mac))
		}

		// A factory reset from the cloud, acknowledged: the binding is
		// cleared, the old key voided, and the device's new key waits.
		reset, _ := st.CreateCommand(as(tr.subA1), mac, model.CommandReset, "factory")
		st.MarkCommandsSent(ctx, reset.ID)
		if _, done, err := st.AckCommand(ctx, d.ID, reset.ID, true, "", ""); err != nil || !done || keyHashOf(t, st, mac) != "" {
			t.Fatalf("factory reset: %v %v", done, err)
		}
		if _, err := st.AuthenticateDevice(ctx, attempt(mac, deviceKey(1))); model.ErrorCode(err) != model.EFORBIDDEN {
			t.Errorf("the voided key after the reset: %v", err)
		}
		if _, err := st.AuthenticateDevice(ctx, attempt(mac, deviceKey(3))); model.ErrorCode(err) != model.EFORBIDDEN {
			t.Errorf("a new key after a factory reset is not pending: %v", err)
		}
		if h := keyHashOf(t, st, mac); h != "" {
			t.Errorf("a key bound after the reset")
		}

		// An acceptance window of the device accepts its next key, and
		// closes; the key after is pending again.
		w, err := st.OpenEnrollWindow(inst, mac, 0, 0)
		if err != nil || w.MAC != mac || w.Expires.Sub(w.Opened) != model.EnrollWindowDefault {
			t.Fatalf("window: %+v %v", w, err)
		}
		if _, err := st.AuthenticateDevice(ctx, attempt(mac, deviceKey(3))); err != nil {
			t.Errorf("a key in the window: %v", err)
		}
		if _, err := st.AuthenticateDevice(ctx, attempt(mac, deviceKey(4))); model.ErrorCode(err) != model.EFORBIDDEN {
			t.Errorf("a second key in a used window: %v", err)
		}
		if en, _ := st.GetDeviceEnrollment(inst, mac); en.Window != nil {
			t.Errorf("the used window is still open: %+v", en.Window)
		}
		// A window replaces an accepted key (the installer is at the device).
		st.OpenEnrollWindow(inst, mac, 0, 0)
		if _, err := st.AuthenticateDevice(ctx, attempt(mac, deviceKey(4))); err != nil {
			t.Errorf("a replacing key in the window: %v", err)
		}
		// A closed or expired window accepts nothing.
		w, _ = st.OpenEnrollWindow(inst, mac, 0, time.Minute)
		if err := st.CloseEnrollWindow(inst, w.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := st.AuthenticateDevice(ctx, attempt(mac, deviceKey(5))); model.ErrorCode(err) != model.EFORBIDDEN {
			t.Errorf("a key after the window closed: %v", err)
		}
		w, _ = st.OpenEnrollWindow(inst, mac, 0, time.Minute)
		base := time.Now().UTC()
		st.SetClock(func() time.Time { return base.Add(2 * time.Minute).Truncate(time.Microsecond) })
		if _, err := st.AuthenticateDevice(ctx, attempt(mac, deviceKey(6))); model.ErrorCode(err) != model.EFORBIDDEN {
			t.Errorf("a key after the window expired: %v", err)
		}
		st.SetClock(func() time.Time { return time.Now().UTC().Truncate(time.Microsecond) })
		st.CloseEnrollWindow(inst, w.ID)
		for _, bad := range []time.Duration{30 * time.Second, 2 * time.Hour} {
			if _, err := st.OpenEnrollWindow(inst, mac, 0, bad); model.ErrorCode(err) != model.EINVALID || model.ErrorFields(err)["minutes"] == "" {
				t.Errorf("window of %v: %v", bad, err)
			}
		}

		// A factory reset sent and unacknowledged: a new key completes it,
		// and waits.
		queued, _ := st.CreateCommand(inst, mac, model.CommandReset, "factory")
		st.MarkCommandsSent(ctx, queued.ID)
		if _, err := st.AuthenticateDevice(ctx, attempt(mac, deviceKey(7))); model.ErrorCode(err) != model.EFORBIDDEN {
			t.Errorf("new key with a reset sent: %v", err)
		}
		if c := commandOfList(t, st, inst, mac, queued.ID); c.Status != model.CommandDone || keyHashOf(t, st, mac) != "" {
			t.Errorf("the implicit reset: %+v, binding %q", c, keyHashOf(t, st, mac))
		}

		// A project's window accepts the next key of each of its devices
		// without an accepted one (and replaces none).
		pw, err := st.OpenEnrollWindow(inst, "", tr.a1.project.ID, 0)
		if err != nil || pw.ProjectID != tr.a1.project.ID {
			t.Fatalf("project window: %+v %v", pw, err)
		}
		if _, err := st.AuthenticateDevice(ctx, attempt(mac, deviceKey(8))); err != nil {
			t.Errorf("a key in the project's window: %v", err)
		}
		if _, err := st.AuthenticateDevice(ctx, attempt(mac, deviceKey(9))); model.ErrorCode(err) != model.EFORBIDDEN {
			t.Errorf("the project's window replaced an accepted key: %v", err)
		}
		if ws, _ := st.ListEnrollWindows(inst); len(ws) != 1 || ws[0].ID != pw.ID {
			t.Errorf("open windows: %+v", ws)
		}
		st.CloseEnrollWindow(inst, pw.ID)

		// Deleting the device clears everything: added again, a key waits.
		if err := st.DeleteDevice(inst, mac); err != nil {
			t.Fatal(err)
		}
		if _, err := st.AuthenticateDevice(ctx, attempt(mac, deviceKey(8))); model.ErrorCode(err) != model.ENOTFOUND {
			t.Errorf("deleted device: %v", err)
		}
		if err := st.CreateDevice(inst, &model.Device{MAC: mac, ProjectID: tr.a1.project.ID, Type: model.DoorPhone}); err != nil {
			t.Fatal(err)
		}
		if _, err := st.AuthenticateDevice(ctx, attempt(mac, deviceKey(8))); model.ErrorCode(err) != model.EFORBIDDEN {
			t.Errorf("re-added device with its old key: %v", err)
		}
	})
}

func commandOfList(t *testing.T, st *store.Store, ctx context.Context, mac string, id int64) *model.DeviceCommand {
	t.Helper()
	cs, _ := st.ListCommands(ctx, mac, 50)
	for _, c := range cs {
		if c.ID == id {
			return c
		}
	}
	t.Fatalf("command %d not listed", id)
	return nil
}

// TestClaimCodes: a maker's claim code imported with the MAC library accepts
// the key of a device without one at once; a wrong code or a device with an
// accepted key does not.
func TestClaimCodes(t *testing.T) {
	eachBackend(t, func(t *testing.T, st *store.Store) {
		tr := mustTree(t, st)
		inst := as(tr.a1.installer)
		ctx := context.Background()
		macs := []string{fmt.Sprintf("0C1106%06X", nextSeq()), fmt.Sprintf("0C1106%06X", nextSeq())}
		res, err := st.ImportMACs(inst, tr.a1.installer.ID, []model.MACRow{
			{Row: 1, MAC: macs[0], Name: "Gate", Claim: "7kq2-m9xd-4tpa-r8wc"},
			{Row: 2, MAC: macs[1]},
			{Row: 3, MAC: fmt.Sprintf("0C1106%06X", nextSeq()), Claim: "short"},
		})
		if err != nil || res.Imported != 2 || len(res.Rejected) != 1 || res.Rejected[0].Row != 3 || !strings.Contains(res.Rejected[0].Reason, "claim code") {
			t.Fatalf("import: %+v %v", res, err)
		}
		l, _ := st.ListMACs(inst, tr.a1.installer.ID, model.MACFilter{Search: macs[0], Page: model.Page{Page: 1, PerPage: 5}})
		if len(l.Items) != 1 || !l.Items[0].ClaimCode {
			t.Errorf("library: %+v", l.Items)
		}
		for _, m := range macs {
			if err := st.CreateDevice(inst, &model.Device{MAC: m, ProjectID: tr.a1.project.ID, Type: model.DoorPhone}); err != nil {
				t.Fatal(err)
			}
		}
		try := func(mac, key, claim string) error {
			a := attempt(mac, key)
			a.Claim = claim
			_, err := st.AuthenticateDevice(ctx, a)
			return err
		}
		if err := try(macs[0], deviceKey(1), "7KQ2M9XD4TPAR8WX"); model.ErrorCode(err) != model.EFORBIDDEN {
			t.Errorf("a wrong claim code: %v", err)
		}
		if err := try(macs[1], deviceKey(1), "7KQ2M9XD4TPAR8WC"); model.ErrorCode(err) != model.EFORBIDDEN {
			t.Errorf("another MAC's claim code: %v", err)
		}
		if err := try(macs[0], deviceKey(1), "7KQ2 M9XD 4TPA R8WC"); err != nil {
			t.Errorf("the claim code: %v", err)
		}
		if n := auditCount(t, st, "device.key_accepted", macs[0]); n != 1 {
			t.Errorf("key_accepted audited %d times", n)
		}
		// The pending key it had is gone; a key already accepted is not
		// replaced by the claim code.
		if err := try(macs[0], deviceKey(2), "7KQ2M9XD4TPAR8WC"); model.ErrorCode(err) != model.EFORBIDDEN {
			t.Errorf("the claim code replaced an accepted key: %v", err)
		}
		if en, _ := st.GetDeviceEnrollment(inst, macs[0]); !en.ClaimCode || !en.Accepted || len(en.Keys) != 1 {
			t.Errorf("enrollment: %+v", en)
		}
	})
}

// TestEnrollmentListsAreScoped: the pending list and the open windows show
// the actor's subtree only.
func TestEnrollmentListsAreScoped(t *testing.T) {
	eachBackend(t, func(t *testing.T, st *store.Store) {
		tr := mustTree(t, st)
		for _, b := range []*branch{tr.a1, tr.a2, tr.b} {
			if _, err := newPendingKey(st, b.device.MAC); err != nil {
				t.Fatal(err)
			}
			if _, err := st.OpenEnrollWindow(as(b.installer), b.device.MAC, 0, 0); err != nil {
				t.Fatal(err)
			}
		}
		for _, actor := range []*model.Account{tr.admin, tr.distA, tr.subA1, tr.subA2, tr.a1.installer, tr.a2.installer, tr.distB, tr.subB, tr.b.installer} {
			l, err := st.ListPendingKeys(as(actor), model.PendingKeyFilter{Page: model.Page{Page: 1, PerPage: 50}})
			if err != nil {
				t.Fatal(err)
			}
			ws, err := st.ListEnrollWindows(as(actor))
			if err != nil {
				t.Fatal(err)
			}
			want := 0
			for _, b := range []*branch{tr.a1, tr.a2, tr.b} {
				if !tr.canSee(actor, b) {
					continue
				}
				want++
				found, foundW := false, false
				for _, k := range l.Items {
					found = found || k.MAC == b.device.MAC
				}
				for _, w := range ws {
					foundW = foundW || w.MAC == b.device.MAC
				}
				if !found || !foundW {
					t.Errorf("%s does not see %s's pending key (%v) or window (%v)", actor.Username, b.installer.Username, found, foundW)
				}
			}
			if l.Total != want || len(l.Items) != want || len(ws) != want {
				t.Errorf("%s sees %d pending keys and %d windows, want %d", actor.Username, l.Total, len(ws), want)
			}
		}
	})
}

// TestPendingKeyHostileHeaders: the model and firmware a stranger's device
// sends are headers of any bytes; kept with a pending key they are made
// storable (valid UTF-8, no NUL, cut on a character boundary), never a
// failed write that would answer differently from an unknown MAC.
func TestPendingKeyHostileHeaders(t *testing.T) {
	eachBackend(t, func(t *testing.T, st *store.Store) {
		tr := mustTree(t, st)
		mac := tr.a1.device.MAC
		a := attempt(mac, "hostile-"+strings.Repeat("h", 40))
		a.Model = "\xff\xfeR29\x00C"
		a.Firmware = strings.Repeat("é", 40) // 80 bytes: a 64-byte cut falls inside a character
		if _, err := st.AuthenticateDevice(context.Background(), a); model.ErrorCode(err) != model.EFORBIDDEN {
			t.Fatalf("a stranger's key with odd headers: %v, want the refusal every stranger gets", err)
		}
		l, err := st.ListPendingKeys(sys, model.PendingKeyFilter{MAC: mac, Page: model.Page{Page: 1, PerPage: 5}})
		if err != nil || len(l.Items) != 1 {
			t.Fatalf("pending keys: %+v %v", l, err)
		}
		k := l.Items[0]
		if !utf8.ValidString(k.Model) || strings.Contains(k.Model, "\x00") || !strings.Contains(k.Model, "R29") {
			t.Errorf("model kept as %q", k.Model)
		}
		if !utf8.ValidString(k.Firmware) || len(k.Firmware) > 64 || len(k.Firmware) < 60 {
			t.Errorf("firmware kept as %q (%d bytes)", k.Firmware, len(k.Firmware))
		}
	})
}
