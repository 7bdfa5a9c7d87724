package web

import (
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/model"
	"github.com/gatehouse-dev/gatehouse/internal/tabular"
	"github.com/gatehouse-dev/gatehouse/internal/usecase"
)

// The User module's Installer tab: add, search, check, edit, reset the
// password, delete, MAC library, and access without password.

// UsersHome opens the User module on its first tab.
func (w *Web) UsersHome(rw http.ResponseWriter, r *http.Request) error {
	http.Redirect(rw, r, "/users/installers", http.StatusSeeOther)
	return nil
}

type installerListData struct {
	Filter model.InstallerFilter
	List   model.List[*model.Account]
	Pager  Pager
	Export string
}

// Installers lists the sub-distributor's installers, searchable by Account
// or Email.
func (w *Web) Installers(rw http.ResponseWriter, r *http.Request) error {
	var v model.Validator
	q := r.URL.Query()
	f := model.InstallerFilter{Account: strings.TrimSpace(q.Get("account")), Email: strings.TrimSpace(q.Get("email")), Page: model.ParsePage(q, &v)}
	if err := v.Err(); err != nil {
		return err
	}
	l, err := w.store.ListInstallers(r.Context(), f)
	if err != nil {
		return err
	}
	p := w.page(r, tr(r, "User"), "users", installerListData{Filter: f, List: l, Pager: newPager(r, f.Page.Page, f.PerPage, l.Total),
		Export: exportURL(r, "/api/v1/installers")})
	return w.render(rw, http.StatusOK, "users_installers", p)
}

// installerForm is the add / edit form of an installer.
type installerForm struct {
	New              bool
	ID               int64
	Account          string
	Business         string
	Company          string
	Email            string
	Phone            string
	TimeZone         string
	Language         string
	ChargeMode       string
	ConnectType      string
	RTPConfusion     bool
	Access           bool
	PayByDistributor bool // the charge mode is hidden and fixed
	TimeZones        []string
	Languages        [][2]string
}

var languageNames = [][2]string{{"en", "English"}, {"zh-CN", "简体中文"}, {"es", "Español"}, {"de", "Deutsch"}, {"fr", "Français"}, {"ru", "Русский"}}

// commonTimeZones fill the time zone picker; any IANA zone typed is accepted.
var commonTimeZones = []string{"UTC", "Europe/London", "Europe/Dublin", "Europe/Lisbon", "Europe/Madrid", "Europe/Paris", "Europe/Brussels",
	"Europe/Amsterdam", "Europe/Berlin", "Europe/Zurich", "Europe/Rome", "Europe/Vienna", "Europe/Prague", "Europe/Warsaw", "Europe/Stockholm",
	"Europe/Oslo", "Europe/Copenhagen", "Europe/Helsinki", "Europe/Athens", "Europe/Bucharest", "Europe/Kyiv", "Europe/Istanbul", "Europe/Moscow",
	"Asia/Dubai", "Asia/Karachi", "Asia/Kolkata", "Asia/Bangkok", "Asia/Singapore", "Asia/Shanghai", "Asia/Hong_Kong", "Asia/Taipei",
	"Asia/Seoul", "Asia/Tokyo", "Australia/Perth", "Australia/Sydney", "Pacific/Auckland", "Africa/Cairo", "Africa/Johannesburg",
	"Africa/Lagos", "America/Sao_Paulo", "America/Argentina/Buenos_Aires", "America/Mexico_City", "America/Bogota", "America/New_York",
	"America/Toronto", "America/Chicago", "America/Denver", "America/Los_Angeles", "America/Anchorage", "Pacific/Honolulu"}

func (w *Web) newInstallerForm(r *http.Request) installerForm {
	me := identity(r).Effective()
	return installerForm{New: true, Business: model.BusinessIntercom, TimeZone: "UTC", Language: "en", ChargeMode: model.ChargeInstaller,
		ConnectType: model.ConnectDefault, PayByDistributor: me.PayByDistributor, TimeZones: commonTimeZones, Languages: languageNames}
}

