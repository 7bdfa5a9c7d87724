package server_test

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/demo"
	"github.com/gatehouse-dev/gatehouse/internal/mail"
	"github.com/gatehouse-dev/gatehouse/internal/model"
	"github.com/gatehouse-dev/gatehouse/internal/server"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// devList is the JSON answer of GET /api/v1/devices.
type devList struct {
	Items       []map[string]any `json:"items"`
	Total       int              `json:"total"`
	TotalCapped *bool            `json:"total_capped"`
	Page        int              `json:"page"`
	PerPage     int              `json:"per_page"`
}

func (e *env) devList(t *testing.T, tok, query string) devList {
	t.Helper()
	r := e.do(nil, "GET", "/api/v1/devices?"+query, nil, bearer(tok))
	if r.StatusCode != 200 {
		t.Fatalf("GET devices?%s: %d %s", query, r.StatusCode, r.body)
	}
	var l devList
	if err := json.Unmarshal(r.body, &l); err != nil {
		t.Fatalf("devices?%s: %v", query, err)
	}
	return l
}

// devCount counts devices with SQL of its own: a list's expected total.
// cond is a condition on d (devices), p (projects) and a (the installer).
func (e *env) devCount(t *testing.T, cond string) int {
	t.Helper()
	var n int
	q := `SELECT count(*) FROM devices d JOIN projects p ON p.id = d.project_id JOIN accounts a ON a.id = d.installer_id WHERE ` + cond
	if err := e.st.DB().QueryRow(q).Scan(&n); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return n
}

// devMAC returns the MAC of a device matching cond (as devCount's).
func (e *env) devMAC(t *testing.T, cond string) string {
	t.Helper()
	var mac string
	q := `SELECT d.mac FROM devices d JOIN projects p ON p.id = d.project_id JOIN accounts a ON a.id = d.installer_id WHERE ` + cond +
		` ORDER BY d.id LIMIT 1`
	if err := e.st.DB().QueryRow(q).Scan(&mac); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return mac
}

func colons(mac string) string {
	var parts []string
	for i := 0; i < 12; i += 2 {
		parts = append(parts, mac[i:i+2])
	}
	return strings.Join(parts, ":")
}

func macsIn(l devList) []string {
	var out []string
	for _, it := range l.Items {
		out = append(out, str(it["mac"]))
	}
	return out
}

var macRE = regexp.MustCompile(`^[0-9A-F]{12}$`)

// devItemKeys are the JSON names of a list item: the columns a
// sub-distributor needs.
var devItemKeys = []string{"availability_7d", "created_at", "firmware", "installer", "installer_id", "last_seen", "location", "mac", "manager", "model",
	"name", "online", "project", "project_id", "scope", "sip", "type"}

