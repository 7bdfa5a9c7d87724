package server_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// devTable is the header and the data rows of #device-list (the check box
// column has an empty header).
func (c *chromeTab) devTable() firmwareTable {
	c.t.Helper()
	header := chromeEval[[]string](c, `Array.from(document.querySelectorAll('#device-list thead th')).map(th => th.textContent.trim())`)
	rows := chromeEval[[][]string](c, `Array.from(document.querySelectorAll('#device-list tbody tr'))
		.filter(tr => !tr.querySelector('td.empty'))
		.map(tr => Array.from(tr.cells).map(td => td.textContent.trim()))`)
	for i, r := range rows {
		if len(r) != len(header) {
			c.t.Fatalf("device row %d has %d cells, the header %d: %q", i, len(r), len(header), r)
		}
	}
	return firmwareTable{header: header, rows: rows}
}

// devColumn is the text of one column of the table's rows.
func devColumn(ft firmwareTable, t *testing.T, name string) []string {
	t.Helper()
	i := ft.col(t, name)
	var out []string
	for _, r := range ft.rows {
		out = append(out, r[i])
	}
	return out
}

func colonLower(mac string) string { return strings.ToLower(colons(mac)) }

// devDetailMAC opens the Details link of the row of mac and checks the
// detail page.
func (c *chromeTab) devOpenDetail(t *testing.T, mac string) {
	t.Helper()
	if st := c.clickAndLoad(fmt.Sprintf(`#device-list tr[data-mac="%s"] a.action`, mac)); st != 200 {
		t.Fatalf("details of %s: status %d", mac, st)
	}
	if p := c.path(); !strings.HasPrefix(p, "/devices/"+mac) {
		t.Fatalf("Details led to %s", p)
	}
	if got := c.text("#detail-mac"); got != mac {
		t.Errorf("detail page shows MAC %q, want %s", got, mac)
	}
	if rm := c.text("#remote-maintenance"); !strings.Contains(rm, "Remote maintenance") || !strings.Contains(rm, "Reboot") || !strings.Contains(rm, "Remote Control") {
		t.Errorf("remote maintenance panel: %q", rm)
	}
	if ap := c.text("#device-autop"); !strings.Contains(ap, "Regular AutoP") {
		t.Errorf("AutoP panel: %q", ap)
	}
	if chain := c.text("#owner-chain"); !strings.Contains(chain, "Installer") {
		t.Errorf("owner chain: %q", chain)
	}
}

// devDeleteFromDetail deletes the device of the open detail page and
// returns to the list it came from.
func (c *chromeTab) devDeleteFromDetail(t *testing.T, mac, listPrefix string) {
	t.Helper()
	if st := c.clickAndLoad("#delete-device"); st != 200 {
		t.Fatalf("delete link: status %d", st)
	}
	if rows := c.text("#delete-devices"); !strings.Contains(rows, mac) {
		t.Fatalf("confirmation does not name %s: %q", mac, rows)
	}
	if st := c.clickAndLoad("#confirm-delete"); st != 200 {
		t.Fatalf("confirm delete: status %d", st)
	}
	if p := c.path(); !strings.HasPrefix(p, listPrefix) {
		t.Errorf("after deleting, the browser is at %s, want %s…", p, listPrefix)
	}
	if n := c.text("p.notice"); !strings.Contains(n, "deleted") || !strings.Contains(n, mac) {
		t.Errorf("notice after delete: %q", n)
	}
}

