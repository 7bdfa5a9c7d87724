package server_test

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/api"
	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/model"
	"github.com/gatehouse-dev/gatehouse/internal/server"
	"github.com/gatehouse-dev/gatehouse/internal/testutil"
)

func eachBackend(t *testing.T, fn func(t *testing.T, e *env)) {
	for _, b := range testutil.Backends(t) {
		t.Run(b, func(t *testing.T) {
			t.Parallel()
			fn(t, newEnv(t, b))
		})
	}
}

func TestLoginAPI(t *testing.T) {
	eachBackend(t, func(t *testing.T, e *env) {
		r := e.do(nil, "POST", "/api/v1/auth/login", map[string]string{"username": "demo-subdistributor", "password": demoPassword})
		if r.StatusCode != 200 {
			t.Fatalf("login: %d %s", r.StatusCode, r.body)
		}
		body := r.json(t)
		tok, _ := body["token"].(string)
		if !strings.HasPrefix(tok, auth.SessionPrefix) || body["csrf_token"] == "" {
			t.Errorf("login body: %s", r.body)
		}
		var cookie *http.Cookie
		for _, c := range r.Cookies() {
			if c.Name == server.SessionCookie {
				cookie = c
			}
		}
		if cookie == nil || !cookie.HttpOnly || cookie.SameSite != http.SameSiteLaxMode || cookie.Secure || cookie.Value != tok {
			t.Errorf("session cookie: %+v", cookie)
		}
		me := e.do(nil, "GET", "/api/v1/me", nil, bearer(tok))
		if me.StatusCode != 200 || me.json(t)["username"] != "demo-subdistributor" {
			t.Errorf("me: %d %s", me.StatusCode, me.body)
		}
		// Case-insensitive user names, wrong passwords and unknown users.
		if r := e.do(nil, "POST", "/api/v1/auth/login", map[string]string{"username": "DEMO-Subdistributor", "password": demoPassword}); r.StatusCode != 200 {
			t.Errorf("user name in other case: %d", r.StatusCode)
		}
		for _, body := range []map[string]string{
			{"username": "demo-subdistributor", "password": "wrong-password"},
			{"username": "nobody-here", "password": demoPassword},
		} {
			if r := e.do(nil, "POST", "/api/v1/auth/login", body); r.StatusCode != 401 || r.errorCode(t) != "unauthorized" {
				t.Errorf("bad login %v: %d %s", body, r.StatusCode, r.body)
			}
		}
		r = e.do(nil, "POST", "/api/v1/auth/login", map[string]string{"username": ""})
		if r.StatusCode != 400 || r.errorField(t, "username") == "" || r.errorField(t, "password") == "" {
			t.Errorf("empty login: %d %s", r.StatusCode, r.body)
		}
		// Logout by bearer ends the session for every later request.
		if r := e.do(nil, "POST", "/api/v1/auth/logout", nil, bearer(tok)); r.StatusCode != 204 {
			t.Errorf("logout: %d %s", r.StatusCode, r.body)
		}
		if r := e.do(nil, "GET", "/api/v1/me", nil, bearer(tok)); r.StatusCode != 401 {
			t.Errorf("after logout: %d", r.StatusCode)
		}
		if r := e.do(nil, "GET", "/api/v1/me", nil); r.StatusCode != 401 || r.errorCode(t) != "unauthorized" {
			t.Errorf("anonymous: %d %s", r.StatusCode, r.body)
		}
	})
}

