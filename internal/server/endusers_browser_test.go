package server_test

import (
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// euTable is the header and the data rows of #endusers-list.
func (c *chromeTab) euTable() firmwareTable {
	c.t.Helper()
	header := chromeEval[[]string](c, `Array.from(document.querySelectorAll('#endusers-list thead th')).map(th => th.textContent.trim())`)
	rows := chromeEval[[][]string](c, `Array.from(document.querySelectorAll('#endusers-list tbody tr'))
		.filter(tr => !tr.querySelector('td.empty'))
		.map(tr => Array.from(tr.cells).map(td => td.textContent.trim()))`)
	for i, r := range rows {
		if len(r) != len(header) {
			c.t.Fatalf("end-user row %d has %d cells, the header %d: %q", i, len(r), len(header), r)
		}
	}
	return firmwareTable{header: header, rows: rows}
}

func TestBrowserEndUsers(t *testing.T) {
	execPath := requireChromium(t)
	e := newEnv(t, "sqlite")
	c := newChrome(t, execPath, e.url, 1280, 900, chromeTimeout)
	c.login("demo-subdistributor")

	// The Villa User tab, then the Community User tab through the tabs.
	if st := c.open("/users/villa"); st != 200 {
		t.Fatalf("/users/villa: status %d", st)
	}
	if a := c.text("nav.tabs a.active"); a != "Villa User" {
		t.Errorf("active tab %q, want Villa User", a)
	}
	if a := c.text("nav.sidebar a.active"); a != "User" {
		t.Errorf("active module %q, want User", a)
	}
	if st := c.clickAndLoad(`nav.tabs a[href="/users/community"]`); st != 200 {
		t.Fatalf("Community User tab: status %d", st)
	}
	if p := c.path(); p != "/users/community" {
		t.Fatalf("Community User tab led to %s", p)
	}
	all := c.euTable()
	if len(all.rows) < 2 {
		t.Fatalf("the community list has %d rows", len(all.rows))
	}
	for _, h := range []string{"Community", "Family Master", "Premium Plan"} {
		all.col(t, h)
	}
	nameCol := all.col(t, "Name")

	// A last name that some rows have and others do not.
	var word string
	for _, r := range all.rows {
		f := strings.Fields(r[nameCol])
		w := f[len(f)-1]
		n := 0
		for _, r2 := range all.rows {
			if strings.Contains(strings.ToLower(r2[nameCol]), strings.ToLower(w)) {
				n++
			}
		}
		if n < len(all.rows) {
			word = w
			break
		}
	}
	if word == "" {
		t.Fatalf("every row has the same name parts: %q", all.rows)
	}

	// Search by name, typed in lower case.
	c.do("search by name",
		chromedp.SetValue(chromedp.ID("search-type"), "name"),
		chromedp.SendKeys(chromedp.ID("search-q"), strings.ToLower(word)),
	)
	if st := c.clickAndLoad("#search"); st != 200 {
		t.Fatalf("search: status %d", st)
	}
	if p := c.path(); !strings.Contains(p, "search_type=name") || !strings.Contains(p, "q=") {
		t.Errorf("search went to %s", p)
	}
	if v := chromeEval[string](c, `document.querySelector('#search-q').value`); v != strings.ToLower(word) {
		t.Errorf("search text after the search = %q", v)
	}
	found := c.euTable()
	if len(found.rows) == 0 || len(found.rows) >= len(all.rows) {
		t.Fatalf("searching %q shows %d rows of %d", word, len(found.rows), len(all.rows))
	}
	for i, r := range found.rows {
		if !strings.Contains(strings.ToLower(r[nameCol]), strings.ToLower(word)) {
			t.Errorf("row %d does not match %q: %q", i, word, r)
		}
	}
	if n := c.text("#enduser-count"); !strings.HasSuffix(n, " of "+strconv.Itoa(len(found.rows))) {
		t.Errorf("count %q for %d rows", n, len(found.rows))
	}
	name := found.rows[0][nameCol]
	community := found.rows[0][found.col(t, "Community")]

	// Details of the first match.
	link := "#endusers-list tbody tr:first-child a.action"
	if l := c.text(link); l != "Details" {
		t.Fatalf("first row's link says %q", l)
	}
	if st := c.clickAndLoad(link); st != 200 {
		t.Fatalf("details: status %d", st)
	}
	if p := c.path(); !strings.HasPrefix(p, "/users/end-users/") {
		t.Fatalf("Details led to %s", p)
	}
	detail := chromeEval[map[string]string](c, `(() => {
		const m = {};
		document.querySelectorAll('#enduser-detail dt').forEach(dt => {
			const dd = dt.nextElementSibling;
			m[dt.textContent.trim()] = dd ? dd.textContent.trim() : '';
		});
		return m;
	})()`)
	if detail["Name"] != name || detail["Community"] != community || detail["Role"] == "" {
		t.Errorf("detail %q, want name %q and community %q", detail, name, community)
	}
	if h := c.text("main h1"); h != name {
		t.Errorf("detail heading %q, want %q", h, name)
	}

	// On to the Office User tab.
	if st := c.clickAndLoad(`nav.tabs a[href="/users/office"]`); st != 200 {
		t.Fatalf("Office User tab: status %d", st)
	}
	if p := c.path(); p != "/users/office" {
		t.Fatalf("Office User tab led to %s", p)
	}
	if a := c.text("nav.tabs a.active"); a != "Office User" {
		t.Errorf("active tab %q, want Office User", a)
	}
	office := c.euTable()
	want := []string{"Name", "SIP", "Email", "Mobile Number", "Installer", "Office", "Phone", "Active", "Created Time", "Expiration Time(App)", "Action"}
	if !slices.Equal(office.header, want) {
		t.Errorf("office columns %q, want %q", office.header, want)
	}
	if len(office.rows) == 0 {
		t.Error("the office list has no rows")
	}
	if n := chromeEval[int](c, `document.querySelectorAll('#account-type').length`); n != 0 {
		t.Error("the office list offers an Account Type filter")
	}
	types := chromeEval[[]string](c, `Array.from(document.querySelectorAll('#search-type option')).map(o => o.textContent.trim())`)
	if !slices.Equal(types, []string{"SIP", "Name", "Email", "Mobile Number", "Installer", "Office"}) {
		t.Errorf("office search types %q", types)
	}
}