func TestDevicesAPI(t *testing.T) {
	eachBackend(t, func(t *testing.T, e *env) {
		sub, inst := e.token("demo-subdistributor"), e.token("demo-installer")
		subID := e.accountID(t, "demo-subdistributor")
		mine := fmt.Sprintf("a.subdistributor_id = %d", subID)
		for _, scope := range []string{"community", "office", "personal"} {
			l := e.devList(t, sub, "scope="+scope+"&per_page=500")
			want := e.devCount(t, mine+" AND p.kind = '"+scope+"'")
			if l.Total != want || len(l.Items) != want || want == 0 || l.TotalCapped != nil {
				t.Errorf("%s: total %d, %d items, want %d", scope, l.Total, len(l.Items), want)
			}
			for i, it := range l.Items {
				if !slices.Equal(sortedKeys(it), devItemKeys) || !macRE.MatchString(str(it["mac"])) || it["scope"] != scope {
					t.Fatalf("%s item: %v", scope, it)
				}
				if i > 0 && str(it["created_at"]) > str(l.Items[i-1]["created_at"]) {
					t.Errorf("%s: not newest first at %d", scope, i)
				}
			}
		}
		// A community device of the sub-distributor, searched every way.
		mac := e.devMAC(t, mine+" AND p.kind = 'community' AND d.sip <> ''")
		var sip, project, manager string
		e.st.DB().QueryRow(`SELECT d.sip, p.name, p.manager FROM devices d JOIN projects p ON p.id = d.project_id WHERE d.mac = '`+mac+`'`).Scan(&sip, &project, &manager)
		for _, q := range []string{"mac=" + url.QueryEscape(colons(mac)), "mac=" + strings.ToLower(strings.ReplaceAll(colons(mac), ":", "-")),
			"mac=" + mac, "sip=" + sip} {
			if l := e.devList(t, sub, "scope=community&"+q); l.Total != 1 || macsIn(l)[0] != mac {
				t.Errorf("%s: %v", q, macsIn(l))
			}
		}
		for _, q := range []string{"mac=" + url.QueryEscape(colons(mac)[9:]), "mac=" + mac[:8], "community=" + url.QueryEscape(strings.ToUpper(project)),
			"manager=" + url.QueryEscape(manager), "sip=" + sip[:len(sip)-2]} {
			l := e.devList(t, sub, "scope=community&per_page=500&"+q)
			if !slices.Contains(macsIn(l), mac) {
				t.Errorf("%s: %s not among %d", q, mac, l.Total)
			}
		}
		l := e.devList(t, sub, "scope=community&per_page=500&community="+url.QueryEscape(project))
		if want := e.devCount(t, mine+" AND p.name = '"+strings.ReplaceAll(project, "'", "''")+"'"); l.Total < want {
			t.Errorf("community %q: %d, want at least %d", project, l.Total, want)
		}
		for _, it := range l.Items {
			if !strings.Contains(strings.ToLower(str(it["project"])), strings.ToLower(project)) {
				t.Errorf("community %q shows %v", project, it["project"])
			}
		}
		// Office and personal searches.
		omac := e.devMAC(t, mine+" AND p.kind = 'office'")
		var office, omanager string
		e.st.DB().QueryRow(`SELECT p.name, p.manager FROM devices d JOIN projects p ON p.id = d.project_id WHERE d.mac = '`+omac+`'`).Scan(&office, &omanager)
		for _, q := range []string{"office=" + url.QueryEscape(office), "manager=" + url.QueryEscape(omanager), "mac=" + omac[6:]} {
			if l := e.devList(t, sub, "scope=office&per_page=500&"+q); !slices.Contains(macsIn(l), omac) {
				t.Errorf("office %s: %s missing", q, omac)
			}
		}
		pmac := e.devMAC(t, mine+" AND p.kind = 'personal'")
		var pname, pmanager string
		e.st.DB().QueryRow(`SELECT d.name, p.manager FROM devices d JOIN projects p ON p.id = d.project_id WHERE d.mac = '`+pmac+`'`).Scan(&pname, &pmanager)
		l = e.devList(t, sub, "scope=personal&per_page=500&name="+url.QueryEscape(strings.ToLower(pname))+"&manager="+url.QueryEscape(pmanager))
		if !slices.Contains(macsIn(l), pmac) {
			t.Errorf("personal name %q manager %q: %s missing", pname, pmanager, pmac)
		}
		for _, it := range l.Items {
			if !strings.EqualFold(str(it["name"]), pname) && !strings.Contains(strings.ToLower(str(it["name"])), strings.ToLower(pname)) {
				t.Errorf("personal name %q shows %v", pname, it["name"])
			}
		}
		// Status: online and offline split the list.
		on, off := e.devList(t, sub, "scope=community&online=true&per_page=500"), e.devList(t, sub, "scope=community&online=false&per_page=500")
		all := e.devCount(t, mine+" AND p.kind = 'community'")
		if on.Total+off.Total != all || on.Total == 0 || off.Total == 0 {
			t.Errorf("online %d + offline %d != %d", on.Total, off.Total, all)
		}
		for _, it := range on.Items {
			if it["online"] != true || it["last_seen"] == nil {
				t.Errorf("online list: %v", it)
			}
		}
		// Sorting by a visible column, both ways.
		asc, desc := e.devList(t, sub, "scope=office&sort=mac&per_page=500"), e.devList(t, sub, "scope=office&sort=mac&order=desc&per_page=500")
		if !slices.IsSorted(macsIn(asc)) || len(asc.Items) < 2 || macsIn(desc)[0] != macsIn(asc)[len(asc.Items)-1] {
			t.Errorf("sort by mac: %v / %v", macsIn(asc), macsIn(desc))
		}
		byModel := e.devList(t, sub, "scope=office&sort=model&per_page=500")
		for i := 1; i < len(byModel.Items); i++ {
			if str(byModel.Items[i]["model"]) < str(byModel.Items[i-1]["model"]) {
				t.Fatalf("sort by model: %v after %v", byModel.Items[i]["model"], byModel.Items[i-1]["model"])
			}
		}
		// Paging.
		p1, p2 := e.devList(t, sub, "scope=community&per_page=5"), e.devList(t, sub, "scope=community&per_page=5&page=2")
		if p1.Page != 1 || p2.Page != 2 || len(p2.Items) != 5 || slices.Contains(macsIn(p1), macsIn(p2)[0]) {
			t.Errorf("pages: %v %v", macsIn(p1), macsIn(p2))
		}
		// Bad input names its field.
		for q, field := range map[string]string{"": "scope", "scope=villa": "scope", "scope=community&mac=xyz": "mac",
			"scope=community&online=maybe": "online", "scope=community&per_page=501": "per_page", "scope=community&sort=owner": "sort",
			"scope=community&order=up": "order", "scope=office&community=x": "community", "scope=community&format=xml": "format",
			"scope=personal&name=" + strings.Repeat("n", 65): "name"} {
			r := e.do(nil, "GET", "/api/v1/devices?"+q, nil, bearer(sub))
			if r.StatusCode != 400 || r.errorField(t, field) == "" {
				t.Errorf("%q: %d %s", q, r.StatusCode, r.body)
			}
		}
		// CSV: the whole filtered list with the list's columns.
		r := e.do(nil, "GET", "/api/v1/devices?scope=office&format=csv&per_page=2", nil, bearer(sub))
		recs, err := csv.NewReader(strings.NewReader(string(r.body))).ReadAll()
		if err != nil || r.StatusCode != 200 || !strings.HasPrefix(r.Header.Get("Content-Type"), "text/csv") {
			t.Fatalf("CSV: %d %v %s", r.StatusCode, err, r.body)
		}
		wantHeader := []string{"mac", "scope", "name", "sip", "type", "model", "firmware", "project", "location", "installer", "manager",
			"online", "last_seen", "created_at"}
		if !slices.Equal(recs[0], wantHeader) || len(recs)-1 != e.devCount(t, mine+" AND p.kind = 'office'") {
			t.Errorf("CSV: header %v, %d rows", recs[0], len(recs)-1)
		}
		r = e.do(nil, "GET", "/api/v1/devices?scope=community&mac="+mac+"&format=csv", nil, bearer(sub))
		if recs, _ := csv.NewReader(strings.NewReader(string(r.body))).ReadAll(); len(recs) != 2 || recs[1][0] != mac || recs[1][3] != sip {
			t.Errorf("filtered CSV: %s", r.body)
		}

		// One device, in any notation.
		r = e.do(nil, "GET", "/api/v1/devices/"+strings.ToLower(colons(mac)), nil, bearer(sub))
		d := r.json(t)
		chain, _ := d["owner_chain"].([]any)
		if r.StatusCode != 200 || d["mac"] != mac || len(chain) < 2 || chain[len(chain)-1].(map[string]any)["kind"] != "installer" ||
			d["installer_username"] == "" || d["audit"] == nil {
			t.Errorf("device: %d %s", r.StatusCode, r.body)
		}

		// Tenancy: another sub-distributor's device is not found, in the
		// list, by MAC, for delete and in a batch.
		foreign := e.devMAC(t, fmt.Sprintf("a.subdistributor_id <> %d AND p.kind = 'community'", subID))
		if l := e.devList(t, sub, "scope=community&mac="+foreign); l.Total != 0 {
			t.Errorf("foreign MAC listed: %v", macsIn(l))
		}
		for _, c := range []struct{ method, path string }{{"GET", "/api/v1/devices/" + foreign}, {"DELETE", "/api/v1/devices/" + colons(foreign)},
			{"GET", "/api/v1/devices/not-a-mac"}} {
			if r := e.do(nil, c.method, c.path, nil, bearer(sub)); r.StatusCode != 404 || r.errorCode(t) != "not_found" {
				t.Errorf("%s %s: %d %s", c.method, c.path, r.StatusCode, r.body)
			}
		}
		r = e.do(nil, "POST", "/api/v1/devices/batch-delete", map[string]any{"macs": []string{omac, strings.ToLower(foreign)}}, bearer(sub))
		if r.StatusCode != 404 || !strings.Contains(r.errorField(t, "macs"), foreign) {
			t.Errorf("batch with a foreign MAC: %d %s", r.StatusCode, r.body)
		}
		if r := e.do(nil, "GET", "/api/v1/devices/"+omac, nil, bearer(sub)); r.StatusCode != 200 {
			t.Errorf("the refused batch deleted %s: %d", omac, r.StatusCode)
		}
		if _, err := e.st.GetDevice(sysCtx(), foreign); err != nil {
			t.Errorf("the foreign device: %v", err)
		}
		// The installer sees its own devices only; the distributor and the
		// admin see the sub-distributor's.
		instID := e.accountID(t, "demo-installer")
		il := e.devList(t, inst, "scope=community&per_page=500")
		if il.Total != e.devCount(t, fmt.Sprintf("d.installer_id = %d AND p.kind = 'community'", instID)) || il.Total == 0 {
			t.Errorf("installer's list: %d", il.Total)
		}
		for _, it := range il.Items {
			if int64(it["installer_id"].(float64)) != instID {
				t.Errorf("installer sees %v", it)
			}
		}
		for _, who := range []string{"demo-distributor", "demo-admin"} {
			if l := e.devList(t, e.token(who), "scope=community&mac="+mac); l.Total != 1 {
				t.Errorf("%s: %d", who, l.Total)
			}
		}
		if r := e.do(nil, "GET", "/api/v1/devices/"+mac, nil, bearer(e.token("subdistributor-1-2"))); r.StatusCode != 404 {
			t.Errorf("sibling sub-distributor reads the device: %d", r.StatusCode)
		}

		// Delete: 204, gone, audited, and its MAC may be added again.
		var projectID int64
		e.st.DB().QueryRow(`SELECT project_id FROM devices WHERE mac = '` + mac + `'`).Scan(&projectID)
		if r := e.do(nil, "DELETE", "/api/v1/devices/"+colons(mac), nil, bearer(sub)); r.StatusCode != 204 {
			t.Fatalf("delete: %d %s", r.StatusCode, r.body)
		}
		if r := e.do(nil, "GET", "/api/v1/devices/"+mac, nil, bearer(sub)); r.StatusCode != 404 {
			t.Errorf("deleted device: %d", r.StatusCode)
		}
		r = e.do(nil, "GET", "/api/v1/audit?action=device.delete&object_id="+mac, nil, bearer(sub))
		if !strings.Contains(string(r.body), mac) {
			t.Errorf("delete not audited: %s", r.body)
		}
		var owner string
		e.st.DB().QueryRow(fmt.Sprintf(`SELECT a.username FROM projects p JOIN accounts a ON a.id = p.installer_id WHERE p.id = %d`, projectID)).Scan(&owner)
		r = e.do(nil, "POST", "/api/v1/installer/devices", map[string]any{"mac": mac, "project_id": projectID, "type": "door_phone"}, bearer(e.token(owner)))
		if r.StatusCode != 201 {
			t.Errorf("re-adding %s: %d %s", mac, r.StatusCode, r.body)
		}

		// Batch delete: all at once, a MAC twice counts once.
		two := e.devList(t, sub, "scope=personal&per_page=2")
		r = e.do(nil, "POST", "/api/v1/devices/batch-delete", map[string]any{"macs": []string{colons(macsIn(two)[0]), macsIn(two)[1], macsIn(two)[0]}}, bearer(sub))
		if r.StatusCode != 200 || r.json(t)["deleted"] != float64(2) {
			t.Errorf("batch delete: %d %s", r.StatusCode, r.body)
		}
		if l := e.devList(t, sub, "scope=personal&mac="+macsIn(two)[0]); l.Total != 0 {
			t.Errorf("batch-deleted device still listed")
		}
		many := make([]string, 501)
		for i := range many {
			many[i] = fmt.Sprintf("0C11059%05X", i)
		}
		for body, code := range map[string]int{`{"macs": []}`: 400, `{"macs": "x"}`: 400, `{"mac": ["x"]}`: 400, `nope`: 400} {
			if r := e.do(nil, "POST", "/api/v1/devices/batch-delete", body, bearer(sub)); r.StatusCode != code {
				t.Errorf("batch %s: %d %s", body, r.StatusCode, r.body)
			}
		}
		if r := e.do(nil, "POST", "/api/v1/devices/batch-delete", map[string]any{"macs": many}, bearer(sub)); r.StatusCode != 400 || r.errorField(t, "macs") == "" {
			t.Errorf("501 MACs: %d %s", r.StatusCode, r.body)
		}
		// A cookie session needs the CSRF token to delete.
		b := e.browserLogin("demo-subdistributor")
		if r := e.do(b.c, "DELETE", "/api/v1/devices/"+omac, nil); r.StatusCode != 403 {
			t.Errorf("cookie delete without CSRF: %d", r.StatusCode)
		}
		if r := e.do(b.c, "DELETE", "/api/v1/devices/"+omac, nil, "X-CSRF-Token: "+b.csrf); r.StatusCode != 204 {
			t.Errorf("cookie delete with CSRF: %d %s", r.StatusCode, r.body)
		}
		// The installer deletes its own device through the same API.
		imac := str(il.Items[0]["mac"])
		if r := e.do(nil, "DELETE", "/api/v1/devices/"+imac, nil, bearer(inst)); r.StatusCode != 204 {
			t.Errorf("installer delete: %d %s", r.StatusCode, r.body)
		}
		// Without a token: 401.
		if r := e.do(nil, "GET", "/api/v1/devices?scope=community", nil); r.StatusCode != 401 {
			t.Errorf("anonymous: %d", r.StatusCode)
		}
	})
}

