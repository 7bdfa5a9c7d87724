package server_test

import (
	"context"
	"database/sql"
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

// euList is the JSON answer of GET /api/v1/end-users.
type euList struct {
	Items       []map[string]any `json:"items"`
	Total       int              `json:"total"`
	TotalCapped *bool            `json:"total_capped"`
	Page        int              `json:"page"`
	PerPage     int              `json:"per_page"`
}

func (e *env) euList(t *testing.T, tok, query string) euList {
	t.Helper()
	r := e.do(nil, "GET", "/api/v1/end-users?"+query, nil, bearer(tok))
	var l euList
	if r.StatusCode != 200 {
		t.Fatalf("GET end-users?%s: %d %s", query, r.StatusCode, r.body)
	}
	if err := json.Unmarshal(r.body, &l); err != nil {
		t.Fatalf("end-users?%s: %v", query, err)
	}
	return l
}

// euCount counts end users with SQL of its own: the list's expected total.
// kind is a project kind; cond a condition on u (end users), p (projects)
// and a (the installer).
func (e *env) euCount(t *testing.T, kind, cond string) int {
	t.Helper()
	var n int
	q := `SELECT count(*) FROM end_users u JOIN projects p ON p.id = u.project_id JOIN accounts a ON a.id = u.installer_id
		WHERE p.kind = '` + kind + `' AND ` + cond
	if err := e.st.DB().QueryRow(q).Scan(&n); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return n
}

func (e *env) accountID(t *testing.T, username string) int64 {
	t.Helper()
	a, _, err := e.st.AccountForLogin(context.Background(), username)
	if err != nil {
		t.Fatal(err)
	}
	return a.ID
}

// euKeys are the JSON names of each list's items: the guide's columns.
var euKeys = map[string][]string{
	"villa": {"id", "name", "sip", "email", "mobile", "installer", "family_master", "address", "phone", "active", "premium",
		"created_at", "expires_app", "expires_premium"},
}

func init() {
	euKeys["community"] = append(slices.Clone(euKeys["villa"]), "community")
	euKeys["office"] = append(slices.Clone(euKeys["villa"]), "office")
}

func sortedKeys(m map[string]any) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

func str(v any) string { s, _ := v.(string); return s }

// euAddMembers gives the first villa and community family master of an
// installer a family member each (the small demo data set has none).
func (e *env) euAddMembers(t *testing.T, installer string) {
	t.Helper()
	a, _, err := e.st.AccountForLogin(context.Background(), installer)
	if err != nil {
		t.Fatal(err)
	}
	ctx := model.WithActor(context.Background(), model.ActorOf(a))
	for _, kind := range []string{"personal", "community"} {
		var master, project int64
		var apt sql.NullInt64
		if err := e.st.DB().QueryRow(fmt.Sprintf(`SELECT u.id, u.project_id, u.apartment_id FROM end_users u JOIN projects p ON p.id = u.project_id
			WHERE u.installer_id = %d AND p.kind = '%s' AND u.role = 'family_master' ORDER BY u.id LIMIT 1`, a.ID, kind)).Scan(&master, &project, &apt); err != nil {
			t.Fatalf("no %s family master of %s: %v", kind, installer, err)
		}
		if err := e.st.AddEndUser(ctx, &model.EndUser{ProjectID: project, ApartmentID: apt.Int64, Role: model.FamilyMember,
			FamilyMasterID: master, Name: "Family Member Of " + kind, SIP: fmt.Sprintf("5550%d", master), Email: "member@mail.example"}); err != nil {
			t.Fatal(err)
		}
	}
}

func TestEndUsersAPI(t *testing.T) {
	eachBackend(t, func(t *testing.T, e *env) {
		e.euAddMembers(t, "demo-installer")
		tok := e.token("demo-subdistributor")
		sub := e.accountID(t, "demo-subdistributor")
		inScope := fmt.Sprintf("a.subdistributor_id = %d", sub)
		kinds := map[string]string{"villa": "personal", "community": "community", "office": "office"}
		first := map[string]map[string]any{}
		for kind, pkind := range kinds {
			l := e.euList(t, tok, "kind="+kind+"&per_page=500")
			want := e.euCount(t, pkind, inScope)
			if l.Total != want || len(l.Items) != want || want == 0 || l.Page != 1 || l.PerPage != 500 || l.TotalCapped != nil {
				t.Fatalf("%s: total %d, %d items, want %d (page %d per_page %d capped %v)", kind, l.Total, len(l.Items), want, l.Page, l.PerPage, l.TotalCapped)
			}
			wantKeys := slices.Clone(euKeys[kind])
			slices.Sort(wantKeys)
			var prev time.Time
			for i, it := range l.Items {
				if got := sortedKeys(it); !slices.Equal(got, wantKeys) {
					t.Fatalf("%s item keys %q, want %q", kind, got, wantKeys)
				}
				created, err := time.Parse(time.RFC3339, str(it["created_at"]))
				if err != nil || (i > 0 && created.After(prev)) {
					t.Errorf("%s: not newest first at item %d: %v after %v", kind, i, created, prev)
				}
				prev = created
			}
			first[kind] = l.Items[0]
			// Every listed id is the sub-distributor's, in the list's kind.
			var ids []string
			for _, it := range l.Items {
				ids = append(ids, fmt.Sprint(int64(it["id"].(float64))))
			}
			if n := e.euCount(t, pkind, inScope+" AND u.id IN ("+strings.Join(ids, ",")+")"); n != len(ids) {
				t.Errorf("%s list holds %d users outside the sub-distributor's %s users", kind, len(ids)-n, kind)
			}
		}
		// Property managers are community users.
		if n := e.euCount(t, "community", inScope+" AND u.role = 'property_manager'"); n == 0 {
			t.Fatal("the demo sub-distributor has no property manager")
		}

		// Account Type.
		for _, c := range []struct{ kind, at, cond string }{
			{"villa", "family_master", "u.role = 'family_master'"},
			{"villa", "family_member", "u.role = 'family_member'"},
			{"community", "family_master", "u.role = 'family_master'"},
			{"community", "family_member", "u.role = 'family_member'"},
			{"community", "all", "1=1"},
			{"office", "all", "1=1"},
		} {
			l := e.euList(t, tok, "kind="+c.kind+"&account_type="+c.at+"&per_page=500")
			if want := e.euCount(t, kinds[c.kind], inScope+" AND "+c.cond); l.Total != want || len(l.Items) != want {
				t.Errorf("%s account_type=%s: total %d, want %d", c.kind, c.at, l.Total, want)
			}
		}
		member := e.euList(t, tok, "kind=villa&account_type=family_member&per_page=500")
		for _, it := range member.Items {
			if fm := str(it["family_master"]); fm == "" || fm == str(it["name"]) {
				t.Errorf("family member %s has family master %q", it["name"], fm)
			}
		}

		// Search Type: each search finds the sample row, and only rows
		// whose column matches.
		v, c, o := first["villa"], first["community"], first["office"]
		lastWord := func(s string) string { f := strings.Fields(s); return f[len(f)-1] }
		for _, s := range []struct {
			kind, st, q, col string
			prefix           bool
			sample           map[string]any
		}{
			{"villa", "sip", str(v["sip"]), "sip", true, v},
			{"villa", "sip", str(v["sip"])[:5], "sip", true, v},
			{"community", "name", strings.ToUpper(lastWord(str(c["name"]))), "name", false, c},
			{"villa", "email", strings.Split(str(v["email"]), "@")[0], "email", false, v},
			{"office", "mobile", str(o["mobile"])[3:], "mobile", false, o},
			{"community", "installer", lastWord(str(c["installer"])), "installer", false, c},
			{"villa", "family_master", str(v["family_master"]), "family_master", false, v},
			{"office", "office", strings.ToLower(str(o["office"])), "office", false, o},
		} {
			q := url.Values{"kind": {s.kind}, "search_type": {s.st}, "q": {s.q}, "per_page": {"500"}}
			l := e.euList(t, tok, q.Encode())
			found := false
			for _, it := range l.Items {
				got := str(it[s.col])
				if ok := strings.HasPrefix(got, s.q); !ok && (s.prefix || !strings.Contains(strings.ToLower(got), strings.ToLower(s.q))) {
					t.Errorf("%s %s=%q lists %q with %s %q", s.kind, s.st, s.q, it["name"], s.col, got)
				}
				found = found || it["id"] == s.sample["id"]
			}
			if !found || l.Total != len(l.Items) {
				t.Errorf("%s %s=%q: the sample %q is not among %d rows", s.kind, s.st, s.q, s.sample["name"], l.Total)
			}
		}
		// A SIP matches from its start, not in its middle.
		if l := e.euList(t, tok, "kind=villa&search_type=sip&q="+str(v["sip"])[2:]); l.Total != 0 {
			t.Errorf("SIP search for the middle of a number found %d", l.Total)
		}
		// Paging keeps the order and the total.
		all := e.euList(t, tok, "kind=community&per_page=500")
		p2 := e.euList(t, tok, "kind=community&per_page=5&page=2")
		if p2.Total != all.Total || len(p2.Items) != 5 || p2.Items[0]["id"] != all.Items[5]["id"] {
			t.Errorf("page 2: total %d, first id %v, want %v", p2.Total, p2.Items[0]["id"], all.Items[5]["id"])
		}

		// CSV: the guide's columns of each list and the whole filtered list.
		for kind, head := range map[string]string{
			"villa":     "id,name,sip,email,mobile,installer,family_master,address,phone,active,premium,created_at,expires_app,expires_premium",
			"community": "id,name,sip,email,mobile,installer,community,family_master,address,phone,active,premium,created_at,expires_app,expires_premium",
			"office":    "id,name,sip,email,mobile,installer,office,phone,active,created_at,expires_app",
		} {
			r := e.do(nil, "GET", "/api/v1/end-users?kind="+kind+"&per_page=1&format=csv", nil, bearer(tok))
			recs, err := csv.NewReader(strings.NewReader(string(r.body))).ReadAll()
			if r.StatusCode != 200 || err != nil || !strings.HasPrefix(r.Header.Get("Content-Type"), "text/csv") ||
				!strings.Contains(r.Header.Get("Content-Disposition"), kind+"-users.csv") {
				t.Fatalf("%s csv: %d %v %s", kind, r.StatusCode, err, r.body)
			}
			if strings.Join(recs[0], ",") != head {
				t.Errorf("%s csv header %q", kind, recs[0])
			}
			if want := e.euCount(t, kinds[kind], inScope); len(recs)-1 != want {
				t.Errorf("%s csv has %d rows, want %d", kind, len(recs)-1, want)
			}
		}
		r := e.do(nil, "GET", "/api/v1/end-users?kind=villa&account_type=family_member&format=csv", nil, bearer(tok))
		recs, _ := csv.NewReader(strings.NewReader(string(r.body))).ReadAll()
		if len(recs)-1 != member.Total || member.Total == 0 {
			t.Errorf("filtered csv: %d rows, want %d", len(recs)-1, member.Total)
		}
		for _, rec := range recs[1:] {
			if rec[6] == "" || rec[6] == rec[1] {
				t.Errorf("filtered csv row is no family member: %q", rec)
			}
		}

		// Bad parameters answer 400 naming the field.
		for q, field := range map[string]string{
			"":                                       "kind",
			"kind=villas":                            "kind",
			"kind=villa&account_type=owner":          "account_type",
			"kind=office&account_type=family_master": "account_type",
			"kind=villa&search_type=office&q=x":      "search_type",
			"kind=office&search_type=family_master&q=x":                 "search_type",
			"kind=villa&search_type=colour&q=x":                         "search_type",
			"kind=villa&q=x":                                            "search_type",
			"kind=villa&search_type=name&q=" + strings.Repeat("x", 129): "q",
			"kind=villa&per_page=501":                                   "per_page",
			"kind=villa&page=0":                                         "page",
			"kind=villa&format=xml":                                     "format",
		} {
			if r := e.do(nil, "GET", "/api/v1/end-users?"+q, nil, bearer(tok)); r.StatusCode != 400 || r.errorCode(t) != "invalid" || r.errorField(t, field) == "" {
				t.Errorf("%s: %d %s, want 400 naming %s", q, r.StatusCode, r.body, field)
			}
		}

		// Detail: one's own user; another sub-distributor's is not found,
		// in the API and in the portal.
		cid := int64(c["id"].(float64))
		d := e.do(nil, "GET", fmt.Sprintf("/api/v1/end-users/%d", cid), nil, bearer(tok))
		dj := d.json(t)
		if d.StatusCode != 200 || dj["name"] != c["name"] || dj["kind"] != "community" || dj["community"] != c["community"] || dj["role"] == "" {
			t.Errorf("detail: %d %s", d.StatusCode, d.body)
		}
		var foreign int64
		if err := e.st.DB().QueryRow(fmt.Sprintf(`SELECT min(u.id) FROM end_users u JOIN accounts a ON a.id = u.installer_id
			WHERE a.subdistributor_id <> %d`, sub)).Scan(&foreign); err != nil || foreign == 0 {
			t.Fatalf("no user of another sub-distributor: %v", err)
		}
		for _, p := range []string{fmt.Sprintf("/api/v1/end-users/%d", foreign), "/api/v1/end-users/99999999", "/api/v1/end-users/abc"} {
			if r := e.do(nil, "GET", p, nil, bearer(tok)); r.StatusCode != 404 || r.errorCode(t) != "not_found" {
				t.Errorf("%s: %d %s", p, r.StatusCode, r.body)
			}
		}
		b := e.browserLogin("demo-subdistributor")
		if r := e.do(b.c, "GET", fmt.Sprintf("/users/end-users/%d", foreign), nil); r.StatusCode != 404 {
			t.Errorf("portal detail of another sub-distributor's user: %d", r.StatusCode)
		}
		if r := e.do(b.c, "GET", fmt.Sprintf("/users/end-users/%d", cid), nil); r.StatusCode != 200 || !strings.Contains(string(r.body), str(c["name"])) {
			t.Errorf("portal detail: %d", r.StatusCode)
		}
		// ... but its own sub-distributor reads it.
		var ownerName string
		if err := e.st.DB().QueryRow(fmt.Sprintf(`SELECT s.username FROM end_users u JOIN accounts a ON a.id = u.installer_id
			JOIN accounts s ON s.id = a.subdistributor_id WHERE u.id = %d`, foreign)).Scan(&ownerName); err != nil {
			t.Fatal(err)
		}
		if r := e.do(nil, "GET", fmt.Sprintf("/api/v1/end-users/%d", foreign), nil, bearer(e.token(ownerName))); r.StatusCode != 200 {
			t.Errorf("%s reads its own user: %d", ownerName, r.StatusCode)
		}

		// The installer, the distributor and the admin use the API within
		// their subtree; the pages are the sub-distributor's.
		inst := e.accountID(t, "demo-installer")
		il := e.euList(t, e.token("demo-installer"), "kind=community&per_page=500")
		if want := e.euCount(t, "community", fmt.Sprintf("u.installer_id = %d", inst)); il.Total != want || want == 0 {
			t.Errorf("installer sees %d community users, want %d", il.Total, want)
		}
		dist := e.accountID(t, "demo-distributor")
		dl := e.euList(t, e.token("demo-distributor"), "kind=office&per_page=500")
		if want := e.euCount(t, "office", fmt.Sprintf("a.distributor_id = %d", dist)); dl.Total != want || want <= e.euCount(t, "office", inScope) {
			t.Errorf("distributor sees %d office users, want %d", dl.Total, want)
		}
		if al := e.euList(t, e.token("demo-admin"), "kind=villa&per_page=1"); al.Total != e.euCount(t, "personal", "1=1") {
			t.Errorf("admin sees %d villa users", al.Total)
		}
		for _, who := range []string{"demo-installer", "demo-distributor"} {
			if r := e.do(e.browserLogin(who).c, "GET", "/users/villa", nil); r.StatusCode != 403 {
				t.Errorf("%s opens /users/villa: %d", who, r.StatusCode)
			}
		}
		if r := e.do(nil, "GET", "/api/v1/end-users?kind=villa", nil); r.StatusCode != 401 {
			t.Errorf("anonymous: %d", r.StatusCode)
		}
	})
}

var thRE = regexp.MustCompile(`<th>([^<]*)</th>`)

// euHeader is the header of the end-user table of a page.
func euHeader(body string) []string {
	i := strings.Index(body, `id="endusers-list"`)
	j := strings.Index(body[max(i, 0):], "</thead>")
	if i < 0 || j < 0 {
		return nil
	}
	var out []string
	for _, m := range thRE.FindAllStringSubmatch(body[i:i+j], -1) {
		out = append(out, m[1])
	}
	return out
}

func TestEndUsersPortal(t *testing.T) {
	e := newEnv(t, "sqlite")
	b := e.browserLogin("demo-subdistributor")
	shared := []string{"Name", "SIP", "Email", "Mobile Number", "Installer"}
	for path, want := range map[string][]string{
		"/users/villa": append(slices.Clone(shared), "Family Master", "Address", "Phone", "Active", "Premium Plan", "Created Time",
			"Expiration Time(App)", "Expiration Time(Premium)", "Action"),
		"/users/community": append(slices.Clone(shared), "Community", "Family Master", "Address", "Phone", "Active", "Premium Plan",
			"Created Time", "Expiration Time(App)", "Expiration Time(Premium)", "Action"),
		"/users/office": append(slices.Clone(shared), "Office", "Phone", "Active", "Created Time", "Expiration Time(App)", "Action"),
	} {
		r := e.do(b.c, "GET", path, nil)
		body := string(r.body)
		if r.StatusCode != 200 {
			t.Fatalf("%s: %d", path, r.StatusCode)
		}
		if got := euHeader(body); !slices.Equal(got, want) {
			t.Errorf("%s columns %q, want %q", path, got, want)
		}
		if hasAT := strings.Contains(body, `name="account_type"`); hasAT == (path == "/users/office") {
			t.Errorf("%s: Account Type filter shown: %v", path, hasAT)
		}
		kind := strings.TrimPrefix(path, "/users/")
		if !strings.Contains(body, `href="/api/v1/end-users?format=csv&amp;kind=`+kind+`"`) {
			t.Errorf("%s: no CSV export link of its list: %s", path, grepLine(body, "export"))
		}
		if !strings.Contains(body, `href="/users/`+kind+`" class="active"`) {
			t.Errorf("%s: its tab is not the active one", path)
		}
		cells := strings.Count(body, `<tr data-id=`)
		if cells == 0 {
			t.Errorf("%s: no rows", path)
		}
	}
	// A search keeps its values, and the export link exports that search.
	r := e.do(b.c, "GET", "/users/community?account_type=family_master&search_type=email&q=mail.example", nil)
	body := string(r.body)
	if r.StatusCode != 200 || !strings.Contains(body, `value="mail.example"`) || !strings.Contains(body, `<option value="email" selected>`) ||
		!strings.Contains(body, `<option value="family_master" selected>`) {
		t.Errorf("search values not kept: %d", r.StatusCode)
	}
	if !strings.Contains(body, "account_type=family_master") || !strings.Contains(body, "q=mail.example") {
		t.Errorf("export link without the search: %s", grepLine(body, "export"))
	}
	// Bad input: 400, the field named, the text kept.
	r = e.do(b.c, "GET", "/users/office?account_type=family_master&search_type=family_master&q=abc", nil)
	body = string(r.body)
	if r.StatusCode != 400 || !strings.Contains(body, "office users have no account type") || !strings.Contains(body, `class="field-error"`) ||
		!strings.Contains(body, `value="abc"`) {
		t.Errorf("bad office search: %d %s", r.StatusCode, grepLine(body, "error"))
	}
	if r := e.do(b.c, "GET", "/users/villa?per_page=9999", nil); r.StatusCode != 400 || !strings.Contains(string(r.body), "per_page") {
		t.Errorf("bad per_page: %d", r.StatusCode)
	}
	for _, p := range []string{"/users/end-users/abc", "/users/end-users/0", "/users/end-users/99999999"} {
		if r := e.do(b.c, "GET", p, nil); r.StatusCode != 404 {
			t.Errorf("%s: %d", p, r.StatusCode)
		}
	}
}

func grepLine(s, sub string) string {
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			return strings.TrimSpace(l)
		}
	}
	return ""
}

