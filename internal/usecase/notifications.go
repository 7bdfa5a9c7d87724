package usecase

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"sync"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/mail"
	"github.com/gatehouse-dev/gatehouse/internal/model"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// Notifications (README "Notifications"): Setting → Notification, and the
// scheduler that mails the digests.

// NotificationSettingsInput is a change of the caller's settings: a nil
// field keeps its value.
type NotificationSettingsInput struct {
	EndUserExpiry  *bool
	DeviceOffline  *bool
	OrderResult    *bool
	RolloutPaused  *bool
	OfflineMinutes *int
}

// NotificationSettings reads the caller's own settings.
func (c *Cases) NotificationSettings(ctx context.Context) (model.NotificationSettings, error) {
	ns, err := c.store.GetNotificationSettings(ctx)
	return ns, c.internal(ctx, "reading your notification settings", err)
}

// SaveNotificationSettings changes the caller's own settings (audited).
func (c *Cases) SaveNotificationSettings(ctx context.Context, in NotificationSettingsInput) (model.NotificationSettings, error) {
	ns, err := c.store.GetNotificationSettings(ctx)
	if err != nil {
		return ns, c.internal(ctx, "reading your notification settings", err)
	}
	set := func(dst *bool, src *bool) {
		if src != nil {
			*dst = *src
		}
	}
	set(&ns.EndUserExpiry, in.EndUserExpiry)
	set(&ns.DeviceOffline, in.DeviceOffline)
	set(&ns.OrderResult, in.OrderResult)
	set(&ns.RolloutPaused, in.RolloutPaused)
	if in.OfflineMinutes != nil {
		ns.OfflineMinutes = *in.OfflineMinutes
	}
	out, err := c.store.PutNotificationSettings(ctx, ns)
	return out, c.internal(ctx, "saving your notification settings", err)
}

// Notification scheduler defaults.
const (
	DefaultNotifyEvery = time.Minute
	// notifyLeaseFor is how long a node holds the scheduler after it last
	// renewed: longer than one SMTP delivery may take (mail's 30 s), so
	// that a node that holds the lease is the only one mailing.
	notifyLeaseFor = 2 * time.Minute
	// NotifyDigestLines is how many items a digest lists ("and N more").
	NotifyDigestLines = 50
	// notifyRetryMax bounds the wait between a failed delivery's tries.
	notifyRetryMax = time.Hour
	// notifyKeep is how long sent notices stay in the ledger.
	notifyKeep = 90 * 24 * time.Hour
)

// Notifier runs the notifications of the cluster from one node: each step
// it takes the lease (one node at a time), decides the notices owed
// (store.DecideNotifications, at most Limit subjects per generator) and
// mails at most Digests digests. Every node runs one.
type Notifier struct {
	mu    sync.Mutex // one step at a time: the lease is the node's
	c     *Cases
	node  string
	lease time.Duration
	// Limit bounds the subjects each generator decides per step; Digests
	// the mails per step.
	Limit   int
	Digests int
}

// NewNotifier returns the notifier of node (its name, unique in the cluster).
func (c *Cases) NewNotifier(node string) *Notifier {
	return &Notifier{c: c, node: node, lease: notifyLeaseFor, Limit: 1000, Digests: 200}
}

// NotifyStep is what one step did.
type NotifyStep struct {
	Leased  bool                // this node held the lease
	Decided model.NotifyDecided // ledger rows written, by kind
	Sent    int                 // digests the SMTP server accepted
	Failed  int                 // digests whose delivery failed (retried later)
	Dropped int                 // digests that can never go (no address, kind off)
}

