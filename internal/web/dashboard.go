package web

import (
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/model"
)

// The dashboard on every role's home page (issue 17): big numbers in cards,
// small charts drawn here as inline SVG (no JavaScript), each figure a link
// to the list filtered to it where the role has that list.

// dashFigure is one number of the dashboard and where it leads.
type dashFigure struct {
	Label string
	Value string
	Link  string // "" when the role has no list of it
	Tone  string // "ok", "bad" or ""
}

// dashShare is a row of the model and firmware tables.
type dashShare struct {
	Name    string
	Devices string
	Percent int
	Link    string       // the list of them (the installer's)
	Lists   []dashFigure // per device list: community, office, personal
}

// dashMonthRow is a month of the orders table.
type dashMonthRow struct {
	Month   string
	Short   string // "Jan"
	Orders  string
	Amounts string
	Link    string
}

type dashboardView struct {
	AsOf      string // "hh:mm UTC", or "" before the first recompute
	Devices   []dashFigure
	Kinds     []dashFigure
	Work      []dashFigure
	Models    []dashShare
	Firmware  []dashShare
	DaysChart template.HTML
	DaysText  string
	DaysFrom  string // the chart's first day
	Payments  bool
	Months    []dashMonthRow
	Chart     template.HTML
	Modules   []Module
}

func num(n int64) string {
	s := strconv.FormatInt(n, 10)
	if n < 0 {
		return s
	}
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}

// deviceListLink is the device list of kind filtered by q, for the roles
// that have the device list pages (the sub-distributor's Project Device and
// Personal Device); "" for the others.
func deviceListLink(role model.Role, kind model.ProjectKind, q url.Values) string {
	if role != model.RoleSubdistributor {
		return ""
	}
	path := "/project-devices"
	switch kind {
	case model.ProjectPersonal:
		path = "/personal-devices"
	case model.ProjectOffice:
		q.Set("kind", "office")
	}
	if len(q) == 0 {
		return path
	}
	return path + "?" + q.Encode()
}

var endUserKindNames = map[model.EndUserKind]string{model.KindVilla: "Villa", model.KindCommunity: "Community", model.KindOffice: "Office"}

// expiringListLink is the end-user list of kind with the dashboard's
// expiring filter, for the roles that have the end-user list pages (the
// sub-distributor's Users lists, the installer's users); "" for the others.
func expiringListLink(role model.Role, kind model.EndUserKind) string {
	days := strconv.Itoa(model.DashboardExpiringDays)
	switch role {
	case model.RoleSubdistributor:
		return "/users/" + string(kind) + "?expiring=" + days
	case model.RoleInstaller:
		return "/installer/users?" + url.Values{"kind": {string(kind)}, "expiring": {days}}.Encode()
	}
	return ""
}

