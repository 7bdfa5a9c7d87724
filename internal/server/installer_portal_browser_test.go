package server_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// ipRows is the text of the cells of a table's data rows.
func (c *chromeTab) ipRows(table string) [][]string {
	c.t.Helper()
	return chromeEval[[][]string](c, fmt.Sprintf(`Array.from(document.querySelectorAll('%s tbody tr'))
		.filter(tr => !tr.querySelector('td.empty'))
		.map(tr => Array.from(tr.cells).map(td => td.textContent.trim()))`, table))
}

// ipOptionValue is the value of the first option of a select whose text
// starts with label ("" when none does).
func (c *chromeTab) ipOptionValue(sel, label string) string {
	c.t.Helper()
	return chromeEval[string](c, fmt.Sprintf(`(() => {
		const o = Array.from(document.querySelectorAll('%s option')).find(o => o.textContent.trim().startsWith(%q));
		return o ? o.value : '';
	})()`, sel, label))
}

// ipRowWith is the first row of table holding a cell equal to text.
func ipRowWith(rows [][]string, text string) []string {
	for _, r := range rows {
		for _, c := range r {
			if c == text {
				return r
			}
		}
	}
	return nil
}

// TestBrowserInstallerPortal: demo-installer builds a community, fills it,
// adds a device by MAC and a camera, edits and deletes the device, and
// imports users, seeing the one bad row's number and reason.
func TestBrowserInstallerPortal(t *testing.T) {
	execPath := requireChromium(t)
	e := newEnv(t, "sqlite")
	c := newChrome(t, execPath, e.url, 1280, 900, chromeTimeout)
	c.login("demo-installer")

	// Projects, through the nav: a new community.
	if st := c.clickAndLoad(`nav a[data-module="installer-projects"]`); st != 200 || c.path() != "/installer/projects" {
		t.Fatalf("Projects nav: status %d at %s", st, c.path())
	}
	if n := len(c.ipRows("#projects-list")); n == 0 {
		t.Fatal("demo-installer's project list is empty")
	}
	if st := c.clickAndLoad("#new-community"); st != 200 {
		t.Fatalf("New community: %d", st)
	}
	if open := chromeEval[bool](c, `document.querySelector('#new-project').open`); !open {
		t.Fatal("New community did not open the form")
	}
	if k := chromeEval[string](c, `document.querySelector('#project-kind').value`); k != "community" {
		t.Errorf("the new project's type is %q, want community", k)
	}
	c.do("fill the project form",
		chromedp.SendKeys(chromedp.ID("project-name"), "Browser Gardens"),
		chromedp.SendKeys(chromedp.ID("project-manager"), "Bea Manager"))
	if st := c.clickAndLoad("#create-project"); st != 200 {
		t.Fatalf("create the community: %d", st)
	}
	projectPath := c.path()
	if !strings.HasPrefix(projectPath, "/installer/projects/") || c.text("main h1") != "Browser Gardens" {
		t.Fatalf("after creating, at %s with heading %q", projectPath, c.text("main h1"))
	}
	projectPath = strings.Split(projectPath, "?")[0]
	if n := c.text(".notice"); !strings.Contains(n, "Community Browser Gardens created") {
		t.Errorf("notice %q", n)
	}
	if m := c.text("#project-manager-value"); m != "Bea Manager" {
		t.Errorf("manager shows %q", m)
	}

	// A building, and an apartment in it.
	c.do("name the building", chromedp.SendKeys(chromedp.ID("building-name"), "Building A"))
	if st := c.clickAndLoad("#add-building"); st != 200 {
		t.Fatalf("add building: %d", st)
	}
	if name := c.text(".ip-building .ip-building-name"); name != "Building A" {
		t.Fatalf("building panel shows %q", name)
	}
	c.do("fill the apartment form",
		chromedp.SendKeys(chromedp.CSS(".ip-new-apartment input[name=floor]"), "1"),
		chromedp.SendKeys(chromedp.CSS(".ip-new-apartment input[name=number]"), "101"))
	if st := c.clickAndLoad(".ip-add-apartment"); st != 200 {
		t.Fatalf("add apartment: %d", st)
	}
	apts := c.ipRows(".ip-apartments")
	if len(apts) != 1 || apts[0][1] != "101" || apts[0][3] != "4" {
		t.Fatalf("apartments: %q", apts)
	}

	// A family master in that apartment.
	c.do("open the user form", chromedp.Click(chromedp.CSS("#new-user summary")))
	apt := c.ipOptionValue("#user-apartment", "Building A-101")
	if apt == "" {
		t.Fatal("the user form does not offer Building A-101")
	}
	c.do("fill the user form",
		chromedp.SetValue(chromedp.ID("user-role"), "family_master"),
		chromedp.SetValue(chromedp.ID("user-apartment"), apt),
		chromedp.SendKeys(chromedp.ID("user-name"), "Bea Resident"),
		chromedp.SendKeys(chromedp.ID("user-email"), "bea@example.com"))
	if st := c.clickAndLoad("#add-user"); st != 200 {
		t.Fatalf("add user: %d (%s)", st, c.text(".error"))
	}
	users := c.ipRows("#project-users")
	if row := ipRowWith(users, "Bea Resident"); row == nil || row[1] != "Family Master" || row[2] != "Building A-101" {
		t.Fatalf("users: %q", users)
	}
	if fm := c.ipRows(".ip-apartments")[0][4]; fm != "Bea Resident" {
		t.Errorf("apartment's family master shows %q", fm)
	}

	// A device by MAC into the apartment: the location fills itself in.
	if st := c.clickAndLoad("#add-device"); st != 200 || !strings.HasPrefix(c.path(), "/installer/devices/new?project_id=") {
		t.Fatalf("Add a device: %d at %s", st, c.path())
	}
	place := c.ipOptionValue("#device-place", "Building A-101")
	if place == "" {
		t.Fatal("the device form does not offer Building A-101")
	}
	c.do("fill the device form",
		chromedp.SendKeys(chromedp.ID("device-mac"), "0c:11:05:be:ef:01"),
		chromedp.SetValue(chromedp.ID("device-type"), "indoor_monitor"),
		chromedp.SetValue(chromedp.ID("device-place"), place),
		chromedp.SendKeys(chromedp.ID("device-model"), "C315"),
		chromedp.SendKeys(chromedp.ID("device-name"), "Bea monitor"))
	if st := c.clickAndLoad("#save-device"); st != 200 || !strings.HasPrefix(c.path(), "/installer/devices") {
		t.Fatalf("add device: %d at %s (%s)", st, c.path(), c.text(".error"))
	}
	dev := ipRowWith(c.ipRows("#devices-list"), "0C1105BEEF01")
	if dev == nil || dev[1] != "Indoor Monitor" || dev[3] != "Bea monitor" || dev[4] != "Building A-101" || dev[5] != "Browser Gardens" {
		t.Fatalf("device row: %q", dev)
	}
	// The same MAC again is refused, naming the field, with the input kept.
	c.open("/installer/devices/new?project_id=" + strings.TrimPrefix(projectPath, "/installer/projects/"))
	c.do("the same MAC again", chromedp.SendKeys(chromedp.ID("device-mac"), "0C-11-05-BE-EF-01"))
	if st := c.clickAndLoad("#save-device"); st != 409 {
		t.Errorf("a registered MAC: status %d", st)
	}
	if msg := c.text("#device-form .field-error"); !strings.Contains(msg, "already registered") {
		t.Errorf("MAC error %q", msg)
	}

	// A camera for the community.
	c.open("/installer/devices")
	if st := c.clickAndLoad("#add-camera"); st != 200 {
		t.Fatalf("Add camera: %d", st)
	}
	pid := strings.TrimPrefix(projectPath, "/installer/projects/")
	c.do("choose the project", chromedp.SetValue(chromedp.ID("camera-project"), pid))
	if st := c.clickAndLoad("#choose"); st != 200 || c.path() != "/installer/cameras/new?project_id="+pid {
		t.Fatalf("choose project: %d at %s", st, c.path())
	}
	c.do("fill the camera form",
		chromedp.SendKeys(chromedp.ID("camera-name"), "Gate camera"),
		chromedp.SendKeys(chromedp.ID("camera-url"), "rtsp://10.9.8.7:554/stream1"),
		chromedp.SendKeys(chromedp.ID("camera-user"), "viewer"),
		chromedp.SendKeys(chromedp.ID("camera-password"), "cam-pass-123"))
	if st := c.clickAndLoad("#save-camera"); st != 200 {
		t.Fatalf("add camera: %d (%s)", st, c.text(".error"))
	}
	cam := ipRowWith(c.ipRows("#cameras-list"), "Gate camera")
	if cam == nil || cam[2] != "Browser Gardens" || cam[4] != "set" {
		t.Fatalf("camera row: %q", cam)
	}
	if html := chromeEval[string](c, `document.documentElement.outerHTML`); strings.Contains(html, "cam-pass-123") {
		t.Error("the device page shows the camera password")
	}
	// Its edit form shows the user, and the password only as "unchanged".
	c.do("open the camera", chromedp.Click(chromedp.CSS("#cameras-list tbody tr:first-child a.action")))
	c.do("wait for the camera form", chromedp.WaitVisible(chromedp.ID("camera-form")))
	if v := chromeEval[[]string](c, `[document.querySelector('#camera-user').value, document.querySelector('#camera-password').value,
		document.querySelector('#camera-password').placeholder]`); v[0] != "viewer" || v[1] != "" || v[2] != "unchanged" {
		t.Errorf("camera edit form: user %q, password %q, placeholder %q", v[0], v[1], v[2])
	}

	// Edit the device.
	c.open("/installer/devices")
	if st := c.clickAndLoad(`#devices-list a[href="/installer/devices/0C1105BEEF01"]`); st != 200 {
		t.Fatalf("open device: %d", st)
	}
	if v := chromeEval[string](c, `document.querySelector('#device-place').value`); v != place {
		t.Errorf("edit form's place %q, want %q", v, place)
	}
	c.do("edit the device",
		chromedp.Evaluate[chromedp.Void](`document.querySelector('#device-name').value = ''; document.querySelector('#device-location').value = ''`),
		chromedp.SendKeys(chromedp.ID("device-name"), "Hall monitor"),
		chromedp.SendKeys(chromedp.ID("device-location"), "Hallway"))
	if st := c.clickAndLoad("#save-device"); st != 200 {
		t.Fatalf("save device: %d (%s)", st, c.text(".error"))
	}
	dev = ipRowWith(c.ipRows("#devices-list"), "0C1105BEEF01")
	if dev == nil || dev[3] != "Hall monitor" || dev[4] != "Hallway" {
		t.Fatalf("device after edit: %q", dev)
	}

	// Delete it: a confirmation, then it is gone.
	if st := c.clickAndLoad(`#devices-list a[href="/installer/devices/0C1105BEEF01/delete"]`); st != 200 {
		t.Fatalf("delete link: %d", st)
	}
	if st := c.clickAndLoad("#delete-confirmed"); st != 200 {
		t.Fatalf("delete: %d", st)
	}
	if dev := ipRowWith(c.ipRows("#devices-list"), "0C1105BEEF01"); dev != nil {
		t.Errorf("the deleted device is still listed: %q", dev)
	}
	if n := c.text(".notice"); !strings.Contains(n, "Deleted device 0C1105BEEF01") {
		t.Errorf("notice %q", n)
	}

	// Import users: row 3 names an apartment that does not exist.
	csv := filepath.Join(t.TempDir(), "users.csv")
	if err := os.WriteFile(csv, []byte("Role,Name,Building,Apartment,Email\n"+
		"Family Member,Bo Resident,Building A,101,bo@example.com\n"+
		"Family Master,Nobody Home,Building A,909,\n"+
		"Property Manager,Pam Keeper,,,pam@example.com\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c.open(projectPath)
	c.do("open the import form", chromedp.Click(chromedp.CSS("#import summary")))
	c.do("choose the file", chromedp.SetUploadFiles(chromedp.ID("import-file"), []string{csv}))
	if st := c.clickAndLoad("#import-users"); st != 200 {
		t.Fatalf("import: %d (%s)", st, c.text(".error"))
	}
	if s := c.text("#import-summary"); !strings.HasPrefix(s, "2 users imported from users.csv; 1 row rejected") {
		t.Errorf("import summary %q", s)
	}
	rej := c.ipRows("#import-rejected")
	if len(rej) != 1 || rej[0][0] != "3" || rej[0][1] != "Nobody Home" || !strings.Contains(rej[0][2], "apartment: no apartment 909") {
		t.Errorf("rejected rows: %q", rej)
	}
	if st := c.clickAndLoad("#back-to-project"); st != 200 {
		t.Fatalf("back: %d", st)
	}
	users = c.ipRows("#project-users")
	for _, name := range []string{"Bea Resident", "Bo Resident", "Pam Keeper"} {
		if ipRowWith(users, name) == nil {
			t.Errorf("%s is not among the project's users: %q", name, users)
		}
	}
	if ipRowWith(users, "Nobody Home") != nil {
		t.Error("the rejected row was imported")
	}
}
