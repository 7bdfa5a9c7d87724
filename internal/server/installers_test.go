package server_test

import (
	"bytes"
	"fmt"
	"mime/multipart"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/model"
	"github.com/gatehouse-dev/gatehouse/internal/server"
	"github.com/gatehouse-dev/gatehouse/internal/tabular"
)

// mails returns what the SMTP server received, oldest first, as
// "To: …\nSubject: …\n\nbody".
func (e *env) mails() []string {
	e.t.Helper()
	var out []string
	for _, m := range e.smtpd.Messages() {
		out = append(out, "To: "+strings.Join(m.To, ", ")+"\nSubject: "+m.Subject+"\n\n"+m.Text)
	}
	return out
}

var linkRE = regexp.MustCompile(`/password/set\?token=[A-Za-z0-9_-]+`)

// lastLink is the password link of the newest mail to addr.
func (e *env) lastLink(addr string) string {
	e.t.Helper()
	ms := e.mails()
	for i := len(ms) - 1; i >= 0; i-- {
		if strings.Contains(ms[i], addr) {
			if l := linkRE.FindString(ms[i]); l != "" {
				return l
			}
		}
	}
	e.t.Fatalf("no password link mailed to %s among %d mails", addr, len(ms))
	return ""
}

func TestInstallerLifecycleAPI(t *testing.T) {
	eachBackend(t, func(t *testing.T, e *env) {
		sub := e.token("demo-subdistributor")
		body := map[string]any{"account": "fitter-one", "business": "smart_home", "company": "Fitter GmbH", "email": "fitter@example.com",
			"phone": "+49 30 123456", "time_zone": "Europe/Berlin", "language": "de", "charge_mode": "enduser", "connect_type": "tls", "rtp_confusion": true}
		r := e.do(nil, "POST", "/api/v1/installers", body, bearer(sub))
		if r.StatusCode != 201 {
			t.Fatalf("create: %d %s", r.StatusCode, r.body)
		}
		out := r.json(t)
		for k, v := range body {
			if fmt.Sprint(out[k]) != fmt.Sprint(v) {
				t.Errorf("%s = %v, want %v", k, out[k], v)
			}
		}
		if out["access_without_password"] != false || out["welcome_mail"] != "sent" {
			t.Errorf("created: %s", r.body)
		}
		id := int64(out["id"].(float64))
		// The welcome mail is in German, names the account and carries the link.
		ms := e.mails()
		last := ms[len(ms)-1]
		if !strings.Contains(last, "fitter@example.com") || !strings.Contains(last, "fitter-one") {
			t.Errorf("welcome mail: %s", last)
		}
		link := e.lastLink("fitter@example.com")
		// Until the password is set, no login.
		if r := e.do(nil, "POST", "/api/v1/auth/login", map[string]string{"username": "fitter-one", "password": ""}); r.StatusCode != 400 {
			t.Errorf("empty password login: %d", r.StatusCode)
		}
		page := e.do(nil, "GET", link, nil)
		if page.StatusCode != 200 || !strings.Contains(string(page.body), "fitter-one") {
			t.Fatalf("link page: %d", page.StatusCode)
		}
		tok := strings.TrimPrefix(link, "/password/set?token=")
		if r := e.form(nil, "/password/set", url.Values{"token": {tok}, "password": {"fitter-pass-1"}, "confirm": {"other"}}); r.StatusCode != 400 || !strings.Contains(string(r.body), "does not match") {
			t.Errorf("mismatched confirm: %d", r.StatusCode)
		}
		if r := e.form(nil, "/password/set", url.Values{"token": {tok}, "password": {"fitter-pass-1"}, "confirm": {"fitter-pass-1"}}); r.StatusCode != 303 {
			t.Fatalf("set password: %d %s", r.StatusCode, r.body)
		}
		if r := e.do(nil, "GET", link, nil); r.StatusCode != 404 {
			t.Errorf("used link: %d", r.StatusCode)
		}
		if r := e.do(nil, "POST", "/api/v1/auth/login", map[string]string{"username": "fitter-one", "password": "fitter-pass-1"}); r.StatusCode != 200 {
			t.Fatalf("login with the new password: %d", r.StatusCode)
		}
		// Reset mails a new link; the old password keeps working until it is used.
		if r := e.do(nil, "POST", fmt.Sprintf("/api/v1/installers/%d/password-reset", id), nil, bearer(sub)); r.StatusCode != 202 {
			t.Errorf("reset: %d %s", r.StatusCode, r.body)
		}
		if l := e.lastLink("fitter@example.com"); l == link {
			t.Error("reset mailed the old link")
		}
		// Edit: omitted fields keep their value; bad values name the field.
		r = e.do(nil, "PATCH", fmt.Sprintf("/api/v1/installers/%d", id), map[string]any{"phone": "+49 30 999", "rtp_confusion": false}, bearer(sub))
		if r.StatusCode != 200 || r.json(t)["phone"] != "+49 30 999" || r.json(t)["company"] != "Fitter GmbH" || r.json(t)["rtp_confusion"] != false {
			t.Errorf("patch: %d %s", r.StatusCode, r.body)
		}
		for field, v := range map[string]any{"time_zone": "Nowhere/City", "language": "xx", "business": "bakery", "charge_mode": "distributor", "connect_type": "smoke", "email": "nope"} {
			r := e.do(nil, "PATCH", fmt.Sprintf("/api/v1/installers/%d", id), map[string]any{field: v}, bearer(sub))
			if r.StatusCode != 400 || r.errorField(t, field) == "" {
				t.Errorf("PATCH %s=%v: %d %s", field, v, r.StatusCode, r.body)
			}
		}
		if r := e.do(nil, "PATCH", fmt.Sprintf("/api/v1/installers/%d", id), map[string]any{"account": "renamed"}, bearer(sub)); r.StatusCode != 400 {
			t.Errorf("rename: %d", r.StatusCode)
		}
		// Create: every field is checked and named; a taken account is 409.
		r = e.do(nil, "POST", "/api/v1/installers", map[string]any{"account": "x", "email": "bad", "time_zone": "Mars/Base", "language": "tlh"}, bearer(sub))
		if r.StatusCode != 400 || r.errorField(t, "account") == "" || r.errorField(t, "email") == "" || r.errorField(t, "time_zone") == "" || r.errorField(t, "language") == "" {
			t.Errorf("bad create: %d %s", r.StatusCode, r.body)
		}
		r = e.do(nil, "POST", "/api/v1/installers", map[string]any{"account": "FITTER-ONE", "email": "x@example.com"}, bearer(sub))
		if r.StatusCode != 409 || r.errorField(t, "account") == "" {
			t.Errorf("taken account: %d %s", r.StatusCode, r.body)
		}
		// List: search by account and email; CSV.
		r = e.do(nil, "GET", "/api/v1/installers?account=FITTER", nil, bearer(sub))
		if !strings.Contains(string(r.body), `"total": 1`) || !strings.Contains(string(r.body), `"account": "fitter-one"`) {
			t.Errorf("search by account: %s", r.body)
		}
		r = e.do(nil, "GET", "/api/v1/installers?email=fitter@&format=csv", nil, bearer(sub))
		if !strings.HasPrefix(string(r.body), "account,company,email") || !strings.Contains(string(r.body), "fitter-one,Fitter GmbH") {
			t.Errorf("csv: %s", r.body)
		}
		// Another sub-distributor sees none of it.
		other := e.token("subdistributor-1-2")
		for _, c := range []struct{ m, p string }{{"GET", "/api/v1/installers/%d"}, {"PATCH", "/api/v1/installers/%d"}, {"DELETE", "/api/v1/installers/%d"},
			{"POST", "/api/v1/installers/%d/password-reset"}, {"GET", "/api/v1/installers/%d/macs"}, {"POST", "/api/v1/installers/%d/impersonate"}} {
			if r := e.do(nil, c.m, fmt.Sprintf(c.p, id), map[string]any{}, bearer(other)); r.StatusCode != 404 {
				t.Errorf("%s %s by another sub-distributor: %d", c.m, c.p, r.StatusCode)
			}
		}
		// Delete: an installer with data needs confirm=true; the 409 says what would go.
		demoInst := installerID(t, e, "demo-installer")
		r = e.do(nil, "DELETE", fmt.Sprintf("/api/v1/installers/%d", demoInst), nil, bearer(sub))
		if r.StatusCode != 409 || !strings.Contains(string(r.body), `"would_delete"`) || !strings.Contains(string(r.body), `"projects"`) {
			t.Errorf("unconfirmed delete: %d %s", r.StatusCode, r.body)
		}
		if r := e.do(nil, "DELETE", fmt.Sprintf("/api/v1/installers/%d?confirm=true", demoInst), nil, bearer(sub)); r.StatusCode != 200 {
			t.Errorf("confirmed delete: %d %s", r.StatusCode, r.body)
		}
		if r := e.do(nil, "GET", fmt.Sprintf("/api/v1/installers/%d", demoInst), nil, bearer(sub)); r.StatusCode != 404 {
			t.Errorf("deleted installer: %d", r.StatusCode)
		}
	})
}

