package usecase

import (
	"context"

	"github.com/gatehouse-dev/gatehouse/internal/model"
)

// The installer's devices, added by MAC to one of its projects.

// AddInstallerDevice registers a device by MAC in a project of the
// caller's subtree.
func (c *Cases) AddInstallerDevice(ctx context.Context, d *model.Device) error {
	return c.internal(ctx, "adding the device", c.store.CreateDevice(ctx, d))
}

// UpdateInstallerDevice saves a device found by d.MAC (any notation): its
// type, model, name, SIP, location and where it belongs.
func (c *Cases) UpdateInstallerDevice(ctx context.Context, d *model.Device) error {
	return c.internal(ctx, "saving the device", c.store.UpdateDevice(ctx, d.MAC, d))
}

// DeleteInstallerDevice deletes a device by MAC (any notation) and closes
// its connection to the gateway, on whichever node holds it.
func (c *Cases) DeleteInstallerDevice(ctx context.Context, mac string) error {
	if err := c.store.DeleteDevice(ctx, mac); err != nil {
		return c.internal(ctx, "deleting the device", err)
	}
	if c.gateway != nil {
		c.gateway.Deleted(ctx, mac)
	}
	return nil
}
