package usecase

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/mail"
	"github.com/gatehouse-dev/gatehouse/internal/mail/mailtest"
	"github.com/gatehouse-dev/gatehouse/internal/model"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// The notification scheduler, on both engines, with a real SMTP server and
// the store's clock moved by the tests (no timing assertions).

// notifyClock is a clock the test moves.
type notifyClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *notifyClock) get() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *notifyClock) set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = t.UTC()
}

func notifyWithClock(t *testing.T, st *store.Store, at time.Time) *notifyClock {
	c := &notifyClock{now: at.UTC()}
	st.SetClock(c.get)
	return c
}

// notifyExec runs a fixed statement with ? placeholders on either engine.
func notifyExec(t *testing.T, st *store.Store, query string, args ...any) {
	t.Helper()
	if st.Dialect() == store.Postgres {
		n := 0
		var b strings.Builder
		for _, r := range query {
			if r == '?' {
				n++
				b.WriteString("$" + strconv.Itoa(n))
			} else {
				b.WriteRune(r)
			}
		}
		query = b.String()
	}
	if _, err := st.DB().Exec(query, args...); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
}

func notifyStep(t *testing.T, n *Notifier) NotifyStep {
	t.Helper()
	s, err := n.Step(context.Background())
	if err != nil {
		t.Fatalf("step: %v", err)
	}
	return s
}

// notifyMails returns the messages that arrived since the first skip.
func notifyMailsTo(msgs []mailtest.Received, addr string) []mailtest.Received {
	var out []mailtest.Received
	for _, m := range msgs {
		for _, to := range m.To {
			if to == addr {
				out = append(out, m)
			}
		}
	}
	return out
}

func notifySettings(t *testing.T, tc *testCases, a *model.Account, in NotificationSettingsInput) {
	t.Helper()
	if _, err := tc.SaveNotificationSettings(deviceAs(a), in); err != nil {
		t.Fatal(err)
	}
}

func off() *bool { b := false; return &b }

var notifyT0 = time.Date(2031, 3, 10, 9, 0, 0, 0, time.UTC)

