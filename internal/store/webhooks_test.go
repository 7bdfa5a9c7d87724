package store_test

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/billing"
	"github.com/gatehouse-dev/gatehouse/internal/model"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

func init() {
	for _, m := range []string{"CreateWebhookEndpoint", "GetWebhookEndpoint", "ListWebhookEndpoints", "UpdateWebhookEndpoint",
		"DeleteWebhookEndpoint", "RotateWebhookSecret", "ListWebhookDeliveries", "GetWebhookDelivery", "RedeliverWebhook",
		"SendTestWebhook"} {
		coveredElsewhere[m] = "TestWebhookEndpointsAreOwn"
	}
	coveredElsewhere["FanOutWebhookEvents"] = "TestWebhookEventsStayInTheirTree (system side)"
	coveredElsewhere["ClaimWebhookDeliveries"] = "TestWebhookClaimsAreExclusive (system side)"
	coveredElsewhere["FinishWebhookDelivery"] = "TestWebhookRetriesThenDisable (system side)"
	coveredElsewhere["FreeWebhookLeases"] = "TestWebhookClaimsAreExclusive (system side)"
	coveredElsewhere["PruneWebhookEvents"] = "TestWebhookRetriesThenDisable (system side)"
	coveredElsewhere["LeaseWebhookJob"] = "TestEndUserExpiringOncePerThreshold (system side)"
	coveredElsewhere["EmitEndUserExpiring"] = "TestEndUserExpiringOncePerThreshold (system side)"
}

func sqlCount(t *testing.T, st *store.Store, q string) int {
	t.Helper()
	var n int
	if err := st.DB().QueryRow(q).Scan(&n); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return n
}

func mustEndpoint(t *testing.T, st *store.Store, owner *model.Account, url string, events ...string) *model.WebhookEndpoint {
	t.Helper()
	in := model.WebhookEndpointInput{URL: url, Events: events}
	mask, err := in.Normalize(true)
	if err != nil {
		t.Fatal(err)
	}
	e, err := st.CreateWebhookEndpoint(as(owner), in, mask, "whsec_test_"+owner.Username)
	if err != nil {
		t.Fatalf("endpoint of %s: %v", owner.Username, err)
	}
	return e
}

