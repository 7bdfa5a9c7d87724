package usecase

import (
	"context"

	"github.com/gatehouse-dev/gatehouse/internal/model"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// AutoP settings (DESIGN.md §4): a device's regular and one-time commands,
// its data transmission type, and Batch AutoP. Each saves in one store
// transaction and then tells the devices changed to fetch their file at
// once when online (offline ones are told when they connect).

// SaveDeviceAutoP saves the lists given of the device mac: a nil list is
// kept, an empty one clears. The lists are normalised (duplicates are not
// retained) and answered as stored.
func (c *Cases) SaveDeviceAutoP(ctx context.Context, mac string, regular, once []string) (*model.DeviceAutoP, error) {
	saved, err := c.store.SetDeviceAutoP(ctx, mac, regular, once)
	if err != nil {
		return nil, c.internal(ctx, "saving the AutoP commands", err)
	}
	c.deviceGatewayKick(ctx, saved.MAC)
	return saved, nil
}

// SaveDeviceConnectType sets the data transmission type of the device mac
// (default, udp, tcp, tls; "default" follows its installer's Connect Type)
// and answers the device's AutoP settings.
func (c *Cases) SaveDeviceConnectType(ctx context.Context, mac, connectType string) (*model.DeviceAutoP, error) {
	saved, err := c.store.SetDeviceConnectType(ctx, mac, connectType)
	if err != nil {
		return nil, c.internal(ctx, "saving the data transmission type", err)
	}
	c.deviceGatewayKick(ctx, saved.MAC)
	return saved, nil
}

// CreateAutoPBatch merges the commands into the regular or one-time list
// of up to model.MaxAutoPBatch devices of one list, in one transaction: all
// devices change, or none (the store checks every device inside it).
func (c *Cases) CreateAutoPBatch(ctx context.Context, req store.AutoPBatchRequest) (*model.AutoPBatch, error) {
	b, err := c.store.CreateAutoPBatch(ctx, req)
	if err != nil {
		return nil, c.internal(ctx, "sending the AutoP batch", err)
	}
	c.deviceGatewayKick(ctx, deviceMACsOnce(req.MACs)...)
	return b, nil
}
