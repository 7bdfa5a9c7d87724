package web

import (
	"errors"
	"net/http"
	"net/url"
	"strings"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/i18n"
	"github.com/gatehouse-dev/gatehouse/internal/model"
	"github.com/gatehouse-dev/gatehouse/internal/usecase"
)

type loginData struct {
	Username string
	Next     string
}

// safeNext keeps a post-login redirect on this site: a path of our own,
// without the control characters and backslashes browsers strip or turn
// into slashes (which would make "/\t/evil.example" a foreign host).
func safeNext(next string) string {
	if strings.ContainsFunc(next, func(r rune) bool { return r < 0x20 || r == 0x7f || r == '\\' }) {
		return "/"
	}
	u, err := url.Parse(next)
	if err != nil || u.Scheme != "" || u.Host != "" || !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") {
		return "/"
	}
	return next
}

// LoginPage shows the login form; a signed-in visitor goes home.
func (w *Web) LoginPage(rw http.ResponseWriter, r *http.Request) error {
	if c, err := r.Cookie("gatehouse_session"); err == nil && c.Value != "" {
		if _, err := w.auth.Authenticate(r.Context(), c.Value); err == nil {
			return redirect(rw, r, safeNext(r.URL.Query().Get("next")), "")
		}
	}
	return w.render(rw, http.StatusOK, "login", w.page(r, tr(r, "Log in"), "", loginData{Next: r.URL.Query().Get("next")}))
}

// Login checks the form and opens a session.
func (w *Web) Login(rw http.ResponseWriter, r *http.Request) error {
	username, password := r.PostFormValue("username"), r.PostFormValue("password")
	next := safeNext(r.PostFormValue("next"))
	tok, se, _, err := w.auth.Login(r.Context(), username, password, auth.ClientIP(r), r.UserAgent())
	var sf *auth.SecondFactorNeeded
	if errors.As(err, &sf) {
		return w.render(rw, http.StatusOK, "login_second", w.page(r, tr(r, "Log in"), "", secondFactorData{Challenge: sf.Challenge, Next: next, Passkey: sf.Passkey}))
	}
	if err != nil {
		p := w.page(r, tr(r, "Log in"), "", loginData{Username: username, Next: next})
		status := http.StatusUnauthorized
		var te *auth.ThrottledError
		var busy *auth.BusyError
		switch {
		case errors.As(err, &te):
			rw.Header().Set("Retry-After", itoa(te.RetryAfterSeconds()))
			status, p.Error = http.StatusTooManyRequests, throttledMessage(r, te)
		case errors.As(err, &busy):
			rw.Header().Set("Retry-After", itoa(busy.RetryAfterSeconds()))
			status = http.StatusTooManyRequests
			p.Fail(err)
		case model.ErrorCode(err) == model.EINVALID:
			status = http.StatusBadRequest
			p.Fail(err)
			p.Error = tr(r, "Enter your user name and password.")
			if f := model.ErrorFields(err); f["username"] != "" && f["username"] != "is required" {
				p.Error = tr(r, "The user name %s.", p.Fields["username"])
			} else if f["password"] != "" && f["password"] != "is required" {
				p.Error = tr(r, "The password %s.", p.Fields["password"])
			}
		case model.ErrorCode(err) == model.EUNAUTHORIZED:
			p.Fail(err)
		default:
			return err
		}
		return w.render(rw, status, "login", p)
	}
	w.setCookie(rw, r, tok, se.Expires)
	http.Redirect(rw, r, next, http.StatusSeeOther)
	return nil
}

// throttledMessage says when logging in is possible again.
func throttledMessage(r *http.Request, te *auth.ThrottledError) string {
	m := (te.RetryAfterSeconds() + 59) / 60
	if te.Address {
		return trn(r, "Too many failed logins from your network. Try again in %d minutes.", m)
	}
	return trn(r, "Too many failed logins for this user name from your network. Try again in %d minutes.", m)
}

// Logout ends the session and returns to the login page.
func (w *Web) Logout(rw http.ResponseWriter, r *http.Request) error {
	if err := w.auth.Logout(r.Context(), identity(r)); err != nil {
		return err
	}
	w.clearCookie(rw, r)
	http.Redirect(rw, r, "/login", http.StatusSeeOther)
	return nil
}

// Home is the landing page: the dashboard of the account's subtree
// (dashboard.go), then its modules.
func (w *Web) Home(rw http.ResponseWriter, r *http.Request) error {
	p := w.page(r, tr(r, "Home (start page)"), "home", nil) // English "Home"; the key tells it from a single-tenant home
	d, err := w.cases.Dashboard(r.Context())
	if err != nil {
		return err
	}
	v := dashboardFor(p.L, p.Account, d)
	v.Modules = modulesFor(p.Account)
	p.Data = v
	return w.render(rw, http.StatusOK, "home", p)
}

// PasswordPage is the form that changes the own password.
func (w *Web) PasswordPage(rw http.ResponseWriter, r *http.Request) error {
	if identity(r).ActingAs != nil {
		return model.Errorf(model.EFORBIDDEN, "Working in another account, you cannot change its password.")
	}
	return w.render(rw, http.StatusOK, "account_password", w.page(r, tr(r, "Change password"), "", nil))
}