// A power cut of 500 devices in one project is one mail to the installer
// and one to its sub-distributor, listing 50 and "450 more"; their coming
// back is one more each. The other branch's devices, untouched, are in
// no mail; a device back within the quiet period is in none.
func TestNotifyPowerCutIsOneDigestPerRecipient(t *testing.T) {
	forEachBackend(t, func(t *testing.T, backend string) {
		tc := newTestCases(t, backend)
		clock := notifyWithClock(t, tc.store, notifyT0)
		tr := newDeviceTree(t, tc.store)
		deviceMore(t, tc.store, tr.own, 499)
		notifyExec(t, tc.store, `UPDATE devices SET online = true, node = 'n1', last_seen = ?, connected_at = ?`, notifyT0, notifyT0)
		n := tc.NewNotifier("node-a")
		notifyStep(t, n) // starts the cursors

		// The power cut: every device of the project offline at T0.
		notifyExec(t, tc.store, `UPDATE devices SET online = false, node = '' WHERE project_id = ?`, tr.own.project.ID)
		// The other branch's device drops and is back within 5 minutes: quiet.
		notifyExec(t, tc.store, `UPDATE devices SET online = false, node = '' WHERE id = ?`, tr.other.device.ID)
		clock.set(notifyT0.Add(5 * time.Minute))
		notifyExec(t, tc.store, `UPDATE devices SET online = true, connected_at = ? WHERE id = ?`, clock.get(), tr.other.device.ID)
		if s := notifyStep(t, n); s.Decided[model.NotifyDeviceOffline] != 0 || s.Sent != 0 {
			t.Fatalf("5 minutes in: %+v, want nothing (10 minutes by default)", s)
		}
		clock.set(notifyT0.Add(11 * time.Minute))
		if s := notifyStep(t, n); s.Decided[model.NotifyDeviceOffline] != 1000 || s.Sent != 0 {
			t.Fatalf("11 minutes in: %+v, want 1000 rows decided (500 each for 2 recipients), none sent yet (the digest waits)", s)
		}
		clock.set(notifyT0.Add(14 * time.Minute))
		if s := notifyStep(t, n); s.Sent != 2 {
			t.Fatalf("14 minutes in: %+v, want 2 digests", s)
		}
		msgs := tc.smtp.Wait(t, 2, 10*time.Second)
		inst, sub := notifyMailsTo(msgs, tr.own.installer.Email), notifyMailsTo(msgs, tr.own.sub.Email)
		if len(msgs) != 2 || len(inst) != 1 || len(sub) != 1 {
			t.Fatalf("got %d mails (installer %d, sub %d), want one each", len(msgs), len(inst), len(sub))
		}
		for _, m := range msgs {
			if !strings.Contains(m.Subject, "500 device event(s) in own Gardens") || !strings.Contains(m.Text, "450 more") ||
				!strings.Contains(m.Text, "offline since 2031-03-10 09:00 UTC") || strings.Contains(m.Text, "Gate other") {
				t.Errorf("digest to %v: %q\n%s", m.To, m.Subject, m.Text)
			}
		}
		// They come back: one more digest each, nothing more after.
		clock.set(notifyT0.Add(30 * time.Minute))
		notifyExec(t, tc.store, `UPDATE devices SET online = true, connected_at = ? WHERE project_id = ?`, clock.get(), tr.own.project.ID)
		clock.set(notifyT0.Add(31 * time.Minute))
		notifyStep(t, n)
		clock.set(notifyT0.Add(40 * time.Minute))
		notifyStep(t, n)
		msgs = tc.smtp.Wait(t, 4, 10*time.Second)
		clock.set(notifyT0.Add(60 * time.Minute))
		if s := notifyStep(t, n); s.Sent != 0 || s.Decided[model.NotifyDeviceOffline] != 0 {
			t.Fatalf("after: %+v", s)
		}
		if msgs = tc.smtp.Messages(); len(msgs) != 4 {
			t.Fatalf("%d mails, want 4", len(msgs))
		}
		for _, m := range msgs[2:] {
			if !strings.Contains(m.Text, "back online at 2031-03-10 09:30 UTC") {
				t.Errorf("back digest: %s", m.Text)
			}
		}
		if n := deviceCount(t, tc.store, "device_offline"); n != 0 {
			t.Errorf("%d offline episodes left, want 0", n)
		}
	})
}

// A kind switched off sends nothing to that account (its sub-distributor,
// still on, gets its digest); the offline minutes are the account's own.
func TestNotifyKindOffAndOwnMinutes(t *testing.T) {
	forEachBackend(t, func(t *testing.T, backend string) {
		tc := newTestCases(t, backend)
		clock := notifyWithClock(t, tc.store, notifyT0)
		tr := newDeviceTree(t, tc.store)
		notifySettings(t, tc, tr.own.installer, NotificationSettingsInput{DeviceOffline: off()})
		mins := 60
		notifySettings(t, tc, tr.own.sub, NotificationSettingsInput{OfflineMinutes: &mins})
		notifyExec(t, tc.store, `UPDATE devices SET online = true, node = 'n1', last_seen = ?, connected_at = ?`, notifyT0, notifyT0)
		n := tc.NewNotifier("node-a")
		notifyStep(t, n)
		notifyExec(t, tc.store, `UPDATE devices SET online = false, node = '' WHERE id = ?`, tr.own.device.ID)
		clock.set(notifyT0.Add(30 * time.Minute))
		if s := notifyStep(t, n); s.Decided[model.NotifyDeviceOffline] != 0 {
			t.Fatalf("30 minutes in: %+v, want nothing (installer off, sub at 60 minutes)", s)
		}
		clock.set(notifyT0.Add(61 * time.Minute))
		notifyStep(t, n)
		clock.set(notifyT0.Add(70 * time.Minute))
		if s := notifyStep(t, n); s.Sent != 1 {
			t.Fatalf("70 minutes in: %+v, want one digest", s)
		}
		msgs := tc.smtp.Wait(t, 1, 10*time.Second)
		if len(msgs) != 1 || len(notifyMailsTo(msgs, tr.own.sub.Email)) != 1 {
			t.Fatalf("mails: %+v, want one to the sub-distributor", msgs)
		}
	})
}

