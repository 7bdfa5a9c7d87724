package store_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/model"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

func init() {
	managerOnly := func(a *model.Account) bool { return a.Role != model.RoleInstaller }
	tenancyCases = append(tenancyCases,
		tenancyCase{method: "GetInstaller", call: func(st *store.Store, ctx context.Context, b *branch) error {
			_, err := st.GetInstaller(ctx, b.installer.ID)
			return err
		}},
		tenancyCase{method: "UpdateInstaller", call: func(st *store.Store, ctx context.Context, b *branch) error {
			phone := "+49 30 1234"
			_, err := st.UpdateInstaller(ctx, b.installer.ID, model.InstallerPatch{Phone: &phone})
			return err
		}},
		tenancyCase{method: "InstallerDeletionImpact", call: func(st *store.Store, ctx context.Context, b *branch) error {
			d, err := st.InstallerDeletionImpact(ctx, b.installer.ID)
			if err == nil && d.Projects == 0 {
				return fmt.Errorf("impact misses the branch's projects: %+v", d)
			}
			return err
		}},
		tenancyCase{method: "DeleteInstaller", call: func(st *store.Store, ctx context.Context, b *branch) error {
			// Unconfirmed: the branch owns data, so a permitted actor gets
			// the conflict and nothing is deleted.
			_, err := st.DeleteInstaller(ctx, b.installer.ID, false)
			if model.ErrorCode(err) == model.ECONFLICT {
				return nil
			}
			if err == nil {
				return fmt.Errorf("deleted without confirmation")
			}
			return err
		}},
		tenancyCase{method: "CreateInstaller", call: func(st *store.Store, ctx context.Context, b *branch) error {
			return st.CreateInstaller(ctx, &model.Account{Username: fmt.Sprintf("new-inst-%d", nextSeq()), ParentID: b.installer.SubdistributorID, Email: "n@example.com"})
		}, allowed: managerOnly},
		tenancyCase{method: "CreateInstallerWithLink", call: func(st *store.Store, ctx context.Context, b *branch) error {
			return st.CreateInstallerWithLink(ctx, &model.Account{Username: fmt.Sprintf("new-inst-%d", nextSeq()), ParentID: b.installer.SubdistributorID, Email: "n@example.com"},
				&store.PasswordLink{Hash: fmt.Sprintf("welcome-%d", nextSeq()), Purpose: "welcome", Expires: time.Now().Add(time.Hour)})
		}, allowed: managerOnly},
		tenancyCase{method: "CreatePasswordToken", call: func(st *store.Store, ctx context.Context, b *branch) error {
			return st.CreatePasswordToken(ctx, b.installer.ID, "reset", fmt.Sprintf("tok-%d", nextSeq()), time.Now().Add(time.Hour))
		}},
		tenancyCase{method: "ListMACs", call: func(st *store.Store, ctx context.Context, b *branch) error {
			_, err := st.ListMACs(ctx, b.installer.ID, model.MACFilter{Page: model.Page{Page: 1, PerPage: 10}})
			return err
		}},
		tenancyCase{method: "ImportMACs", call: func(st *store.Store, ctx context.Context, b *branch) error {
			res, err := st.ImportMACs(ctx, b.installer.ID, []model.MACRow{{Row: 1, MAC: fmt.Sprintf("0C1106%06X", nextSeq())}})
			if err == nil && res.Imported != 1 {
				return fmt.Errorf("import: %+v", res)
			}
			return err
		}},
		tenancyCase{method: "DeleteMAC", call: func(st *store.Store, ctx context.Context, b *branch) error {
			mac := fmt.Sprintf("0C1107%06X", nextSeq())
			if _, err := st.ImportMACs(sys, b.installer.ID, []model.MACRow{{Row: 1, MAC: mac}}); err != nil {
				return err
			}
			return st.DeleteMAC(ctx, b.installer.ID, mac)
		}},
		tenancyCase{method: "CreateImpersonationSession", call: func(st *store.Store, ctx context.Context, b *branch) error {
			if err := st.SetAccessWithoutPassword(as(b.installer), true); err != nil {
				return err
			}
			err := st.CreateImpersonationSession(ctx, b.installer.ID, &model.Session{TokenHash: fmt.Sprintf("imp-%d", nextSeq()), CSRFToken: "c"})
			if model.ErrorCode(err) == model.EFORBIDDEN {
				return model.NotFound("forbidden by role")
			}
			return err
		}, allowed: func(a *model.Account) bool {
			return a.Role == model.RoleSubdistributor || a.Role == model.RoleDistributor
		}},
	)
	coveredElsewhere["ListInstallers"] = "TestInstallerList"
	coveredElsewhere["SetAccessWithoutPassword"] = "TestAccessWithoutPassword"
	coveredElsewhere["PasswordTokenAccount"] = "TestPasswordLinks (the link is the authority)"
	coveredElsewhere["UsePasswordToken"] = "TestPasswordLinks (the link is the authority)"
}

