package web

import (
	"encoding/json"
	"html"
	"html/template"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/gatehouse-dev/gatehouse/internal/i18n"
	"github.com/gatehouse-dev/gatehouse/internal/model"
	"github.com/gatehouse-dev/gatehouse/internal/store"
	"github.com/gatehouse-dev/gatehouse/internal/tabular"
)

// Firmware rollouts in the portal (issue 15): a firmware's "Upgrade" form
// (targets, a count of the devices they match, the plan), the list of
// rollouts, and a rollout's page with its live progress (per state, per
// wave), its actions and its devices, searchable and exported as CSV.
// Admin, distributor and sub-distributor roll out within their tree, an
// installer to its own devices; the store scopes every read and write.

// upgradeStateLabels name the upgrade states as the pages show them: keys
// of the catalogs, translated where shown (stateLabel; static/rollouts.js
// gets them translated with the progress).
var upgradeStateLabels = map[model.UpgradeState]string{
	model.UpgradeDraft: i18n.N("Draft"), model.UpgradePending: i18n.N("Waiting"), model.UpgradeQueued: i18n.N("Queued"),
	model.UpgradeSent: i18n.N("Sent (state)"), model.UpgradeDownloading: i18n.N("Downloading"), model.UpgradeVerifying: i18n.N("Verifying"),
	model.UpgradeInstalling: i18n.N("Installing"), model.UpgradeRebooting: i18n.N("Rebooting"), model.UpgradeDone: i18n.N("Done"),
	model.UpgradeFailed: i18n.N("Failed"), model.UpgradeCanceled: i18n.N("Canceled"), model.UpgradeSkipped: i18n.N("Skipped"),
}

// stateLabelIn is a state's label in the locale's language.
func stateLabelIn(l *i18n.Locale, s model.UpgradeState) string {
	if k, ok := upgradeStateLabels[s]; ok {
		return l.T(k)
	}
	return string(s)
}

var rolloutStatusLabels = map[model.RolloutStatus]string{model.RolloutDraft: i18n.N("Draft"), model.RolloutRunning: i18n.N("Running"),
	model.RolloutPaused: i18n.N("Paused"), model.RolloutCanceled: i18n.N("Canceled"), model.RolloutDone: i18n.N("Done")}

// statusLabelIn is a rollout status's label in the locale's language.
func statusLabelIn(l *i18n.Locale, s model.RolloutStatus) string {
	if k, ok := rolloutStatusLabels[s]; ok {
		return l.T(k)
	}
	return string(s)
}

// Wave states as a rollout's page shows them (and static/rollouts.js,
// which reads them from the page).
var (
	waveFinished   = i18n.N("Finished (state)")
	waveInProgress = i18n.N("In progress")
	waveNotStarted = i18n.N("Not started")
)

// byteSize writes a size in bytes as people read it: "1.5 MiB".
func byteSize(n int64) string {
	switch {
	case n <= 0:
		return "-"
	case n < 1024:
		return strconv.FormatInt(n, 10) + " B"
	case n < 1024*1024:
		return strconv.FormatFloat(float64(n)/1024, 'f', 1, 64) + " KiB"
	case n < 1024*1024*1024:
		return strconv.FormatFloat(float64(n)/(1024*1024), 'f', 1, 64) + " MiB"
	}
	return strconv.FormatFloat(float64(n)/(1024*1024*1024), 'f', 2, 64) + " GiB"
}

// byteSizeIn is byteSize in the locale's number format.
func byteSizeIn(l *i18n.Locale, n int64) string {
	switch {
	case n <= 0:
		return "-"
	case n < 1024:
		return l.T("%d B", n)
	case n < 1024*1024:
		return l.T("%.1f KiB", float64(n)/1024)
	case n < 1024*1024*1024:
		return l.T("%.1f MiB", float64(n)/(1024*1024))
	}
	return l.T("%.2f GiB", float64(n)/(1024*1024*1024))
}