// notifyEndUsers adds end users to b's community with their app expiry.
func notifyEndUsers(t *testing.T, st *store.Store, b deviceBranch, name string, exp ...time.Time) {
	t.Helper()
	id, err := st.MaxID(deviceSys, "end_users")
	if err != nil {
		t.Fatal(err)
	}
	var rows [][]any
	for i, e := range exp {
		id++
		rows = append(rows, []any{id, b.installer.ID, b.project.ID, "family_member", fmt.Sprintf("%s %d", name, i), notifyT0, e,
			string(model.ProjectCommunity), b.sub.ParentID, b.sub.ID})
	}
	if err := st.BulkInsert(deviceSys, "end_users", []string{"id", "installer_id", "project_id", "role", "name", "created_at",
		"app_expires_at", "project_kind", "distributor_id", "subdistributor_id"}, rows); err != nil {
		t.Fatal(err)
	}
}

// Expiry notices: one digest per installer and per sub-distributor, holding
// only their own subtree's users; after downtime only the latest notice
// that passed is sent, once; a restarted scheduler sends nothing twice.
func TestNotifyExpiryDigestsCatchUpAndTenancy(t *testing.T) {
	forEachBackend(t, func(t *testing.T, backend string) {
		tc := newTestCases(t, backend)
		clock := notifyWithClock(t, tc.store, notifyT0)
		tr := newDeviceTree(t, tc.store)
		exp := time.Date(2031, 5, 20, 15, 0, 0, 0, time.UTC) // 71 days after T0
		notifyEndUsers(t, tc.store, tr.own, "Alice", exp, exp, exp)
		notifyEndUsers(t, tc.store, tr.other, "Bob", exp)
		notifyStep(t, tc.NewNotifier("node-a")) // the first run: cursors start now

		// Down from now until 3 days before: the 30-day and the 7-day notice
		// passed; only the 7-day one is sent, by a new process.
		clock.set(exp.Add(-3 * 24 * time.Hour))
		n := tc.NewNotifier("node-b")
		if s := notifyStep(t, n); s.Decided[model.NotifyEndUserExpiry] != 8 {
			t.Fatalf("catch-up: %+v, want 8 rows (4 users × installer and sub)", s)
		}
		clock.set(clock.get().Add(6 * time.Minute))
		if s := notifyStep(t, n); s.Sent != 4 {
			t.Fatalf("%+v, want 4 digests (2 installers, 2 subs)", s)
		}
		msgs := tc.smtp.Wait(t, 4, 10*time.Second)
		for _, m := range msgs {
			if strings.Contains(m.Text, "30 days") || !strings.Contains(m.Text, "expires in 7 days (2031-05-20)") {
				t.Errorf("catch-up digest to %v: %s", m.To, m.Text)
			}
		}
		own := notifyMailsTo(msgs, tr.own.sub.Email)
		if len(own) != 1 || !strings.Contains(own[0].Text, "Alice 2") || strings.Contains(own[0].Text, "Bob") ||
			!strings.Contains(own[0].Subject, "3 end user") || !strings.Contains(own[0].Text, "inst-own") {
			t.Errorf("own sub-distributor's digest: %+v", own)
		}
		if other := notifyMailsTo(msgs, tr.other.installer.Email); len(other) != 1 || strings.Contains(other[0].Text, "Alice") {
			t.Errorf("other installer's digest: %+v", other)
		}
		// A restart (a new notifier) and more runs the same day: nothing again.
		clock.set(clock.get().Add(time.Hour))
		if s := notifyStep(t, tc.NewNotifier("node-c")); s.Sent != 0 || s.Decided[model.NotifyEndUserExpiry] != 0 {
			t.Fatalf("again: %+v", s)
		}
		// Down past the expiry: the 1-day notice passed too; only "expired".
		clock.set(exp.Add(3 * 24 * time.Hour))
		notifyStep(t, n)
		clock.set(clock.get().Add(6 * time.Minute))
		notifyStep(t, n)
		msgs = tc.smtp.Wait(t, 8, 10*time.Second)
		for _, m := range msgs[4:] {
			if strings.Contains(m.Text, "1 day") || !strings.Contains(m.Text, "expired (2031-05-20)") {
				t.Errorf("expired digest: %s", m.Text)
			}
		}
		if len(tc.smtp.Messages()) != 8 {
			t.Errorf("%d mails, want 8", len(tc.smtp.Messages()))
		}
	})
}

