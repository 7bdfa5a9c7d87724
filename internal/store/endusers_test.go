package store_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/model"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

func init() {
	tenancyCases = append(tenancyCases, tenancyCase{method: "GetEndUserRow", call: func(st *store.Store, ctx context.Context, b *branch) error {
		r, err := st.GetEndUserRow(ctx, b.user.ID)
		if err == nil && (r.ID != b.user.ID || r.Installer != b.installer.Username) {
			return fmt.Errorf("wrong row: %+v", r)
		}
		return err
	}})
	coveredElsewhere["ListEndUsers"] = "TestEndUserListScoping"
}

// euBranch is what the end-user tests add to a branch: a villa household,
// a community family member and property manager, and an office user.
type euBranch struct {
	*branch
	home                                    *model.Project
	villaMaster, villaMember                *model.EndUser
	member, manager, staff                  *model.EndUser
	villaUsers, communityUsers, officeUsers []*model.EndUser
}

// euTree is the shared tree with end users of every kind in each branch,
// created one second apart so that "newest first" is well defined.
type euTree struct {
	*tree
	a1, a2, b *euBranch
}

func mustEndUser(t *testing.T, st *store.Store, ctx context.Context, u *model.EndUser) *model.EndUser {
	t.Helper()
	if err := st.AddEndUser(ctx, u); err != nil {
		t.Fatalf("create end user %s: %v", u.Name, err)
	}
	return u
}

func mustEUTree(t *testing.T, st *store.Store) *euTree {
	t.Helper()
	base := time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)
	var tick int
	st.SetClock(func() time.Time { tick++; return base.Add(time.Duration(tick) * time.Second) })
	tr := mustTree(t, st)
	et := &euTree{tree: tr}
	for i, b := range []*branch{tr.a1, tr.a2, tr.b} {
		eb := &euBranch{branch: b}
		ctx := as(b.installer)
		tag := b.installer.Username // inst-a1 …
		eb.home = &model.Project{Kind: model.ProjectPersonal, Name: "Villa " + tag, Address: "1 Elm Road"}
		if err := st.CreateProject(ctx, eb.home); err != nil {
			t.Fatal(err)
		}
		soon := base.AddDate(1, 0, 0)
		eb.villaMaster = mustEndUser(t, st, ctx, &model.EndUser{ProjectID: eb.home.ID, Role: model.FamilyMaster,
			Name: "Vera Lindqvist " + tag, SIP: fmt.Sprintf("70%d1001", i), Email: "vera." + tag + "@Mail.Example",
			Mobile: fmt.Sprintf("+46 70 %d12 3456", i), Phone: "+46 8 555 0101", Address: "1 Elm Road", Active: true,
			Premium: true, AppExpires: &soon, PremiumExpires: &soon})
		eb.villaMember = mustEndUser(t, st, ctx, &model.EndUser{ProjectID: eb.home.ID, Role: model.FamilyMember,
			FamilyMasterID: eb.villaMaster.ID, Name: "Milo Under_Score " + tag, SIP: fmt.Sprintf("70%d1002", i),
			Email: "milo." + tag + "@mail.example", Mobile: fmt.Sprintf("+46 70 %d98 7654", i), Address: "1 Elm Road"})
		eb.member = mustEndUser(t, st, ctx, &model.EndUser{ProjectID: b.project.ID, ApartmentID: b.apartment.ID,
			Role: model.FamilyMember, FamilyMasterID: b.user.ID, Name: "Kim Resident " + tag, SIP: fmt.Sprintf("70%d2002", i),
			Email: "kim." + tag + "@mail.example"})
		eb.manager = mustEndUser(t, st, ctx, &model.EndUser{ProjectID: b.project.ID, Role: model.PropertyManager,
			Name: "Pat Manager " + tag, SIP: fmt.Sprintf("70%d2003", i), Email: "pat." + tag + "@mail.example", Active: true})
		eb.staff = mustEndUser(t, st, ctx, &model.EndUser{ProjectID: b.office.ID, DepartmentID: b.dept.ID, Role: model.OfficeStaff,
			Name: "Olga Office " + tag, SIP: fmt.Sprintf("70%d3001", i), Email: "olga." + tag + "@mail.example",
			Mobile: "+1 (555) 010-2000", Phone: "+1 555 0100", Active: true, AppExpires: &soon})
		eb.villaUsers = []*model.EndUser{eb.villaMaster, eb.villaMember}
		eb.communityUsers = []*model.EndUser{b.user, eb.member, eb.manager}
		eb.officeUsers = []*model.EndUser{eb.staff}
		switch i {
		case 0:
			et.a1 = eb
		case 1:
			et.a2 = eb
		default:
			et.b = eb
		}
	}
	return et
}

func (et *euTree) branches() []*euBranch { return []*euBranch{et.a1, et.a2, et.b} }