func TestBrowserProjectDevices(t *testing.T) {
	execPath := requireChromium(t)
	e := newEnv(t, "sqlite")
	c := newChrome(t, execPath, e.url, 1400, 900, chromeTimeout)
	c.login("demo-subdistributor")

	if st := c.open("/project-devices"); st != 200 {
		t.Fatalf("/project-devices: status %d", st)
	}
	if a := c.text("nav.sidebar a.active"); a != "Project Device" {
		t.Errorf("active module %q", a)
	}
	if a := c.text("nav.tabs a.active"); a != "Community" {
		t.Errorf("active tab %q, want Community", a)
	}
	all := c.devTable()
	for _, h := range []string{"Status", "Device Name", "MAC", "SIP", "Type", "Model", "Firmware", "Community", "Location", "Installer",
		"Community Manager", "Created Time", "Action"} {
		all.col(t, h)
	}
	if len(all.rows) < 3 {
		t.Fatalf("the community list has %d rows", len(all.rows))
	}
	macs := devColumn(all, t, "MAC")
	mac := macs[1]

	// Search by a part of the MAC, typed in another notation.
	part := colonLower(mac)[9:] // the last three octets, "aa:bb:cc"
	c.do("search by MAC", chromedp.SendKeys(chromedp.ID("search-mac"), part))
	if st := c.clickAndLoad("#search"); st != 200 {
		t.Fatalf("search: status %d", st)
	}
	if p := c.path(); !strings.Contains(p, "mac=") || !strings.Contains(p, "kind=community") {
		t.Errorf("search went to %s", p)
	}
	found := c.devTable()
	got := devColumn(found, t, "MAC")
	if !slices.Contains(got, mac) || len(got) >= len(macs) {
		t.Fatalf("searching %q shows %v", part, got)
	}
	for _, m := range got {
		if !strings.Contains(m, strings.ToUpper(strings.ReplaceAll(part, ":", ""))) {
			t.Errorf("%s does not hold %s", m, part)
		}
	}
	if v := chromeEval[string](c, `document.querySelector('#search-mac').value`); v != part {
		t.Errorf("the MAC search reads %q after the search", v)
	}

	// Its detail page, then delete it from there.
	c.devOpenDetail(t, mac)
	c.devDeleteFromDetail(t, mac, "/project-devices")
	if got := devColumn(c.devTable(), t, "MAC"); slices.Contains(got, mac) {
		t.Errorf("%s is still listed after deleting it: %v", mac, got)
	}
	if st := c.open("/project-devices?mac=" + mac); st != 200 || slices.Contains(devColumn(c.devTable(), t, "MAC"), mac) {
		t.Errorf("the deleted device is found again (%d)", st)
	}

	// The Office tab: search by office, then delete a selection.
	c.open("/project-devices")
	if st := c.clickAndLoad("#tab-office"); st != 200 {
		t.Fatalf("Office tab: status %d", st)
	}
	if a := c.text("nav.tabs a.active"); a != "Office" {
		t.Errorf("active tab %q, want Office", a)
	}
	offices := c.devTable()
	office := strings.Fields(devColumn(offices, t, "Office")[0])[0]
	c.do("search by office", chromedp.SendKeys(chromedp.ID("search-office"), strings.ToLower(office)))
	if st := c.clickAndLoad("#search"); st != 200 {
		t.Fatalf("office search: status %d", st)
	}
	byOffice := c.devTable()
	if len(byOffice.rows) == 0 || len(byOffice.rows) >= len(offices.rows) {
		t.Fatalf("office %q: %d rows of %d", office, len(byOffice.rows), len(offices.rows))
	}
	for _, o := range devColumn(byOffice, t, "Office") {
		if !strings.Contains(strings.ToLower(o), strings.ToLower(office)) {
			t.Errorf("office search %q shows %q", office, o)
		}
	}
	if st := c.clickAndLoad("#clear"); st != 200 || c.path() != "/project-devices?kind=office" {
		t.Fatalf("clear: %d %s", st, c.path())
	}
	byOffice = c.devTable()
	pick := devColumn(byOffice, t, "MAC")[1:3]
	for _, m := range pick {
		c.do("tick "+m, chromedp.Click(chromedp.CSS(fmt.Sprintf(`#device-list tr[data-mac="%s"] input[type=checkbox]`, m))))
	}
	if st := c.clickAndLoad("#delete-selected"); st != 200 {
		t.Fatalf("delete selected: status %d", st)
	}
	confirm := c.text("#delete-devices")
	for _, m := range pick {
		if !strings.Contains(confirm, m) {
			t.Errorf("the confirmation does not list %s: %q", m, confirm)
		}
	}
	if st := c.clickAndLoad("#confirm-delete"); st != 200 {
		t.Fatalf("confirm batch delete: status %d", st)
	}
	if p := c.path(); !strings.HasPrefix(p, "/project-devices?") || !strings.Contains(p, "kind=office") {
		t.Errorf("after the batch the browser is at %s", p)
	}
	if n := c.text("p.notice"); !strings.Contains(n, "2 devices deleted") {
		t.Errorf("notice: %q", n)
	}
	left := devColumn(c.devTable(), t, "MAC")
	for _, m := range pick {
		if slices.Contains(left, m) {
			t.Errorf("%s is still listed after the batch", m)
		}
	}
	if len(left) != len(byOffice.rows)-2 {
		t.Errorf("%d rows left of %d", len(left), len(byOffice.rows))
	}
}

