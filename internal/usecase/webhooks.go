package usecase

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/mail"
	"github.com/gatehouse-dev/gatehouse/internal/model"
	"github.com/gatehouse-dev/gatehouse/internal/store"
	"github.com/gatehouse-dev/gatehouse/internal/webhook"
)

// WebhookOptions configure the webhook deliveries of a node.
type WebhookOptions struct {
	// AllowPrivate lets endpoints and deliveries reach loopback, private
	// and other internal addresses (`serve --webhook-allow-private`).
	AllowPrivate bool
	// Concurrency is the deliveries one node attempts at once
	// (DefaultWebhookConcurrency when 0): memory stays bounded whatever
	// the queue in the database holds.
	Concurrency int
	// Client replaces the delivery client (webhook.NewClient of the
	// options above when nil): tests trust their receivers' certificates.
	Client *http.Client
}

// Webhook dispatcher defaults.
const (
	DefaultWebhookConcurrency = 32
	// webhookLease is how long a node holds a claimed delivery: longer than
	// an attempt's timeout, so that a live node never loses one it works on.
	webhookLease = time.Minute
	// webhookPoll is how often an idle dispatcher looks for due work
	// (events committed on this node wake it at once).
	webhookPoll = time.Second
	// webhookJobsEvery is how often the leased periodic jobs run (the end
	// users' expiry events, the pruning of old events).
	webhookJobsEvery = time.Minute
	// webhookKeep is how long ended deliveries are kept for the log.
	webhookKeep = 30 * 24 * time.Hour
)

func (c *Cases) webhookInput(in model.WebhookEndpointInput) (model.WebhookEndpointInput, int64, error) {
	mask, err := in.Normalize(c.hooks.AllowPrivate)
	return in, mask, err
}

// CreateWebhookEndpoint registers an endpoint for the actor's account and
// returns it with its signing secret (shown this once).
func (c *Cases) CreateWebhookEndpoint(ctx context.Context, in model.WebhookEndpointInput) (*model.WebhookEndpoint, error) {
	in, mask, err := c.webhookInput(in)
	if err != nil {
		return nil, err
	}
	e, err := c.store.CreateWebhookEndpoint(ctx, in, mask, webhook.NewSecret())
	return e, c.internal(ctx, "registering the webhook endpoint", err)
}

// WebhookEndpointPatch is a change of some of an endpoint's fields.
type WebhookEndpointPatch struct {
	URL         *string   `json:"url"`
	Description *string   `json:"description"`
	Events      *[]string `json:"events"`
	Enabled     *bool     `json:"enabled"`
}

// UpdateWebhookEndpoint changes the fields p gives of one of the actor's
// endpoints (turning it on again clears its failures).
func (c *Cases) UpdateWebhookEndpoint(ctx context.Context, id int64, p WebhookEndpointPatch) (*model.WebhookEndpoint, error) {
	cur, err := c.store.GetWebhookEndpoint(ctx, id)
	if err != nil {
		return nil, c.internal(ctx, "reading the webhook endpoint", err)
	}
	in := model.WebhookEndpointInput{URL: cur.URL, Description: cur.Description, Events: cur.Events, Enabled: p.Enabled}
	if p.URL != nil {
		in.URL = *p.URL
	}
	if p.Description != nil {
		in.Description = *p.Description
	}
	if p.Events != nil {
		in.Events = *p.Events
	}
	in, mask, err := c.webhookInput(in)
	if err != nil {
		return nil, err
	}
	e, err := c.store.UpdateWebhookEndpoint(ctx, id, in, mask)
	if err == nil && p.Enabled != nil && *p.Enabled {
		c.wakeWebhooks()
	}
	return e, c.internal(ctx, "saving the webhook endpoint", err)
}

// DeleteWebhookEndpoint deletes one of the actor's endpoints.
func (c *Cases) DeleteWebhookEndpoint(ctx context.Context, id int64) error {
	return c.internal(ctx, "deleting the webhook endpoint", c.store.DeleteWebhookEndpoint(ctx, id))
}

// RotateWebhookSecret gives one of the actor's endpoints a new secret and
// returns it (shown this once); deliveries are signed with it from now on.
func (c *Cases) RotateWebhookSecret(ctx context.Context, id int64) (*model.WebhookEndpoint, error) {
	e, err := c.store.RotateWebhookSecret(ctx, id, webhook.NewSecret())
	return e, c.internal(ctx, "rotating the webhook secret", err)
}

