package store_test

import (
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// BenchmarkNotificationRun times one run of the notification generators
// (store.DecideNotifications, at most 1,000 subjects per generator) on the
// demo data set: "backlog" with every generator's bound reached (a year of
// expiry notices and half the devices offline waiting: the cursors and the
// offline episodes each read one index range), "idle" with nothing due
// (the steady state between notices); and "due" lists the digests to mail.
// At a million end users and devices:
//
//	GATEHOUSE_BENCH_USERS=1000000 GATEHOUSE_BENCH_DEVICES=1000000 go test -run '^$' -bench NotificationRun -benchtime 20x -timeout 60m ./internal/store/
func BenchmarkNotificationRun(b *testing.B) {
	eachBenchStore(b, "GATEHOUSE_BENCH_NOTIFY_DB", func(b *testing.B, st *store.Store, backend string) {
		real := time.Now().UTC().Truncate(time.Second)
		start := real.Add(-365 * 24 * time.Hour)
		now := start
		st.SetClock(func() time.Time { return now })
		if _, err := st.DecideNotifications(sys, 1000); err != nil { // the cursors start a year back
			b.Fatal(err)
		}
		for _, q := range []string{`UPDATE devices SET online = true, node = 'bench', last_seen = created_at`,
			`UPDATE devices SET online = false, node = '' WHERE id % 2 = 0`, `DELETE FROM notifications`} {
			if _, err := st.DB().Exec(q); err != nil {
				b.Fatal(err)
			}
		}
		benchVacuum(b, st, backend, "end_users, devices, device_offline, orders, rollouts, notifications")
		now = real
		rows := 0
		b.Run("backlog", func(b *testing.B) {
			for b.Loop() {
				got, err := st.DecideNotifications(sys, 1000)
				if err != nil {
					b.Fatal(err)
				}
				for _, n := range got {
					rows += n
				}
			}
			b.ReportMetric(float64(rows)/float64(b.N), "rows/run")
		})
		b.Run("due", func(b *testing.B) {
			for b.Loop() {
				if _, err := st.DueNotificationDigests(sys, 200); err != nil {
					b.Fatal(err)
				}
			}
		})
		// Idle: every cursor ahead of the clock, no episode due.
		now = start.Add(-time.Hour)
		if _, err := st.DB().Exec(`UPDATE device_offline SET check_at = NULL`); err != nil {
			b.Fatal(err)
		}
		benchVacuum(b, st, backend, "device_offline, notifications, notification_cursors")
		b.Run("idle", func(b *testing.B) {
			for b.Loop() {
				if _, err := st.DecideNotifications(sys, 1000); err != nil {
					b.Fatal(err)
				}
			}
		})
	})
}
