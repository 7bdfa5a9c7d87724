package usecase

import (
	"context"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/model"
)

// peopleApartment makes the installer of ctx a community "Gardens" with
// apartment 101 in "Building A".
func peopleApartment(t *testing.T, tc *testCases, ctx context.Context) (*model.Project, *model.Apartment) {
	t.Helper()
	p := &model.Project{Kind: model.ProjectCommunity, Name: "Gardens"}
	if err := tc.store.CreateProject(ctx, p); err != nil {
		t.Fatal(err)
	}
	b := &model.Building{ProjectID: p.ID, Name: "Building A"}
	if err := tc.store.CreateBuilding(ctx, b); err != nil {
		t.Fatal(err)
	}
	apt := &model.Apartment{BuildingID: b.ID, Floor: "1", Number: "101", FamilyMemberLimit: 4}
	if err := tc.store.CreateApartment(ctx, apt); err != nil {
		t.Fatal(err)
	}
	return p, apt
}

func TestEndUserWritesKeepToTheHouseholdRules(t *testing.T) {
	forEachBackend(t, func(t *testing.T, backend string) {
		tc := newTestCases(t, backend)
		_, sub := peopleTree(t, tc.store)
		inst := peopleAccount(t, tc.store, model.RoleInstaller, "fitter", sub)
		ctx := peopleAs(inst)
		p, apt := peopleApartment(t, tc, ctx)
		master := &model.EndUser{ProjectID: p.ID, ApartmentID: apt.ID, Role: model.FamilyMaster, Name: "Anna"}
		if err := tc.CreateEndUser(ctx, master); err != nil {
			t.Fatal(err)
		}
		if err := tc.CreateEndUser(ctx, &model.EndUser{ProjectID: p.ID, ApartmentID: apt.ID, Role: model.FamilyMaster, Name: "Second"}); model.ErrorCode(err) != model.EINVALID {
			t.Errorf("a second family master: %v", err)
		}
		member := &model.EndUser{ProjectID: p.ID, ApartmentID: apt.ID, Role: model.FamilyMember, Name: "Tom"}
		if err := tc.CreateEndUser(ctx, member); err != nil {
			t.Fatal(err)
		}
		saved, err := tc.UpdateEndUser(ctx, master.ID, func(u *model.EndUser) error { u.Email = "anna@example.com"; return nil })
		if err != nil || saved.Email != "anna@example.com" || saved.Name != "Anna" {
			t.Fatalf("update: %+v %v", saved, err)
		}
		// Another sub-distributor's installer cannot touch them.
		other := peopleAccount(t, tc.store, model.RoleInstaller, "other", sub)
		if _, err := tc.DeleteEndUser(peopleAs(other), master.ID); model.ErrorCode(err) != model.ENOTFOUND {
			t.Errorf("deleted by another installer: %v", err)
		}
		gone, err := tc.DeleteEndUser(ctx, master.ID)
		if err != nil || gone.FamilyMembers != 1 {
			t.Errorf("delete: %+v %v", gone, err)
		}
	})
}