// TestDevicesCapped: past 10,000 matches the API says total 10000 with
// total_capped, sorts no index serves are refused naming sort, and the
// page says "more than 10,000".
func TestDevicesCapped(t *testing.T) {
	eachBackend(t, func(t *testing.T, e *env) {
		inst := e.accountID(t, "demo-installer")
		var project int64
		if err := e.st.DB().QueryRow(fmt.Sprintf(`SELECT min(id) FROM projects WHERE kind = 'office' AND installer_id = %d`, inst)).Scan(&project); err != nil || project == 0 {
			t.Fatalf("no office of demo-installer: %v", err)
		}
		first, err := e.st.MaxID(sysCtx(), "devices")
		if err != nil {
			t.Fatal(err)
		}
		const n = store.DeviceCountCap + 20
		rows := make([][]any, 0, n)
		old := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)
		for i := 0; i < n; i++ {
			rows = append(rows, []any{first + 1 + int64(i), fmt.Sprintf("F2%010X", i), inst, project, "door_phone",
				fmt.Sprintf("Spare %05d", i), fmt.Sprintf("9%08d", i), old.Add(time.Duration(i) * time.Second)})
		}
		if err := e.st.BulkInsert(sysCtx(), "devices", []string{"id", "mac", "installer_id", "project_id", "type", "name", "sip", "created_at"}, rows); err != nil {
			t.Fatal(err)
		}
		tok := e.token("demo-subdistributor")
		r := e.do(nil, "GET", "/api/v1/devices?scope=office&per_page=50", nil, bearer(tok))
		if !strings.Contains(string(r.body), `"total": 10000,`) || !strings.Contains(string(r.body), `"total_capped": true`) {
			t.Errorf("capped list: %.300s", r.body)
		}
		if l := e.devList(t, tok, "scope=office&name=spare%200000"); l.Total != 10 || l.TotalCapped != nil {
			t.Errorf("narrow search: total %d capped %v", l.Total, l.TotalCapped)
		}
		r = e.do(nil, "GET", "/api/v1/devices?scope=office&sort=model", nil, bearer(tok))
		if r.StatusCode != 400 || !strings.Contains(r.errorField(t, "sort"), "10,000") {
			t.Errorf("sort by model of a long list: %d %s", r.StatusCode, r.body)
		}
		if l := e.devList(t, tok, "scope=office&sort=sip&order=desc&per_page=3"); macsIn(l)[0] != fmt.Sprintf("F2%010X", n-1) {
			t.Errorf("sort by SIP desc of a long list: %v", macsIn(l))
		}
		// The last page lies past the 10,000 counted and still reads.
		total := e.devCount(t, fmt.Sprintf("a.subdistributor_id = %d AND p.kind = 'office'", e.accountID(t, "demo-subdistributor")))
		// CSV exports the whole filtered list, not a page of it.
		for q, want := range map[string]int{"name=spare%2000&per_page=10": 1000, "": total} {
			r := e.do(nil, "GET", "/api/v1/devices?scope=office&format=csv&"+q, nil, bearer(tok))
			recs, err := csv.NewReader(strings.NewReader(string(r.body))).ReadAll()
			if err != nil || len(recs)-1 != want {
				t.Errorf("CSV %q: %v, %d rows, want %d", q, err, len(recs)-1, want)
			}
		}
		far := e.devList(t, tok, fmt.Sprintf("scope=office&per_page=50&page=%d", (total+49)/50))
		if len(far.Items) != total-(total-1)/50*50 || far.TotalCapped == nil || str(far.Items[len(far.Items)-1]["name"]) != "Spare 00000" {
			t.Errorf("last page of %d: %d items, capped %v", total, len(far.Items), far.TotalCapped)
		}
		b := e.browserLogin("demo-subdistributor")
		page := string(e.do(b.c, "GET", "/project-devices?kind=office", nil).body)
		if !strings.Contains(page, "1–50 of more than 10,000") {
			t.Errorf("page count: %s", grepLine(page, "device-count"))
		}
		// Columns no index orders do not offer to sort the long list.
		if strings.Contains(page, "sort=model") || !strings.Contains(page, "sort=mac") {
			t.Errorf("sort links of a long list: %s", grepLine(page, "data-col=\"model\""))
		}
		page = string(e.do(b.c, "GET", "/project-devices?kind=office&page=200", nil).body)
		if !strings.Contains(page, `rel="next"`) || !strings.Contains(page, "9951–10000 of more than 10,000") {
			t.Errorf("page 200 of a capped list has no next page: %s", grepLine(page, "device-count"))
		}
		if r := e.do(b.c, "GET", "/project-devices?kind=office&sort=model", nil); r.StatusCode != 400 || !strings.Contains(string(r.body), "narrow the search") {
			t.Errorf("page sorted by model: %d", r.StatusCode)
		}
	})
}

