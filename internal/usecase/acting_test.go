package usecase

import (
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/model"
)

func TestActingNeedsTheInstallersGrant(t *testing.T) {
	forEachBackend(t, func(t *testing.T, backend string) {
		tc := newTestCases(t, backend)
		_, sub := peopleTree(t, tc.store)
		inst := peopleAccount(t, tc.store, model.RoleInstaller, "fitter", sub)
		start := ActingStart{InstallerID: inst.ID, IP: "192.0.2.1", UserAgent: "test\xff"}
		if _, _, err := tc.StartActing(peopleAs(sub), start); model.ErrorCode(err) != model.EFORBIDDEN {
			t.Fatalf("without the grant: %v", err)
		}
		if err := tc.SetAccessWithoutPassword(peopleAs(inst), true); err != nil {
			t.Fatal(err)
		}
		// Only the installer itself switches it.
		if err := tc.SetAccessWithoutPassword(peopleAs(sub), false); model.ErrorCode(err) != model.EFORBIDDEN {
			t.Errorf("switched by the sub-distributor: %v", err)
		}
		tok, se, err := tc.StartActing(peopleAs(sub), start)
		if err != nil || tok == "" || se.ActingAsID != inst.ID || se.AccountID != sub.ID {
			t.Fatalf("start: %v %+v", err, se)
		}
		if _, acc, err := tc.store.SessionByHash(peopleSystem, se.TokenHash); err != nil || acc.ID != sub.ID {
			t.Fatalf("the session is not stored: %v", err)
		}
		if err := tc.StopActing(peopleAs(sub), se.TokenHash, sub.ID); err != nil {
			t.Fatal(err)
		}
		if _, _, err := tc.store.SessionByHash(peopleSystem, se.TokenHash); err == nil {
			t.Error("the acting session goes on")
		}
		// Its end is in the audit log, written in the same transaction.
		if l, err := tc.store.ListAudit(peopleAs(sub), model.AuditFilter{Action: "auth.logout", Page: model.Page{Page: 1, PerPage: 10}}); err != nil || l.Total != 1 {
			t.Errorf("audit of leaving: %+v %v", l, err)
		}
	})
}