func formOf(a *model.Account, payByDistributor bool) installerForm {
	return installerForm{ID: a.ID, Account: a.Username, Business: a.Business, Company: a.Company, Email: a.Email, Phone: a.Phone,
		TimeZone: a.TimeZone, Language: a.Language, ChargeMode: a.ChargeMode, ConnectType: a.ConnectType, RTPConfusion: a.RTPConfusion,
		Access: a.AccessWithoutPassword, PayByDistributor: payByDistributor, TimeZones: commonTimeZones, Languages: languageNames}
}

func readInstallerForm(r *http.Request, f *installerForm) {
	f.Account = strings.TrimSpace(r.PostFormValue("account"))
	f.Business = r.PostFormValue("business")
	f.Company = r.PostFormValue("company")
	f.Email = r.PostFormValue("email")
	f.Phone = r.PostFormValue("phone")
	f.TimeZone = strings.TrimSpace(r.PostFormValue("time_zone"))
	f.Language = r.PostFormValue("language")
	if !f.PayByDistributor {
		f.ChargeMode = r.PostFormValue("charge_mode")
	}
	f.ConnectType = r.PostFormValue("connect_type")
	f.RTPConfusion = r.PostFormValue("rtp_confusion") == "on"
}

func (f installerForm) patch() model.InstallerPatch {
	p := model.InstallerPatch{Business: &f.Business, Company: &f.Company, Email: &f.Email, Phone: &f.Phone, TimeZone: &f.TimeZone,
		Language: &f.Language, ConnectType: &f.ConnectType, RTPConfusion: &f.RTPConfusion}
	if !f.PayByDistributor {
		p.ChargeMode = &f.ChargeMode
	}
	return p
}

func (w *Web) renderInstallerForm(rw http.ResponseWriter, r *http.Request, f installerForm, err error) error {
	title := tr(r, "New installer")
	if !f.New {
		title = tr(r, "Installer %s", f.Account)
	}
	p := w.page(r, title, "users", f)
	status := http.StatusOK
	if err != nil {
		status = statusFor(err)
		p.Fail(err)
		if p.Fields["username"] != "" {
			p.Fields["account"] = p.Fields["username"]
		}
	}
	return w.render(rw, status, "users_installer_form", p)
}

func statusFor(err error) int {
	if model.ErrorCode(err) == model.ECONFLICT {
		return http.StatusConflict
	}
	return http.StatusBadRequest
}

// NewInstaller shows the add form.
func (w *Web) NewInstaller(rw http.ResponseWriter, r *http.Request) error {
	return w.renderInstallerForm(rw, r, w.newInstallerForm(r), nil)
}

// CreateInstaller adds an installer and mails it the link to set its password.
func (w *Web) CreateInstaller(rw http.ResponseWriter, r *http.Request) error {
	f := w.newInstallerForm(r)
	readInstallerForm(r, &f)
	acc := &model.Account{Username: f.Account, ParentID: identity(r).Effective().ID}
	f.patch().Apply(acc)
	created, err := w.cases.CreateInstaller(r.Context(), acc)
	if isUserError(err) {
		return w.renderInstallerForm(rw, r, f, err)
	} else if err != nil {
		return err
	}
	notice := tr(r, "Installer %s created; a link to set the password was mailed to %s.", acc.Username, acc.Email)
	if created.WelcomeMail != nil {
		notice = tr(r, "Installer %s created, but the mail could not be sent: use Reset password to send a new link.", acc.Username)
	}
	return redirect(rw, r, "/users/installers/"+strconv.FormatInt(acc.ID, 10), notice)
}

type installerDetail struct {
	installerForm
	Installer *model.Account
	MACs      model.List[*model.LibraryMAC]
	MACSearch string
	Pager     Pager
	Import    *model.ImportResult
	Audit     []*model.AuditEntry
}