// TestEndUsersCapped: past 10,000 matches the API says total 10000 with
// total_capped, the page says "more than 10,000", and the pages go on.
func TestEndUsersCapped(t *testing.T) {
	eachBackend(t, func(t *testing.T, e *env) {
		inst := e.accountID(t, "demo-installer")
		var project int64
		if err := e.st.DB().QueryRow(fmt.Sprintf(`SELECT min(id) FROM projects WHERE kind = 'office' AND installer_id = %d`, inst)).Scan(&project); err != nil || project == 0 {
			t.Fatalf("no office of demo-installer: %v", err)
		}
		first, err := e.st.MaxID(sysCtx(), "end_users")
		if err != nil {
			t.Fatal(err)
		}
		const n = store.EndUserCountCap + 20
		rows := make([][]any, 0, n)
		old := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)
		for i := 0; i < n; i++ {
			rows = append(rows, []any{first + 1 + int64(i), inst, project, "office_staff", fmt.Sprintf("Temp Worker %05d", i),
				fmt.Sprintf("9%08d", i), "", "", "", "", true, false, old.Add(time.Duration(i) * time.Second)})
		}
		if err := e.st.BulkInsert(sysCtx(), "end_users", []string{"id", "installer_id", "project_id", "role", "name", "sip", "email",
			"mobile", "phone", "address", "active", "premium", "created_at"}, rows); err != nil {
			t.Fatal(err)
		}
		tok := e.token("demo-subdistributor")
		r := e.do(nil, "GET", "/api/v1/end-users?kind=office&per_page=50", nil, bearer(tok))
		if !strings.Contains(string(r.body), `"total": 10000,`) || !strings.Contains(string(r.body), `"total_capped": true`) {
			t.Errorf("capped list: %.300s", r.body)
		}
		l := e.euList(t, tok, "kind=office&search_type=name&q=worker%200000")
		if l.Total != 10 || l.TotalCapped != nil {
			t.Errorf("narrow search: total %d capped %v", l.Total, l.TotalCapped)
		}
		// The last page lies past the 10,000 counted and still reads.
		total := e.euCount(t, "office", fmt.Sprintf("a.subdistributor_id = %d", e.accountID(t, "demo-subdistributor")))
		far := e.euList(t, tok, fmt.Sprintf("kind=office&per_page=50&page=%d", (total+49)/50))
		if len(far.Items) != total-(total-1)/50*50 || far.TotalCapped == nil || !*far.TotalCapped || str(far.Items[len(far.Items)-1]["name"]) != "Temp Worker 00000" {
			t.Errorf("last page of %d: %d items, capped %v", total, len(far.Items), far.TotalCapped)
		}
		// An email or mobile text too short (or too common) to count fast in
		// a list this long is refused naming q, in the API and the portal;
		// a name searches by its words however common.
		r = e.do(nil, "GET", "/api/v1/end-users?kind=office&search_type=mobile&q=5", nil, bearer(tok))
		if r.StatusCode != 400 || !strings.Contains(string(r.body), `"q"`) || !strings.Contains(string(r.body), "at least 3 characters") {
			t.Errorf("short mobile search of a long list: %d %.300s", r.StatusCode, r.body)
		}
		if l := e.euList(t, tok, "kind=office&search_type=name&q=temp"); l.Total != 10000 || l.TotalCapped == nil || !*l.TotalCapped ||
			str(l.Items[0]["name"]) != fmt.Sprintf("Temp Worker %05d", n-1) {
			t.Errorf("common name: total %d, capped %v", l.Total, l.TotalCapped)
		}
		b := e.browserLogin("demo-subdistributor")
		rp := e.do(b.c, "GET", "/users/office?search_type=email&q=a", nil)
		if page := string(rp.body); rp.StatusCode != 400 || !strings.Contains(page, "at least 3 characters") || !strings.Contains(page, `name="q"`) {
			t.Errorf("portal, short email search of a long list: %d %s", rp.StatusCode, grepLine(page, "at least"))
		}
		page := string(e.do(b.c, "GET", "/users/office", nil).body)
		if !strings.Contains(page, "1–50 of more than 10,000") {
			t.Errorf("page count: %s", grepLine(page, "enduser-count"))
		}
		page = string(e.do(b.c, "GET", "/users/office?page=200", nil).body)
		if !strings.Contains(page, `rel="next"`) || !strings.Contains(page, "9951–10000 of more than 10,000") {
			t.Errorf("page 200 of a capped list has no next page: %s", grepLine(page, "enduser-count"))
		}
	})
}

