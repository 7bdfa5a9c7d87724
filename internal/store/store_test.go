package store_test

import (
	"context"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/model"
	"github.com/gatehouse-dev/gatehouse/internal/store"
	"github.com/gatehouse-dev/gatehouse/internal/testutil"
)

// eachBackend runs a test against SQLite and PostgreSQL.
func eachBackend(t *testing.T, fn func(t *testing.T, st *store.Store)) {
	for _, b := range testutil.Backends(t) {
		t.Run(b, func(t *testing.T) {
			t.Parallel()
			fn(t, testutil.NewStore(t, b))
		})
	}
}

var sys = model.WithActor(context.Background(), model.System)

func as(a *model.Account) context.Context {
	return model.WithActor(context.Background(), model.ActorOf(a))
}

// branch is everything one installer owns.
type branch struct {
	installer *model.Account
	project   *model.Project // community
	office    *model.Project
	building  *model.Building
	apartment *model.Apartment
	dept      *model.Department
	user      *model.EndUser
	device    *model.Device
	camera    *model.ThirdPartyDevice
}

// tree is admin → distA → (subA1 → instA1, subA2 → instA2); distB → subB → instB.
type tree struct {
	admin, distA, subA1, subA2, distB, subB *model.Account
	a1, a2, b                               *branch
}

func mustAccount(t *testing.T, st *store.Store, role model.Role, name string, parent *model.Account) *model.Account {
	t.Helper()
	a := &model.Account{Role: role, Username: name, Email: name + "@example.com"}
	if parent != nil {
		a.ParentID = parent.ID
	}
	if err := st.CreateAccount(sys, a, "x"); err != nil {
		t.Fatalf("create %s: %v", name, err)
	}
	return a
}

// seq numbers what tests create (MACs, names); the SQLite and PostgreSQL
// halves run in parallel, so it is atomic.
var seq atomic.Int64

func nextSeq() int64 { return seq.Add(1) }

func mustBranch(t *testing.T, st *store.Store, name string, sub *model.Account) *branch {
	t.Helper()
	b := &branch{installer: mustAccount(t, st, model.RoleInstaller, name, sub)}
	ctx := as(b.installer)
	b.project = &model.Project{Kind: model.ProjectCommunity, Name: name + " Gardens", Manager: "Mgr " + name}
	b.office = &model.Project{Kind: model.ProjectOffice, Name: name + " Offices"}
	for _, p := range []*model.Project{b.project, b.office} {
		if err := st.CreateProject(ctx, p); err != nil {
			t.Fatal(err)
		}
	}
	b.building = &model.Building{ProjectID: b.project.ID, Name: "A"}
	if err := st.CreateBuilding(ctx, b.building); err != nil {
		t.Fatal(err)
	}
	b.apartment = &model.Apartment{BuildingID: b.building.ID, Floor: "1", Number: "101", FamilyMemberLimit: 4}
	if err := st.CreateApartment(ctx, b.apartment); err != nil {
		t.Fatal(err)
	}
	b.dept = &model.Department{ProjectID: b.office.ID, Name: "Sales"}
	if err := st.CreateDepartment(ctx, b.dept); err != nil {
		t.Fatal(err)
	}
	b.user = &model.EndUser{ProjectID: b.project.ID, ApartmentID: b.apartment.ID, Role: model.FamilyMaster, Name: "Resident " + name, SIP: "6001"}
	if err := st.AddEndUser(ctx, b.user); err != nil {
		t.Fatal(err)
	}
	b.device = &model.Device{MAC: fmt.Sprintf("0c1105%06x", nextSeq()), ProjectID: b.project.ID, Type: model.DoorPhone, Name: "Gate " + name}
	if err := st.CreateDevice(ctx, b.device); err != nil {
		t.Fatal(err)
	}
	b.camera = &model.ThirdPartyDevice{ProjectID: b.project.ID, Name: "Cam " + name, Username: "admin", Password: "secret"}
	if err := st.CreateThirdPartyDevice(ctx, b.camera); err != nil {
		t.Fatal(err)
	}
	return b
}

