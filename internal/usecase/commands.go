package usecase

import (
	"context"

	"github.com/gatehouse-dev/gatehouse/internal/model"
)

// Device commands (the guide's remote maintenance): a command is stored
// first, then the gateway is told; an offline device gets it when it
// connects, until it expires.

// RebootDevice queues a reboot of the device mac of the caller's subtree.
func (c *Cases) RebootDevice(ctx context.Context, mac string) (*model.DeviceCommand, error) {
	return c.deviceCommand(ctx, mac, model.CommandReboot, "")
}

// ResetDevice queues a reset of the device mac: mode is model.ResetFactory
// or model.ResetConfig.
func (c *Cases) ResetDevice(ctx context.Context, mac, mode string) (*model.DeviceCommand, error) {
	if mode != model.ResetFactory && mode != model.ResetConfig {
		return nil, model.Invalid("mode", "must be factory or config")
	}
	return c.deviceCommand(ctx, mac, model.CommandReset, mode)
}

func (c *Cases) deviceCommand(ctx context.Context, mac string, kind model.CommandKind, mode string) (*model.DeviceCommand, error) {
	cmd, err := c.store.CreateCommand(ctx, mac, kind, mode)
	if err != nil {
		return nil, c.internal(ctx, "queueing the command", err)
	}
	c.deviceGatewayKick(ctx, cmd.MAC)
	return cmd, nil
}