func (w *Web) installerDetail(rw http.ResponseWriter, r *http.Request, status int, inst *model.Account, f installerForm, formErr error, imp *model.ImportResult) error {
	var v model.Validator
	q := r.URL.Query()
	pg := model.ParsePage(q, &v)
	pg.PerPage = min(pg.PerPage, 20)
	if q.Get("per_page") == "" {
		pg.PerPage = 20
	}
	macs, err := w.store.ListMACs(r.Context(), inst.ID, model.MACFilter{Search: q.Get("mac"), Page: pg})
	if err != nil {
		return err
	}
	audit, err := w.store.ListAudit(r.Context(), model.AuditFilter{ObjectType: "account", ObjectID: strconv.FormatInt(inst.ID, 10), FromAction: "account.create", Page: model.Page{Page: 1, PerPage: 10}})
	if err != nil {
		return err
	}
	d := installerDetail{installerForm: f, Installer: inst, MACs: macs, MACSearch: q.Get("mac"), Pager: newPager(r, pg.Page, pg.PerPage, macs.Total), Import: imp, Audit: audit.Items}
	p := w.page(r, tr(r, "Installer %s", inst.Username), "users", d)
	if formErr != nil {
		p.Fail(formErr)
	}
	return w.render(rw, status, "users_installer", p)
}

func (w *Web) pathInstaller(r *http.Request) (*model.Account, error) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		return nil, model.NotFound("installer")
	}
	return w.store.GetInstaller(r.Context(), id)
}

// Installer shows an installer: profile (editable), MAC library, recent audit.
func (w *Web) Installer(rw http.ResponseWriter, r *http.Request) error {
	inst, err := w.pathInstaller(r)
	if err != nil {
		return err
	}
	return w.installerDetail(rw, r, http.StatusOK, inst, formOf(inst, identity(r).Effective().PayByDistributor), nil, nil)
}

// UpdateInstaller saves the edit form.
func (w *Web) UpdateInstaller(rw http.ResponseWriter, r *http.Request) error {
	inst, err := w.pathInstaller(r)
	if err != nil {
		return err
	}
	f := formOf(inst, identity(r).Effective().PayByDistributor)
	readInstallerForm(r, &f)
	f.Account = inst.Username
	if _, err := w.cases.UpdateInstaller(r.Context(), inst.ID, f.patch()); isUserError(err) {
		return w.installerDetail(rw, r, http.StatusBadRequest, inst, f, err, nil)
	} else if err != nil {
		return err
	}
	return redirect(rw, r, "/users/installers/"+strconv.FormatInt(inst.ID, 10), tr(r, "Saved."))
}

// ResetInstallerPassword mails a new single-use link.
func (w *Web) ResetInstallerPassword(rw http.ResponseWriter, r *http.Request) error {
	inst, err := w.pathInstaller(r)
	if err != nil {
		return err
	}
	notice := tr(r, "A link to set a new password was mailed to %s.", inst.Email)
	if _, err := w.cases.ResetInstallerPassword(r.Context(), inst.ID); err != nil {
		if model.ErrorCode(err) != model.EINTERNAL {
			return err
		}
		notice = localized(locale(r), err, model.ErrorMessage(err))
	}
	return redirect(rw, r, "/users/installers/"+strconv.FormatInt(inst.ID, 10), notice)
}

// ResetInstallerTwoFactor removes the installer's two-factor sign-in (a
// lost phone).
func (w *Web) ResetInstallerTwoFactor(rw http.ResponseWriter, r *http.Request) error {
	inst, err := w.pathInstaller(r)
	if err != nil {
		return err
	}
	if err := w.cases.ResetChildTwoFactor(r.Context(), inst.ID); err != nil {
		return err
	}
	return redirect(rw, r, "/users/installers/"+strconv.FormatInt(inst.ID, 10),
		tr(r, "Two-factor sign-in of %s is reset: the installer signs in with the password and sets it up again if you require it.", inst.Username))
}

type deleteData struct {
	Installer *model.Account
	Impact    model.DeletionImpact
}

// ConfirmDeleteInstaller shows what deleting the installer would remove.
func (w *Web) ConfirmDeleteInstaller(rw http.ResponseWriter, r *http.Request) error {
	inst, err := w.pathInstaller(r)
	if err != nil {
		return err
	}
	impact, err := w.store.InstallerDeletionImpact(r.Context(), inst.ID)
	if err != nil {
		return err
	}
	return w.render(rw, http.StatusOK, "users_installer_delete", w.page(r, tr(r, "Delete installer %s", inst.Username), "users", deleteData{inst, impact}))
}