func mustTree(t *testing.T, st *store.Store) *tree {
	t.Helper()
	tr := &tree{admin: mustAccount(t, st, model.RoleAdmin, "root", nil)}
	tr.distA = mustAccount(t, st, model.RoleDistributor, "dist-a", tr.admin)
	tr.distB = mustAccount(t, st, model.RoleDistributor, "dist-b", tr.admin)
	tr.subA1 = mustAccount(t, st, model.RoleSubdistributor, "sub-a1", tr.distA)
	tr.subA2 = mustAccount(t, st, model.RoleSubdistributor, "sub-a2", tr.distA)
	tr.subB = mustAccount(t, st, model.RoleSubdistributor, "sub-b", tr.distB)
	tr.a1 = mustBranch(t, st, "inst-a1", tr.subA1)
	tr.a2 = mustBranch(t, st, "inst-a2", tr.subA2)
	tr.b = mustBranch(t, st, "inst-b", tr.subB)
	return tr
}

// ancestors of an installer's branch: who may see it.
func (tr *tree) canSee(actor *model.Account, b *branch) bool {
	switch actor.ID {
	case tr.admin.ID, b.installer.ID:
		return true
	}
	return (actor.Role == model.RoleDistributor && actor.ID == b.installer.DistributorID) ||
		(actor.Role == model.RoleSubdistributor && actor.ID == b.installer.SubdistributorID)
}

// tenancyCases are the store methods that serve a person and address an
// object by id. Each runs for every actor against every branch: it must
// succeed for the branch's ancestors and fail as "not found" (or as an
// invalid reference, which names the field and says "no such …") for
// everyone else. A store method added later must join this table or the
// exemption list in TestEveryStoreMethodIsCovered.
type tenancyCase struct {
	method string
	call   func(st *store.Store, ctx context.Context, b *branch) error
	// allowed narrows who may succeed beyond "an ancestor of the branch"
	// (role rules); nil means every ancestor may.
	allowed func(actor *model.Account) bool
}

// tenancyCases grows from other test files' init functions: each module's
// store methods join it there.
var tenancyCases = []tenancyCase{
	{method: "GetAccount", call: func(st *store.Store, ctx context.Context, b *branch) error {
		_, err := st.GetAccount(ctx, b.installer.ID)
		return err
	}},
	{method: "GetProject", call: func(st *store.Store, ctx context.Context, b *branch) error {
		_, err := st.GetProject(ctx, b.project.ID)
		return err
	}},
	{method: "GetEndUser", call: func(st *store.Store, ctx context.Context, b *branch) error {
		_, err := st.GetEndUser(ctx, b.user.ID)
		return err
	}},
	{method: "GetDevice", call: func(st *store.Store, ctx context.Context, b *branch) error {
		_, err := st.GetDevice(ctx, strings.ToLower(b.device.MAC))
		return err
	}},
	{method: "GetThirdPartyDevice", call: func(st *store.Store, ctx context.Context, b *branch) error {
		d, err := st.GetThirdPartyDevice(ctx, b.camera.ID)
		if err == nil && (d.Password != "" || d.Username != "") {
			return fmt.Errorf("credentials leaked")
		}
		return err
	}},
	{method: "CreateProject", call: func(st *store.Store, ctx context.Context, b *branch) error {
		return st.CreateProject(ctx, &model.Project{InstallerID: b.installer.ID, Kind: model.ProjectPersonal, Name: "Villa"})
	}},
	{method: "CreateBuilding", call: func(st *store.Store, ctx context.Context, b *branch) error {
		return st.CreateBuilding(ctx, &model.Building{ProjectID: b.project.ID, Name: "B"})
	}},
	{method: "CreateApartment", call: func(st *store.Store, ctx context.Context, b *branch) error {
		return st.CreateApartment(ctx, &model.Apartment{BuildingID: b.building.ID, Number: "102"})
	}},
	{method: "CreateDepartment", call: func(st *store.Store, ctx context.Context, b *branch) error {
		return st.CreateDepartment(ctx, &model.Department{ProjectID: b.office.ID, Name: "HR"})
	}},
	{method: "AddEndUser", call: func(st *store.Store, ctx context.Context, b *branch) error {
		return st.AddEndUser(ctx, &model.EndUser{ProjectID: b.project.ID, ApartmentID: b.apartment.ID, Role: model.FamilyMember, FamilyMasterID: b.user.ID, Name: "Kid"})
	}},
	{method: "CreateDevice", call: func(st *store.Store, ctx context.Context, b *branch) error {
		return st.CreateDevice(ctx, &model.Device{MAC: fmt.Sprintf("0C1105AA%04X", nextSeq()), ProjectID: b.project.ID, Type: model.IndoorMonitor})
	}},
	{method: "CreateThirdPartyDevice", call: func(st *store.Store, ctx context.Context, b *branch) error {
		return st.CreateThirdPartyDevice(ctx, &model.ThirdPartyDevice{ProjectID: b.project.ID, Name: "Cam 2"})
	}},
	{method: "SetPassword", call: func(st *store.Store, ctx context.Context, b *branch) error {
		return st.SetPassword(ctx, b.installer.ID, "new-hash")
	}},
	{method: "CreateAccount", call: func(st *store.Store, ctx context.Context, b *branch) error {
		// A sub-distributor's child: refused by role for everyone below the
		// distributor, by tenancy for foreign distributors.
		parent, _ := st.GetAccount(sys, b.installer.SubdistributorID)
		err := st.CreateAccount(ctx, &model.Account{Role: model.RoleInstaller, Username: fmt.Sprintf("new-%d", nextSeq()), ParentID: parent.ID}, "x")
		if model.ErrorCode(err) == model.EFORBIDDEN {
			return model.NotFound("forbidden by role") // role refusals are checked in TestAccountRoles
		}
		return err
	}, allowed: func(a *model.Account) bool { return a.Role != model.RoleInstaller }},
	{method: "SetSubdistributorSwitches", call: func(st *store.Store, ctx context.Context, b *branch) error {
		err := st.SetSubdistributorSwitches(ctx, b.installer.SubdistributorID, new(true), new(false))
		if model.ErrorCode(err) == model.EFORBIDDEN {
			return model.NotFound("forbidden by role")
		}
		return err
	}, allowed: func(a *model.Account) bool { return a.Role == model.RoleDistributor || a.Role == model.RoleAdmin }},
}

