package usecase

import (
	"context"

	"github.com/gatehouse-dev/gatehouse/internal/mail"
	"github.com/gatehouse-dev/gatehouse/internal/model"
)

// The Setting module: a sub-distributor's customer service contacts and
// Receive Feedback switch, which its installers read.

// CallerCustomerService returns the customer service settings the actor
// sees: a sub-distributor its own, an installer its sub-distributor's (with
// SubdistributorID 0 and nothing set when it is directly under a
// distributor).
func (c *Cases) CallerCustomerService(ctx context.Context) (*model.CustomerService, error) {
	act := model.ActorFrom(ctx)
	if act == nil {
		return nil, model.Errorf(model.EUNAUTHORIZED, "Sign in first.")
	}
	var cs *model.CustomerService
	var err error
	switch act.Role {
	case model.RoleSubdistributor:
		cs, err = c.store.GetCustomerService(ctx, act.AccountID)
	case model.RoleInstaller:
		if act.SubdistributorID == 0 {
			return &model.CustomerService{Language: mail.DefaultLanguage}, nil
		}
		cs, err = c.store.GetCustomerService(ctx, act.SubdistributorID)
	default:
		return nil, model.Errorf(model.EFORBIDDEN, "Customer service settings belong to sub-distributors.")
	}
	return cs, c.internal(ctx, "reading the customer service settings", err)
}

// SaveCustomerService replaces the acting sub-distributor's settings.
func (c *Cases) SaveCustomerService(ctx context.Context, cs *model.CustomerService) error {
	act := model.ActorFrom(ctx)
	if act == nil {
		return model.Errorf(model.EUNAUTHORIZED, "Sign in first.")
	}
	return c.internal(ctx, "saving the customer service settings", c.store.PutCustomerService(ctx, act.AccountID, cs))
}
