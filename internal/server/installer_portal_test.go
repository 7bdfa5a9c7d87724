package server_test

import (
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/model"
)

// The installer portal through HTTP: the JSON API (projects, buildings,
// apartments, departments, end users and their import, devices, cameras)
// and the portal's forms.

// ipNum reads a number field of a JSON object.
func ipNum(m map[string]any, k string) int64 {
	f, _ := m[k].(float64)
	return int64(f)
}

// ipCreate POSTs body and returns the new object's id, failing unless 201.
func (e *env) ipCreate(tok, path string, body any) map[string]any {
	e.t.Helper()
	r := e.do(nil, "POST", path, body, bearer(tok))
	if r.StatusCode != 201 {
		e.t.Fatalf("POST %s: %d %s", path, r.StatusCode, r.body)
	}
	return r.json(e.t)
}

func (e *env) ipCount(q string) int {
	e.t.Helper()
	var n int
	if err := e.st.DB().QueryRow(q).Scan(&n); err != nil {
		e.t.Fatalf("%s: %v", q, err)
	}
	return n
}

func TestInstallerProjectsAPI(t *testing.T) {
	eachBackend(t, func(t *testing.T, e *env) {
		inst, sub := e.token("demo-installer"), e.token("demo-subdistributor")
		other, otherSub := e.token("installer-1-2-01"), e.token("subdistributor-1-2")

		p := e.ipCreate(inst, "/api/v1/projects", map[string]any{"kind": "community", "name": "Harbour View", "manager": "Greta Lind", "address": "1 Quay"})
		pid := ipNum(p, "id")
		if p["kind"] != "community" || p["time_zone"] == "" || ipNum(p, "installer_id") != installerID(t, e, "demo-installer") {
			t.Errorf("created project: %v", p)
		}
		// Search by the manager, with the kind; CSV export of the same.
		r := e.do(nil, "GET", "/api/v1/projects?kind=community&search=GRETA", nil, bearer(inst))
		if l := r.json(t); r.StatusCode != 200 || ipNum(l, "total") != 1 {
			t.Errorf("search by manager: %d %s", r.StatusCode, r.body)
		}
		r = e.do(nil, "GET", "/api/v1/projects?search=harbour&format=csv", nil, bearer(inst))
		if !strings.HasPrefix(string(r.body), "id,kind,name,manager,") || !strings.Contains(string(r.body), "Harbour View,Greta Lind") {
			t.Errorf("CSV: %s", r.body)
		}
		for q, field := range map[string]string{"kind=castle": "kind", "per_page=501": "per_page", "installer_id=x": "installer_id"} {
			if r := e.do(nil, "GET", "/api/v1/projects?"+q, nil, bearer(inst)); r.StatusCode != 400 || r.errorField(t, field) == "" {
				t.Errorf("%s: %d %s", q, r.StatusCode, r.body)
			}
		}
		// The sub-distributor reads it; writes are the installer's; other subtrees do not see it.
		if r := e.do(nil, "GET", fmt.Sprintf("/api/v1/projects/%d", pid), nil, bearer(sub)); r.StatusCode != 200 || r.json(t)["contents"] == nil {
			t.Errorf("ancestor reads: %d %s", r.StatusCode, r.body)
		}
		if r := e.do(nil, "POST", "/api/v1/projects", map[string]any{"kind": "office", "name": "X"}, bearer(sub)); r.StatusCode != 403 {
			t.Errorf("sub-distributor creates a project: %d", r.StatusCode)
		}
		for _, tok := range []string{other, otherSub} {
			if r := e.do(nil, "GET", fmt.Sprintf("/api/v1/projects/%d", pid), nil, bearer(tok)); r.StatusCode != 404 {
				t.Errorf("foreign read: %d", r.StatusCode)
			}
		}
		if r := e.do(nil, "PATCH", fmt.Sprintf("/api/v1/projects/%d", pid), map[string]any{"name": "Stolen"}, bearer(other)); r.StatusCode != 404 {
			t.Errorf("foreign patch: %d", r.StatusCode)
		}
		// PATCH: bad input names the field and changes nothing; good input saves.
		for body, field := range map[string]string{`{"kind":"office"}`: "kind", `{"time_zone":"Mars/Base"}`: "time_zone",
			`{"name":""}`: "name", `{"colour":"red"}`: "colour", `{"name":7}`: "name"} {
			if r := e.do(nil, "PATCH", fmt.Sprintf("/api/v1/projects/%d", pid), body, bearer(inst)); r.StatusCode != 400 || r.errorField(t, field) == "" {
				t.Errorf("PATCH %s: %d %s", body, r.StatusCode, r.body)
			}
		}
		r = e.do(nil, "PATCH", fmt.Sprintf("/api/v1/projects/%d", pid), map[string]any{"manager": "Hans Lind"}, bearer(inst))
		if m := r.json(t); r.StatusCode != 200 || m["manager"] != "Hans Lind" || m["name"] != "Harbour View" || m["address"] != "1 Quay" {
			t.Errorf("PATCH manager: %d %s", r.StatusCode, r.body)
		}

		// Buildings and apartments.
		b := e.ipCreate(inst, fmt.Sprintf("/api/v1/projects/%d/buildings", pid), map[string]any{"name": "Tower A"})
		bid := ipNum(b, "id")
		r = e.do(nil, "POST", fmt.Sprintf("/api/v1/buildings/%d/apartments", bid), map[string]any{"number": "101", "family_member_limit": 64}, bearer(inst))
		if r.StatusCode != 400 || !strings.Contains(r.errorField(t, "family_member_limit"), "0 to 63") {
			t.Errorf("limit 64: %d %s", r.StatusCode, r.body)
		}
		apt := e.ipCreate(inst, fmt.Sprintf("/api/v1/buildings/%d/apartments", bid), map[string]any{"floor": "1", "number": "101", "family_member_limit": 1})
		aid := ipNum(apt, "id")
		r = e.do(nil, "GET", fmt.Sprintf("/api/v1/buildings/%d/apartments", bid), nil, bearer(sub))
		if items, _ := r.json(t)["items"].([]any); r.StatusCode != 200 || len(items) != 1 || items[0].(map[string]any)["building"] != "Tower A" {
			t.Errorf("apartments: %d %s", r.StatusCode, r.body)
		}
		if r := e.do(nil, "POST", fmt.Sprintf("/api/v1/projects/%d/buildings", pid), map[string]any{"name": "B"}, bearer(other)); r.StatusCode != 404 {
			t.Errorf("building in a foreign project: %d", r.StatusCode)
		}
		if r := e.do(nil, "GET", fmt.Sprintf("/api/v1/projects/%d/buildings?format=csv", pid), nil, bearer(inst)); !strings.Contains(string(r.body), "Tower A,1") {
			t.Errorf("buildings CSV: %s", r.body)
		}
		office := e.ipCreate(inst, "/api/v1/projects", map[string]any{"kind": "office", "name": "Lind & Co"})
		oid := ipNum(office, "id")
		if r := e.do(nil, "POST", fmt.Sprintf("/api/v1/projects/%d/buildings", oid), map[string]any{"name": "B"}, bearer(inst)); r.StatusCode != 400 || r.errorField(t, "project_id") == "" {
			t.Errorf("building in an office: %d %s", r.StatusCode, r.body)
		}
		dept := e.ipCreate(inst, fmt.Sprintf("/api/v1/projects/%d/departments", oid), map[string]any{"name": "Sales"})
		if r := e.do(nil, "PATCH", fmt.Sprintf("/api/v1/departments/%d", ipNum(dept, "id")), map[string]any{"name": "Sales EU"}, bearer(inst)); r.StatusCode != 200 || r.json(t)["name"] != "Sales EU" {
			t.Errorf("rename department: %d %s", r.StatusCode, r.body)
		}

		// End users under the household rules.
		master := e.ipCreate(inst, fmt.Sprintf("/api/v1/projects/%d/end-users", pid), map[string]any{"role": "family_master", "name": "Greta Lind",
			"apartment_id": aid, "email": "greta@example.com", "active": true, "app_expires_at": "2027-06-30"})
		kid := e.ipCreate(inst, fmt.Sprintf("/api/v1/projects/%d/end-users", pid), map[string]any{"role": "family_member", "name": "Ola Lind", "apartment_id": aid})
		if ipNum(kid, "family_master_id") != ipNum(master, "id") || master["app_expires_at"] != "2027-06-30T00:00:00Z" {
			t.Errorf("household: %v / %v", master, kid)
		}
		before := e.ipCount("SELECT count(*) FROM end_users")
		refused := []struct {
			pid   int64
			body  map[string]any
			field string
		}{
			{pid, map[string]any{"role": "family_member", "name": "Third", "apartment_id": aid}, "family_member_limit"},
			{pid, map[string]any{"role": "family_master", "name": "Second", "apartment_id": aid}, "apartment_id"},
			{pid, map[string]any{"role": "office_staff", "name": "Clerk"}, "role"},
			{oid, map[string]any{"role": "office_staff", "name": "Clerk"}, "department_id"},
			{oid, map[string]any{"role": "property_manager", "name": "PM"}, "role"},
			{pid, map[string]any{"role": "property_manager", "name": "PM", "app_expires_at": "soon"}, "app_expires_at"},
			{pid, map[string]any{"role": "property_manager", "name": "PM", "email": "nope"}, "email"},
		}
		for _, c := range refused {
			r := e.do(nil, "POST", fmt.Sprintf("/api/v1/projects/%d/end-users", c.pid), c.body, bearer(inst))
			if r.StatusCode != 400 || r.errorField(t, c.field) == "" {
				t.Errorf("%v: %d %s, want 400 naming %s", c.body, r.StatusCode, r.body, c.field)
			}
		}
		if n := e.ipCount("SELECT count(*) FROM end_users"); n != before {
			t.Errorf("refused users were written: %d → %d", before, n)
		}
		kidPath := fmt.Sprintf("/api/v1/end-users/%d", ipNum(kid, "id"))
		r = e.do(nil, "PATCH", kidPath, map[string]any{"mobile": "+46 70 123", "active": true}, bearer(inst))
		if m := r.json(t); r.StatusCode != 200 || m["mobile"] != "+46 70 123" || m["name"] != "Ola Lind" || m["active"] != true {
			t.Errorf("PATCH user: %d %s", r.StatusCode, r.body)
		}
		if r := e.do(nil, "PATCH", kidPath, map[string]any{"role": "family_master"}, bearer(inst)); r.StatusCode != 400 || r.errorField(t, "role") == "" {
			t.Errorf("PATCH role: %d %s", r.StatusCode, r.body)
		}
		if r := e.do(nil, "PATCH", kidPath, map[string]any{"name": "X"}, bearer(other)); r.StatusCode != 404 {
			t.Errorf("foreign PATCH user: %d", r.StatusCode)
		}
		r = e.do(nil, "DELETE", fmt.Sprintf("/api/v1/end-users/%d", ipNum(master, "id")), nil, bearer(inst))
		if d, _ := r.json(t)["deleted"].(map[string]any); r.StatusCode != 200 || ipNum(d, "family_members") != 1 {
			t.Errorf("delete master: %d %s", r.StatusCode, r.body)
		}
		if _, err := e.st.GetEndUser(sysCtx(), ipNum(kid, "id")); model.ErrorCode(err) != model.ENOTFOUND {
			t.Errorf("the member outlived its master: %v", err)
		}

		// Delete the project: everything in it goes; it is audited.
		e.ipCreate(inst, fmt.Sprintf("/api/v1/projects/%d/end-users", pid), map[string]any{"role": "property_manager", "name": "Pat"})
		if r := e.do(nil, "DELETE", fmt.Sprintf("/api/v1/projects/%d", pid), nil, bearer(other)); r.StatusCode != 404 {
			t.Errorf("foreign delete: %d", r.StatusCode)
		}
		r = e.do(nil, "DELETE", fmt.Sprintf("/api/v1/projects/%d", pid), nil, bearer(inst))
		if d, _ := r.json(t)["deleted"].(map[string]any); r.StatusCode != 200 || ipNum(d, "apartments") != 1 || ipNum(d, "end_users") != 1 {
			t.Errorf("delete project: %d %s", r.StatusCode, r.body)
		}
		if r := e.do(nil, "GET", fmt.Sprintf("/api/v1/projects/%d", pid), nil, bearer(inst)); r.StatusCode != 404 {
			t.Errorf("deleted project: %d", r.StatusCode)
		}
		if n := e.ipCount(fmt.Sprintf("SELECT count(*) FROM buildings WHERE project_id = %d", pid)); n != 0 {
			t.Errorf("%d buildings left", n)
		}
		r = e.do(nil, "GET", fmt.Sprintf("/api/v1/audit?action=project.delete&object_id=%d", pid), nil, bearer(sub))
		if ipNum(r.json(t), "total") != 1 {
			t.Errorf("delete not audited for the sub-distributor: %s", r.body)
		}
	})
}

