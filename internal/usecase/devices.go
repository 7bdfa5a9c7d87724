package usecase

import (
	"context"

	"github.com/gatehouse-dev/gatehouse/internal/model"
)

// The device lists' writes (the guide's "Check/Delete Project Devices" and
// "Check/Delete Personal Device"): delete one device or a selection. The
// store scopes every device to the caller's subtree; the gateway closes the
// connections of the devices deleted, on whichever node holds them.

// DeleteDevice deletes the device mac (any notation) of the caller's
// subtree; its MAC may then be registered again.
func (c *Cases) DeleteDevice(ctx context.Context, mac string) error {
	if err := c.store.DeleteDevice(ctx, mac); err != nil {
		return c.internal(ctx, "deleting the device", err)
	}
	c.deviceGatewayDeleted(ctx, mac)
	return nil
}

// DeleteDevices deletes up to model.MaxDeviceBatch devices of the caller's
// subtree in one transaction, all or none (one not found refuses the
// whole batch). It answers the MACs deleted, normalised, each once, in the
// order given.
func (c *Cases) DeleteDevices(ctx context.Context, macs []string) ([]string, error) {
	if err := c.store.DeleteDevices(ctx, macs); err != nil {
		return nil, c.internal(ctx, "deleting the devices", err)
	}
	deleted := deviceMACsOnce(macs)
	c.deviceGatewayDeleted(ctx, deleted...)
	return deleted, nil
}

// deviceMACsOnce are the well-formed MACs of raw, normalised, each once, in
// the order first given.
func deviceMACsOnce(raw []string) []string {
	seen := make(map[string]bool, len(raw))
	out := make([]string, 0, len(raw))
	for _, s := range raw {
		if m, ok := model.NormalizeMAC(s); ok && !seen[m] {
			seen[m] = true
			out = append(out, m)
		}
	}
	return out
}

// The gateway is told after the commit, on a context the request's end
// does not cancel: what was written stays written, and the devices must
// hear of it. Without a gateway (tests, tools) there is nobody to tell.

func (c *Cases) deviceGatewayDeleted(ctx context.Context, macs ...string) {
	if c.gateway != nil && len(macs) > 0 {
		c.gateway.Deleted(context.WithoutCancel(ctx), macs...)
	}
}

func (c *Cases) deviceGatewayKick(ctx context.Context, macs ...string) {
	if c.gateway != nil && len(macs) > 0 {
		c.gateway.Kick(context.WithoutCancel(ctx), macs...)
	}
}

func (c *Cases) deviceGatewayRevoked(ctx context.Context, macs ...string) {
	if c.gateway != nil && len(macs) > 0 {
		c.gateway.Revoked(context.WithoutCancel(ctx), macs...)
	}
}