// Step runs one pass at the store's clock. Steps of one notifier run one
// at a time (the lease is the node's).
func (n *Notifier) Step(ctx context.Context) (NotifyStep, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	ctx = model.WithActor(ctx, model.System)
	st := n.c.store
	var step NotifyStep
	ok, err := st.LeaseNotifications(ctx, n.node, n.lease)
	if err != nil || !ok {
		return step, err
	}
	step.Leased = true
	var errs []error
	if step.Decided, err = st.DecideNotifications(ctx, n.Limit); err != nil {
		errs = append(errs, fmt.Errorf("deciding notifications: %w", err))
	}
	keys, err := st.DueNotificationDigests(ctx, n.Digests)
	if err != nil {
		return step, errors.Join(append(errs, fmt.Errorf("listing digests: %w", err))...)
	}
	for _, k := range keys {
		d, err := st.NotificationDigest(ctx, n.node, n.lease, k, NotifyDigestLines)
		if errors.Is(err, store.ErrLeaseLost) {
			break // another node goes on
		} else if err != nil {
			errs = append(errs, fmt.Errorf("reading digest %v: %w", k, err))
			continue
		}
		if d.Count == 0 {
			continue
		}
		outcome, retry := store.NotifySent, time.Time{}
		switch {
		case d.Email == "" || !d.On || n.c.mail == nil:
			outcome = store.NotifyDropped
			step.Dropped++
		default:
			msg := mail.NotificationDigest(d.Language, n.digestMail(d))
			msg.To = []string{d.Email}
			// The send ends well within the lease: no other node can take
			// the lease and mail this digest while it is under way.
			sctx, cancel := context.WithTimeout(ctx, n.lease/2)
			err := n.c.mail.Send(sctx, msg)
			cancel()
			if err != nil {
				wait := min(time.Minute<<min(d.Attempts, 10), notifyRetryMax)
				outcome, retry = store.NotifyFailed, st.Now().Add(wait)
				step.Failed++
				n.c.log.WarnContext(ctx, "notification mail failed; retried later", "account", d.AccountID, "kind", d.Kind,
					"retry_in", wait, "err", err)
			} else {
				step.Sent++
			}
		}
		if err := st.SettleNotificationDigest(ctx, d, outcome, retry); err != nil {
			errs = append(errs, fmt.Errorf("recording digest %v: %w", k, err))
		}
	}
	if _, err := st.PruneNotifications(ctx, st.Now().Add(-notifyKeep)); err != nil {
		errs = append(errs, fmt.Errorf("pruning the ledger: %w", err))
	}
	return step, errors.Join(errs...)
}

// digestMail turns a digest into the mail's data, with the links to the
// portal's lists of its items.
func (n *Notifier) digestMail(d *model.NotifyDigest) mail.NotifyDigest {
	name := d.Name
	if name == "" {
		name = d.Username
	}
	m := mail.NotifyDigest{Name: name, Kind: d.Kind, More: max(d.Count-len(d.Lines), 0),
		Settings: n.c.publicURL + "/account/notifications"}
	inst := d.Role == model.RoleInstaller
	for _, l := range d.Lines {
		it := mail.NotifyItem{Event: l.Event, Name: l.Name, Project: l.Project, Service: l.Service, MAC: l.MAC, Detail: l.Detail, At: l.At}
		if !inst {
			it.Installer = l.Installer
		}
		m.Items = append(m.Items, it)
		if m.Project == "" {
			m.Project = l.Project
		}
	}
	switch d.Kind {
	case model.NotifyEndUserExpiry:
		m.Link = n.c.publicURL + "/subscriptions"
	case model.NotifyDeviceOffline:
		if inst {
			m.Link = n.c.publicURL + "/installer/devices?project_id=" + strconv.FormatInt(d.ProjectID, 10)
		} else {
			m.Link = n.c.publicURL + "/project-devices?online=false&community=" + url.QueryEscape(m.Project)
		}
	case model.NotifyOrderResult:
		m.Link = n.c.publicURL + "/payments"
	case model.NotifyRolloutPaused:
		m.Link = n.c.publicURL + "/rollouts"
		if len(d.Lines) == 1 && d.Count == 1 {
			m.Link += "/" + strconv.FormatInt(d.Lines[0].ID, 10)
		}
	}
	return m
}

// Run steps every interval (DefaultNotifyEvery when 0) until ctx ends,
// then frees the lease so that another node goes on at once.
func (n *Notifier) Run(ctx context.Context, every time.Duration) {
	if every <= 0 {
		every = DefaultNotifyEvery
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		if _, err := n.Step(ctx); err != nil && ctx.Err() == nil {
			n.c.log.ErrorContext(ctx, "notification step failed", "node", n.node, "err", err)
		}
		select {
		case <-ctx.Done():
			fctx, cancel := context.WithTimeout(model.WithActor(context.WithoutCancel(ctx), model.System), 5*time.Second)
			defer cancel()
			if err := n.c.store.FreeNotificationLease(fctx, n.node); err != nil {
				n.c.log.Warn("freeing the notification lease failed", "node", n.node, "err", err)
			}
			return
		case <-t.C:
		}
	}
}
