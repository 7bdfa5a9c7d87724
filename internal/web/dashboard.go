package web

import (
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/i18n"
	"github.com/gatehouse-dev/gatehouse/internal/model"
)

// The dashboard on every role's home page (issue 17): big numbers in cards,
// small charts drawn here as inline SVG (no JavaScript), each figure a link
// to the list filtered to it where the role has that list.

// dashFigure is one number of the dashboard and where it leads; the
// template writes the number in the reader's language.
type dashFigure struct {
	Label string // a catalog key
	Value int64
	Over  bool   // the count stopped at Value: more than that
	Link  string // "" when the role has no list of it
	Tone  string // "ok", "bad" or ""
}

// dashShare is a row of the model and firmware tables.
type dashShare struct {
	Name    string // the model or firmware version
	Label   string // a catalog key in Name's place: "Others", "(not reported)"
	Devices int64
	Percent int
	Link    string       // the list of them (the installer's)
	Lists   []dashFigure // per device list: community, office, personal
}

// dashMonthRow is a month of the orders table.
type dashMonthRow struct {
	Month   string
	Short   string // "Jan", in the reader's language
	Orders  int64
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

// The figures' labels by kind of device list and of end-user list.
var (
	kindOnline = map[model.ProjectKind]string{model.ProjectCommunity: i18n.N("Community online"),
		model.ProjectOffice: i18n.N("Office online"), model.ProjectPersonal: i18n.N("Personal online")}
	kindOffline = map[model.ProjectKind]string{model.ProjectCommunity: i18n.N("Community offline"),
		model.ProjectOffice: i18n.N("Office offline"), model.ProjectPersonal: i18n.N("Personal offline")}
	kindList = map[model.ProjectKind]string{model.ProjectCommunity: i18n.N("community"),
		model.ProjectOffice: i18n.N("office"), model.ProjectPersonal: i18n.N("personal")}
	endUserKindExpiring = map[model.EndUserKind]string{model.KindVilla: i18n.N("Villa users expiring"),
		model.KindCommunity: i18n.N("Community users expiring"), model.KindOffice: i18n.N("Office users expiring")}
)

// monthAbbr are the months' short names (the orders chart's axis).
var monthAbbr = [12]string{i18n.N("Jan"), i18n.N("Feb"), i18n.N("Mar"), i18n.N("Apr"), i18n.N("May"), i18n.N("Jun"),
	i18n.N("Jul"), i18n.N("Aug"), i18n.N("Sep"), i18n.N("Oct"), i18n.N("Nov"), i18n.N("Dec")}

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

func dashboardFor(l *i18n.Locale, a *model.Account, d model.Dashboard) dashboardView {
	v := dashboardView{Payments: d.Payments}
	if d.AsOf != nil {
		v.AsOf = l.Clock(*d.AsOf) + " " + l.Zone.String()
	}
	total := d.Online + d.Offline
	v.Devices = []dashFigure{
		{Label: i18n.N("Devices"), Value: total},
		{Label: i18n.N("Online now"), Value: d.Online, Tone: "ok"},
		{Label: i18n.N("Offline now"), Value: d.Offline, Tone: tone(d.Offline)},
	}
	if a.Role == model.RoleInstaller { // one list of every kind
		v.Devices[0].Link = "/installer/devices"
		v.Devices[1].Link = "/installer/devices?online=true"
		v.Devices[2].Link = "/installer/devices?online=false"
	}
	for _, k := range d.Kinds {
		v.Kinds = append(v.Kinds,
			dashFigure{Label: kindOnline[k.Kind], Value: k.Online, Link: deviceListLink(a.Role, k.Kind, url.Values{"online": {"true"}}), Tone: "ok"},
			dashFigure{Label: kindOffline[k.Kind], Value: k.Offline, Link: deviceListLink(a.Role, k.Kind, url.Values{"online": {"false"}}), Tone: tone(k.Offline)})
	}
	over := func(n int64) bool { return d.FailedCapped && n >= model.DashboardCountCap }
	v.Work = []dashFigure{
		{Label: i18n.N("Rollouts running"), Value: d.Rollouts, Link: "/rollouts?status=running"},
		{Label: i18n.N("Devices being upgraded"), Value: d.Upgrading, Link: "/rollouts?status=running"},
		{Label: i18n.N("End users expiring within 30 days"), Value: d.Expiring, Tone: tone(d.Expiring)},
	}
	// The expiring users per end-user list, each a link to that list with
	// the expiring filter (the sub-distributor's Users lists, the
	// installer's one list per kind).
	for _, x := range d.ExpiringLists {
		v.Work = append(v.Work, dashFigure{Label: endUserKindExpiring[x.List], Value: x.Users,
			Link: expiringListLink(a.Role, x.List), Tone: tone(x.Users)})
	}
	v.Work = append(v.Work, []dashFigure{
		{Label: i18n.N("Failed commands, last 24 h"), Value: d.FailedCmds, Over: over(d.FailedCmds), Link: "/failed-commands?kind=command", Tone: tone(d.FailedCmds)},
		{Label: i18n.N("Failed AutoP, last 24 h"), Value: d.FailedAutoP, Over: over(d.FailedAutoP), Link: "/failed-commands?kind=autop", Tone: tone(d.FailedAutoP)},
	}...)
	// A share links to each device list filtered to it (the sub-distributor's
	// three lists; the installer's one list for a version).
	shares := func(in []model.DashboardShare, key string) []dashShare {
		var out []dashShare
		for _, s := range in {
			row := dashShare{Name: s.Name, Devices: s.Devices}
			if total > 0 {
				row.Percent = int(s.Devices * 100 / total)
			}
			switch {
			case s.Others:
				row.Label = i18n.N("Others")
			case s.Name == "":
				row.Label = i18n.N("(not reported)")
			case a.Role == model.RoleSubdistributor:
				for _, k := range []struct {
					kind model.ProjectKind
					n    int64
				}{{model.ProjectCommunity, s.Community}, {model.ProjectOffice, s.Office}, {model.ProjectPersonal, s.Personal}} {
					if k.n > 0 {
						row.Lists = append(row.Lists, dashFigure{Label: kindList[k.kind], Value: k.n,
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
	v.DaysChart, v.DaysText = daysChart(l, d.Days, now)
	from := now.AddDate(0, 0, -model.DashboardDays+1)
	v.DaysFrom = l.T("%s %s", l.T(monthAbbr[from.Month()-1]), strconv.Itoa(from.Day())) // "Jan 2"
	if d.Payments {
		for _, m := range d.Months {
			row := dashMonthRow{Month: m.Month, Orders: m.Orders, Amounts: amountsText(l, m.Amounts)}
			if t, err := time.Parse("2006-01", m.Month); err == nil {
				row.Short = l.T(monthAbbr[t.Month()-1])
				row.Link = "/payments?" + url.Values{"created_from": {t.Format("2006-01-02")},
					"created_to": {t.AddDate(0, 1, -1).Format("2006-01-02")}}.Encode()
			}
			v.Months = append(v.Months, row)
		}
		v.Chart = monthsChart(l, v.Months, d.Months)
	}
	return v
}

func tone(n int64) string {
	if n > 0 {
		return "bad"
	}
	return ""
}

// amountsText is a month's paid amounts, one per currency, in the reader's format.
func amountsText(l *i18n.Locale, a []model.DashboardAmount) string {
	if len(a) == 0 {
		return "-"
	}
	var parts []string
	for _, x := range a {
		parts = append(parts, l.Money(x.Amount, x.Currency))
	}
	return strings.Join(parts, ", ")
}

// daysChart draws the online and offline devices of the last 30 days as
// stacked bars, and says the same in text.
func daysChart(l *i18n.Locale, days []model.DashboardDay, now time.Time) (template.HTML, string) {
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
	fmt.Fprintf(&b, `<title id="days-title">%s</title>`, template.HTMLEscapeString(l.T("Devices online and offline, last 30 days")))
	for i := 0; i < model.DashboardDays; i++ {
		day := now.AddDate(0, 0, i-model.DashboardDays+1).Format("2006-01-02")
		d, ok := byDay[day]
		x := float64(i)*bw + 1
		if !ok {
			fmt.Fprintf(&b, `<rect class="none" x="%.1f" y="%d" width="%.1f" height="2"><title>%s</title></rect>`, x, h-2, bw-2,
				template.HTMLEscapeString(l.T("%s: no figure", day)))
			continue
		}
		on := float64(d.Online) / float64(peak) * (h - 4)
		off := float64(d.Offline) / float64(peak) * (h - 4)
		label := l.T("%s: %d online, %d offline", day, d.Online, d.Offline)
		text = append(text, label)
		fmt.Fprintf(&b, `<g><title>%s</title><rect class="on" x="%.1f" y="%.1f" width="%.1f" height="%.1f"/><rect class="off" x="%.1f" y="%.1f" width="%.1f" height="%.1f"/></g>`,
			template.HTMLEscapeString(label), x, h-on, bw-2, on, x, h-on-off, bw-2, off)
	}
	desc := l.T("No daily figures yet.")
	if len(text) > 0 {
		desc = strings.Join(text, "; ") + "."
	}
	fmt.Fprintf(&b, `<desc id="days-desc">%s</desc></svg>`, template.HTMLEscapeString(desc))
	return template.HTML(b.String()), desc
}

// monthsChart draws the orders of each month as bars.
func monthsChart(l *i18n.Locale, rows []dashMonthRow, months []model.DashboardMonth) template.HTML {
	const w, h = 600, 120
	var peak int64 = 1
	for _, m := range months {
		peak = max(peak, m.Orders)
	}
	bw := float64(w) / float64(max(1, len(months)))
	var b strings.Builder
	var text []string
	fmt.Fprintf(&b, `<svg class="chart" viewBox="0 0 %d %d" role="img" aria-labelledby="months-title months-desc" preserveAspectRatio="none">`, w, h)
	fmt.Fprintf(&b, `<title id="months-title">%s</title>`, template.HTMLEscapeString(l.T("Orders per month, last 12 months")))
	for i, m := range months {
		x := float64(i)*bw + 4
		bh := float64(m.Orders) / float64(peak) * (h - 4)
		label := l.T("%s: %d orders, paid %s", m.Month, m.Orders, rows[i].Amounts)
		text = append(text, label)
		fmt.Fprintf(&b, `<a href="%s"><rect class="on" x="%.1f" y="%.1f" width="%.1f" height="%.1f"><title>%s</title></rect></a>`,
			template.HTMLEscapeString(rows[i].Link), x, h-bh, bw-8, max(bh, 1), template.HTMLEscapeString(label))
	}
	fmt.Fprintf(&b, `<desc id="months-desc">%s</desc></svg>`, template.HTMLEscapeString(strings.Join(text, "; ")+"."))
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
	title := tr(r, "Failed commands, last 24 h")
	if f.Kind == model.FailedKindAutoP {
		title = tr(r, "Failed AutoP, last 24 h")
	}
	p := w.page(r, title, "home", map[string]any{"Kind": f.Kind, "List": l,
		"Pager": newPager(r, l.Page, l.PerPage, min(l.Total, model.DashboardCountCap)), "DeviceLinks": p0(r).Role == model.RoleSubdistributor,
		"Capped": l.Total > model.DashboardCountCap, "Cap": model.DashboardCountCap})
	return w.render(rw, http.StatusOK, "failed_commands", p)
}

func p0(r *http.Request) *model.Account { return identity(r).Effective() }