// markup writes a translated message whose arguments "\x01", "\x02", …
// stand for elements: each is given by three of parts, its opening tag, its
// text and its closing tag (the tags are the template's own literals; the
// message and the texts are escaped). It keeps an element a script updates
// inside a sentence that languages order each their own way.
func markup(msg string, parts ...string) template.HTML {
	out := html.EscapeString(msg)
	for i := 0; i+2 < len(parts); i += 3 {
		out = strings.Replace(out, string(rune(1+i/3)), parts[i]+html.EscapeString(parts[i+1])+parts[i+2], 1)
	}
	return template.HTML(out)
}

func init() {
	// firmware_detail.html shows the image's size.
	localeFuncs["bytes"] = func(l *i18n.Locale) any { return func(n int64) string { return byteSizeIn(l, n) } }
	staticFuncs["markup"] = markup
	localeFuncs["thousands"] = func(l *i18n.Locale) any { return func(n int) string { return l.Number(n) } }
	localeFuncs["stateLabel"] = func(l *i18n.Locale) any {
		return func(s model.UpgradeState) string { return stateLabelIn(l, s) }
	}
	localeFuncs["statusLabel"] = func(l *i18n.Locale) any {
		return func(s model.RolloutStatus) string { return statusLabelIn(l, s) }
	}
	staticFuncs["percentOf"] = func(n, total int) int {
		if total <= 0 {
			return 0
		}
		return n * 100 / total
	}
}

func (w *Web) firmwareOf(r *http.Request) (*model.Firmware, error) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		return nil, model.NotFound("firmware")
	}
	return w.store.GetFirmware(r.Context(), id)
}

// rolloutFormData feeds the Upgrade form.
type rolloutFormData struct {
	FW                   *model.Firmware
	Action               string
	Name                 string
	Scope                string
	ProjectID            int64
	InstallerID          int64
	CurrentVersion       string
	OnlineSel            string
	CanaryN, WaveN       string
	CanaryUnit, WaveUnit string // "devices" or "percent"
	WindowStart          string
	WindowEnd            string
	Threshold            string
	TimeoutMin           string
	Projects             []*store.ProjectRow
	Installers           []*model.Account // for the installer's ancestors
	Versions             []string
	Count                *model.RolloutTargetCount
	Plan                 string // the waves the count gives, in words
}

// rolloutChoices bounds the projects and installers the form offers.
const rolloutChoices = 500

// rolloutForm reads the Upgrade form (a GET shows the defaults).
func rolloutForm(fw *model.Firmware, form url.Values) (rolloutFormData, model.RolloutInput, error) {
	get := func(k, def string) string {
		if v := strings.TrimSpace(form.Get(k)); v != "" || form.Has(k) {
			return v
		}
		return def
	}
	d := rolloutFormData{FW: fw, Action: "/firmware/" + strconv.FormatInt(fw.ID, 10) + "/upgrade",
		Name: get("name", ""), Scope: get("scope", ""), CurrentVersion: get("current_version", ""), OnlineSel: get("online", ""),
		CanaryN: get("canary", "10"), CanaryUnit: get("canary_unit", "devices"), WaveN: get("wave", "25"), WaveUnit: get("wave_unit", "percent"),
		WindowStart: get("window_start", "01:00"), WindowEnd: get("window_end", "05:00"), Threshold: get("failure_threshold", "10"),
		TimeoutMin: get("timeout", "60")}
	var v model.Validator
	num := func(field, s string) int {
		if s == "" {
			return 0
		}
		n, err := strconv.Atoi(s)
		v.Check(err == nil && n >= 0, field, "must be a whole number, 0 or more")
		return n
	}
	id := func(field string) int64 {
		s := strings.TrimSpace(form.Get(field))
		if s == "" {
			return 0
		}
		n, err := strconv.ParseInt(s, 10, 64)
		v.Check(err == nil && n > 0, field, "must be chosen from the list")
		return n
	}
	d.ProjectID, d.InstallerID = id("project_id"), id("installer_id")
	in := model.RolloutInput{FirmwareID: fw.ID, Name: d.Name, Targets: model.RolloutTargets{Model: fw.Model,
		Scope: model.ProjectKind(d.Scope), ProjectID: d.ProjectID, InstallerID: d.InstallerID, CurrentVersion: d.CurrentVersion}}
	switch d.OnlineSel {
	case "":
	case "true", "false":
		b := d.OnlineSel == "true"
		in.Targets.Online = &b
	default:
		v.Add("online", "must be online, offline or all")
	}
	canary, wave := num("canary", d.CanaryN), num("wave", d.WaveN)
	if d.CanaryUnit == "percent" {
		in.Plan.CanaryPercent = canary
	} else {
		in.Plan.CanaryCount = canary
	}
	if d.WaveUnit == "percent" {
		in.Plan.WavePercent = wave
	} else {
		in.Plan.WaveSize = wave
	}
	in.Plan.WindowStart, in.Plan.WindowEnd = d.WindowStart, d.WindowEnd
	in.Plan.FailureThreshold = num("failure_threshold", d.Threshold)
	if d.Threshold == "" {
		in.Plan.FailureThreshold = model.DefaultFailureThreshold
	}
	if m := num("timeout", d.TimeoutMin); m > 0 {
		in.Plan.DeviceTimeout = m * 60
	}
	return d, in, v.Err()
}

