package store_test

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/model"
	"github.com/gatehouse-dev/gatehouse/internal/store"
	"github.com/gatehouse-dev/gatehouse/internal/testutil"
)

// TestDeletedInstallerIDIsNotReused is the user's report (issue 12, point 2):
// create an installer, log in as it, delete it, create another. On SQLite
// the new one got the deleted one's id, and its page's Recent changes (the
// audit entries of "account" <id>) listed the deleted installer's logins and
// deletion; the new installer's own audit log showed them too.
func TestDeletedInstallerIDIsNotReused(t *testing.T) {
	eachBackend(t, func(t *testing.T, st *store.Store) {
		tr := mustTree(t, st)
		sub := as(tr.subA1)
		old := &model.Account{Username: "fitter-old", ParentID: tr.subA1.ID, Email: "old@example.com"}
		if err := st.CreateInstaller(sub, old); err != nil {
			t.Fatal(err)
		}
		if err := st.Audit(as(old), "auth.login", "account", old.ID, nil); err != nil {
			t.Fatal(err)
		}
		if _, err := st.DeleteInstaller(sub, old.ID, true); err != nil {
			t.Fatal(err)
		}
		fresh := &model.Account{Username: "fitter-new", ParentID: tr.subA1.ID, Email: "new@example.com"}
		if err := st.CreateInstaller(sub, fresh); err != nil {
			t.Fatal(err)
		}
		if fresh.ID <= old.ID {
			t.Fatalf("the new installer has id %d, the deleted one had %d: ids must only grow", fresh.ID, old.ID)
		}
		// Its page's Recent changes, read by its sub-distributor, and the
		// installer's own audit log: nothing of the deleted installer.
		page, err := st.ListAudit(sub, model.AuditFilter{ObjectType: "account", ObjectID: fmt.Sprint(fresh.ID), Page: model.Page{Page: 1, PerPage: 50}})
		if err != nil {
			t.Fatal(err)
		}
		own, err := st.ListAudit(as(fresh), model.AuditFilter{Page: model.Page{Page: 1, PerPage: 50}})
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range append(page.Items, own.Items...) {
			if e.Action == "auth.login" || e.Action == "installer.delete" || e.Actor == "fitter-old" || strings.Contains(fmt.Sprint(e.Details), "fitter-old") {
				t.Errorf("the new installer's history shows the deleted one's: %s by %s %v", e.Action, e.Actor, e.Details)
			}
		}
		if len(page.Items) == 0 || page.Items[len(page.Items)-1].Action != "account.create" {
			t.Errorf("Recent changes of the new installer: %+v", page.Items)
		}
	})
}