// TestWebhookEndpointsAreOwn: an account sees, changes and uses only its
// own endpoints and their deliveries — a parent included — and has at
// most 20; the secret is sealed in the database.
func TestWebhookEndpointsAreOwn(t *testing.T) {
	eachBackend(t, func(t *testing.T, st *store.Store) {
		tr := mustTree(t, st)
		own := mustEndpoint(t, st, tr.a1.installer, "https://hooks.example.com/a1", "device.online", "rollout.*")
		if own.Secret != "whsec_test_inst-a1" || len(own.Events) != 6 {
			t.Fatalf("created: %+v", own)
		}
		if n := sqlCount(t, st, `SELECT count(*) FROM webhook_endpoints WHERE secret LIKE '%whsec_%'`); n != 0 {
			t.Errorf("the secret is stored in the clear")
		}
		if got, _ := st.GetWebhookEndpoint(as(tr.a1.installer), own.ID); got == nil || got.Secret != "" {
			t.Errorf("a read shows the secret or nothing: %+v", got)
		}
		del, err := st.SendTestWebhook(as(tr.a1.installer), own.ID)
		if err != nil || del.EventType != model.EventTest || del.State != model.WebhookPending {
			t.Fatalf("test event: %+v %v", del, err)
		}
		if _, err := st.SendTestWebhook(as(tr.a1.installer), own.ID); model.ErrorCode(err) != model.ECONFLICT {
			t.Errorf("a second test while the first is on its way: %v", err)
		}
		for _, other := range []*model.Account{tr.subA1, tr.distA, tr.admin, tr.a2.installer, tr.b.installer} {
			ctx := as(other)
			notFound := func(what string, err error) {
				t.Helper()
				if model.ErrorCode(err) != model.ENOTFOUND {
					t.Errorf("%s reaches %s of inst-a1: %v", other.Username, what, err)
				}
			}
			_, err := st.GetWebhookEndpoint(ctx, own.ID)
			notFound("get", err)
			_, err = st.UpdateWebhookEndpoint(ctx, own.ID, model.WebhookEndpointInput{URL: "https://evil.example.com", Events: []string{"device.online"}}, 1)
			notFound("update", err)
			_, err = st.RotateWebhookSecret(ctx, own.ID, "whsec_x")
			notFound("rotate", err)
			_, err = st.ListWebhookDeliveries(ctx, own.ID, model.Page{Page: 1, PerPage: 10})
			notFound("deliveries", err)
			_, err = st.GetWebhookDelivery(ctx, del.ID)
			notFound("a delivery", err)
			_, err = st.RedeliverWebhook(ctx, del.ID)
			notFound("redeliver", err)
			_, err = st.SendTestWebhook(ctx, own.ID)
			notFound("test", err)
			notFound("delete", st.DeleteWebhookEndpoint(ctx, own.ID))
			if l, err := st.ListWebhookEndpoints(ctx); err != nil || len(l) != 0 {
				t.Errorf("%s lists %d endpoints (%v)", other.Username, len(l), err)
			}
		}
		if got, _ := st.GetWebhookEndpoint(as(tr.a1.installer), own.ID); got.URL != "https://hooks.example.com/a1" {
			t.Errorf("changed by another account: %+v", got)
		}
		// Owner: update, rotate, list deliveries, delete.
		off := false
		upd, err := st.UpdateWebhookEndpoint(as(tr.a1.installer), own.ID, model.WebhookEndpointInput{URL: "https://hooks.example.com/v2",
			Events: []string{"order.completed"}, Enabled: &off}, model.WebhookEventBit("order.completed"))
		if err != nil || upd.Enabled || upd.URL != "https://hooks.example.com/v2" || !slices.Equal(upd.Events, []string{"order.completed"}) {
			t.Fatalf("update: %+v %v", upd, err)
		}
		if _, err := st.SendTestWebhook(as(tr.a1.installer), own.ID); model.ErrorCode(err) != model.ECONFLICT {
			t.Errorf("a test to an endpoint turned off: %v", err)
		}
		rot, err := st.RotateWebhookSecret(as(tr.a1.installer), own.ID, "whsec_new")
		if err != nil || rot.Secret != "whsec_new" {
			t.Errorf("rotate: %+v %v", rot, err)
		}
		if l, err := st.ListWebhookDeliveries(as(tr.a1.installer), own.ID, model.Page{Page: 1, PerPage: 10}); err != nil || l.Total != 1 {
			t.Errorf("deliveries: %+v %v", l, err)
		}
		if err := st.DeleteWebhookEndpoint(as(tr.a1.installer), own.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := st.GetWebhookEndpoint(as(tr.a1.installer), own.ID); model.ErrorCode(err) != model.ENOTFOUND {
			t.Errorf("deleted endpoint: %v", err)
		}
		// The bound.
		for i := range model.MaxWebhookEndpoints {
			mustEndpoint(t, st, tr.subA1, fmt.Sprintf("https://hooks.example.com/%d", i), "*")
		}
		in := model.WebhookEndpointInput{URL: "https://hooks.example.com/21", Events: []string{"*"}}
		mask, _ := in.Normalize(false)
		if _, err := st.CreateWebhookEndpoint(as(tr.subA1), in, mask, "whsec_x"); model.ErrorCode(err) != model.ECONFLICT {
			t.Errorf("a 21st endpoint: %v", err)
		}
	})
}

// deliveriesOf lists the endpoint ids that got a delivery of an event type.
func deliveriesOf(t *testing.T, st *store.Store, typ string) []int64 {
	t.Helper()
	rows, err := st.DB().Query(`SELECT d.endpoint_id FROM webhook_deliveries d JOIN webhook_events e ON e.id = d.event_id
		WHERE e.type = '` + typ + `' ORDER BY d.endpoint_id`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []int64
	for rows.Next() {
		var id int64
		rows.Scan(&id)
		out = append(out, id)
	}
	return out
}

// TestWebhookEventsStayInTheirTree: a device's, an order's and a
// rollout's events reach the endpoints of the owning installer and its
// ancestors that subscribe to the type (an admin's hears all), never
// another tree's; with no endpoint subscribed, a device's hello writes no
// event row at all.
func TestWebhookEventsStayInTheirTree(t *testing.T) {
	eachBackend(t, func(t *testing.T, st *store.Store) {
		tr := mustTree(t, st)
		ctx := context.Background()
		hello := model.DeviceHello{IP: "203.0.113.9", Firmware: "1.0"}
		// Nobody subscribes: no event row.
		mustEndpoint(t, st, tr.a1.installer, "https://hooks.example.com/orders", "order.completed")
		if err := st.DeviceConnected(ctx, tr.a1.device.MAC, "node-a", time.Now(), hello); err != nil {
			t.Fatal(err)
		}
		if n := sqlCount(t, st, `SELECT count(*) FROM webhook_events`); n != 0 {
			t.Fatalf("%d event rows written with nobody subscribed", n)
		}
		inst := mustEndpoint(t, st, tr.a1.installer, "https://hooks.example.com/inst", "device.online", "device.offline")
		sub := mustEndpoint(t, st, tr.subA1, "https://hooks.example.com/sub", "device.*", "command.*")
		dist := mustEndpoint(t, st, tr.distA, "https://hooks.example.com/dist", "*")
		admin := mustEndpoint(t, st, tr.admin, "https://hooks.example.com/admin", "device.online")
		other := mustEndpoint(t, st, tr.a2.installer, "https://hooks.example.com/a2", "*")
		foreign := mustEndpoint(t, st, tr.distB, "https://hooks.example.com/distb", "*")
		notSub := mustEndpoint(t, st, tr.a1.installer, "https://hooks.example.com/rollouts", "rollout.started")
		_ = notSub
		at := time.Now().Add(time.Second)
		if err := st.DeviceConnected(ctx, tr.a1.device.MAC, "node-a", at, hello); err != nil {
			t.Fatal(err)
		}
		if err := st.DeviceDisconnected(ctx, tr.a1.device.MAC, "node-a", at, at.Add(time.Minute)); err != nil {
			t.Fatal(err)
		}
		if _, err := st.FanOutWebhookEvents(sys, 500); err != nil {
			t.Fatal(err)
		}
		want := []int64{inst.ID, sub.ID, dist.ID, admin.ID}
		slices.Sort(want)
		if got := deliveriesOf(t, st, "device.online"); !slices.Equal(got, want) {
			t.Errorf("device.online reached %v, want %v (a2 %d, distB %d)", got, want, other.ID, foreign.ID)
		}
		want = []int64{inst.ID, sub.ID, dist.ID}
		slices.Sort(want)
		if got := deliveriesOf(t, st, "device.offline"); !slices.Equal(got, want) {
			t.Errorf("device.offline reached %v, want %v", got, want)
		}
		// A command's end, in the tree of inst-b: only distB's endpoint
		// (and nobody of tree A).
		cmd, err := st.CreateCommand(as(tr.b.installer), tr.b.device.MAC, model.CommandReboot, "")
		if err != nil {
			t.Fatal(err)
		}
		if _, done, err := st.AckCommand(sys, tr.b.device.ID, cmd.ID, false, "busy", ""); err != nil || !done {
			t.Fatalf("ack: %v %v", done, err)
		}
		if _, err := st.FanOutWebhookEvents(sys, 500); err != nil {
			t.Fatal(err)
		}
		if got := deliveriesOf(t, st, "command.failed"); !slices.Equal(got, []int64{foreign.ID}) {
			t.Errorf("command.failed of tree B reached %v, want only %d", got, foreign.ID)
		}
		// A device marked offline by the sweep (its node died) is told too.
		at2 := at.Add(time.Hour)
		if err := st.DeviceConnected(ctx, tr.a1.device.MAC, "node-b", at2, hello); err != nil {
			t.Fatal(err)
		}
		if n, err := st.StaleOffline(ctx, time.Now().Add(48*time.Hour)); err != nil || n < 1 {
			t.Fatalf("stale offline: %d %v", n, err)
		}
		if _, err := st.FanOutWebhookEvents(sys, 500); err != nil {
			t.Fatal(err)
		}
		if got := deliveriesOf(t, st, "device.offline"); len(got) != 6 {
			t.Errorf("after the sweep, device.offline reached %v, want the three endpoints twice", got)
		}
		// Fanned out once: a second pass adds nothing.
		before := sqlCount(t, st, `SELECT count(*) FROM webhook_deliveries`)
		if n, err := st.FanOutWebhookEvents(sys, 500); err != nil || n != 0 {
			t.Errorf("second fan-out took %d (%v)", n, err)
		}
		if after := sqlCount(t, st, `SELECT count(*) FROM webhook_deliveries`); after != before {
			t.Errorf("deliveries %d → %d", before, after)
		}
	})
}

// TestWebhookClaimsAreExclusive: two dispatchers claiming at once never
// hold one delivery both; a node's freed leases are claimed again.
func TestWebhookClaimsAreExclusive(t *testing.T) {
	eachBackend(t, func(t *testing.T, st *store.Store) {
		tr := mustTree(t, st)
		var eps []*model.WebhookEndpoint
		for i := range 10 {
			eps = append(eps, mustEndpoint(t, st, tr.subA1, fmt.Sprintf("https://hooks.example.com/%d", i), "device.*"))
		}
		ctx := context.Background()
		for i := range 10 {
			at := time.Now().Add(time.Duration(i) * time.Second)
			if err := st.DeviceConnected(ctx, tr.a1.device.MAC, "node-a", at, model.DeviceHello{}); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := st.FanOutWebhookEvents(sys, 500); err != nil {
			t.Fatal(err)
		}
		total := sqlCount(t, st, `SELECT count(*) FROM webhook_deliveries`)
		if total != 100 {
			t.Fatalf("%d deliveries, want 100", total)
		}
		var mu sync.Mutex
		seen := map[int64]string{}
		var wg sync.WaitGroup
		for _, node := range []string{"node-a", "node-b"} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					got, err := st.ClaimWebhookDeliveries(sys, node, 7, time.Minute)
					if err != nil {
						t.Error(err)
						return
					}
					if len(got) == 0 {
						return
					}
					mu.Lock()
					for _, d := range got {
						if prev, dup := seen[d.DeliveryID]; dup {
							t.Errorf("delivery %d claimed by %s and %s", d.DeliveryID, prev, node)
						}
						seen[d.DeliveryID] = node
						if d.Secret != "whsec_test_sub-a1" || d.Attempts != 1 || !strings.HasPrefix(d.EventID, "evt_") {
							t.Errorf("claimed: %+v", d)
						}
					}
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		if len(seen) != total {
			t.Errorf("claimed %d of %d", len(seen), total)
		}
		if err := st.FreeWebhookLeases(sys, "node-a"); err != nil {
			t.Fatal(err)
		}
		again, err := st.ClaimWebhookDeliveries(sys, "node-c", 200, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		var fromA int
		for _, n := range seen {
			if n == "node-a" {
				fromA++
			}
		}
		if len(again) != fromA {
			t.Errorf("after node-a freed its %d leases, node-c claimed %d", fromA, len(again))
		}
		_ = eps
	})
}

// TestWebhookRetriesThenDisable: a failure schedules the next attempt; a
// failure a day after the first failure turns the endpoint off (once) and
// names its account; a success in between clears the run; a delivery past
// its give-up time fails for good; a redelivery is one more attempt.
func TestWebhookRetriesThenDisable(t *testing.T) {
	eachBackend(t, func(t *testing.T, st *store.Store) {
		tr := mustTree(t, st)
		now := time.Date(2031, 3, 1, 10, 0, 0, 0, time.UTC)
		st.SetClock(func() time.Time { return now })
		ep := mustEndpoint(t, st, tr.a1.installer, "https://hooks.example.com/down", "device.online")
		if err := st.DeviceConnected(context.Background(), tr.a1.device.MAC, "node-a", now, model.DeviceHello{}); err != nil {
			t.Fatal(err)
		}
		if _, err := st.FanOutWebhookEvents(sys, 500); err != nil {
			t.Fatal(err)
		}
		fail := func(retryIn time.Duration) (*model.WebhookDisabled, int) {
			t.Helper()
			got, err := st.ClaimWebhookDeliveries(sys, "node-a", 10, time.Minute)
			if err != nil || len(got) != 1 {
				t.Fatalf("claim at %s: %d %v", now, len(got), err)
			}
			off, err := st.FinishWebhookDelivery(sys, "node-a", got[0].DeliveryID, model.WebhookAttempt{HTTPStatus: 503,
				Excerpt: strings.Repeat("x", 5000), Error: "answered 503", RetryAt: now.Add(retryIn)})
			if err != nil {
				t.Fatal(err)
			}
			return off, got[0].Attempts
		}
		if off, n := fail(time.Hour); off != nil || n != 1 {
			t.Fatalf("first failure: %+v attempt %d", off, n)
		}
		l, _ := st.ListWebhookDeliveries(as(tr.a1.installer), ep.ID, model.Page{Page: 1, PerPage: 10})
		d := l.Items[0]
		if d.State != model.WebhookPending || d.NextAt == nil || !d.NextAt.Equal(now.Add(time.Hour)) || len(d.Excerpt) != model.WebhookExcerpt || d.HTTPStatus != 503 {
			t.Fatalf("after a failure: %+v", d)
		}
		if got, _ := st.ClaimWebhookDeliveries(sys, "node-a", 10, time.Minute); len(got) != 0 {
			t.Fatalf("claimed before its next attempt")
		}
		e, _ := st.GetWebhookEndpoint(as(tr.a1.installer), ep.ID)
		if e.FailingSince == nil || !e.FailingSince.Equal(now) {
			t.Fatalf("failing since: %v", e.FailingSince)
		}
		// 23 hours later: still on.
		now = now.Add(23 * time.Hour)
		if off, _ := fail(30 * time.Minute); off != nil {
			t.Fatalf("disabled before a day: %+v", off)
		}
		// A day after the first failure: off, with whom to tell. The
		// delivery's own day is over too: it failed for good.
		now = now.Add(time.Hour)
		off, n := fail(time.Hour)
		if off == nil || off.EndpointID != ep.ID || off.Email != "inst-a1@example.com" || off.Account != "inst-a1" || n != 3 {
			t.Fatalf("after a day of failures: %+v (attempt %d)", off, n)
		}
		e, _ = st.GetWebhookEndpoint(as(tr.a1.installer), ep.ID)
		if e.Enabled || !strings.Contains(e.DisabledReason, "failed since") {
			t.Errorf("endpoint: %+v", e)
		}
		l, _ = st.ListWebhookDeliveries(as(tr.a1.installer), ep.ID, model.Page{Page: 1, PerPage: 10})
		if l.Items[0].State != model.WebhookFailed || l.Items[0].NextAt != nil {
			t.Errorf("delivery past its day: %+v", l.Items[0])
		}
		if _, err := st.RedeliverWebhook(as(tr.a1.installer), l.Items[0].ID); model.ErrorCode(err) != model.ECONFLICT {
			t.Errorf("redeliver to an endpoint turned off: %v", err)
		}
		// On again: the run is cleared; a redelivery is one attempt, and
		// its success ends it.
		on := true
		if _, err := st.UpdateWebhookEndpoint(as(tr.a1.installer), ep.ID, model.WebhookEndpointInput{URL: e.URL, Events: e.Events, Enabled: &on},
			model.WebhookEventBit("device.online")); err != nil {
			t.Fatal(err)
		}
		e, _ = st.GetWebhookEndpoint(as(tr.a1.installer), ep.ID)
		if !e.Enabled || e.FailingSince != nil || e.DisabledReason != "" {
			t.Errorf("turned on: %+v", e)
		}
		rd, err := st.RedeliverWebhook(as(tr.a1.installer), l.Items[0].ID)
		if err != nil || rd.State != model.WebhookPending {
			t.Fatalf("redeliver: %+v %v", rd, err)
		}
		got, _ := st.ClaimWebhookDeliveries(sys, "node-b", 10, time.Minute)
		if len(got) != 1 || got[0].Attempts != 4 {
			t.Fatalf("redelivery claimed: %+v", got)
		}
		if _, err := st.RedeliverWebhook(as(tr.a1.installer), l.Items[0].ID); model.ErrorCode(err) != model.ECONFLICT {
			t.Errorf("redeliver while being attempted: %v", err)
		}
		// Another node's finish of a lease it does not hold records nothing.
		if _, err := st.FinishWebhookDelivery(sys, "node-a", got[0].DeliveryID, model.WebhookAttempt{OK: true, HTTPStatus: 200}); err != nil {
			t.Fatal(err)
		}
		if d, _ := st.GetWebhookDelivery(as(tr.a1.installer), got[0].DeliveryID); d.State != model.WebhookPending {
			t.Errorf("a finish without the lease was recorded: %+v", d)
		}
		if _, err := st.FinishWebhookDelivery(sys, "node-b", got[0].DeliveryID, model.WebhookAttempt{OK: true, HTTPStatus: 204,
			Latency: 12 * time.Millisecond, RetryAt: now.Add(time.Hour)}); err != nil {
			t.Fatal(err)
		}
		if d, _ := st.GetWebhookDelivery(as(tr.a1.installer), got[0].DeliveryID); d.State != model.WebhookSucceeded || d.HTTPStatus != 204 || d.LatencyMS != 12 {
			t.Errorf("after success: %+v", d)
		}
		// Pruning: kept while young, gone after.
		if n, err := st.PruneWebhookEvents(sys, now.Add(-25*time.Hour)); err != nil || n != 0 {
			t.Errorf("pruned young events: %d %v", n, err)
		}
		if n, err := st.PruneWebhookEvents(sys, now.Add(time.Hour)); err != nil || n != 1 {
			t.Errorf("prune: %d %v", n, err)
		}
		if l, _ := st.ListWebhookDeliveries(as(tr.a1.installer), ep.ID, model.Page{Page: 1, PerPage: 10}); l.Total != 0 {
			t.Errorf("deliveries left after pruning: %d", l.Total)
		}
	})
}

// TestEndUserExpiringOncePerThreshold: an end user's service expiring is
// told once per threshold (7, then 1, then expired), only to its tree's
// endpoints, and a renewal arms it again; the job's lease is one node's.
func TestEndUserExpiringOncePerThreshold(t *testing.T) {
	eachBackend(t, func(t *testing.T, st *store.Store) {
		tr := mustTree(t, st)
		now := time.Date(2031, 3, 1, 10, 0, 0, 0, time.UTC)
		st.SetClock(func() time.Time { return now })
		if ok, err := st.LeaseWebhookJob(sys, "enduser.expiring", "node-a", time.Minute); err != nil || !ok {
			t.Fatalf("lease: %v %v", ok, err)
		}
		if ok, _ := st.LeaseWebhookJob(sys, "enduser.expiring", "node-b", time.Minute); ok {
			t.Fatalf("two nodes hold the job")
		}
		if ok, _ := st.LeaseWebhookJob(sys, "enduser.expiring", "node-a", time.Minute); !ok {
			t.Fatalf("the holder cannot renew")
		}
		expires := now.Add(5 * 24 * time.Hour)
		sqlExec(t, st, `UPDATE end_users SET app_expires_at = ? WHERE id IN (?, ?)`, expires, tr.a1.user.ID, tr.b.user.ID)
		ep := mustEndpoint(t, st, tr.subA1, "https://hooks.example.com/expiry", "enduser.expiring")
		emit := func() int {
			t.Helper()
			n, err := st.EmitEndUserExpiring(sys)
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
		if n := emit(); n != 1 {
			t.Fatalf("first run: %d events, want 1 (a1's user only)", n)
		}
		if n := emit(); n != 0 {
			t.Fatalf("second run: %d events", n)
		}
		now = now.Add(4*24*time.Hour + 12*time.Hour) // half a day left
		if n := emit(); n != 1 {
			t.Fatalf("one day left: %d events", n)
		}
		now = now.Add(24 * time.Hour) // expired
		if n := emit(); n != 1 {
			t.Fatalf("expired: %d events", n)
		}
		if n := emit(); n != 0 {
			t.Fatalf("expired again: %d events", n)
		}
		// Renewed for a month: its 30-day window arms again later.
		sqlExec(t, st, `UPDATE end_users SET app_expires_at = ? WHERE id = ?`, now.Add(20*24*time.Hour), tr.a1.user.ID)
		if n := emit(); n != 1 {
			t.Fatalf("renewed, 20 days left: %d events", n)
		}
		if _, err := st.FanOutWebhookEvents(sys, 500); err != nil {
			t.Fatal(err)
		}
		l, _ := st.ListWebhookDeliveries(as(tr.subA1), ep.ID, model.Page{Page: 1, PerPage: 10})
		if l.Total != 4 {
			t.Fatalf("%d deliveries, want 4", l.Total)
		}
		d, _ := st.GetWebhookDelivery(as(tr.subA1), l.Items[len(l.Items)-1].ID)
		if !strings.Contains(d.Payload, `"days":7`) || !strings.Contains(d.Payload, `"end_user_id":`+strconv.FormatInt(tr.a1.user.ID, 10)) {
			t.Errorf("first payload: %s", d.Payload)
		}
	})
}

// TestWebhookOrderAndRolloutEvents: an order timing out and a rollout's
// status changes are told to the tree's endpoints.
func TestWebhookRolloutEvents(t *testing.T) {
	eachBackend(t, func(t *testing.T, st *store.Store) {
		tr := mustTree(t, st)
		ep := mustEndpoint(t, st, tr.a1.installer, "https://hooks.example.com/r", "rollout.*")
		foreign := mustEndpoint(t, st, tr.b.installer, "https://hooks.example.com/rb", "rollout.*")
		ctx := as(tr.a1.installer)
		f := &model.Firmware{Model: "R29", Version: "29.30.9.9", FileURL: "https://fw.example.com/r29.rom", Checksum: strings.Repeat("a", 64), Size: 1 << 20}
		if err := st.CreateFirmware(sys, f); err != nil {
			t.Fatal(err)
		}
		sqlExec(t, st, `UPDATE devices SET model = 'R29', firmware = '29.30.1.1' WHERE id = ?`, tr.a1.device.ID)
		r, err := st.CreateRollout(ctx, model.RolloutInput{FirmwareID: f.ID})
		if err != nil {
			t.Fatal(err)
		}
		for _, a := range []string{model.RolloutStart, model.RolloutPause, model.RolloutResume, model.RolloutCancel} {
			if _, err := st.SetRolloutStatus(ctx, r.ID, a); err != nil {
				t.Fatalf("%s: %v", a, err)
			}
		}
		if _, err := st.FanOutWebhookEvents(sys, 500); err != nil {
			t.Fatal(err)
		}
		l, _ := st.ListWebhookDeliveries(ctx, ep.ID, model.Page{Page: 1, PerPage: 10})
		var types []string
		for _, d := range l.Items {
			types = append(types, d.EventType)
		}
		want := []string{"rollout.canceled", "rollout.resumed", "rollout.paused", "rollout.started"}
		if !slices.Equal(types, want) {
			t.Errorf("rollout events %v, want %v", types, want)
		}
		if l, _ := st.ListWebhookDeliveries(as(tr.b.installer), foreign.ID, model.Page{Page: 1, PerPage: 10}); l.Total != 0 {
			t.Errorf("another tree heard %d rollout events", l.Total)
		}
	})
}

// TestWebhookOrderEvents: an order timing out, then paid late (completed),
// is told to its installer's tree and to no other.
func TestWebhookOrderEvents(t *testing.T) {
	eachBackend(t, func(t *testing.T, st *store.Store) {
		tr := mustTree(t, st)
		ep := mustEndpoint(t, st, tr.subA1, "https://hooks.example.com/orders", "order.*")
		foreign := mustEndpoint(t, st, tr.subA2, "https://hooks.example.com/orders-a2", "order.*")
		o := billingOrder(t, st, tr.a1)
		st.SetClock(func() time.Time { return time.Now().UTC().Add(31 * time.Minute) })
		if n, err := st.TimeoutOrders(sys, 30*time.Minute); err != nil || n != 1 {
			t.Fatalf("timed out %d, %v", n, err)
		}
		if ok, err := st.ApplyPaymentEvent(sys, "stripe", billing.Event{ID: "late", Kind: billing.EventPaid, OrderNumber: o.Number}); err != nil || !ok {
			t.Fatalf("late payment: %v %v", ok, err)
		}
		if _, err := st.FanOutWebhookEvents(sys, 500); err != nil {
			t.Fatal(err)
		}
		l, _ := st.ListWebhookDeliveries(as(tr.subA1), ep.ID, model.Page{Page: 1, PerPage: 10})
		var types []string
		for _, d := range l.Items {
			types = append(types, d.EventType)
		}
		if !slices.Equal(types, []string{"order.completed", "order.timed_out"}) {
			t.Errorf("order events %v", types)
		}
		if len(l.Items) > 0 && !strings.Contains(l.Items[0].Payload, `"order":"`+o.Number+`"`) {
			t.Errorf("payload %s", l.Items[0].Payload)
		}
		if l, _ := st.ListWebhookDeliveries(as(tr.subA2), foreign.ID, model.Page{Page: 1, PerPage: 10}); l.Total != 0 {
			t.Errorf("another sub-distributor heard %d order events", l.Total)
		}
	})
}

// TestWebhookFailureRunStartsWithTheFailure: a delivery left pending while
// its endpoint was off does not date the run of failures back to when it
// was due — turned on again two days later, the endpoint is not disabled
// at its first failure; and redelivering a delivery that is still retrying
// keeps the rest of its day of retries.
func TestWebhookFailureRunStartsWithTheFailure(t *testing.T) {
	eachBackend(t, func(t *testing.T, st *store.Store) {
		tr := mustTree(t, st)
		now := time.Date(2031, 3, 1, 10, 0, 0, 0, time.UTC)
		st.SetClock(func() time.Time { return now })
		ep := mustEndpoint(t, st, tr.a1.installer, "https://hooks.example.com/later", "device.online")
		if err := st.DeviceConnected(context.Background(), tr.a1.device.MAC, "node-a", now, model.DeviceHello{}); err != nil {
			t.Fatal(err)
		}
		if _, err := st.FanOutWebhookEvents(sys, 500); err != nil {
			t.Fatal(err)
		}
		set := func(on bool) {
			t.Helper()
			if _, err := st.UpdateWebhookEndpoint(as(tr.a1.installer), ep.ID, model.WebhookEndpointInput{URL: ep.URL, Events: ep.Events, Enabled: &on},
				model.WebhookEventBit("device.online")); err != nil {
				t.Fatal(err)
			}
		}
		fail := func() *model.WebhookDisabled {
			t.Helper()
			got, err := st.ClaimWebhookDeliveries(sys, "node-a", 10, time.Minute)
			if err != nil || len(got) != 1 {
				t.Fatalf("claim at %s: %d %v", now, len(got), err)
			}
			off, err := st.FinishWebhookDelivery(sys, "node-a", got[0].DeliveryID, model.WebhookAttempt{HTTPStatus: 503,
				Error: "answered 503", RetryAt: now.Add(time.Hour)})
			if err != nil {
				t.Fatal(err)
			}
			return off
		}
		set(false)
		now = now.Add(48 * time.Hour)
		set(true)
		if off := fail(); off != nil {
			t.Fatalf("disabled at its first failure after being turned on: %+v", off)
		}
		if e, _ := st.GetWebhookEndpoint(as(tr.a1.installer), ep.ID); !e.Enabled || e.FailingSince == nil || !e.FailingSince.Equal(now) {
			t.Fatalf("endpoint after the failure: %+v", e)
		}

		// A second delivery, retrying within its day: a redelivery that
		// fails leaves it pending with its schedule.
		now = now.Add(time.Minute)
		if err := st.DeviceDisconnected(context.Background(), tr.a1.device.MAC, "node-a", now.Add(-48*time.Hour-time.Minute), now); err != nil {
			t.Fatal(err)
		}
		if err := st.DeviceConnected(context.Background(), tr.a1.device.MAC, "node-a", now, model.DeviceHello{}); err != nil {
			t.Fatal(err)
		}
		if _, err := st.FanOutWebhookEvents(sys, 500); err != nil {
			t.Fatal(err)
		}
		got, err := st.ClaimWebhookDeliveries(sys, "node-a", 10, time.Minute)
		if err != nil || len(got) != 1 {
			t.Fatalf("claim the new delivery: %d %v", len(got), err)
		}
		if _, err := st.FinishWebhookDelivery(sys, "node-a", got[0].DeliveryID, model.WebhookAttempt{HTTPStatus: 500, RetryAt: now.Add(time.Hour)}); err != nil {
			t.Fatal(err)
		}
		if _, err := st.RedeliverWebhook(as(tr.a1.installer), got[0].DeliveryID); err != nil {
			t.Fatal(err)
		}
		if off := fail(); off != nil {
			t.Fatalf("disabled: %+v", off)
		}
		if d, _ := st.GetWebhookDelivery(as(tr.a1.installer), got[0].DeliveryID); d.State != model.WebhookPending || d.NextAt == nil {
			t.Errorf("a failed redelivery of a retrying delivery ended its retries: %+v", d)
		}
	})
}
