package usecase

import (
	"slices"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/model"
)

// enrollPending has the device mac present key (refused, kept pending) and
// returns the pending key's id.
func enrollPending(t *testing.T, tc *testCases, owner *model.Account, mac, key string) int64 {
	t.Helper()
	if _, err := tc.store.AuthenticateDevice(deviceSys, model.DeviceAttempt{MAC: mac, Key: key, RemoteAddr: "192.0.2.7:5000"}); err == nil {
		t.Fatalf("key %s… accepted at once, want pending", key[:4])
	}
	l, err := tc.store.ListPendingKeys(deviceAs(owner), model.PendingKeyFilter{MAC: mac, Page: model.Page{Page: 1, PerPage: 50}})
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range l.Items {
		if k.Status == model.KeyPending {
			return k.ID
		}
	}
	t.Fatalf("no pending key of %s", mac)
	return 0
}

func TestEnrollAcceptEndsOnlyAConnectionWithAnotherKey(t *testing.T) {
	forEachBackend(t, func(t *testing.T, backend string) {
		var nodes deviceNodes
		tc := newTestCases(t, backend, withDeviceGateway(t, &nodes))
		tr := newDeviceTree(t, tc.store)
		ctx := deviceAs(tr.own.sub)
		mac := tr.own.device.MAC

		first := enrollPending(t, tc, tr.own.sub, mac, strings.Repeat("a", 40))
		if _, err := tc.AcceptDeviceKey(deviceAs(tr.other.sub), first); model.ErrorCode(err) != model.ENOTFOUND {
			t.Fatalf("a foreign key: %v, want not found", err)
		}
		// The device had no key: no connection to end.
		k, err := tc.AcceptDeviceKey(ctx, first)
		if err != nil || k.Status != "accepted" || k.Bound {
			t.Fatalf("first key: %+v %v", k, err)
		}
		nodes.none(t, "first key")

		second := enrollPending(t, tc, tr.own.sub, mac, strings.Repeat("b", 40))
		if k, err = tc.AcceptDeviceKey(ctx, second); err != nil || !k.Bound {
			t.Fatalf("second key: %+v %v", k, err)
		}
		if got := nodes.take(deviceSubjectRevoked); !slices.EqualFunc(got, [][]string{{mac}}, slices.Equal) {
			t.Errorf("told revoked %v, want [[%s]]", got, mac)
		}

		third := enrollPending(t, tc, tr.own.sub, mac, strings.Repeat("c", 40))
		if k, err = tc.RejectDeviceKey(ctx, third); err != nil || k.Status != model.KeyRejected {
			t.Fatalf("reject: %+v %v", k, err)
		}
		nodes.none(t, "rejected key")
	})
}

func TestEnrollWindowRequests(t *testing.T) {
	forEachBackend(t, func(t *testing.T, backend string) {
		tc := newTestCases(t, backend)
		tr := newDeviceTree(t, tc.store)
		ctx := deviceAs(tr.own.sub)
		mac := tr.own.device.MAC
		for _, bad := range []EnrollWindowRequest{
			{},                                       // neither
			{MAC: mac, ProjectID: tr.own.project.ID}, // both
			{MAC: mac, Minutes: -1},
			{MAC: mac, Minutes: 61},
			// minutes × time.Minute wraps to 78 seconds: refused, not opened.
			{MAC: mac, Minutes: 922337205},
		} {
			if w, err := tc.OpenEnrollWindow(ctx, bad); model.ErrorCode(err) != model.EINVALID {
				t.Errorf("%+v: %+v %v, want invalid", bad, w, err)
			}
		}
		if n := deviceCount(t, tc.store, "enroll_windows"); n != 0 {
			t.Fatalf("%d windows opened by refused requests", n)
		}
		if _, err := tc.OpenEnrollWindow(ctx, EnrollWindowRequest{MAC: tr.other.device.MAC}); model.ErrorCode(err) != model.ENOTFOUND {
			t.Errorf("a foreign device: %v, want not found", err)
		}
		w, err := tc.OpenEnrollWindow(ctx, EnrollWindowRequest{ProjectID: tr.own.project.ID})
		if err != nil {
			t.Fatal(err)
		}
		if d := w.Expires.Sub(w.Opened); d != model.EnrollWindowDefault {
			t.Errorf("window of %v, want the default %v", d, model.EnrollWindowDefault)
		}
		if err := tc.CloseEnrollWindow(deviceAs(tr.other.sub), w.ID); model.ErrorCode(err) != model.ENOTFOUND {
			t.Errorf("close a foreign window: %v, want not found", err)
		}
		if err := tc.CloseEnrollWindow(ctx, w.ID); err != nil {
			t.Fatal(err)
		}
		if err := tc.CloseEnrollWindow(ctx, w.ID); model.ErrorCode(err) != model.ENOTFOUND {
			t.Errorf("close twice: %v, want not found", err)
		}
	})
}
