package store_test

import (
	"bytes"
	"context"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/demo"
	"github.com/gatehouse-dev/gatehouse/internal/model"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// BenchmarkCameraLists times the Third-Party Device lists (first page of 50
// with its capped count, every filter and sort of the API) and reports the
// 95th percentile of each as p95-ms. On the demo data set of a million
// devices:
//
//	GATEHOUSE_BENCH_DEVICES=1000000 go test -run '^$' -bench CameraLists -benchtime 100x -timeout 60m ./internal/store/
//
// GATEHOUSE_BENCH_CAMERAS_DB names an existing demo database (a copy of a
// SQLite file, or a postgres:// URL) to time instead of loading one; it is
// migrated first. GATEHOUSE_BENCH_CAMERAS=N first tops the cameras up to N
// (spread over the data set's projects, 80% in single-tenant homes) with
// BulkInsert: the demo makes few cameras, and a platform may hold many.
func BenchmarkCameraLists(b *testing.B) {
	eachBenchStore(b, "GATEHOUSE_BENCH_CAMERAS_DB", func(b *testing.B, st *store.Store, backend string) {
		if n, _ := strconv.Atoi(os.Getenv("GATEHOUSE_BENCH_CAMERAS")); n > 0 {
			addBenchCameras(b, st, n)
		}
		benchVacuum(b, st, backend, "third_party_devices, projects, accounts, end_users")
		var total int
		st.DB().QueryRow(`SELECT count(*) FROM third_party_devices`).Scan(&total)
		b.Logf("%s: %d cameras", backend, total)
		runCameraBench(b, st)
	})
}

// benchSecretKey is the key of a bench database: its data directory's key
// file when there is one, so that the rows added stay readable.
func benchSecretKey(dsn string) []byte {
	if !store.IsPostgresDSN(dsn) {
		if raw, err := os.ReadFile(filepath.Join(filepath.Dir(dsn), store.SecretKeyFile)); err == nil {
			if k, err := hex.DecodeString(strings.TrimSpace(string(raw))); err == nil && len(k) == 32 {
				return k
			}
		}
	}
	return bytes.Repeat([]byte{7}, 32)
}

var (
	benchCamPlaces = []string{"Gate", "Garage", "Lobby", "Parking", "Garden", "Porch", "Back yard", "Driveway", "Entrance", "Roof",
		"Pool", "Hallway", "Elevator", "Loading bay", "Side door"}
	benchCamTypes = []string{"camera", "cam", "PTZ", "dome", "bullet"}
)

// addBenchCameras tops the cameras up to n, deterministically.
func addBenchCameras(b *testing.B, st *store.Store, n int) {
	ctx := model.WithActor(context.Background(), model.System)
	var have int
	if err := st.DB().QueryRow(`SELECT count(*) FROM third_party_devices`).Scan(&have); err != nil {
		b.Fatal(err)
	}
	if have >= n {
		return
	}
	type proj struct {
		id, installer, owner int64
		personal             bool
	}
	rows, err := st.DB().Query(`SELECT p.id, p.installer_id, p.kind,
		coalesce((SELECT min(u.id) FROM end_users u WHERE u.project_id = p.id AND u.role = 'family_master'), 0) FROM projects p ORDER BY p.id`)
	if err != nil {
		b.Fatal(err)
	}
	var shared, homes []proj
	for rows.Next() {
		var p proj
		var kind string
		if err := rows.Scan(&p.id, &p.installer, &kind, &p.owner); err != nil {
			b.Fatal(err)
		}
		if p.personal = kind == "personal"; p.personal {
			homes = append(homes, p)
		} else {
			shared = append(shared, p)
		}
	}
	rows.Close()
	if len(shared) == 0 || len(homes) == 0 {
		b.Fatal("no projects to hang cameras on")
	}
	id, err := st.MaxID(ctx, "third_party_devices")
	if err != nil {
		b.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(uint64(have), 42))
	user, err := st.EncryptSecret("admin")
	if err != nil {
		b.Fatal(err)
	}
	pass, err := st.EncryptSecret("bench-password")
	if err != nil {
		b.Fatal(err)
	}
	now := time.Now().UTC().Truncate(time.Second)
	cols := []string{"id", "installer_id", "project_id", "owner_id", "kind", "name", "stream_url", "username", "password", "created_at"}
	var batch [][]any
	start := time.Now()
	for i := have; i < n; i++ {
		var p proj
		if rng.IntN(5) == 0 {
			p = shared[rng.IntN(len(shared))]
		} else {
			p = homes[rng.IntN(len(homes))]
		}
		id++
		var owner any
		if p.personal && p.owner != 0 {
			owner = p.owner
		}
		name := fmt.Sprintf("%s %s %d", benchCamPlaces[rng.IntN(len(benchCamPlaces))], benchCamTypes[rng.IntN(len(benchCamTypes))], 1+rng.IntN(9999))
		url := fmt.Sprintf("rtsp://10.%d.%d.%d:554/stream%d", rng.IntN(255), rng.IntN(255), 2+rng.IntN(250), 1+rng.IntN(3))
		batch = append(batch, []any{id, p.installer, p.id, owner, "camera", name, url, user, pass,
			now.Add(-time.Duration(rng.IntN(2*365*24*60)) * time.Minute)})
		if len(batch) == 20_000 || i == n-1 {
			if err := st.BulkInsert(ctx, "third_party_devices", cols, batch); err != nil {
				b.Fatal(err)
			}
			batch = batch[:0]
		}
	}
	b.Logf("added %d cameras in %s", n-have, time.Since(start).Round(time.Millisecond))
}

// cameraBenchCase is one list request.
type cameraBenchCase struct {
	name string
	ctx  context.Context
	f    store.CameraListFilter
}

// cameraBenchCases are the requests timed: every filter and sort of both
// lists for the sub-distributor, deep pages, and the other roles' lists.
// The search texts are taken from the data.
func cameraBenchCases(tb testing.TB, st *store.Store, sub, admin, inst context.Context) []cameraBenchCase {
	page := model.Page{Page: 1, PerPage: 50}
	sample := func(scope string) *store.CameraListRow {
		l, err := st.ListCameras(sub, store.CameraListFilter{Scope: scope, Page: model.Page{Page: 1, PerPage: 500}})
		if err != nil || len(l.Items) == 0 {
			tb.Fatalf("no %s cameras for the sub-distributor: %v", scope, err)
		}
		// One with an owner, when the scope has owners.
		for _, c := range l.Items[len(l.Items)/2:] {
			if scope != store.CameraScopePersonal || c.Owner != "" {
				return c
			}
		}
		return l.Items[len(l.Items)/2]
	}
	pc, hc := sample(store.CameraScopeProject), sample(store.CameraScopePersonal)
	word := func(s string, i int) string {
		f := strings.Fields(s)
		return f[min(i, len(f)-1)]
	}
	cases := []cameraBenchCase{
		{"project/all", sub, store.CameraListFilter{Scope: "project"}},
		{"personal/all", sub, store.CameraListFilter{Scope: "personal"}},
		{"project/page100", sub, store.CameraListFilter{Scope: "project", Page: model.Page{Page: 100, PerPage: 50}}},
		{"personal/page100", sub, store.CameraListFilter{Scope: "personal", Page: model.Page{Page: 100, PerPage: 50}}},
		{"project/name-word", sub, store.CameraListFilter{Scope: "project", Name: word(pc.Name, 0)}},
		{"project/name-full", sub, store.CameraListFilter{Scope: "project", Name: pc.Name}},
		{"project/name-none", sub, store.CameraListFilter{Scope: "project", Name: "zzqx"}},
		{"project/project", sub, store.CameraListFilter{Scope: "project", Project: pc.Project}},
		{"project/project-word", sub, store.CameraListFilter{Scope: "project", Project: word(pc.Project, 1)}},
		{"project/manager", sub, store.CameraListFilter{Scope: "project", Manager: pc.Manager}},
		{"project/manager-2chars", sub, store.CameraListFilter{Scope: "project", Manager: string([]rune(pc.Manager + "xx")[:2])}},
		{"personal/name-word", sub, store.CameraListFilter{Scope: "personal", Name: word(hc.Name, 0)}},
		{"personal/name-full", sub, store.CameraListFilter{Scope: "personal", Name: hc.Name}},
		{"personal/name-none", sub, store.CameraListFilter{Scope: "personal", Name: "zzqx"}},
		{"personal/owner", sub, store.CameraListFilter{Scope: "personal", Owner: hc.Owner}},
		{"personal/owner-word", sub, store.CameraListFilter{Scope: "personal", Owner: word(hc.Owner, 1)}},
		{"personal/manager", sub, store.CameraListFilter{Scope: "personal", Manager: hc.Manager}},
		{"personal/manager-word", sub, store.CameraListFilter{Scope: "personal", Manager: word(hc.Manager, 1)}},
		{"personal/all-filters", sub, store.CameraListFilter{Scope: "personal", Name: word(hc.Name, 0), Owner: word(hc.Owner, 0), Manager: word(hc.Manager, 0)}},
		{"admin/all", admin, store.CameraListFilter{}},
		{"admin/personal", admin, store.CameraListFilter{Scope: "personal"}},
		{"admin/personal-name", admin, store.CameraListFilter{Scope: "personal", Name: hc.Name}},
		{"installer/all", inst, store.CameraListFilter{}},
		{"installer/personal-sort-name", inst, store.CameraListFilter{Scope: "personal", Sort: "name"}},
	}
	for _, scope := range []string{"project", "personal"} {
		for _, s := range store.CameraSorts {
			if !store.CameraSortAllowed(scope, s) {
				continue
			}
			for _, o := range []string{"asc", "desc"} {
				cases = append(cases, cameraBenchCase{scope + "/sort-" + s + "-" + o, sub, store.CameraListFilter{Scope: scope, Sort: s, Order: o}})
			}
		}
	}
	for i := range cases {
		if cases[i].f.Page.Page == 0 {
			cases[i].f.Page = page
		}
	}
	return cases
}

func runCameraBench(b *testing.B, st *store.Store) {
	sub := actorCtx(b, st, demo.SubdistributorUser)
	admin := actorCtx(b, st, demo.AdminUser)
	inst := actorCtx(b, st, demo.InstallerUser)
	for _, c := range cameraBenchCases(b, st, sub, admin, inst) {
		l, err := st.ListCameras(c.ctx, c.f)
		if err != nil {
			b.Fatalf("%s: %v", c.name, err)
		}
		b.Run(c.name, func(b *testing.B) {
			total := l.Total
			if total > store.CameraCountCap {
				total = -1 // capped
			}
			var times []time.Duration
			for b.Loop() {
				t0 := time.Now()
				if _, err := st.ListCameras(c.ctx, c.f); err != nil {
					b.Fatal(err)
				}
				times = append(times, time.Since(t0))
			}
			b.ReportMetric(float64(total), "total")
			b.ReportMetric(float64(p95(times).Microseconds())/1000, "p95-ms")
		})
	}
	sample, err := st.ListCameras(sub, store.CameraListFilter{Page: model.Page{Page: 1, PerPage: 1}})
	if err != nil || len(sample.Items) == 0 {
		b.Fatalf("no camera to read: %v", err)
	}
	b.Run("GetCameraDetail", func(b *testing.B) {
		for b.Loop() {
			if _, err := st.GetCameraDetail(sub, sample.Items[0].ID); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// p95 is the 95th percentile of durations.
func p95(d []time.Duration) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := slices.Clone(d)
	slices.Sort(s)
	return s[min(len(s)-1, (len(s)*95+99)/100-1)]
}
