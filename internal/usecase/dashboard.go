package usecase

import (
	"context"
	"sync"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/model"
)

// The dashboard (issue 17): every role's home page. Its summaries are
// recomputed every minute by one node at a time, under the dashboard lease
// (store.LeaseDashboard), and at start.

// Dashboard recompute defaults.
const (
	DefaultDashboardEvery = time.Minute
	// dashboardLeaseFor is how long a node holds the recompute after it
	// last renewed: two runs, so that a node that stopped is replaced soon.
	dashboardLeaseFor = 2 * time.Minute
)

// Dashboard returns the figures of the actor's subtree.
func (c *Cases) Dashboard(ctx context.Context) (model.Dashboard, error) {
	d, err := c.store.Dashboard(ctx)
	return d, c.internal(ctx, "reading the dashboard", err)
}

// FailedCommands lists the commands (or AutoP) that failed or expired in
// the last day on devices of the actor's subtree.
func (c *Cases) FailedCommands(ctx context.Context, f model.FailedCommandFilter) (model.List[*model.FailedCommand], error) {
	v := &model.Validator{}
	f.Check(v)
	if err := v.Err(); err != nil {
		return model.List[*model.FailedCommand]{}, err
	}
	l, err := c.store.ListFailedCommands(ctx, f)
	return l, c.internal(ctx, "listing the failed commands", err)
}

// DashboardRecomputer recomputes the dashboard's summaries from one node:
// each step it takes the lease (one node at a time) and recomputes. Every
// node runs one.
type DashboardRecomputer struct {
	mu    sync.Mutex
	c     *Cases
	node  string
	lease time.Duration
}

// NewDashboardRecomputer returns the recomputer of node (its name, unique
// in the cluster).
func (c *Cases) NewDashboardRecomputer(node string) *DashboardRecomputer {
	return &DashboardRecomputer{c: c, node: node, lease: dashboardLeaseFor}
}

// Step recomputes the summaries when this node holds the lease, and
// reports whether it did.
func (r *DashboardRecomputer) Step(ctx context.Context) (bool, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	ctx = model.WithActor(ctx, model.System)
	ok, err := r.c.store.LeaseDashboard(ctx, r.node, r.lease)
	if err != nil || !ok {
		return false, err
	}
	return true, r.c.store.RecomputeDashboard(ctx)
}

// dashboardShare is the most of its node's time the recompute may take:
// at a million devices one recompute reads every device (seconds on
// SQLite), so a large fleet's figures are recomputed less often than
// every interval rather than keep a core busy.
const dashboardShare = 10

// nextDashboardWait is the wait after a recompute that took took: the
// interval, or dashboardShare times the recompute when that is longer.
func nextDashboardWait(every, took time.Duration) time.Duration {
	return max(every, dashboardShare*took)
}

// Run steps at once (a new node shows figures soon after start), then
// every interval (DefaultDashboardEvery when 0) — longer when a
// recompute takes more than a tenth of it — until ctx ends, then frees
// the lease so that another node goes on at once.
func (r *DashboardRecomputer) Run(ctx context.Context, every time.Duration) {
	if every <= 0 {
		every = DefaultDashboardEvery
	}
	t := time.NewTimer(every)
	defer t.Stop()
	for {
		start := time.Now()
		if _, err := r.Step(ctx); err != nil && ctx.Err() == nil {
			r.c.log.ErrorContext(ctx, "dashboard recompute failed", "node", r.node, "err", err)
		}
		wait := nextDashboardWait(every, time.Since(start))
		r.mu.Lock()
		// The lease outlasts the wait: another node must not take it
		// between two of this node's recomputes.
		r.lease = max(dashboardLeaseFor, 2*wait)
		r.mu.Unlock()
		t.Reset(wait)
		select {
		case <-ctx.Done():
			fctx, cancel := context.WithTimeout(model.WithActor(context.WithoutCancel(ctx), model.System), 5*time.Second)
			defer cancel()
			if err := r.c.store.FreeDashboardLease(fctx, r.node); err != nil {
				r.c.log.Warn("freeing the dashboard lease failed", "node", r.node, "err", err)
			}
			return
		case <-t.C:
		}
	}
}
