package usecase

import (
	"context"
	"errors"
	"fmt"
	"time"

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

// Rollout scheduler defaults.
const (
	DefaultRolloutEvery = 5 * time.Second
	// rolloutLeaseFor is how long a node holds a rollout after a step: a
	// node that stopped without freeing its leases hands its rollouts over
	// to another node within it.
	rolloutLeaseFor = 30 * time.Second
)

// RolloutScheduler drives the running rollouts of the cluster from one
// node: every step it fails the upgrades past their deadline, takes the
// lease of the running rollouts no other node holds, and steps each
// (store.StepRollout), telling the gateway of the devices it released.
// Every node runs one; a rollout is driven by one node at a time.
type RolloutScheduler struct {
	c     *Cases
	node  string
	lease time.Duration
	// Kick tells the devices of the MACs that they have upgrades queued;
	// the gateway's Kick unless a test replaces it.
	Kick func(ctx context.Context, macs ...string)
}

// NewRolloutScheduler returns the scheduler of node (its name: the
// gateway's node name, unique in the cluster).
func (c *Cases) NewRolloutScheduler(node string) *RolloutScheduler {
	sc := &RolloutScheduler{c: c, node: node, lease: rolloutLeaseFor}
	sc.Kick = func(ctx context.Context, macs ...string) {
		if c.gateway != nil {
			c.gateway.Kick(ctx, macs...)
		}
	}
	return sc
}

// Step runs one pass at the store's clock and returns what it did to each
// rollout it holds.
func (sc *RolloutScheduler) Step(ctx context.Context) ([]*model.RolloutStep, error) {
	ctx = model.WithActor(ctx, model.System)
	st := sc.c.store
	if n, err := st.ExpireUpgrades(ctx); err != nil {
		return nil, fmt.Errorf("failing upgrades past their deadline: %w", err)
	} else if n > 0 {
		sc.c.log.InfoContext(ctx, "upgrades failed: no outcome by the deadline", "count", n)
	}
	ids, err := st.LeaseRollouts(ctx, sc.node, sc.lease)
	if err != nil {
		return nil, fmt.Errorf("leasing rollouts: %w", err)
	}
	var steps []*model.RolloutStep
	var errs []error
	for _, id := range ids {
		step, err := st.StepRollout(ctx, id, sc.node, sc.lease)
		if err != nil {
			errs = append(errs, fmt.Errorf("rollout %d: %w", id, err))
			continue
		}
		if step == nil {
			continue // another node took it over meanwhile
		}
		steps = append(steps, step)
		if len(step.Released) > 0 {
			sc.Kick(context.WithoutCancel(ctx), step.Released...)
		}
		switch step.Status {
		case model.RolloutPaused:
			sc.c.log.InfoContext(ctx, "rollout paused by its failure threshold", "rollout", id, "reason", step.Reason)
		case model.RolloutDone:
			sc.c.log.InfoContext(ctx, "rollout done", "rollout", id)
		}
	}
	return steps, errors.Join(errs...)
}

// Run steps every interval (DefaultRolloutEvery when 0) until ctx ends,
// then frees this node's leases so that another node goes on at once.
func (sc *RolloutScheduler) Run(ctx context.Context, every time.Duration) {
	if every <= 0 {
		every = DefaultRolloutEvery
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		if _, err := sc.Step(ctx); err != nil && ctx.Err() == nil {
			sc.c.log.ErrorContext(ctx, "rollout scheduler step failed", "node", sc.node, "err", err)
		}
		select {
		case <-ctx.Done():
			fctx, cancel := context.WithTimeout(model.WithActor(context.WithoutCancel(ctx), model.System), 5*time.Second)
			defer cancel()
			if err := sc.c.store.FreeRolloutLeases(fctx, sc.node); err != nil {
				sc.c.log.Warn("freeing the rollout leases failed", "node", sc.node, "err", err)
			}
			return
		case <-t.C:
		}
	}
}

// RolloutProgress reads a rollout's counts per state and per wave (a read,
// here for the transports, whose direct store reads are Get/List/Count).
func (c *Cases) RolloutProgress(ctx context.Context, id int64) (*model.RolloutProgress, error) {
	p, err := c.store.RolloutProgress(ctx, id)
	return p, c.internal(ctx, "reading the rollout's progress", err)
}

// DeviceUpgrades reads a device's firmware history, newest first.
func (c *Cases) DeviceUpgrades(ctx context.Context, mac string, limit int) ([]*model.DeviceUpgrade, error) {
	h, err := c.store.DeviceUpgrades(ctx, mac, limit)
	return h, c.internal(ctx, "reading the device's firmware history", err)
}
