package server_test

import (
	"strings"
	"testing"
)

// The end-user lists' expiring filter through the API and the portal: the
// API lists exactly the caller's users expiring within the days, and the
// dashboard's figure per list equals that count; a bad number of days is a
// 400 naming expiring, in the API, the sub-distributor's and the
// installer's portal.
func TestEndUserListExpiringFilter(t *testing.T) {
	eachBackend(t, func(t *testing.T, e *env) {
		dashSetup(t, e)
		now := e.st.Now()
		sub := accountID(t, e, "demo-subdistributor")
		tok := bearer(e.token("demo-subdistributor"))
		dash := e.do(nil, "GET", "/api/v1/dashboard", nil, tok).json(t)
		byList := map[string]float64{}
		for _, x := range dash["end_users_expiring_by_list"].([]any) {
			m := x.(map[string]any)
			byList[m["list"].(string)] = m["end_users"].(float64)
		}
		var sum float64
		for _, list := range []string{"villa", "community", "office"} {
			want := dashCount(t, e, `SELECT count(*) FROM end_users WHERE subdistributor_id = ? AND project_kind = ? AND app_expires_at >= ? AND app_expires_at < ?`,
				sub, dashExpiringKind[list], now, now.AddDate(0, 0, 30))
			r := e.do(nil, "GET", "/api/v1/end-users?kind="+list+"&expiring=30&per_page=200", nil, tok)
			m := r.json(t)
			if r.StatusCode != 200 || m["total"] != float64(want) || len(m["items"].([]any)) != int(want) {
				t.Errorf("%s expiring=30: %d total %v, want %d", list, r.StatusCode, m["total"], want)
			}
			if byList[list] != float64(want) {
				t.Errorf("dashboard %s expiring %v, want %d", list, byList[list], want)
			}
			sum += float64(want)
		}
		if sum == 0 || dash["end_users_expiring"] != sum {
			t.Errorf("end_users_expiring %v, lists %v", dash["end_users_expiring"], sum)
		}
		for _, bad := range []string{"0", "366", "-3", "abc", "1.5"} {
			r := e.do(nil, "GET", "/api/v1/end-users?kind=villa&expiring="+bad, nil, tok)
			if r.StatusCode != 400 || r.errorField(t, "expiring") == "" {
				t.Errorf("API expiring=%s: %d %s", bad, r.StatusCode, r.body)
			}
		}
		b := e.browserLogin("demo-subdistributor")
		if r := e.do(b.c, "GET", "/users/community?expiring=400", nil); r.StatusCode != 400 || !strings.Contains(string(r.body), "expiring") {
			t.Errorf("portal expiring=400: %d", r.StatusCode)
		}
		ib := e.browserLogin("demo-installer")
		if r := e.do(ib.c, "GET", "/installer/users?kind=community&expiring=x", nil); r.StatusCode != 400 || !strings.Contains(string(r.body), "expiring") {
			t.Errorf("installer portal expiring=x: %d", r.StatusCode)
		}
	})
}
