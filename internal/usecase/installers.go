package usecase

import (
	"context"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/mail"
	"github.com/gatehouse-dev/gatehouse/internal/model"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// The User module's installers: add one (and mail it the link to set its
// password), reset its password, edit, delete, and the installer's own
// switch of access without password.

// Link lifetimes of the single-use password links.
const (
	WelcomeLinkTTL = 72 * time.Hour
	ResetLinkTTL   = 24 * time.Hour
	// RecoveryLinkTTL: a link the account asked for itself ("Forgot
	// password?") is used at once; it lives an hour, not a day.
	RecoveryLinkTTL = time.Hour
)

// Purposes of a password link.
const (
	installerLinkWelcome = "welcome"
	installerLinkReset   = "reset"
)

// InstallerCreated is what creating an installer did: the installer, and
// WelcomeMail, nil when its welcome mail was sent, else an error that says
// so in words safe to show (the cause is logged).
type InstallerCreated struct {
	Installer   *model.Account
	WelcomeMail error
}

// CreateInstaller adds inst (its Username, profile and ParentID set) under
// the actor's subtree and mails it a single-use link to set its password.
// A mail that cannot be sent does not undo the installer: a new link can be
// sent with a password reset.
func (c *Cases) CreateInstaller(ctx context.Context, inst *model.Account) (*InstallerCreated, error) {
	var v model.Validator
	v.Check(strings.TrimSpace(inst.Email) != "", "email", "is required: the installer's password link is sent there")
	v.Check(inst.Username != "", "account", "is required")
	if err := v.Err(); err != nil {
		return nil, err
	}
	tok, link := c.installerNewLink(installerLinkWelcome)
	if err := c.store.CreateInstallerWithLink(ctx, inst, &link); err != nil {
		return nil, c.internal(ctx, "creating the installer", err)
	}
	out := &InstallerCreated{Installer: inst}
	if err := c.installerMailLink(ctx, inst, tok, link); err != nil {
		c.log.ErrorContext(ctx, "installer created but its welcome mail not sent", "installer", inst.ID, "to", inst.Email, "err", err)
		out.WelcomeMail = model.Errorf(model.EINTERNAL,
			"The welcome email could not be sent; the installer was created: use Reset password to send a new link.")
	}
	return out, nil
}

// ResetInstallerPassword mails installer id a new single-use link to set its
// password and returns the installer. The link is stored before the mail is
// sent; when the mail fails the error says so without the mail server's
// reply, which is logged.
func (c *Cases) ResetInstallerPassword(ctx context.Context, id int64) (*model.Account, error) {
	inst, err := c.store.GetInstaller(ctx, id)
	if err != nil {
		return nil, c.internal(ctx, "reading the installer", err)
	}
	tok, link := c.installerNewLink(installerLinkReset)
	if err := c.store.CreatePasswordToken(ctx, inst.ID, link.Purpose, link.Hash, link.Expires); err != nil {
		return inst, c.internal(ctx, "making the password link", err)
	}
	if err := c.installerMailLink(ctx, inst, tok, link); err != nil {
		if model.ErrorCode(err) != model.EINTERNAL {
			return inst, err
		}
		c.log.ErrorContext(ctx, "password link made but not mailed", "installer", inst.ID, "to", inst.Email, "err", err)
		return inst, model.Errorf(model.EINTERNAL,
			"The link was made but the mail could not be sent. Please try again later; if it keeps failing, contact your administrator.")
	}
	return inst, nil
}

// installerNewLink makes a single-use link for purpose: the raw token for
// the mail, and the link as it is stored.
func (c *Cases) installerNewLink(purpose string) (string, store.PasswordLink) {
	ttl := ResetLinkTTL
	if purpose == installerLinkWelcome {
		ttl = WelcomeLinkTTL
	}
	tok := auth.NewToken()
	return tok, store.PasswordLink{Hash: auth.HashToken(tok), Purpose: purpose, Expires: c.store.Now().Add(ttl)}
}

// installerMailLink mails inst the link with token tok in the installer's
// language. The error is the raw cause: callers log it.
func (c *Cases) installerMailLink(ctx context.Context, inst *model.Account, tok string, link store.PasswordLink) error {
	from := "your sub-distributor"
	if parent, err := c.store.GetAccount(ctx, inst.ParentID); err == nil {
		from = parent.Name
	}
	d := mail.LinkMail{Account: inst.Username, Name: inst.Name, From: from, Link: c.publicURL + "/password/set?token=" + tok, Expires: link.Expires}
	msg := mail.PasswordReset(inst.Language, d)
	if link.Purpose == installerLinkWelcome {
		msg = mail.InstallerWelcome(inst.Language, d)
	}
	if inst.Email == "" {
		return model.Invalid("email", "is empty: there is nowhere to send the link")
	}
	msg.To = []string{inst.Email}
	return c.mail.Send(ctx, msg)
}

// UpdateInstaller edits installer id's profile; nil fields of p keep their
// value, the login name stays.
func (c *Cases) UpdateInstaller(ctx context.Context, id int64, p model.InstallerPatch) (*model.Account, error) {
	inst, err := c.store.UpdateInstaller(ctx, id, p)
	return inst, c.internal(ctx, "saving the installer", err)
}

// DeleteInstaller deletes installer id; one that still owns projects,
// users or devices needs confirm, else the ECONFLICT error comes with what
// would go. The installer's devices are told they are gone.
func (c *Cases) DeleteInstaller(ctx context.Context, id int64, confirm bool) (model.DeletionImpact, error) {
	impact, err := c.store.DeleteInstaller(ctx, id, confirm)
	if err != nil {
		return impact, c.internal(ctx, "deleting the installer", err)
	}
	c.deviceGatewayDeleted(ctx, impact.DeviceMACs...)
	return impact, nil
}

// SetAccessWithoutPassword is the installer's own switch: on lets its
// sub-distributor open its portal; off ends every session doing so.
func (c *Cases) SetAccessWithoutPassword(ctx context.Context, enabled bool) error {
	return c.internal(ctx, "saving access without password", c.store.SetAccessWithoutPassword(ctx, enabled))
}

// PasswordFromLink is the form a single-use password link opens.
type PasswordFromLink struct {
	Token    string // the raw token of the link
	Password string
	Confirm  string // the password typed again
}

// SetPasswordFromLink sets the password of the link's account and uses the
// link up. A link that is invalid, used or expired is ENOTFOUND; a bad
// password is EINVALID and comes with the account, for the form.
func (c *Cases) SetPasswordFromLink(ctx context.Context, in PasswordFromLink) (*model.Account, error) {
	hash := auth.HashToken(in.Token)
	acc, err := c.store.PasswordTokenAccount(ctx, hash)
	if err != nil {
		return nil, c.internal(ctx, "reading the link", err)
	}
	var v model.Validator
	model.ValidatePassword(&v, "password", in.Password)
	v.Check(in.Password == in.Confirm, "confirm", "does not match the password")
	if err := v.Err(); err != nil {
		return acc, err
	}
	pwHash, err := auth.HashPasswordContext(ctx, in.Password)
	if err != nil {
		return acc, c.internal(ctx, "setting the password", err)
	}
	if _, err := c.store.UsePasswordToken(ctx, hash, pwHash); err != nil {
		return acc, c.internal(ctx, "setting the password", err)
	}
	return acc, nil
}