func TestInstallerList(t *testing.T) {
	eachBackend(t, func(t *testing.T, st *store.Store) {
		tr := mustTree(t, st)
		for _, c := range []struct {
			actor *model.Account
			want  []string
		}{
			{tr.subA1, []string{"inst-a1"}}, {tr.distA, []string{"inst-a1", "inst-a2"}}, {tr.subB, []string{"inst-b"}}, {tr.a1.installer, []string{"inst-a1"}},
		} {
			l, err := st.ListInstallers(as(c.actor), model.InstallerFilter{Page: model.Page{Page: 1, PerPage: 50}})
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, a := range l.Items {
				got = append(got, a.Username)
			}
			if strings.Join(got, ",") != strings.Join(reverse(c.want), ",") && strings.Join(got, ",") != strings.Join(c.want, ",") || l.Total != len(c.want) {
				t.Errorf("%s lists %v, want %v", c.actor.Username, got, c.want)
			}
		}
		// Search by account and by email, case-insensitive.
		l, _ := st.ListInstallers(as(tr.distA), model.InstallerFilter{Account: "A2", Page: model.Page{Page: 1, PerPage: 50}})
		if l.Total != 1 || l.Items[0].Username != "inst-a2" {
			t.Errorf("account search: %+v", l.Items)
		}
		l, _ = st.ListInstallers(as(tr.distA), model.InstallerFilter{Email: "INST-A1@EXAMPLE", Page: model.Page{Page: 1, PerPage: 50}})
		if l.Total != 1 || l.Items[0].Username != "inst-a1" {
			t.Errorf("email search: %+v", l.Items)
		}
	})
}

func reverse(s []string) []string {
	out := make([]string, len(s))
	for i, v := range s {
		out[len(s)-1-i] = v
	}
	return out
}

func TestInstallerProfileRules(t *testing.T) {
	eachBackend(t, func(t *testing.T, st *store.Store) {
		tr := mustTree(t, st)
		ctx := as(tr.subA1)
		inst := &model.Account{Username: "fitter", ParentID: tr.subA1.ID, Email: "fitter@example.com", TimeZone: "Europe/Berlin", Language: "de"}
		if err := st.CreateInstaller(ctx, inst); err != nil {
			t.Fatal(err)
		}
		if inst.ChargeMode != model.ChargeInstaller || inst.RTPConfusion || inst.ConnectType != model.ConnectDefault || inst.AccessWithoutPassword {
			t.Errorf("defaults: %+v", inst)
		}
		// Without a password the account cannot log in until the link is used.
		if _, hash, _ := st.AccountForLogin(context.Background(), "fitter"); hash != "" {
			t.Errorf("new installer has a password hash %q", hash)
		}
		bad := "Mars/Olympus"
		_, err := st.UpdateInstaller(ctx, inst.ID, model.InstallerPatch{TimeZone: &bad})
		if model.ErrorFields(err)["time_zone"] == "" {
			t.Errorf("bad zone: %v", err)
		}
		got, _ := st.GetInstaller(ctx, inst.ID)
		if got.TimeZone != "Europe/Berlin" {
			t.Errorf("a refused edit changed the zone to %s", got.TimeZone)
		}
		// Pay by Distributor fixes the charge mode, on create and edit.
		if err := st.SetSubdistributorSwitches(as(tr.distA), tr.subA1.ID, new(true), new(true)); err != nil {
			t.Fatal(err)
		}
		paid := &model.Account{Username: "paid-fitter", ParentID: tr.subA1.ID, Email: "p@example.com", ChargeMode: model.ChargeEndUser}
		if err := st.CreateInstaller(ctx, paid); err != nil || paid.ChargeMode != model.ChargeDistributor {
			t.Errorf("charge mode under Pay by Distributor: %q %v", paid.ChargeMode, err)
		}
		enduser := model.ChargeEndUser
		if u, err := st.UpdateInstaller(ctx, paid.ID, model.InstallerPatch{ChargeMode: &enduser}); err != nil || u.ChargeMode != model.ChargeDistributor {
			t.Errorf("edit under Pay by Distributor: %+v %v", u, err)
		}
	})
}