// Two nodes running the scheduler at once mail each digest once; the
// lease of a node that stopped passes to the other after it runs out.
func TestNotifyTwoNodesSendOnce(t *testing.T) {
	forEachBackend(t, func(t *testing.T, backend string) {
		tc := newTestCases(t, backend)
		clock := notifyWithClock(t, tc.store, notifyT0)
		tr := newDeviceTree(t, tc.store)
		notifyEndUsers(t, tc.store, tr.own, "Carol", notifyT0.Add(10*24*time.Hour))
		// Another node's Cases over the same database (a second process).
		sender, err := mail.NewSMTP(tc.smtp.Config())
		if err != nil {
			t.Fatal(err)
		}
		other := New(Deps{Store: tc.store, Mail: sender, Log: slog.New(slog.NewTextHandler(io.Discard, nil)), PublicURL: "https://portal.example"})
		a, b := tc.NewNotifier("node-a"), other.NewNotifier("node-b")
		notifyStep(t, a)
		clock.set(notifyT0.Add(4 * 24 * time.Hour)) // the 7-day notice is due
		race := func() {
			var wg sync.WaitGroup
			for _, n := range []*Notifier{a, b, a, b} {
				wg.Go(func() {
					for range 5 {
						if _, err := n.Step(context.Background()); err != nil {
							t.Error(err)
						}
						// Less than the lease in all: a holder's lease never
						// runs out under it (its mail takes far less than the
						// lease in real time; the send is bounded by it).
						clock.set(clock.get().Add(time.Second))
					}
				})
			}
			wg.Wait()
		}
		race() // decides the notices
		clock.set(clock.get().Add(6 * time.Minute))
		race() // mails the digests (whoever holds the lease)
		clock.set(clock.get().Add(10 * time.Minute))
		race()
		msgs := tc.smtp.Wait(t, 2, 10*time.Second)
		if len(msgs) != 2 || len(notifyMailsTo(msgs, tr.own.installer.Email)) != 1 || len(notifyMailsTo(msgs, tr.own.sub.Email)) != 1 {
			t.Fatalf("%d mails, want one to the installer and one to the sub-distributor", len(msgs))
		}
		// Node a stops without freeing its lease: b waits for it to run out.
		clock.set(clock.get().Add(3 * time.Minute))
		if ok, err := tc.store.LeaseNotifications(deviceSys, "node-a", time.Minute); err != nil || !ok {
			t.Fatalf("lease a: %v %v", ok, err)
		}
		if s := notifyStep(t, b); s.Leased {
			t.Fatalf("b leased while a holds it")
		}
		clock.set(clock.get().Add(2 * time.Minute))
		if s := notifyStep(t, b); !s.Leased {
			t.Fatalf("b did not take over a's expired lease")
		}
		if err := tc.store.FreeNotificationLease(deviceSys, "node-b"); err != nil {
			t.Fatal(err)
		}
		if s := notifyStep(t, a); !s.Leased {
			t.Fatalf("a did not take the freed lease")
		}
	})
}