// planText says a count's waves in words: "a canary of 10 devices, then 3
// waves (250, 250, 240)".
func planText(l *i18n.Locale, waves []int, canary bool) string {
	if len(waves) == 0 {
		return l.T("no device to upgrade")
	}
	first, rest := "", waves
	if canary {
		first, rest = l.T("a canary of %d devices", waves[0]), waves[1:]
		if len(rest) == 0 {
			return first
		}
	}
	const shown = 6
	var sizes []string
	for i, n := range rest {
		if i == shown {
			sizes = append(sizes, "…")
			break
		}
		sizes = append(sizes, l.Number(n))
	}
	then := l.T("%d waves (%s)", len(rest), strings.Join(sizes, l.T(", ")))
	if first == "" {
		return then
	}
	return l.T("%s, then %s", first, then)
}

// fillRolloutChoices loads what the form's selects offer.
func (w *Web) fillRolloutChoices(r *http.Request, d *rolloutFormData) error {
	ctx := r.Context()
	projects, err := w.store.ListProjects(ctx, store.ProjectFilter{Page: model.Page{Page: 1, PerPage: rolloutChoices}})
	if err != nil {
		return err
	}
	d.Projects = projects.Items
	if identity(r).Effective().Role != model.RoleInstaller {
		inst, err := w.store.ListInstallers(ctx, model.InstallerFilter{Page: model.Page{Page: 1, PerPage: rolloutChoices}})
		if err != nil {
			return err
		}
		d.Installers = inst.Items
	}
	d.Versions, err = w.firmwareVersions(r)
	return err
}

// RolloutForm is a firmware's "Upgrade" page: choose the devices, count
// them, plan the waves.
func (w *Web) RolloutForm(rw http.ResponseWriter, r *http.Request) error {
	fw, err := w.firmwareOf(r)
	if err != nil {
		return err
	}
	d, _, _ := rolloutForm(fw, url.Values{})
	if err := w.fillRolloutChoices(r, &d); err != nil {
		return err
	}
	return w.render(rw, http.StatusOK, "rollout_form", w.page(r, tr(r, "Upgrade to %s %s", fw.Model, fw.Version), "firmware", d))
}