func isRefusal(err error) bool {
	switch model.ErrorCode(err) {
	case model.ENOTFOUND:
		return true
	case model.EINVALID:
		for _, m := range model.ErrorFields(err) {
			if strings.HasPrefix(m, "no such") {
				return true
			}
		}
	}
	return false
}

func TestTenancy(t *testing.T) {
	eachBackend(t, func(t *testing.T, st *store.Store) {
		tr := mustTree(t, st)
		actors := []*model.Account{tr.admin, tr.distA, tr.subA1, tr.subA2, tr.a1.installer, tr.a2.installer, tr.distB, tr.subB, tr.b.installer}
		for _, c := range tenancyCases {
			for _, actor := range actors {
				for _, b := range []*branch{tr.a1, tr.a2, tr.b} {
					// As a request would: authenticated now (an earlier case
					// may have set the actor's password).
					cur, err := st.GetAccount(sys, actor.ID)
					if err != nil {
						t.Fatal(err)
					}
					err = c.call(st, as(cur), b)
					want := tr.canSee(actor, b) && (c.allowed == nil || c.allowed(actor))
					if want && err != nil {
						t.Errorf("%s by %s on %s: want success, got %v", c.method, actor.Username, b.installer.Username, err)
					}
					if !want && !isRefusal(err) {
						t.Errorf("%s by %s on %s: want not found, got %v", c.method, actor.Username, b.installer.Username, err)
					}
				}
			}
		}
	})
}