func TestDeleteInstaller(t *testing.T) {
	eachBackend(t, func(t *testing.T, st *store.Store) {
		tr := mustTree(t, st)
		ctx := as(tr.subA1)
		id := tr.a1.installer.ID
		st.ImportMACs(ctx, id, []model.MACRow{{Row: 1, MAC: "0C1108000001"}})
		member := &model.EndUser{ProjectID: tr.a1.project.ID, ApartmentID: tr.a1.apartment.ID, Role: model.FamilyMember, FamilyMasterID: tr.a1.user.ID, Name: "Kid"}
		if err := st.AddEndUser(as(tr.a1.installer), member); err != nil {
			t.Fatal(err)
		}
		impact, err := st.DeleteInstaller(ctx, id, false)
		if model.ErrorCode(err) != model.ECONFLICT || impact.Projects != 2 || impact.Devices != 1 || impact.EndUsers != 2 || impact.Cameras != 1 || impact.LibraryMACs != 1 {
			t.Fatalf("unconfirmed delete: %+v %v", impact, err)
		}
		if _, err := st.GetInstaller(ctx, id); err != nil {
			t.Fatal("the refused delete removed the installer")
		}
		done, err := st.DeleteInstaller(ctx, id, true)
		if err != nil {
			t.Fatalf("confirmed delete: %v", err)
		}
		// Its devices are named, so that their connections can be closed.
		if len(done.DeviceMACs) != 1 || done.DeviceMACs[0] != tr.a1.device.MAC {
			t.Errorf("deleted devices: %v", done.DeviceMACs)
		}
		if _, err := st.GetInstaller(ctx, id); model.ErrorCode(err) != model.ENOTFOUND {
			t.Error("installer still there")
		}
		for _, table := range []string{"projects", "devices", "end_users", "third_party_devices", "installer_macs", "apartments", "buildings", "departments"} {
			var n int
			q := "SELECT count(*) FROM " + table
			if err := st.DB().QueryRow(q).Scan(&n); err != nil {
				t.Fatal(err)
			}
			// Two other branches keep their rows (one each, two for projects, none for MACs).
			want := map[string]int{"projects": 4, "devices": 2, "end_users": 2, "third_party_devices": 2, "installer_macs": 0, "apartments": 2, "buildings": 2, "departments": 2}[table]
			if n != want {
				t.Errorf("%s: %d rows left, want %d", table, n, want)
			}
		}
		// The device's MAC is free again.
		if err := st.CreateDevice(as(tr.a2.installer), &model.Device{MAC: tr.a1.device.MAC, ProjectID: tr.a2.project.ID, Type: model.DoorPhone}); err != nil {
			t.Errorf("MAC of a deleted installer's device not freed: %v", err)
		}
		l, _ := st.ListAudit(ctx, model.AuditFilter{Action: "installer.delete", Page: model.Page{Page: 1, PerPage: 5}})
		if l.Total != 1 || l.Items[0].Details["devices"] != float64(1) {
			t.Errorf("audit: %+v", l.Items)
		}

		// An installer with orders is kept: orders are accounting records.
		billingOrder(t, st, tr.a2)
		impact, err = st.DeleteInstaller(as(tr.subA2), tr.a2.installer.ID, true)
		if model.ErrorCode(err) != model.ECONFLICT || model.ErrorFields(err)["orders"] == "" || impact.Orders != 1 {
			t.Errorf("delete of an installer with orders: %+v %v", impact, err)
		}
		if _, err := st.GetInstaller(as(tr.subA2), tr.a2.installer.ID); err != nil {
			t.Errorf("installer with orders deleted: %v", err)
		}
	})
}

