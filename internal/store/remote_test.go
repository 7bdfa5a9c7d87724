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