// TestIDsAreNeverReused: whatever is deleted, the next object of its kind
// gets a new id, on both engines; SQLite used to hand out max(id)+1 again
// once the newest row was gone. Things keyed by those ids (a device's
// commands, which the device deduplicates by id; URLs; audit entries) then
// reached the new object.
func TestIDsAreNeverReused(t *testing.T) {
	eachBackend(t, func(t *testing.T, st *store.Store) {
		tr := mustTree(t, st)
		inst := tr.b.installer // created last: its rows are the newest of every table
		ctx := as(inst)
		sub := as(tr.subB)
		twice := func(name string, create func() (int64, error), del func(id int64) error) {
			t.Helper()
			first, err := create()
			if err != nil {
				t.Fatalf("%s: create: %v", name, err)
			}
			if err := del(first); err != nil {
				t.Fatalf("%s: delete: %v", name, err)
			}
			second, err := create()
			if err != nil {
				t.Fatalf("%s: create again: %v", name, err)
			}
			if second <= first {
				t.Errorf("%s: id %d handed out again (after %d was deleted): ids must only grow", name, second, first)
			}
		}
		twice("project", func() (int64, error) {
			p := &model.Project{Kind: model.ProjectCommunity, Name: fmt.Sprintf("Tmp %d", nextSeq())}
			err := st.CreateProject(ctx, p)
			return p.ID, err
		}, func(id int64) error { _, err := st.DeleteProject(ctx, id); return err })
		twice("building", func() (int64, error) {
			b := &model.Building{ProjectID: tr.b.project.ID, Name: fmt.Sprintf("B%d", nextSeq())}
			err := st.CreateBuilding(ctx, b)
			return b.ID, err
		}, func(id int64) error { return st.DeleteBuilding(ctx, id) })
		twice("apartment", func() (int64, error) {
			a := &model.Apartment{BuildingID: tr.b.building.ID, Number: fmt.Sprint(200 + nextSeq())}
			err := st.CreateApartment(ctx, a)
			return a.ID, err
		}, func(id int64) error { return st.DeleteApartment(ctx, id) })
		twice("department", func() (int64, error) {
			d := &model.Department{ProjectID: tr.b.office.ID, Name: fmt.Sprintf("D%d", nextSeq())}
			err := st.CreateDepartment(ctx, d)
			return d.ID, err
		}, func(id int64) error { return st.DeleteDepartment(ctx, id) })
		twice("end user", func() (int64, error) {
			u := &model.EndUser{ProjectID: tr.b.office.ID, DepartmentID: tr.b.dept.ID, Role: model.OfficeStaff, Name: fmt.Sprintf("Staff %d", nextSeq())}
			err := st.AddEndUser(ctx, u)
			return u.ID, err
		}, func(id int64) error { _, err := st.DeleteEndUser(ctx, id); return err })
		twice("camera", func() (int64, error) {
			c := &model.ThirdPartyDevice{ProjectID: tr.b.project.ID, Name: fmt.Sprintf("Cam %d", nextSeq())}
			err := st.CreateThirdPartyDevice(ctx, c)
			return c.ID, err
		}, func(id int64) error { return st.DeleteThirdPartyDevice(ctx, id) })
		twice("API token", func() (int64, error) {
			tok := &model.APIToken{Name: "ci"}
			err := st.CreateAPIToken(ctx, tok, fmt.Sprintf("hash-%d", nextSeq()))
			return tok.ID, err
		}, func(id int64) error { return st.DeleteAPIToken(ctx, id) })

		// A device, deleted, and another MAC added: a new device id, and a
		// new command id (the old device's commands went with it).
		var macs []string
		var cmds []int64
		twice("device", func() (int64, error) {
			d := &model.Device{MAC: fmt.Sprintf("0c1106%06x", nextSeq()), ProjectID: tr.b.project.ID, Type: model.DoorPhone}
			if err := st.CreateDevice(ctx, d); err != nil {
				return 0, err
			}
			c, err := st.CreateCommand(sub, d.MAC, model.CommandReboot, "")
			if err != nil {
				return 0, err
			}
			macs, cmds = append(macs, d.MAC), append(cmds, c.ID)
			return d.ID, nil
		}, func(int64) error { return st.DeleteDevice(sub, macs[len(macs)-1]) })
		if len(cmds) == 2 && cmds[1] <= cmds[0] {
			t.Errorf("device command id %d handed out again (after %d went with its device)", cmds[1], cmds[0])
		}
		// The demo loader writes rows with their own ids from MaxID on: above
		// the deleted ones too, and the counter stays past them.
		gone := &model.Project{Kind: model.ProjectOffice, Name: "Gone"}
		if err := st.CreateProject(ctx, gone); err != nil {
			t.Fatal(err)
		}
		if _, err := st.DeleteProject(ctx, gone.ID); err != nil {
			t.Fatal(err)
		}
		high, err := st.MaxID(sys, "projects")
		if err != nil || high < gone.ID {
			t.Fatalf("MaxID(projects) = %d, %v after project %d was deleted", high, err, gone.ID)
		}
		if err := st.BulkInsert(sys, "projects", []string{"id", "installer_id", "kind", "name", "created_at"},
			[][]any{{high + 1, inst.ID, "office", "Bulk", st.Now()}}); err != nil {
			t.Fatal(err)
		}
		next := &model.Project{Kind: model.ProjectOffice, Name: "After bulk"}
		if err := st.CreateProject(ctx, next); err != nil || next.ID <= high+1 {
			t.Errorf("project after a bulk load: id %d, %v (bulk row %d)", next.ID, err, high+1)
		}

		if l, err := st.ListAudit(sub, model.AuditFilter{ObjectType: "device", ObjectID: macs[1], Page: model.Page{Page: 1, PerPage: 50}}); err != nil {
			t.Fatal(err)
		} else {
			for _, e := range l.Items {
				if e.Action == "device.delete" {
					t.Errorf("the new device's history shows a deletion: %+v", e)
				}
			}
		}
	})
}