func TestInstallerEndUserImportAPI(t *testing.T) {
	eachBackend(t, func(t *testing.T, e *env) {
		inst := e.token("demo-installer")
		pid := ipNum(e.ipCreate(inst, "/api/v1/projects", map[string]any{"kind": "community", "name": "Import Court"}), "id")
		bid := ipNum(e.ipCreate(inst, fmt.Sprintf("/api/v1/projects/%d/buildings", pid), map[string]any{"name": "Building A"}), "id")
		e.ipCreate(inst, fmt.Sprintf("/api/v1/buildings/%d/apartments", bid), map[string]any{"number": "101", "family_member_limit": 2})
		path := fmt.Sprintf("/api/v1/projects/%d/end-users/import", pid)
		csv := "Role,Name,Building,Apartment,Email,Active,Expiration Time(App)\n" +
			"Family Master,Ada Berg,Building A,101,ada@example.com,yes,2027-01-31\n" +
			"Family Member,Tom Berg,Building A,101,,yes,\n" +
			"Family Member,Ghost,Building A,909,,,\n" +
			"\n" +
			"Property Manager,Pia,,,not-an-email,maybe,\n"
		r := e.do(nil, "POST", path, csv, bearer(inst), "Content-Type: text/csv")
		res := r.json(t)
		rejected, _ := res["rejected"].([]any)
		if r.StatusCode != 200 || ipNum(res, "imported") != 2 || len(rejected) != 2 {
			t.Fatalf("import: %d %s", r.StatusCode, r.body)
		}
		// Rows are numbered as in the file: the blank line counts.
		r4, r6 := rejected[0].(map[string]any), rejected[1].(map[string]any)
		if ipNum(r4, "row") != 4 || r4["value"] != "Ghost" || !strings.Contains(r4["reason"].(string), "apartment: no apartment 909") {
			t.Errorf("row 4: %v", r4)
		}
		if ipNum(r6, "row") != 6 || !strings.Contains(r6["reason"].(string), "email: ") || !strings.Contains(r6["reason"].(string), "active: ") {
			t.Errorf("row 6: %v", r6)
		}
		if n := e.ipCount(fmt.Sprintf("SELECT count(*) FROM end_users WHERE project_id = %d AND family_master_id IS NOT NULL", pid)); n != 1 {
			t.Errorf("%d family members imported, want 1", n)
		}
		// The same as a multipart upload; now every row is refused (one master
		// per apartment, the member limit reached): 422 and nothing written.
		ct, body := multipartFile(t, "users.csv", []byte("Name,Role,Apartment\nAda Again,Family Master,101\nKid 2,member,101\nKid 3,member,101\n"))
		r = e.do(nil, "POST", path, string(body), bearer(inst), "Content-Type: "+ct)
		if r.StatusCode != 200 || ipNum(r.json(t), "imported") != 1 {
			t.Errorf("multipart import: %d %s", r.StatusCode, r.body)
		}
		ct, body = multipartFile(t, "users.csv", []byte("Name,Role,Apartment\nAda Again,Family Master,101\nKid 4,member,101\n"))
		before := e.ipCount("SELECT count(*) FROM end_users")
		r = e.do(nil, "POST", path, string(body), bearer(inst), "Content-Type: "+ct)
		if r.StatusCode != 422 || ipNum(r.json(t), "imported") != 0 || !strings.Contains(string(r.body), "family_member_limit") {
			t.Errorf("all rows refused: %d %s", r.StatusCode, r.body)
		}
		if n := e.ipCount("SELECT count(*) FROM end_users"); n != before {
			t.Errorf("a refused import wrote %d users", n-before)
		}
		// A file that cannot be read is refused whole, naming it.
		for name, data := range map[string]string{
			"unknown column": "Name,Shoe Size\nAda,42\n",
			"no name column": "Role,Email\nmaster,a@example.com\n",
			"header only":    "Name,Role\n",
			"empty":          "",
			"bad quoting":    "Name\n\"Ada\n",
		} {
			r := e.do(nil, "POST", path, data, bearer(inst), "Content-Type: text/csv")
			if r.StatusCode != 400 || r.errorField(t, "file") == "" {
				t.Errorf("%s: %d %s", name, r.StatusCode, r.body)
			}
		}
		// Another installer's project is not found, before the file is read.
		if r := e.do(nil, "POST", path, csv, bearer(e.token("installer-1-2-01")), "Content-Type: text/csv"); r.StatusCode != 404 {
			t.Errorf("foreign import: %d", r.StatusCode)
		}
	})
}