// RolloutFormPost is the Upgrade form's buttons: Count shows how many
// devices match and how the plan splits them; Create makes the draft
// rollout and opens its page.
func (w *Web) RolloutFormPost(rw http.ResponseWriter, r *http.Request) error {
	fw, err := w.firmwareOf(r)
	if err != nil {
		return err
	}
	if err := r.ParseForm(); err != nil {
		return model.Invalid("body", "is not a form")
	}
	d, in, err := rolloutForm(fw, r.PostForm)
	p := w.page(r, tr(r, "Upgrade to %s %s", fw.Model, fw.Version), "firmware", nil)
	status := http.StatusOK
	fail := func(err error) {
		p.Fail(err)
		if len(p.Fields) > 0 {
			p.Error = fieldErrors(p.Fields)
		}
		status = http.StatusBadRequest
	}
	switch {
	case err != nil:
		fail(err)
	case r.PostFormValue("op") == "create":
		ro, err := w.cases.CreateRollout(r.Context(), in)
		switch model.ErrorCode(err) {
		case "":
			return redirect(rw, r, "/rollouts/"+strconv.FormatInt(ro.ID, 10), tr(r, "Draft rollout created: %s in %s. Check the plan, then Start.",
				trn(r, "%d devices", ro.Total), trn(r, "%d waves", ro.Waves)))
		case model.EINVALID, model.ECONFLICT:
			fail(err)
		default:
			return err
		}
	default:
		n, err := w.cases.CountRolloutTargets(r.Context(), in)
		switch model.ErrorCode(err) {
		case "":
			d.Count = &n
			d.Plan = planText(p.L, n.Waves, in.Plan.CanaryCount > 0 || in.Plan.CanaryPercent > 0)
		case model.EINVALID:
			fail(err)
		default:
			return err
		}
	}
	if err := w.fillRolloutChoices(r, &d); err != nil {
		return err
	}
	p.Data = d
	return w.render(rw, status, "rollout_form", p)
}

// rolloutRow is a rollout in the list, with its progress.
type rolloutRow struct {
	*model.Rollout
	StatusLabel string
	Progress    *model.RolloutProgress
	Failed      int
}

// barOrder is the order of a progress bar's segments: the ended first,
// then the devices at work from the furthest on, the waiting last.
var barOrder = []model.UpgradeState{model.UpgradeDone, model.UpgradeFailed, model.UpgradeCanceled, model.UpgradeSkipped,
	model.UpgradeRebooting, model.UpgradeInstalling, model.UpgradeVerifying, model.UpgradeDownloading, model.UpgradeSent,
	model.UpgradeQueued, model.UpgradePending, model.UpgradeDraft}

type rolloutListData struct {
	BarOrder     []model.UpgradeState
	Status, Name string
	Rows         []rolloutRow
	Pager        Pager
	Statuses     []model.RolloutStatus
}

// Rollouts lists the rollouts the account sees, newest first.
func (w *Web) Rollouts(rw http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	var v model.Validator
	f := model.RolloutFilter{Status: model.RolloutStatus(q.Get("status")), Name: strings.TrimSpace(q.Get("name")), Page: model.ParsePage(q, &v)}
	if s := q.Get("firmware_id"); s != "" {
		f.FirmwareID, _ = strconv.ParseInt(s, 10, 64)
	}
	d := rolloutListData{BarOrder: barOrder, Status: string(f.Status), Name: f.Name, Statuses: []model.RolloutStatus{model.RolloutDraft,
		model.RolloutRunning, model.RolloutPaused, model.RolloutDone, model.RolloutCanceled}}
	p := w.page(r, tr(r, "Firmware Rollouts"), "firmware", nil)
	l, err := w.store.ListRollouts(r.Context(), f)
	if err == nil {
		err = v.Err()
	}
	if model.ErrorCode(err) == model.EINVALID {
		p.Fail(err)
		p.Error = fieldErrors(p.Fields)
		p.Data = d
		return w.render(rw, http.StatusBadRequest, "rollout_list", p)
	} else if err != nil {
		return err
	}
	for _, ro := range l.Items {
		row := rolloutRow{Rollout: ro, StatusLabel: statusLabelIn(p.L, ro.Status)}
		if row.Progress, err = w.store.RolloutProgress(r.Context(), ro.ID); err != nil {
			return err
		}
		row.Failed = row.Progress.ByState[model.UpgradeFailed]
		d.Rows = append(d.Rows, row)
	}
	d.Pager = newPager(r, l.Page, l.PerPage, l.Total)
	p.Data = d
	return w.render(rw, http.StatusOK, "rollout_list", p)
}