// TestTenancyLists checks the list methods: each actor sees its subtree only.
func TestTenancyLists(t *testing.T) {
	eachBackend(t, func(t *testing.T, st *store.Store) {
		tr := mustTree(t, st)
		for _, actor := range []*model.Account{tr.admin, tr.distA, tr.subA1, tr.a1.installer, tr.distB} {
			l, err := st.ListAccounts(as(actor), model.AccountFilter{Page: model.Page{Page: 1, PerPage: 500}})
			if err != nil {
				t.Fatal(err)
			}
			for _, a := range l.Items {
				if !tr.inSubtree(st, actor, a) {
					t.Errorf("ListAccounts by %s shows %s", actor.Username, a.Username)
				}
			}
			if l.Total != len(l.Items) || l.Total == 0 {
				t.Errorf("ListAccounts by %s: total %d, items %d", actor.Username, l.Total, len(l.Items))
			}
			audit, err := st.ListAudit(as(actor), model.AuditFilter{Page: model.Page{Page: 1, PerPage: 500}})
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range audit.Items {
				if e.AccountID == 0 {
					// Command-line work: the admin's to read.
					if actor.Role != model.RoleAdmin {
						t.Errorf("ListAudit by %s shows system entry %s", actor.Username, e.Action)
					}
					continue
				}
				owner, err := st.GetAccount(sys, e.AccountID)
				if err != nil {
					t.Fatalf("ListAudit by %s shows an entry of no account: %+v", actor.Username, e)
				}
				if !tr.inSubtree(st, actor, owner) {
					t.Errorf("ListAudit by %s shows %s's entry %s", actor.Username, owner.Username, e.Action)
				}
			}
		}
		// The installer's own creations are in its audit log; another
		// installer's are not.
		l, _ := st.ListAudit(as(tr.a1.installer), model.AuditFilter{ObjectType: "device", Page: model.Page{Page: 1, PerPage: 50}})
		if l.Total != 1 || l.Items[0].ObjectID != tr.a1.device.MAC {
			t.Errorf("installer a1 device audit: %+v", l.Items)
		}
		// ... and its ancestors read it too.
		l, _ = st.ListAudit(as(tr.distA), model.AuditFilter{ObjectType: "device", Page: model.Page{Page: 1, PerPage: 50}})
		if l.Total != 2 {
			t.Errorf("distributor A sees %d device entries, want 2 (its two installers')", l.Total)
		}
	})
}

func (tr *tree) inSubtree(st *store.Store, actor, a *model.Account) bool {
	switch actor.Role {
	case model.RoleAdmin:
		return true
	case model.RoleDistributor:
		return a.DistributorID == actor.ID
	case model.RoleSubdistributor:
		return a.SubdistributorID == actor.ID
	}
	return a.ID == actor.ID
}

// TestAPITokensAreOwn: tokens are created, listed and revoked only by their
// own account.
func TestAPITokensAreOwn(t *testing.T) {
	eachBackend(t, func(t *testing.T, st *store.Store) {
		tr := mustTree(t, st)
		tok := &model.APIToken{Name: "ci"}
		if err := st.CreateAPIToken(as(tr.subA1), tok, "hash-1"); err != nil {
			t.Fatal(err)
		}
		if ts, _ := st.ListAPITokens(as(tr.distA)); len(ts) != 0 {
			t.Errorf("distributor lists its sub-distributor's tokens: %v", ts)
		}
		if err := st.DeleteAPIToken(as(tr.distA), tok.ID); model.ErrorCode(err) != model.ENOTFOUND {
			t.Errorf("distributor deletes a sub-distributor's token: %v", err)
		}
		if ts, _ := st.ListAPITokens(as(tr.subA1)); len(ts) != 1 || ts[0].Name != "ci" {
			t.Errorf("own tokens: %v", ts)
		}
		if err := st.DeleteAPIToken(as(tr.subA1), tok.ID); err != nil {
			t.Errorf("delete own token: %v", err)
		}
	})
}

// coveredElsewhere names store methods whose tenancy another test proves
// (method → test); other test files add to it in init.
var coveredElsewhere = map[string]string{}

// TestEveryStoreMethodIsCovered fails when a store method is added without
// joining the tenancy tests (or being named here as outside tenancy).
func TestEveryStoreMethodIsCovered(t *testing.T) {
	covered := map[string]string{}
	for k, v := range coveredElsewhere {
		covered[k] = v
	}
	for k, v := range map[string]string{
		"ListAccounts": "TestTenancyLists", "ListAudit": "TestTenancyLists",
		"CreateAPIToken": "TestAPITokensAreOwn", "ListAPITokens": "TestAPITokensAreOwn", "DeleteAPIToken": "TestAPITokensAreOwn",
		"CreateFirmware": "TestFirmware", "GetFirmware": "TestFirmware", "ListFirmware": "TestFirmware",
		// Outside tenancy: authentication before an actor exists, plumbing,
		// and the system-only demo loader.
		"AccountForLogin": "auth", "SessionByHash": "auth", "CreateSession": "auth", "TouchSession": "auth", "DeleteSession": "auth",
		"DeleteStaleSessions": "auth", "RecordLoginFailure": "auth", "LoginFailures": "auth", "ClearLoginFailures": "auth", "PruneLoginFailures": "auth",
		"AccountByAPIToken": "auth", "DeleteLoginFailure": "auth", "Audit": "records for the actor itself",
		"EndSessions": "auth (the caller's own sessions; the entry is the actor's)",
		"BulkInsert":  "system only", "MaxID": "system only", "Analyze": "system only", "CountAccounts": "system only",
		"Close": "", "DB": "", "Dialect": "", "Migrate": "", "Now": "", "Ping": "", "SetClock": "", "SetSecretKey": "", "EncryptSecret": "system only",
	} {
		covered[k] = v
	}
	for _, c := range tenancyCases {
		covered[c.method] = "TestTenancy"
	}
	typ := reflect.TypeOf(&store.Store{})
	var missing []string
	for i := 0; i < typ.NumMethod(); i++ {
		if _, ok := covered[typ.Method(i).Name]; !ok {
			missing = append(missing, typ.Method(i).Name)
		}
	}
	slices.Sort(missing)
	if len(missing) > 0 {
		t.Errorf("store methods without a tenancy test: %v", missing)
	}
}