func TestInstallerDevicesAndCamerasAPI(t *testing.T) {
	eachBackend(t, func(t *testing.T, e *env) {
		inst, sub, other := e.token("demo-installer"), e.token("demo-subdistributor"), e.token("installer-1-2-01")
		pid := ipNum(e.ipCreate(inst, "/api/v1/projects", map[string]any{"kind": "community", "name": "Device Park"}), "id")
		bid := ipNum(e.ipCreate(inst, fmt.Sprintf("/api/v1/projects/%d/buildings", pid), map[string]any{"name": "A"}), "id")
		aid := ipNum(e.ipCreate(inst, fmt.Sprintf("/api/v1/buildings/%d/apartments", bid), map[string]any{"number": "101"}), "id")

		d := e.ipCreate(inst, "/api/v1/installer/devices", map[string]any{"mac": "0c-11-05-ab-cd-01", "project_id": pid, "apartment_id": aid,
			"type": "indoor_monitor", "model": "C315"})
		if d["mac"] != "0C1105ABCD01" || d["location"] != "A-101" || ipNum(d, "building_id") != bid {
			t.Errorf("device: %v", d)
		}
		// A MAC registered anywhere is a conflict naming mac, whatever its notation.
		var foreignMAC string
		e.st.DB().QueryRow(`SELECT d.mac FROM devices d JOIN accounts a ON a.id = d.installer_id WHERE a.username = 'installer-1-2-01' LIMIT 1`).Scan(&foreignMAC)
		for _, mac := range []string{"0C:11:05:AB:CD:01", strings.ToLower(foreignMAC)} {
			r := e.do(nil, "POST", "/api/v1/installer/devices", map[string]any{"mac": mac, "project_id": pid, "type": "door_phone"}, bearer(inst))
			if r.StatusCode != 409 || r.errorField(t, "mac") == "" {
				t.Errorf("MAC %s again: %d %s", mac, r.StatusCode, r.body)
			}
		}
		var otherApt int64
		e.st.DB().QueryRow(`SELECT a.id FROM apartments a JOIN buildings b ON b.id = a.building_id JOIN projects p ON p.id = b.project_id
			JOIN accounts i ON i.id = p.installer_id WHERE i.username = 'installer-1-2-01' LIMIT 1`).Scan(&otherApt)
		for body, field := range map[string]map[string]any{
			"mac":          {"mac": "0C:11:05:ZZ", "project_id": pid, "type": "door_phone"},
			"type":         {"mac": "0C1105ABCD02", "project_id": pid, "type": "toaster"},
			"apartment_id": {"mac": "0C1105ABCD02", "project_id": pid, "type": "door_phone", "apartment_id": otherApt},
			"project_id":   {"mac": "0C1105ABCD02", "type": "door_phone"},
		} {
			if r := e.do(nil, "POST", "/api/v1/installer/devices", field, bearer(inst)); r.StatusCode != 400 || r.errorField(t, body) == "" {
				t.Errorf("bad %s: %d %s", body, r.StatusCode, r.body)
			}
		}
		r := e.do(nil, "GET", "/api/v1/installer/devices?search=ab:cd:01", nil, bearer(inst))
		if l := r.json(t); r.StatusCode != 200 || ipNum(l, "total") != 1 {
			t.Errorf("search by MAC: %d %s", r.StatusCode, r.body)
		}
		r = e.do(nil, "GET", fmt.Sprintf("/api/v1/installer/devices?project_id=%d&format=csv", pid), nil, bearer(sub))
		if !strings.HasPrefix(string(r.body), "mac,type,model,name,location,project") || !strings.Contains(string(r.body), "0C1105ABCD01,indoor_monitor,C315,,A-101,Device Park") {
			t.Errorf("devices CSV for the sub-distributor: %s", r.body)
		}
		if r := e.do(nil, "GET", "/api/v1/installer/devices?search=ABCD01", nil, bearer(other)); ipNum(r.json(t), "total") != 0 {
			t.Errorf("another installer lists the device: %s", r.body)
		}
		// PATCH by MAC in any notation; the MAC itself stays.
		r = e.do(nil, "PATCH", "/api/v1/installer/devices/0c:11:05:ab:cd:01", map[string]any{"name": "Hall", "location": "Lobby"}, bearer(inst))
		if m := r.json(t); r.StatusCode != 200 || m["name"] != "Hall" || m["location"] != "Lobby" || m["model"] != "C315" || ipNum(m, "apartment_id") != aid {
			t.Errorf("PATCH device: %d %s", r.StatusCode, r.body)
		}
		if r := e.do(nil, "PATCH", "/api/v1/installer/devices/0C1105ABCD01", map[string]any{"mac": "0C1105ABCD09"}, bearer(inst)); r.StatusCode != 400 || r.errorField(t, "mac") == "" {
			t.Errorf("PATCH mac: %d %s", r.StatusCode, r.body)
		}
		if r := e.do(nil, "PATCH", "/api/v1/installer/devices/0C1105ABCD01", map[string]any{"name": "X"}, bearer(other)); r.StatusCode != 404 {
			t.Errorf("foreign PATCH: %d", r.StatusCode)
		}
		if r := e.do(nil, "PATCH", "/api/v1/installer/devices/0C1105ABCD01", map[string]any{"name": "X"}, bearer(sub)); r.StatusCode != 403 {
			t.Errorf("sub-distributor PATCH: %d", r.StatusCode)
		}
		if r := e.do(nil, "DELETE", "/api/v1/installer/devices/0C1105ABCD01", nil, bearer(inst)); r.StatusCode != 204 {
			t.Errorf("DELETE device: %d %s", r.StatusCode, r.body)
		}
		if r := e.do(nil, "DELETE", "/api/v1/installer/devices/0C1105ABCD01", nil, bearer(inst)); r.StatusCode != 404 {
			t.Errorf("DELETE again: %d", r.StatusCode)
		}

		// Cameras: credentials go in, sealed, and never come out.
		c := e.ipCreate(inst, "/api/v1/third-party-devices", map[string]any{"project_id": pid, "name": "Gate cam",
			"stream_url": "rtsp://10.1.2.3:554/live", "username": "viewer", "password": "s3cret-pw"})
		cid := ipNum(c, "id")
		var sealed string
		e.st.DB().QueryRow(fmt.Sprintf("SELECT password FROM third_party_devices WHERE id = %d", cid)).Scan(&sealed)
		if !strings.HasPrefix(sealed, "v1:") || strings.Contains(sealed, "s3cret") {
			t.Errorf("password at rest: %q", sealed)
		}
		for _, path := range []string{"/api/v1/third-party-devices", fmt.Sprintf("/api/v1/third-party-devices/%d", cid),
			"/api/v1/third-party-devices?format=csv"} {
			r := e.do(nil, "GET", path, nil, bearer(inst))
			if r.StatusCode != 200 || strings.Contains(string(r.body), "s3cret") || strings.Contains(string(r.body), "viewer") || strings.Contains(string(r.body), `"password"`) {
				t.Errorf("%s leaks credentials: %d %s", path, r.StatusCode, r.body)
			}
		}
		if strings.Contains(fmt.Sprint(c), "s3cret") {
			t.Errorf("create answered the password: %v", c)
		}
		r = e.do(nil, "GET", fmt.Sprintf("/api/v1/third-party-devices?project_id=%d", pid), nil, bearer(sub))
		if items, _ := r.json(t)["items"].([]any); len(items) != 1 || items[0].(map[string]any)["has_password"] != true {
			t.Errorf("camera list for the sub-distributor: %s", r.body)
		}
		for body, field := range map[string]map[string]any{
			"stream_url": {"project_id": pid, "name": "C", "stream_url": "rtsp://admin:pw@10.0.0.1/s"},
			"name":       {"project_id": pid, "stream_url": "rtsp://10.0.0.1/s"},
			"kind":       {"project_id": pid, "name": "C", "stream_url": "rtsp://10.0.0.1/s", "kind": "doorbell"},
		} {
			if r := e.do(nil, "POST", "/api/v1/third-party-devices", field, bearer(inst)); r.StatusCode != 400 || r.errorField(t, body) == "" {
				t.Errorf("bad camera %s: %d %s", body, r.StatusCode, r.body)
			}
		}
		if r := e.do(nil, "POST", "/api/v1/third-party-devices", map[string]any{"project_id": pid, "name": "C"}, bearer(inst)); r.StatusCode != 400 || r.errorField(t, "stream_url") == "" {
			t.Errorf("camera without URL: %d %s", r.StatusCode, r.body)
		}
		// PATCH without a password keeps it.
		r = e.do(nil, "PATCH", fmt.Sprintf("/api/v1/third-party-devices/%d", cid), map[string]any{"name": "Gate camera"}, bearer(inst))
		if r.StatusCode != 200 || r.json(t)["name"] != "Gate camera" {
			t.Errorf("PATCH camera: %d %s", r.StatusCode, r.body)
		}
		a, _, _ := e.st.AccountForLogin(sysCtx(), "demo-installer")
		creds, err := e.st.GetThirdPartyDeviceCredentials(model.WithActor(sysCtx(), model.ActorOf(a)), cid)
		if err != nil || creds.Username != "viewer" || creds.Password != "s3cret-pw" {
			t.Errorf("credentials after PATCH: %+v %v", creds, err)
		}
		if r := e.do(nil, "GET", fmt.Sprintf("/api/v1/third-party-devices/%d", cid), nil, bearer(other)); r.StatusCode != 404 {
			t.Errorf("foreign camera: %d", r.StatusCode)
		}
		if r := e.do(nil, "DELETE", fmt.Sprintf("/api/v1/third-party-devices/%d", cid), nil, bearer(inst)); r.StatusCode != 204 {
			t.Errorf("DELETE camera: %d", r.StatusCode)
		}
		// The demo's cameras are sealed at rest too.
		if n := e.ipCount(`SELECT count(*) FROM third_party_devices WHERE password NOT LIKE 'v1:%' OR username NOT LIKE 'v1:%'`); n != 0 {
			t.Errorf("%d demo cameras with clear credentials", n)
		}
	})
}