func installerID(t *testing.T, e *env, username string) int64 {
	a, _, err := e.st.AccountForLogin(sysCtx(), username)
	if err != nil {
		t.Fatal(err)
	}
	return a.ID
}

func multipartFile(t *testing.T, name string, data []byte) (string, []byte) {
	var b bytes.Buffer
	mw := multipart.NewWriter(&b)
	fw, _ := mw.CreateFormFile("file", name)
	fw.Write(data)
	mw.Close()
	return mw.FormDataContentType(), b.Bytes()
}

func TestMACLibraryAPI(t *testing.T) {
	e := newEnv(t, "sqlite")
	sub := e.token("demo-subdistributor")
	id := installerID(t, e, "demo-installer")
	other := installerID(t, e, "installer-1-2-01")
	// A MAC of another installer's library.
	e.st.ImportMACs(sysCtx(), other, []model.MACRow{{Row: 1, MAC: "0C:11:0B:00:00:09"}})
	r := e.do(nil, "POST", fmt.Sprintf("/api/v1/installers/%d/macs", id), map[string]any{"macs": []map[string]string{{"mac": "0c-11-0b-00-00-01", "name": "Villa 1"}, {"mac": "nope"}}}, bearer(sub))
	if r.StatusCode != 200 || !strings.Contains(string(r.body), `"imported": 1`) || !strings.Contains(string(r.body), `"row": 2`) {
		t.Errorf("add: %d %s", r.StatusCode, r.body)
	}
	// Template downloads, filled in and imported as CSV and as XLSX.
	csvT := e.do(nil, "GET", "/api/v1/mac-template?format=csv", nil, bearer(sub))
	xlsxT := e.do(nil, "GET", "/api/v1/mac-template?format=xlsx", nil, bearer(sub))
	if !strings.HasPrefix(string(csvT.body), "MAC,Name") || !bytes.HasPrefix(xlsxT.body, []byte("PK")) {
		t.Fatalf("templates: %q %d bytes", csvT.body[:10], len(xlsxT.body))
	}
	rows := [][]string{{"0C110B000002", "A"}, {"0C110B000002", "again"}, {"0C:11:0B:00:00:09", "taken"}, {"12345", "short"}, {"0C110B000003", ""}}
	x, _ := tabular.XLSX("MACs", []string{"MAC", "Name"}, rows)
	for _, f := range []struct {
		name string
		data []byte
	}{{"macs.csv", tabular.CSV([]string{"MAC", "Name"}, rows)}, {"macs.xlsx", x}} {
		name, data := f.name, f.data
		ct, body := multipartFile(t, name, data)
		r := e.do(nil, "POST", fmt.Sprintf("/api/v1/installers/%d/macs/import", id), string(body), bearer(sub), "Content-Type: "+ct)
		var want string
		if name == "macs.csv" {
			want = `"imported": 2`
		} else {
			want = `"imported": 0` // the same MACs again: all already there
		}
		if !strings.Contains(string(r.body), want) {
			t.Errorf("%s: %d %s", name, r.StatusCode, r.body)
		}
		for _, w := range []string{`"row": 3`, `"row": 4`, `"row": 5`, "repeats row 2", "another installer", "not a MAC"} {
			if !strings.Contains(string(r.body), w) {
				t.Errorf("%s: no %s in %s", name, w, r.body)
			}
		}
	}
	l := e.do(nil, "GET", fmt.Sprintf("/api/v1/installers/%d/macs?search=0c:11:0b", id), nil, bearer(sub))
	if !strings.Contains(string(l.body), `"total": 3`) {
		t.Errorf("library: %s", l.body)
	}
	if r := e.do(nil, "DELETE", fmt.Sprintf("/api/v1/installers/%d/macs/0C:11:0B:00:00:01", id), nil, bearer(sub)); r.StatusCode != 204 {
		t.Errorf("delete MAC: %d", r.StatusCode)
	}
	ct, body := multipartFile(t, "x.csv", []byte("\xff\xfe"))
	if r := e.do(nil, "POST", fmt.Sprintf("/api/v1/installers/%d/macs/import", id), string(body), bearer(sub), "Content-Type: "+ct); r.StatusCode != 400 || r.errorField(t, "file") == "" {
		t.Errorf("bad file: %d %s", r.StatusCode, r.body)
	}
	if r := e.do(nil, "POST", fmt.Sprintf("/api/v1/installers/%d/macs/import", other), string(body), bearer(sub), "Content-Type: "+ct); r.StatusCode != 404 {
		t.Errorf("import into another sub-distributor's installer: %d", r.StatusCode)
	}
}

