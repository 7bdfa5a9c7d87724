package web

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/i18n"
	"github.com/gatehouse-dev/gatehouse/internal/model"
)

// diagnosticsPanel feeds the Diagnostics section of a device's page (the
// sub-distributor's and the installer's): four forms and the device's
// recent diagnostics; static/diagnostics.js reloads the page while one is
// queued or running.
type diagnosticsPanel struct {
	MAC    string
	CSRF   string
	Action string // where the forms post
	Back   string
	Online bool
	Open   bool // one is queued or running
	Rows   []diagnosticRow
	// Bounds shown by the forms.
	MaxLines, MaxCount, MaxHops, MaxSeconds, MaxFilter int
}

type diagnosticRow struct {
	ID                                   int64
	Kind, Params, State, Error, By, When string
	Size, Link                           string
}

var diagnosticKindLabels = map[model.DiagnosticKind]string{model.DiagnosticLog: i18n.N("System log"), model.DiagnosticPing: i18n.N("Ping"),
	model.DiagnosticTraceroute: i18n.N("Traceroute"), model.DiagnosticPcap: i18n.N("Packet capture")}

// diagnosticKindLabel names a kind in the locale's language.
func diagnosticKindLabel(l *i18n.Locale, k model.DiagnosticKind) string {
	if s, ok := diagnosticKindLabels[k]; ok {
		return l.T(s)
	}
	return string(k)
}

// describeDiagnostic is model.DiagnosticRequest.Describe in the locale's
// language: "last 200 lines", "8.8.8.8, 4 packets".
func describeDiagnostic(l *i18n.Locale, r model.DiagnosticRequest) string {
	p := r.DiagnosticParams
	switch r.Kind {
	case model.DiagnosticLog:
		if p.Since != nil {
			return l.T("since %s", zoneTime(l, *p.Since, "2006-01-02 15:04:05"))
		}
		return l.T("last %d lines", p.Lines)
	case model.DiagnosticPing:
		return l.T("%s, %d packets", p.Host, p.Count)
	case model.DiagnosticTraceroute:
		return l.T("%s, at most %d hops", p.Host, p.MaxHops)
	case model.DiagnosticPcap:
		if p.Filter != "" {
			return l.T("%d s, %s", p.Seconds, p.Filter)
		}
		return l.T("%d s", p.Seconds)
	}
	return r.Describe()
}

// deviceDiagnostics loads the Diagnostics section of the device mac;
// action is where its forms post.
func (w *Web) deviceDiagnostics(r *http.Request, mac string, online bool, action, back string) (*diagnosticsPanel, error) {
	gs, err := w.store.ListDiagnostics(r.Context(), mac, 20)
	if err != nil {
		return nil, err
	}
	p := &diagnosticsPanel{MAC: mac, Action: action, Back: back, Online: online, MaxLines: model.DiagLogMaxLines,
		MaxCount: model.DiagPingMaxCount, MaxHops: model.DiagTraceMaxHops, MaxSeconds: model.DiagPcapMaxSecs, MaxFilter: model.DiagFilterMaxLen}
	if id := auth.IdentityFrom(r.Context()); id != nil && id.Session != nil {
		p.CSRF = id.Session.CSRFToken
	}
	l := locale(r)
	for _, g := range gs {
		row := diagnosticRow{ID: g.ID, Kind: diagnosticKindLabel(l, g.Kind), Params: describeDiagnostic(l, g.Request()), State: string(g.State),
			Error: g.Error, By: g.RequestedBy, When: l.DateTime(g.Created)}
		if g.State.Open() {
			p.Open = true
		}
		if g.State == model.DiagnosticDone {
			row.Size = byteSizeIn(l, g.Size)
			if g.Size == 0 {
				row.Size = l.T("%d B", 0)
			}
			row.Link = "/api/v1/diagnostics/" + strconv.FormatInt(g.ID, 10) + "/file"
		}
		p.Rows = append(p.Rows, row)
	}
	return p, nil
}

// diagnosticForm reads one of the section's forms.
func diagnosticForm(r *http.Request) (model.DiagnosticRequest, error) {
	req := model.DiagnosticRequest{Kind: model.DiagnosticKind(r.PostFormValue("kind"))}
	num := func(field string, dst *int) error {
		s := strings.TrimSpace(r.PostFormValue(field))
		if s == "" {
			return nil
		}
		n, err := strconv.Atoi(s)
		if err != nil {
			return model.Invalid(field, "must be a whole number")
		}
		*dst = n
		return nil
	}
	for f, dst := range map[string]*int{"lines": &req.Lines, "count": &req.Count, "max_hops": &req.MaxHops, "seconds": &req.Seconds} {
		if err := num(f, dst); err != nil {
			return req, err
		}
	}
	req.Host, req.Filter = r.PostFormValue("host"), r.PostFormValue("filter")
	if s := strings.TrimSpace(r.PostFormValue("since")); s != "" {
		var t time.Time
		var err error
		if t, err = time.Parse(time.RFC3339, s); err != nil {
			// A datetime-local input: UTC, as the page says.
			if t, err = time.Parse("2006-01-02T15:04", s); err != nil {
				return req, model.Invalid("since", "must be a time such as 2026-12-05T10:00 (UTC)")
			}
		}
		req.Since = &t
		req.Lines = 0
	}
	return req, nil
}

// RequestDiagnostic is POST /devices/{mac}/diagnostics, from the
// sub-distributor's device page.
func (w *Web) RequestDiagnostic(rw http.ResponseWriter, r *http.Request) error {
	mac, _ := model.NormalizeMAC(r.PathValue("mac"))
	page := "/devices/" + mac
	if back := r.PostFormValue("back"); back != "" && strings.HasPrefix(back, "/") && !strings.HasPrefix(back, "//") {
		page += "?back=" + url.QueryEscape(back)
	}
	return w.requestDiagnostic(rw, r, page)
}

// RequestInstallerDiagnostic is POST /installer/devices/{mac}/diagnostics.
func (w *Web) RequestInstallerDiagnostic(rw http.ResponseWriter, r *http.Request) error {
	mac, _ := model.NormalizeMAC(r.PathValue("mac"))
	return w.requestDiagnostic(rw, r, "/installer/devices/"+mac)
}

// requestDiagnostic queues the form's diagnostic and returns to page,
// saying what happens next (or why not: a bad field, too many at once).
func (w *Web) requestDiagnostic(rw http.ResponseWriter, r *http.Request, page string) error {
	req, err := diagnosticForm(r)
	var g *model.Diagnostic
	if err == nil {
		g, err = w.cases.RequestDiagnostic(r.Context(), r.PathValue("mac"), req)
	}
	var notice string
	switch code := model.ErrorCode(err); {
	case err == nil:
		l := locale(r)
		notice = l.T("%s of %s queued as diagnostic %s: the device runs it when online (until %s).",
			diagnosticKindLabel(l, g.Kind), g.MAC, strconv.FormatInt(g.ID, 10), zoneTime(l, g.Expires, "15:04"))
	case code == model.EINVALID || code == model.ECONFLICT:
		notice = localized(locale(r), err, model.ErrorMessage(err))
	default:
		return err
	}
	sep := "?"
	if strings.Contains(page, "?") {
		sep = "&"
	}
	http.Redirect(rw, r, page+sep+"notice="+url.QueryEscape(notice)+"#diagnostics", http.StatusSeeOther)
	return nil
}
