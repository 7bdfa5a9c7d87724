package store_test

import (
	"errors"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/model"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

func init() {
	for _, m := range []string{"LeaseNotifications", "FreeNotificationLease", "DecideNotifications", "DueNotificationDigests",
		"NotificationDigest", "SettleNotificationDigest", "PruneNotifications"} {
		coveredElsewhere[m] = "system side: the notification scheduler (TestNotificationEpisodesFollowTheGateway; internal/usecase TestNotify*)"
	}
	coveredElsewhere["GetNotificationSettings"] = "the actor's own settings, no id (TestNotificationSettingsAreOwn)"
	coveredElsewhere["PutNotificationSettings"] = "the actor's own settings, no id (TestNotificationSettingsAreOwn)"
}

func TestNotificationSettingsAreOwn(t *testing.T) {
	eachBackend(t, func(t *testing.T, st *store.Store) {
		tr := mustTree(t, st)
		inst := as(tr.a1.installer)
		ns, err := st.GetNotificationSettings(inst)
		if err != nil || ns.Updated != nil || !ns.DeviceOffline || ns.OfflineMinutes != 10 || ns.Email != tr.a1.installer.Email {
			t.Fatalf("defaults: %+v %v", ns, err)
		}
		ns.OfflineMinutes = 0
		if _, err := st.PutNotificationSettings(inst, ns); model.ErrorFields(err)["offline_minutes"] == "" {
			t.Fatalf("0 minutes: %v", err)
		}
		ns.OfflineMinutes, ns.DeviceOffline = 30, false
		if got, err := st.PutNotificationSettings(inst, ns); err != nil || got.Updated == nil || got.DeviceOffline || got.OfflineMinutes != 30 {
			t.Fatalf("saved: %+v %v", got, err)
		}
		// Its parent's are its parent's own.
		if p, _ := st.GetNotificationSettings(as(tr.subA1)); !p.DeviceOffline || p.Updated != nil {
			t.Errorf("the sub-distributor's settings changed: %+v", p)
		}
		if _, err := st.GetNotificationSettings(sys); model.ErrorCode(err) != model.ENOTFOUND {
			t.Errorf("the system has no settings: %v", err)
		}
	})
}

// The gateway's writes open and close a device's offline episode (the
// triggers); the ledger decides each notice once; a digest is read only by
// the lease's holder.
func TestNotificationEpisodesFollowTheGateway(t *testing.T) {
	eachBackend(t, func(t *testing.T, st *store.Store) {
		tr := mustTree(t, st)
		t0 := time.Date(2031, 1, 5, 10, 0, 0, 0, time.UTC)
		now := t0
		st.SetClock(func() time.Time { return now })
		mac := tr.a1.device.MAC
		if err := st.DeviceConnected(sys, mac, "n1", t0, model.DeviceHello{}); err != nil {
			t.Fatal(err)
		}
		if _, err := st.DecideNotifications(sys, 100); err != nil { // starts the cursors
			t.Fatal(err)
		}
		if err := st.DeviceDisconnected(sys, mac, "n1", t0, t0.Add(time.Minute)); err != nil {
			t.Fatal(err)
		}
		now = t0.Add(12 * time.Minute)
		got, err := st.DecideNotifications(sys, 100)
		if err != nil || got[model.NotifyDeviceOffline] != 2 {
			t.Fatalf("offline 11 minutes: %v %v, want 2 rows (installer, sub-distributor)", got, err)
		}
		if got, _ := st.DecideNotifications(sys, 100); got[model.NotifyDeviceOffline] != 0 {
			t.Fatalf("decided again: %v", got)
		}
		if err := st.DeviceConnected(sys, mac, "n2", t0.Add(20*time.Minute), model.DeviceHello{}); err != nil {
			t.Fatal(err)
		}
		now = t0.Add(21 * time.Minute)
		if got, _ := st.DecideNotifications(sys, 100); got[model.NotifyDeviceOffline] != 2 {
			t.Fatalf("back: %v, want 2 rows", got)
		}
		// A node that died: StaleOffline opens an episode too.
		if n, err := st.StaleOffline(sys, t0.Add(30*time.Minute)); err != nil || n != 1 {
			t.Fatalf("stale: %d %v", n, err)
		}
		var open int
		if err := st.DB().QueryRow(`SELECT count(*) FROM device_offline WHERE back_at IS NULL`).Scan(&open); err != nil || open != 1 {
			t.Fatalf("open episodes: %d %v", open, err)
		}

		keys, err := st.DueNotificationDigests(sys, 10)
		if err != nil || len(keys) != 2 {
			t.Fatalf("due: %v %v", keys, err)
		}
		if _, err := st.NotificationDigest(sys, "node-a", time.Minute, keys[0], 50); !errors.Is(err, store.ErrLeaseLost) {
			t.Fatalf("digest without the lease: %v", err)
		}
		if ok, err := st.LeaseNotifications(sys, "node-a", time.Minute); !ok || err != nil {
			t.Fatalf("lease: %v %v", ok, err)
		}
		if ok, _ := st.LeaseNotifications(sys, "node-b", time.Minute); ok {
			t.Fatal("node-b took a held lease")
		}
		for _, k := range keys {
			d, err := st.NotificationDigest(sys, "node-a", time.Minute, k, 1)
			if err != nil || d.Count != 2 || len(d.Lines) != 1 || d.Lines[0].Event != "offline" || d.Lines[0].MAC != mac || !d.On {
				t.Fatalf("digest %v: %+v %v", k, d, err)
			}
			if err := st.SettleNotificationDigest(sys, d, store.NotifySent, time.Time{}); err != nil {
				t.Fatal(err)
			}
		}
		if keys, _ := st.DueNotificationDigests(sys, 10); len(keys) != 0 {
			t.Fatalf("due after sending: %v", keys)
		}
		if err := st.FreeNotificationLease(sys, "node-a"); err != nil {
			t.Fatal(err)
		}
		if ok, _ := st.LeaseNotifications(sys, "node-b", time.Minute); !ok {
			t.Fatal("node-b could not take the freed lease")
		}
		now = t0.Add(100 * 24 * time.Hour)
		if n, err := st.PruneNotifications(sys, now.Add(-90*24*time.Hour)); err != nil || n != 4 {
			t.Fatalf("pruned %d %v, want 4", n, err)
		}
	})
}
