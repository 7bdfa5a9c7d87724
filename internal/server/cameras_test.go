package server_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http/httptest"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/mail"
	"github.com/gatehouse-dev/gatehouse/internal/mail/mailtest"
	"github.com/gatehouse-dev/gatehouse/internal/model"
	"github.com/gatehouse-dev/gatehouse/internal/server"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// camFixture is what the camera tests add through the installer's API:
// a community with a camera (with credentials) and a single-tenant home
// with a camera owned by its family master.
type camFixture struct {
	inst, sub, other, otherSub, dist, admin string // bearer tokens
	community, home                         int64
	lobby, porch                            int64 // camera ids
	foreign                                 int64 // a camera of another sub-distributor
}

// Credentials that must never be answered.
const (
	camUser = "viewer-q7z"
	camPass = "pw-9secret-x"
)

func newCamFixture(t *testing.T, e *env) *camFixture {
	t.Helper()
	f := &camFixture{inst: e.token("demo-installer"), sub: e.token("demo-subdistributor"), other: e.token("installer-1-2-01"),
		otherSub: e.token("subdistributor-1-2"), dist: e.token("demo-distributor"), admin: e.token("demo-admin")}
	f.community = ipNum(e.ipCreate(f.inst, "/api/v1/projects", map[string]any{"kind": "community", "name": "Zanzibar View", "manager": "Xiomara Vale"}), "id")
	f.home = ipNum(e.ipCreate(f.inst, "/api/v1/projects", map[string]any{"kind": "personal", "name": "Quinn Residence", "manager": "Sam Quinn"}), "id")
	e.ipCreate(f.inst, fmt.Sprintf("/api/v1/projects/%d/end-users", f.home), map[string]any{"role": "family_master", "name": "Avery Quinn"})
	f.lobby = ipNum(e.ipCreate(f.inst, "/api/v1/third-party-devices", map[string]any{"project_id": f.community, "name": "Lobby cam",
		"stream_url": "rtsp://10.20.30.40:554/live", "username": camUser, "password": camPass}), "id")
	f.porch = ipNum(e.ipCreate(f.inst, "/api/v1/third-party-devices", map[string]any{"project_id": f.home, "name": "Porch cam",
		"stream_url": "rtsps://porch.quinn.example/s1", "username": camUser, "password": camPass}), "id")
	e.st.DB().QueryRow(`SELECT t.id FROM third_party_devices t JOIN accounts a ON a.id = t.installer_id
		WHERE a.username = 'installer-1-2-01' ORDER BY t.id LIMIT 1`).Scan(&f.foreign)
	if f.foreign == 0 {
		t.Fatal("the demo gave installer-1-2-01 no camera")
	}
	return f
}

// camItems are the list answer's items.
func camItems(t *testing.T, r *resp) []map[string]any {
	t.Helper()
	if r.StatusCode != 200 {
		t.Fatalf("list: %d %s", r.StatusCode, r.body)
	}
	var out []map[string]any
	for _, it := range r.json(t)["items"].([]any) {
		out = append(out, it.(map[string]any))
	}
	return out
}

func camNamesOf(items []map[string]any) []string {
	var out []string
	for _, it := range items {
		out = append(out, it["name"].(string))
	}
	return out
}