// TestSchemaIDsAreNeverReused checks the whole schema, so that a table added
// later cannot bring id reuse back: on SQLite every integer id is
// AUTOINCREMENT, on PostgreSQL an identity.
func TestSchemaIDsAreNeverReused(t *testing.T) {
	eachBackend(t, func(t *testing.T, st *store.Store) {
		q := `SELECT s.name FROM sqlite_schema s JOIN pragma_table_list l ON l.schema = 'main' AND l.name = s.name AND l.type = 'table'
			WHERE s.type = 'table' AND s.name NOT LIKE 'sqlite%' AND s.name <> 'goose_db_version'
			AND EXISTS (SELECT 1 FROM pragma_table_info(s.name) c WHERE c.pk = 1 AND c.name = 'id')
			AND s.sql NOT LIKE '%AUTOINCREMENT%' ORDER BY 1`
		if st.Dialect() == store.Postgres {
			q = `SELECT table_name FROM information_schema.columns WHERE table_schema = current_schema() AND column_name = 'id'
				AND is_identity <> 'YES' AND table_name <> 'goose_db_version' ORDER BY 1`
		}
		rows, err := st.DB().Query(q)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		for rows.Next() {
			var name string
			rows.Scan(&name)
			t.Errorf("table %s may hand out an id twice: declare `id INTEGER PRIMARY KEY AUTOINCREMENT` (SQLite) or an identity (PostgreSQL)", name)
		}
	})
}