// ChangePassword changes the own password: every other session and token
// of the account ends, and this browser gets the new session.
func (w *Web) ChangePassword(rw http.ResponseWriter, r *http.Request) error {
	next := r.PostFormValue("new_password")
	var tok string
	var se *model.Session
	var err error
	if next != r.PostFormValue("confirm") {
		err = model.Invalid("confirm", "does not match the new password")
	} else {
		tok, se, err = w.auth.ChangePassword(r.Context(), identity(r), r.PostFormValue("current_password"), next, auth.ClientIP(r), r.UserAgent())
	}
	if err != nil {
		p := w.page(r, tr(r, "Change password"), "", nil)
		var te *auth.ThrottledError
		var busy *auth.BusyError
		switch {
		case errors.As(err, &te):
			rw.Header().Set("Retry-After", itoa(te.RetryAfterSeconds()))
			p.Error = throttledMessage(r, te)
			return w.render(rw, http.StatusTooManyRequests, "account_password", p)
		case errors.As(err, &busy):
			rw.Header().Set("Retry-After", itoa(busy.RetryAfterSeconds()))
			p.Fail(err)
			return w.render(rw, http.StatusTooManyRequests, "account_password", p)
		case model.ErrorCode(err) == model.EINVALID:
			p.Fail(err)
			return w.render(rw, http.StatusBadRequest, "account_password", p)
		}
		return err
	}
	w.setCookie(rw, r, tok, se.Expires)
	return redirect(rw, r, "/", tr(r, "Your password is changed. Every other session and API token of your account has ended."))
}

// ForgotPasswordPage is "Forgot password?": a form for the account's user
// name or e-mail address.
func (w *Web) ForgotPasswordPage(rw http.ResponseWriter, r *http.Request) error {
	return w.render(rw, http.StatusOK, "password_forgot", w.page(r, tr(r, "Forgot password"), "", ""))
}

// ForgotPassword asks for a password link; the answer is the same whether
// an account matched or not.
func (w *Web) ForgotPassword(rw http.ResponseWriter, r *http.Request) error {
	login := r.PostFormValue("login")
	p := w.page(r, tr(r, "Forgot password"), "", login)
	err := w.cases.RecoverPassword(r.Context(), login, auth.ClientIP(r))
	var ra interface{ RetryAfterSeconds() int }
	switch {
	case err == nil:
		p.Notice = p.L.T(usecase.RecoveryAnswer)
		p.Data = ""
		return w.render(rw, http.StatusOK, "password_forgot", p)
	case model.ErrorCode(err) == model.EINVALID:
		p.Fail(err)
		p.Error = tr(r, "Enter your user name or e-mail address.")
		return w.render(rw, http.StatusBadRequest, "password_forgot", p)
	case model.ErrorCode(err) == model.ETOOMANY && errors.As(err, &ra):
		rw.Header().Set("Retry-After", itoa(ra.RetryAfterSeconds()))
		p.Fail(err)
		return w.render(rw, http.StatusTooManyRequests, "password_forgot", p)
	}
	return err
}

// usecase.RecoveryAnswer for the catalogs (the extractor
// reads literals); a difference shows as a key the catalogs lack.
var _ = i18n.N("If an account matches, a link to set a new password is on its way to its e-mail address. It works once, within 24 hours; an earlier link stops working.")

type secondFactorData struct {
	Challenge, Next string
	Passkey         bool // the account has passkeys: the page offers one
}

// LoginSecondFactor completes a login with the authenticator's code, a
// recovery code, or a passkey's assertion (the page's script puts it in
// the form's passkey field).
func (w *Web) LoginSecondFactor(rw http.ResponseWriter, r *http.Request) error {
	challenge, next := r.PostFormValue("challenge"), safeNext(r.PostFormValue("next"))
	passkey := r.PostFormValue("has_passkey") == "1" && w.auth.Passkeys != nil
	var tok string
	var se *model.Session
	var err error
	if assertion := r.PostFormValue("passkey"); assertion != "" {
		tok, se, _, err = w.auth.CompletePasskeyLogin(r.Context(), challenge, []byte(assertion), auth.ClientIP(r), r.UserAgent())
	} else {
		tok, se, _, err = w.auth.CompleteLogin(r.Context(), challenge, r.PostFormValue("code"), auth.ClientIP(r), r.UserAgent())
	}
	if err != nil {
		switch model.ErrorCode(err) {
		case model.EINVALID, model.EUNAUTHORIZED, model.ECONFLICT:
			p := w.page(r, tr(r, "Log in"), "", secondFactorData{Challenge: challenge, Next: next, Passkey: passkey})
			p.Fail(err)
			status := http.StatusUnauthorized
			if model.ErrorCode(err) == model.EINVALID {
				status = http.StatusBadRequest
			} else if model.ErrorCode(err) == model.ECONFLICT {
				status = http.StatusConflict
			}
			return w.render(rw, status, "login_second", p)
		}
		return err
	}
	w.setCookie(rw, r, tok, se.Expires)
	http.Redirect(rw, r, next, http.StatusSeeOther)
	return nil
}
