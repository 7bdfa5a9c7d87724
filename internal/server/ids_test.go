package server_test

import (
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/model"
)

// recentRE cuts the Recent changes / activity panel out of a page.
var recentRE = regexp.MustCompile(`(?s)<h2>Recent (?:changes|activity)</h2>.*?</table>`)

func recentPanel(t *testing.T, page []byte) string {
	t.Helper()
	m := recentRE.Find(page)
	if m == nil {
		t.Fatalf("no Recent changes panel on the page: %s", page)
	}
	return string(m)
}

// TestNewObjectsDoNotInheritHistory is the user's report (issue 12, point
// 2) through the portal: create an installer, log in as it, delete it,
// create another. The new one used to get the same id on SQLite, and its
// page's Recent changes listed the deleted installer's login and deletion.
// The same for a device deleted and another MAC added, and a camera.
func TestNewObjectsDoNotInheritHistory(t *testing.T) {
	eachBackend(t, func(t *testing.T, e *env) {
		sub := e.token("demo-subdistributor")
		create := func(account string) int64 {
			t.Helper()
			r := e.do(nil, "POST", "/api/v1/installers", map[string]any{"account": account, "email": account + "@example.com"}, bearer(sub))
			if r.StatusCode != 201 {
				t.Fatalf("create %s: %d %s", account, r.StatusCode, r.body)
			}
			return int64(r.json(t)["id"].(float64))
		}
		oldID := create("fitter-gone")
		tok := strings.TrimPrefix(e.lastLink("fitter-gone@example.com"), "/password/set?token=")
		if r := e.form(nil, "/password/set", url.Values{"token": {tok}, "password": {"fitter-pass-1"}, "confirm": {"fitter-pass-1"}}); r.StatusCode != 303 {
			t.Fatalf("set password: %d %s", r.StatusCode, r.body)
		}
		if r := e.do(nil, "POST", "/api/v1/auth/login", map[string]string{"username": "fitter-gone", "password": "fitter-pass-1"}); r.StatusCode != 200 {
			t.Fatalf("login: %d %s", r.StatusCode, r.body)
		}
		if r := e.do(nil, "DELETE", fmt.Sprintf("/api/v1/installers/%d", oldID), nil, bearer(sub)); r.StatusCode != 200 {
			t.Fatalf("delete: %d %s", r.StatusCode, r.body)
		}
		newID := create("fitter-next")
		if newID == oldID {
			t.Fatalf("the new installer got the deleted one's id %d", oldID)
		}
		b := e.browserLogin("demo-subdistributor")
		if r := e.do(b.c, "GET", fmt.Sprintf("/users/installers/%d", oldID), nil); r.StatusCode != 404 {
			t.Errorf("the deleted installer's page: %d", r.StatusCode)
		}
		r := e.do(b.c, "GET", fmt.Sprintf("/users/installers/%d", newID), nil)
		if r.StatusCode != 200 {
			t.Fatalf("the new installer's page: %d", r.StatusCode)
		}
		panel := recentPanel(t, r.body)
		for _, old := range []string{"auth.login", "installer.delete", "fitter-gone"} {
			if strings.Contains(panel, old) {
				t.Errorf("the new installer's Recent changes show %q of the deleted one:\n%s", old, panel)
			}
		}
		if !strings.Contains(panel, "account.create") {
			t.Errorf("the new installer's Recent changes:\n%s", panel)
		}

		// A device with a command, deleted; another MAC added in its place.
		inst := e.token("demo-installer")
		var projectID int64
		if err := e.st.DB().QueryRow(fmt.Sprintf(`SELECT min(id) FROM projects WHERE kind = 'community' AND installer_id = %d`,
			e.accountID(t, "demo-installer"))).Scan(&projectID); err != nil {
			t.Fatal(err)
		}
		addDevice := func(mac string) int64 {
			t.Helper()
			r := e.do(nil, "POST", "/api/v1/installer/devices", map[string]any{"mac": mac, "project_id": projectID, "type": "door_phone"}, bearer(inst))
			if r.StatusCode != 201 {
				t.Fatalf("add %s: %d %s", mac, r.StatusCode, r.body)
			}
			return int64(r.json(t)["id"].(float64))
		}
		oldDev := addDevice("0C110A000001")
		r = e.do(nil, "POST", "/api/v1/devices/0C110A000001/reboot", nil, bearer(sub))
		if r.StatusCode != 202 {
			t.Fatalf("reboot: %d %s", r.StatusCode, r.body)
		}
		oldCmd := int64(r.json(t)["id"].(float64))
		if r := e.do(nil, "DELETE", "/api/v1/devices/0C110A000001", nil, bearer(sub)); r.StatusCode != 204 {
			t.Fatalf("delete device: %d %s", r.StatusCode, r.body)
		}
		newDev := addDevice("0C110A000002")
		if newDev == oldDev {
			t.Errorf("the new device got the deleted one's id %d", oldDev)
		}
		r = e.do(nil, "POST", "/api/v1/devices/0C110A000002/reboot", nil, bearer(sub))
		if r.StatusCode != 202 || int64(r.json(t)["id"].(float64)) == oldCmd {
			t.Errorf("the new device's command repeats the deleted device's command id %d: %s", oldCmd, r.body)
		}
		r = e.do(b.c, "GET", "/devices/0C110A000002", nil)
		if r.StatusCode != 200 {
			t.Fatalf("device page: %d", r.StatusCode)
		}
		if panel := recentPanel(t, r.body); strings.Contains(panel, "device.delete") || strings.Count(panel, "device.reboot") != 1 {
			t.Errorf("the new device's Recent activity:\n%s", panel)
		}

		// A camera, deleted; another added.
		instAcc, _, err := e.st.AccountForLogin(sysCtx(), "demo-installer")
		if err != nil {
			t.Fatal(err)
		}
		ictx := model.WithActor(sysCtx(), model.ActorOf(instAcc))
		cam := func(name string) int64 {
			t.Helper()
			c := &model.ThirdPartyDevice{ProjectID: projectID, Name: name}
			if err := e.st.CreateThirdPartyDevice(ictx, c); err != nil {
				t.Fatal(err)
			}
			return c.ID
		}
		oldCam := cam("Gate cam")
		if err := e.st.DeleteThirdPartyDevice(ictx, oldCam); err != nil {
			t.Fatal(err)
		}
		newCam := cam("Lobby cam")
		if newCam == oldCam {
			t.Errorf("the new camera got the deleted one's id %d", oldCam)
		}
		r = e.do(b.c, "GET", fmt.Sprintf("/third-party-devices/%d", newCam), nil)
		if r.StatusCode != 200 {
			t.Fatalf("camera page: %d", r.StatusCode)
		}
		if panel := recentPanel(t, r.body); strings.Contains(panel, "third_party_device.delete") || strings.Contains(panel, "Gate cam") {
			t.Errorf("the new camera's Recent activity:\n%s", panel)
		}
	})
}
