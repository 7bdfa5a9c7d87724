package demo_test

import (
	"context"
	"database/sql"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/demo"
	"github.com/gatehouse-dev/gatehouse/internal/model"
	"github.com/gatehouse-dev/gatehouse/internal/testutil"
)

func TestDemoDataSet(t *testing.T) {
	for _, b := range testutil.Backends(t) {
		t.Run(b, func(t *testing.T) {
			st := testutil.NewStore(t, b)
			now := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
			res, err := demo.Load(context.Background(), st, demo.Options{Password: "demo-password", Now: now}, io.Discard)
			if err != nil {
				t.Fatal(err)
			}
			if res.Accounts != 1+2+6+120 || res.EndUsers < 10_000 || res.EndUsers > 10_500 || res.Devices != 5000 || res.Firmware == 0 {
				t.Errorf("sizes: %+v", res)
			}
			acc := func(name string) *model.Account {
				a, _, err := st.AccountForLogin(context.Background(), name)
				if err != nil {
					t.Fatalf("%s: %v", name, err)
				}
				return a
			}
			dist, sub, inst := acc(demo.DistributorUser), acc(demo.SubdistributorUser), acc(demo.InstallerUser)
			if acc(demo.AdminUser).Role != model.RoleAdmin || sub.ParentID != dist.ID || inst.ParentID != sub.ID || !sub.PaymentEnabled {
				t.Errorf("demo accounts: dist %+v sub %+v inst %+v", dist, sub, inst)
			}
			db := st.DB()
			count := func(q string) int {
				var n int
				if err := db.QueryRow(q).Scan(&n); err != nil {
					t.Fatalf("%s: %v", q, err)
				}
				return n
			}
			// Every kind of thing the guide's lists show exists.
			for q, min := range map[string]int{
				"SELECT count(*) FROM projects WHERE kind = 'community'":            240,
				"SELECT count(*) FROM projects WHERE kind = 'office'":               120,
				"SELECT count(*) FROM projects WHERE kind = 'personal'":             360,
				"SELECT count(*) FROM apartments":                                   11_000,
				"SELECT count(*) FROM departments":                                  360,
				"SELECT count(*) FROM end_users WHERE role = 'family_member'":       1_000,
				"SELECT count(*) FROM end_users WHERE role = 'property_manager'":    240,
				"SELECT count(*) FROM end_users WHERE role = 'office_staff'":        2_000,
				"SELECT count(*) FROM end_users WHERE premium":                      50,
				"SELECT count(DISTINCT type) FROM devices":                          4,
				"SELECT count(*) FROM devices WHERE online":                         3_000,
				"SELECT count(*) FROM third_party_devices":                          300,
				"SELECT count(*) FROM accounts WHERE access_without_password":       30,
				"SELECT count(*) FROM end_users WHERE family_master_id IS NOT NULL": 1_000,
			} {
				if n := count(q); n < min {
					t.Errorf("%s = %d, want at least %d", q, n, min)
				}
			}
			// The simulator's model has an image the cloud keeps, ready to roll out.
			if n := count(`SELECT count(*) FROM firmware WHERE stored AND model = '` + demo.DemoImageModel + `' AND size = 262144 AND length(checksum) >= 64`); n != 1 {
				t.Errorf("%d stored demo images for %s, want 1", n, demo.DemoImageModel)
			}
			// Rows hang together: members belong to a master of their project,
			// devices to their installer's projects.
			if n := count(`SELECT count(*) FROM end_users u JOIN end_users m ON m.id = u.family_master_id
				WHERE m.project_id <> u.project_id OR m.role <> 'family_master'`); n != 0 {
				t.Errorf("%d family members with a foreign master", n)
			}
			if n := count(`SELECT count(*) FROM devices d JOIN projects p ON p.id = d.project_id WHERE p.installer_id <> d.installer_id`); n != 0 {
				t.Errorf("%d devices owned by another installer than their project's", n)
			}
			// The store can still add rows after the bulk load (ids moved on).
			p := &model.Project{Kind: model.ProjectPersonal, Name: "After demo"}
			if err := st.CreateProject(model.WithActor(context.Background(), model.ActorOf(inst)), p); err != nil {
				t.Errorf("create after demo: %v", err)
			}
			// Deterministic: the same seed gives the same rows.
			st2 := testutil.NewStore(t, b)
			if _, err := demo.Load(context.Background(), st2, demo.Options{Password: "demo-password", Now: now}, io.Discard); err != nil {
				t.Fatal(err)
			}
			for _, q := range []string{
				"SELECT name || '|' || sip || '|' || email FROM end_users WHERE id IN (1, 777, 9000) ORDER BY id",
				"SELECT mac || '|' || name || '|' || model FROM devices WHERE id IN (1, 2500, 4999) ORDER BY id",
			} {
				if a, b := rows(t, db, q), rows(t, st2.DB(), q); a != b || a == "" {
					t.Errorf("not deterministic: %q vs %q", a, b)
				}
			}
			if _, err := demo.Load(context.Background(), st, demo.Options{Password: "demo-password"}, io.Discard); model.ErrorCode(err) != model.ECONFLICT {
				t.Errorf("second load: %v", err)
			}
		})
	}
}

func rows(t *testing.T, db *sql.DB, q string) string {
	r, err := db.Query(q)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var out []string
	for r.Next() {
		var s string
		r.Scan(&s)
		out = append(out, s)
	}
	return strings.Join(out, ";")
}

// TestDemoLargerThanOneChunk loads more rows than one bulk transaction holds,
// so children are flushed while their parents are still being generated.
func TestDemoLargerThanOneChunk(t *testing.T) {
	if testing.Short() {
		t.Skip("loads 50,000 users")
	}
	st := testutil.NewStore(t, "sqlite")
	res, err := demo.Load(context.Background(), st, demo.Options{Password: "demo-password", Users: 50_000, Devices: 25_000}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	var apts int
	st.DB().QueryRow("SELECT count(*) FROM apartments").Scan(&apts)
	if res.EndUsers < 50_000 || res.Devices != 25_000 || apts < 50_000 {
		t.Errorf("sizes: %+v, %d apartments", res, apts)
	}
}