// A delivery the SMTP server refuses is not lost: the rows stay pending,
// the next run after the back-off sends the digest once.
func TestNotifyFailedDeliveryIsRetriedOnce(t *testing.T) {
	forEachBackend(t, func(t *testing.T, backend string) {
		tc := newTestCases(t, backend)
		clock := notifyWithClock(t, tc.store, notifyT0)
		tr := newDeviceTree(t, tc.store)
		notifySettings(t, tc, tr.own.sub, NotificationSettingsInput{EndUserExpiry: off()})
		notifyEndUsers(t, tc.store, tr.own, "Dan", notifyT0.Add(20*24*time.Hour))
		n := tc.NewNotifier("node-a")
		notifyStep(t, n)
		clock.set(notifyT0.Add(14 * 24 * time.Hour))
		notifyStep(t, n)
		tc.smtp.Reject(true)
		clock.set(clock.get().Add(6 * time.Minute))
		if s := notifyStep(t, n); s.Failed != 1 || s.Sent != 0 {
			t.Fatalf("refused: %+v", s)
		}
		tc.smtp.Reject(false)
		if s := notifyStep(t, n); s.Sent != 0 {
			t.Fatalf("retried before the back-off: %+v", s)
		}
		clock.set(clock.get().Add(3 * time.Minute))
		if s := notifyStep(t, n); s.Sent != 1 {
			t.Fatalf("after the back-off: %+v", s)
		}
		clock.set(clock.get().Add(time.Hour))
		notifyStep(t, n)
		msgs := tc.smtp.Wait(t, 1, 10*time.Second)
		if len(tc.smtp.Messages()) != 1 || msgs[0].To[0] != tr.own.installer.Email || !strings.Contains(msgs[0].Text, "Dan 0") {
			t.Fatalf("mails: %+v", tc.smtp.Messages())
		}
	})
}