func TestLoginThrottle(t *testing.T) {
	e := newEnv(t, "sqlite")
	bad := map[string]string{"username": "demo-installer", "password": "wrong-password"}
	for i := 0; i < 10; i++ {
		if r := e.do(nil, "POST", "/api/v1/auth/login", bad); r.StatusCode != 401 {
			t.Fatalf("failure %d: %d", i+1, r.StatusCode)
		}
	}
	// The 11th attempt is refused, even with the right password.
	r := e.do(nil, "POST", "/api/v1/auth/login", map[string]string{"username": "demo-installer", "password": demoPassword})
	if r.StatusCode != 429 || r.errorCode(t) != "too_many_requests" {
		t.Fatalf("11th attempt: %d %s", r.StatusCode, r.body)
	}
	ra, err := strconv.Atoi(r.Header.Get("Retry-After"))
	if err != nil || ra < 1 || ra > 15*60 {
		t.Errorf("Retry-After: %q", r.Header.Get("Retry-After"))
	}
	// The lock is of the (user name, address) pair: another user behind the
	// same address still logs in, and the portal form answers 429 as well,
	// with a message saying when to try again.
	if r := e.do(nil, "POST", "/api/v1/auth/login", map[string]string{"username": "demo-admin", "password": demoPassword}); r.StatusCode != 200 {
		t.Errorf("same address, other user: %d", r.StatusCode)
	}
	if r := e.form(nil, "/login", url.Values{"username": {"demo-installer"}, "password": {demoPassword}}); r.StatusCode != 429 || r.Header.Get("Retry-After") == "" ||
		!strings.Contains(string(r.body), "minute") {
		t.Errorf("form login while throttled: %d %s", r.StatusCode, grep(string(r.body), "Too many"))
	}
	// Sixteen minutes later the window has passed.
	e.st.SetClock(func() time.Time { return time.Now().UTC().Add(16 * time.Minute) })
	if r := e.do(nil, "POST", "/api/v1/auth/login", map[string]string{"username": "demo-installer", "password": demoPassword}); r.StatusCode != 200 {
		t.Errorf("after the window: %d %s", r.StatusCode, r.body)
	}
}

