package server_test

import (
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"
)

// setHistory replaces device mac's stored transitions with points (as
// hours before now, online or not).
func (e *env) setHistory(t *testing.T, mac string, points ...struct {
	ago    time.Duration
	online bool
}) {
	t.Helper()
	var id int64
	if err := e.st.DB().QueryRow(fmt.Sprintf(`SELECT id FROM devices WHERE mac = '%s'`, mac)).Scan(&id); err != nil {
		t.Fatal(err)
	}
	if _, err := e.st.DB().Exec(fmt.Sprintf(`DELETE FROM device_availability WHERE device_id = %d`, id)); err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	for _, p := range points {
		at := now.Add(-p.ago).Format("2006-01-02 15:04:05.999999-07:00")
		if _, err := e.st.DB().Exec(fmt.Sprintf(`INSERT INTO device_availability (device_id, at, online) VALUES (%d, '%s', %t)`,
			id, at, p.online)); err != nil {
			t.Fatal(err)
		}
	}
}

type histPoint = struct {
	ago    time.Duration
	online bool
}

// recomputeAvailability runs the sweep's recompute as a node would.
func (e *env) recomputeAvailability(t *testing.T) {
	t.Helper()
	if ok, err := e.st.LeaseAvailability(sysCtx(), "test-node", time.Minute); err != nil || !ok {
		t.Fatal(ok, err)
	}
	if _, err := e.st.RecomputeAvailability(sysCtx(), "test-node"); err != nil {
		t.Fatal(err)
	}
}

const demoSubCond = `a.subdistributor_id = (SELECT id FROM accounts WHERE username = 'demo-subdistributor') AND p.kind = 'community'`

// The API answers a device's availability (tenancy, bounds), the device
// JSON carries the stored figure, and the lists sort by it.
func TestDeviceAvailabilityAPI(t *testing.T) {
	eachBackend(t, func(t *testing.T, e *env) {
		day := 24 * time.Hour
		mac := e.devMAC(t, demoSubCond)
		// Added 3 days ago offline, online for the last 2.
		e.setHistory(t, mac, histPoint{3 * day, false}, histPoint{2 * day, true})
		tok := e.token("demo-subdistributor")
		r := e.do(nil, "GET", "/api/v1/devices/"+colons(mac)+"/availability", nil, bearer(tok))
		if r.StatusCode != 200 {
			t.Fatalf("availability: %d %s", r.StatusCode, r.body)
		}
		got := r.json(t)
		if got["basis_points"] != float64(6666) || got["days"] != float64(7) {
			t.Errorf("availability: %v, want 6666 bp over 7 days (2 of the 3 known days online)", got)
		}
		if ks := got["known_seconds"].(float64); ks < 3*86400 || ks > 3*86400+300 {
			t.Errorf("known %v s, want 3 days: the 4 days before it was added count as neither", ks)
		}
		spans := got["spans"].([]any)
		if len(spans) != 3 || spans[0].(map[string]any)["known"] != false || spans[2].(map[string]any)["online"] != true {
			t.Errorf("spans: %v, want unknown, offline, online", spans)
		}
		if r := e.do(nil, "GET", "/api/v1/devices/"+mac+"/availability?days=1", nil, bearer(tok)); r.StatusCode != 200 ||
			r.json(t)["basis_points"] != float64(10000) {
			t.Errorf("1 day: %d %s", r.StatusCode, r.body)
		}
		for _, q := range []string{"0", "31", "seven", "-1", "99999999999"} {
			r := e.do(nil, "GET", "/api/v1/devices/"+mac+"/availability?days="+q, nil, bearer(tok))
			if r.StatusCode != 400 || r.errorField(t, "days") == "" {
				t.Errorf("days=%s: %d %s", q, r.StatusCode, r.body)
			}
		}
		// Another sub-distributor's device, and one that does not exist.
		foreign := e.devMAC(t, `a.subdistributor_id <> (SELECT id FROM accounts WHERE username = 'demo-subdistributor')`)
		for _, m := range []string{foreign, "0C1105FFFFFF", "nonsense"} {
			if r := e.do(nil, "GET", "/api/v1/devices/"+m+"/availability", nil, bearer(tok)); r.StatusCode != 404 {
				t.Errorf("%s: %d %s, want 404", m, r.StatusCode, r.body)
			}
		}
		// The stored figure: 0 until recomputed.
		if v := e.do(nil, "GET", "/api/v1/devices/"+mac, nil, bearer(tok)).json(t)["availability_7d"]; v != float64(0) {
			t.Errorf("before the recompute: %v", v)
		}
		low := e.devMAC(t, demoSubCond+` AND d.mac <> '`+mac+`'`)
		e.setHistory(t, low, histPoint{10 * day, true}, histPoint{6 * day, false}) // 1 of 7 days online
		e.recomputeAvailability(t)
		if v := e.do(nil, "GET", "/api/v1/devices/"+mac, nil, bearer(tok)).json(t)["availability_7d"]; v != 66.66 {
			t.Errorf("after the recompute: %v, want 66.66", v)
		}
		for _, order := range []string{"asc", "desc"} {
			l := e.devList(t, tok, "scope=community&sort=availability&per_page=500&order="+order)
			var vals []float64
			pos := map[string]int{}
			for i, it := range l.Items {
				vals = append(vals, it["availability_7d"].(float64))
				pos[it["mac"].(string)] = i
			}
			for i := 1; i < len(vals); i++ {
				if (order == "asc" && vals[i] < vals[i-1]) || (order == "desc" && vals[i] > vals[i-1]) {
					t.Fatalf("%s: not in order at %d: %v", order, i, vals)
				}
			}
			if _, ok := pos[mac]; !ok || l.Total != len(l.Items) {
				t.Fatalf("%s: %d of %d items, %s missing", order, len(l.Items), l.Total, mac)
			}
			if vals[pos[mac]] != 66.66 || vals[pos[low]] != 14.28 || (order == "asc") != (pos[low] < pos[mac]) {
				t.Errorf("%s: %s at %d (%v), %s at %d (%v)", order, mac, pos[mac], vals[pos[mac]], low, pos[low], vals[pos[low]])
			}
			if vals[0] == vals[len(vals)-1] {
				t.Errorf("%s: every device has %v", order, vals[0])
			}
		}
	})
}