// TestIDsMigrationKeepsData: a database filled at version 16 (the schema
// before ids stopped being reused) keeps every row, index, trigger and
// search index through the migration, and goes on with ids above the old
// ones, including ids deleted before it that the audit log remembers. The
// rows are written in SQL, as version 16 knew them.
func TestIDsMigrationKeepsData(t *testing.T) {
	for _, backend := range testutil.Backends(t) {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			dsn := filepath.Join(t.TempDir(), "gatehouse.db")
			if backend == "postgres" {
				dsn = testutil.PostgresDSN(t)
			}
			old, err := store.OpenAt(ctx, dsn, 16)
			if err != nil {
				t.Fatal(err)
			}
			db := old.DB()
			ins := func(q string) int64 {
				t.Helper()
				var id int64
				if err := db.QueryRow(q + ` RETURNING id`).Scan(&id); err != nil {
					t.Fatalf("%s: %v", q, err)
				}
				return id
			}
			exec := func(q string) {
				t.Helper()
				if _, err := db.Exec(q); err != nil {
					t.Fatalf("%s: %v", q, err)
				}
			}
			const at = `'2026-01-01 08:00:00+00:00'`
			acc := func(role, name string, parent, dist, sub int64) int64 {
				return ins(fmt.Sprintf(`INSERT INTO accounts (role, username, email, parent_id, distributor_id, subdistributor_id, created_at, updated_at)
					VALUES ('%s', '%s', '%s@example.com', %s, %s, %s, %s, %s)`, role, name, name, sqlID(parent), sqlID(dist), sqlID(sub), at, at))
			}
			admin := acc("admin", "m-admin", 0, 0, 0)
			dist := acc("distributor", "m-dist", admin, 0, 0)
			sub := acc("subdistributor", "m-sub", dist, dist, 0)
			// An account is its own distributor / sub-distributor at that level.
			exec(`UPDATE accounts SET distributor_id = id WHERE role = 'distributor'`)
			exec(`UPDATE accounts SET subdistributor_id = id WHERE role = 'subdistributor'`)
			inst := acc("installer", "m-inst", sub, dist, sub)
			gone := acc("installer", "m-gone", sub, dist, sub)
			proj := ins(fmt.Sprintf(`INSERT INTO projects (installer_id, kind, name, created_at) VALUES (%d, 'community', 'Elm Court', %s)`, inst, at))
			office := ins(fmt.Sprintf(`INSERT INTO projects (installer_id, kind, name, created_at) VALUES (%d, 'office', 'Elm Offices', %s)`, inst, at))
			bld := ins(fmt.Sprintf(`INSERT INTO buildings (project_id, name) VALUES (%d, 'A')`, proj))
			apt := ins(fmt.Sprintf(`INSERT INTO apartments (building_id, number, family_member_limit) VALUES (%d, '101', 4)`, bld))
			ins(fmt.Sprintf(`INSERT INTO departments (project_id, name) VALUES (%d, 'Sales')`, office))
			master := ins(fmt.Sprintf(`INSERT INTO end_users (installer_id, project_id, apartment_id, role, name, email, created_at)
				VALUES (%d, %d, %d, 'family_master', 'Ada Lovelace', 'ada@example.com', %s)`, inst, proj, apt, at))
			ins(fmt.Sprintf(`INSERT INTO end_users (installer_id, project_id, apartment_id, role, family_master_id, name, created_at)
				VALUES (%d, %d, %d, 'family_member', %d, 'Byron Lovelace', %s)`, inst, proj, apt, master, at))
			dev := ins(fmt.Sprintf(`INSERT INTO devices (mac, installer_id, project_id, building_id, type, name, created_at)
				VALUES ('0C1107000001', %d, %d, %d, 'door_phone', 'Main gate', %s)`, inst, proj, bld, at))
			devGone := ins(fmt.Sprintf(`INSERT INTO devices (mac, installer_id, project_id, type, name, created_at)
				VALUES ('0C1107000002', %d, %d, 'indoor_monitor', 'Hall', %s)`, inst, proj, at))
			ins(fmt.Sprintf(`INSERT INTO device_commands (device_id, kind, created_by, created_at, expires_at) VALUES (%d, 'reboot', %d, %s, %s)`, dev, sub, at, at))
			ins(fmt.Sprintf(`INSERT INTO third_party_devices (installer_id, project_id, owner_id, name, created_at) VALUES (%d, %d, %d, 'Lobby cam', %s)`, inst, proj, master, at))
			ins(fmt.Sprintf(`INSERT INTO installer_macs (installer_id, mac, created_at) VALUES (%d, '0C1107000009', %s)`, inst, at))
			exec(fmt.Sprintf(`INSERT INTO sessions (token_hash, account_id, csrf_token, created_at, last_seen_at, expires_at) VALUES ('h1', %d, 'c', %s, %s, %s)`, inst, at, at, at))
			exec(fmt.Sprintf(`INSERT INTO password_tokens (token_hash, account_id, purpose, created_at, expires_at) VALUES ('p1', %d, 'welcome', %s, %s)`, inst, at, at))
			// The deleted installer logged in; the deleted device executed a
			// command (the newest).
			cmdGone := ins(fmt.Sprintf(`INSERT INTO device_commands (device_id, kind, status, created_by, created_at, expires_at) VALUES (%d, 'reboot', 'done', %d, %s, %s)`, devGone, sub, at, at))
			audit := func(actor int64, action, typ, id, details string) {
				exec(fmt.Sprintf(`INSERT INTO audit_log (at, actor_id, actor, account_id, distributor_id, subdistributor_id, action, object_type, object_id, details)
					VALUES (%s, %d, 'x', %d, %d, %d, '%s', '%s', '%s', '%s')`, at, actor, actor, dist, sub, action, typ, id, details))
			}
			audit(gone, "auth.login", "account", fmt.Sprint(gone), `{}`)
			audit(sub, "device.reboot", "device", "0C1107000002", fmt.Sprintf(`{"command_id": %d}`, cmdGone))
			audit(sub, "device.delete", "device", "0C1107000002", `{}`)
			audit(sub, "installer.delete", "account", fmt.Sprint(gone), `{"username": "m-gone"}`)
			exec(fmt.Sprintf(`DELETE FROM devices WHERE id = %d`, devGone))
			exec(fmt.Sprintf(`DELETE FROM accounts WHERE id = %d`, gone))
			if backend == "sqlite" {
				exec(`ANALYZE`)
			}
			before := dumpDB(t, db, backend, nil)
			if err := old.Close(); err != nil {
				t.Fatal(err)
			}

			// Compared at version 20 (the versions after it bring their own
			// indexes and triggers); the app then goes on at the newest.
			st, err := store.OpenAt(ctx, dsn, 20)
			if err != nil {
				t.Fatal(err)
			}
			after := dumpDB(t, st.DB(), backend, before)
			for name, want := range before {
				if strings.HasPrefix(name, "columns of ") {
					continue
				}
				if got := after[name]; got != want {
					t.Errorf("%s changed in the migration:\nbefore %s\nafter  %s", name, want, got)
				}
			}
			if backend == "sqlite" {
				for _, q := range []string{`PRAGMA integrity_check`, `PRAGMA foreign_key_check`} {
					var out []string
					rows, err := st.DB().Query(q)
					if err != nil {
						t.Fatal(err)
					}
					for rows.Next() {
						var a, b, c, d any
						if q == `PRAGMA integrity_check` {
							rows.Scan(&a)
						} else {
							rows.Scan(&a, &b, &c, &d)
						}
						out = append(out, fmt.Sprint(a, b, c, d))
					}
					rows.Close()
					if q == `PRAGMA integrity_check` && (len(out) != 1 || !strings.HasPrefix(out[0], "ok")) || q != `PRAGMA integrity_check` && len(out) > 0 {
						t.Errorf("%s: %v", q, out)
					}
				}
				for _, fts := range []string{"end_users_search", "devices_search"} {
					if _, err := st.DB().Exec(`INSERT INTO ` + fts + `(` + fts + `, rank) VALUES ('integrity-check', 1)`); err != nil {
						t.Errorf("%s no longer matches its table: %v", fts, err)
					}
				}
			}

			if err := st.Close(); err != nil {
				t.Fatal(err)
			}
			if st, err = store.Open(ctx, dsn); err != nil {
				t.Fatal(err)
			}
			defer st.Close()

			// The app goes on: new ids above every old one, the deleted
			// installer's and command's included; triggers still fill the
			// search indexes and the list columns.
			subAcc, err := st.GetAccount(sys, sub)
			if err != nil {
				t.Fatal(err)
			}
			instAcc, err := st.GetAccount(sys, inst)
			if err != nil {
				t.Fatal(err)
			}
			fresh := &model.Account{Username: "m-fresh", ParentID: sub, Email: "fresh@example.com"}
			if err := st.CreateInstaller(as(subAcc), fresh); err != nil {
				t.Fatal(err)
			}
			if fresh.ID <= gone {
				t.Errorf("new installer id %d, the deleted installer had %d", fresh.ID, gone)
			}
			l, err := st.ListAudit(as(subAcc), model.AuditFilter{ObjectType: "account", ObjectID: fmt.Sprint(fresh.ID), Page: model.Page{Page: 1, PerPage: 20}})
			if err != nil || len(l.Items) != 1 || l.Items[0].Action != "account.create" {
				t.Errorf("Recent changes of the new installer: %v %+v", err, l.Items)
			}
			d := &model.Device{MAC: "0C1107000003", ProjectID: proj, Type: model.DoorPhone, Name: "Side gate"}
			if err := st.CreateDevice(as(instAcc), d); err != nil {
				t.Fatal(err)
			}
			if d.ID <= dev {
				t.Errorf("new device id %d, old ones up to %d", d.ID, dev)
			}
			c, err := st.CreateCommand(as(subAcc), d.MAC, model.CommandReboot, "")
			if err != nil {
				t.Fatal(err)
			}
			if c.ID <= cmdGone {
				t.Errorf("new command id %d: command %d of the deleted device was executed already", c.ID, cmdGone)
			}
			u := &model.EndUser{ProjectID: proj, ApartmentID: apt, Role: model.FamilyMember, FamilyMasterID: master, Name: "Augusta Lovelace"}
			if err := st.AddEndUser(as(instAcc), u); err != nil {
				t.Fatal(err)
			}
			if u.ID <= master+1 {
				t.Errorf("new end user id %d", u.ID)
			}
			users, err := st.ListEndUsers(as(subAcc), model.EndUserFilter{Kind: model.KindCommunity, SearchType: "name", Q: "lovelace", Page: model.Page{Page: 1, PerPage: 10}})
			if err != nil || users.Total != 3 {
				t.Errorf("search by name after the migration: %v %d users", err, users.Total)
			}
			// Version 21 gave the users written before it their list
			// columns and words: a family member is found by its master's
			// name, in its sub-distributor's list.
			users, err = st.ListEndUsers(as(subAcc), model.EndUserFilter{Kind: model.KindCommunity, SearchType: "family_master", Q: "ada lov",
				AccountType: "family_member", Page: model.Page{Page: 1, PerPage: 10}})
			if err != nil || users.Total != 2 || users.Items[1].Name != "Byron Lovelace" {
				t.Errorf("search by family master after the migration: %v %d users", err, users.Total)
			}
			var sub21 int64
			if err := st.DB().QueryRow(fmt.Sprintf(`SELECT subdistributor_id FROM end_users WHERE id = %d`, master)).Scan(&sub21); err != nil || sub21 != sub {
				t.Errorf("old end user's list columns: %v %d", err, sub21)
			}
			var kind string
			if err := st.DB().QueryRow(fmt.Sprintf(`SELECT project_kind FROM devices WHERE id = %d`, d.ID)).Scan(&kind); err != nil || kind != "community" {
				t.Errorf("new device's list columns: %v %q", err, kind)
			}
		})
	}
}