// DeleteInstaller deletes after the confirmation.
func (w *Web) DeleteInstaller(rw http.ResponseWriter, r *http.Request) error {
	inst, err := w.pathInstaller(r)
	if err != nil {
		return err
	}
	_, err = w.cases.DeleteInstaller(r.Context(), inst.ID, r.PostFormValue("confirm") == "yes")
	if model.ErrorCode(err) == model.ECONFLICT {
		impact, _ := w.store.InstallerDeletionImpact(r.Context(), inst.ID)
		p := w.page(r, tr(r, "Delete installer %s", inst.Username), "users", deleteData{inst, impact})
		p.Error = tr(r, "Tick the confirmation to delete the installer with everything it owns.")
		if impact.Orders > 0 {
			p.Fail(err)
		}
		return w.render(rw, http.StatusConflict, "users_installer_delete", p)
	} else if err != nil {
		return err
	}
	return redirect(rw, r, "/users/installers", tr(r, "Installer %s deleted.", inst.Username))
}

// AddMAC adds one MAC to the installer's library.
func (w *Web) AddMAC(rw http.ResponseWriter, r *http.Request) error {
	inst, err := w.pathInstaller(r)
	if err != nil {
		return err
	}
	res, err := w.cases.AddMACs(r.Context(), inst.ID, []model.MACRow{{Row: 1, MAC: r.PostFormValue("mac"), Name: r.PostFormValue("name"),
		Claim: r.PostFormValue("claim_code")}})
	if err != nil {
		return err
	}
	if len(res.Rejected) > 0 {
		err := model.Invalid("mac", "%s", res.Rejected[0].Reason)
		return w.installerDetail(rw, r, http.StatusBadRequest, inst, formOf(inst, identity(r).Effective().PayByDistributor), err, nil)
	}
	m, _ := model.NormalizeMAC(r.PostFormValue("mac"))
	return redirect(rw, r, "/users/installers/"+strconv.FormatInt(inst.ID, 10), tr(r, "MAC %s added.", m))
}

// ImportMACs imports the uploaded template and shows every rejected row.
func (w *Web) ImportMACs(rw http.ResponseWriter, r *http.Request) error {
	inst, err := w.pathInstaller(r)
	if err != nil {
		return err
	}
	form := formOf(inst, identity(r).Effective().PayByDistributor)
	file, _, err := r.FormFile("file")
	if err != nil {
		return w.installerDetail(rw, r, http.StatusBadRequest, inst, form, model.Invalid("file", "choose the CSV or XLSX file to import"), nil)
	}
	defer file.Close()
	data, err := io.ReadAll(io.LimitReader(file, tabular.MaxBytes+1))
	if err != nil || len(data) > tabular.MaxBytes {
		err := model.TooLarge("file", "must be at most %d MiB", tabular.MaxBytes>>20)
		return w.installerDetail(rw, r, http.StatusRequestEntityTooLarge, inst, form, err, nil)
	}
	res, err := w.cases.ImportMACFile(r.Context(), inst.ID, data)
	if err == nil {
		status := http.StatusOK
		if res.Imported == 0 {
			status = http.StatusUnprocessableEntity
		}
		return w.installerDetail(rw, r, status, inst, form, nil, &res)
	}
	if model.ErrorCode(err) == model.ETOOLARGE {
		return w.installerDetail(rw, r, http.StatusRequestEntityTooLarge, inst, form, err, nil)
	} else if isUserError(err) {
		return w.installerDetail(rw, r, http.StatusBadRequest, inst, form, err, nil)
	}
	return err
}

// DeleteMAC removes one MAC from the library.
func (w *Web) DeleteMAC(rw http.ResponseWriter, r *http.Request) error {
	inst, err := w.pathInstaller(r)
	if err != nil {
		return err
	}
	if err := w.cases.DeleteMAC(r.Context(), inst.ID, r.PathValue("mac")); err != nil {
		return err
	}
	return redirect(rw, r, "/users/installers/"+strconv.FormatInt(inst.ID, 10), tr(r, "MAC removed."))
}