func (eb *euBranch) ofKind(k model.EndUserKind) []*model.EndUser {
	switch k {
	case model.KindVilla:
		return eb.villaUsers
	case model.KindCommunity:
		return eb.communityUsers
	}
	return eb.officeUsers
}

func listAll(t *testing.T, st *store.Store, ctx context.Context, f model.EndUserFilter) model.List[*model.EndUserRow] {
	t.Helper()
	if f.Page.Page == 0 {
		f.Page = model.Page{Page: 1, PerPage: 500}
	}
	l, err := st.ListEndUsers(ctx, f)
	if err != nil {
		t.Fatalf("ListEndUsers %+v: %v", f, err)
	}
	return l
}

func names(l model.List[*model.EndUserRow]) []string {
	var out []string
	for _, r := range l.Items {
		out = append(out, r.Name)
	}
	slices.Sort(out)
	return out
}

func userNames(us ...*model.EndUser) []string {
	var out []string
	for _, u := range us {
		out = append(out, u.Name)
	}
	slices.Sort(out)
	return out
}

// TestEndUserListScoping: every actor, at every level of the tree, lists
// exactly the end users of its subtree in each of the three lists, and
// reads their details; nobody sees another subtree's users.
func TestEndUserListScoping(t *testing.T) {
	eachBackend(t, func(t *testing.T, st *store.Store) {
		et := mustEUTree(t, st)
		actors := []*model.Account{et.admin, et.distA, et.subA1, et.subA2, et.a1.installer, et.a2.installer, et.distB, et.subB, et.b.installer}
		for _, actor := range actors {
			ctx := as(actor)
			for _, k := range []model.EndUserKind{model.KindVilla, model.KindCommunity, model.KindOffice} {
				var want []*model.EndUser
				for _, eb := range et.branches() {
					if et.canSee(actor, eb.branch) {
						want = append(want, eb.ofKind(k)...)
					}
				}
				l := listAll(t, st, ctx, model.EndUserFilter{Kind: k})
				if got, w := names(l), userNames(want...); !slices.Equal(got, w) || l.Total != len(want) {
					t.Errorf("%s lists %s users %q (total %d), want %q", actor.Username, k, got, l.Total, w)
				}
				for _, r := range l.Items {
					if r.Kind != k {
						t.Errorf("%s list holds %s (kind %s)", k, r.Name, r.Kind)
					}
					if got, err := st.GetEndUserRow(ctx, r.ID); err != nil || got.Name != r.Name {
						t.Errorf("%s reads listed user %s: %v %v", actor.Username, r.Name, got, err)
					}
				}
			}
			// Every search type stays in the subtree: searching for each
			// branch's users by what they hold finds them only where the
			// actor sees them (every name word and text here is its branch's).
			for _, eb := range et.branches() {
				tag := eb.installer.Username
				for _, c := range []struct {
					kind  model.EndUserKind
					st, q string
					want  []*model.EndUser
				}{
					{model.KindVilla, "name", "vera lindqvist " + tag, []*model.EndUser{eb.villaMaster}},
					{model.KindVilla, "name", tag, eb.villaUsers},
					{model.KindVilla, "family_master", "vera lindqvist " + tag, eb.villaUsers},
					{model.KindVilla, "sip", eb.villaMaster.SIP, []*model.EndUser{eb.villaMaster}},
					{model.KindVilla, "email", eb.villaMaster.Email, []*model.EndUser{eb.villaMaster}},
					{model.KindVilla, "mobile", eb.villaMaster.Mobile, []*model.EndUser{eb.villaMaster}},
					{model.KindVilla, "installer", tag, eb.villaUsers},
					{model.KindOffice, "office", eb.office.Name, eb.officeUsers},
				} {
					var want []*model.EndUser
					if et.canSee(actor, eb.branch) {
						want = c.want
					}
					l := listAll(t, st, ctx, model.EndUserFilter{Kind: c.kind, SearchType: c.st, Q: c.q})
					if got, w := names(l), userNames(want...); !slices.Equal(got, w) || l.Total != len(want) {
						t.Errorf("%s searches %s %s=%q: %q (total %d), want %q", actor.Username, c.kind, c.st, c.q, got, l.Total, w)
					}
				}
			}
			// A foreign user is "not found", like a missing one.
			for _, eb := range et.branches() {
				_, err := st.GetEndUserRow(ctx, eb.staff.ID)
				if et.canSee(actor, eb.branch) != (err == nil) || (err != nil && model.ErrorCode(err) != model.ENOTFOUND) {
					t.Errorf("%s reads %s: %v", actor.Username, eb.staff.Name, err)
				}
			}
		}
		if _, err := st.GetEndUserRow(as(et.admin), 999999); model.ErrorCode(err) != model.ENOTFOUND {
			t.Errorf("missing user: %v", err)
		}
		// Narrowing to an installer of another subtree finds nothing.
		l := listAll(t, st, as(et.subA1), model.EndUserFilter{Kind: model.KindCommunity, InstallerID: et.b.installer.ID})
		if l.Total != 0 {
			t.Errorf("sub-a1 narrowed to inst-b sees %q", names(l))
		}
		l = listAll(t, st, as(et.subA1), model.EndUserFilter{Kind: model.KindCommunity, ProjectID: et.b.project.ID})
		if l.Total != 0 {
			t.Errorf("sub-a1 narrowed to inst-b's project sees %q", names(l))
		}
		if _, err := st.ListEndUsers(context.Background(), model.EndUserFilter{Kind: model.KindVilla, Page: model.Page{Page: 1, PerPage: 5}}); err == nil {
			t.Error("a list without an actor must fail")
		}
	})
}