// RedeliverWebhook attempts a delivery once more, now.
func (c *Cases) RedeliverWebhook(ctx context.Context, id int64) (*model.WebhookDelivery, error) {
	d, err := c.store.RedeliverWebhook(ctx, id)
	if err == nil {
		c.wakeWebhooks()
	}
	return d, c.internal(ctx, "redelivering the event", err)
}

// SendTestWebhook sends a webhook.test event to one of the actor's
// endpoints.
func (c *Cases) SendTestWebhook(ctx context.Context, endpointID int64) (*model.WebhookDelivery, error) {
	d, err := c.store.SendTestWebhook(ctx, endpointID)
	if err == nil {
		c.wakeWebhooks()
	}
	return d, c.internal(ctx, "sending the test event", err)
}

// wakeWebhooks tells this node's dispatcher that work may be due now.
func (c *Cases) wakeWebhooks() {
	select {
	case c.hookWake <- struct{}{}:
	default:
	}
}

// WebhookDispatcher delivers the cluster's webhooks from one node: it fans
// committed events out into deliveries, claims due deliveries with a lease
// (so that two nodes never attempt one at once), attempts at most
// Concurrency of them at a time, and records each outcome: retried with
// backoff for a day, an endpoint failing for a day turned off with a mail
// to its account. Delivery is at least once: a node that dies after a
// receiver answered and before the outcome was recorded leaves the
// delivery to be attempted again when its lease ends, so receivers
// deduplicate on the event id.
type WebhookDispatcher struct {
	c      *Cases
	node   string
	client *http.Client
	sem    chan struct{}
	freed  chan struct{}
	wg     sync.WaitGroup
}

// NewWebhookDispatcher returns the dispatcher of node (the gateway's node
// name, unique in the cluster).
func (c *Cases) NewWebhookDispatcher(node string) *WebhookDispatcher {
	n := c.hooks.Concurrency
	if n <= 0 {
		n = DefaultWebhookConcurrency
	}
	cl := c.hooks.Client
	if cl == nil {
		cl = webhook.NewClient(webhook.Options{AllowPrivate: c.hooks.AllowPrivate})
	}
	return &WebhookDispatcher{c: c, node: node, client: cl, sem: make(chan struct{}, n), freed: make(chan struct{}, 1)}
}

// Step fans out the events waiting, claims as many due deliveries as it
// has free slots, and attempts them, waiting for them all: one pass, for
// tests and the benchmark. It returns how many it attempted.
func (d *WebhookDispatcher) Step(ctx context.Context) (int, error) {
	n, err := d.pass(ctx)
	d.wg.Wait()
	return n, err
}

// pass fans out and starts the attempts of what it claimed.
func (d *WebhookDispatcher) pass(ctx context.Context) (int, error) {
	ctx = model.WithActor(ctx, model.System)
	st := d.c.store
	for {
		n, err := st.FanOutWebhookEvents(ctx, 500)
		if err != nil {
			return 0, fmt.Errorf("fanning out webhook events: %w", err)
		}
		if n < 500 {
			break
		}
	}
	free := cap(d.sem) - len(d.sem)
	if free == 0 {
		return 0, nil
	}
	claimed, err := st.ClaimWebhookDeliveries(ctx, d.node, free, webhookLease)
	if err != nil {
		return 0, fmt.Errorf("claiming webhook deliveries: %w", err)
	}
	for _, w := range claimed {
		d.sem <- struct{}{}
		d.wg.Add(1)
		go func() {
			defer func() {
				<-d.sem
				d.wg.Done()
				select {
				case d.freed <- struct{}{}:
				default:
				}
			}()
			d.attempt(context.WithoutCancel(ctx), w)
		}()
	}
	return len(claimed), nil
}