func dashboardFor(a *model.Account, d model.Dashboard) dashboardView {
	v := dashboardView{Payments: d.Payments}
	if d.AsOf != nil {
		v.AsOf = d.AsOf.UTC().Format("15:04") + " UTC"
	}
	total := d.Online + d.Offline
	v.Devices = []dashFigure{
		{Label: "Devices", Value: num(total)},
		{Label: "Online now", Value: num(d.Online), Tone: "ok"},
		{Label: "Offline now", Value: num(d.Offline), Tone: tone(d.Offline)},
	}
	if a.Role == model.RoleInstaller { // one list of every kind
		v.Devices[0].Link = "/installer/devices"
		v.Devices[1].Link = "/installer/devices?online=true"
		v.Devices[2].Link = "/installer/devices?online=false"
	}
	for _, k := range d.Kinds {
		name := map[model.ProjectKind]string{model.ProjectCommunity: "Community", model.ProjectOffice: "Office", model.ProjectPersonal: "Personal"}[k.Kind]
		v.Kinds = append(v.Kinds,
			dashFigure{Label: name + " online", Value: num(k.Online), Link: deviceListLink(a.Role, k.Kind, url.Values{"online": {"true"}}), Tone: "ok"},
			dashFigure{Label: name + " offline", Value: num(k.Offline), Link: deviceListLink(a.Role, k.Kind, url.Values{"online": {"false"}}), Tone: tone(k.Offline)})
	}
	failed := func(n int64) string {
		if d.FailedCapped && n >= model.DashboardCountCap {
			return "more than " + num(n)
		}
		return num(n)
	}
	v.Work = []dashFigure{
		{Label: "Rollouts running", Value: num(d.Rollouts), Link: "/rollouts?status=running"},
		{Label: "Devices being upgraded", Value: num(d.Upgrading), Link: "/rollouts?status=running"},
		{Label: "End users expiring within 30 days", Value: num(d.Expiring), Tone: tone(d.Expiring)},
	}
	// The expiring users per end-user list, each a link to that list with
	// the expiring filter (the sub-distributor's Users lists, the
	// installer's one list per kind).
	for _, x := range d.ExpiringLists {
		v.Work = append(v.Work, dashFigure{Label: endUserKindNames[x.List] + " users expiring", Value: num(x.Users),
			Link: expiringListLink(a.Role, x.List), Tone: tone(x.Users)})
	}
	v.Work = append(v.Work, []dashFigure{
		{Label: "Failed commands, last 24 h", Value: failed(d.FailedCmds), Link: "/failed-commands?kind=command", Tone: tone(d.FailedCmds)},
		{Label: "Failed AutoP, last 24 h", Value: failed(d.FailedAutoP), Link: "/failed-commands?kind=autop", Tone: tone(d.FailedAutoP)},
	}...)
	// A share links to each device list filtered to it (the sub-distributor's
	// three lists; the installer's one list for a version).
	shares := func(in []model.DashboardShare, key string) []dashShare {
		var out []dashShare
		for _, s := range in {
			row := dashShare{Name: s.Name, Devices: num(s.Devices)}
			if total > 0 {
				row.Percent = int(s.Devices * 100 / total)
			}
			switch {
			case s.Others:
				row.Name = "Others"
			case s.Name == "":
				row.Name = "(not reported)"
			case a.Role == model.RoleSubdistributor:
				for _, k := range []struct {
					kind model.ProjectKind
					n    int64
				}{{model.ProjectCommunity, s.Community}, {model.ProjectOffice, s.Office}, {model.ProjectPersonal, s.Personal}} {
					if k.n > 0 {
						row.Lists = append(row.Lists, dashFigure{Label: string(k.kind), Value: num(k.n),
							Link: deviceListLink(a.Role, k.kind, url.Values{key: {s.Name}})})
					}
				}
			case a.Role == model.RoleInstaller:
				row.Link = "/installer/devices?" + url.Values{key: {s.Name}}.Encode()
			}
			out = append(out, row)
		}
		return out
	}
	v.Models = shares(d.Models, "model")
	v.Firmware = shares(d.Firmware, "firmware")
	now := time.Now().UTC()
	v.DaysChart, v.DaysText = daysChart(d.Days, now)
	v.DaysFrom = now.AddDate(0, 0, -model.DashboardDays+1).Format("Jan 2")
	if d.Payments {
		for _, m := range d.Months {
			row := dashMonthRow{Month: m.Month, Orders: num(m.Orders), Amounts: amountsText(m.Amounts)}
			if t, err := time.Parse("2006-01", m.Month); err == nil {
				row.Short = t.Format("Jan")
				row.Link = "/payments?" + url.Values{"created_from": {t.Format("2006-01-02")},
					"created_to": {t.AddDate(0, 1, -1).Format("2006-01-02")}}.Encode()
			}
			v.Months = append(v.Months, row)
		}
		v.Chart = monthsChart(v.Months, d.Months)
	}
	return v
}

func tone(n int64) string {
	if n > 0 {
		return "bad"
	}
	return ""
}

func amountsText(a []model.DashboardAmount) string {
	if len(a) == 0 {
		return "-"
	}
	var parts []string
	for _, x := range a {
		parts = append(parts, fmt.Sprintf("%s %d.%02d", x.Currency, x.Amount/100, x.Amount%100))
	}
	return strings.Join(parts, ", ")
}

