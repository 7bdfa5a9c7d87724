package server_test

import (
	"fmt"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/model"
)

// dashSQL runs a test's own SQL with ? placeholders on either back end.
func dashSQL(t *testing.T, e *env, query string, args ...any) {
	t.Helper()
	if _, err := e.st.DB().Exec(pgArgs(e, query), args...); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
}

func pgArgs(e *env, query string) string {
	if e.st.Dialect() != "postgres" {
		return query
	}
	var b strings.Builder
	n := 0
	for _, c := range query {
		if c == '?' {
			n++
			fmt.Fprintf(&b, "$%d", n)
		} else {
			b.WriteRune(c)
		}
	}
	return b.String()
}

func dashCount(t *testing.T, e *env, query string, args ...any) int64 {
	t.Helper()
	var n int64
	if err := e.st.DB().QueryRow(pgArgs(e, query), args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return n
}

func accountID(t *testing.T, e *env, username string) int64 {
	return dashCount(t, e, `SELECT id FROM accounts WHERE username = ?`, username)
}

// dashSetup puts a third of the demo's devices online, and failed commands
// on a device of demo-subdistributor and one of subdistributor-1-2, then
// recomputes the summaries. It returns the failed commands' ids by
// sub-distributor.
func dashSetup(t *testing.T, e *env) map[string][]int64 {
	t.Helper()
	dashSQL(t, e, `UPDATE devices SET online = (id % 3 = 0)`)
	failed := map[string][]int64{}
	now := e.st.Now()
	for _, sub := range []string{"demo-subdistributor", "subdistributor-1-2"} {
		dev := dashCount(t, e, `SELECT min(id) FROM devices WHERE subdistributor_id = ?`, accountID(t, e, sub))
		for i, kind := range []string{"reboot", "autop", "autop"} {
			at := now.Add(-time.Duration(i+1) * time.Hour)
			dashSQL(t, e, `INSERT INTO device_commands (device_id, kind, status, created_at, finished_at, expires_at, error)
				VALUES (?, ?, 'failed', ?, ?, ?, 'timed out')`, dev, kind, at, at, at.Add(time.Hour))
			if kind == "autop" {
				failed[sub] = append(failed[sub], dashCount(t, e, `SELECT max(id) FROM device_commands`))
			}
		}
	}
	// End users: a third expire within 30 days, a third in 45, a third
	// expired yesterday.
	for i, days := range []int{10, 45, -1} {
		dashSQL(t, e, `UPDATE end_users SET app_expires_at = ? WHERE id % 3 = ?`, now.AddDate(0, 0, days), i)
	}
	if err := e.st.RecomputeDashboard(sysCtx()); err != nil {
		t.Fatal(err)
	}
	return failed
}

// dashExpiringKind is the end users' project kind of an end-user list.
var dashExpiringKind = map[string]string{"villa": "personal", "community": "community", "office": "office"}

// checkExpiringLinks follows the expiring figures of a home page (one per
// end-user list, each linked) and checks that each list counts the
// figure, which is the users of scope (a column = id) whose App service
// expires within 30 days.
func checkExpiringLinks(t *testing.T, e *env, b *http.Client, figs map[string][2]string, scope string, id int64) {
	t.Helper()
	now := e.st.Now()
	var sum int64
	for _, list := range []string{"villa", "community", "office"} {
		label := map[string]string{"villa": "Villa", "community": "Community", "office": "Office"}[list] + " users expiring"
		f, ok := figs[label]
		if !ok {
			t.Fatalf("no linked figure %q: %v", label, figs)
		}
		u, err := url.Parse(f[0])
		if err != nil || u.Query().Get("expiring") != "30" || (u.Path != "/users/"+list && u.Query().Get("kind") != list) {
			t.Errorf("%s links to %s", label, f[0])
		}
		want := dashCount(t, e, `SELECT count(*) FROM end_users WHERE `+scope+` = ? AND project_kind = ? AND app_expires_at >= ? AND app_expires_at < ?`,
			id, dashExpiringKind[list], now, now.AddDate(0, 0, 30))
		sum += want
		if atoiComma(t, f[1]) != int(want) {
			t.Errorf("%s: figure %s, want %d", label, f[1], want)
		}
		page := e.do(b, "GET", f[0], nil)
		body := string(page.body)
		if want == 0 {
			if page.StatusCode != 200 || !strings.Contains(body, "No users match.") {
				t.Errorf("%s → %s: %d, want no users", label, f[0], page.StatusCode)
			}
			continue
		}
		m := listTotalRE.FindStringSubmatch(body)
		if page.StatusCode != 200 || m == nil || atoiComma(t, m[1]) != int(want) {
			t.Errorf("%s → %s: %d, total %v, want %d", label, f[0], page.StatusCode, m, want)
		}
		if !strings.Contains(body, `id="search-expiring"`) || !strings.Contains(body, `value="30"`) {
			t.Errorf("%s → %s: the search form does not show the filter", label, f[0])
		}
	}
	if sum == 0 {
		t.Errorf("%s %d: no expiring users to follow", scope, id)
	}
	if f := figs["End users expiring within 30 days"]; f[1] != "" && atoiComma(t, f[1]) != int(sum) {
		t.Errorf("expiring total %s, want %d", f[1], sum)
	}
}

func TestDashboardAPIPerRole(t *testing.T) {
	eachBackend(t, func(t *testing.T, e *env) {
		failed := dashSetup(t, e)
		for _, c := range []struct {
			user, scope string
		}{
			{"demo-subdistributor", "subdistributor_id"}, {"subdistributor-1-2", "subdistributor_id"},
			{"demo-distributor", "distributor_id"}, {"demo-installer", "installer_id"}, {"demo-admin", ""},
		} {
			where, args := "1=1", []any{}
			if c.scope != "" {
				where, args = c.scope+" = ?", []any{accountID(t, e, c.user)}
			}
			online := dashCount(t, e, `SELECT count(*) FROM devices WHERE online AND `+where, args...)
			offline := dashCount(t, e, `SELECT count(*) FROM devices WHERE NOT online AND `+where, args...)
			r := e.do(nil, "GET", "/api/v1/dashboard", nil, bearer(e.token(c.user)))
			if r.StatusCode != 200 {
				t.Fatalf("%s: %d %s", c.user, r.StatusCode, r.body)
			}
			m := r.json(t)
			if m["devices_online"] != float64(online) || m["devices_offline"] != float64(offline) || online == 0 || offline == 0 {
				t.Errorf("%s: online %v offline %v, want %d and %d", c.user, m["devices_online"], m["devices_offline"], online, offline)
			}
			if m["as_of"] == nil {
				t.Errorf("%s: no as_of", c.user)
			}
			wantAutoP := map[string]int{"demo-subdistributor": 2, "subdistributor-1-2": 2, "demo-distributor": 4, "demo-admin": 4}[c.user]
			if c.user == "demo-installer" && dashCount(t, e, `SELECT count(*) FROM device_commands c JOIN devices d ON d.id = c.device_id
				WHERE c.status = 'failed' AND c.kind = 'autop' AND d.installer_id = ?`, args...) > 0 {
				wantAutoP = 2
			}
			if m["failed_autop"] != float64(wantAutoP) {
				t.Errorf("%s: failed_autop %v, want %d", c.user, m["failed_autop"], wantAutoP)
			}
			// Payments: the distributor always, the sub-distributors with the
			// feature (both have it in the demo); never the admin.
			if got := m["payments"] == true; got != (c.user != "demo-admin") {
				t.Errorf("%s: payments %v", c.user, m["payments"])
			}
		}
		// The failed-commands list: exactly the sub-distributor's own.
		r := e.do(nil, "GET", "/api/v1/failed-commands?kind=autop", nil, bearer(e.token("subdistributor-1-2")))
		var got []int64
		for _, it := range r.json(t)["items"].([]any) {
			got = append(got, int64(it.(map[string]any)["id"].(float64)))
		}
		slices.Sort(got)
		if fmt.Sprint(got) != fmt.Sprint(failed["subdistributor-1-2"]) {
			t.Errorf("subdistributor-1-2 failed AutoP: %v, want %v", got, failed["subdistributor-1-2"])
		}
		if r := e.do(nil, "GET", "/api/v1/failed-commands?kind=bogus", nil, bearer(e.token("demo-admin"))); r.StatusCode != 400 || r.errorField(t, "kind") == "" {
			t.Errorf("kind=bogus: %d %s", r.StatusCode, r.body)
		}
		if r := e.do(nil, "GET", "/api/v1/dashboard", nil); r.StatusCode != http.StatusUnauthorized {
			t.Errorf("anonymous dashboard: %d", r.StatusCode)
		}
	})
}

var (
	dashFigRE   = regexp.MustCompile(`<a class="dash-fig[^"]*" href="([^"]+)"><span class="dash-num">([^<]+)</span><span class="dash-label">([^<]+)</span>`)
	dashMonthRE = regexp.MustCompile(`<a href="([^"]+)" data-month="([^"]+)">([^<]+)</a>`)
	listTotalRE = regexp.MustCompile(`(?:of|–\d+ of) ([\d,]+)</span>`)
	failedRowRE = regexp.MustCompile(`data-command="(\d+)"`)
	dashShareRE = regexp.MustCompile(`<a href="([^"]+)" title="([\d,]+) in the (\w+) list">`)
)

func atoiComma(t *testing.T, s string) int {
	t.Helper()
	n, err := strconv.Atoi(strings.ReplaceAll(strings.TrimSpace(s), ",", ""))
	if err != nil {
		t.Fatalf("not a number: %q", s)
	}
	return n
}

// Each figure of the home page leads to a list showing exactly its rows.
func TestDashboardPageLinksLeadToTheirRows(t *testing.T) {
	eachBackend(t, func(t *testing.T, e *env) {
		failed := dashSetup(t, e)
		b := e.browserLogin("demo-subdistributor")
		home := e.do(b.c, "GET", "/", nil)
		body := string(home.body)
		if home.StatusCode != 200 || !strings.Contains(body, `id="dashboard"`) || !strings.Contains(body, "<svg") ||
			!strings.Contains(body, `class="card"`) || !strings.Contains(body, "as of") {
			t.Fatalf("home: %d %s", home.StatusCode, body)
		}
		figs := map[string][2]string{}
		for _, m := range dashFigRE.FindAllStringSubmatch(body, -1) {
			figs[m[3]] = [2]string{html.UnescapeString(m[1]), m[2]}
		}
		sub := accountID(t, e, "demo-subdistributor")
		for _, c := range []struct {
			label, kind string
			online      bool
		}{
			{"Community offline", "community", false}, {"Community online", "community", true},
			{"Office offline", "office", false}, {"Personal online", "personal", true}, {"Personal offline", "personal", false},
		} {
			f, ok := figs[c.label]
			if !ok {
				t.Fatalf("no figure %q on the home page: %v", c.label, figs)
			}
			want := dashCount(t, e, `SELECT count(*) FROM devices WHERE subdistributor_id = ? AND project_kind = ? AND online = ?`, sub, c.kind, c.online)
			if atoiComma(t, f[1]) != int(want) {
				t.Errorf("%s: figure %s, want %d", c.label, f[1], want)
			}
			list := e.do(b.c, "GET", f[0], nil)
			m := listTotalRE.FindStringSubmatch(string(list.body))
			if list.StatusCode != 200 || m == nil || atoiComma(t, m[1]) != int(want) {
				t.Errorf("%s → %s: %d, total %v, want %d", c.label, f[0], list.StatusCode, m, want)
			}
		}
		// Devices by model and by firmware: each share's list links count
		// the share's devices of that list, and the list shows as many.
		shares := dashShareRE.FindAllStringSubmatch(body, -1)
		if len(shares) < 4 {
			t.Fatalf("%d share links", len(shares))
		}
		for _, m := range shares {
			link := html.UnescapeString(m[1])
			u, err := url.Parse(link)
			if err != nil {
				t.Fatal(err)
			}
			kind := map[string]string{"/personal-devices": "personal", "/project-devices": "community"}[u.Path]
			if u.Query().Get("kind") == "office" {
				kind = "office"
			}
			col, val := "model", u.Query().Get("model")
			if val == "" {
				col, val = "firmware", u.Query().Get("firmware")
			}
			want := dashCount(t, e, `SELECT count(*) FROM devices WHERE subdistributor_id = ? AND project_kind = ? AND `+col+` = ?`, sub, kind, val)
			if atoiComma(t, m[2]) != int(want) || m[3] != kind {
				t.Errorf("%s: figure %s (%s), want %d", link, m[2], m[3], want)
			}
			list := e.do(b.c, "GET", link, nil)
			tm := listTotalRE.FindStringSubmatch(string(list.body))
			if list.StatusCode != 200 || tm == nil || atoiComma(t, tm[1]) != int(want) {
				t.Errorf("%s: %d, total %v, want %d", link, list.StatusCode, tm, want)
			}
		}
		// Failed AutoP: the list holds exactly the rows counted.
		f := figs["Failed AutoP, last 24 h"]
		if f[1] != "2" {
			t.Errorf("failed AutoP figure %q", f[1])
		}
		list := e.do(b.c, "GET", f[0], nil)
		var got []int64
		for _, m := range failedRowRE.FindAllStringSubmatch(string(list.body), -1) {
			id, _ := strconv.ParseInt(m[1], 10, 64)
			got = append(got, id)
		}
		slices.Sort(got)
		if fmt.Sprint(got) != fmt.Sprint(failed["demo-subdistributor"]) {
			t.Errorf("failed AutoP list %v, want %v", got, failed["demo-subdistributor"])
		}
		// Orders: this month's figure leads to Payments of this month.
		months := dashMonthRE.FindAllStringSubmatch(body, -1)
		if len(months) != model.DashboardMonths {
			t.Fatalf("%d month rows", len(months))
		}
		checked := 0
		for _, m := range months {
			n := atoiComma(t, m[3])
			from, _ := time.Parse("2006-01", m[2])
			want := dashCount(t, e, `SELECT count(*) FROM orders WHERE subdistributor_id = ? AND hidden = false AND created_at >= ? AND created_at < ?`,
				sub, from, from.AddDate(0, 1, 0))
			if int64(n) != want {
				t.Errorf("month %s: figure %d, want %d", m[2], n, want)
			}
			if n == 0 {
				continue
			}
			checked++
			list := e.do(b.c, "GET", html.UnescapeString(m[1]), nil)
			tm := listTotalRE.FindStringSubmatch(string(list.body))
			if list.StatusCode != 200 || tm == nil || atoiComma(t, tm[1]) != n {
				t.Errorf("month %s → %s: %d, total %v, want %d", m[2], m[1], list.StatusCode, tm, n)
			}
		}
		if checked == 0 {
			t.Error("no month with orders in the demo")
		}
		// Another sub-distributor's page does not list demo-subdistributor's failures.
		b2 := e.browserLogin("subdistributor-1-2")
		other := string(e.do(b2.c, "GET", "/failed-commands?kind=autop", nil).body)
		for _, id := range failed["demo-subdistributor"] {
			if strings.Contains(other, fmt.Sprintf(`data-command="%d"`, id)) {
				t.Errorf("subdistributor-1-2 sees command %d of demo-subdistributor", id)
			}
		}
		// The installer's figures lead to its one device list, filtered.
		ib := e.browserLogin("demo-installer")
		inst := accountID(t, e, "demo-installer")
		ihome := string(e.do(ib.c, "GET", "/", nil).body)
		ifigs := map[string][2]string{}
		for _, m := range dashFigRE.FindAllStringSubmatch(ihome, -1) {
			ifigs[m[3]] = [2]string{html.UnescapeString(m[1]), m[2]}
		}
		links := map[string]int64{
			ifigs["Online now"][0]:  dashCount(t, e, `SELECT count(*) FROM devices WHERE installer_id = ? AND online`, inst),
			ifigs["Offline now"][0]: dashCount(t, e, `SELECT count(*) FROM devices WHERE installer_id = ? AND NOT online`, inst),
		}
		for _, m := range regexp.MustCompile(`<a href="(/installer/devices\?(model|firmware)=[^"]+)">`).FindAllStringSubmatch(ihome, -1) {
			u, _ := url.Parse(html.UnescapeString(m[1]))
			links[u.String()] = dashCount(t, e, `SELECT count(*) FROM devices WHERE installer_id = ? AND `+m[2]+` = ?`, inst, u.Query().Get(m[2]))
		}
		if len(links) < 4 {
			t.Fatalf("installer links: %v", links)
		}
		for link, want := range links {
			list := e.do(ib.c, "GET", link, nil)
			tm := listTotalRE.FindStringSubmatch(string(list.body))
			if list.StatusCode != 200 || tm == nil || atoiComma(t, tm[1]) != int(want) {
				t.Errorf("installer %s: %d, total %v, want %d", link, list.StatusCode, tm, want)
			}
		}
		// The expiring end users: one figure per list, each leading to the
		// list with the expiring filter (the sub-distributor's Users lists,
		// the installer's own users list).
		checkExpiringLinks(t, e, b.c, figs, "subdistributor_id", sub)
		checkExpiringLinks(t, e, ib.c, ifigs, "installer_id", inst)
		// Every role's home page renders its dashboard.
		for _, u := range []string{"demo-admin", "demo-distributor", "demo-installer"} {
			r := e.do(e.browserLogin(u).c, "GET", "/", nil)
			if r.StatusCode != 200 || !strings.Contains(string(r.body), `id="dashboard"`) {
				t.Errorf("%s home: %d", u, r.StatusCode)
			}
		}
	})
}
