package usecase

import (
	"context"

	"github.com/gatehouse-dev/gatehouse/internal/model"
)

// CreateFirmware adds an entry to the firmware catalogue (the admin only).
func (c *Cases) CreateFirmware(ctx context.Context, f *model.Firmware) error {
	return c.internal(ctx, "adding the firmware", c.store.CreateFirmware(ctx, f))
}