func TestEndUserListColumnsAndFilters(t *testing.T) {
	eachBackend(t, func(t *testing.T, st *store.Store) {
		et := mustEUTree(t, st)
		a1 := et.a1
		sub := as(et.subA1)
		list := func(f model.EndUserFilter) model.List[*model.EndUserRow] { return listAll(t, st, sub, f) }
		byName := func(l model.List[*model.EndUserRow], name string) *model.EndUserRow {
			for _, r := range l.Items {
				if r.Name == name {
					return r
				}
			}
			t.Fatalf("%q not in %q", name, names(l))
			return nil
		}

		// Columns: installer name (its account name when it has no name),
		// community / office, family master, newest first.
		comm := list(model.EndUserFilter{Kind: model.KindCommunity})
		if got := names(comm); !slices.Equal(got, userNames(a1.communityUsers...)) {
			t.Fatalf("community list %q", got)
		}
		if comm.Items[0].ID != a1.manager.ID || comm.Items[2].ID != a1.user.ID {
			t.Errorf("not newest first: %q", []string{comm.Items[0].Name, comm.Items[1].Name, comm.Items[2].Name})
		}
		for _, r := range comm.Items {
			if r.Installer != "inst-a1" || r.Project != a1.project.Name {
				t.Errorf("%s: installer %q, community %q", r.Name, r.Installer, r.Project)
			}
		}
		if fm := byName(comm, a1.member.Name).FamilyMaster; fm != a1.user.Name {
			t.Errorf("member's family master %q, want %q", fm, a1.user.Name)
		}
		if fm := byName(comm, a1.user.Name).FamilyMaster; fm != a1.user.Name {
			t.Errorf("a family master's Family Master column %q, want its own name", fm)
		}
		if r := byName(comm, a1.manager.Name); r.FamilyMaster != "" || r.Role != model.PropertyManager {
			t.Errorf("property manager: family master %q, role %s", r.FamilyMaster, r.Role)
		}
		villa := list(model.EndUserFilter{Kind: model.KindVilla})
		if r := byName(villa, a1.villaMaster.Name); r.Project != "" || !r.Premium || r.PremiumExpires == nil || r.Address != "1 Elm Road" || r.Phone != "+46 8 555 0101" {
			t.Errorf("villa master row: %+v", r)
		}
		office := list(model.EndUserFilter{Kind: model.KindOffice})
		if r := byName(office, a1.staff.Name); r.Project != a1.office.Name || r.AppExpires == nil || !r.Active {
			t.Errorf("office row: %+v", r)
		}

		// Account Type.
		for _, c := range []struct {
			kind model.EndUserKind
			at   string
			want []*model.EndUser
		}{
			{model.KindVilla, "", a1.villaUsers},
			{model.KindVilla, "all", a1.villaUsers},
			{model.KindVilla, "family_master", []*model.EndUser{a1.villaMaster}},
			{model.KindVilla, "family_member", []*model.EndUser{a1.villaMember}},
			{model.KindCommunity, "family_master", []*model.EndUser{a1.user}},
			{model.KindCommunity, "family_member", []*model.EndUser{a1.member}},
			{model.KindOffice, "all", a1.officeUsers},
		} {
			if got := names(list(model.EndUserFilter{Kind: c.kind, AccountType: c.at})); !slices.Equal(got, userNames(c.want...)) {
				t.Errorf("%s account_type=%q: %q", c.kind, c.at, got)
			}
		}

		// Search Type.
		for _, c := range []struct {
			kind    model.EndUserKind
			st, q   string
			at      string
			want    []*model.EndUser
			comment string
		}{
			{model.KindVilla, "sip", "7001001", "", []*model.EndUser{a1.villaMaster}, "exact SIP"},
			{model.KindVilla, "sip", "70010", "", a1.villaUsers, "SIP prefix"},
			{model.KindVilla, "sip", "1001", "", nil, "SIP matches from the start only"},
			{model.KindVilla, "sip", "70%", "", nil, "a wildcard in a SIP is literal"},
			{model.KindVilla, "name", "VERA lind", "", []*model.EndUser{a1.villaMaster}, "name from the start of a word, any case"},
			{model.KindVilla, "name", "lindqvist  INST", "", []*model.EndUser{a1.villaMaster}, "from a later word, spaces as one"},
			{model.KindVilla, "name", "UN", "", []*model.EndUser{a1.villaMember}, "two letters"},
			{model.KindVilla, "name", "i", "", a1.villaUsers, "one letter"},
			{model.KindVilla, "name", "ER", "", nil, "not from the middle of a word"},
			{model.KindVilla, "name", "vera inst-a1", "", nil, "the words as they follow each other"},
			{model.KindVilla, "name", "under_s", "", []*model.EndUser{a1.villaMember}, "underscore matches itself"},
			{model.KindVilla, "name", "a_l", "", nil, "underscore is literal (no match for \"a L\")"},
			{model.KindVilla, "name", "e%a", "", nil, "percent is literal"},
			{model.KindVilla, "name", "vera", "family_member", nil, "search and account type together"},
			{model.KindVilla, "email", "VERA.INST-A1@mail", "", []*model.EndUser{a1.villaMaster}, "email contains, any case"},
			{model.KindVilla, "mobile", "0 012 3", "", []*model.EndUser{a1.villaMaster}, "mobile contains"},
			{model.KindVilla, "installer", "INST-A", "", a1.villaUsers, "installer's account name"},
			{model.KindVilla, "installer", "inst-b", "", nil, "another subtree's installer"},
			{model.KindVilla, "family_master", "vera lindqvist", "", a1.villaUsers, "the master and its members"},
			{model.KindVilla, "family_master", "Milo", "", nil, "a member is nobody's family master"},
			{model.KindVilla, "family_master", "ve", "", a1.villaUsers, "two letters (not indexed)"},
			{model.KindCommunity, "family_master", "resident inst-a1", "", []*model.EndUser{a1.user, a1.member}, "community household"},
			{model.KindCommunity, "name", "manager", "", []*model.EndUser{a1.manager}, "property managers are community users"},
			{model.KindOffice, "office", "A1 offices", "", a1.officeUsers, "office name"},
			{model.KindOffice, "office", "gardens", "", nil, "a community is no office"},
			{model.KindOffice, "mobile", "(555) 010", "", a1.officeUsers, "parentheses in a mobile number"},
			{model.KindOffice, "name", "", "", a1.officeUsers, "empty text: no search"},
		} {
			got := names(list(model.EndUserFilter{Kind: c.kind, SearchType: c.st, Q: c.q, AccountType: c.at}))
			if !slices.Equal(got, userNames(c.want...)) {
				t.Errorf("%s: %s %s=%q: %q, want %q", c.comment, c.kind, c.st, c.q, got, userNames(c.want...))
			}
		}
		// The installer search stays in the subtree; the admin's reaches
		// every installer.
		if got := list(model.EndUserFilter{Kind: model.KindVilla, SearchType: "installer", Q: "inst-"}); got.Total != 2 {
			t.Errorf("sub-a1 installer search: %q", names(got))
		}
		if got := listAll(t, st, as(et.admin), model.EndUserFilter{Kind: model.KindVilla, SearchType: "installer", Q: "inst-a"}); got.Total != 4 {
			t.Errorf("admin installer search inst-a: %q", names(got))
		}

		// Pages.
		p2 := listAll(t, st, sub, model.EndUserFilter{Kind: model.KindCommunity, Page: model.Page{Page: 2, PerPage: 2}})
		if p2.Total != 3 || len(p2.Items) != 1 || p2.Items[0].ID != a1.user.ID || p2.Page != 2 || p2.PerPage != 2 {
			t.Errorf("page 2: total %d, %q", p2.Total, names(p2))
		}
		p9 := listAll(t, st, sub, model.EndUserFilter{Kind: model.KindCommunity, Page: model.Page{Page: 9, PerPage: 2}})
		if p9.Total != 3 || len(p9.Items) != 0 {
			t.Errorf("page past the end: %+v", p9)
		}

		// Bad filters name their field.
		long := strings.Repeat("x", store.MaxEndUserQuery+1)
		for _, c := range []struct {
			f     model.EndUserFilter
			field string
		}{
			{model.EndUserFilter{}, "kind"},
			{model.EndUserFilter{Kind: "villas"}, "kind"},
			{model.EndUserFilter{Kind: model.KindVilla, AccountType: "owner"}, "account_type"},
			{model.EndUserFilter{Kind: model.KindOffice, AccountType: "family_master"}, "account_type"},
			{model.EndUserFilter{Kind: model.KindVilla, SearchType: "office", Q: "x"}, "search_type"},
			{model.EndUserFilter{Kind: model.KindOffice, SearchType: "family_master", Q: "x"}, "search_type"},
			{model.EndUserFilter{Kind: model.KindCommunity, SearchType: "community", Q: "x"}, "search_type"},
			{model.EndUserFilter{Kind: model.KindCommunity, Q: "x"}, "search_type"},
			{model.EndUserFilter{Kind: model.KindCommunity, SearchType: "name", Q: long}, "q"},
		} {
			c.f.Page = model.Page{Page: 1, PerPage: 50}
			_, err := st.ListEndUsers(sub, c.f)
			if model.ErrorCode(err) != model.EINVALID || model.ErrorFields(err)[c.field] == "" {
				t.Errorf("%+v: want invalid %s, got %v", c.f, c.field, err)
			}
		}

		// The detail read adds the apartment or department.
		r, err := st.GetEndUserRow(sub, a1.member.ID)
		if err != nil || r.Apartment != "A-101" || r.Department != "" || r.Kind != model.KindCommunity || r.FamilyMaster != a1.user.Name {
			t.Errorf("member detail: %+v %v", r, err)
		}
		r, err = st.GetEndUserRow(sub, a1.staff.ID)
		if err != nil || r.Department != "Sales" || r.Apartment != "" || r.Kind != model.KindOffice || r.Project != a1.office.Name {
			t.Errorf("staff detail: %+v %v", r, err)
		}
		r, err = st.GetEndUserRow(sub, a1.villaMember.ID)
		if err != nil || r.Kind != model.KindVilla || r.FamilyMaster != a1.villaMaster.Name || r.FamilyMasterID != a1.villaMaster.ID {
			t.Errorf("villa member detail: %+v %v", r, err)
		}

		// The search index follows changes to the users.
		db := st.DB()
		if _, err := db.Exec(fmt.Sprintf(`UPDATE end_users SET name = 'Veronika Quist', email = 'vq@new.example' WHERE id = %d`, a1.villaMaster.ID)); err != nil {
			t.Fatal(err)
		}
		for q, want := range map[string][]*model.EndUser{"lindqvist": nil, "veronika": {a1.villaMaster}, "veronika q": {a1.villaMaster}} {
			if got := names(list(model.EndUserFilter{Kind: model.KindVilla, SearchType: "name", Q: q})); len(got) != len(want) {
				t.Errorf("after rename, name %q: %q", q, got)
			}
		}
		if got := list(model.EndUserFilter{Kind: model.KindVilla, SearchType: "email", Q: "vq@new"}); got.Total != 1 {
			t.Errorf("after the email change: %q", names(got))
		}
		if got := list(model.EndUserFilter{Kind: model.KindVilla, SearchType: "family_master", Q: "veronika"}); got.Total != 2 {
			t.Errorf("family master search after rename: %q", names(got))
		}
		if _, err := db.Exec(fmt.Sprintf(`DELETE FROM end_users WHERE id = %d`, a1.villaMember.ID)); err != nil {
			t.Fatal(err)
		}
		if got := list(model.EndUserFilter{Kind: model.KindVilla, SearchType: "name", Q: "under_score"}); got.Total != 0 {
			t.Errorf("deleted user still found: %q", names(got))
		}
		// A user added later is found at once.
		mustEndUser(t, st, as(a1.installer), &model.EndUser{ProjectID: a1.home.ID, Role: model.FamilyMember,
			FamilyMasterID: a1.villaMaster.ID, Name: "Newcomer Zed", SIP: "7009999"})
		if got := list(model.EndUserFilter{Kind: model.KindVilla, SearchType: "name", Q: "newcomer"}); got.Total != 1 || got.Items[0].FamilyMaster != "Veronika Quist" {
			t.Errorf("new user: %+v", got.Items)
		}
	})
}