func TestSessionExpiryAndRestart(t *testing.T) {
	eachBackend(t, func(t *testing.T, e *env) {
		tok := e.token("demo-distributor")
		// A second server on the same database knows the session: they are
		// stored, not held in memory.
		srv2, err := server.New(server.Config{}, e.st, e.auth, e.mail, slog.New(slog.NewTextHandler(io.Discard, nil)))
		if err != nil {
			t.Fatal(err)
		}
		ts2 := httptest.NewServer(srv2.Handler())
		defer ts2.Close()
		req, _ := http.NewRequest("GET", ts2.URL+"/api/v1/me", nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		res, err := http.DefaultClient.Do(req)
		if err != nil || res.StatusCode != 200 {
			t.Fatalf("session on a restarted server: %v %v", res, err)
		}
		res.Body.Close()
		// Idle expiry: 2 hours without use end the session.
		base := time.Now().UTC()
		e.st.SetClock(func() time.Time { return base.Add(auth.DefaultConfig.IdleTimeout + time.Minute) })
		if r := e.do(nil, "GET", "/api/v1/me", nil, bearer(tok)); r.StatusCode != 401 {
			t.Errorf("idle session: %d", r.StatusCode)
		}
		// Absolute expiry: a session used every hour still ends after 7 days.
		e.st.SetClock(func() time.Time { return base })
		tok = e.token("demo-distributor")
		for h := time.Duration(0); h <= auth.DefaultConfig.AbsoluteTimeout+time.Hour; h += time.Hour {
			e.st.SetClock(func() time.Time { return base.Add(h) })
			r := e.do(nil, "GET", "/api/v1/me", nil, bearer(tok))
			if h < auth.DefaultConfig.AbsoluteTimeout && r.StatusCode != 200 {
				t.Fatalf("session used hourly ended after %s: %d", h, r.StatusCode)
			}
			if h > auth.DefaultConfig.AbsoluteTimeout && r.StatusCode != 401 {
				t.Fatalf("session alive after %s", h)
			}
		}
	})
}

func TestCSRF(t *testing.T) {
	e := newEnv(t, "sqlite")
	b := e.browserLogin("demo-distributor")
	subs, _ := e.st.ListAccounts(sysCtx(), model.AccountFilter{Role: model.RoleSubdistributor, Search: "subdistributor-1-3", Page: model.Page{Page: 1, PerPage: 1}})
	id := subs.Items[0].ID
	path := fmt.Sprintf("/subdistributors/%d/switches", id)
	// Without the token: 403, and nothing changes.
	if r := e.form(b.c, path, url.Values{"payment_enabled": {"on"}}); r.StatusCode != 403 {
		t.Errorf("form without CSRF: %d", r.StatusCode)
	}
	if r := e.form(b.c, path, url.Values{"payment_enabled": {"on"}, "csrf_token": {"forged"}}); r.StatusCode != 403 {
		t.Errorf("form with a wrong CSRF token: %d", r.StatusCode)
	}
	if a, _ := e.st.GetAccount(sysCtx(), id); a.PaymentEnabled {
		t.Fatal("a refused request changed the switch")
	}
	if r := e.form(b.c, path, url.Values{"payment_enabled": {"on"}, "csrf_token": {b.csrf}}); r.StatusCode != 303 {
		t.Errorf("form with CSRF: %d %s", r.StatusCode, r.body)
	}
	if a, _ := e.st.GetAccount(sysCtx(), id); !a.PaymentEnabled {
		t.Error("switch not saved")
	}
	// The JSON API with the cookie needs X-CSRF-Token; with a bearer token it does not.
	patch := map[string]bool{"pay_by_distributor": true}
	if r := e.do(b.c, "PATCH", fmt.Sprintf("/api/v1/subdistributors/%d", id), patch); r.StatusCode != 403 || r.errorCode(t) != "forbidden" {
		t.Errorf("cookie PATCH without CSRF: %d %s", r.StatusCode, r.body)
	}
	if r := e.do(b.c, "PATCH", fmt.Sprintf("/api/v1/subdistributors/%d", id), patch, "X-CSRF-Token: "+b.csrf); r.StatusCode != 200 {
		t.Errorf("cookie PATCH with CSRF: %d %s", r.StatusCode, r.body)
	}
	if r := e.do(nil, "POST", "/api/v1/auth/logout", nil, bearer(e.token("demo-distributor"))); r.StatusCode != 204 {
		t.Errorf("bearer logout: %d", r.StatusCode)
	}
	// A cross-site login form post is refused (login CSRF).
	if r := e.do(nil, "POST", "/login", url.Values{"username": {"demo-admin"}, "password": {demoPassword}}.Encode(),
		"Content-Type: application/x-www-form-urlencoded", "Sec-Fetch-Site: cross-site"); r.StatusCode != 403 {
		t.Errorf("cross-site login: %d", r.StatusCode)
	}
	// Logging out from the portal needs the token too.
	if r := e.form(b.c, "/logout", nil); r.StatusCode != 403 {
		t.Errorf("logout without CSRF: %d", r.StatusCode)
	}
	if r := e.form(b.c, "/logout", url.Values{"csrf_token": {b.csrf}}); r.StatusCode != 303 || r.Header.Get("Location") != "/login" {
		t.Errorf("logout: %d %s", r.StatusCode, r.Header.Get("Location"))
	}
	if r := e.do(b.c, "GET", "/firmware", nil); r.StatusCode != 303 || !strings.HasPrefix(r.Header.Get("Location"), "/login") {
		t.Errorf("after logout: %d %s", r.StatusCode, r.Header.Get("Location"))
	}
}

func TestSecureCookieBehindTLSProxy(t *testing.T) {
	e := newEnv(t, "sqlite")
	srv, _ := server.New(server.Config{TrustProxy: true}, e.st, e.auth, e.mail, slog.New(slog.NewTextHandler(io.Discard, nil)))
	rec := httptest.NewRecorder()
	req := httptest.NewRequest("POST", "/api/v1/auth/login", strings.NewReader(`{"username":"demo-admin","password":"demo-password"}`))
	req.Header.Set("X-Forwarded-Proto", "https")
	srv.Handler().ServeHTTP(rec, req)
	if c := rec.Result().Cookies(); rec.Code != 200 || len(c) != 1 || !c[0].Secure {
		t.Errorf("cookie behind TLS: %d %+v", rec.Code, c)
	}
}

func TestAPITokens(t *testing.T) {
	e := newEnv(t, "sqlite")
	tok := e.token("demo-subdistributor")
	r := e.do(nil, "POST", "/api/v1/tokens", map[string]any{"name": "nightly export", "expires_in_days": 30}, bearer(tok))
	if r.StatusCode != 201 {
		t.Fatalf("create token: %d %s", r.StatusCode, r.body)
	}
	apiTok := r.json(t)["token"].(string)
	id := int64(r.json(t)["id"].(float64))
	if !strings.HasPrefix(apiTok, auth.APITokenPrefix) {
		t.Errorf("token %q", apiTok)
	}
	if r := e.do(nil, "GET", "/api/v1/firmware", nil, bearer(apiTok)); r.StatusCode != 200 {
		t.Errorf("API token use: %d", r.StatusCode)
	}
	list := e.do(nil, "GET", "/api/v1/tokens", nil, bearer(apiTok))
	if strings.Contains(string(list.body), apiTok) || !strings.Contains(string(list.body), "nightly export") {
		t.Errorf("token list: %s", list.body)
	}
	if r := e.do(nil, "POST", "/api/v1/tokens", map[string]any{"name": "", "expires_in_days": -1}, bearer(tok)); r.StatusCode != 400 || r.errorField(t, "expires_in_days") == "" {
		t.Errorf("bad token request: %d %s", r.StatusCode, r.body)
	}
	// Another account cannot revoke it; its owner can.
	if r := e.do(nil, "DELETE", fmt.Sprintf("/api/v1/tokens/%d", id), nil, bearer(e.token("demo-distributor"))); r.StatusCode != 404 {
		t.Errorf("foreign revoke: %d", r.StatusCode)
	}
	if r := e.do(nil, "DELETE", fmt.Sprintf("/api/v1/tokens/%d", id), nil, bearer(tok)); r.StatusCode != 204 {
		t.Errorf("revoke: %d", r.StatusCode)
	}
	if r := e.do(nil, "GET", "/api/v1/firmware", nil, bearer(apiTok)); r.StatusCode != 401 {
		t.Errorf("revoked token: %d", r.StatusCode)
	}
	if r := e.do(nil, "GET", "/api/v1/me", nil, "Authorization: Basic abc"); r.StatusCode != 401 {
		t.Errorf("non-bearer authorization: %d", r.StatusCode)
	}
}

func TestFirmwareAPI(t *testing.T) {
	eachBackend(t, func(t *testing.T, e *env) {
		tok := e.token("demo-installer")
		r := e.do(nil, "GET", "/api/v1/firmware?model=r29&per_page=3", nil, bearer(tok))
		var l struct {
			Items   []model.Firmware `json:"items"`
			Total   int              `json:"total"`
			Page    int              `json:"page"`
			PerPage int              `json:"per_page"`
		}
		if err := json.Unmarshal(r.body, &l); err != nil || r.StatusCode != 200 {
			t.Fatalf("list: %d %s", r.StatusCode, r.body)
		}
		// Four R29 versions and the demo's stored R29C image: the model
		// search matches a part of the model, as the guide's search boxes do.
		if l.Total != 5 || len(l.Items) != 3 || l.Page != 1 || l.PerPage != 3 {
			t.Errorf("list shape: total %d items %d page %d per_page %d", l.Total, len(l.Items), l.Page, l.PerPage)
		}
		for _, f := range l.Items {
			if !strings.HasPrefix(f.Model, "R29") {
				t.Errorf("model filter let %s through", f.Model)
			}
		}
		one := e.do(nil, "GET", fmt.Sprintf("/api/v1/firmware/%d", l.Items[0].ID), nil, bearer(tok))
		if one.StatusCode != 200 || one.json(t)["version"] != l.Items[0].Version {
			t.Errorf("detail: %d %s", one.StatusCode, one.body)
		}
		for _, p := range []string{"/api/v1/firmware/999999", "/api/v1/firmware/abc", "/api/v1/firmware/-1"} {
			if r := e.do(nil, "GET", p, nil, bearer(tok)); r.StatusCode != 404 || r.errorCode(t) != "not_found" {
				t.Errorf("%s: %d %s", p, r.StatusCode, r.body)
			}
		}
		// CSV export holds the whole filtered list, not one page.
		csv := e.do(nil, "GET", "/api/v1/firmware?model=R29&per_page=1&format=csv", nil, bearer(tok))
		lines := strings.Split(strings.TrimSpace(string(csv.body)), "\n")
		if csv.StatusCode != 200 || !strings.HasPrefix(csv.Header.Get("Content-Type"), "text/csv") || !strings.HasPrefix(lines[0], "version,model,change_log") {
			t.Errorf("csv: %d %s", csv.StatusCode, csv.body)
		}
		if n := strings.Count(string(csv.body), ",R29,"); n != 4 {
			t.Errorf("csv has %d R29 rows, want 4", n)
		}
		// Bad parameters name the field.
		for q, field := range map[string]string{"per_page=501": "per_page", "page=0": "page", "format=xml": "format", "page=x": "page"} {
			if r := e.do(nil, "GET", "/api/v1/firmware?"+q, nil, bearer(tok)); r.StatusCode != 400 || r.errorField(t, field) == "" {
				t.Errorf("%s: %d %s", q, r.StatusCode, r.body)
			}
		}
		// Only the admin adds firmware; bad input names the field and adds nothing.
		fw := map[string]string{"version": "9.9.9", "model": "R29", "file_url": "https://fw.example/x.rom", "checksum": strings.Repeat("0", 64)}
		if r := e.do(nil, "POST", "/api/v1/firmware", fw, bearer(tok)); r.StatusCode != 403 {
			t.Errorf("installer adds firmware: %d", r.StatusCode)
		}
		admin := e.token("demo-admin")
		bad := map[string]string{"version": "9.9.9", "model": "R29", "file_url": "nope", "checksum": "x"}
		if r := e.do(nil, "POST", "/api/v1/firmware", bad, bearer(admin)); r.StatusCode != 400 || r.errorField(t, "file_url") == "" || r.errorField(t, "checksum") == "" {
			t.Errorf("bad firmware: %d %s", r.StatusCode, r.body)
		}
		if r := e.do(nil, "POST", "/api/v1/firmware", `{"version": 9}`, bearer(admin)); r.StatusCode != 400 || r.errorField(t, "version") == "" {
			t.Errorf("wrong type: %d %s", r.StatusCode, r.body)
		}
		if r := e.do(nil, "POST", "/api/v1/firmware", `{"versio": "1"}`, bearer(admin)); r.StatusCode != 400 || r.errorField(t, "versio") == "" {
			t.Errorf("unknown field: %d %s", r.StatusCode, r.body)
		}
		if r := e.do(nil, "POST", "/api/v1/firmware", `{"version": "1"`, bearer(admin)); r.StatusCode != 400 || r.errorField(t, "body") == "" {
			t.Errorf("broken JSON: %d %s", r.StatusCode, r.body)
		}
		if r := e.do(nil, "GET", "/api/v1/firmware?version=9.9.9", nil, bearer(admin)); !strings.Contains(string(r.body), `"total": 0`) {
			t.Errorf("refused requests added firmware: %s", r.body)
		}
		if r := e.do(nil, "POST", "/api/v1/firmware", fw, bearer(admin)); r.StatusCode != 201 {
			t.Errorf("admin adds firmware: %d %s", r.StatusCode, r.body)
		}
		if r := e.do(nil, "POST", "/api/v1/firmware", fw, bearer(admin)); r.StatusCode != 409 || r.errorCode(t) != "conflict" {
			t.Errorf("duplicate firmware: %d %s", r.StatusCode, r.body)
		}
		if r := e.do(nil, "GET", "/api/v1/no-such-thing", nil, bearer(admin)); r.StatusCode != 404 || r.errorCode(t) != "not_found" {
			t.Errorf("unknown API route: %d %s", r.StatusCode, r.body)
		}
	})
}

func TestDistributorManagesSubdistributors(t *testing.T) {
	eachBackend(t, func(t *testing.T, e *env) {
		dist := e.token("demo-distributor")
		r := e.do(nil, "POST", "/api/v1/subdistributors", map[string]any{"username": "acme-sub", "password": demoPassword, "company": "ACME", "email": "ops@acme.example"}, bearer(dist))
		if r.StatusCode != 201 {
			t.Fatalf("create: %d %s", r.StatusCode, r.body)
		}
		id := int64(r.json(t)["id"].(float64))
		if r.json(t)["payment_enabled"] != false {
			t.Errorf("payment feature must start off: %s", r.body)
		}
		// The new sub-distributor logs in and sees no Subscriptions / Payments.
		sub := e.browserLogin("acme-sub")
		home := string(e.do(sub.c, "GET", "/", nil).body)
		if strings.Contains(home, `data-module="subscriptions"`) || !strings.Contains(home, `data-module="firmware"`) {
			t.Errorf("nav before the switch: %s", home)
		}
		if r := e.do(sub.c, "GET", "/payments", nil); r.StatusCode != 403 || !strings.Contains(string(r.body), "payment feature") {
			t.Errorf("payments while off: %d", r.StatusCode)
		}
		r = e.do(nil, "PATCH", fmt.Sprintf("/api/v1/subdistributors/%d", id), map[string]bool{"payment_enabled": true}, bearer(dist))
		if r.StatusCode != 200 || r.json(t)["payment_enabled"] != true || r.json(t)["pay_by_distributor"] != false {
			t.Errorf("switch: %d %s", r.StatusCode, r.body)
		}
		// The switch shows at once, without logging in again.
		home = string(e.do(sub.c, "GET", "/", nil).body)
		if !strings.Contains(home, `data-module="subscriptions"`) || !strings.Contains(home, `data-module="payments"`) {
			t.Errorf("nav after the switch lacks Subscriptions / Payments")
		}
		if r := e.do(sub.c, "GET", "/payments", nil); r.StatusCode != 200 {
			t.Errorf("payments while on: %d", r.StatusCode)
		}
		// Another distributor gets 404 for it, in the API and the portal.
		other := e.token("distributor-2")
		for _, c := range []struct{ m, p string }{{"GET", "/api/v1/subdistributors/%d"}, {"PATCH", "/api/v1/subdistributors/%d"}} {
			if r := e.do(nil, c.m, fmt.Sprintf(c.p, id), map[string]bool{"payment_enabled": false}, bearer(other)); r.StatusCode != 404 {
				t.Errorf("%s by another distributor: %d %s", c.m, r.StatusCode, r.body)
			}
		}
		ob := e.browserLogin("distributor-2")
		if r := e.form(ob.c, fmt.Sprintf("/subdistributors/%d/switches", id), url.Values{"csrf_token": {ob.csrf}}); r.StatusCode != 404 {
			t.Errorf("portal switch by another distributor: %d", r.StatusCode)
		}
		if a, _ := e.st.GetAccount(sysCtx(), id); !a.PaymentEnabled {
			t.Error("a foreign distributor changed the switch")
		}
		list := e.do(nil, "GET", "/api/v1/subdistributors?search=acme", nil, bearer(other))
		if !strings.Contains(string(list.body), `"total": 0`) {
			t.Errorf("another distributor lists it: %s", list.body)
		}
		// Role guards.
		if r := e.do(nil, "GET", "/api/v1/subdistributors", nil, bearer(e.token("demo-subdistributor"))); r.StatusCode != 403 {
			t.Errorf("sub-distributor lists sub-distributors: %d", r.StatusCode)
		}
		if r := e.do(nil, "POST", "/api/v1/distributors", map[string]string{"username": "x-dist", "password": "longenough"}, bearer(dist)); r.StatusCode != 403 {
			t.Errorf("distributor creates a distributor: %d", r.StatusCode)
		}
		// Duplicate names and bad fields are named; nothing is created.
		r = e.do(nil, "POST", "/api/v1/subdistributors", map[string]any{"username": "ACME-SUB", "password": "longenough"}, bearer(dist))
		if r.StatusCode != 409 || r.errorField(t, "username") == "" {
			t.Errorf("duplicate: %d %s", r.StatusCode, r.body)
		}
		r = e.do(nil, "POST", "/api/v1/subdistributors", map[string]any{"username": "x", "password": "short", "email": "nope"}, bearer(dist))
		if r.StatusCode != 400 || r.errorField(t, "password") == "" {
			t.Errorf("bad input: %d %s", r.StatusCode, r.body)
		}
		// The change is audited and the distributor reads it; the sub-distributor does not.
		audit := e.do(nil, "GET", "/api/v1/audit?action=subdistributor.switches", nil, bearer(dist))
		if !strings.Contains(string(audit.body), fmt.Sprintf(`"object_id": "%d"`, id)) {
			t.Errorf("audit: %s", audit.body)
		}
		subTok := e.token("acme-sub")
		if r := e.do(nil, "GET", "/api/v1/audit?action=subdistributor.switches", nil, bearer(subTok)); !strings.Contains(string(r.body), `"total": 0`) {
			t.Errorf("sub-distributor reads its distributor's audit: %s", r.body)
		}
	})
}

func TestPortalPagesAndRoles(t *testing.T) {
	e := newEnv(t, "sqlite")
	sub := e.browserLogin("demo-subdistributor")
	home := string(e.do(sub.c, "GET", "/", nil).body)
	var mods []string
	for _, part := range strings.Split(home, `data-module="`)[1:] {
		mods = append(mods, part[:strings.Index(part, `"`)])
	}
	want := []string{"project-devices", "personal-devices", "third-party-devices", "users", "firmware", "subscriptions", "payments", "settings", "pending-devices", "audit"}
	if !slices.Equal(mods, want) {
		t.Errorf("sub-distributor nav: %v", mods)
	}
	if !strings.Contains(home, `id="logout"`) {
		t.Error("no log out")
	}
	for _, p := range []string{"/project-devices", "/personal-devices", "/third-party-devices", "/users/installers", "/settings", "/firmware", "/audit", "/firmware?model=R2&page=2&per_page=5"} {
		if r := e.do(sub.c, "GET", p, nil); r.StatusCode != 200 {
			t.Errorf("%s: %d", p, r.StatusCode)
		}
	}
	for p, code := range map[string]int{"/distributors": 403, "/subdistributors": 403, "/installer/projects": 403, "/firmware/99999": 404, "/firmware/x": 404, "/nowhere": 404} {
		if r := e.do(sub.c, "GET", p, nil); r.StatusCode != code {
			t.Errorf("%s: %d, want %d", p, r.StatusCode, code)
		}
	}
	if r := e.do(sub.c, "GET", "/firmware?per_page=9999", nil); r.StatusCode != 400 || !strings.Contains(string(r.body), "per_page") {
		t.Errorf("bad per_page on the page: %d", r.StatusCode)
	}
	// Anonymous visitors are sent to the login page, and back after it.
	r := e.do(nil, "GET", "/firmware?model=R29", nil)
	if r.StatusCode != 303 || r.Header.Get("Location") != "/login?next=%2Ffirmware%3Fmodel%3DR29" {
		t.Errorf("anonymous: %d %s", r.StatusCode, r.Header.Get("Location"))
	}
	r = e.form(nil, "/login", url.Values{"username": {"demo-admin"}, "password": {demoPassword}, "next": {"/firmware?model=R29"}})
	if r.Header.Get("Location") != "/firmware?model=R29" {
		t.Errorf("next: %s", r.Header.Get("Location"))
	}
	r = e.form(nil, "/login", url.Values{"username": {"demo-admin"}, "password": {demoPassword}, "next": {"//evil.example/"}})
	if r.Header.Get("Location") != "/" {
		t.Errorf("open redirect: %s", r.Header.Get("Location"))
	}
	if r := e.form(nil, "/login", url.Values{"username": {"demo-admin"}, "password": {"nope-nope"}}); r.StatusCode != 401 || !strings.Contains(string(r.body), "Wrong user name or password") {
		t.Errorf("wrong password form: %d", r.StatusCode)
	}
	// The distributor creates a sub-distributor from its page; bad input re-renders with the field named.
	d := e.browserLogin("demo-distributor")
	r = e.form(d.c, "/subdistributors", url.Values{"csrf_token": {d.csrf}, "username": {"portal-sub"}, "password": {"short"}})
	if r.StatusCode != 400 || !strings.Contains(string(r.body), "at least 8 characters") || !strings.Contains(string(r.body), `value="portal-sub"`) {
		t.Errorf("bad form: %d", r.StatusCode)
	}
	r = e.form(d.c, "/subdistributors", url.Values{"csrf_token": {d.csrf}, "username": {"portal-sub"}, "password": {"longenough"}, "payment_enabled": {"on"}})
	if r.StatusCode != 303 {
		t.Fatalf("create from the portal: %d %s", r.StatusCode, r.body)
	}
	list := string(e.do(d.c, "GET", "/subdistributors?search=portal", nil).body)
	if !strings.Contains(list, "portal-sub") || !strings.Contains(list, "1–1 of 1") {
		t.Errorf("list after create: %s", list)
	}
	a := e.browserLogin("demo-admin")
	if r := e.do(a.c, "GET", "/distributors", nil); r.StatusCode != 200 || !strings.Contains(string(r.body), "demo-distributor") {
		t.Errorf("admin distributors page: %d", r.StatusCode)
	}
}

func TestHealthAndMetrics(t *testing.T) {
	e := newEnv(t, "sqlite")
	if r := e.do(nil, "GET", "/healthz", nil); r.StatusCode != 200 || r.json(t)["status"] != "ok" {
		t.Errorf("healthz: %d %s", r.StatusCode, r.body)
	}
	tok := e.token("demo-subdistributor")
	for _, id := range []string{"1", "2", "3"} {
		e.do(nil, "GET", "/api/v1/firmware/"+id, nil, bearer(tok))
	}
	e.do(nil, "GET", "/api/v1/firmware/424242", nil, bearer(tok))
	m := string(e.do(nil, "GET", "/metrics", nil).body)
	if !strings.Contains(m, `gatehouse_http_requests_total{code="200",route="GET /api/v1/firmware/{id}"} 3`) {
		t.Errorf("metrics by route pattern missing:\n%s", grep(m, "gatehouse_http"))
	}
	if !strings.Contains(m, `gatehouse_http_requests_total{code="404",route="GET /api/v1/firmware/{id}"} 1`) {
		t.Errorf("404 by route pattern missing")
	}
	if !strings.Contains(m, `gatehouse_http_request_duration_seconds_count{route="GET /api/v1/firmware/{id}"} 4`) {
		t.Errorf("duration histogram missing")
	}
	if strings.Contains(m, "/api/v1/firmware/1\"") || strings.Contains(m, "424242") {
		t.Errorf("metrics labelled by id")
	}
}

func grep(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// TestOpenAPIMatchesRoutes: every registered API route is documented and
// every documented route is registered.
func TestOpenAPIMatchesRoutes(t *testing.T) {
	e := newEnv(t, "sqlite")
	var doc struct {
		OpenAPI string                                `json:"openapi"`
		Servers []struct{ URL string }                `json:"servers"`
		Paths   map[string]map[string]json.RawMessage `json:"paths"`
	}
	r := e.do(nil, "GET", "/api/v1/openapi.json", nil)
	if err := json.Unmarshal(r.body, &doc); err != nil || r.StatusCode != 200 {
		t.Fatalf("openapi.json: %d %v", r.StatusCode, err)
	}
	if !strings.HasPrefix(doc.OpenAPI, "3.") || len(doc.Servers) != 1 || doc.Servers[0].URL != "/api/v1" {
		t.Fatalf("openapi header: %s %+v", doc.OpenAPI, doc.Servers)
	}
	var documented []string
	for p, ops := range doc.Paths {
		for m := range ops {
			documented = append(documented, strings.ToUpper(m)+" /api/v1"+p)
		}
	}
	registered := e.srv.APIRoutes()
	for _, d := range documented {
		if !slices.Contains(registered, d) {
			t.Errorf("documented but not registered: %s", d)
		}
	}
	for _, rr := range registered {
		if !slices.Contains(documented, rr) {
			t.Errorf("registered but not documented: %s", rr)
		}
	}
	if len(registered) < 15 {
		t.Errorf("only %d API routes registered", len(registered))
	}
	if !json.Valid(api.OpenAPIDocument()) {
		t.Error("embedded document is not JSON")
	}
}