func sqlID(id int64) string {
	if id == 0 {
		return "NULL"
	}
	return fmt.Sprint(id)
}

// dumpDB renders every table (and, on SQLite, every index, trigger, planner
// statistic) as text, one entry per table. With a previous dump, a table's
// columns are the ones it had then: a later migration may add some.
func dumpDB(t *testing.T, db *sql.DB, backend string, prev map[string]string) map[string]string {
	t.Helper()
	strs := func(q string) []string {
		t.Helper()
		rows, err := db.Query(q)
		if err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		defer rows.Close()
		cols, _ := rows.Columns()
		var out []string
		for rows.Next() {
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				t.Fatal(err)
			}
			for i, v := range vals {
				if b, ok := v.([]byte); ok {
					vals[i] = string(b)
				}
				if tm, ok := v.(time.Time); ok {
					vals[i] = tm.UTC().Format(time.RFC3339Nano)
				}
			}
			out = append(out, fmt.Sprint(vals))
		}
		slices.Sort(out)
		return out
	}
	q := `SELECT s.name FROM sqlite_schema s JOIN pragma_table_list l ON l.schema = 'main' AND l.name = s.name AND l.type = 'table'
		WHERE s.type = 'table' AND s.name NOT LIKE 'sqlite%' AND s.name <> 'goose_db_version'`
	if backend == "postgres" {
		q = `SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema() AND table_name <> 'goose_db_version'`
	}
	tables := strs(q)
	out := map[string]string{}
	for _, tbl := range tables {
		tbl = strings.Trim(tbl, "[]")
		cols := "*"
		if prev != nil {
			if _, ok := prev[tbl]; !ok {
				continue // a table a later migration added
			}
			cols = prev["columns of "+tbl]
		} else {
			var names []string
			q := `SELECT name FROM pragma_table_info('` + tbl + `') ORDER BY cid`
			if backend == "postgres" {
				q = `SELECT column_name FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = '` + tbl + `' ORDER BY ordinal_position`
			}
			for _, n := range strs(q) {
				names = append(names, strings.Trim(n, "[]"))
			}
			slices.Sort(names)
			cols = strings.Join(names, ", ")
			out["columns of "+tbl] = cols
		}
		out[tbl] = strings.Join(strs(`SELECT `+cols+` FROM `+tbl), "\n")
	}
	if backend == "sqlite" {
		out["sqlite indexes and triggers"] = strings.Join(strs(`SELECT type, name, tbl_name FROM sqlite_schema WHERE type IN ('index','trigger') AND name NOT LIKE 'sqlite_autoindex%'`), "\n")
		out["sqlite_stat1"] = strings.Join(strs(`SELECT tbl, idx, stat FROM sqlite_stat1`), "\n")
		out["sqlite_stat4"] = strings.Join(strs(`SELECT tbl, idx, neq, nlt, ndlt, hex(sample) FROM sqlite_stat4`), "\n")
	}
	return out
}