// attempt delivers w once and records the outcome.
func (d *WebhookDispatcher) attempt(ctx context.Context, w model.WebhookDispatch) {
	st := d.c.store
	body := []byte(store.WebhookBody(w))
	r := webhook.Deliver(ctx, d.client, w.URL, w.Secret, w.EventID, body, st.Now())
	a := model.WebhookAttempt{OK: r.OK, HTTPStatus: r.Status, Latency: r.Latency, Excerpt: r.Excerpt, Error: r.Err,
		RetryAt: st.Now().Add(webhook.Backoff(w.Attempts))}
	off, err := st.FinishWebhookDelivery(ctx, d.node, w.DeliveryID, a)
	if err != nil {
		d.c.log.ErrorContext(ctx, "recording a webhook delivery failed", "delivery", w.DeliveryID, "err", err)
		return
	}
	if off != nil {
		d.c.log.WarnContext(ctx, "webhook endpoint turned off after a day of failures", "endpoint", off.EndpointID, "url", off.URL)
		d.c.mailWebhookDisabled(ctx, off)
	}
}

// mailWebhookDisabled tells the account its endpoint was turned off, in
// its language.
func (c *Cases) mailWebhookDisabled(ctx context.Context, off *model.WebhookDisabled) {
	if off.Email == "" || c.mail == nil {
		return
	}
	msg := mail.WebhookDisabled(off.Language, mail.WebhookDisabledMail{Account: off.Account, Name: off.Name, URL: off.URL,
		Since: off.Since, Link: c.publicURL + "/webhooks"})
	msg.To = []string{off.Email}
	mctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := c.mail.Send(mctx, msg); err != nil {
		c.log.ErrorContext(ctx, "webhook endpoint turned off but not mailed", "endpoint", off.EndpointID, "err", err)
	}
}

// Jobs runs the periodic work whose lease this node holds: the end users'
// expiry events, and the pruning of old events. It returns how many
// expiry events it wrote.
func (d *WebhookDispatcher) Jobs(ctx context.Context) (int, error) {
	ctx = model.WithActor(ctx, model.System)
	st := d.c.store
	var errs []error
	n := 0
	if ok, err := st.LeaseWebhookJob(ctx, "enduser.expiring", d.node, 2*webhookJobsEvery); err != nil {
		errs = append(errs, err)
	} else if ok {
		if n, err = st.EmitEndUserExpiring(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	if ok, err := st.LeaseWebhookJob(ctx, "prune", d.node, 2*webhookJobsEvery); err != nil {
		errs = append(errs, err)
	} else if ok {
		if _, err := st.PruneWebhookEvents(ctx, st.Now().Add(-webhookKeep)); err != nil {
			errs = append(errs, err)
		}
	}
	return n, errors.Join(errs...)
}

// Run delivers until ctx ends: a pass whenever slots are free and work may
// be due (at once after a full claim, on a wake, or every poll), the jobs
// every minute. Then it waits for the attempts under way and frees its
// leases.
func (d *WebhookDispatcher) Run(ctx context.Context) {
	t := time.NewTicker(webhookPoll)
	defer t.Stop()
	jobs := time.Now()
	for {
		if time.Since(jobs) >= 0 {
			if _, err := d.Jobs(ctx); err != nil && ctx.Err() == nil {
				d.c.log.ErrorContext(ctx, "webhook jobs failed", "node", d.node, "err", err)
			}
			jobs = time.Now().Add(webhookJobsEvery)
		}
		n, err := d.pass(ctx)
		if err != nil && ctx.Err() == nil {
			d.c.log.ErrorContext(ctx, "webhook dispatcher pass failed", "node", d.node, "err", err)
		}
		if n > 0 && len(d.sem) < cap(d.sem) && err == nil {
			continue // more may be due
		}
		if !d.wait(ctx, t.C) {
			d.wg.Wait()
			fctx, cancel := context.WithTimeout(model.WithActor(context.WithoutCancel(ctx), model.System), 5*time.Second)
			defer cancel()
			if err := d.c.store.FreeWebhookLeases(fctx, d.node); err != nil {
				d.c.log.ErrorContext(fctx, "freeing webhook leases failed", "node", d.node, "err", err)
			}
			return
		}
	}
}

// wait returns when a pass is worth making — half the slots free, a wake,
// or the poll — or false when ctx ended. Claiming in batches rather than
// one slot at a time keeps the claims' commits few (each is a write of its
// own).
func (d *WebhookDispatcher) wait(ctx context.Context, poll <-chan time.Time) bool {
	for {
		select {
		case <-ctx.Done():
			return false
		case <-d.freed:
			if len(d.sem) > cap(d.sem)/2 {
				continue
			}
		case <-d.c.hookWake:
		case <-poll:
		}
		return true
	}
}