// stateCount is one state's count in a rollout's summary.
type stateCount struct {
	State model.UpgradeState
	Label string
	N     int
}

// waveView is one wave's line: its counts and a bar.
type waveView struct {
	model.WaveProgress
	Label  string
	Ended  int
	Failed int
	Done   int
	Active int // released and under way
	State  string
}

type rolloutPageData struct {
	R           *model.Rollout
	StatusLabel string
	P           *model.RolloutProgress
	States      []stateCount // in the lifecycle's order
	BarStates   []stateCount // in barOrder
	BarOrder    []model.UpgradeState
	Waves       []waveView
	Actions     []string
	Targets     []string // the targets in words
	Window      string
	Timeout     string
	Canary      string
	WavePlan    string
	Live        bool // the page follows the progress by itself
	// The device table.
	MACText  string
	State    string
	ErrText  string
	Devices  []deviceUpgradeRow
	Pager    Pager
	Count    string
	CSV      string
	AllState []model.UpgradeState
	JSON     string // the progress endpoint, with the table's search
}

// deviceUpgradeRow is one device of a rollout's table.
type deviceUpgradeRow struct {
	*model.DeviceUpgrade
	Label     string // its state's label, translated
	WaveLabel string // translated
}

// waveLabel names a wave: the canary, then waves counted from 1.
func waveLabel(l *i18n.Locale, wave int, canary bool) string {
	switch {
	case canary && wave == 0:
		return l.T("Canary")
	case canary:
		return l.T("Wave %d", wave)
	}
	return l.T("Wave %d", wave+1)
}

func rolloutID(r *http.Request) (int64, error) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		return 0, model.NotFound("rollout")
	}
	return id, nil
}

// rolloutActions are the status actions a rollout in status s offers.
func rolloutActions(s model.RolloutStatus) []string {
	var out []string
	for _, a := range []string{model.RolloutStart, model.RolloutPause, model.RolloutResume, model.RolloutCancel} {
		if _, ok := model.RolloutTransition(s, a); ok {
			out = append(out, a)
		}
	}
	return out
}

// rolloutDeviceFilter reads the device table's search.
func rolloutDeviceFilter(q url.Values, perPage int) (model.RolloutDeviceFilter, error) {
	var v model.Validator
	f := model.RolloutDeviceFilter{MAC: q.Get("mac"), State: model.UpgradeState(q.Get("state")), Error: q.Get("error"), Page: model.ParsePage(q, &v)}
	if q.Get("per_page") == "" && perPage > 0 {
		f.PerPage = perPage
	}
	if s := q.Get("wave"); s != "" {
		n, err := strconv.Atoi(s)
		v.Check(err == nil && n >= 0, "wave", "must be a wave number")
		f.Wave = &n
	}
	f.Check(&v)
	return f, v.Err()
}

// targetScopes say a rollout's scope among its targets.
var targetScopes = map[model.ProjectKind]string{model.ProjectCommunity: i18n.N("Community devices"),
	model.ProjectOffice: i18n.N("Office devices"), model.ProjectPersonal: i18n.N("Home devices")}

// targetsText says a rollout's targets in words.
func (w *Web) targetsText(r *http.Request, ro *model.Rollout) []string {
	t := ro.Targets
	out := []string{tr(r, "Model %s", ro.FirmwareModel)}
	if t.Scope != "" {
		if s, ok := targetScopes[t.Scope]; ok {
			out = append(out, tr(r, s))
		} else {
			out = append(out, string(t.Scope))
		}
	}
	if t.ProjectID != 0 {
		name := "#" + strconv.FormatInt(t.ProjectID, 10)
		if p, err := w.store.GetProject(r.Context(), t.ProjectID); err == nil {
			name = p.Name
		}
		out = append(out, tr(r, "Project %s", name))
	}
	if t.InstallerID != 0 {
		name := "#" + strconv.FormatInt(t.InstallerID, 10)
		if a, err := w.store.GetInstaller(r.Context(), t.InstallerID); err == nil {
			name = a.Username
		}
		out = append(out, tr(r, "Installer %s", name))
	}
	if t.CurrentVersion != "" {
		out = append(out, tr(r, "Now on %s", t.CurrentVersion))
	}
	if t.Online != nil {
		if *t.Online {
			out = append(out, tr(r, "Online when created"))
		} else {
			out = append(out, tr(r, "Offline when created"))
		}
	}
	return out
}

