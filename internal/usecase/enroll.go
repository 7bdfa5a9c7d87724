package usecase

import (
	"context"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/model"
)

// Device enrollment decisions (DESIGN.md §3): accept or reject a key a
// device presented, and open or close an "accept the next key" window of a
// device or a project. The store scopes every decision to the caller's
// subtree.

// AcceptDeviceKey makes the pending (or rejected) key id its device's
// accepted key. A connection the device holds with another key ends, on
// whichever node holds it.
func (c *Cases) AcceptDeviceKey(ctx context.Context, id int64) (*model.PendingKey, error) {
	k, err := c.store.AcceptDeviceKey(ctx, id)
	if err != nil {
		return nil, c.internal(ctx, "accepting the key", err)
	}
	if k.Bound {
		c.deviceGatewayRevoked(ctx, k.MAC)
	}
	k.Status = "accepted"
	return k, nil
}

// RejectDeviceKey rejects the pending key id: it is refused from then on.
func (c *Cases) RejectDeviceKey(ctx context.Context, id int64) (*model.PendingKey, error) {
	k, err := c.store.RejectDeviceKey(ctx, id)
	if err != nil {
		return nil, c.internal(ctx, "rejecting the key", err)
	}
	return k, nil
}

// EnrollWindowRequest opens an "accept the next key" window on one device
// (MAC) or one project (ProjectID), for Minutes (zero: the default).
type EnrollWindowRequest struct {
	MAC       string
	ProjectID int64
	Minutes   int
}

// OpenEnrollWindow opens an acceptance window; one already open on the
// same device or project closes.
func (c *Cases) OpenEnrollWindow(ctx context.Context, req EnrollWindowRequest) (*model.EnrollWindow, error) {
	if (req.MAC == "") == (req.ProjectID == 0) {
		return nil, model.Invalid("mac", "give either mac or project_id")
	}
	// Checked before it becomes a Duration, which a huge count would wrap.
	if maxMinutes := int(model.EnrollWindowMax / time.Minute); req.Minutes < 0 || req.Minutes > maxMinutes {
		return nil, model.Invalid("minutes", "must be between 1 and %d", maxMinutes)
	}
	w, err := c.store.OpenEnrollWindow(ctx, req.MAC, req.ProjectID, time.Duration(req.Minutes)*time.Minute)
	if err != nil {
		return nil, c.internal(ctx, "opening the acceptance window", err)
	}
	return w, nil
}

// CloseEnrollWindow closes the open window id.
func (c *Cases) CloseEnrollWindow(ctx context.Context, id int64) error {
	return c.internal(ctx, "closing the acceptance window", c.store.CloseEnrollWindow(ctx, id))
}