func TestMACImport(t *testing.T) {
	eachBackend(t, func(t *testing.T, st *store.Store) {
		tr := mustTree(t, st)
		ctx := as(tr.subA1)
		id := tr.a1.installer.ID
		if _, err := st.ImportMACs(as(tr.subB), tr.b.installer.ID, []model.MACRow{{Row: 1, MAC: "0C:11:09:00:00:01"}}); err != nil {
			t.Fatal(err)
		}
		rows := []model.MACRow{
			{Row: 2, MAC: "0c-11-09-00-00-10", Name: "Villa 1"}, // good
			{Row: 3, MAC: "0C110900001"},                        // too short
			{Row: 4, MAC: "0C:11:09:00:00:10"},                  // repeats row 2
			{Row: 5, MAC: "0C1109000001"},                       // another installer's library
			{Row: 6, MAC: tr.b.device.MAC},                      // another installer's device
			{Row: 7, MAC: "0C1109000011", Name: "Villa 2"},      // good
			{Row: 8, MAC: "zz:zz"},
		}
		res, err := st.ImportMACs(ctx, id, rows)
		if err != nil {
			t.Fatal(err)
		}
		want := map[int]string{3: "not a MAC", 4: "repeats row 2", 5: "another installer", 6: "another installer", 8: "not a MAC"}
		if res.Imported != 2 || len(res.Rejected) != len(want) {
			t.Fatalf("result: %+v", res)
		}
		for _, r := range res.Rejected {
			if !strings.Contains(r.Reason, want[r.Row]) || want[r.Row] == "" {
				t.Errorf("row %d: %q", r.Row, r.Reason)
			}
		}
		// Importing the same again reports them as already there.
		res, _ = st.ImportMACs(ctx, id, rows[:1])
		if res.Imported != 0 || !strings.Contains(res.Rejected[0].Reason, "this installer") {
			t.Errorf("re-import: %+v", res)
		}
		l, _ := st.ListMACs(ctx, id, model.MACFilter{Search: "0c:11:09:00:00:1", Page: model.Page{Page: 1, PerPage: 10}})
		if l.Total != 2 {
			t.Errorf("search by MAC with separators: %+v", l)
		}
		// 10,000 rows in one import.
		big := make([]model.MACRow, 10_000)
		for i := range big {
			big[i] = model.MACRow{Row: i + 2, MAC: fmt.Sprintf("0C110A%06X", i)}
		}
		start := time.Now()
		res, err = st.ImportMACs(ctx, id, big)
		if err != nil || res.Imported != 10_000 {
			t.Fatalf("10,000 rows: %d %v", res.Imported, err)
		}
		t.Logf("10,000 MACs imported in %s", time.Since(start))
	})
}

