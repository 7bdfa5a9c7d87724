package usecase

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/model"
)

// Diagnostics of devices (README "Diagnostics", docs/device-protocol.md
// §5.2): a request is stored (queued) and the gateway told; the node
// holding the device runs it and stores the file; any node serves it; a
// sweeper under a lease expires the unserved and deletes the old.

// Diagnostics defaults and bounds.
const (
	DefaultDiagnosticsMaxBytes  = 8 << 20
	MaxDiagnosticsMaxBytes      = 64 << 20
	DefaultDiagnosticsRetention = 7 * 24 * time.Hour
	DefaultDiagnosticsSweep     = time.Minute
	// diagLeaseFor is how long a node holds the sweeper after it renewed.
	diagLeaseFor = 2 * time.Minute
	// diagStuck is how long a diagnostic may run before the sweeper
	// fails it (its node went away): longer than the gateway's own bound.
	diagStuck = 10 * time.Minute
	// diagSweepBatch bounds the diagnostics deleted per sweep.
	diagSweepBatch = 1000
)

// DiagnosticOptions bound the diagnostics (serve's flags).
type DiagnosticOptions struct {
	MaxBytes  int64         // largest file kept (--diagnostics-max-bytes)
	Retention time.Duration // how long a diagnostic is kept (--diagnostics-retention)
}

func (o DiagnosticOptions) withDefaults() DiagnosticOptions {
	if o.MaxBytes <= 0 {
		o.MaxBytes = DefaultDiagnosticsMaxBytes
	}
	o.MaxBytes = min(o.MaxBytes, MaxDiagnosticsMaxBytes)
	if o.Retention <= 0 {
		o.Retention = DefaultDiagnosticsRetention
	}
	return o
}

// RequestDiagnostic asks the device mac of the caller's subtree for a
// diagnostic: validated (field-named errors), queued, audited, and the
// node holding the device told. It runs when the device is (or comes)
// online within store.DiagnosticWait.
func (c *Cases) RequestDiagnostic(ctx context.Context, mac string, req model.DiagnosticRequest) (*model.Diagnostic, error) {
	req, err := req.Normalize()
	if err != nil {
		return nil, err
	}
	g, err := c.store.CreateDiagnostic(ctx, mac, req, c.diag.MaxBytes)
	if err != nil {
		return nil, c.internal(ctx, "queueing the diagnostic", err)
	}
	c.deviceGatewayKick(ctx, g.MAC)
	return g, nil
}

// DownloadDiagnostic hands a done diagnostic of the caller's subtree and
// its file to write, which sends it; the download is audited.
func (c *Cases) DownloadDiagnostic(ctx context.Context, id int64, write func(*model.Diagnostic, []byte)) error {
	// Each download holds its file (up to the size cap) in memory while it
	// is written: a node serves a few at once, and answers the rest 429.
	select {
	case c.diagFiles <- struct{}{}:
		defer func() { <-c.diagFiles }()
	default:
		return model.Errorf(model.ETOOMANY, "%d diagnostic files are being downloaded from this server at once, the most it serves: try again in a moment.", cap(c.diagFiles))
	}
	g, data, err := c.store.OpenDiagnosticFile(ctx, id)
	if err != nil {
		return c.internal(ctx, "reading the diagnostic's file", err)
	}
	write(g, data)
	return nil
}

// DiagnosticDownloadsAtOnce bounds the diagnostic files a node serves at
// once.
const DiagnosticDownloadsAtOnce = 8

// DiagnosticSweeper expires and deletes diagnostics from one node at a
// time (a lease in the database). Every node runs one.
type DiagnosticSweeper struct {
	mu   sync.Mutex
	c    *Cases
	node string
}

// NewDiagnosticSweeper returns the sweeper of node.
func (c *Cases) NewDiagnosticSweeper(node string) *DiagnosticSweeper {
	return &DiagnosticSweeper{c: c, node: node}
}

// DiagnosticSweepStep is what one step did.
type DiagnosticSweepStep struct {
	Leased                   bool
	Expired, Failed, Deleted int64
}

// Step runs one sweep at the store's clock, if this node holds the lease.
func (w *DiagnosticSweeper) Step(ctx context.Context) (DiagnosticSweepStep, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	ctx = model.WithActor(ctx, model.System)
	st := w.c.store
	var step DiagnosticSweepStep
	ok, err := st.LeaseDiagnostics(ctx, w.node, diagLeaseFor)
	if err != nil || !ok {
		return step, err
	}
	step.Leased = true
	now := st.Now()
	r, err := st.SweepDiagnostics(ctx, now.Add(-diagStuck), now.Add(-w.c.diag.Retention), diagSweepBatch)
	step.Expired, step.Failed, step.Deleted = r.Expired, r.Failed, r.Deleted
	if err != nil {
		return step, errors.Join(errors.New("sweeping diagnostics"), err)
	}
	return step, nil
}

// Run steps every interval (DefaultDiagnosticsSweep when 0) until ctx ends,
// then frees the lease.
func (w *DiagnosticSweeper) Run(ctx context.Context, every time.Duration) {
	if every <= 0 {
		every = DefaultDiagnosticsSweep
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		if s, err := w.Step(ctx); err != nil && ctx.Err() == nil {
			w.c.log.ErrorContext(ctx, "diagnostics sweep failed", "node", w.node, "err", err)
		} else if s.Expired+s.Failed+s.Deleted > 0 {
			w.c.log.InfoContext(ctx, "diagnostics swept", "expired", s.Expired, "failed", s.Failed, "deleted", s.Deleted)
		}
		select {
		case <-ctx.Done():
			// Another node goes on at once rather than when the lease ends.
			fctx, cancel := context.WithTimeout(model.WithActor(context.WithoutCancel(ctx), model.System), 5*time.Second)
			defer cancel()
			if err := w.c.store.FreeDiagnosticsLease(fctx, w.node); err != nil {
				w.c.log.Warn("freeing the diagnostics lease failed", "node", w.node, "err", err)
			}
			return
		case <-t.C:
		}
	}
}