var ipLocationRE = regexp.MustCompile(`/installer/projects/(\d+)`)

// TestInstallerPortalForms drives the portal's forms over HTTP: bad input
// comes back with the field named and the values kept; deletes ask first.
func TestInstallerPortalForms(t *testing.T) {
	e := newEnv(t, "sqlite")
	b := e.browserLogin("demo-installer")
	form := func(path string, v url.Values) *resp {
		t.Helper()
		v.Set("csrf_token", b.csrf)
		return e.form(b.c, path, v)
	}
	r := form("/installer/projects", url.Values{"kind": {"office"}, "name": {" "}, "manager": {"Olga"}})
	if body := string(r.body); r.StatusCode != 400 || !strings.Contains(body, "is required") || !strings.Contains(body, `value="Olga"`) {
		t.Errorf("empty name: %d", r.StatusCode)
	}
	r = form("/installer/projects", url.Values{"kind": {"community"}, "name": {"Form Gardens"}, "manager": {"Olga"}})
	m := ipLocationRE.FindStringSubmatch(r.Header.Get("Location"))
	if r.StatusCode != 303 || m == nil {
		t.Fatalf("create: %d %s", r.StatusCode, r.Header.Get("Location"))
	}
	proj := "/installer/projects/" + m[1]
	if r := form(proj+"/buildings", url.Values{"name": {"Block 1"}}); r.StatusCode != 303 {
		t.Fatalf("building: %d %s", r.StatusCode, r.body)
	}
	page := string(e.do(b.c, "GET", proj, nil).body)
	bm := regexp.MustCompile(`/installer/buildings/(\d+)/apartments`).FindStringSubmatch(page)
	if bm == nil || !strings.Contains(page, "Community Manager") {
		t.Fatalf("project page lacks the building or the manager label")
	}
	r = form("/installer/buildings/"+bm[1]+"/apartments", url.Values{"number": {"7"}, "family_member_limit": {"99"}})
	if r.StatusCode != 400 || !strings.Contains(string(r.body), "from 0 to 63") || !strings.Contains(string(r.body), `value="99"`) {
		t.Errorf("limit 99: %d", r.StatusCode)
	}
	if r := form("/installer/buildings/"+bm[1]+"/apartments", url.Values{"number": {"7"}, "floor": {"0"}, "family_member_limit": {"2"}}); r.StatusCode != 303 {
		t.Fatalf("apartment: %d %s", r.StatusCode, r.body)
	}
	page = string(e.do(b.c, "GET", proj, nil).body)
	am := regexp.MustCompile(`<option value="(\d+)"[^>]*>Block 1-7</option>`).FindStringSubmatch(page)
	if am == nil {
		t.Fatalf("the user form does not offer apartment Block 1-7")
	}
	r = form(proj+"/users", url.Values{"role": {"family_member"}, "name": {"Early Kid"}, "apartment_id": {am[1]}})
	if r.StatusCode != 400 || !strings.Contains(string(r.body), "no family master yet") || !strings.Contains(string(r.body), `value="Early Kid"`) {
		t.Errorf("member before master: %d", r.StatusCode)
	}
	if r := form(proj+"/users", url.Values{"role": {"family_master"}, "name": {"Olga Nilsen"}, "apartment_id": {am[1]}, "active": {"on"}}); r.StatusCode != 303 {
		t.Fatalf("master: %d %s", r.StatusCode, r.body)
	}
	// Another installer's project is not found; the sub-distributor has no installer portal.
	if r := e.do(e.browserLogin("installer-1-2-01").c, "GET", proj, nil); r.StatusCode != 404 {
		t.Errorf("foreign project page: %d", r.StatusCode)
	}
	if r := e.do(e.browserLogin("demo-subdistributor").c, "GET", proj, nil); r.StatusCode != 403 {
		t.Errorf("sub-distributor on the installer portal: %d", r.StatusCode)
	}
	for _, p := range []string{"/installer/projects", "/installer/projects?kind=office&search=a", "/installer/users", "/installer/users?kind=villa",
		"/installer/users?kind=office", "/installer/devices", "/installer/devices/new", "/installer/devices/new?project_id=" + m[1],
		"/installer/cameras/new", "/installer/cameras/new?project_id=" + m[1], proj + "/delete", "/installer/end-user-template.csv"} {
		if r := e.do(b.c, "GET", p, nil); r.StatusCode != 200 {
			t.Errorf("GET %s: %d", p, r.StatusCode)
		}
	}
	if r := e.do(b.c, "GET", "/installer/users?kind=castle", nil); r.StatusCode != 400 {
		t.Errorf("bad kind: %d", r.StatusCode)
	}
	// Delete asks first: without the tick nothing goes.
	conf := string(e.do(b.c, "GET", proj+"/delete", nil).body)
	if !strings.Contains(conf, `id="delete-contents"`) || !strings.Contains(conf, "<li>1 end user</li>") || !strings.Contains(conf, "<li>1 apartment</li>") {
		t.Errorf("the confirmation does not count what goes")
	}
	if r := form(proj+"/delete", url.Values{}); r.StatusCode != 400 {
		t.Errorf("delete without the tick: %d", r.StatusCode)
	}
	if r := e.do(b.c, "GET", proj, nil); r.StatusCode != 200 {
		t.Fatalf("the project went without confirmation")
	}
	if r := form(proj+"/delete", url.Values{"confirm": {"yes"}}); r.StatusCode != 303 || !strings.Contains(r.Header.Get("Location"), "1+end+users") {
		t.Errorf("delete: %d %s", r.StatusCode, r.Header.Get("Location"))
	}
	if r := e.do(b.c, "GET", proj, nil); r.StatusCode != 404 {
		t.Errorf("after delete: %d", r.StatusCode)
	}
}