func TestAccountRoles(t *testing.T) {
	eachBackend(t, func(t *testing.T, st *store.Store) {
		tr := mustTree(t, st)
		// The ancestor columns are filled at every level.
		inst, _ := st.GetAccount(sys, tr.a1.installer.ID)
		if inst.DistributorID != tr.distA.ID || inst.SubdistributorID != tr.subA1.ID || inst.ParentID != tr.subA1.ID {
			t.Errorf("installer ancestors: %+v", inst)
		}
		if tr.subA1.SubdistributorID != tr.subA1.ID || tr.subA1.DistributorID != tr.distA.ID {
			t.Errorf("sub-distributor ancestors: %+v", tr.subA1)
		}
		cases := []struct {
			actor  *model.Account
			role   model.Role
			parent *model.Account
			code   string
		}{
			{tr.subA1, model.RoleSubdistributor, tr.distA, model.ENOTFOUND}, // its distributor is outside a sub-distributor's subtree
			{tr.subA1, model.RoleSubdistributor, tr.subA1, model.EINVALID},  // nor can it hold sub-distributors
			{tr.subA1, model.RoleDistributor, tr.admin, model.ENOTFOUND},
			{tr.distA, model.RoleDistributor, tr.admin, model.ENOTFOUND},     // the admin is outside the distributor's subtree
			{tr.distA, model.RoleInstaller, tr.distA, ""},                    // a distributor may hold installers directly
			{tr.subA1, model.RoleInstaller, tr.subA1, ""},                    // the guide's case
			{tr.a1.installer, model.RoleInstaller, tr.subA1, model.EINVALID}, // not in the installer's subtree
			{tr.distA, model.RoleSubdistributor, tr.subA1, model.EINVALID},   // wrong parent role
			{tr.admin, model.RoleAdmin, nil, model.EFORBIDDEN},               // only the command line makes admins
		}
		for i, c := range cases {
			a := &model.Account{Role: c.role, Username: fmt.Sprintf("role-case-%d", i)}
			if c.parent != nil {
				a.ParentID = c.parent.ID
			}
			err := st.CreateAccount(as(c.actor), a, "x")
			got := model.ErrorCode(err)
			if c.code == model.ENOTFOUND && got == model.EINVALID {
				got = model.ENOTFOUND // a foreign parent is "no such account"
			}
			if got != c.code {
				t.Errorf("case %d: %s creates %s under %v: got %v, want %q", i, c.actor.Username, c.role, c.parent, err, c.code)
			}
		}
		// Names are unique whatever their case, and a clash changes nothing.
		err := st.CreateAccount(as(tr.distA), &model.Account{Role: model.RoleSubdistributor, Username: "SUB-A1", ParentID: tr.distA.ID}, "x")
		if model.ErrorCode(err) != model.ECONFLICT || model.ErrorFields(err)["username"] == "" {
			t.Errorf("duplicate user name: %v", err)
		}
		// Bad input names its field.
		err = st.CreateAccount(as(tr.subA1), &model.Account{Role: model.RoleInstaller, Username: "ok-name", ParentID: tr.subA1.ID,
			TimeZone: "Mars/Olympus", Email: "not-an-email", Language: "xx"}, "x")
		f := model.ErrorFields(err)
		if f["time_zone"] == "" || f["email"] == "" || f["language"] == "" {
			t.Errorf("invalid installer: %v %v", err, f)
		}
	})
}