// RolloutPage shows a rollout: its plan, its actions, its progress per
// state and per wave (followed live by static/rollouts.js), and its
// devices.
func (w *Web) RolloutPage(rw http.ResponseWriter, r *http.Request) error {
	id, err := rolloutID(r)
	if err != nil {
		return err
	}
	ctx := r.Context()
	ro, err := w.store.GetRollout(ctx, id)
	if err != nil {
		return err
	}
	pr, err := w.store.RolloutProgress(ctx, id)
	if err != nil {
		return err
	}
	l10n := locale(r)
	d := rolloutPageData{R: ro, StatusLabel: statusLabelIn(l10n, ro.Status), P: pr, Actions: rolloutActions(ro.Status),
		Targets: w.targetsText(r, ro), AllState: model.UpgradeStates}
	d.fillProgress(l10n, pr)
	plan := ro.Plan
	d.Window = l10n.T("Any time")
	if !(plan.WindowStart == plan.WindowEnd || (plan.WindowStart == "00:00" && plan.WindowEnd == "24:00")) {
		d.Window = l10n.T("%s–%s device local time", plan.WindowStart, plan.WindowEnd)
	}
	d.Timeout = durationText(l10n, plan.DeviceTimeout)
	switch {
	case plan.CanaryCount > 0:
		d.Canary = trn(r, "%d devices", plan.CanaryCount)
	case plan.CanaryPercent > 0:
		d.Canary = tr(r, "%d%% of the devices", plan.CanaryPercent)
	default:
		d.Canary = tr(r, "None")
	}
	switch {
	case plan.WaveSize > 0:
		d.WavePlan = trn(r, "%d devices each", plan.WaveSize)
	case plan.WavePercent > 0:
		d.WavePlan = tr(r, "%d%% of the devices each", plan.WavePercent)
	default:
		d.WavePlan = tr(r, "All remaining devices at once")
	}
	q := r.URL.Query()
	d.MACText, d.State, d.ErrText = strings.TrimSpace(q.Get("mac")), q.Get("state"), strings.TrimSpace(q.Get("error"))
	p := w.page(r, ro.Name, "firmware", nil)
	status := http.StatusOK
	f, ferr := rolloutDeviceFilter(q, 50)
	var l model.List[*model.DeviceUpgrade]
	if ferr == nil {
		l, ferr = w.store.ListRolloutDevices(ctx, id, f)
	}
	if model.ErrorCode(ferr) == model.EINVALID {
		p.Fail(ferr)
		p.Error = fieldErrors(p.Fields)
		status = http.StatusBadRequest
	} else if ferr != nil {
		return ferr
	}
	for _, u := range l.Items {
		d.Devices = append(d.Devices, deviceUpgradeRow{DeviceUpgrade: u, Label: stateLabelIn(l10n, u.State), WaveLabel: waveLabel(l10n, u.Wave, hasCanary(pr))})
	}
	d.Pager = newPager(r, max(l.Page, 1), max(l.PerPage, 1), l.Total)
	switch {
	case l.Total == 0:
		d.Count = tr(r, "No devices")
	default:
		d.Count = tr(r, "%d–%d of %d", d.Pager.First, d.Pager.Last, l.Total)
	}
	base := "/rollouts/" + strconv.FormatInt(id, 10)
	sq := url.Values{}
	for _, k := range []string{"mac", "state", "error", "wave", "page", "per_page"} {
		if v := q.Get(k); v != "" {
			sq.Set(k, v)
		}
	}
	d.JSON = base + "/progress?" + sq.Encode()
	sq.Del("page")
	sq.Del("per_page")
	d.CSV = base + "/devices.csv?" + sq.Encode()
	d.Live = rolloutLive(ro.Status, pr)
	p.Data = d
	return w.render(rw, status, "rollout_page", p)
}

