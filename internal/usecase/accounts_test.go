package usecase

import (
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/model"
)

func TestCreateAccountChecksThePasswordAndTheRole(t *testing.T) {
	forEachBackend(t, func(t *testing.T, backend string) {
		tc := newTestCases(t, backend)
		dist, sub := peopleTree(t, tc.store)
		newSub := func() *model.Account {
			return &model.Account{Role: model.RoleSubdistributor, Username: "sub-two", Email: "two@example.com", ParentID: dist.ID}
		}
		if err := tc.CreateAccount(peopleAs(dist), newSub(), "short"); model.ErrorFields(err)["password"] == "" {
			t.Errorf("short password: %v", err)
		}
		bad := newSub()
		bad.Email = "nope"
		if err := tc.CreateAccount(peopleAs(dist), bad, "long-enough-pass-1"); model.ErrorFields(err)["email"] == "" {
			t.Errorf("bad email: %v", err)
		}
		// A sub-distributor cannot create its peers.
		peer := newSub()
		peer.ParentID = sub.ID
		if err := tc.CreateAccount(peopleAs(sub), peer, "long-enough-pass-1"); err == nil {
			t.Error("a sub-distributor created a sub-distributor")
		}
		acc := newSub()
		if err := tc.CreateAccount(peopleAs(dist), acc, "long-enough-pass-1"); err != nil || acc.ID == 0 {
			t.Fatalf("create: %v", err)
		}
		if err := tc.CreateAccount(peopleAs(dist), newSub(), "long-enough-pass-1"); model.ErrorCode(err) != model.ECONFLICT {
			t.Errorf("taken name: %v", err)
		}
	})
}

func TestSubdistributorSwitchesKeepWhatIsNotGiven(t *testing.T) {
	forEachBackend(t, func(t *testing.T, backend string) {
		tc := newTestCases(t, backend)
		dist, sub := peopleTree(t, tc.store)
		on, off := true, false
		acc, err := tc.SetSubdistributorSwitches(peopleAs(dist), sub.ID, SubdistributorSwitches{PaymentEnabled: &on, PayByDistributor: &on})
		if err != nil || !acc.PaymentEnabled || !acc.PayByDistributor {
			t.Fatalf("both on: %+v %v", acc, err)
		}
		acc, err = tc.SetSubdistributorSwitches(peopleAs(dist), sub.ID, SubdistributorSwitches{PayByDistributor: &off})
		if err != nil || !acc.PaymentEnabled || acc.PayByDistributor {
			t.Errorf("one off: %+v %v", acc, err)
		}
		if _, err := tc.SetSubdistributorSwitches(peopleAs(sub), sub.ID, SubdistributorSwitches{PaymentEnabled: &off}); model.ErrorCode(err) != model.EFORBIDDEN {
			t.Errorf("by the sub-distributor itself: %v", err)
		}
	})
}

func TestAPITokensLiveAtMostTenYears(t *testing.T) {
	forEachBackend(t, func(t *testing.T, backend string) {
		tc := newTestCases(t, backend)
		_, sub := peopleTree(t, tc.store)
		for _, days := range []int{-1, 3651, 1 << 40} {
			if _, _, err := tc.CreateAPIToken(peopleAs(sub), "script", days); model.ErrorFields(err)["expires_in_days"] == "" {
				t.Errorf("%d days: %v", days, err)
			}
		}
		tok, tk, err := tc.CreateAPIToken(peopleAs(sub), "script", 30)
		if err != nil || tok == "" || tk.Expires == nil {
			t.Fatalf("create: %v %+v", err, tk)
		}
		if err := tc.DeleteAPIToken(peopleAs(sub), tk.ID); err != nil {
			t.Fatal(err)
		}
		if err := tc.DeleteAPIToken(peopleAs(sub), tk.ID); model.ErrorCode(err) != model.ENOTFOUND {
			t.Errorf("deleted twice: %v", err)
		}
	})
}
