package web

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"html/template"
	"net/http"
	"strings"

	"github.com/gatehouse-dev/gatehouse/internal/i18n"
	"github.com/gatehouse-dev/gatehouse/internal/model"
)

// The account page: one place for what a person sets about their own
// account (password, two-factor sign-in, notifications, webhooks), so that
// the top bar holds one link instead of one per setting and still fits a
// phone.

// accountLink is one card of the account page; Title and Text are catalog
// keys, translated where they are shown.
type accountLink struct {
	ID, Path, Title, Text string
}

type accountHomeData struct {
	TwoFactor model.TwoFactorStatus
	Acting    bool
	Links     []accountLink
}

// AccountPage shows the signed-in account's settings. While working in an
// installer's account, its own password and second factor are not offered
// (they are the installer's to change).
func (w *Web) AccountPage(rw http.ResponseWriter, r *http.Request) error {
	d := accountHomeData{Acting: identity(r).ActingAs != nil}
	if !d.Acting {
		st, err := w.store.GetTwoFactorStatus(r.Context())
		if err != nil {
			return err
		}
		d.TwoFactor = st
		twoFactor := i18n.N("Off: sign in with a password alone.")
		if st.Enabled {
			twoFactor = i18n.N("On: a code from your app, a passkey or a recovery code after the password.")
		}
		d.Links = append(d.Links,
			accountLink{"change-password-link", "/account/password", i18n.N("Password"), i18n.N("Change it; every other session and API token ends.")},
			accountLink{"two-factor-link", "/account/two-factor", i18n.N("Two-factor sign-in"), twoFactor},
			accountLink{"email-link", "/account/email", i18n.N("E-mail address"), i18n.N("Where password links and notifications go.")})
	}
	d.Links = append(d.Links,
		accountLink{"notifications-link", "/account/notifications", i18n.N("Notifications"), i18n.N("Which e-mails you get: expiring services, devices offline, orders, rollouts paused.")},
		accountLink{"webhooks-link", "/webhooks", i18n.N("Webhooks"), i18n.N("Signed HTTPS calls to your systems on device, command, AutoP, order, end-user and rollout events.")})
	return w.render(rw, http.StatusOK, "account_home", w.page(r, tr(r, "Account"), "", d))
}

// Messages with markup in them: a sentence such as "Signed in as
// <strong>%s</strong>." is one catalog key ("Signed in as %s."), its
// argument set in markup by markTag, and the whole made HTML by marked:
//
//	{{marked (t "Signed in as %s." (markTag "strong" .Account.Username))}}
//
// markTag escapes its text and attribute values and wraps the element in a
// marker no one outside this process knows; marked escapes everything of
// the translated text but what lies between two markers. A translation or
// a plain argument cannot smuggle markup in: neither holds the marker.
var markupMark = func() string {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return "\x1e" + hex.EncodeToString(b) + "\x1e"
}()

// markupTag is an element around text, attributes as name, value pairs.
func markupTag(name string, text any, attrs ...string) string {
	var b strings.Builder
	b.WriteString(markupMark + "<" + name)
	for i := 0; i+1 < len(attrs); i += 2 {
		b.WriteString(" " + attrs[i] + `="` + template.HTMLEscapeString(attrs[i+1]) + `"`)
	}
	b.WriteString(">" + template.HTMLEscapeString(fmt.Sprint(text)) + "</" + name + ">" + markupMark)
	return b.String()
}

// markupHTML is a translated message holding markupTag's elements as HTML.
func markupHTML(s string) template.HTML {
	parts := strings.Split(s, markupMark)
	var b strings.Builder
	for i, p := range parts {
		if i%2 == 1 && i < len(parts)-1 {
			b.WriteString(p) // an element made by markupTag
		} else {
			b.WriteString(template.HTMLEscapeString(p))
		}
	}
	return template.HTML(b.String())
}

// lineBreaks is a translated message with its line breaks ("Payment\nfeature",
// a column header on two lines) as <br>.
func lineBreaks(s string) template.HTML {
	return template.HTML(strings.ReplaceAll(template.HTMLEscapeString(s), "\n", "<br>"))
}

func init() {
	staticFuncs["markTag"] = markupTag
	staticFuncs["marked"] = markupHTML
	staticFuncs["breakLines"] = lineBreaks
}