// BenchmarkEndUsersAPI times the end-user lists through the JSON API and
// the portal page, as a client sees them (HTTP, authentication, JSON), as
// demo-subdistributor, first page of 50 with its count, on an existing demo
// database, and reports the median and the 95th percentile of each request
// (the refused searches answer 400, which is their answer):
//
//	gatehouse demo --data /tmp/gh1m --devices 1000000 --users 1000000 --password demo-password
//	GATEHOUSE_BENCH_ENDUSERS_DB=/tmp/gh1m/gatehouse.db go test -run '^$' -bench EndUsersAPI -benchtime 200x ./internal/server/
//
// (or a postgres:// URL with search_path). Without the variable it runs on
// a small demo data set.
func BenchmarkEndUsersAPI(b *testing.B) {
	ctx := context.Background()
	dsn := os.Getenv("GATEHOUSE_BENCH_ENDUSERS_DB")
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
		if _, err := st.DB().Exec(`VACUUM ANALYZE end_users, end_user_words, projects, accounts`); err != nil {
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
	sample := func(kind, extra string) map[string]any {
		var l euList
		r := e.do(nil, "GET", "/api/v1/end-users?kind="+kind+extra, nil, bearer(tok))
		if err := json.Unmarshal(r.body, &l); err != nil || len(l.Items) == 0 {
			b.Fatalf("%s%s users: %s", kind, extra, r.body)
		}
		return l.Items[len(l.Items)/2]
	}
	comm, villa, office := sample("community", ""), sample("villa", ""), sample("office", "")
	member := villa // its own family master where there are no villa family members (a small data set)
	if dsn != "" {
		member = sample("villa", "&account_type=family_member")
	}
	name := strings.Fields(str(comm["name"]))
	q := url.QueryEscape
	c := func(st, text string) string {
		return "/api/v1/end-users?kind=community&search_type=" + st + "&q=" + q(text)
	}
	mobile := str(office["mobile"])
	cases := []struct{ name, path string }{
		{"community", "/api/v1/end-users?kind=community"},
		{"villa", "/api/v1/end-users?kind=villa"},
		{"office", "/api/v1/end-users?kind=office"},
		{"villa/family_member", "/api/v1/end-users?kind=villa&account_type=family_member"},
		{"community/page100", "/api/v1/end-users?kind=community&page=100"},
		{"community/sip-exact", c("sip", str(comm["sip"]))},
		{"community/sip-prefix", c("sip", str(comm["sip"])[:6])},
		{"community/name-full", c("name", str(comm["name"]))},
		{"community/name-last", c("name", name[1])},
		{"community/name-2chars", c("name", name[1][:2])},
		{"community/name-last-masters", c("name", name[1]) + "&account_type=family_master"},
		{"community/email-full", c("email", str(comm["email"]))},
		{"community/email-first-name (refused)", c("email", strings.ToLower(name[0])+".")},
		{"villa/email", "/api/v1/end-users?kind=villa&search_type=email&q=" + q(strings.Split(str(villa["email"]), "@")[0])},
		{"office/mobile", "/api/v1/end-users?kind=office&search_type=mobile&q=" + q(mobile[len(mobile)-9:])},
		{"community/installer", c("installer", str(comm["installer"]))},
		{"community/family_master-last", c("family_master", name[1])},
		{"villa/family_master", "/api/v1/end-users?kind=villa&search_type=family_master&q=" + q(str(member["family_master"]))},
		{"office/office", "/api/v1/end-users?kind=office&search_type=office&q=" + q(str(office["office"]))},
		{"page/community", "/users/community"},
		{"page/community-name-last", "/users/community?search_type=name&q=" + q(name[1])},
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
				if r.StatusCode != 200 && (r.StatusCode != 400 || !strings.HasSuffix(c.name, "(refused)")) {
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
