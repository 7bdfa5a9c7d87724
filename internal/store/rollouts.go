package store

import (
	"context"

	"github.com/gatehouse-dev/gatehouse/internal/model"
)

var errRolloutsTODO = model.Errorf(model.EINTERNAL, "rollouts: not built yet")

// CountRolloutTargets previews a rollout's targets.
func (s *Store) CountRolloutTargets(ctx context.Context, in model.RolloutInput) (model.RolloutTargetCount, error) {
	return model.RolloutTargetCount{}, errRolloutsTODO
}

// CreateRollout makes a draft rollout with its devices' upgrades in waves.
func (s *Store) CreateRollout(ctx context.Context, in model.RolloutInput) (*model.Rollout, error) {
	return nil, errRolloutsTODO
}

// GetRollout returns one rollout the caller may see.
func (s *Store) GetRollout(ctx context.Context, id int64) (*model.Rollout, error) {
	return nil, errRolloutsTODO
}

// ListRollouts lists the rollouts the caller may see, newest first.
func (s *Store) ListRollouts(ctx context.Context, f model.RolloutFilter) (model.List[*model.Rollout], error) {
	return model.List[*model.Rollout]{}, errRolloutsTODO
}

// RolloutProgress counts a rollout's upgrades per state and per wave.
func (s *Store) RolloutProgress(ctx context.Context, id int64) (*model.RolloutProgress, error) {
	return nil, errRolloutsTODO
}

// ListRolloutDevices lists a rollout's devices' upgrades.
func (s *Store) ListRolloutDevices(ctx context.Context, id int64, f model.RolloutDeviceFilter) (model.List[*model.DeviceUpgrade], error) {
	return model.List[*model.DeviceUpgrade]{}, errRolloutsTODO
}

// SetRolloutStatus applies a status action: start, pause, resume or cancel.
func (s *Store) SetRolloutStatus(ctx context.Context, id int64, action string) (*model.Rollout, error) {
	return nil, errRolloutsTODO
}

// DeviceUpgrades returns a device's firmware history, newest first.
func (s *Store) DeviceUpgrades(ctx context.Context, mac string, limit int) ([]*model.DeviceUpgrade, error) {
	return nil, errRolloutsTODO
}