// TestHistoryOfAReusedID: in a database where SQLite had handed a deleted
// installer's id out again before migration 00018, the new installer's
// audit log and its page's Recent changes (the entries from its creation on)
// do not list the earlier holder's entries. (A device's history is kept by
// MAC, its identity: a MAC added again is the same device, and its history
// goes on, as TestDeviceDetailAndDelete expects.)
func TestHistoryOfAReusedID(t *testing.T) {
	eachBackend(t, func(t *testing.T, st *store.Store) {
		tr := mustTree(t, st)
		// The earlier holder of the next account id, as a pre-00018 SQLite
		// database may hold it: its entries, its row gone.
		high, err := st.MaxID(sys, "accounts")
		if err != nil {
			t.Fatal(err)
		}
		id := high + 1
		for _, action := range []string{"account.create", "auth.login", "installer.delete"} {
			if _, err := st.DB().Exec(fmt.Sprintf(`INSERT INTO audit_log (at, actor_id, actor, account_id, subdistributor_id, distributor_id, action, object_type, object_id, details)
				VALUES ('2026-01-01 08:00:00+00:00', %d, 'earlier-holder', %d, %d, %d, '%s', 'account', '%d', '{}')`,
				id, id, tr.subB.ID, tr.distB.ID, action, id)); err != nil {
				t.Fatal(err)
			}
		}
		inst := &model.Account{Username: "later-holder", ParentID: tr.subB.ID, Email: "later@example.com"}
		if err := st.CreateInstaller(as(tr.subB), inst); err != nil {
			t.Fatal(err)
		}
		if inst.ID != id {
			t.Fatalf("the new installer got id %d, not the next one %d", inst.ID, id)
		}
		page, err := st.ListAudit(as(tr.subB), model.AuditFilter{ObjectType: "account", ObjectID: fmt.Sprint(id), FromAction: "account.create",
			Page: model.Page{Page: 1, PerPage: 50}})
		if err != nil {
			t.Fatal(err)
		}
		if len(page.Items) != 1 || page.Items[0].Actor != tr.subB.Username {
			t.Errorf("Recent changes of the new installer: %+v", page.Items)
		}
		if err := st.Audit(as(inst), "auth.login", "account", inst.ID, nil); err != nil {
			t.Fatal(err)
		}
		own, err := st.ListAudit(as(inst), model.AuditFilter{Page: model.Page{Page: 1, PerPage: 50}})
		if err != nil {
			t.Fatal(err)
		}
		if len(own.Items) != 1 || own.Items[0].Actor != "later-holder" {
			for _, e := range own.Items {
				t.Errorf("the new installer's own log: %s by %s", e.Action, e.Actor)
			}
		}
	})
}
