package usecase

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/model"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// Availability history (README "Availability"): the sweep that keeps each
// device's stored 7-day figure current (the lists sort by it) and prunes
// the transitions older than the retention, one node at a time under a
// lease, like the notifier.

// AvailabilityOptions configure the availability history.
type AvailabilityOptions struct {
	// Retention is how long transitions are kept (serve
	// --availability-retention): 0 is model.DefaultAvailabilityRetention;
	// at least model.MinAvailabilityRetention.
	Retention time.Duration
	// Every is how often the sweep runs (0: DefaultAvailabilityEvery).
	Every time.Duration
}

// Availability sweep defaults.
const (
	DefaultAvailabilityEvery = 10 * time.Minute
	// availabilityLeaseFor is how long a node holds the sweep after it
	// last took the lease: longer than a run takes at a million devices.
	availabilityLeaseFor = 15 * time.Minute
)

// CheckAvailabilityRetention refuses a retention shorter than the 7 days
// the lists sort by.
func CheckAvailabilityRetention(d time.Duration) error {
	if d < model.MinAvailabilityRetention {
		return fmt.Errorf("the availability retention must be at least %d days (the lists sort by the last 7), not %s",
			int(model.MinAvailabilityRetention/(24*time.Hour)), d)
	}
	return nil
}

func (o AvailabilityOptions) retention() time.Duration {
	if o.Retention <= 0 {
		return model.DefaultAvailabilityRetention
	}
	return max(o.Retention, model.MinAvailabilityRetention)
}

// AvailabilityDays is the most days a device's availability is shown for:
// the retention's whole days, at most model.MaxAvailabilityDays.
func (c *Cases) AvailabilityDays() int {
	return min(int(c.avail.retention()/(24*time.Hour)), model.MaxAvailabilityDays)
}

// DeviceAvailability is a device's availability over its last days days
// (1 to AvailabilityDays), a device of the actor's subtree by MAC.
func (c *Cases) DeviceAvailability(ctx context.Context, mac string, days int) (*model.Availability, error) {
	if most := c.AvailabilityDays(); days < 1 || days > most {
		return nil, model.Invalid("days", "must be 1 to %d (the availability history is kept %d days)", most,
			int(c.avail.retention()/(24*time.Hour)))
	}
	return c.store.GetDeviceAvailability(ctx, mac, days)
}

// AvailabilitySweeper recomputes the devices' 7-day figures and prunes the
// history from one node at a time (its lease). Every node runs one.
type AvailabilitySweeper struct {
	mu        sync.Mutex
	c         *Cases
	node      string
	lease     time.Duration
	retention time.Duration
}

// NewAvailabilitySweeper returns the availability sweep of node (its name,
// unique in the cluster).
func (c *Cases) NewAvailabilitySweeper(node string) *AvailabilitySweeper {
	return &AvailabilitySweeper{c: c, node: node, lease: availabilityLeaseFor, retention: c.avail.retention()}
}

// AvailabilityStep is what one step did.
type AvailabilityStep struct {
	Leased     bool // this node held the lease
	Recomputed store.AvailabilityRecompute
	Pruned     int64 // transitions removed
}

// Step runs one pass at the store's clock: the recompute, then the prune.
func (a *AvailabilitySweeper) Step(ctx context.Context) (AvailabilityStep, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	ctx = model.WithActor(ctx, model.System)
	st := a.c.store
	var step AvailabilityStep
	ok, err := st.LeaseAvailability(ctx, a.node, a.lease)
	if err != nil || !ok {
		return step, err
	}
	step.Leased = true
	if step.Recomputed, err = st.RecomputeAvailability(ctx, a.node); err != nil {
		if errors.Is(err, store.ErrAvailabilityLeaseLost) {
			return step, nil // another node goes on
		}
		return step, fmt.Errorf("recomputing availability: %w", err)
	}
	if step.Pruned, err = st.PruneAvailability(ctx, a.node, st.Now().Add(-a.retention)); err != nil &&
		!errors.Is(err, store.ErrAvailabilityLeaseLost) {
		return step, fmt.Errorf("pruning availability: %w", err)
	}
	return step, nil
}

// Run steps every interval (the options' Every, else
// DefaultAvailabilityEvery) until ctx ends, then frees the lease so that
// another node goes on at once.
func (a *AvailabilitySweeper) Run(ctx context.Context) {
	every := a.c.avail.Every
	if every <= 0 {
		every = DefaultAvailabilityEvery
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		start := time.Now()
		if step, err := a.Step(ctx); err != nil && ctx.Err() == nil {
			a.c.log.ErrorContext(ctx, "availability sweep failed", "node", a.node, "err", err)
		} else if step.Leased {
			a.c.log.DebugContext(ctx, "availability sweep", "devices", step.Recomputed.Devices, "changed", step.Recomputed.Changed,
				"pruned", step.Pruned, "took", time.Since(start))
		}
		select {
		case <-ctx.Done():
			fctx, cancel := context.WithTimeout(model.WithActor(context.WithoutCancel(ctx), model.System), 5*time.Second)
			defer cancel()
			if err := a.c.store.FreeAvailabilityLease(fctx, a.node); err != nil {
				a.c.log.Warn("freeing the availability lease failed", "node", a.node, "err", err)
			}
			return
		case <-t.C:
		}
	}
}