var availRowRE = regexp.MustCompile(`<tr data-mac="([0-9A-F]{12})">`)

// The device page shows the figure, the strip and the transitions; the
// portal's list sorts by availability as the API does; the installer's
// device page shows the panel too.
func TestDeviceAvailabilityPages(t *testing.T) {
	eachBackend(t, func(t *testing.T, e *env) {
		day := 24 * time.Hour
		mac := e.devMAC(t, `a.username = 'demo-installer' AND p.kind = 'community'`)
		e.setHistory(t, mac, histPoint{20 * day, true}, histPoint{3*day + 12*time.Hour, false}, histPoint{day, true})
		b := e.browserLogin("demo-subdistributor")
		r := e.do(b.c, "GET", "/devices/"+mac, nil)
		if r.StatusCode != 200 {
			t.Fatalf("device page: %d", r.StatusCode)
		}
		body := string(r.body)
		// Online 3.5 of 7 days, then offline 2.5, online the last one: 4.5/7.
		for _, want := range []string{`id="availability-strip"`, `<strong>64.28 %</strong> online over the last 7 days`,
			`<title id="availability-title">Availability over the last 7 days: 64.28 % online</title>`, `class="offline"`, `class="online"`} {
			if !strings.Contains(body, want) {
				t.Errorf("the device page lacks %s", want)
			}
		}
		if strings.Contains(body, `class="unknown"`) || strings.Contains(body, "counts as neither") {
			t.Error("a device with history all week shows unknown time")
		}
		if n := strings.Count(body, `<line x1=`); n < 6 || n > 7 {
			t.Errorf("%d day ticks, want 6 or 7", n)
		}
		recent := body[strings.Index(body, `id="availability-recent"`):]
		if i, j := strings.Index(recent, "offline"), strings.Index(recent, "online"); i < 0 || j < 0 || j > i {
			t.Errorf("transitions, newest (online) first: %.300s", recent)
		}
		// A device added 2 days ago: the time before counts as neither.
		young := e.devMAC(t, demoSubCond+` AND d.mac <> '`+mac+`'`)
		e.setHistory(t, young, histPoint{2 * day, true})
		body = string(e.do(b.c, "GET", "/devices/"+young, nil).body)
		if !strings.Contains(body, "<strong>100.00 %</strong>") || !strings.Contains(body, `class="unknown"`) ||
			!strings.Contains(body, "counts as neither online nor offline") {
			t.Errorf("the young device's page: %.2000s", body[strings.Index(body, `id="availability"`):])
		}
		// The portal list in availability order is the API's.
		e.recomputeAvailability(t)
		tok := e.token("demo-subdistributor")
		for _, order := range []string{"asc", "desc"} {
			page := e.do(b.c, "GET", "/project-devices?kind=community&sort=availability&order="+order, nil)
			if page.StatusCode != 200 {
				t.Fatalf("list: %d", page.StatusCode)
			}
			var rows []string
			for _, m := range availRowRE.FindAllStringSubmatch(string(page.body), -1) {
				rows = append(rows, m[1])
			}
			l := e.devList(t, tok, "scope=community&sort=availability&order="+order)
			var api []string
			for _, it := range l.Items {
				api = append(api, it["mac"].(string))
			}
			if len(rows) == 0 || strings.Join(rows, ",") != strings.Join(api, ",") {
				t.Errorf("%s: the page's rows %v, the API's %v", order, rows, api)
			}
			if !strings.Contains(string(page.body), "dl-sort active "+order) {
				t.Errorf("%s: the Availability header is not the active sort", order)
			}
		}
		// Another sub-distributor's device: not found.
		foreign := e.devMAC(t, `a.subdistributor_id <> (SELECT id FROM accounts WHERE username = 'demo-subdistributor')`)
		if r := e.do(b.c, "GET", "/devices/"+foreign, nil); r.StatusCode != 404 {
			t.Errorf("a foreign device's page: %d", r.StatusCode)
		}
		// The installer's device page.
		ib := e.browserLogin("demo-installer")
		if r := e.do(ib.c, "GET", "/installer/devices/"+mac, nil); r.StatusCode != 200 || !strings.Contains(string(r.body), "<strong>64.28 %</strong>") {
			t.Errorf("the installer's device page: %d", r.StatusCode)
		}
	})
}