// durationText writes a number of seconds as "45 min", "2 h", "1 h 30 min".
func durationText(l *i18n.Locale, sec int) string {
	h, m := sec/3600, sec%3600/60
	switch {
	case h == 0 && m == 0:
		return l.T("%d s", sec)
	case h == 0:
		return l.T("%d min", m)
	case m == 0:
		return l.T("%d h", h)
	}
	return l.T("%d h %d min", h, m)
}

// rolloutLive says whether a rollout may still change by itself: running or
// paused, or ended with devices still finishing.
func rolloutLive(s model.RolloutStatus, pr *model.RolloutProgress) bool {
	return s == model.RolloutRunning || s == model.RolloutPaused || pr.Ended < pr.Total && s != model.RolloutDraft
}

func (d *rolloutPageData) fillProgress(l *i18n.Locale, pr *model.RolloutProgress) {
	for _, s := range model.UpgradeStates {
		if s == model.UpgradeDraft && pr.ByState[s] == 0 {
			continue // only a draft has them: no "Draft 0" on a running rollout
		}
		d.States = append(d.States, stateCount{State: s, Label: stateLabelIn(l, s), N: pr.ByState[s]})
	}
	d.BarOrder = barOrder
	for _, s := range barOrder {
		d.BarStates = append(d.BarStates, stateCount{State: s, Label: stateLabelIn(l, s), N: pr.ByState[s]})
	}
	for _, wp := range pr.ByWave {
		d.Waves = append(d.Waves, newWaveView(l, wp, hasCanary(pr)))
	}
}

func newWaveView(l *i18n.Locale, wp model.WaveProgress, canary bool) waveView {
	v := waveView{WaveProgress: wp, Label: waveLabel(l, wp.Wave, canary)}
	for s, n := range wp.ByState {
		switch {
		case s.Ended():
			v.Ended += n
		case s.Open() && s != model.UpgradePending:
			v.Active += n
		}
	}
	v.Done, v.Failed = wp.ByState[model.UpgradeDone], wp.ByState[model.UpgradeFailed]
	switch {
	case wp.Total > 0 && v.Ended == wp.Total:
		v.State = l.T(waveFinished)
	case v.Active > 0 || v.Ended > 0:
		v.State = l.T(waveInProgress)
	default:
		v.State = l.T(waveNotStarted)
	}
	return v
}

func hasCanary(pr *model.RolloutProgress) bool { return len(pr.ByWave) > 0 && pr.ByWave[0].Canary }

// rolloutProgressJSON is what static/rollouts.js polls.
type rolloutProgressJSON struct {
	*model.RolloutProgress
	StatusLabel string                 `json:"status_label"`
	PauseReason string                 `json:"pause_reason"`
	Live        bool                   `json:"live"`
	Devices     []*model.DeviceUpgrade `json:"devices"`
	// StateLabels name the upgrade states in the reader's language, for
	// the pages that follow the progress (a rollout's, a device's).
	StateLabels map[model.UpgradeState]string `json:"state_labels"`
}

// RolloutProgressJSON is a rollout's progress and the page of its device
// table the query names, as JSON, for its page to follow.
func (w *Web) RolloutProgressJSON(rw http.ResponseWriter, r *http.Request) error {
	id, err := rolloutID(r)
	if err != nil {
		return err
	}
	ctx := r.Context()
	ro, err := w.store.GetRollout(ctx, id)
	if err != nil {
		return err
	}
	pr, err := w.store.RolloutProgress(ctx, id)
	if err != nil {
		return err
	}
	l := locale(r)
	out := rolloutProgressJSON{RolloutProgress: pr, StatusLabel: statusLabelIn(l, ro.Status), PauseReason: ro.PauseReason,
		Live: rolloutLive(ro.Status, pr), Devices: []*model.DeviceUpgrade{}, StateLabels: map[model.UpgradeState]string{}}
	for _, s := range model.UpgradeStates {
		out.StateLabels[s] = stateLabelIn(l, s)
	}
	if f, err := rolloutDeviceFilter(r.URL.Query(), 50); err == nil {
		l, err := w.store.ListRolloutDevices(ctx, id, f)
		if err != nil && model.ErrorCode(err) != model.EINVALID {
			return err
		}
		out.Devices = append(out.Devices, l.Items...)
	}
	rw.Header().Set("Content-Type", "application/json")
	rw.Header().Set("Cache-Control", "no-store")
	return json.NewEncoder(rw).Encode(out)
}

