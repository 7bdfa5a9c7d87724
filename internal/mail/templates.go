package mail

import (
	"fmt"
	"time"
)

// LinkMail is the data of a mail that carries a single-use link.
type LinkMail struct {
	Account string    // the login name
	Name    string    // how to greet the recipient
	From    string    // the sender organisation (the sub-distributor)
	Link    string    // the single-use link
	Expires time.Time // when the link stops working
}

// InstallerWelcome is the mail a new installer gets: its account name and a
// link to set its password, in lang.
func InstallerWelcome(lang string, d LinkMail) Message {
	return Message{
		Subject: "Your Gatehouse installer account " + d.Account,
		Text: fmt.Sprintf("Hello %s,\n\n%s has created a Gatehouse installer account for you.\n\nAccount: %s\n\nSet your password here (the link works once, until %s UTC):\n%s\n",
			d.Name, d.From, d.Account, d.Expires.UTC().Format("2006-01-02 15:04"), d.Link),
	}
}

// PasswordReset is the mail with a new single-use link to set a password.
func PasswordReset(lang string, d LinkMail) Message {
	return Message{
		Subject: "Set a new Gatehouse password for " + d.Account,
		Text: fmt.Sprintf("Hello %s,\n\nA new password was requested for your Gatehouse account %s.\n\nSet it here (the link works once, until %s UTC):\n%s\n\nIf you did not expect this, contact %s.\n",
			d.Name, d.Account, d.Expires.UTC().Format("2006-01-02 15:04"), d.Link, d.From),
	}
}
