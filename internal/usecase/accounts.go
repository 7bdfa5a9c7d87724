package usecase

import (
	"context"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/model"
)

// Accounts above the installers (distributors by the admin,
// sub-distributors by their distributor), their switches, and the API
// tokens of the signed-in account.

// CreateAccount adds acc (its Role, profile and ParentID set) with
// password, under the actor's subtree.
func (c *Cases) CreateAccount(ctx context.Context, acc *model.Account, password string) error {
	var v model.Validator
	model.ValidatePassword(&v, "password", password)
	if err := v.Err(); err != nil {
		return err
	}
	// Checked before the (slow) hash; the store checks again.
	acc.Normalize()
	if err := acc.Validate(); err != nil {
		return err
	}
	hash, err := auth.HashPasswordContext(ctx, password)
	if err != nil {
		return c.internal(ctx, "creating the account", err)
	}
	return c.internal(ctx, "creating the account", c.store.CreateAccount(ctx, acc, hash))
}

// SubdistributorSwitches are a sub-distributor's switches; nil keeps one.
type SubdistributorSwitches struct {
	PaymentEnabled   *bool
	PayByDistributor *bool
}

// SetSubdistributorSwitches sets the payment feature and "Pay by
// Distributor" of sub-distributor id and returns the account as saved.
func (c *Cases) SetSubdistributorSwitches(ctx context.Context, id int64, sw SubdistributorSwitches) (*model.Account, error) {
	if err := c.store.SetSubdistributorSwitches(ctx, id, sw.PaymentEnabled, sw.PayByDistributor); err != nil {
		return nil, c.internal(ctx, "saving the switches", err)
	}
	acc, err := c.store.GetAccount(ctx, id)
	return acc, c.internal(ctx, "reading the sub-distributor", err)
}

// CreateAPIToken makes a long-lived bearer token for the actor, expiring
// in expiresInDays (0: never), and returns it; only its hash is kept.
func (c *Cases) CreateAPIToken(ctx context.Context, name string, expiresInDays int) (string, *model.APIToken, error) {
	if expiresInDays < 0 || expiresInDays > 3650 {
		return "", nil, model.Invalid("expires_in_days", "must be from 0 (never) to 3650")
	}
	ttl := time.Duration(expiresInDays) * 24 * time.Hour
	tok := auth.APITokenPrefix + auth.NewToken()
	t := &model.APIToken{Name: name}
	if ttl > 0 {
		e := c.store.Now().Add(ttl)
		t.Expires = &e
	}
	if err := c.store.CreateAPIToken(ctx, t, auth.HashToken(tok)); err != nil {
		return "", nil, c.internal(ctx, "creating the API token", err)
	}
	return tok, t, nil
}

// DeleteAPIToken revokes one of the actor's API tokens.
func (c *Cases) DeleteAPIToken(ctx context.Context, id int64) error {
	return c.internal(ctx, "revoking the API token", c.store.DeleteAPIToken(ctx, id))
}