func TestAccessWithoutPasswordAPIAndPortal(t *testing.T) {
	eachBackend(t, func(t *testing.T, e *env) {
		sub := e.token("demo-subdistributor")
		id := installerID(t, e, "demo-installer")
		r := e.do(nil, "POST", fmt.Sprintf("/api/v1/installers/%d/impersonate", id), nil, bearer(sub))
		if r.StatusCode != 403 || !strings.Contains(string(r.body), "has not granted") {
			t.Fatalf("before the grant: %d %s", r.StatusCode, r.body)
		}
		// The sub-distributor's list shows no lock for it yet.
		b := e.browserLogin("demo-subdistributor")
		if strings.Contains(string(e.do(b.c, "GET", "/users/installers?account=demo-installer", nil).body), `data-access="demo-installer"`) {
			t.Error("lock icon before the grant")
		}
		inst := e.token("demo-installer")
		if r := e.do(nil, "PUT", "/api/v1/me/access-without-password", map[string]any{"enabled": "yes"}, bearer(inst)); r.StatusCode != 400 || r.errorField(t, "enabled") == "" {
			t.Errorf("bad body: %d %s", r.StatusCode, r.body)
		}
		if r := e.do(nil, "PUT", "/api/v1/me/access-without-password", map[string]any{"enabled": true}, bearer(inst)); r.StatusCode != 200 {
			t.Fatalf("grant: %d %s", r.StatusCode, r.body)
		}
		if r := e.do(nil, "PUT", "/api/v1/me/access-without-password", map[string]any{"enabled": true}, bearer(sub)); r.StatusCode != 403 {
			t.Errorf("sub-distributor switches it: %d", r.StatusCode)
		}
		r = e.do(nil, "POST", fmt.Sprintf("/api/v1/installers/%d/impersonate", id), nil, bearer(sub))
		if r.StatusCode != 201 {
			t.Fatalf("impersonate: %d %s", r.StatusCode, r.body)
		}
		acting := r.json(t)["token"].(string)
		me := e.do(nil, "GET", "/api/v1/me", nil, bearer(acting))
		if me.json(t)["username"] != "demo-installer" {
			t.Errorf("acting session is %s", me.body)
		}
		if r := e.do(nil, "GET", "/api/v1/installers", nil, bearer(acting)); r.StatusCode != 403 {
			t.Errorf("acting session keeps sub-distributor rights: %d", r.StatusCode)
		}
		if r := e.do(nil, "POST", "/api/v1/tokens", map[string]any{"name": "stay"}, bearer(acting)); r.StatusCode != 403 {
			t.Errorf("acting session makes an API token: %d", r.StatusCode)
		}
		// The portal: lock icon, banner naming both, and the way back.
		list := string(e.do(b.c, "GET", "/users/installers?account=demo-installer", nil).body)
		if !strings.Contains(list, `data-access="demo-installer"`) {
			t.Fatal("no lock icon after the grant")
		}
		r = e.form(b.c, fmt.Sprintf("/users/installers/%d/access", id), url.Values{"csrf_token": {b.csrf}})
		if r.StatusCode != 303 {
			t.Fatalf("start access: %d %s", r.StatusCode, r.body)
		}
		home := string(e.do(b.c, "GET", "/", nil).body)
		if !strings.Contains(home, `id="acting-banner"`) || !strings.Contains(home, "demo-subdistributor") || !strings.Contains(home, "demo-installer") ||
			!strings.Contains(home, `data-module="installer-projects"`) {
			t.Errorf("acting home: banner/nav missing")
		}
		if r := e.do(b.c, "GET", "/users/installers", nil); r.StatusCode != 403 {
			t.Errorf("acting session opens the sub-distributor's pages: %d", r.StatusCode)
		}
		// The installer revokes: both acting sessions end at once; the own session stays.
		if r := e.do(nil, "PUT", "/api/v1/me/access-without-password", map[string]any{"enabled": false}, bearer(inst)); r.StatusCode != 200 {
			t.Fatal(r.StatusCode)
		}
		if r := e.do(nil, "GET", "/api/v1/me", nil, bearer(acting)); r.StatusCode != 401 {
			t.Errorf("API acting session after revocation: %d", r.StatusCode)
		}
		home = string(e.do(b.c, "GET", "/", nil).body)
		if strings.Contains(home, `id="acting-banner"`) || !strings.Contains(home, `data-module="users"`) {
			t.Error("portal still acting after revocation")
		}
		// Grant again, enter, and use the way back.
		e.do(nil, "PUT", "/api/v1/me/access-without-password", map[string]any{"enabled": true}, bearer(inst))
		e.form(b.c, fmt.Sprintf("/users/installers/%d/access", id), url.Values{"csrf_token": {b.csrf}})
		acsrf := csrfRE.FindSubmatch(e.do(b.c, "GET", "/", nil).body)
		r = e.form(b.c, "/access/end", url.Values{"csrf_token": {string(acsrf[1])}})
		if r.StatusCode != 303 || r.Header.Get("Location") != "/users/installers?notice=Back+in+your+own+account." {
			t.Errorf("end access: %d %s", r.StatusCode, r.Header.Get("Location"))
		}
		var cleared bool
		for _, c := range r.Cookies() {
			cleared = cleared || (c.Name == server.ActingCookie && c.MaxAge < 0)
		}
		if !cleared {
			t.Error("acting cookie not cleared")
		}
		if r := e.do(b.c, "GET", "/users/installers", nil); r.StatusCode != 200 {
			t.Errorf("own session after the way back: %d", r.StatusCode)
		}
		audit := e.do(nil, "GET", "/api/v1/audit?action=installer.access_start", nil, bearer(sub))
		if !strings.Contains(string(audit.body), `"total": 3`) {
			t.Errorf("access starts audited: %s", audit.body)
		}
	})
}

