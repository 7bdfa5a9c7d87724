package web

import (
	"net/http"

	"github.com/gatehouse-dev/gatehouse/internal/model"
)

// The account page: one place for what a person sets about their own
// account (password, two-factor sign-in, notifications, webhooks), so that
// the top bar holds one link instead of one per setting and still fits a
// phone.

// accountLink is one card of the account page.
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
		twoFactor := "Off: sign in with a password alone."
		if st.Enabled {
			twoFactor = "On: a code from your app, a passkey or a recovery code after the password."
		}
		d.Links = append(d.Links,
			accountLink{"change-password-link", "/account/password", "Password", "Change it; every other session and API token ends."},
			accountLink{"two-factor-link", "/account/two-factor", "Two-factor sign-in", twoFactor},
			accountLink{"email-link", "/account/email", "E-mail address", "Where password links and notifications go."})
	}
	d.Links = append(d.Links,
		accountLink{"notifications-link", "/account/notifications", "Notifications", "Which e-mails you get: expiring services, devices offline, orders, rollouts paused."},
		accountLink{"webhooks-link", "/webhooks", "Webhooks", "Signed HTTPS calls to your systems on device, command, AutoP, order, end-user and rollout events."})
	return w.render(rw, http.StatusOK, "account_home", w.page(r, "Account", "", d))
}
