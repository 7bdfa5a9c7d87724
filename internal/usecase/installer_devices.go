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

// UpdateInstallerDevice saves an edit of the device with this MAC (any
// notation) — its type, model, name, SIP, location and where it belongs —
// and returns the device as stored. edit sets the fields that change on the
// stored row, inside the store's one transaction (see store.UpdateDevice),
// so concurrent edits of different fields both land.
func (c *Cases) UpdateInstallerDevice(ctx context.Context, mac string, edit func(*model.Device) error) (*model.Device, error) {
	if err := c.store.UpdateDevice(ctx, mac, edit); err != nil {
		return nil, c.internal(ctx, "saving the device", err)
	}
	d, err := c.store.GetDevice(ctx, mac)
	return d, c.internal(ctx, "reading the device", err)
}