func TestFirmware(t *testing.T) {
	eachBackend(t, func(t *testing.T, st *store.Store) {
		tr := mustTree(t, st)
		sum := strings.Repeat("ab", 32)
		fw := &model.Firmware{Version: "29.30.1.17", Model: "R29", ChangeLog: "Fixes", FileURL: "https://fw.example/r29.rom", Checksum: sum}
		if err := st.CreateFirmware(as(tr.subA1), fw); model.ErrorCode(err) != model.EFORBIDDEN {
			t.Errorf("sub-distributor adds firmware: %v", err)
		}
		if err := st.CreateFirmware(as(tr.admin), fw); err != nil {
			t.Fatal(err)
		}
		dup := *fw
		if err := st.CreateFirmware(as(tr.admin), &dup); model.ErrorCode(err) != model.ECONFLICT {
			t.Errorf("duplicate firmware: %v", err)
		}
		bad := &model.Firmware{Version: "", Model: "R29", FileURL: "ftp://x", Checksum: "123"}
		err := st.CreateFirmware(as(tr.admin), bad)
		if f := model.ErrorFields(err); f["version"] == "" || f["file_url"] == "" || f["checksum"] == "" {
			t.Errorf("bad firmware: %v", err)
		}
		for _, v := range []string{"1.0.0", "1.0.1", "2.0_beta"} {
			if err := st.CreateFirmware(as(tr.admin), &model.Firmware{Version: v, Model: "E16", FileURL: "https://fw.example/e16", Checksum: sum}); err != nil {
				t.Fatal(err)
			}
		}
		// Every account reads the catalogue; search is case-insensitive
		// "contains", and LIKE wildcards in the query are literal.
		for _, actor := range []*model.Account{tr.a1.installer, tr.subB} {
			ctx := as(actor)
			got, err := st.GetFirmware(ctx, fw.ID)
			if err != nil || got.Version != fw.Version {
				t.Errorf("GetFirmware by %s: %v %v", actor.Username, got, err)
			}
			l, err := st.ListFirmware(ctx, model.FirmwareFilter{Model: "e1", Page: model.Page{Page: 1, PerPage: 2}})
			if err != nil || l.Total != 3 || len(l.Items) != 2 || l.Items[0].Version != "2.0_beta" {
				t.Errorf("ListFirmware model=e1: %+v %v", l, err)
			}
			l, _ = st.ListFirmware(ctx, model.FirmwareFilter{Version: "_", Page: model.Page{Page: 1, PerPage: 50}})
			if l.Total != 1 {
				t.Errorf("version=_ must match the literal underscore only, got %d", l.Total)
			}
			l, _ = st.ListFirmware(ctx, model.FirmwareFilter{Version: "%", Page: model.Page{Page: 1, PerPage: 50}})
			if l.Total != 0 {
				t.Errorf("version=%% must match a literal percent sign only, got %d", l.Total)
			}
			l, _ = st.ListFirmware(ctx, model.FirmwareFilter{Version: "1.0", Model: "E16", Page: model.Page{Page: 2, PerPage: 1}})
			if l.Total != 2 || len(l.Items) != 1 || l.Items[0].Version != "1.0.0" {
				t.Errorf("page 2: %+v", l)
			}
		}
		if _, err := st.GetFirmware(as(tr.a1.installer), 9999); model.ErrorCode(err) != model.ENOTFOUND {
			t.Errorf("missing firmware: %v", err)
		}
	})
}