// TestEndUserCountCap: past EndUserCountCap matches the count stops (and
// says so) while pages past the cap still read.
func TestEndUserCountCap(t *testing.T) {
	eachBackend(t, func(t *testing.T, st *store.Store) {
		et := mustEUTree(t, st)
		a1 := et.a1
		first, err := st.MaxID(sys, "end_users")
		if err != nil {
			t.Fatal(err)
		}
		// More users than the count cap, and more holding "person" than
		// SQLite's trigram table is read for (20,000).
		const n = 20_050
		base := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
		// One apartment per family master: a home has one master.
		firstApt, err := st.MaxID(sys, "apartments")
		if err != nil {
			t.Fatal(err)
		}
		apts := make([][]any, 0, n)
		rows := make([][]any, 0, n)
		for i := 0; i < n; i++ {
			apt := firstApt + 1 + int64(i)
			apts = append(apts, []any{apt, a1.building.ID, "9", fmt.Sprintf("B%05d", i), "", 4})
			rows = append(rows, []any{first + 1 + int64(i), a1.installer.ID, a1.project.ID, apt, "family_master",
				fmt.Sprintf("Bulk Person %05d", i), fmt.Sprintf("8%08d", i), fmt.Sprintf("bulk%05d@mail.example", i),
				"", "", "", true, false, base.Add(time.Duration(i) * time.Minute)})
		}
		if err := st.BulkInsert(sys, "apartments", []string{"id", "building_id", "floor", "number", "name", "family_member_limit"}, apts); err != nil {
			t.Fatal(err)
		}
		if err := st.BulkInsert(sys, "end_users", []string{"id", "installer_id", "project_id", "apartment_id", "role", "name", "sip", "email",
			"mobile", "phone", "address", "active", "premium", "created_at"}, rows); err != nil {
			t.Fatal(err)
		}
		sub := as(et.subA1)
		l := listAll(t, st, sub, model.EndUserFilter{Kind: model.KindCommunity, Page: model.Page{Page: 1, PerPage: 50}})
		if l.Total != store.EndUserCountCap+1 || len(l.Items) != 50 {
			t.Errorf("capped count: total %d, %d items", l.Total, len(l.Items))
		}
		// Total users: n bulk + 3 of the fixture; the last page is past the cap.
		last := listAll(t, st, sub, model.EndUserFilter{Kind: model.KindCommunity, Page: model.Page{Page: (n+3)/50 + 1, PerPage: 50}})
		if len(last.Items) != (n+3)%50 || last.Items[len(last.Items)-1].Name != "Bulk Person 00000" {
			t.Errorf("last page: %q", names(last))
		}
		// A narrower search counts exactly, through the search index.
		l = listAll(t, st, sub, model.EndUserFilter{Kind: model.KindCommunity, SearchType: "name", Q: "person 0099"})
		if l.Total != 10 || l.Items[0].Name != "Bulk Person 00999" {
			t.Errorf("name search in bulk: total %d %q", l.Total, names(l))
		}
		// A text in too many users for the trigram table: read in date order.
		l = listAll(t, st, sub, model.EndUserFilter{Kind: model.KindCommunity, SearchType: "name", Q: "PERSON", Page: model.Page{Page: 1, PerPage: 50}})
		if l.Total != store.EndUserCountCap+1 || len(l.Items) != 50 || l.Items[0].Name != "Bulk Person 20049" || l.Items[49].Name != "Bulk Person 20000" {
			t.Errorf("dense name search: total %d, %d items, first %q", l.Total, len(l.Items), l.Items[0].Name)
		}
		l = listAll(t, st, sub, model.EndUserFilter{Kind: model.KindCommunity, SearchType: "family_master", Q: "bulk person 1999"})
		if l.Total != 10 || l.Items[0].Name != "Bulk Person 19999" {
			t.Errorf("family master search in bulk: total %d", l.Total)
		}
		l = listAll(t, st, sub, model.EndUserFilter{Kind: model.KindCommunity, SearchType: "sip", Q: "8000010"})
		if l.Total != 100 {
			t.Errorf("SIP prefix in bulk: total %d", l.Total)
		}
		// Name words: a word many users hold is counted through the words
		// of the scope, and its newest users come first; the count stops
		// at the cap.
		l = listAll(t, st, sub, model.EndUserFilter{Kind: model.KindCommunity, SearchType: "name", Q: "bulk pers", AccountType: "family_master",
			Page: model.Page{Page: 2, PerPage: 10}})
		if l.Total != store.EndUserCountCap+1 || len(l.Items) != 10 || l.Items[0].Name != "Bulk Person 20039" {
			t.Errorf("dense word prefix, page 2: total %d, %q", l.Total, names(l))
		}
		l = listAll(t, st, sub, model.EndUserFilter{Kind: model.KindCommunity, SearchType: "family_master", Q: "BULK",
			Page: model.Page{Page: 1, PerPage: 5}})
		if l.Total != store.EndUserCountCap+1 || len(l.Items) != 5 || l.Items[0].Name != "Bulk Person 20049" {
			t.Errorf("dense family master search: total %d, %q", l.Total, names(l))
		}
		l = listAll(t, st, sub, model.EndUserFilter{Kind: model.KindCommunity, SearchType: "name", Q: "erson"})
		if l.Total != 0 {
			t.Errorf("the middle of a word matched %d users", l.Total)
		}
		l = listAll(t, st, sub, model.EndUserFilter{Kind: model.KindCommunity, SearchType: "name", Q: "0200"})
		if l.Total != 10 || l.Items[0].Name != "Bulk Person 02009" {
			t.Errorf("a later word's prefix: total %d, first %q", l.Total, names(l))
		}
		if l := listAll(t, st, as(et.subB), model.EndUserFilter{Kind: model.KindCommunity, SearchType: "name", Q: "bulk"}); l.Total != 0 {
			t.Errorf("sub-b finds %d bulk users by name", l.Total)
		}
		if l := listAll(t, st, as(et.b.installer), model.EndUserFilter{Kind: model.KindCommunity, SearchType: "family_master", Q: "bulk"}); l.Total != 0 {
			t.Errorf("inst-b finds %d bulk users by family master", l.Total)
		}
		// An email or mobile text too short, or held by too many users, to
		// count fast in a list of more than EndUserCountCap users is
		// refused, naming q; in a short list it is answered.
		for _, c := range []struct{ st, q string }{{"email", "bu"}, {"email", "mail.example"}, {"mobile", "5"}} {
			_, err := st.ListEndUsers(sub, model.EndUserFilter{Kind: model.KindCommunity, SearchType: c.st, Q: c.q, Page: model.Page{Page: 1, PerPage: 50}})
			if model.ErrorCode(err) != model.EINVALID || model.ErrorFields(err)["q"] == "" {
				t.Errorf("%s %q among %d users: want invalid q, got %v", c.st, c.q, n, err)
			}
		}
		wantB := 0
		for _, u := range et.b.communityUsers {
			if strings.Contains(strings.ToLower(u.Email), "mail.example") {
				wantB++
			}
		}
		if l := listAll(t, st, as(et.subB), model.EndUserFilter{Kind: model.KindCommunity, SearchType: "email", Q: "mail.example"}); l.Total != wantB || wantB == 0 {
			t.Errorf("a common email text in a short list: total %d, want %d", l.Total, wantB)
		}
		l = listAll(t, st, sub, model.EndUserFilter{Kind: model.KindCommunity, SearchType: "email", Q: "bulk0123"})
		if l.Total != 10 || l.Items[0].Name != "Bulk Person 01239" {
			t.Errorf("a rarer email text: total %d %q", l.Total, names(l))
		}
		// Other subtrees are not counted in.
		if l := listAll(t, st, as(et.subB), model.EndUserFilter{Kind: model.KindCommunity}); l.Total != 3 {
			t.Errorf("sub-b counts %d community users", l.Total)
		}
	})
}

