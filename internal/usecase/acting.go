package usecase

import (
	"context"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/model"
)

// Acting as an installer ("access without password"): a sub-distributor or
// distributor opens the portal of an installer that granted it, in a
// session of its own, at most store.MaxImpersonation long.

// ActingStart asks to work as an installer.
type ActingStart struct {
	InstallerID int64
	IP          string // the client's, kept with the session
	UserAgent   string
}

// StartActing opens a session in which the actor works as the installer;
// it returns the session's raw token (shown once) and the session.
func (c *Cases) StartActing(ctx context.Context, in ActingStart) (string, *model.Session, error) {
	tok := auth.SessionPrefix + auth.NewToken()
	se := &model.Session{TokenHash: auth.HashToken(tok), CSRFToken: auth.NewToken(), IP: model.StorableText(in.IP, 64), UserAgent: model.StorableText(in.UserAgent, 256)}
	if err := c.store.CreateImpersonationSession(ctx, in.InstallerID, se); err != nil {
		return "", nil, c.internal(ctx, "opening the installer's portal", err)
	}
	return tok, se, nil
}

// StopActing ends the acting session whose token hashes to sessionHash;
// the account's own session goes on. accountID is the account really
// signed in, for the audit log. The session goes and the entry is written in
// one transaction: neither without the other.
func (c *Cases) StopActing(ctx context.Context, sessionHash string, accountID int64) error {
	return c.internal(ctx, "leaving the installer's portal", c.store.EndSessions(ctx, accountID, sessionHash))
}