func TestBrowserPersonalDevices(t *testing.T) {
	execPath := requireChromium(t)
	e := newEnv(t, "sqlite")
	c := newChrome(t, execPath, e.url, 1400, 900, chromeTimeout)
	c.login("demo-subdistributor")

	if st := c.open("/personal-devices"); st != 200 {
		t.Fatalf("/personal-devices: status %d", st)
	}
	if a := c.text("nav.sidebar a.active"); a != "Personal Device" {
		t.Errorf("active module %q", a)
	}
	all := c.devTable()
	all.col(t, "Single-tenant Manager")
	all.col(t, "Home")
	if len(all.rows) < 3 {
		t.Fatalf("the personal list has %d rows", len(all.rows))
	}
	// Search by Single-tenant Manager (a last name, in lower case) and
	// Device Name.
	manager := devColumn(all, t, "Single-tenant Manager")[0]
	last := strings.Fields(manager)[len(strings.Fields(manager))-1]
	name := devColumn(all, t, "Device Name")[0]
	c.do("search", chromedp.SendKeys(chromedp.ID("search-manager"), strings.ToLower(last)),
		chromedp.SendKeys(chromedp.ID("search-name"), strings.ToUpper(name)))
	if st := c.clickAndLoad("#search"); st != 200 {
		t.Fatalf("search: status %d", st)
	}
	found := c.devTable()
	if len(found.rows) == 0 || len(found.rows) >= len(all.rows) {
		t.Fatalf("searching %q / %q shows %d of %d rows", last, name, len(found.rows), len(all.rows))
	}
	for i, r := range found.rows {
		if !strings.Contains(strings.ToLower(r[found.col(t, "Single-tenant Manager")]), strings.ToLower(last)) ||
			!strings.EqualFold(r[found.col(t, "Device Name")], name) {
			t.Errorf("row %d does not match: %q", i, r)
		}
	}
	if n := c.text("#device-count"); !strings.HasSuffix(n, fmt.Sprintf(" of %d", len(found.rows))) {
		t.Errorf("count %q for %d rows", n, len(found.rows))
	}
	mac := devColumn(found, t, "MAC")[0]

	// Details, delete, gone.
	c.devOpenDetail(t, mac)
	if back := c.text("#back"); !strings.Contains(back, "Personal Device") {
		t.Errorf("way back: %q", back)
	}
	c.devDeleteFromDetail(t, mac, "/personal-devices")
	if p := c.path(); !strings.Contains(p, "manager=") {
		t.Errorf("the list after the delete lost its search: %s", p)
	}
	if got := devColumn(c.devTable(), t, "MAC"); slices.Contains(got, mac) || len(got) != len(found.rows)-1 {
		t.Errorf("after deleting %s the search shows %v", mac, got)
	}
	c.open("/personal-devices?mac=" + mac)
	if got := devColumn(c.devTable(), t, "MAC"); len(got) != 0 {
		t.Errorf("the deleted device is found by its MAC: %v", got)
	}
	if n := c.text("#device-count"); n != "No devices" {
		t.Errorf("count of an empty search: %q", n)
	}
}
