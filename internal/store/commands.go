package store

import (
	"context"
	"errors"

	"github.com/gatehouse-dev/gatehouse/internal/model"
)

// Commands for devices (docs/device-protocol.md §5). The scoped methods
// serve people; the gateway's own methods run as the system.

var errNotBuilt = errors.New("store: not built yet")

// CreateCommand queues a reboot or reset (mode factory | config) for the
// device mac in the caller's subtree (ENOTFOUND otherwise), audited. The
// caller then tells the gateway (Gateway.Kick).
func (s *Store) CreateCommand(ctx context.Context, mac string, kind model.CommandKind, mode string) (*model.DeviceCommand, error) {
	return nil, errNotBuilt
}

// ListCommands returns the newest commands of the device mac in the
// caller's subtree, newest first, at most limit.
func (s *Store) ListCommands(ctx context.Context, mac string, limit int) ([]*model.DeviceCommand, error) {
	return nil, errNotBuilt
}