// Orders completed or failed go to the account that placed them; a paused
// rollout to its account; each in the account's language.
func TestNotifyOrdersAndRollouts(t *testing.T) {
	forEachBackend(t, func(t *testing.T, backend string) {
		tc := newTestCases(t, backend)
		clock := notifyWithClock(t, tc.store, notifyT0)
		tr := newDeviceTree(t, tc.store)
		notifyExec(t, tc.store, `UPDATE accounts SET language = 'de' WHERE id = ?`, tr.own.installer.ID)
		n := tc.NewNotifier("node-a")
		notifyStep(t, n)
		at := notifyT0.Add(time.Minute)
		id, _ := tc.store.MaxID(deviceSys, "orders")
		var rows [][]any
		for i, st := range []string{"completed", "failed", "processing"} {
			rows = append(rows, []any{id + int64(i) + 1, fmt.Sprintf("GH-%d", i), "activation", tr.own.installer.ID, tr.own.sub.ID,
				tr.own.sub.ParentID, tr.own.installer.ID, "community", st, 1, 1250, "USD", at, at, at})
		}
		if err := tc.store.BulkInsert(deviceSys, "orders", []string{"id", "number", "type", "installer_id", "subdistributor_id",
			"distributor_id", "created_by", "project_type", "status", "counts", "total", "currency", "created_at", "processing_since", "updated_at"}, rows); err != nil {
			t.Fatal(err)
		}
		fw, _ := tc.store.MaxID(deviceSys, "firmware")
		if err := tc.store.BulkInsert(deviceSys, "firmware", []string{"id", "version", "model", "file_url", "checksum", "created_at"},
			[][]any{{fw + 1, "9.9.9", "R29", "https://fw.example/x.bin", "abc", at}}); err != nil {
			t.Fatal(err)
		}
		ro, _ := tc.store.MaxID(deviceSys, "rollouts")
		if err := tc.store.BulkInsert(deviceSys, "rollouts", []string{"id", "firmware_id", "account_id", "subdistributor_id", "name", "status",
			"pause_reason", "created_at", "updated_at"}, [][]any{{ro + 1, fw + 1, tr.other.sub.ID, tr.other.sub.ID, "Spring R29", "paused",
			"3 failures reached the threshold of 2.", at, at}}); err != nil {
			t.Fatal(err)
		}
		clock.set(notifyT0.Add(2 * time.Minute))
		s := notifyStep(t, n)
		if s.Decided[model.NotifyOrderResult] != 2 || s.Decided[model.NotifyRolloutPaused] != 1 || s.Sent != 2 {
			t.Fatalf("%+v, want 2 orders and 1 rollout decided, 2 digests", s)
		}
		msgs := tc.smtp.Wait(t, 2, 10*time.Second)
		inst, sub := notifyMailsTo(msgs, tr.own.installer.Email), notifyMailsTo(msgs, tr.other.sub.Email)
		if len(inst) != 1 || !strings.Contains(inst[0].Subject, "2 Bestellung") || !strings.Contains(inst[0].Text, "GH-0") ||
			!strings.Contains(inst[0].Text, "abgeschlossen") || !strings.Contains(inst[0].Text, "fehlgeschlagen") || strings.Contains(inst[0].Text, "GH-2") {
			t.Errorf("order digest: %+v", inst)
		}
		if len(sub) != 1 || !strings.Contains(sub[0].Text, "Spring R29") || !strings.Contains(sub[0].Text, "threshold of 2") ||
			!strings.Contains(sub[0].Text, fmt.Sprintf("/rollouts/%d", ro+1)) {
			t.Errorf("rollout digest: %+v", sub)
		}
		clock.set(notifyT0.Add(time.Hour))
		if s := notifyStep(t, n); s.Sent != 0 || s.Decided[model.NotifyOrderResult] != 0 {
			t.Fatalf("again: %+v", s)
		}
		// Orders off: the next completed order is in no mail.
		notifySettings(t, tc, tr.own.installer, NotificationSettingsInput{OrderResult: off()})
		at = clock.get()
		if err := tc.store.BulkInsert(deviceSys, "orders", []string{"id", "number", "type", "installer_id", "subdistributor_id",
			"distributor_id", "created_by", "project_type", "status", "counts", "total", "currency", "created_at", "processing_since", "updated_at"},
			[][]any{{id + 4, "GH-3", "activation", tr.own.installer.ID, tr.own.sub.ID, tr.own.sub.ParentID, tr.own.installer.ID, "community",
				"completed", 1, 1250, "USD", at, at, at}}); err != nil {
			t.Fatal(err)
		}
		clock.set(at.Add(time.Hour))
		if s := notifyStep(t, n); s.Sent != 0 || s.Decided[model.NotifyOrderResult] != 0 {
			t.Fatalf("orders off: %+v", s)
		}
		if len(tc.smtp.Messages()) != 2 {
			t.Errorf("%d mails, want 2", len(tc.smtp.Messages()))
		}
	})
}