func TestDevicesPortal(t *testing.T) {
	eachBackend(t, func(t *testing.T, e *env) {
		subID := e.accountID(t, "demo-subdistributor")
		mine := fmt.Sprintf("a.subdistributor_id = %d", subID)
		b := e.browserLogin("demo-subdistributor")
		get := func(path string) (int, string) {
			r := e.do(b.c, "GET", path, nil)
			return r.StatusCode, string(r.body)
		}
		cmac := e.devMAC(t, mine+" AND p.kind = 'community'")
		omac := e.devMAC(t, mine+" AND p.kind = 'office'")
		pmac := e.devMAC(t, mine+" AND p.kind = 'personal'")
		for _, c := range []struct {
			path, has, hasNot string
		}{
			{"/project-devices", cmac, omac},
			{"/project-devices?kind=community&mac=" + url.QueryEscape(colons(cmac)), cmac, omac},
			{"/project-devices?kind=office", omac, cmac},
			{"/personal-devices", pmac, cmac},
			{"/personal-devices?mac=" + pmac[8:], pmac, omac},
		} {
			st, body := get(c.path)
			if st != 200 || !strings.Contains(body, `data-mac="`+c.has+`"`) || strings.Contains(body, `data-mac="`+c.hasNot+`"`) {
				t.Errorf("%s: %d, has %s: %v, has %s: %v", c.path, st, c.has, strings.Contains(body, c.has), c.hasNot, strings.Contains(body, c.hasNot))
			}
		}
		// The tabs, the searches of each list, the export of the list shown.
		_, body := get("/project-devices?kind=office&manager=x")
		for _, want := range []string{`id="tab-community"`, `id="search-office"`, `id="search-sip"`, "Office Manager", `id="search-online"`,
			"/api/v1/devices?format=csv&amp;manager=x&amp;scope=office", `id="autop"`} {
			if !strings.Contains(body, want) {
				t.Errorf("office page lacks %s", want)
			}
		}
		_, body = get("/personal-devices")
		if !strings.Contains(body, `id="search-name"`) || !strings.Contains(body, "Single-tenant Manager") || strings.Contains(body, `id="tab-office"`) {
			t.Errorf("personal page: %s", grepLine(body, "search-"))
		}
		// Bad input: 400, the field named, the text kept.
		if st, body := get("/project-devices?mac=zz-top"); st != 400 || !strings.Contains(body, "field-error") || !strings.Contains(body, `value="zz-top"`) {
			t.Errorf("bad MAC: %d", st)
		}
		if st, _ := get("/project-devices?kind=personal"); st != 400 {
			t.Errorf("kind=personal: %d", st)
		}

		// The detail page.
		st, body := get("/devices/" + strings.ToLower(colons(cmac)) + "?back=" + url.QueryEscape("/project-devices?kind=community&page=2"))
		for _, want := range []string{`id="remote-maintenance"`, "Remote Control", `id="owner-chain"`, `id="device-audit"`, cmac,
			`href="/project-devices?kind=community&amp;page=2"`, `id="delete-device"`} {
			if st != 200 || !strings.Contains(body, want) {
				t.Errorf("detail lacks %s (%d)", want, st)
			}
		}
		// A way back outside the device lists is not followed.
		if _, body := get("/devices/" + cmac + "?back=https://evil.example/"); strings.Contains(body, "evil.example") {
			t.Error("detail links back to another site")
		}
		foreign := e.devMAC(t, fmt.Sprintf("a.subdistributor_id <> %d", subID))
		for _, path := range []string{"/devices/" + foreign, "/devices/" + foreign + "/delete", "/devices/nonsense"} {
			if st, _ := get(path); st != 404 {
				t.Errorf("%s: %d", path, st)
			}
		}
		if r := e.form(b.c, "/devices/"+foreign+"/delete", url.Values{"csrf_token": {b.csrf}}); r.StatusCode != 404 {
			t.Errorf("deleting a foreign device: %d", r.StatusCode)
		}

		// Delete one: confirmation, CSRF, back to the list with a notice.
		st, body = get("/devices/" + cmac + "/delete?back=" + url.QueryEscape("/project-devices?kind=community"))
		if st != 200 || !strings.Contains(body, `id="confirm-delete"`) || !strings.Contains(body, cmac) {
			t.Errorf("delete confirmation: %d", st)
		}
		if r := e.form(b.c, "/devices/"+cmac+"/delete", url.Values{}); r.StatusCode != 403 {
			t.Errorf("delete without CSRF: %d", r.StatusCode)
		}
		r := e.form(b.c, "/devices/"+cmac+"/delete", url.Values{"csrf_token": {b.csrf}, "back": {"/project-devices?kind=community&mac=" + cmac[:6]}})
		loc := r.Header.Get("Location")
		if r.StatusCode != 303 || !strings.HasPrefix(loc, "/project-devices?") || !strings.Contains(loc, "notice=") || !strings.Contains(loc, "mac="+cmac[:6]) {
			t.Errorf("delete: %d %s", r.StatusCode, loc)
		}
		if _, err := e.st.GetDevice(sysCtx(), cmac); model.ErrorCode(err) != model.ENOTFOUND {
			t.Errorf("deleted device: %v", err)
		}
		if _, body := get(loc); !strings.Contains(body, "deleted") {
			t.Errorf("no notice after delete: %s", grepLine(body, "notice"))
		}

		// Delete a selection: the list's check boxes, a confirmation, then all at once.
		var two []string
		rows, _ := e.st.DB().Query(`SELECT d.mac FROM devices d JOIN accounts a ON a.id = d.installer_id WHERE a.subdistributor_id = ` +
			fmt.Sprint(subID) + ` AND d.project_kind = 'personal' ORDER BY d.id LIMIT 2`)
		for rows.Next() {
			var m string
			rows.Scan(&m)
			two = append(two, m)
		}
		rows.Close()
		r = e.form(b.c, "/devices/batch-delete", url.Values{"csrf_token": {b.csrf}, "mac": two, "back": {"/personal-devices"}})
		if r.StatusCode != 200 || !strings.Contains(string(r.body), "Delete these <strong>2</strong> devices") {
			t.Fatalf("batch confirmation: %d %s", r.StatusCode, grepLine(string(r.body), "Delete these"))
		}
		for _, m := range two {
			if _, err := e.st.GetDevice(sysCtx(), m); err != nil {
				t.Errorf("the confirmation deleted %s", m)
			}
		}
		r = e.form(b.c, "/devices/batch-delete", url.Values{"csrf_token": {b.csrf}, "mac": two, "back": {"/personal-devices"}, "confirm": {"yes"}})
		if r.StatusCode != 303 || !strings.HasPrefix(r.Header.Get("Location"), "/personal-devices?notice=") {
			t.Errorf("batch delete: %d %s", r.StatusCode, r.Header.Get("Location"))
		}
		for _, m := range two {
			if _, err := e.st.GetDevice(sysCtx(), m); model.ErrorCode(err) != model.ENOTFOUND {
				t.Errorf("%s not deleted: %v", m, err)
			}
		}
		// A selection holding another tenant's MAC deletes nothing.
		keep := e.devMAC(t, mine+" AND p.kind = 'office'")
		r = e.form(b.c, "/devices/batch-delete", url.Values{"csrf_token": {b.csrf}, "mac": {keep, foreign}, "confirm": {"yes"}})
		if r.StatusCode != 404 {
			t.Errorf("batch with a foreign MAC: %d", r.StatusCode)
		}
		if _, err := e.st.GetDevice(sysCtx(), keep); err != nil {
			t.Errorf("refused batch deleted %s", keep)
		}
		// Nothing ticked: back to the list, saying so.
		r = e.form(b.c, "/devices/batch-delete", url.Values{"csrf_token": {b.csrf}, "back": {"/project-devices?kind=office"}})
		if r.StatusCode != 303 || !strings.Contains(r.Header.Get("Location"), "kind=office") {
			t.Errorf("empty selection: %d %s", r.StatusCode, r.Header.Get("Location"))
		}

		// The pages are the sub-distributor's.
		for _, who := range []string{"demo-installer", "demo-distributor", "demo-admin"} {
			ob := e.browserLogin(who)
			for _, path := range []string{"/project-devices", "/personal-devices", "/devices/" + keep} {
				if r := e.do(ob.c, "GET", path, nil); r.StatusCode != 403 {
					t.Errorf("%s GET %s: %d", who, path, r.StatusCode)
				}
			}
		}
	})
}

