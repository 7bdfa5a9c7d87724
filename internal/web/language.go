package web

import (
	"errors"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/i18n"
	"github.com/gatehouse-dev/gatehouse/internal/model"
)

// LangCookie holds the language picked with the switcher on this browser:
// what a visitor who is not signed in reads, and a signed-in person whose
// account has none.
const LangCookie = "gatehouse_lang"

// locale is the language and time zone a request's pages are written in.
// Signed in: the person's account language (the real person's while
// working in an installer's account: they read the page), then the
// switcher's cookie, then Accept-Language; their account's time zone.
// Not signed in: the cookie, then Accept-Language; UTC.
func locale(r *http.Request) *i18n.Locale {
	lang, zone := "", ""
	if id := auth.IdentityFrom(r.Context()); id != nil && id.Account != nil {
		if i18n.Supported(id.Account.Language) {
			lang = id.Account.Language
		}
		zone = id.Account.TimeZone
	}
	if c, err := r.Cookie(LangCookie); lang == "" && err == nil && i18n.Supported(c.Value) {
		lang = c.Value
	}
	if lang == "" {
		lang = i18n.Match(r.Header.Get("Accept-Language"))
	}
	return i18n.For(lang, zone)
}

// tr translates a message for the reader of r (see i18n.Locale.T).
func tr(r *http.Request, key string, args ...any) string { return locale(r).T(key, args...) }

// localized is err's message in the locale's language; def (English) for
// an error that is not a domain error.
func localized(l *i18n.Locale, err error, def string) string {
	var e *model.Error
	if errors.As(err, &e) && e.Message == def {
		msg, _ := e.Localized(errorText(l))
		return msg
	}
	if i18n.Has(def) { // a message the server put in err's place (unavailable, throttled, internal)
		return l.T(def)
	}
	return def
}

// Fail puts err on the page: its message and field messages in the
// reader's language.
func (p *Page) Fail(err error) {
	var e *model.Error
	if !errors.As(err, &e) {
		p.Error = localized(p.L, err, model.ErrorMessage(err))
		return
	}
	p.Error, p.Fields = e.Localized(errorText(p.L))
}

func setLangCookie(rw http.ResponseWriter, r *http.Request, lang string) {
	http.SetCookie(rw, &http.Cookie{Name: LangCookie, Value: lang, Path: "/", MaxAge: int((365 * 24 * time.Hour).Seconds()),
		HttpOnly: true, Secure: r.TLS != nil, SameSite: http.SameSiteLaxMode})
}

// SetLanguage is the switcher of a visitor not signed in: it sets the
// cookie and goes back to the page.
func (w *Web) SetLanguage(rw http.ResponseWriter, r *http.Request) error {
	lang := r.PostFormValue("lang")
	if !i18n.Supported(lang) {
		return model.Invalid("lang", "must be one of %s", strings.Join(model.Languages, ", "))
	}
	setLangCookie(rw, r, lang)
	return redirect(rw, r, safeNext(r.PostFormValue("next")), "")
}

// SetOwnLanguage is the switcher of a signed-in person: the account keeps
// the language (it follows them to another browser, and an installer's
// e-mails are written in it), and the cookie too.
func (w *Web) SetOwnLanguage(rw http.ResponseWriter, r *http.Request) error {
	lang := r.PostFormValue("lang")
	if err := w.cases.SetOwnLanguage(r.Context(), lang); err != nil {
		return err
	}
	setLangCookie(rw, r, lang)
	return redirect(rw, r, safeNext(r.PostFormValue("next")), "")
}

// Messages the server answers in a domain error's place, the message of
// several invalid fields, and the roles' labels (model.Role.Label).
var _ = []string{i18n.N("building not found"), i18n.N("apartment not found"), i18n.N("department not found"), // store.scopedPlace
	i18n.N("Internal error."), i18n.N("Too many failed logins. Try again later."), i18n.N("Invalid input."),
	i18n.N("Admin"), i18n.N("Distributor"), i18n.N("Sub-distributor"), i18n.N("Installer")}

// errorText formats a domain error's message in a locale: its arguments
// that are catalog messages (a role's or a status's label) translated too.
func errorText(l *i18n.Locale) func(format string, args ...any) string {
	return func(format string, args ...any) string {
		cloned := false
		for i, a := range args {
			// Only a label: never text with verbs of its own (a name such as "%d devices").
			if s, ok := a.(string); ok && s != "" && !strings.Contains(s, "%") && i18n.Has(s) {
				if !cloned { // the error's own arguments stay as they are
					args, cloned = slices.Clone(args), true
				}
				args[i] = l.T(s)
			}
		}
		return l.T(format, args...)
	}
}

// trn translates a plural message: its form is chosen by the first argument.
func trn(r *http.Request, key string, args ...any) string { return locale(r).T(key, args...) }

// Translate is tr for the server's own portal answers (a redirect's notice).
func Translate(r *http.Request, key string, args ...any) string { return tr(r, key, args...) }