// installersOf is the set of installer accounts under a sub-distributor.
func (e *env) installersOf(t *testing.T, sub string) map[int64]bool {
	t.Helper()
	rows, err := e.st.DB().Query(`SELECT i.id FROM accounts i JOIN accounts s ON s.id = i.parent_id WHERE s.username = '` + sub + `'`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[int64]bool{}
	for rows.Next() {
		var id int64
		rows.Scan(&id)
		out[id] = true
	}
	return out
}

func TestCamerasListAPI(t *testing.T) {
	eachBackend(t, func(t *testing.T, e *env) {
		f := newCamFixture(t, e)
		mine := e.installersOf(t, "demo-subdistributor")
		get := func(tok, query string) *resp {
			return e.do(nil, "GET", "/api/v1/third-party-devices?"+query, nil, bearer(tok))
		}

		// The Project and Personal lists: the sub-distributor's installers' cameras only, of the right kind.
		for _, scope := range []string{"project", "personal"} {
			r := get(f.sub, "scope="+scope+"&per_page=500")
			items := camItems(t, r)
			if len(items) < 2 {
				t.Fatalf("%s list has %d cameras", scope, len(items))
			}
			if int(ipNum(r.json(t), "total")) != len(items) {
				t.Errorf("%s total %v for %d items", scope, r.json(t)["total"], len(items))
			}
			for _, it := range items {
				if !mine[ipNum(it, "installer_id")] {
					t.Errorf("%s list shows camera %v of installer %v", scope, it["name"], it["installer_id"])
				}
				if it["scope"] != scope || (scope == "personal") != (it["project_kind"] == "personal") {
					t.Errorf("%s list holds %v", scope, it)
				}
			}
		}
		// Credentials: never in a list, an export or a detail, for anyone.
		for _, tok := range []string{f.inst, f.sub, f.dist, f.admin} {
			for _, path := range []string{"/api/v1/third-party-devices?scope=project&name=lobby", "/api/v1/third-party-devices?scope=personal&format=csv",
				"/api/v1/third-party-devices?format=csv", fmt.Sprintf("/api/v1/third-party-devices/%d", f.lobby)} {
				r := e.do(nil, "GET", path, nil, bearer(tok))
				if r.StatusCode != 200 || strings.Contains(string(r.body), camUser) || strings.Contains(string(r.body), camPass) {
					t.Errorf("%s: %d, or it leaks a credential: %s", path, r.StatusCode, r.body)
				}
			}
		}

		// The guide's searches, each case-insensitive "contains".
		for _, c := range []struct {
			query string
			want  []string
		}{
			{"scope=project&name=LOBBY", []string{"Lobby cam"}},
			{"scope=project&project=zanzibar", []string{"Lobby cam"}},
			{"scope=project&manager=XIOMARA", []string{"Lobby cam"}},
			{"scope=project&name=lobby&manager=sam", nil},
			{"scope=personal&owner=avery", []string{"Porch cam"}},
			{"scope=personal&manager=sam+quinn", []string{"Porch cam"}},
			{"scope=personal&name=porch&owner=quinn&manager=quinn", []string{"Porch cam"}},
			{"scope=personal&name=lobby", nil},
			{"scope=project&name=%25", nil}, // a literal percent sign
			{fmt.Sprintf("project_id=%d", f.home), []string{"Porch cam"}},
		} {
			if got := camNamesOf(camItems(t, get(f.sub, c.query))); !slices.Equal(got, c.want) {
				t.Errorf("%s: %q, want %q", c.query, got, c.want)
			}
		}
		// Another sub-distributor finds none of it.
		if got := camItems(t, get(f.otherSub, "scope=project&name=lobby")); len(got) != 0 {
			t.Errorf("subdistributor-1-2 finds %v", got)
		}
		// The installer's list is its own; the distributor's and admin's hold it too.
		for tok, want := range map[string]bool{f.inst: true, f.dist: true, f.admin: true, f.other: false, f.otherSub: false} {
			if got := len(camItems(t, get(tok, "name=porch+cam"))); (got == 1) != want {
				t.Errorf("porch cam found %d times, want %v", got, want)
			}
		}

		// Sorting by each visible column, both ways, and the ties in id order.
		for _, c := range []struct{ scope, sort, key string }{
			{"project", "name", "name"}, {"project", "project", "project"}, {"project", "manager", "manager"},
			{"project", "installer", "installer"}, {"project", "created_at", "created_at"},
			{"personal", "name", "name"}, {"personal", "owner", "owner"}, {"personal", "manager", "manager"},
		} {
			for _, order := range []string{"asc", "desc"} {
				items := camItems(t, get(f.sub, "scope="+c.scope+"&sort="+c.sort+"&order="+order+"&per_page=500"))
				for i := 1; i < len(items); i++ {
					a, b := fmt.Sprint(items[i-1][c.key]), fmt.Sprint(items[i][c.key])
					if c.key == "created_at" {
						ta, _ := time.Parse(time.RFC3339Nano, a)
						tb, _ := time.Parse(time.RFC3339Nano, b)
						a, b = fmt.Sprintf("%020d", ta.UnixNano()), fmt.Sprintf("%020d", tb.UnixNano())
					}
					ida, idb := ipNum(items[i-1], "id"), ipNum(items[i], "id")
					ok := a < b || (a == b && ida < idb)
					if order == "desc" {
						ok = a > b || (a == b && ida > idb)
					}
					if !ok {
						t.Errorf("%s sorted by %s %s: %q (%d) before %q (%d)", c.scope, c.sort, order, a, ida, b, idb)
						break
					}
				}
			}
		}
		// The default is newest first: the two cameras just added lead their lists.
		if items := camItems(t, get(f.sub, "scope=personal")); items[0]["name"] != "Porch cam" {
			t.Errorf("personal list starts with %v", items[0]["name"])
		}

		// Pages.
		all := camNamesOf(camItems(t, get(f.sub, "scope=project&sort=name&per_page=500")))
		p2 := camItems(t, get(f.sub, "scope=project&sort=name&per_page=3&page=2"))
		if !slices.Equal(camNamesOf(p2), all[3:6]) {
			t.Errorf("page 2 of 3: %q, want %q", camNamesOf(p2), all[3:6])
		}

		// CSV: the filtered list, the list's columns.
		r := get(f.sub, "scope=personal&owner=avery&format=csv")
		lines := strings.Split(strings.TrimSpace(string(r.body)), "\n")
		if r.StatusCode != 200 || !strings.HasPrefix(r.Header.Get("Content-Type"), "text/csv") || len(lines) != 2 ||
			lines[0] != "id,name,kind,scope,stream_url,project,project_kind,manager,owner,installer,has_password,created_at" ||
			!strings.Contains(lines[1], ",Porch cam,camera,personal,rtsps://porch.quinn.example/s1,Quinn Residence,personal,Sam Quinn,Avery Quinn,") {
			t.Errorf("CSV: %d %s", r.StatusCode, r.body)
		}

		// Bad input names its field.
		for query, field := range map[string]string{
			"scope=villa": "scope", "scope=project&owner=x": "owner", "scope=personal&project=x": "project",
			"scope=project&sort=owner": "sort", "sort=colour": "sort", "order=up": "order", "per_page=501": "per_page",
			"name=" + strings.Repeat("x", 129): "name", "format=xml": "format", "project_id=abc": "project_id",
		} {
			if r := get(f.sub, query); r.StatusCode != 400 || r.errorField(t, field) == "" {
				t.Errorf("%s: %d %s", query[:min(len(query), 40)], r.StatusCode, r.body)
			}
		}
		if r := e.do(nil, "GET", "/api/v1/third-party-devices", nil); r.StatusCode != 401 {
			t.Errorf("anonymous list: %d", r.StatusCode)
		}
		// A stream URL written with credentials by something other than the
		// store (an old import) is answered without them.
		if _, err := e.st.DB().Exec(fmt.Sprintf(`UPDATE third_party_devices SET stream_url = 'rtsp://admin:%s@10.1.1.1:554/s' WHERE id = %d`, camPass, f.lobby)); err != nil {
			t.Fatal(err)
		}
		for _, path := range []string{"/api/v1/third-party-devices?scope=project&name=lobby", "/api/v1/third-party-devices?scope=project&name=lobby&format=csv",
			fmt.Sprintf("/api/v1/third-party-devices/%d", f.lobby)} {
			r := e.do(nil, "GET", path, nil, bearer(f.sub))
			if r.StatusCode != 200 || strings.Contains(string(r.body), camPass) || strings.Contains(string(r.body), "admin:") ||
				!strings.Contains(string(r.body), "rtsp://10.1.1.1:554/s") {
				t.Errorf("%s with credentials in the URL: %d %s", path, r.StatusCode, r.body)
			}
		}
	})
}

// TestCamerasCountCap: past 10,000 matches the count stops and says so.
func TestCamerasCountCap(t *testing.T) {
	if testing.Short() {
		t.Skip("loads 10,010 cameras")
	}
	eachBackend(t, func(t *testing.T, e *env) {
		f := newCamFixture(t, e)
		ctx := sysCtx()
		id, _ := e.st.MaxID(ctx, "third_party_devices")
		var instID int64
		e.st.DB().QueryRow(`SELECT id FROM accounts WHERE username = 'demo-installer'`).Scan(&instID)
		var rows [][]any
		for i := 0; i < 10_010; i++ {
			id++
			rows = append(rows, []any{id, instID, f.community, nil, "camera", fmt.Sprintf("Bulk %05d", i), "", "", "", time.Now().UTC()})
		}
		if err := e.st.BulkInsert(ctx, "third_party_devices",
			[]string{"id", "installer_id", "project_id", "owner_id", "kind", "name", "stream_url", "username", "password", "created_at"}, rows); err != nil {
			t.Fatal(err)
		}
		r := e.do(nil, "GET", "/api/v1/third-party-devices?scope=project&page=3", nil, bearer(f.sub))
		m := r.json(t)
		if r.StatusCode != 200 || ipNum(m, "total") != 10_000 || m["total_capped"] != true || len(m["items"].([]any)) != 50 {
			t.Errorf("capped list: %d total %v capped %v", r.StatusCode, m["total"], m["total_capped"])
		}
		r = e.do(nil, "GET", "/api/v1/third-party-devices?scope=project&name=bulk+0000", nil, bearer(f.sub))
		if m := r.json(t); ipNum(m, "total") != 10 || m["total_capped"] != nil {
			t.Errorf("narrow search: %s", r.body)
		}
		// The portal says "more than", and pages on.
		b := e.browserLogin("demo-subdistributor")
		page := e.do(b.c, "GET", "/third-party-devices?scope=project", nil)
		if !strings.Contains(string(page.body), "1–50 of more than 10,000") || !strings.Contains(string(page.body), `rel="next"`) {
			t.Errorf("capped portal list: %s", camCount(page))
		}
	})
}

var camCountRE = regexp.MustCompile(`id="camera-count">([^<]*)<`)

func camCount(r *resp) string {
	if m := camCountRE.FindSubmatch(r.body); m != nil {
		return string(m[1])
	}
	return "(no count)"
}

func TestCamerasDeleteAPI(t *testing.T) {
	eachBackend(t, func(t *testing.T, e *env) {
		f := newCamFixture(t, e)
		count := func(id int64) int {
			return e.ipCount(fmt.Sprintf("SELECT count(*) FROM third_party_devices WHERE id = %d", id))
		}
		// Another tenant's camera is not found, and stays.
		for _, tok := range []string{f.otherSub, f.other} {
			if r := e.do(nil, "DELETE", fmt.Sprintf("/api/v1/third-party-devices/%d", f.lobby), nil, bearer(tok)); r.StatusCode != 404 {
				t.Errorf("foreign DELETE: %d", r.StatusCode)
			}
		}
		if r := e.do(nil, "DELETE", fmt.Sprintf("/api/v1/third-party-devices/%d", f.foreign), nil, bearer(f.sub)); r.StatusCode != 404 || count(f.foreign) != 1 {
			t.Errorf("sub-distributor deletes another's camera: %d", r.StatusCode)
		}
		// The sub-distributor deletes its installer's camera.
		if r := e.do(nil, "DELETE", fmt.Sprintf("/api/v1/third-party-devices/%d", f.lobby), nil, bearer(f.sub)); r.StatusCode != 204 || count(f.lobby) != 0 {
			t.Errorf("DELETE by the sub-distributor: %d %s", r.StatusCode, r.body)
		}
		a := e.do(nil, "GET", fmt.Sprintf("/api/v1/audit?object_type=third_party_device&object_id=%d&action=third_party_device.delete", f.lobby), nil, bearer(f.sub))
		if items := a.json(t)["items"].([]any); len(items) != 1 || items[0].(map[string]any)["actor"] != "demo-subdistributor" {
			t.Errorf("audit of the delete: %s", a.body)
		}

		// Batch delete: a foreign id among them → 404 naming it, nothing deleted.
		var more []int64
		for i := 0; i < 3; i++ {
			more = append(more, ipNum(e.ipCreate(f.inst, "/api/v1/third-party-devices", map[string]any{"project_id": f.community,
				"name": fmt.Sprintf("Batch cam %d", i), "stream_url": "rtsp://10.0.0.9/s"}), "id"))
		}
		batch := func(tok string, body any, headers ...string) *resp {
			return e.do(nil, "POST", "/api/v1/third-party-devices/batch-delete", body, append([]string{bearer(tok)}, headers...)...)
		}
		r := batch(f.sub, map[string]any{"ids": []int64{more[0], f.foreign, more[1]}})
		if r.StatusCode != 404 || r.errorField(t, "ids") != fmt.Sprintf("no such third-party device: %d", f.foreign) ||
			!strings.Contains(r.json(t)["error"].(map[string]any)["message"].(string), fmt.Sprint(f.foreign)) {
			t.Errorf("batch with a foreign id: %d %s", r.StatusCode, r.body)
		}
		if count(more[0])+count(more[1])+count(f.foreign) != 3 {
			t.Error("a refused batch deleted something")
		}
		for _, c := range []struct {
			body  any
			field string
		}{
			{map[string]any{"ids": []int64{}}, "ids"},
			{map[string]any{}, "ids"},
			{map[string]any{"ids": []int64{0}}, "ids"},
			{map[string]any{"ids": "1,2"}, "ids"},
			{map[string]any{"ids": []int64{more[0]}, "all": true}, "all"},
			{"{not json", "body"},
			{map[string]any{"ids": func() []int64 {
				ids := make([]int64, 501)
				for i := range ids {
					ids[i] = int64(i + 1)
				}
				return ids
			}()}, "ids"},
		} {
			if r := batch(f.sub, c.body); r.StatusCode != 400 || r.errorField(t, c.field) == "" {
				t.Errorf("batch %v: %d %s", c.body, r.StatusCode, r.body)
			}
		}
		// Another sub-distributor's batch of these ids: 404, nothing deleted.
		if r := batch(f.otherSub, map[string]any{"ids": more}); r.StatusCode != 404 || count(more[2]) != 1 {
			t.Errorf("foreign batch: %d", r.StatusCode)
		}
		// The batch by the sub-distributor: all of them.
		r = batch(f.sub, map[string]any{"ids": append(more, more[0])})
		if r.StatusCode != 200 || ipNum(r.json(t), "deleted") != 3 || count(more[0])+count(more[1])+count(more[2]) != 0 {
			t.Errorf("batch delete: %d %s", r.StatusCode, r.body)
		}
		if r := batch(f.sub, map[string]any{"ids": more[:1]}); r.StatusCode != 404 {
			t.Errorf("batch of a deleted camera: %d", r.StatusCode)
		}
		// With a session cookie, the CSRF token is required.
		b := e.browserLogin("demo-subdistributor")
		if r := e.do(b.c, "POST", "/api/v1/third-party-devices/batch-delete", map[string]any{"ids": []int64{f.porch}}); r.StatusCode != 403 || count(f.porch) != 1 {
			t.Errorf("batch without CSRF: %d", r.StatusCode)
		}
		if r := e.do(b.c, "POST", "/api/v1/third-party-devices/batch-delete", map[string]any{"ids": []int64{f.porch}}, "X-CSRF-Token: "+b.csrf); r.StatusCode != 200 || count(f.porch) != 0 {
			t.Errorf("batch with CSRF: %d %s", r.StatusCode, r.body)
		}
		// The installer deletes its own only.
		if r := batch(f.other, map[string]any{"ids": []int64{f.foreign}}); r.StatusCode != 200 || count(f.foreign) != 0 {
			t.Errorf("installer's own batch: %d %s", r.StatusCode, r.body)
		}
	})
}

func TestCamerasPortal(t *testing.T) {
	eachBackend(t, func(t *testing.T, e *env) {
		f := newCamFixture(t, e)
		b := e.browserLogin("demo-subdistributor")
		get := func(path string) *resp {
			t.Helper()
			return e.do(b.c, "GET", path, nil)
		}
		// The Project tab is the default: its searches and columns.
		r := get("/third-party-devices")
		body := string(r.body)
		if r.StatusCode != 200 {
			t.Fatalf("list: %d %s", r.StatusCode, r.body)
		}
		for _, want := range []string{`class="active" id="tab-project"`, `name="project"`, `name="manager"`, `name="name"`,
			">Project Manager", ">Project<", ">Installer", ">Stream<", `data-sort="created_at"`, "Lobby cam", "10.20.30.40:554",
			`href="/api/v1/third-party-devices?format=csv&amp;scope=project"`, `id="delete-selected"`} {
			if !strings.Contains(body, want) {
				t.Errorf("project list lacks %q", want)
			}
		}
		for _, never := range []string{`name="owner"`, "Porch cam", camUser, camPass, "rtsp://10.20.30.40"} {
			if strings.Contains(body, never) {
				t.Errorf("project list shows %q", never)
			}
		}
		if strings.Count(body, `<tr data-id=`) == 0 {
			t.Fatal("no rows")
		}
		// The Personal tab.
		r = get("/third-party-devices?scope=personal&owner=avery")
		body = string(r.body)
		for _, want := range []string{`name="owner" id="search-owner" value="avery"`, "Single-tenant Manager", ">Owner", "Porch cam",
			"Avery Quinn", "Sam Quinn", "porch.quinn.example", "1–1 of 1"} {
			if !strings.Contains(body, want) {
				t.Errorf("personal list lacks %q", want)
			}
		}
		if strings.Contains(body, `name="project" `) || strings.Contains(body, "Lobby cam") || strings.Contains(body, camPass) {
			t.Errorf("personal list shows project things or credentials")
		}
		// Sort links: the active column sorts the other way; the filters stay.
		r = get("/third-party-devices?scope=personal&owner=avery&sort=owner")
		if !strings.Contains(string(r.body), `href="?order=desc&amp;owner=avery&amp;scope=personal&amp;sort=owner" class="cam-sort active asc"`) {
			t.Errorf("sort link of the active column: %s", regexp.MustCompile(`<thead>[\s\S]*?</thead>`).Find(r.body))
		}
		// Bad input: 400 naming the field, the values kept.
		r = get("/third-party-devices?scope=project&name=lobby&sort=owner")
		if r.StatusCode != 400 || !strings.Contains(string(r.body), "sort: must be one of") || !strings.Contains(string(r.body), `value="lobby"`) {
			t.Errorf("bad sort: %d", r.StatusCode)
		}

		// The detail page: the camera, who it belongs to, its history; no credentials.
		r = get(fmt.Sprintf("/third-party-devices/%d", f.porch))
		body = string(r.body)
		for _, want := range []string{"Porch cam", "rtsps://porch.quinn.example/s1", "User name set", "password set", "Avery Quinn",
			"Quinn Residence", "Sam Quinn", "demo-installer", "third_party_device.create", `id="delete-camera"`} {
			if !strings.Contains(body, want) {
				t.Errorf("detail lacks %q", want)
			}
		}
		if strings.Contains(body, camUser) || strings.Contains(body, camPass) {
			t.Error("detail shows a credential")
		}
		for _, path := range []string{fmt.Sprintf("/third-party-devices/%d", f.foreign), fmt.Sprintf("/third-party-devices/%d/delete", f.foreign),
			"/third-party-devices/99999999", "/third-party-devices/abc", fmt.Sprintf("/third-party-devices/delete?id=%d&id=%d", f.lobby, f.foreign)} {
			if r := get(path); r.StatusCode != 404 {
				t.Errorf("GET %s: %d", path, r.StatusCode)
			}
		}

		// Delete one, confirmed; back to the list it came from.
		back := "/third-party-devices?scope=personal&owner=avery"
		r = get(fmt.Sprintf("/third-party-devices/%d/delete?back=%s", f.porch, url.QueryEscape(back)))
		if r.StatusCode != 200 || !strings.Contains(string(r.body), `id="confirm-delete"`) {
			t.Fatalf("confirm page: %d", r.StatusCode)
		}
		del := func(path string, v url.Values) *resp {
			v.Set("csrf_token", b.csrf)
			return e.form(b.c, path, v)
		}
		if r := e.form(b.c, fmt.Sprintf("/third-party-devices/%d/delete", f.porch), url.Values{}); r.StatusCode != 403 {
			t.Errorf("delete without CSRF: %d", r.StatusCode)
		}
		r = del(fmt.Sprintf("/third-party-devices/%d/delete", f.porch), url.Values{"back": {back}})
		if loc := r.Header.Get("Location"); r.StatusCode != 303 || !strings.HasPrefix(loc, "/third-party-devices?") ||
			!strings.Contains(loc, "owner=avery") || !strings.Contains(loc, "notice=Deleted+Porch+cam") {
			t.Errorf("delete: %d %s", r.StatusCode, loc)
		}
		if n := e.ipCount(fmt.Sprintf("SELECT count(*) FROM third_party_devices WHERE id = %d", f.porch)); n != 0 {
			t.Error("the camera is still there")
		}
		if r := get(fmt.Sprintf("/third-party-devices/%d", f.porch)); r.StatusCode != 404 {
			t.Errorf("deleted camera's page: %d", r.StatusCode)
		}
		// A foreign back link is not followed.
		r = del(fmt.Sprintf("/third-party-devices/%d/delete", f.lobby), url.Values{"back": {"https://evil.example/third-party-devices"}})
		if loc := r.Header.Get("Location"); r.StatusCode != 303 || !strings.HasPrefix(loc, "/third-party-devices?") {
			t.Errorf("delete with a foreign back link: %d %s", r.StatusCode, loc)
		}

		// Delete a selection: confirm, then all of it.
		var sel []string
		for i := 0; i < 2; i++ {
			sel = append(sel, fmt.Sprint(ipNum(e.ipCreate(f.inst, "/api/v1/third-party-devices", map[string]any{"project_id": f.community,
				"name": fmt.Sprintf("Selected cam %d", i), "stream_url": "rtsp://10.0.0.9/s"}), "id")))
		}
		r = get("/third-party-devices/delete?id=" + sel[0] + "&id=" + sel[1] + "&back=" + url.QueryEscape("/third-party-devices?scope=project&name=selected"))
		if r.StatusCode != 200 || !strings.Contains(string(r.body), "Delete 2 cameras") || !strings.Contains(string(r.body), "Selected cam 1") {
			t.Fatalf("selection confirm: %d %s", r.StatusCode, r.body)
		}
		if r := get("/third-party-devices/delete?back=%2Fthird-party-devices%3Fscope%3Dpersonal"); r.StatusCode != 303 ||
			!strings.Contains(r.Header.Get("Location"), "scope=personal") || !strings.Contains(r.Header.Get("Location"), "notice=select") {
			t.Errorf("empty selection: %d %s", r.StatusCode, r.Header.Get("Location"))
		}
		// A foreign id in a posted selection: 404, nothing deleted.
		if r := del("/third-party-devices/delete", url.Values{"id": {sel[0], fmt.Sprint(f.foreign)}}); r.StatusCode != 404 {
			t.Errorf("foreign selection: %d", r.StatusCode)
		}
		r = del("/third-party-devices/delete", url.Values{"id": sel, "back": {"/third-party-devices?scope=project&name=selected"}})
		if loc := r.Header.Get("Location"); r.StatusCode != 303 || !strings.Contains(loc, "notice=Deleted+2+cameras") || !strings.Contains(loc, "name=selected") {
			t.Errorf("selection delete: %d %s", r.StatusCode, loc)
		}
		if n := e.ipCount("SELECT count(*) FROM third_party_devices WHERE id IN (" + strings.Join(sel, ",") + ")"); n != 0 {
			t.Errorf("%d selected cameras remain", n)
		}
		if n := e.ipCount(fmt.Sprintf("SELECT count(*) FROM third_party_devices WHERE id = %d", f.foreign)); n != 1 {
			t.Error("the foreign camera was deleted")
		}

		// The pages are the sub-distributor's.
		ib := e.browserLogin("demo-installer")
		if r := e.do(ib.c, "GET", "/third-party-devices", nil); r.StatusCode != 403 {
			t.Errorf("installer opens the module: %d", r.StatusCode)
		}
		// The audit log names who deleted.
		l, _ := e.st.ListAudit(sysCtx(), model.AuditFilter{Action: "third_party_device.delete", Page: model.Page{Page: 1, PerPage: 50}})
		if l.Total != 4 {
			t.Errorf("%d deletions audited, want 4", l.Total)
		}
	})
}

// TestCamerasSpeed times the Third-Party Device API (every filter and sort
// of both lists, as the sub-distributor) and the portal's list page over
// an existing demo database, and fails when a 95th percentile is over the
// bar: 50 ms for the API, 100 ms for the page. It runs only when
// GATEHOUSE_SPEED_CAMERAS_DB names the database (a copy of a SQLite file,
// or a postgres:// URL; it is migrated first), e.g. after
//
//	gatehouse demo --data /tmp/big --password demo-password --devices 1000000
//	GATEHOUSE_SPEED_CAMERAS_DB=/tmp/big/gatehouse.db go test -run TestCamerasSpeed -v ./internal/server/
func TestCamerasSpeed(t *testing.T) {
	dsn := os.Getenv("GATEHOUSE_SPEED_CAMERAS_DB")
	if dsn == "" {
		t.Skip("GATEHOUSE_SPEED_CAMERAS_DB is not set")
	}
	st, err := store.Open(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	au := &auth.Service{Store: st, Config: auth.DefaultConfig, Log: log}
	mailer, err := mail.NewSMTP(mailtest.Start(t).Config())
	if err != nil {
		t.Fatal(err)
	}
	srv, err := server.New(server.Config{}, st, au, mailer, log)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv.Handler())
	defer ts.Close()
	e := &env{t: t, st: st, auth: au, srv: srv, ts: ts, url: ts.URL}
	sub := e.token("demo-subdistributor")
	get := func(q string) *resp { return e.do(nil, "GET", "/api/v1/third-party-devices?"+q, nil, bearer(sub)) }
	sample := func(scope string) map[string]any {
		items := camItems(t, get("scope="+scope+"&per_page=500"))
		if len(items) == 0 {
			t.Fatalf("no %s cameras", scope)
		}
		for _, it := range items[len(items)/2:] {
			if scope == "project" || it["owner"] != "" {
				return it
			}
		}
		return items[len(items)/2]
	}
	pc, hc := sample("project"), sample("personal")
	first := func(v any) string { return strings.Fields(v.(string) + " x")[0] }
	esc := func(v any) string { return url.QueryEscape(v.(string)) }
	queries := []string{"scope=project", "scope=personal", "scope=project&page=100", "scope=personal&page=100", "",
		"scope=project&name=" + esc(pc["name"]), "scope=project&name=" + first(pc["name"]), "scope=project&name=zzqx",
		"scope=project&project=" + esc(pc["project"]), "scope=project&manager=" + esc(pc["manager"]),
		"scope=personal&name=" + esc(hc["name"]), "scope=personal&name=" + first(hc["name"]), "scope=personal&owner=" + esc(hc["owner"]),
		"scope=personal&owner=zzqx", "scope=personal&manager=" + esc(hc["manager"]), "scope=personal&manager=" + first(hc["manager"]),
		"scope=project&format=csv&name=" + first(pc["name"]),
	}
	for _, scope := range []string{"project", "personal"} {
		for _, s := range []string{"name", "project", "manager", "owner", "installer", "created_at"} {
			if (scope == "project" && s == "owner") || (scope == "personal" && s == "project") {
				continue
			}
			queries = append(queries, "scope="+scope+"&sort="+s+"&order=asc", "scope="+scope+"&sort="+s+"&order=desc")
		}
	}
	const runs = 40
	time95 := func(fn func() *resp) (time.Duration, int) {
		var d []time.Duration
		status := 0
		for i := 0; i < runs; i++ {
			t0 := time.Now()
			r := fn()
			d = append(d, time.Since(t0))
			status = r.StatusCode
		}
		slices.Sort(d)
		return d[runs*95/100-1], status
	}
	var worst time.Duration
	for _, q := range queries {
		p, status := time95(func() *resp { return get(q) })
		worst = max(worst, p)
		t.Logf("API  p95 %6.2f ms  %s", float64(p.Microseconds())/1000, q)
		if status != 200 {
			t.Errorf("%s: status %d", q, status)
		}
		if p > 50*time.Millisecond {
			t.Errorf("API %s: p95 %s, over 50 ms", q, p)
		}
	}
	b := e.browserLogin("demo-subdistributor")
	for _, q := range []string{"scope=project", "scope=personal", "scope=personal&sort=owner", "scope=personal&name=" + first(hc["name"])} {
		p, status := time95(func() *resp { return e.do(b.c, "GET", "/third-party-devices?"+q, nil) })
		t.Logf("page p95 %6.2f ms  %s", float64(p.Microseconds())/1000, q)
		if status != 200 || p > 100*time.Millisecond {
			t.Errorf("page %s: status %d, p95 %s (bar 100 ms)", q, status, p)
		}
	}
	t.Logf("slowest API p95: %s", worst)
}
