package usecase

import (
	"context"

	"github.com/gatehouse-dev/gatehouse/internal/model"
)

// RenamePasskey renames one of the signed-in account's passkeys (issue 16).
func (c *Cases) RenamePasskey(ctx context.Context, id int64, name string) (model.Passkey, error) {
	pk, err := c.store.RenamePasskey(ctx, id, name)
	return pk, c.internal(ctx, "renaming the passkey", err)
}

// DeletePasskey removes one of the signed-in account's passkeys; its last
// second factor is removed by turning two-factor sign-in off instead.
func (c *Cases) DeletePasskey(ctx context.Context, id int64) error {
	return c.internal(ctx, "removing the passkey", c.store.DeletePasskey(ctx, id))
}
