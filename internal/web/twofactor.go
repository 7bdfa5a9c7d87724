package web

import (
	"encoding/base64"
	"net/http"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/i18n"
	"github.com/gatehouse-dev/gatehouse/internal/model"
)

// Two-factor sign-in in the portal (issue 16): the account's own
// authenticator (set up with a QR code, recovery codes shown once, turned
// off with password and code) and, above installers, the requirement for
// the accounts below.

type twoFactorData struct {
	Status     model.TwoFactorStatus
	Setup      *auth.TOTPSetup
	QR         string // the setup's PNG, base64
	Codes      []string
	CanRequire bool
	Children   string // the policy's switch, a catalog key naming the role below
	// Passkeys (issue 16): the account's, whether this node has them (its
	// public URL names a host), and whether another may be added.
	Passkeys       []model.Passkey
	PasskeysOn     bool
	PasskeyRoom    bool
	MaxPasskeys    int
	PasskeysReason string
}

func (w *Web) twoFactorPage(rw http.ResponseWriter, r *http.Request, status int, p *Page, d twoFactorData) error {
	st, err := w.store.GetTwoFactorStatus(r.Context())
	if err != nil {
		return err
	}
	d.Status = st
	if d.Passkeys, err = w.store.ListPasskeys(r.Context()); err != nil {
		return err
	}
	d.PasskeysOn, d.MaxPasskeys = w.auth.Passkeys != nil, model.MaxPasskeys
	d.PasskeyRoom = len(d.Passkeys) < model.MaxPasskeys
	role := identity(r).Account.Role
	d.CanRequire = role != model.RoleInstaller
	d.Children = map[model.Role]string{model.RoleAdmin: i18n.N("Require two-factor sign-in of my distributors"),
		model.RoleDistributor:    i18n.N("Require two-factor sign-in of my sub-distributors"),
		model.RoleSubdistributor: i18n.N("Require two-factor sign-in of my installers")}[role]
	if p == nil {
		p = w.page(r, tr(r, "Two-factor sign-in"), "", nil)
	}
	if p.Notice == mustEnrollNotice { // the server's redirect of an account that must set it up
		p.Notice = p.L.T(mustEnrollNotice)
	}
	p.Data = d
	return w.render(rw, status, "account_two_factor", p)
}

// mustEnrollNotice is the notice internal/server redirects here with when
// the parent account requires two-factor sign-in; the page shows it in
// the reader's language. It must stay the server's text, word for word.
var mustEnrollNotice = i18n.N("Your parent account requires two-factor sign-in: set it up to go on.")

// TwoFactorPage shows the account's two-factor sign-in.
func (w *Web) TwoFactorPage(rw http.ResponseWriter, r *http.Request) error {
	return w.twoFactorPage(rw, r, http.StatusOK, nil, twoFactorData{})
}

// StartTwoFactor shows a new key to scan.
func (w *Web) StartTwoFactor(rw http.ResponseWriter, r *http.Request) error {
	setup, err := w.auth.StartTwoFactor(r.Context(), identity(r))
	if err != nil {
		return err
	}
	return w.twoFactorPage(rw, r, http.StatusOK, nil, twoFactorData{Setup: setup, QR: base64.StdEncoding.EncodeToString(setup.QRPNG)})
}

// ConfirmTwoFactor turns it on and shows the recovery codes once.
func (w *Web) ConfirmTwoFactor(rw http.ResponseWriter, r *http.Request) error {
	codes, err := w.auth.ConfirmTwoFactor(r.Context(), r.PostFormValue("code"))
	if model.ErrorCode(err) == model.EINVALID {
		p := w.page(r, tr(r, "Two-factor sign-in"), "", nil)
		p.Fail(err)
		p.Error, p.Fields = tr(r, "That code did not match (%s). Set it up again and type the newest code.", p.Fields["code"]), nil
		return w.twoFactorPage(rw, r, http.StatusBadRequest, p, twoFactorData{})
	} else if err != nil {
		return err
	}
	p := w.page(r, tr(r, "Two-factor sign-in"), "", nil)
	p.Notice = tr(r, "Two-factor sign-in is on.")
	return w.twoFactorPage(rw, r, http.StatusOK, p, twoFactorData{Codes: codes})
}

// DisableTwoFactor turns it off with the password and a code.
func (w *Web) DisableTwoFactor(rw http.ResponseWriter, r *http.Request) error {
	var err error
	if assertion := r.PostFormValue("passkey"); assertion != "" {
		err = w.auth.DisableTwoFactorPasskey(r.Context(), identity(r), r.PostFormValue("password"), r.PostFormValue("challenge"), []byte(assertion), auth.ClientIP(r))
	} else {
		err = w.auth.DisableTwoFactor(r.Context(), identity(r), r.PostFormValue("password"), r.PostFormValue("code"), auth.ClientIP(r))
	}
	if model.ErrorCode(err) == model.EINVALID {
		p := w.page(r, tr(r, "Two-factor sign-in"), "", nil)
		p.Fail(err)
		return w.twoFactorPage(rw, r, http.StatusBadRequest, p, twoFactorData{})
	} else if err != nil {
		return err
	}
	return redirect(rw, r, "/account/two-factor", tr(r, "Two-factor sign-in is off."))
}

// SetTwoFactorPolicy saves whether the accounts below must use it.
func (w *Web) SetTwoFactorPolicy(rw http.ResponseWriter, r *http.Request) error {
	on := r.PostFormValue("require") == "on"
	if err := w.cases.SetChildrenTwoFactorRequired(r.Context(), on); err != nil {
		return err
	}
	msg := tr(r, "The accounts below yours may sign in without a second factor.")
	if on {
		msg = tr(r, "The accounts below yours must use two-factor sign-in: those without it set it up at their next sign-in.")
	}
	return redirect(rw, r, "/account/two-factor", msg)
}

// OwnEmailPage asks an account without an e-mail address for one.
func (w *Web) OwnEmailPage(rw http.ResponseWriter, r *http.Request) error {
	return w.render(rw, http.StatusOK, "account_email", w.page(r, tr(r, "Your e-mail address"), "", safeNext(r.URL.Query().Get("next"))))
}

// SetOwnEmail saves it and goes on where the person was going.
func (w *Web) SetOwnEmail(rw http.ResponseWriter, r *http.Request) error {
	next := safeNext(r.PostFormValue("next"))
	err := w.cases.SetOwnEmail(r.Context(), r.PostFormValue("email"))
	if model.ErrorCode(err) == model.EINVALID {
		p := w.page(r, tr(r, "Your e-mail address"), "", next)
		p.Fail(err)
		return w.render(rw, http.StatusBadRequest, "account_email", p)
	} else if err != nil {
		return err
	}
	return redirect(rw, r, next, tr(r, "Your e-mail address is saved."))
}
