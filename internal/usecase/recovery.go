package usecase

import (
	"context"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/mail"
	"github.com/gatehouse-dev/gatehouse/internal/model"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// "Forgot password?" on the login page (issue 16): a person names their
// account (user name, or the e-mail address only their account holds) and
// gets a single-use link to set a new password by e-mail, in the account's
// language. The answer is the same whether an account matched or not, and
// comes before the mail is sent, so that neither its words nor its time
// tell who has an account here.

// RecoveryLimits are the rate limits of "Forgot password?": 5 requests per
// address in 15 minutes (then 429 with Retry-After), 3 links per account in
// an hour (then none, silently).
var RecoveryLimits = store.RecoveryLimits{PerAddress: 5, AddressWindow: 15 * time.Minute, PerAccount: 3, AccountWindow: time.Hour}

// RecoveryAnswer is what every request that is not refused is told.
const RecoveryAnswer = "If an account matches, a link to set a new password is on its way to its e-mail address. It works once, within 24 hours; an earlier link stops working."

// maxRecoveryLogin bounds what is looked up: a user name or an e-mail
// address.
const maxRecoveryLogin = 254

// recoveryMailTimeout bounds the sending of one recovery mail.
const recoveryMailTimeout = time.Minute

// RecoverPassword handles a "Forgot password?" request for login from the
// client address ip. It fails only on bad input (400), an address over its
// limit (429) or the database; the mail goes out after it returns.
func (c *Cases) RecoverPassword(ctx context.Context, login, ip string) error {
	login = strings.TrimSpace(login)
	var v model.Validator
	v.Check(login != "", "login", "is required: your user name or e-mail address")
	v.Check(utf8.RuneCountInString(login) <= maxRecoveryLogin, "login", "must be at most %d characters", maxRecoveryLogin)
	v.Check(utf8.ValidString(login) && !strings.ContainsAny(login, "\x00\r\n"), "login", "must be one line of text")
	if err := v.Err(); err != nil {
		return err
	}
	tok, link := c.installerNewLink(installerLinkReset)
	link.Expires = c.store.Now().Add(RecoveryLinkTTL)
	acc, err := c.store.RequestPasswordRecovery(ctx, login, auth.AddressKey(ip), link, RecoveryLimits)
	if err != nil || acc == nil {
		return c.internal(ctx, "asking for a password link", err)
	}
	from := "your Gatehouse administrator"
	if acc.ParentID != 0 {
		if parent, err := c.store.GetAccount(model.WithActor(ctx, model.System), acc.ParentID); err == nil && parent.Name != "" {
			from = parent.Name
		}
	}
	msg := mail.PasswordReset(acc.Language, mail.LinkMail{Account: acc.Username, Name: acc.Name, From: from,
		Link: c.publicURL + "/password/set?token=" + tok, Expires: link.Expires})
	msg.To = []string{acc.Email}
	// Sent after the answer: an answer that waited for the mail server
	// only when an account matched would tell who has one.
	go func() {
		mctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), recoveryMailTimeout)
		defer cancel()
		if err := c.mail.Send(mctx, msg); err != nil {
			c.log.ErrorContext(mctx, "password recovery link made but not mailed", "account", acc.ID, "err", err)
		}
	}()
	return nil
}
