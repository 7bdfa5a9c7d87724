package server_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// camTable is the header and the data rows of #camera-list (the checkbox
// column has no text).
func (c *chromeTab) camTable() firmwareTable {
	c.t.Helper()
	header := chromeEval[[]string](c, `Array.from(document.querySelectorAll('#camera-list thead th')).map(th => th.textContent.trim())`)
	rows := chromeEval[[][]string](c, `Array.from(document.querySelectorAll('#camera-list tbody tr'))
		.filter(tr => !tr.querySelector('td.empty'))
		.map(tr => Array.from(tr.cells).map(td => td.textContent.trim()))`)
	for i, r := range rows {
		if len(r) != len(header) {
			c.t.Fatalf("camera row %d has %d cells, the header %d: %q", i, len(r), len(header), r)
		}
	}
	return firmwareTable{header: header, rows: rows}
}

func TestBrowserCameras(t *testing.T) {
	execPath := requireChromium(t)
	e := newEnv(t, "sqlite")
	f := newCamFixture(t, e)
	var sel []int64
	for i := 0; i < 2; i++ {
		sel = append(sel, ipNum(e.ipCreate(f.inst, "/api/v1/third-party-devices", map[string]any{"project_id": f.community,
			"name": fmt.Sprintf("Selected cam %d", i), "stream_url": "rtsp://10.0.0.9/s"}), "id"))
	}
	c := newChrome(t, execPath, e.url, 1280, 900, chromeTimeout)
	c.login("demo-subdistributor")

	// The module, through the nav: the Project list first.
	if st := c.clickAndLoad(`nav a[data-module="third-party-devices"]`); st != 200 {
		t.Fatalf("Third-Party Device page: status %d", st)
	}
	if a := c.text("nav.sidebar a.active"); a != "Third-Party Device" {
		t.Errorf("active module %q", a)
	}
	if a := c.text("nav.tabs a.active"); a != "Project" {
		t.Errorf("active tab %q, want Project", a)
	}
	all := c.camTable()
	for _, h := range []string{"Device Name", "Project", "Project Manager", "Installer", "Stream", "Created"} {
		all.col(t, h)
	}
	if len(all.rows) < 3 {
		t.Fatalf("the project list has %d rows", len(all.rows))
	}
	if body := c.text("main"); strings.Contains(body, camPass) || strings.Contains(body, camUser) {
		t.Error("the list shows a credential")
	}

	// Sort by Device Name: the header link, then the other way round.
	if st := c.clickAndLoad(`#camera-list a[data-sort="name"]`); st != 200 {
		t.Fatalf("sort: status %d", st)
	}
	names := func() []string {
		tb := c.camTable()
		var out []string
		for _, r := range tb.rows {
			out = append(out, r[tb.col(t, "Device Name")])
		}
		return out
	}
	asc := names()
	if !slices.IsSorted(asc) || !strings.Contains(c.path(), "sort=name") {
		t.Errorf("by name at %s: %q", c.path(), asc)
	}
	if st := c.clickAndLoad(`#camera-list a[data-sort="name"]`); st != 200 {
		t.Fatalf("sort again: status %d", st)
	}
	desc := names()
	if !slices.IsSortedFunc(desc, func(a, b string) int { return strings.Compare(b, a) }) || !strings.Contains(c.path(), "order=desc") {
		t.Errorf("by name, descending, at %s: %q", c.path(), desc)
	}

	// The Personal tab: search by owner.
	if st := c.clickAndLoad("#tab-personal"); st != 200 {
		t.Fatalf("Personal tab: status %d", st)
	}
	personal := c.camTable()
	personal.col(t, "Owner")
	personal.col(t, "Single-tenant Manager")
	c.do("search by owner", chromedp.SendKeys(chromedp.ID("search-owner"), "avery"))
	if st := c.clickAndLoad("#search"); st != 200 {
		t.Fatalf("search: status %d", st)
	}
	if p := c.path(); !strings.Contains(p, "scope=personal") || !strings.Contains(p, "owner=avery") {
		t.Errorf("search went to %s", p)
	}
	found := c.camTable()
	if len(found.rows) != 1 || found.rows[0][found.col(t, "Device Name")] != "Porch cam" || found.rows[0][found.col(t, "Owner")] != "Avery Quinn" {
		t.Fatalf("owner avery: %q", found.rows)
	}
	if n := c.text("#camera-count"); n != "1–1 of 1" {
		t.Errorf("count %q", n)
	}

	// Its detail page.
	if st := c.clickAndLoad(`#camera-list tbody tr:first-child a.action`); st != 200 {
		t.Fatalf("details: status %d", st)
	}
	if p := c.path(); !strings.HasPrefix(p, fmt.Sprintf("/third-party-devices/%d", f.porch)) {
		t.Fatalf("Details led to %s", p)
	}
	detail := chromeEval[map[string]string](c, `(() => {
		const m = {};
		document.querySelectorAll('#camera-detail dt').forEach(dt => { m[dt.textContent.trim()] = dt.nextElementSibling.textContent.trim(); });
		return m;
	})()`)
	if detail["Device Name"] != "Porch cam" || detail["Stream URL"] != "rtsps://porch.quinn.example/s1" || !strings.Contains(detail["Credentials"], "password set") {
		t.Errorf("detail: %q", detail)
	}
	chain := c.text("#camera-chain")
	for _, want := range []string{"Owner: Avery Quinn", "Quinn Residence", "Single-tenant Manager: Sam Quinn", "Installer: demo-installer"} {
		if !strings.Contains(chain, want) {
			t.Errorf("the owner chain %q lacks %q", chain, want)
		}
	}
	if body := c.text("main"); strings.Contains(body, camPass) || strings.Contains(body, camUser) {
		t.Error("the detail page shows a credential")
	}

	// Delete it, confirmed: back at the search, and it is gone.
	if st := c.clickAndLoad("#delete-camera"); st != 200 {
		t.Fatalf("delete: status %d", st)
	}
	if txt := c.text("main .panel p"); !strings.Contains(txt, "Porch cam") {
		t.Errorf("the confirmation says %q", txt)
	}
	if st := c.clickAndLoad("#confirm-delete"); st != 200 {
		t.Fatalf("confirm: status %d", st)
	}
	if p := c.path(); !strings.Contains(p, "scope=personal") || !strings.Contains(p, "owner=avery") {
		t.Errorf("after the delete the browser is at %s", p)
	}
	if n := c.text(".notice"); n != "Deleted Porch cam." {
		t.Errorf("notice %q", n)
	}
	if rows := c.camTable().rows; len(rows) != 0 {
		t.Errorf("the deleted camera is still listed: %q", rows)
	}

	// Delete a selection from the Project list.
	c.open("/third-party-devices?scope=project&name=selected")
	if rows := c.camTable().rows; len(rows) != 2 {
		t.Fatalf("selected cams: %q", rows)
	}
	for _, id := range sel {
		c.do("tick", chromedp.Click(chromedp.CSS(fmt.Sprintf(`#camera-list input[type=checkbox][value="%d"]`, id))))
	}
	if st := c.clickAndLoad("#delete-selected"); st != 200 {
		t.Fatalf("delete selected: status %d", st)
	}
	listed := chromeEval[[]string](c, `Array.from(document.querySelectorAll('#delete-list tbody tr td:first-child')).map(td => td.textContent.trim())`)
	if !slices.Equal(listed, []string{"Selected cam 0", "Selected cam 1"}) {
		t.Errorf("the confirmation lists %q", listed)
	}
	if l := c.text("#confirm-delete"); l != "Delete 2 cameras" {
		t.Errorf("confirm button %q", l)
	}
	if st := c.clickAndLoad("#confirm-delete"); st != 200 {
		t.Fatalf("confirm: status %d", st)
	}
	if n := c.text(".notice"); n != "Deleted 2 cameras." {
		t.Errorf("notice %q", n)
	}
	if p := c.path(); !strings.Contains(p, "name=selected") {
		t.Errorf("after the batch the browser is at %s", p)
	}
	if rows := c.camTable().rows; len(rows) != 0 {
		t.Errorf("deleted cameras still listed: %q", rows)
	}
	if n := e.ipCount(fmt.Sprintf("SELECT count(*) FROM third_party_devices WHERE id IN (%d, %d, %d)", sel[0], sel[1], f.porch)); n != 0 {
		t.Errorf("%d deleted cameras remain in the database", n)
	}
}