// maxRolloutCSV bounds a CSV export of a rollout's devices.
const maxRolloutCSV = 200_000

// RolloutDevicesCSV exports a rollout's devices (the table's search) as CSV.
func (w *Web) RolloutDevicesCSV(rw http.ResponseWriter, r *http.Request) error {
	id, err := rolloutID(r)
	if err != nil {
		return err
	}
	ro, err := w.store.GetRollout(r.Context(), id)
	if err != nil {
		return err
	}
	f, err := rolloutDeviceFilter(r.URL.Query(), model.MaxPerPage)
	if err != nil {
		return err
	}
	f.PerPage = model.MaxPerPage
	var rows [][]string
	for page := 1; len(rows) < maxRolloutCSV; page++ {
		f.Page.Page = page
		l, err := w.store.ListRolloutDevices(r.Context(), id, f)
		if err != nil {
			return err
		}
		for _, u := range l.Items {
			rows = append(rows, tabular.UpgradeRow(u))
		}
		if len(l.Items) < f.PerPage || page*f.PerPage >= l.Total {
			break
		}
	}
	rw.Header().Set("Content-Type", "text/csv; charset=utf-8")
	rw.Header().Set("Content-Disposition", `attachment; filename="rollout-`+strconv.FormatInt(ro.ID, 10)+`-devices.csv"`)
	_, err = rw.Write(tabular.ExportCSV(tabular.UpgradeColumns, rows))
	return err
}

// RolloutAction starts, pauses, resumes or cancels a rollout (the button's
// path names the action) and returns to its page.
func (w *Web) RolloutAction(rw http.ResponseWriter, r *http.Request) error {
	id, err := rolloutID(r)
	if err != nil {
		return err
	}
	action := r.PathValue("action")
	notices := map[string]string{
		model.RolloutStart:  i18n.N("Rollout started: the devices are released wave by wave, in their maintenance window."),
		model.RolloutPause:  i18n.N("Rollout paused: no more devices are released; those already told finish their upgrade."),
		model.RolloutResume: i18n.N("Rollout resumed."),
		model.RolloutCancel: i18n.N("Rollout canceled: devices not yet told are left as they are; those already told finish their upgrade."),
	}
	notice, ok := notices[action]
	if !ok {
		return model.NotFound("action")
	}
	if _, err := w.cases.SetRolloutStatus(r.Context(), id, action); err != nil {
		return err
	}
	return redirect(rw, r, "/rollouts/"+strconv.FormatInt(id, 10), tr(r, notice))
}

// deviceFirmwarePanel feeds a device page's firmware panel: its running
// upgrade and its history.
type deviceFirmwarePanel struct {
	Running *deviceUpgradeRow
	History []deviceUpgradeRow
}

// deviceFirmware loads the firmware panel of a device's page.
func (w *Web) deviceFirmware(r *http.Request, mac string) (*deviceFirmwarePanel, error) {
	us, err := w.store.DeviceUpgrades(r.Context(), mac, 20)
	if err != nil {
		return nil, err
	}
	p, l := &deviceFirmwarePanel{}, locale(r)
	for _, u := range us {
		row := deviceUpgradeRow{DeviceUpgrade: u, Label: stateLabelIn(l, u.State)}
		if u.State.Open() && p.Running == nil {
			p.Running = &row
		}
		p.History = append(p.History, row)
	}
	return p, nil
}
