package usecase

import (
	"context"

	"github.com/gatehouse-dev/gatehouse/internal/model"
)

// CountRolloutTargets previews the devices a rollout would upgrade.
func (c *Cases) CountRolloutTargets(ctx context.Context, in model.RolloutInput) (model.RolloutTargetCount, error) {
	n, err := c.store.CountRolloutTargets(ctx, in)
	return n, c.internal(ctx, "counting the rollout's devices", err)
}

// CreateRollout makes a draft rollout.
func (c *Cases) CreateRollout(ctx context.Context, in model.RolloutInput) (*model.Rollout, error) {
	r, err := c.store.CreateRollout(ctx, in)
	return r, c.internal(ctx, "creating the rollout", err)
}

// SetRolloutStatus starts, pauses, resumes or cancels a rollout.
func (c *Cases) SetRolloutStatus(ctx context.Context, id int64, action string) (*model.Rollout, error) {
	r, err := c.store.SetRolloutStatus(ctx, id, action)
	return r, c.internal(ctx, "changing the rollout's status", err)
}

// StartRollout starts a draft rollout.
func (c *Cases) StartRollout(ctx context.Context, id int64) (*model.Rollout, error) {
	return c.SetRolloutStatus(ctx, id, model.RolloutStart)
}

// PauseRollout pauses a running rollout.
func (c *Cases) PauseRollout(ctx context.Context, id int64) (*model.Rollout, error) {
	return c.SetRolloutStatus(ctx, id, model.RolloutPause)
}

// ResumeRollout resumes a paused rollout.
func (c *Cases) ResumeRollout(ctx context.Context, id int64) (*model.Rollout, error) {
	return c.SetRolloutStatus(ctx, id, model.RolloutResume)
}

// CancelRollout cancels a rollout: its devices not yet released are
// canceled; released ones finish.
func (c *Cases) CancelRollout(ctx context.Context, id int64) (*model.Rollout, error) {
	return c.SetRolloutStatus(ctx, id, model.RolloutCancel)
}