// TestEndUserSearchCountsEachUserOnce: a user whose name (or Family Master)
// starts several words with the search text is one match, counted once and
// on one page only, at every level of the tree; an email search with few
// matches is counted and paged from its candidates.
func TestEndUserSearchCountsEachUserOnce(t *testing.T) {
	eachBackend(t, func(t *testing.T, st *store.Store) {
		et := mustEUTree(t, st)
		a1 := et.a1
		ctx := as(a1.installer)
		home := &model.Project{Kind: model.ProjectPersonal, Name: "Villa Ann", Address: "2 Elm Road"}
		if err := st.CreateProject(ctx, home); err != nil {
			t.Fatal(err)
		}
		master := mustEndUser(t, st, ctx, &model.EndUser{ProjectID: home.ID, Role: model.FamilyMaster,
			Name: "Anna Annika Annberg", SIP: "7101001", Email: "twice.anna@mail.example"})
		member := mustEndUser(t, st, ctx, &model.EndUser{ProjectID: home.ID, Role: model.FamilyMember,
			FamilyMasterID: master.ID, Name: "Ann  Anna", SIP: "7101002", Email: "twice.ann@mail.example"})
		other := mustEndUser(t, st, ctx, &model.EndUser{ProjectID: home.ID, Role: model.FamilyMember,
			FamilyMasterID: master.ID, Name: "Bo Anna Anna", SIP: "7101003", Email: "twice.bo@mail.example"})
		both, all := []*model.EndUser{master, member}, []*model.EndUser{master, member, other}
		for _, actor := range []struct {
			name string
			ctx  context.Context
		}{{"admin", as(et.admin)}, {"distributor", as(et.distA)}, {"sub-distributor", as(et.subA1)}, {"installer", ctx}} {
			for _, c := range []struct {
				st, q string
				want  []*model.EndUser
			}{
				{"name", "ann", all},
				{"name", "ANNA", all},
				{"name", "anna anna", []*model.EndUser{other}},
				{"name", "anna ann", []*model.EndUser{master, other}},
				{"name", "annb", []*model.EndUser{master}},
				{"family_master", "ann", all},
				{"family_master", "annika annberg", all},
				{"email", "twice.", all},
				{"email", "twice.ann", both},
			} {
				f := model.EndUserFilter{Kind: model.KindVilla, SearchType: c.st, Q: c.q}
				l := listAll(t, st, actor.ctx, f)
				if l.Total != len(c.want) || !slices.Equal(names(l), userNames(c.want...)) {
					t.Errorf("%s, %s %q: total %d, %q, want %q", actor.name, c.st, c.q, l.Total, names(l), userNames(c.want...))
				}
				// One user a page, newest first, each once.
				var paged []int64
				for p := 1; p <= len(c.want)+1; p++ {
					f.Page = model.Page{Page: p, PerPage: 1}
					l := listAll(t, st, actor.ctx, f)
					if l.Total != len(c.want) {
						t.Errorf("%s, %s %q, page %d: total %d", actor.name, c.st, c.q, p, l.Total)
					}
					for _, r := range l.Items {
						paged = append(paged, r.ID)
					}
				}
				var want []int64
				for i := len(all) - 1; i >= 0; i-- { // created in this order
					if slices.Contains(c.want, all[i]) {
						want = append(want, all[i].ID)
					}
				}
				if !slices.Equal(paged, want) {
					t.Errorf("%s, %s %q, one a page: ids %v, want %v", actor.name, c.st, c.q, paged, want)
				}
			}
		}
	})
}