func TestAccessWithoutPassword(t *testing.T) {
	eachBackend(t, func(t *testing.T, st *store.Store) {
		tr := mustTree(t, st)
		inst := as(tr.a1.installer)
		se := &model.Session{TokenHash: "imp-1", CSRFToken: "c"}
		err := st.CreateImpersonationSession(as(tr.subA1), tr.a1.installer.ID, se)
		if model.ErrorCode(err) != model.EFORBIDDEN || !strings.Contains(model.ErrorMessage(err), "not granted") {
			t.Fatalf("before the grant: %v", err)
		}
		if err := st.SetAccessWithoutPassword(as(tr.subA1), true); model.ErrorCode(err) != model.EFORBIDDEN {
			t.Errorf("a sub-distributor grants itself access: %v", err)
		}
		if err := st.SetAccessWithoutPassword(inst, true); err != nil {
			t.Fatal(err)
		}
		se.Expires = time.Now().Add(24 * time.Hour) // asks for too long
		if err := st.CreateImpersonationSession(as(tr.subA1), tr.a1.installer.ID, se); err != nil {
			t.Fatal(err)
		}
		got, acc, err := st.SessionByHash(context.Background(), "imp-1")
		if err != nil || got.ActingAsID != tr.a1.installer.ID || acc.ID != tr.subA1.ID || got.Expires.Sub(got.Created) > time.Hour {
			t.Fatalf("session: %+v %v", got, err)
		}
		// Acting as the installer cannot switch the grant or make tokens,
		// and what it does is audited with both names.
		acting := model.ActorOf(tr.a1.installer)
		acting.Real = model.ActorOf(tr.subA1)
		actx := model.WithActor(context.Background(), acting)
		if err := st.CreateAPIToken(actx, &model.APIToken{Name: "x"}, "h"); model.ErrorCode(err) != model.EFORBIDDEN {
			t.Errorf("token while acting: %v", err)
		}
		p := &model.Project{Kind: model.ProjectPersonal, Name: "Helped villa"}
		if err := st.CreateProject(actx, p); err != nil || p.InstallerID != tr.a1.installer.ID {
			t.Fatalf("project while acting: %v", err)
		}
		l, _ := st.ListAudit(inst, model.AuditFilter{Action: "project.create", ObjectID: fmt.Sprint(p.ID), Page: model.Page{Page: 1, PerPage: 5}})
		if l.Total != 1 || l.Items[0].RealActor != "sub-a1" || l.Items[0].Account != "inst-a1" {
			t.Errorf("audit of an acting action: %+v", l.Items)
		}
		if err := st.SetAccessWithoutPassword(model.WithActor(context.Background(), acting), false); model.ErrorCode(err) != model.EFORBIDDEN {
			t.Errorf("acting actor revokes: %v", err)
		}
		// Revoking ends the session at once.
		if err := st.SetAccessWithoutPassword(inst, false); err != nil {
			t.Fatal(err)
		}
		if _, _, err := st.SessionByHash(context.Background(), "imp-1"); model.ErrorCode(err) != model.ENOTFOUND {
			t.Errorf("session survived the revocation: %v", err)
		}
	})
}

func TestPasswordLinks(t *testing.T) {
	eachBackend(t, func(t *testing.T, st *store.Store) {
		tr := mustTree(t, st)
		ctx := as(tr.subA1)
		id := tr.a1.installer.ID
		if err := st.CreatePasswordToken(ctx, id, "welcome", "link-1", time.Now().Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		if err := st.CreatePasswordToken(ctx, id, "reset", "link-2", time.Now().Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		if _, err := st.PasswordTokenAccount(context.Background(), "link-1"); model.ErrorCode(err) != model.ENOTFOUND {
			t.Error("an older link still works after a new one was sent")
		}
		a, err := st.PasswordTokenAccount(context.Background(), "link-2")
		if err != nil || a.ID != id {
			t.Fatalf("link-2: %v", err)
		}
		if _, err := st.UsePasswordToken(context.Background(), "link-2", "new-hash"); err != nil {
			t.Fatal(err)
		}
		if _, hash, _ := st.AccountForLogin(context.Background(), "inst-a1"); hash != "new-hash" {
			t.Errorf("password not set: %q", hash)
		}
		if _, err := st.UsePasswordToken(context.Background(), "link-2", "other-hash"); model.ErrorCode(err) != model.ENOTFOUND {
			t.Error("a link worked twice")
		}
		st.CreatePasswordToken(ctx, id, "reset", "link-3", time.Now().Add(time.Hour))
		st.SetClock(func() time.Time { return time.Now().UTC().Add(2 * time.Hour) })
		if _, err := st.UsePasswordToken(context.Background(), "link-3", "late-hash"); model.ErrorCode(err) != model.ENOTFOUND {
			t.Error("an expired link worked")
		}
	})
}