func TestInstallerPortalPages(t *testing.T) {
	e := newEnv(t, "sqlite")
	b := e.browserLogin("demo-subdistributor")
	r := e.form(b.c, "/users/installers", url.Values{"csrf_token": {b.csrf}, "account": {"page-fitter"}, "email": {"bad"}, "time_zone": {"Mars/Base"},
		"business": {"intercom"}, "language": {"fr"}, "charge_mode": {"installer"}, "connect_type": {"udp"}})
	body := string(r.body)
	if r.StatusCode != 400 || !strings.Contains(body, `value="page-fitter"`) || !strings.Contains(body, "IANA time zone") || !strings.Contains(body, "valid email") {
		t.Errorf("bad form: %d", r.StatusCode)
	}
	r = e.form(b.c, "/users/installers", url.Values{"csrf_token": {b.csrf}, "account": {"page-fitter"}, "email": {"pf@example.com"}, "time_zone": {"Europe/Paris"},
		"business": {"intercom"}, "language": {"fr"}, "charge_mode": {"installer"}, "connect_type": {"udp"}, "rtp_confusion": {"on"}})
	if r.StatusCode != 303 || !strings.Contains(r.Header.Get("Location"), "mailed") {
		t.Fatalf("create: %d %s", r.StatusCode, r.Header.Get("Location"))
	}
	detail := string(e.do(b.c, "GET", strings.Split(r.Header.Get("Location"), "?")[0], nil).body)
	if !strings.Contains(detail, `value="Europe/Paris"`) || !strings.Contains(detail, `name="rtp_confusion" id="f-rtp" checked`) {
		t.Errorf("detail does not show the saved fields")
	}
	// The French welcome mail went out.
	if l := e.lastLink("pf@example.com"); l == "" {
		t.Error("no link")
	}
	// Delete with confirmation: the page lists what would go; without the tick, nothing happens.
	id := installerID(t, e, "demo-installer")
	conf := string(e.do(b.c, "GET", fmt.Sprintf("/users/installers/%d/delete", id), nil).body)
	if !strings.Contains(conf, `id="delete-impact"`) || !strings.Contains(conf, "projects") {
		t.Errorf("confirmation page lacks the impact")
	}
	if r := e.form(b.c, fmt.Sprintf("/users/installers/%d/delete", id), url.Values{"csrf_token": {b.csrf}}); r.StatusCode != 409 {
		t.Errorf("unticked delete: %d", r.StatusCode)
	}
	if r := e.form(b.c, fmt.Sprintf("/users/installers/%d/delete", id), url.Values{"csrf_token": {b.csrf}, "confirm": {"yes"}}); r.StatusCode != 303 {
		t.Errorf("confirmed delete: %d", r.StatusCode)
	}
	// Another sub-distributor's installer is 404 on every page.
	foreign := installerID(t, e, "installer-1-2-01")
	for _, p := range []string{"/users/installers/%d", "/users/installers/%d/delete"} {
		if r := e.do(b.c, "GET", fmt.Sprintf(p, foreign), nil); r.StatusCode != 404 {
			t.Errorf("%s: %d", p, r.StatusCode)
		}
	}
	if r := e.form(b.c, fmt.Sprintf("/users/installers/%d/password-reset", foreign), url.Values{"csrf_token": {b.csrf}}); r.StatusCode != 404 {
		t.Errorf("foreign reset: %d", r.StatusCode)
	}
	if r := e.do(b.c, "GET", "/users", nil); r.StatusCode != http.StatusSeeOther {
		t.Errorf("/users: %d", r.StatusCode)
	}
}