// daysChart draws the online and offline devices of the last 30 days as
// stacked bars, and says the same in text.
func daysChart(days []model.DashboardDay, now time.Time) (template.HTML, string) {
	const w, h = 600, 140
	byDay := map[string]model.DashboardDay{}
	var peak int64 = 1
	for _, d := range days {
		byDay[d.Day] = d
		peak = max(peak, d.Online+d.Offline)
	}
	bw := float64(w) / model.DashboardDays
	var b strings.Builder
	var text []string
	fmt.Fprintf(&b, `<svg class="chart" viewBox="0 0 %d %d" role="img" aria-labelledby="days-title days-desc" preserveAspectRatio="none">`, w, h)
	b.WriteString(`<title id="days-title">Devices online and offline, last 30 days</title>`)
	for i := 0; i < model.DashboardDays; i++ {
		day := now.AddDate(0, 0, i-model.DashboardDays+1).Format("2006-01-02")
		d, ok := byDay[day]
		x := float64(i)*bw + 1
		if !ok {
			fmt.Fprintf(&b, `<rect class="none" x="%.1f" y="%d" width="%.1f" height="2"><title>%s: no figure</title></rect>`, x, h-2, bw-2, day)
			continue
		}
		on := float64(d.Online) / float64(peak) * (h - 4)
		off := float64(d.Offline) / float64(peak) * (h - 4)
		label := fmt.Sprintf("%s: %s online, %s offline", day, num(d.Online), num(d.Offline))
		text = append(text, label)
		fmt.Fprintf(&b, `<g><title>%s</title><rect class="on" x="%.1f" y="%.1f" width="%.1f" height="%.1f"/><rect class="off" x="%.1f" y="%.1f" width="%.1f" height="%.1f"/></g>`,
			template.HTMLEscapeString(label), x, h-on, bw-2, on, x, h-on-off, bw-2, off)
	}
	desc := "No daily figures yet."
	if len(text) > 0 {
		desc = strings.Join(text, "; ") + "."
	}
	fmt.Fprintf(&b, `<desc id="days-desc">%s</desc></svg>`, template.HTMLEscapeString(desc))
	return template.HTML(b.String()), desc
}

// monthsChart draws the orders of each month as bars.
func monthsChart(rows []dashMonthRow, months []model.DashboardMonth) template.HTML {
	const w, h = 600, 120
	var peak int64 = 1
	for _, m := range months {
		peak = max(peak, m.Orders)
	}
	bw := float64(w) / float64(max(1, len(months)))
	var b strings.Builder
	var text []string
	fmt.Fprintf(&b, `<svg class="chart" viewBox="0 0 %d %d" role="img" aria-labelledby="months-title months-desc" preserveAspectRatio="none">`, w, h)
	b.WriteString(`<title id="months-title">Orders per month, last 12 months</title>`)
	for i, m := range months {
		x := float64(i)*bw + 4
		bh := float64(m.Orders) / float64(peak) * (h - 4)
		label := fmt.Sprintf("%s: %s orders, paid %s", m.Month, num(m.Orders), rows[i].Amounts)
		text = append(text, label)
		fmt.Fprintf(&b, `<a href="%s"><rect class="on" x="%.1f" y="%.1f" width="%.1f" height="%.1f"><title>%s</title></rect></a>`,
			template.HTMLEscapeString(rows[i].Link), x, h-bh, bw-8, max(bh, 1), template.HTMLEscapeString(label))
	}
	fmt.Fprintf(&b, `<desc id="months-desc">%s.</desc></svg>`, template.HTMLEscapeString(strings.Join(text, "; ")))
	return template.HTML(b.String())
}

// FailedCommands lists the commands or AutoP that failed or expired in the
// last day on the account's devices (the dashboard's figures link here).
func (w *Web) FailedCommands(rw http.ResponseWriter, r *http.Request) error {
	var v model.Validator
	q := r.URL.Query()
	f := model.FailedCommandFilter{Kind: q.Get("kind"), Page: model.ParsePage(q, &v)}
	if err := v.Err(); err != nil {
		return err
	}
	l, err := w.cases.FailedCommands(r.Context(), f)
	if err != nil {
		return err
	}
	title := "Failed commands, last 24 h"
	if f.Kind == model.FailedKindAutoP {
		title = "Failed AutoP, last 24 h"
	}
	p := w.page(r, title, "home", map[string]any{"Kind": f.Kind, "List": l,
		"Pager": newPager(r, l.Page, l.PerPage, min(l.Total, model.DashboardCountCap)), "DeviceLinks": p0(r).Role == model.RoleSubdistributor,
		"Capped": l.Total > model.DashboardCountCap, "Cap": model.DashboardCountCap})
	return w.render(rw, http.StatusOK, "failed_commands", p)
}

func p0(r *http.Request) *model.Account { return identity(r).Effective() }