func TestSessionsAndThrottle(t *testing.T) {
	eachBackend(t, func(t *testing.T, st *store.Store) {
		tr := mustTree(t, st)
		ctx := context.Background()
		now := time.Now().UTC().Truncate(time.Second)
		se := &model.Session{TokenHash: "h1", AccountID: tr.subA1.ID, CSRFToken: "c", Created: now, LastSeen: now, Expires: now.Add(time.Hour)}
		if err := st.CreateSession(ctx, se); err != nil {
			t.Fatal(err)
		}
		got, acc, err := st.SessionByHash(ctx, "h1")
		if err != nil || acc.Username != "sub-a1" || !got.Expires.Equal(se.Expires) {
			t.Fatalf("SessionByHash: %+v %+v %v", got, acc, err)
		}
		if n, err := st.DeleteStaleSessions(ctx, now.Add(2*time.Hour), now.Add(-time.Hour)); err != nil || n != 1 {
			t.Errorf("stale sessions: %d %v", n, err)
		}
		for i := 0; i < 3; i++ {
			st.RecordLoginFailure(ctx, "Sub-A1", "10.0.0.1", now.Add(time.Duration(i)*time.Minute))
		}
		st.RecordLoginFailure(ctx, "other", "10.0.0.1", now.Add(-time.Minute))
		st.RecordLoginFailure(ctx, "other", "10.0.0.1", now.Add(-time.Hour))
		st.RecordLoginFailure(ctx, "sub-a1", "10.0.0.2", now)
		c, err := st.LoginFailures(ctx, "sub-a1", "10.0.0.1", now.Add(-15*time.Minute))
		if err != nil || c.Pair != 3 || c.Addr != 4 || !c.PairOldest.Equal(now) || !c.AddrOldest.Equal(now.Add(-time.Minute)) {
			t.Errorf("LoginFailures: %+v %v", c, err)
		}
		// A good login clears its pair only; pruning drops what is old.
		if err := st.ClearLoginFailures(ctx, "SUB-A1", "10.0.0.1"); err != nil {
			t.Fatal(err)
		}
		if err := st.PruneLoginFailures(ctx, now.Add(-15*time.Minute)); err != nil {
			t.Fatal(err)
		}
		var n int
		if err := st.DB().QueryRow(`SELECT count(*) FROM login_failures`).Scan(&n); err != nil || n != 2 {
			t.Errorf("after clearing a pair and pruning: %d rows %v", n, err)
		}
	})
}

func TestDeviceMACAndValidation(t *testing.T) {
	eachBackend(t, func(t *testing.T, st *store.Store) {
		tr := mustTree(t, st)
		ctx := as(tr.a1.installer)
		// The same MAC in another notation is the same device.
		err := st.CreateDevice(ctx, &model.Device{MAC: strings.ToLower(tr.a1.device.MAC), ProjectID: tr.a1.project.ID, Type: model.DoorPhone})
		if model.ErrorCode(err) != model.ECONFLICT {
			t.Errorf("duplicate MAC: %v", err)
		}
		err = st.CreateDevice(ctx, &model.Device{MAC: "0C:11:05:ZZ", ProjectID: tr.a1.project.ID, Type: "toaster"})
		if f := model.ErrorFields(err); f["mac"] == "" || f["type"] == "" {
			t.Errorf("bad device: %v", err)
		}
		d, err := st.GetDevice(ctx, dashed(strings.ToLower(tr.a1.device.MAC)))
		if err != nil || d.MAC != tr.a1.device.MAC {
			t.Errorf("GetDevice by dashed MAC: %v %v", d, err)
		}
		err = st.CreateApartment(ctx, &model.Apartment{BuildingID: tr.a1.building.ID, Number: "9", FamilyMemberLimit: 64})
		if model.ErrorFields(err)["family_member_limit"] == "" {
			t.Errorf("family member limit 64: %v", err)
		}
		// A family master must be of the same project.
		err = st.AddEndUser(ctx, &model.EndUser{ProjectID: tr.a1.office.ID, Role: model.FamilyMember, FamilyMasterID: tr.a1.user.ID, Name: "X"})
		if model.ErrorFields(err)["family_master_id"] == "" {
			t.Errorf("family master of another project: %v", err)
		}
	})
}

func TestNoActorFailsClosed(t *testing.T) {
	eachBackend(t, func(t *testing.T, st *store.Store) {
		if _, err := st.GetAccount(context.Background(), 1); err == nil {
			t.Error("a query without an actor must fail")
		}
		if _, err := st.ListFirmware(context.Background(), model.FirmwareFilter{Page: model.Page{Page: 1, PerPage: 1}}); err == nil {
			t.Error("a list without an actor must fail")
		}
	})
}

// dashed writes a MAC as 0c-11-05-aa-bb-cc.
func dashed(mac string) string {
	var parts []string
	for i := 0; i < len(mac); i += 2 {
		parts = append(parts, mac[i:i+2])
	}
	return strings.Join(parts, "-")
}
