package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/model"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

func init() {
	// Any visible device opens a session or is refused as offline; a foreign
	// one is not found before its state is looked at.
	tenancyCases = append(tenancyCases, tenancyCase{method: "CreateRemoteSession", call: func(st *store.Store, ctx context.Context, b *branch) error {
		_, _, err := st.CreateRemoteSession(ctx, b.device.MAC)
		if model.ErrorCode(err) == model.ECONFLICT {
			return nil
		}
		return err
	}})
	coveredElsewhere["RemoteSessionDevice"] = "TestRemoteSessions"
	// System side: the link's code and then the browser's secret are the proof.
	coveredElsewhere["ClaimRemoteSession"] = "TestRemoteSessionHandoff"
	coveredElsewhere["RemoteSessionBrowser"] = "TestRemoteSessionHandoff"
}

func TestRemoteSessionHandoff(t *testing.T) {
	eachBackend(t, func(t *testing.T, st *store.Store) {
		tr := mustTree(t, st)
		mac := tr.a1.device.MAC
		if err := st.DeviceConnected(sys, mac, "node-1", time.Now(), model.DeviceHello{}); err != nil {
			t.Fatal(err)
		}
		token, rs, err := st.CreateRemoteSession(as(tr.subA1), mac)
		if err != nil || len(rs.Handoff) < 40 {
			t.Fatalf("session: %+v %v", rs, err)
		}
		if _, _, err := st.ClaimRemoteSession(sys, token, rs.Handoff+"x"); model.ErrorCode(err) != model.ENOTFOUND {
			t.Errorf("wrong code: %v", err)
		}
		if _, err := st.RemoteSessionBrowser(sys, token, ""); model.ErrorCode(err) != model.ENOTFOUND {
			t.Errorf("unclaimed session used: %v", err)
		}
		got, secret, err := st.ClaimRemoteSession(sys, token, rs.Handoff)
		if err != nil || got != mac || secret == "" {
			t.Fatalf("claim: %q %q %v", got, secret, err)
		}
		if _, _, err := st.ClaimRemoteSession(sys, token, rs.Handoff); model.ErrorCode(err) != model.EFORBIDDEN {
			t.Errorf("second claim: %v", err)
		}
		if got, err := st.RemoteSessionBrowser(sys, token, secret); err != nil || got != mac {
			t.Errorf("claimed browser: %q %v", got, err)
		}
		if _, err := st.RemoteSessionBrowser(sys, token, secret+"x"); model.ErrorCode(err) != model.ENOTFOUND {
			t.Errorf("another browser: %v", err)
		}
		// A link not claimed within its time is refused.
		token2, rs2, _ := st.CreateRemoteSession(as(tr.subA1), mac)
		st.SetClock(func() time.Time { return time.Now().Add(store.RemoteHandoffTTL + time.Minute) })
		defer st.SetClock(time.Now)
		if _, _, err := st.ClaimRemoteSession(sys, token2, rs2.Handoff); model.ErrorCode(err) != model.EFORBIDDEN {
			t.Errorf("late claim: %v", err)
		}
	})
}

func TestRemoteSessions(t *testing.T) {
	eachBackend(t, func(t *testing.T, st *store.Store) {
		tr := mustTree(t, st)
		mac := tr.a1.device.MAC
		// Offline: refused, nothing stored.
		if _, _, err := st.CreateRemoteSession(as(tr.subA1), mac); model.ErrorCode(err) != model.ECONFLICT {
			t.Fatalf("offline device: %v, want conflict", err)
		}
		if err := st.DeviceConnected(sys, mac, "node-1", time.Now(), model.DeviceHello{Model: "R29C"}); err != nil {
			t.Fatal(err)
		}
		token, rs, err := st.CreateRemoteSession(as(tr.subA1), mac)
		if err != nil {
			t.Fatal(err)
		}
		if rs.MAC != mac || rs.AccountID != tr.subA1.ID || !rs.Expires.After(rs.Created) || len(token) < 40 {
			t.Fatalf("session %+v token %q", rs, token)
		}
		got, err := st.RemoteSessionDevice(as(tr.subA1), token)
		if err != nil || got != mac {
			t.Fatalf("own session: %q %v", got, err)
		}
		// Bound to the account that opened it: its installer and its
		// distributor, who can see the device, still get "not found".
		for _, other := range []*model.Account{tr.a1.installer, tr.distA, tr.subA2, tr.admin} {
			if _, err := st.RemoteSessionDevice(as(other), token); model.ErrorCode(err) != model.ENOTFOUND {
				t.Errorf("%s used another account's session: %v", other.Username, err)
			}
		}
		if _, err := st.RemoteSessionDevice(as(tr.subA1), token+"x"); model.ErrorCode(err) != model.ENOTFOUND {
			t.Errorf("wrong token: %v", err)
		}
		// Expired after its time.
		st.SetClock(func() time.Time { return time.Now().Add(store.RemoteSessionTTL + time.Minute) })
		defer st.SetClock(time.Now)
		if _, err := st.RemoteSessionDevice(as(tr.subA1), token); model.ErrorCode(err) != model.EFORBIDDEN {
			t.Errorf("expired session: %v", err)
		}
		// Audited.
		l, err := st.ListAudit(as(tr.subA1), model.AuditFilter{Action: "device.remote_control"})
		if err != nil || l.Total != 1 {
			t.Errorf("audit: %+v %v", l, err)
		}
	})
}

// TestOlderConnectionLosesTheRace: two connections of one device at once —
// the newer stays recorded whichever writes last (review suspicion: the
// loser's close could otherwise take a connected device offline).
func TestOlderConnectionLosesTheRace(t *testing.T) {
	eachBackend(t, func(t *testing.T, st *store.Store) {
		tr := mustTree(t, st)
		mac := tr.a1.device.MAC
		t1 := time.Now().UTC().Truncate(time.Millisecond)
		t2 := t1.Add(time.Millisecond)
		if err := st.DeviceConnected(sys, mac, "node-b", t2, model.DeviceHello{IP: "10.0.0.2"}); err != nil {
			t.Fatal(err)
		}
		if err := st.DeviceConnected(sys, mac, "node-a", t1, model.DeviceHello{IP: "10.0.0.1"}); model.ErrorCode(err) != model.ECONFLICT {
			t.Fatalf("older connection recorded over the newer: %v", err)
		}
		// The loser's close does not take the device offline.
		st.DeviceDisconnected(sys, mac, "node-a", t1, t2)
		det, _ := st.GetDeviceDetail(as(tr.subA1), mac)
		if !det.Online || det.IP != "10.0.0.2" {
			t.Errorf("after the loser's close: online %v ip %s", det.Online, det.IP)
		}
		// Once offline, any connection is recorded.
		st.DeviceDisconnected(sys, mac, "node-b", t2, t2)
		if err := st.DeviceConnected(sys, mac, "node-a", t1, model.DeviceHello{}); err != nil {
			t.Errorf("connection after offline: %v", err)
		}
		if err := st.DeviceConnected(sys, "0C1105FFFFFE", "node-a", t1, model.DeviceHello{}); model.ErrorCode(err) != model.ENOTFOUND {
			t.Errorf("unknown device: %v", err)
		}
	})
}