// BenchmarkDevicesAPI times the device lists through the JSON API and the
// portal page, as a client sees them (HTTP, authentication, JSON), on an
// existing demo database, and reports the median and the 95th percentile
// of each request:
//
//	gatehouse demo --data /tmp/gh1m --devices 1000000 --users 1000000 --password demo-password
//	GATEHOUSE_BENCH_DEVICES_DB=/tmp/gh1m/gatehouse.db go test -run '^$' -bench DevicesAPI -benchtime 200x ./internal/server/
//
// (or a postgres:// URL with search_path). Without the variable it runs on
// a small demo data set.
func BenchmarkDevicesAPI(b *testing.B) {
	ctx := context.Background()
	dsn := os.Getenv("GATEHOUSE_BENCH_DEVICES_DB")
	var st *store.Store
	if dsn == "" {
		e := newEnv(b, "sqlite")
		st = e.st
	} else {
		var err error
		if st, err = store.Open(ctx, dsn); err != nil {
			b.Fatal(err)
		}
		defer st.Close()
	}
	if st.Dialect() == store.Postgres {
		if _, err := st.DB().Exec(`VACUUM ANALYZE devices, projects, accounts`); err != nil {
			b.Fatal(err)
		}
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	au := &auth.Service{Store: st, Config: auth.DefaultConfig, Log: log}
	srv, err := server.New(server.Config{}, st, au, mail.NewOutbox(b.TempDir(), "bench@example.com"), log)
	if err != nil {
		b.Fatal(err)
	}
	ts := httptest.NewServer(srv.Handler())
	defer ts.Close()
	e := &env{t: b, st: st, srv: srv, ts: ts, url: ts.URL}
	tok := e.token(demo.SubdistributorUser)
	jar, _ := cookiejar.New(nil)
	browser := noRedirect(jar)
	if r := e.form(browser, "/login", url.Values{"username": {demo.SubdistributorUser}, "password": {demoPassword}}); r.StatusCode != 303 {
		b.Fatalf("login: %d", r.StatusCode)
	}
	// Sample values from the sub-distributor's own lists.
	sample := func(scope string) map[string]any {
		for _, page := range []string{"3", "1"} { // page 1 on a small data set
			var l devList
			r := e.do(nil, "GET", "/api/v1/devices?scope="+scope+"&page="+page, nil, bearer(tok))
			if err := json.Unmarshal(r.body, &l); err != nil {
				b.Fatalf("%s devices: %s", scope, r.body)
			}
			if len(l.Items) > 0 {
				return l.Items[len(l.Items)/2]
			}
		}
		b.Fatalf("no %s devices", scope)
		return nil
	}
	comm, office, home := sample("community"), sample("office"), sample("personal")
	cm, om, hm := str(comm["mac"]), str(office["mac"]), str(home["mac"])
	words := func(s string) []string { return strings.Fields(s) }
	q := url.QueryEscape
	cases := []struct{ name, path string }{
		{"community", "/api/v1/devices?scope=community"},
		{"office", "/api/v1/devices?scope=office"},
		{"personal", "/api/v1/devices?scope=personal"},
		{"community/mac-full", "/api/v1/devices?scope=community&mac=" + q(colons(cm))},
		{"community/mac-last6", "/api/v1/devices?scope=community&mac=" + q(colons(cm)[9:])},
		{"community/mac-last4", "/api/v1/devices?scope=community&mac=" + strings.ToLower(cm[8:])},
		{"community/mac-first8", "/api/v1/devices?scope=community&mac=" + q(colons(cm)[:11])},
		{"community/mac-oui", "/api/v1/devices?scope=community&mac=0C-11-05"},
		{"community/mac-2digits", "/api/v1/devices?scope=community&mac=" + cm[10:]},
		{"community/sip-exact", "/api/v1/devices?scope=community&sip=" + str(comm["sip"])},
		{"community/sip-prefix", "/api/v1/devices?scope=community&sip=" + str(comm["sip"])[:len(str(comm["sip"]))-3]},
		{"community/community", "/api/v1/devices?scope=community&community=" + q(str(comm["project"]))},
		{"community/community-word", "/api/v1/devices?scope=community&community=" + q(words(str(comm["project"]))[0])},
		{"community/manager", "/api/v1/devices?scope=community&manager=" + q(str(comm["manager"]))},
		{"community/online", "/api/v1/devices?scope=community&online=true"},
		{"community/offline", "/api/v1/devices?scope=community&online=false"},
		{"community/page100", "/api/v1/devices?scope=community&page=100"},
		{"office/mac-last4", "/api/v1/devices?scope=office&mac=" + om[8:]},
		{"office/sip-exact", "/api/v1/devices?scope=office&sip=" + str(office["sip"])},
		{"office/office", "/api/v1/devices?scope=office&office=" + q(str(office["project"]))},
		{"office/manager", "/api/v1/devices?scope=office&manager=" + q(str(office["manager"]))},
		{"office/offline", "/api/v1/devices?scope=office&online=false"},
		{"personal/mac-last4", "/api/v1/devices?scope=personal&mac=" + hm[8:]},
		{"personal/name", "/api/v1/devices?scope=personal&name=" + q(str(home["name"]))},
		{"personal/manager", "/api/v1/devices?scope=personal&manager=" + q(str(home["manager"]))},
		{"personal/manager-last-name", "/api/v1/devices?scope=personal&manager=" + q(words(str(home["manager"]))[1])},
		{"personal/sip-exact", "/api/v1/devices?scope=personal&sip=" + str(home["sip"])},
		{"personal/offline", "/api/v1/devices?scope=personal&online=false"},
		{"sort/mac", "/api/v1/devices?scope=community&sort=mac"},
		{"sort/project", "/api/v1/devices?scope=community&sort=project"},
		{"sort/installer", "/api/v1/devices?scope=community&sort=installer"},
		{"sort/manager-desc", "/api/v1/devices?scope=personal&sort=manager&order=desc"},
		{"detail", "/api/v1/devices/" + cm},
		{"csv/community-filtered", "/api/v1/devices?scope=community&format=csv&community=" + q(str(comm["project"]))},
		{"page/project-devices", "/project-devices"},
		{"page/project-devices-office-search", "/project-devices?kind=office&mac=" + om[8:]},
		{"page/personal-devices", "/personal-devices"},
		{"page/device-detail", "/devices/" + cm},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			client, hdr := http.DefaultClient, []string{bearer(tok)}
			if strings.HasPrefix(c.name, "page/") {
				client, hdr = browser, nil
			}
			var ds []time.Duration
			for b.Loop() {
				t0 := time.Now()
				r := e.do(client, "GET", c.path, nil, hdr...)
				ds = append(ds, time.Since(t0))
				if r.StatusCode != 200 {
					b.Fatalf("%s: %d %.300s", c.path, r.StatusCode, r.body)
				}
			}
			slices.Sort(ds)
			at := func(p float64) float64 {
				return float64(ds[min(len(ds)-1, int(p*float64(len(ds))))].Microseconds()) / 1000
			}
			b.ReportMetric(at(0.50), "p50-ms")
			b.ReportMetric(at(0.95), "p95-ms")
		})
	}
}