// A device offline longer than the minutes and back while no scheduler ran
// is still reported, once: its offline and back lines in one digest.
func TestNotifyDeviceCatchUpAfterDowntime(t *testing.T) {
	forEachBackend(t, func(t *testing.T, backend string) {
		tc := newTestCases(t, backend)
		clock := notifyWithClock(t, tc.store, notifyT0)
		tr := newDeviceTree(t, tc.store)
		notifySettings(t, tc, tr.own.sub, NotificationSettingsInput{DeviceOffline: off()})
		notifyExec(t, tc.store, `UPDATE devices SET online = true, node = 'n1', last_seen = ?, connected_at = ?`, notifyT0, notifyT0)
		notifyStep(t, tc.NewNotifier("node-a"))
		// Every node down: the device drops at T0 and is back at T0+30m.
		notifyExec(t, tc.store, `UPDATE devices SET online = false, node = '' WHERE id = ?`, tr.own.device.ID)
		notifyExec(t, tc.store, `UPDATE devices SET online = true, connected_at = ? WHERE id = ?`, notifyT0.Add(30*time.Minute), tr.own.device.ID)
		clock.set(notifyT0.Add(2 * time.Hour))
		n := tc.NewNotifier("node-b") // a restarted node
		if s := notifyStep(t, n); s.Decided[model.NotifyDeviceOffline] != 2 {
			t.Fatalf("catch-up: %+v, want the offline and the back row", s)
		}
		clock.set(clock.get().Add(3 * time.Minute))
		notifyStep(t, n)
		clock.set(clock.get().Add(time.Hour))
		notifyStep(t, n)
		msgs := tc.smtp.Wait(t, 1, 10*time.Second)
		if len(tc.smtp.Messages()) != 1 || msgs[0].To[0] != tr.own.installer.Email || !strings.Contains(msgs[0].Text, "offline since 2031-03-10 09:00 UTC") ||
			!strings.Contains(msgs[0].Text, "back online at 2031-03-10 09:30 UTC") {
			t.Fatalf("mails: %+v", tc.smtp.Messages())
		}
	})
}

// TestNotifyFlapIsOneEpisode: a device told offline comes back, drops
// again and is back once more, all between two runs: its return is still
// told (the second drop continues the episode instead of replacing it).
func TestNotifyFlapIsOneEpisode(t *testing.T) {
	forEachBackend(t, func(t *testing.T, backend string) {
		tc := newTestCases(t, backend)
		clock := notifyWithClock(t, tc.store, notifyT0)
		tr := newDeviceTree(t, tc.store)
		notifySettings(t, tc, tr.own.sub, NotificationSettingsInput{DeviceOffline: off()})
		notifyExec(t, tc.store, `UPDATE devices SET online = true, node = 'n1', last_seen = ?, connected_at = ?`, notifyT0, notifyT0)
		n := tc.NewNotifier("node-a")
		notifyStep(t, n)
		notifyExec(t, tc.store, `UPDATE devices SET online = false, node = '' WHERE id = ?`, tr.own.device.ID)
		clock.set(notifyT0.Add(15 * time.Minute))
		notifyStep(t, n)
		clock.set(notifyT0.Add(18 * time.Minute))
		if s := notifyStep(t, n); s.Sent != 1 {
			t.Fatalf("offline digest: %+v", s)
		}
		// Between two runs: back, a reboot 20 s later, back 30 s after that.
		back := notifyT0.Add(18*time.Minute + 10*time.Second)
		notifyExec(t, tc.store, `UPDATE devices SET online = true, connected_at = ?, last_seen = ? WHERE id = ?`, back, back, tr.own.device.ID)
		notifyExec(t, tc.store, `UPDATE devices SET online = false, node = '', last_seen = ? WHERE id = ?`, back.Add(20*time.Second), tr.own.device.ID)
		notifyExec(t, tc.store, `UPDATE devices SET online = true, connected_at = ? WHERE id = ?`, back.Add(50*time.Second), tr.own.device.ID)
		clock.set(notifyT0.Add(20 * time.Minute))
		notifyStep(t, n)
		clock.set(notifyT0.Add(30 * time.Minute))
		notifyStep(t, n)
		msgs := tc.smtp.Wait(t, 2, 10*time.Second)
		if len(msgs) != 2 || !strings.Contains(msgs[1].Text, "back online at 2031-03-10 09:19 UTC") {
			for _, m := range msgs {
				t.Logf("mail: %s", m.Text)
			}
			t.Fatalf("%d mails, want the offline digest and then the device's return", len(msgs))
		}
	})
}