// TestDeviceFormOffersTheMACLibrary: the installer's new-device form offers
// the unused MACs of its library, and a device added with one of them
// leaves the offer.
func TestDeviceFormOffersTheMACLibrary(t *testing.T) {
	e := newEnv(t, "sqlite")
	id := installerID(t, e, "demo-installer")
	if _, err := e.st.ImportMACs(sysCtx(), id, []model.MACRow{{Row: 1, MAC: "0C110D000001", Name: "Kit A"}, {Row: 2, MAC: "0C110D000002"}}); err != nil {
		t.Fatal(err)
	}
	tok := e.token("demo-installer")
	r := e.do(nil, "GET", "/api/v1/projects?kind=personal&per_page=1", nil, bearer(tok))
	items, _ := r.json(t)["items"].([]any)
	if len(items) == 0 {
		t.Fatalf("no single-tenant project: %s", r.body)
	}
	pid := int64(items[0].(map[string]any)["id"].(float64))
	b := e.browserLogin("demo-installer")
	form := string(e.do(b.c, "GET", fmt.Sprintf("/installer/devices/new?project_id=%d", pid), nil).body)
	if !strings.Contains(form, `<option value="0C110D000001">Kit A`) || !strings.Contains(form, `<option value="0C110D000002">`) {
		t.Fatalf("library MACs not offered")
	}
	r = e.do(nil, "POST", "/api/v1/installer/devices", map[string]any{"mac": "0C:11:0D:00:00:01", "project_id": pid, "type": "door_phone", "name": "Front door"}, bearer(tok))
	if r.StatusCode != 201 {
		t.Fatalf("add device from the library: %d %s", r.StatusCode, r.body)
	}
	form = string(e.do(b.c, "GET", fmt.Sprintf("/installer/devices/new?project_id=%d", pid), nil).body)
	if strings.Contains(form, `<option value="0C110D000001">`) || !strings.Contains(form, `<option value="0C110D000002">`) {
		t.Error("a used library MAC is still offered")
	}
}