// StartAccess opens the installer's portal as the installer (the lock icon).
func (w *Web) StartAccess(rw http.ResponseWriter, r *http.Request) error {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		return model.NotFound("installer")
	}
	if identity(r).ActingAs != nil {
		return model.Errorf(model.EFORBIDDEN, "You are already working in an installer's portal: go back to your account first.")
	}
	tok, se, err := w.cases.StartActing(r.Context(), usecase.ActingStart{InstallerID: id, IP: auth.ClientIP(r), UserAgent: r.UserAgent()})
	if err != nil {
		return err
	}
	w.setActing(rw, r, tok, se.Expires)
	http.Redirect(rw, r, "/", http.StatusSeeOther)
	return nil
}

// EndAccess leaves the installer's portal and returns to the own account.
func (w *Web) EndAccess(rw http.ResponseWriter, r *http.Request) error {
	id := identity(r)
	if id.ActingAs == nil {
		return redirect(rw, r, "/", "")
	}
	// Only the acting session ends; the own one goes on.
	if err := w.cases.StopActing(r.Context(), id.Session.TokenHash, id.Account.ID); err != nil {
		return err
	}
	w.clearActing(rw, r)
	return redirect(rw, r, "/users/installers", tr(r, "Back in your own account."))
}

// installerSettingsData is the installer's own Settings page.
type installerSettingsData struct {
	Me     *model.Account
	Parent *model.Account
}

// InstallerSettings shows the installer's profile and its access-without-
// password switch.
func (w *Web) InstallerSettings(rw http.ResponseWriter, r *http.Request) error {
	me, err := w.store.GetAccount(r.Context(), identity(r).Effective().ID)
	if err != nil {
		return err
	}
	// The parent is above the installer's subtree: read it as the system.
	parent, err := w.store.GetAccount(systemCtx(r), me.ParentID)
	if err != nil && model.ErrorCode(err) != model.ENOTFOUND {
		return err
	}
	return w.render(rw, http.StatusOK, "installer_settings", w.page(r, tr(r, "Settings"), "installer-settings", installerSettingsData{me, parent}))
}

// SetAccess switches access without password (the installer only).
func (w *Web) SetAccess(rw http.ResponseWriter, r *http.Request) error {
	on := r.PostFormValue("enabled") == "on"
	if err := w.cases.SetAccessWithoutPassword(r.Context(), on); err != nil {
		return err
	}
	msg := tr(r, "Access without password is off: your sub-distributor can no longer open your portal.")
	if on {
		msg = tr(r, "Access without password is on: your sub-distributor can open your portal to help you.")
	}
	return redirect(rw, r, "/installer/settings", msg)
}

type setPasswordData struct {
	Token   string
	Account string
}

// SetPasswordPage is the page a single-use link opens.
func (w *Web) SetPasswordPage(rw http.ResponseWriter, r *http.Request) error {
	tok := r.URL.Query().Get("token")
	acc, err := w.store.PasswordTokenAccount(r.Context(), auth.HashToken(tok))
	if err != nil {
		return err
	}
	rw.Header().Set("Referrer-Policy", "no-referrer")
	return w.render(rw, http.StatusOK, "password_set", w.page(r, tr(r, "Set your password"), "", setPasswordData{tok, acc.Username}))
}

// SetPassword sets the password from a single-use link.
func (w *Web) SetPassword(rw http.ResponseWriter, r *http.Request) error {
	tok := r.PostFormValue("token")
	acc, err := w.cases.SetPasswordFromLink(r.Context(), usecase.PasswordFromLink{Token: tok, Password: r.PostFormValue("password"),
		Confirm: r.PostFormValue("confirm")})
	if model.ErrorCode(err) == model.EINVALID {
		p := w.page(r, tr(r, "Set your password"), "", setPasswordData{tok, acc.Username})
		p.Fail(err)
		return w.render(rw, http.StatusBadRequest, "password_set", p)
	} else if err != nil {
		return err
	}
	http.Redirect(rw, r, "/login?notice="+urlEscape(tr(r, "Your password is set: log in as %s.", acc.Username)), http.StatusSeeOther)
	return nil
}
