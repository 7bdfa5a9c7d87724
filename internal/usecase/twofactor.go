package usecase

import (
	"context"
	"strings"
)

// SetChildrenTwoFactorRequired sets whether the signed-in account requires
// two-factor sign-in of its children (issue 16).
func (c *Cases) SetChildrenTwoFactorRequired(ctx context.Context, required bool) error {
	return c.internal(ctx, "saving the two-factor requirement", c.store.SetChildrenTwoFactorRequired(ctx, required))
}

// ResetChildTwoFactor removes the two-factor sign-in of a child account
// whose person lost their authenticator and recovery codes.
func (c *Cases) ResetChildTwoFactor(ctx context.Context, id int64) error {
	return c.internal(ctx, "resetting the two-factor sign-in", c.store.ResetChildTwoFactor(ctx, id))
}

// SetOwnEmail sets the signed-in account's own e-mail address.
func (c *Cases) SetOwnEmail(ctx context.Context, email string) error {
	return c.internal(ctx, "saving your e-mail address", c.store.SetOwnEmail(ctx, strings.TrimSpace(email)))
}

// SetOwnLanguage sets the portal language of the person signed in.
func (c *Cases) SetOwnLanguage(ctx context.Context, lang string) error {
	return c.internal(ctx, "saving your language", c.store.SetOwnLanguage(ctx, lang))
}
