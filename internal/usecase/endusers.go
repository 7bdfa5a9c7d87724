package usecase

import (
	"context"

	"github.com/gatehouse-dev/gatehouse/internal/model"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// The installer's end users: add, change and delete one under the
// household rules (the store checks them in the writing transaction).
// Importing many is in imports.go.

// CreateEndUser adds u to its project (u.ProjectID).
func (c *Cases) CreateEndUser(ctx context.Context, u *model.EndUser) error {
	return c.internal(ctx, "adding the user", c.store.AddEndUser(ctx, u))
}

// UpdateEndUser saves an edit of end user id and returns the user as
// stored. edit sets the fields that change on the stored row, inside the
// store's one transaction (see store.UpdateEndUser), so concurrent edits of
// different fields both land.
func (c *Cases) UpdateEndUser(ctx context.Context, id int64, edit func(*model.EndUser) error) (*model.EndUser, error) {
	if err := c.store.UpdateEndUser(ctx, id, edit); err != nil {
		return nil, c.internal(ctx, "saving the user", err)
	}
	saved, err := c.store.GetEndUser(ctx, id)
	return saved, c.internal(ctx, "reading the user", err)
}

// DeleteEndUser deletes end user id (a family master with its members) and
// says what went with it.
func (c *Cases) DeleteEndUser(ctx context.Context, id int64) (*store.EndUserDependents, error) {
	gone, err := c.store.DeleteEndUser(ctx, id)
	return gone, c.internal(ctx, "deleting the user", err)
}