// TestDenseWordSearchPages: a name or Family Master search that more than
// EndUserCountCap users match, through few distinct words (a common last
// name), pages newest first the same at every level of the tree, from the
// words index or from the list, each user once.
func TestDenseWordSearchPages(t *testing.T) {
	eachBackend(t, func(t *testing.T, st *store.Store) {
		et := mustEUTree(t, st)
		a1 := et.a1
		first, err := st.MaxID(sys, "end_users")
		if err != nil {
			t.Fatal(err)
		}
		firstApt, err := st.MaxID(sys, "apartments")
		if err != nil {
			t.Fatal(err)
		}
		const n = store.EndUserCountCap + 100
		base := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
		names := []string{"Ann Same", "Bo Same", "Cy Same Sampson"}
		type bulk struct {
			id   int64
			name string
		}
		var users []bulk // oldest first
		apts := make([][]any, 0, n)
		rows := make([][]any, 0, n)
		for i := 0; i < n; i++ {
			apt := firstApt + 1 + int64(i)
			u := bulk{first + 1 + int64(i), names[i%len(names)]}
			users = append(users, u)
			apts = append(apts, []any{apt, a1.building.ID, "9", fmt.Sprintf("S%05d", i), "", 4})
			rows = append(rows, []any{u.id, a1.installer.ID, a1.project.ID, apt, "family_master", u.name,
				fmt.Sprintf("9%08d", i), fmt.Sprintf("same%05d@mail.example", i), "", "", "", true, false,
				base.Add(time.Duration(i) * time.Minute)})
		}
		if err := st.BulkInsert(sys, "apartments", []string{"id", "building_id", "floor", "number", "name", "family_member_limit"}, apts); err != nil {
			t.Fatal(err)
		}
		if err := st.BulkInsert(sys, "end_users", []string{"id", "installer_id", "project_id", "apartment_id", "role", "name", "sip", "email",
			"mobile", "phone", "address", "active", "premium", "created_at"}, rows); err != nil {
			t.Fatal(err)
		}
		// want: the ids of the bulk users whose name starts a word with
		// text, newest first, from offset on, and the capped count.
		want := func(text string, offset, limit int) ([]int64, int) {
			var ids []int64
			for i := len(users) - 1; i >= 0; i-- {
				if strings.Contains(" "+strings.ToLower(users[i].name), " "+text) {
					ids = append(ids, users[i].id)
				}
			}
			return ids[min(offset, len(ids)):min(offset+limit, len(ids))], min(len(ids), store.EndUserCountCap+1)
		}
		for _, actor := range []struct {
			name string
			ctx  context.Context
		}{{"admin", as(et.admin)}, {"distributor", as(et.distA)}, {"sub-distributor", as(et.subA1)}, {"installer", as(a1.installer)}} {
			for _, c := range []struct {
				st, q, at string
				page, per int
				text      string // as want matches it
			}{
				{"name", "same", "", 1, 50, "same"},
				{"name", "SAM", "", 1, 50, "sam"},
				{"name", "sam", "family_master", 3, 7, "sam"},
				{"name", "sampson", "", 2, 20, "sampson"}, // not dense
				{"name", "same", "", 30, 50, "same"},      // deeper than the words ranges are read
				{"family_master", "same", "", 1, 50, "same"},
				{"family_master", "sa", "family_master", 2, 25, "sa"},
			} {
				f := model.EndUserFilter{Kind: model.KindCommunity, SearchType: c.st, Q: c.q, AccountType: c.at,
					Page: model.Page{Page: c.page, PerPage: c.per}}
				l := listAll(t, st, actor.ctx, f)
				var got []int64
				for _, r := range l.Items {
					got = append(got, r.ID)
				}
				if w, total := want(c.text, (c.page-1)*c.per, c.per); l.Total != total || !slices.Equal(got, w) {
					t.Errorf("%s, %s %q %s page %d: total %d, ids %v, want %d, %v", actor.name, c.st, c.q, c.at, c.page, l.Total, got, total, w)
				}
			}
			l := listAll(t, st, actor.ctx, model.EndUserFilter{Kind: model.KindCommunity, SearchType: "name", Q: "same",
				AccountType: "family_member", Page: model.Page{Page: 1, PerPage: 50}})
			if l.Total != 0 || len(l.Items) != 0 {
				t.Errorf("%s: family members named same: total %d", actor.name, l.Total)
			}
		}
	})
}
