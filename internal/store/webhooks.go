package store

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/model"
)

// Webhooks (issue 16). An account's endpoints are its own: another
// account's id is not found, whatever the role. Events are written to the
// outbox (webhook_events) in the transaction of what they tell, with the
// tree they belong to: the owning account (the device's, order's or end
// user's installer; the rollout's account) and its sub-distributor and
// distributor. An endpoint hears an event when it subscribes to the type
// and its account is the owner or one of those ancestors (an admin's
// endpoint hears every tree). The dispatcher fans events out into
// deliveries (webhook_deliveries), claims due ones with a lease, and
// records each attempt.

// webhookGate is which event types any enabled endpoint wants, read at most
// every webhookGateTTL per node (and at once after a change on this node).
// The device hot paths (hello, goodbye, acknowledgement) write no event row
// when nobody subscribes; an endpoint made on another node is heard within
// the TTL.
type webhookGate struct {
	mask  int64
	until time.Time
}

const webhookGateTTL = 2 * time.Second

// webhookOwner is the tree an event belongs to.
type webhookOwner struct{ account, sub, dist int64 }

func (s *Store) forgetWebhookGate() { s.hookGate.Store(nil) }

// webhookWanted reports whether some enabled endpoint subscribes to an
// event type of bit (in any tree; the insert checks the event's tree).
func (s *Store) webhookWanted(ctx context.Context, q querier, bit int64) bool {
	g := s.hookGate.Load()
	now := time.Now()
	if g == nil || now.After(g.until) {
		rows, err := q.QueryContext(ctx, `SELECT DISTINCT event_mask FROM webhook_endpoints WHERE enabled = true`)
		if err != nil {
			return true // the insert's own condition decides
		}
		var mask int64
		for rows.Next() {
			var m int64
			if rows.Scan(&m) == nil {
				mask |= m
			}
		}
		rows.Close()
		if rows.Err() != nil {
			return true
		}
		g = &webhookGate{mask: mask, until: now.Add(webhookGateTTL)}
		s.hookGate.Store(g)
	}
	return g.mask&bit != 0
}

func newEventUID() string {
	b := make([]byte, 12)
	rand.Read(b)
	return "evt_" + hex.EncodeToString(b)
}

// emitWebhook writes an event of typ for owner's tree to the outbox, in tx,
// when an enabled endpoint of the tree subscribes to it.
func (s *Store) emitWebhook(ctx context.Context, tx *Tx, typ string, o webhookOwner, data map[string]any) error {
	bit := model.WebhookEventBit(typ)
	if bit == 0 || !s.webhookWanted(ctx, tx.tx, bit) {
		return nil
	}
	js, err := json.Marshal(data)
	if err != nil {
		return err
	}
	_, err = tx.execP(ctx, `INSERT INTO webhook_events (uid, type, type_bit, account_id, subdistributor_id, distributor_id, data, created_at)
		SELECT ?, ?, ?, ?, ?, ?, ?, ? WHERE EXISTS (SELECT 1 FROM webhook_endpoints w WHERE w.enabled = true AND (w.event_mask & ?) <> 0
		AND (w.all_tree = true OR w.account_id IN (?, ?, ?)))`,
		newEventUID(), typ, bit, nullID(o.account), nullID(o.sub), nullID(o.dist), string(js), s.now(), bit, o.account, o.sub, o.dist)
	return err
}

// deviceOwner reads the tree and MAC of a device (by id or MAC) when some
// endpoint wants bit; ok false: nobody does, or no such device.
func (s *Store) deviceOwner(ctx context.Context, tx *Tx, bit int64, byID int64, mac string) (webhookOwner, string, bool, error) {
	var o webhookOwner
	if !s.webhookWanted(ctx, tx.tx, bit) {
		return o, "", false, nil
	}
	where, arg := "d.mac = CAST(? AS TEXT)", any(mac)
	if mac == "" {
		where, arg = "d.id = ?", byID
	}
	err := tx.queryRowP(ctx, `SELECT a.id, coalesce(a.subdistributor_id, 0), coalesce(a.distributor_id, 0), d.mac
		FROM devices d JOIN accounts a ON a.id = d.installer_id WHERE `+where, arg).Scan(&o.account, &o.sub, &o.dist, &mac)
	if isNoRows(err) {
		return o, "", false, nil
	}
	return o, mac, err == nil, err
}

// emitDeviceWebhook tells a device event (device.online, device.offline,
// command.*, autop.applied) with data plus the device's MAC.
func (s *Store) emitDeviceWebhook(ctx context.Context, tx *Tx, typ string, deviceID int64, mac string, data map[string]any) error {
	o, m, ok, err := s.deviceOwner(ctx, tx, model.WebhookEventBit(typ), deviceID, mac)
	if err != nil || !ok {
		return err
	}
	data["mac"] = m
	return s.emitWebhook(ctx, tx, typ, o, data)
}

// emitConnectWebhook is emitDeviceWebhook for the connect path (a hello, a
// goodbye) of a device by its MAC: one prepared statement that reads the
// device's tree, checks that an endpoint of it subscribes, and writes the
// event — nothing at all when no endpoint anywhere subscribes to typ.
func (s *Store) emitConnectWebhook(ctx context.Context, tx *Tx, typ, mac string, data map[string]any) error {
	bit := model.WebhookEventBit(typ)
	if !s.webhookWanted(ctx, tx.tx, bit) {
		return nil
	}
	data["mac"] = mac
	js, err := json.Marshal(data)
	if err != nil {
		return err
	}
	_, err = tx.execP(ctx, `INSERT INTO webhook_events (uid, type, type_bit, account_id, subdistributor_id, distributor_id, data, created_at)
		SELECT ?, ?, ?, a.id, a.subdistributor_id, a.distributor_id, ?, ? FROM devices d JOIN accounts a ON a.id = d.installer_id
		WHERE d.mac = CAST(? AS TEXT) AND EXISTS (SELECT 1 FROM webhook_endpoints w WHERE w.enabled = true AND (w.event_mask & ?) <> 0
		AND (w.all_tree = true OR w.account_id = a.id OR w.account_id = a.subdistributor_id OR w.account_id = a.distributor_id))`,
		newEventUID(), typ, bit, string(js), s.now(), mac, bit)
	return err
}

// emitOrderWebhook tells an order's end (completed, failed, timed out).
func (s *Store) emitOrderWebhook(ctx context.Context, tx *Tx, orderID int64, typ string) error {
	if !s.webhookWanted(ctx, tx.tx, model.WebhookEventBit(typ)) {
		return nil
	}
	var o webhookOwner
	var number, otype, currency string
	var total int64
	err := tx.queryRow(ctx, `SELECT installer_id, subdistributor_id, coalesce(distributor_id, 0), number, type, total, currency
		FROM orders WHERE id = ?`, orderID).Scan(&o.account, &o.sub, &o.dist, &number, &otype, &total, &currency)
	if err != nil {
		return err
	}
	return s.emitWebhook(ctx, tx, typ, o, map[string]any{"order": number, "order_type": otype, "total": total,
		"currency": currency, "installer_id": o.account})
}

// emitRolloutWebhook tells a rollout's change of status.
func (s *Store) emitRolloutWebhook(ctx context.Context, tx *Tx, id int64, typ, reason string) error {
	if !s.webhookWanted(ctx, tx.tx, model.WebhookEventBit(typ)) {
		return nil
	}
	r, err := s.getRollout(ctx, tx.tx, model.System, id)
	if err != nil {
		return err
	}
	var o webhookOwner
	if err := tx.queryRow(ctx, `SELECT account_id, coalesce(subdistributor_id, 0), coalesce(distributor_id, 0) FROM rollouts WHERE id = ?`,
		id).Scan(&o.account, &o.sub, &o.dist); err != nil {
		return err
	}
	data := map[string]any{"rollout_id": id, "name": r.Name, "status": string(r.Status), "firmware_version": r.FirmwareVersion,
		"model": r.FirmwareModel, "total": r.Total, "current_wave": r.CurrentWave, "waves": r.Waves}
	if reason != "" {
		data["reason"] = reason
	}
	return s.emitWebhook(ctx, tx, typ, o, data)
}

// rolloutEventOf maps a status action to its event type.
func rolloutEventOf(action string) string {
	switch action {
	case model.RolloutStart:
		return model.EventRolloutStarted
	case model.RolloutPause:
		return model.EventRolloutPaused
	case model.RolloutResume:
		return model.EventRolloutResumed
	case model.RolloutCancel:
		return model.EventRolloutCanceled
	}
	return ""
}

// ---- Endpoints ------------------------------------------------------------

const webhookEndpointCols = `w.id, w.account_id, w.url, w.description, w.events, w.enabled, w.disabled_reason, w.failing_since,
	w.created_at, w.updated_at`

func scanWebhookEndpoint(r scanner) (*model.WebhookEndpoint, error) {
	var e model.WebhookEndpoint
	var events string
	var failing *time.Time
	if err := r.Scan(&e.ID, &e.AccountID, &e.URL, &e.Description, &events, &e.Enabled, &e.DisabledReason, &failing,
		&e.Created, &e.Updated); err != nil {
		return nil, err
	}
	e.FailingSince = failing
	e.Events = []string{}
	if events != "" {
		e.Events = strings.Split(events, ",")
	}
	return &e, nil
}

// ownEndpointAccount is the account whose endpoints the actor manages.
func ownEndpointAccount(ctx context.Context) (*model.Actor, error) {
	act, err := actor(ctx)
	if err != nil {
		return nil, err
	}
	if act.AccountID == 0 {
		return nil, model.Errorf(model.EFORBIDDEN, "Webhook endpoints belong to an account, not to the system.")
	}
	return act, nil
}

// CreateWebhookEndpoint registers an endpoint for the actor's account (at
// most model.MaxWebhookEndpoints), with its signing secret sealed. in must
// be normalized (model.WebhookEndpointInput.Normalize) with its mask.
// The endpoint returned carries the secret: the one time it is shown.
func (s *Store) CreateWebhookEndpoint(ctx context.Context, in model.WebhookEndpointInput, mask int64, secret string) (*model.WebhookEndpoint, error) {
	act, err := ownEndpointAccount(ctx)
	if err != nil {
		return nil, err
	}
	sealed, err := s.encryptSecret(secret)
	if err != nil {
		return nil, err
	}
	enabled := in.Enabled == nil || *in.Enabled
	var id int64
	err = s.inTx(ctx, func(tx *Tx) error {
		// Lock the account's row (PostgreSQL), so that two creations at
		// once count each other.
		var one int64
		if err := tx.queryRow(ctx, `SELECT id FROM accounts WHERE id = ? `+s.lockFor("FOR UPDATE"), act.AccountID).Scan(&one); err != nil {
			return err
		}
		var n int
		if err := tx.queryRow(ctx, `SELECT count(*) FROM webhook_endpoints WHERE account_id = ?`, act.AccountID).Scan(&n); err != nil {
			return err
		}
		if n >= model.MaxWebhookEndpoints {
			return model.Errorf(model.ECONFLICT, "An account has at most %d webhook endpoints: delete one first.", model.MaxWebhookEndpoints)
		}
		now := s.now()
		if err := tx.queryRow(ctx, `INSERT INTO webhook_endpoints (account_id, all_tree, url, description, events, event_mask, secret,
			enabled, created_at, updated_at) VALUES (?,?,?,?,?,?,?,?,?,?) RETURNING id`, act.AccountID, act.Role == model.RoleAdmin,
			in.URL, in.Description, strings.Join(in.Events, ","), mask, sealed, enabled, now, now).Scan(&id); err != nil {
			return err
		}
		return s.audit(ctx, tx, "webhook.create", "webhook_endpoint", id, map[string]any{"url": in.URL, "events": in.Events})
	})
	s.forgetWebhookGate()
	if err != nil {
		return nil, err
	}
	e, err := s.GetWebhookEndpoint(ctx, id)
	if err == nil {
		e.Secret = secret
	}
	return e, err
}

// GetWebhookEndpoint returns one of the actor's own endpoints.
func (s *Store) GetWebhookEndpoint(ctx context.Context, id int64) (*model.WebhookEndpoint, error) {
	act, err := ownEndpointAccount(ctx)
	if err != nil {
		return nil, err
	}
	e, err := scanWebhookEndpoint(s.queryRow(ctx, `SELECT `+webhookEndpointCols+` FROM webhook_endpoints w WHERE w.id = ? AND w.account_id = ?`,
		id, act.AccountID))
	if isNoRows(err) {
		return nil, model.NotFound("webhook endpoint")
	}
	return e, err
}

// ListWebhookEndpoints returns the actor's own endpoints, oldest first.
func (s *Store) ListWebhookEndpoints(ctx context.Context) ([]*model.WebhookEndpoint, error) {
	act, err := ownEndpointAccount(ctx)
	if err != nil {
		return nil, err
	}
	rows, err := s.query(ctx, `SELECT `+webhookEndpointCols+` FROM webhook_endpoints w WHERE w.account_id = ? ORDER BY w.id`, act.AccountID)
	if err != nil {
		return nil, err
	}
	return scanAll(rows, scanWebhookEndpoint)
}

// UpdateWebhookEndpoint changes one of the actor's endpoints: URL,
// description, events, and enabled when given (turning it on again clears
// its failures).
func (s *Store) UpdateWebhookEndpoint(ctx context.Context, id int64, in model.WebhookEndpointInput, mask int64) (*model.WebhookEndpoint, error) {
	act, err := ownEndpointAccount(ctx)
	if err != nil {
		return nil, err
	}
	err = s.inTx(ctx, func(tx *Tx) error {
		var enabled bool
		if err := tx.queryRow(ctx, `SELECT enabled FROM webhook_endpoints WHERE id = ? AND account_id = ?`, id, act.AccountID).Scan(&enabled); isNoRows(err) {
			return model.NotFound("webhook endpoint")
		} else if err != nil {
			return err
		}
		on := enabled
		if in.Enabled != nil {
			on = *in.Enabled
		}
		reason := "Disabled by " + act.Username + "."
		if on {
			reason = ""
		}
		if _, err := tx.exec(ctx, `UPDATE webhook_endpoints SET url = ?, description = ?, events = ?, event_mask = ?, enabled = ?,
			disabled_reason = CASE WHEN ? = enabled THEN disabled_reason ELSE ? END,
			failing_since = CASE WHEN ? AND NOT enabled THEN NULL ELSE failing_since END, updated_at = ? WHERE id = ?`,
			in.URL, in.Description, strings.Join(in.Events, ","), mask, on, on, reason, on, s.now(), id); err != nil {
			return err
		}
		return s.audit(ctx, tx, "webhook.update", "webhook_endpoint", id, map[string]any{"url": in.URL, "events": in.Events, "enabled": on})
	})
	s.forgetWebhookGate()
	if err != nil {
		return nil, err
	}
	return s.GetWebhookEndpoint(ctx, id)
}

// DeleteWebhookEndpoint deletes one of the actor's endpoints with its
// deliveries.
func (s *Store) DeleteWebhookEndpoint(ctx context.Context, id int64) error {
	act, err := ownEndpointAccount(ctx)
	if err != nil {
		return err
	}
	err = s.inTx(ctx, func(tx *Tx) error {
		var url string
		if err := tx.queryRow(ctx, `SELECT url FROM webhook_endpoints WHERE id = ? AND account_id = ?`, id, act.AccountID).Scan(&url); isNoRows(err) {
			return model.NotFound("webhook endpoint")
		} else if err != nil {
			return err
		}
		if _, err := tx.exec(ctx, `DELETE FROM webhook_deliveries WHERE endpoint_id = ?`, id); err != nil {
			return err
		}
		if _, err := tx.exec(ctx, `DELETE FROM webhook_endpoints WHERE id = ?`, id); err != nil {
			return err
		}
		return s.audit(ctx, tx, "webhook.delete", "webhook_endpoint", id, map[string]any{"url": url})
	})
	s.forgetWebhookGate()
	return err
}

// RotateWebhookSecret replaces an endpoint's signing secret; the endpoint
// returned carries the new one.
func (s *Store) RotateWebhookSecret(ctx context.Context, id int64, secret string) (*model.WebhookEndpoint, error) {
	act, err := ownEndpointAccount(ctx)
	if err != nil {
		return nil, err
	}
	sealed, err := s.encryptSecret(secret)
	if err != nil {
		return nil, err
	}
	err = s.inTx(ctx, func(tx *Tx) error {
		res, err := tx.exec(ctx, `UPDATE webhook_endpoints SET secret = ?, updated_at = ? WHERE id = ? AND account_id = ?`,
			sealed, s.now(), id, act.AccountID)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return model.NotFound("webhook endpoint")
		}
		return s.audit(ctx, tx, "webhook.rotate_secret", "webhook_endpoint", id, nil)
	})
	if err != nil {
		return nil, err
	}
	e, err := s.GetWebhookEndpoint(ctx, id)
	if err == nil {
		e.Secret = secret
	}
	return e, err
}

// ---- Deliveries ------------------------------------------------------------

const webhookDeliveryCols = `d.id, d.endpoint_id, e.uid, e.type, d.state, d.attempts, d.http_status, d.latency_ms, d.excerpt, d.error,
	d.next_at, d.last_at, d.created_at, e.data, e.created_at`

func scanWebhookDelivery(r scanner) (*model.WebhookDelivery, error) {
	var d model.WebhookDelivery
	var next, last *time.Time
	var data string
	var created time.Time
	if err := r.Scan(&d.ID, &d.EndpointID, &d.EventID, &d.EventType, &d.State, &d.Attempts, &d.HTTPStatus, &d.LatencyMS, &d.Excerpt,
		&d.Error, &next, &last, &d.Created, &data, &created); err != nil {
		return nil, err
	}
	if d.State == model.WebhookPending {
		d.NextAt = next
	}
	d.LastAt = last
	d.Payload = webhookBody(d.EventID, d.EventType, created, data)
	return &d, nil
}

// webhookBody is the JSON a delivery POSTs: {id, type, created, data}.
func webhookBody(uid, typ string, created time.Time, data string) string {
	ts, _ := json.Marshal(created.UTC())
	if data == "" {
		data = "{}"
	}
	id, _ := json.Marshal(uid)
	ty, _ := json.Marshal(typ)
	return `{"id":` + string(id) + `,"type":` + string(ty) + `,"created":` + string(ts) + `,"data":` + data + `}`
}

// ListWebhookDeliveries returns the deliveries of one of the actor's
// endpoints, newest first.
func (s *Store) ListWebhookDeliveries(ctx context.Context, endpointID int64, p model.Page) (model.List[*model.WebhookDelivery], error) {
	if _, err := s.GetWebhookEndpoint(ctx, endpointID); err != nil {
		return model.List[*model.WebhookDelivery]{}, err
	}
	return list(ctx, s, `webhook_deliveries d JOIN webhook_events e ON e.id = d.event_id`, `d.endpoint_id = ?`, `d.id DESC`,
		webhookDeliveryCols, []any{endpointID}, defaultPage(p), scanWebhookDelivery)
}

// GetWebhookDelivery returns one delivery of the actor's endpoints.
func (s *Store) GetWebhookDelivery(ctx context.Context, id int64) (*model.WebhookDelivery, error) {
	act, err := ownEndpointAccount(ctx)
	if err != nil {
		return nil, err
	}
	d, err := scanWebhookDelivery(s.queryRow(ctx, `SELECT `+webhookDeliveryCols+` FROM webhook_deliveries d
		JOIN webhook_events e ON e.id = d.event_id JOIN webhook_endpoints w ON w.id = d.endpoint_id
		WHERE d.id = ? AND w.account_id = ?`, id, act.AccountID))
	if isNoRows(err) {
		return nil, model.NotFound("webhook delivery")
	}
	return d, err
}

// RedeliverWebhook sends a delivery of the actor's endpoints once more, at
// once (one attempt: no retries after it). An endpoint turned off is a
// conflict, as is a delivery being attempted right now.
func (s *Store) RedeliverWebhook(ctx context.Context, id int64) (*model.WebhookDelivery, error) {
	act, err := ownEndpointAccount(ctx)
	if err != nil {
		return nil, err
	}
	err = s.inTx(ctx, func(tx *Tx) error {
		var enabled bool
		var endpoint int64
		if err := tx.queryRow(ctx, `SELECT w.enabled, w.id FROM webhook_deliveries d JOIN webhook_endpoints w ON w.id = d.endpoint_id
			WHERE d.id = ? AND w.account_id = ?`, id, act.AccountID).Scan(&enabled, &endpoint); isNoRows(err) {
			return model.NotFound("webhook delivery")
		} else if err != nil {
			return err
		}
		if !enabled {
			return model.Errorf(model.ECONFLICT, "The endpoint is turned off: turn it on to redeliver.")
		}
		now := s.now()
		// One attempt now; a delivery still retrying keeps the rest of its
		// schedule (a failed redelivery must not end its retries).
		res, err := tx.exec(ctx, `UPDATE webhook_deliveries SET next_at = ?, lease_node = '', lease_until = NULL,
			give_up_at = CASE WHEN state = 'pending' THEN give_up_at ELSE ? END, state = 'pending'
			WHERE id = ? AND (lease_until IS NULL OR lease_until < ?)`, now, now, id, now)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return model.Errorf(model.ECONFLICT, "This delivery is being attempted right now: look again in a moment.")
		}
		return s.audit(ctx, tx, "webhook.redeliver", "webhook_endpoint", endpoint, map[string]any{"delivery": id})
	})
	if err != nil {
		return nil, err
	}
	return s.GetWebhookDelivery(ctx, id)
}

// SendTestWebhook queues a webhook.test event to one of the actor's
// endpoints (one attempt) and returns its delivery.
func (s *Store) SendTestWebhook(ctx context.Context, endpointID int64) (*model.WebhookDelivery, error) {
	act, err := ownEndpointAccount(ctx)
	if err != nil {
		return nil, err
	}
	var id int64
	err = s.inTx(ctx, func(tx *Tx) error {
		var enabled bool
		if err := tx.queryRow(ctx, `SELECT enabled FROM webhook_endpoints WHERE id = ? AND account_id = ?`, endpointID, act.AccountID).Scan(&enabled); isNoRows(err) {
			return model.NotFound("webhook endpoint")
		} else if err != nil {
			return err
		}
		if !enabled {
			return model.Errorf(model.ECONFLICT, "The endpoint is turned off: turn it on to send a test event.")
		}
		// One test on its way at a time: a loop of tests against a slow
		// receiver would hold the node's delivery places for everyone.
		var waiting int
		if err := tx.queryRow(ctx, `SELECT count(*) FROM webhook_deliveries d JOIN webhook_events e ON e.id = d.event_id
			WHERE d.endpoint_id = ? AND d.state = 'pending' AND e.type = ?`, endpointID, model.EventTest).Scan(&waiting); err != nil {
			return err
		}
		if waiting > 0 {
			return model.Errorf(model.ECONFLICT, "A test event to this endpoint is still on its way: see its outcome in the delivery log first.")
		}
		now := s.now()
		js, _ := json.Marshal(map[string]any{"message": "A test event from Gatehouse.", "endpoint_id": endpointID, "account": act.Username})
		var ev int64
		if err := tx.queryRow(ctx, `INSERT INTO webhook_events (uid, type, type_bit, account_id, subdistributor_id, distributor_id, data,
			created_at, fanned) VALUES (?,?,0,?,?,?,?,?,true) RETURNING id`, newEventUID(), model.EventTest, act.AccountID,
			nullID(act.SubdistributorID), nullID(act.DistributorID), string(js), now).Scan(&ev); err != nil {
			return err
		}
		if err := tx.queryRow(ctx, `INSERT INTO webhook_deliveries (endpoint_id, event_id, state, next_at, give_up_at, created_at)
			VALUES (?,?,'pending',?,?,?) RETURNING id`, endpointID, ev, now, now, now).Scan(&id); err != nil {
			return err
		}
		return s.audit(ctx, tx, "webhook.test", "webhook_endpoint", endpointID, nil)
	})
	if err != nil {
		return nil, err
	}
	return s.GetWebhookDelivery(ctx, id)
}

// ---- The dispatcher (system side) ------------------------------------------

// FanOutWebhookEvents turns up to limit outbox events into deliveries, one
// per enabled endpoint subscribed to the event's type in its tree (made
// before the event), and returns how many events it took. Two nodes at
// once deliver nothing twice: a delivery is unique per endpoint and event.
// (System side.)
func (s *Store) FanOutWebhookEvents(ctx context.Context, limit int) (int, error) {
	if _, err := actor(ctx); err != nil {
		return 0, err
	}
	var n int
	err := s.inTx(ctx, func(tx *Tx) error {
		rows, err := tx.query(ctx, `SELECT id FROM webhook_events WHERE fanned = false ORDER BY id LIMIT ?`, limit)
		if err != nil {
			return err
		}
		ids, err := scanIDs(rows)
		if err != nil || len(ids) == 0 {
			return err
		}
		n = len(ids)
		in := "?" + strings.Repeat(",?", len(ids)-1)
		args := make([]any, 0, len(ids)+3)
		now := s.now()
		args = append(args, now, now.Add(model.WebhookRetryFor), now)
		for _, id := range ids {
			args = append(args, id)
		}
		if _, err := tx.exec(ctx, `INSERT INTO webhook_deliveries (endpoint_id, event_id, state, next_at, give_up_at, created_at)
			SELECT w.id, e.id, 'pending', ?, ?, ? FROM webhook_events e JOIN webhook_endpoints w ON w.enabled = true
			AND (w.event_mask & e.type_bit) <> 0 AND (w.all_tree = true OR w.account_id IN (e.account_id, e.subdistributor_id, e.distributor_id))
			AND w.created_at <= e.created_at
			WHERE e.id IN (`+in+`) ORDER BY e.id, w.id ON CONFLICT (endpoint_id, event_id) DO NOTHING`, args...); err != nil {
			return err
		}
		_, err = tx.exec(ctx, `UPDATE webhook_events SET fanned = true WHERE id IN (`+in+`)`, args[3:]...)
		return err
	})
	return n, err
}

// ClaimWebhookDeliveries takes, for node, up to limit due deliveries of
// enabled endpoints that no node holds, with a lease until now + lease,
// counting the attempt, and returns what their attempts need. A delivery
// is held by one node at a time: the UPDATE re-checks the lease on the row
// it changes. (System side.)
func (s *Store) ClaimWebhookDeliveries(ctx context.Context, node string, limit int, lease time.Duration) ([]model.WebhookDispatch, error) {
	if _, err := actor(ctx); err != nil {
		return nil, err
	}
	if node == "" {
		return nil, fmt.Errorf("store: claim for no node")
	}
	now := s.now()
	rows, err := s.query(ctx, `UPDATE webhook_deliveries SET lease_node = ?, lease_until = ?, attempts = attempts + 1
		WHERE id IN (SELECT d.id FROM webhook_deliveries d JOIN webhook_endpoints w ON w.id = d.endpoint_id
			WHERE d.state = 'pending' AND d.next_at <= ? AND (d.lease_until IS NULL OR d.lease_until < ?) AND w.enabled = true
			ORDER BY d.next_at, d.id LIMIT ?)
		AND state = 'pending' AND (lease_until IS NULL OR lease_until < ?) RETURNING id`, node, now.Add(lease), now, now, limit, now)
	if err != nil {
		return nil, err
	}
	ids, err := scanIDs(rows)
	if err != nil || len(ids) == 0 {
		return nil, err
	}
	args := make([]any, 0, len(ids)+1)
	args = append(args, node)
	for _, id := range ids {
		args = append(args, id)
	}
	rows, err = s.query(ctx, `SELECT d.id, w.id, w.url, w.secret, d.attempts, d.give_up_at, e.uid, e.type, e.created_at, e.data
		FROM webhook_deliveries d JOIN webhook_endpoints w ON w.id = d.endpoint_id JOIN webhook_events e ON e.id = d.event_id
		WHERE d.lease_node = ? AND d.id IN (?`+strings.Repeat(",?", len(ids)-1)+`) ORDER BY d.id`, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := make([]model.WebhookDispatch, 0, len(ids))
	for rows.Next() {
		var d model.WebhookDispatch
		var sealed string
		if err := rows.Scan(&d.DeliveryID, &d.EndpointID, &d.URL, &sealed, &d.Attempts, &d.GiveUpAt, &d.EventID, &d.EventType,
			&d.Created, &d.Data); err != nil {
			return nil, err
		}
		if d.Secret, err = s.decryptSecret(sealed); err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	return out, rows.Err()
}

// WebhookBody is the JSON body of a claimed delivery.
func WebhookBody(d model.WebhookDispatch) string {
	return webhookBody(d.EventID, d.EventType, d.Created, d.Data)
}

// FinishWebhookDelivery records the outcome of node's attempt of a
// delivery it holds: success ends it; a failure schedules it again at
// a.RetryAt, or fails it for good when that is past its give-up time. The
// endpoint's failing_since starts when its first failed attempt after a
// success was due, or when the endpoint was last changed if that is later;
// a failure a day or more after it, or the last failure of a delivery whose
// whole day of retries saw no success, disables the endpoint, and the
// account to tell is returned. A lease lost meanwhile records nothing. (System side.)
func (s *Store) FinishWebhookDelivery(ctx context.Context, node string, id int64, a model.WebhookAttempt) (*model.WebhookDisabled, error) {
	if _, err := actor(ctx); err != nil {
		return nil, err
	}
	if len(a.Excerpt) > model.WebhookExcerpt {
		a.Excerpt = a.Excerpt[:model.WebhookExcerpt]
	}
	a.Excerpt = model.StorableText(a.Excerpt, model.WebhookExcerpt)
	a.Error = model.StorableText(a.Error, 500)
	var off *model.WebhookDisabled
	// Group-committed with the other outcomes of the moment (group.go):
	// a node's concurrent attempts end in one transaction, not one each.
	err := s.inGroupTx(ctx, func(tx *Tx) error {
		off = nil
		now := s.now()
		var endpoint int64
		if a.OK {
			// A success: two statements (the common case, kept short).
			err := tx.queryRowP(ctx, `UPDATE webhook_deliveries SET state = 'succeeded', next_at = NULL, lease_node = '', lease_until = NULL,
				last_at = ?, http_status = ?, latency_ms = ?, excerpt = ?, error = '' WHERE id = ? AND lease_node = ? AND state = 'pending'
				RETURNING endpoint_id`, now, a.HTTPStatus, a.Latency.Milliseconds(), a.Excerpt, id, node).Scan(&endpoint)
			if isNoRows(err) {
				return nil
			} else if err != nil {
				return err
			}
			_, err = tx.execP(ctx, `UPDATE webhook_endpoints SET failing_since = NULL WHERE id = ? AND failing_since IS NOT NULL`, endpoint)
			return err
		}
		var giveUp, created time.Time
		var due *time.Time
		err := tx.queryRowP(ctx, `SELECT endpoint_id, give_up_at, created_at, next_at FROM webhook_deliveries
			WHERE id = ? AND lease_node = ? AND state = 'pending'`, id, node).Scan(&endpoint, &giveUp, &created, &due)
		if isNoRows(err) {
			return nil
		} else if err != nil {
			return err
		}
		state, next := model.WebhookSucceeded, any(nil)
		if !a.OK {
			if a.RetryAt.After(giveUp) {
				state = model.WebhookFailed
			} else {
				state, next = model.WebhookPending, a.RetryAt
			}
		}
		if _, err := tx.execP(ctx, `UPDATE webhook_deliveries SET state = ?, next_at = ?, lease_node = '', lease_until = NULL, last_at = ?,
			http_status = ?, latency_ms = ?, excerpt = ?, error = ? WHERE id = ?`, state, next, now, a.HTTPStatus, a.Latency.Milliseconds(),
			a.Excerpt, a.Error, id); err != nil {
			return err
		}
		if a.OK {
			_, err := tx.execP(ctx, `UPDATE webhook_endpoints SET failing_since = NULL WHERE id = ? AND failing_since IS NOT NULL`, endpoint)
			return err
		}
		// The run of failures began when this attempt was due, but never
		// before the endpoint was last changed (turned on again, its URL
		// fixed): a delivery left pending while it was off must not date
		// the run back and disable it again at its first failure.
		began := now
		if due != nil && due.Before(now) {
			began = *due
		}
		if _, err := tx.execP(ctx, `UPDATE webhook_endpoints SET failing_since = CASE WHEN updated_at > ? THEN updated_at ELSE ? END
			WHERE id = ? AND failing_since IS NULL`, began, began, endpoint); err != nil {
			return err
		}
		var since time.Time
		var enabled bool
		d := &model.WebhookDisabled{EndpointID: endpoint}
		if err := tx.queryRowP(ctx, `SELECT w.failing_since, w.enabled, w.url, a.username, a.name, a.email, a.language
			FROM webhook_endpoints w JOIN accounts a ON a.id = w.account_id WHERE w.id = ?`, endpoint).Scan(&since, &enabled, &d.URL,
			&d.Account, &d.Name, &d.Email, &d.Language); err != nil {
			return err
		}
		// Failing for a day: a day since the first failure, or this
		// delivery's day of retries ended with no success since it began.
		exhausted := state == model.WebhookFailed && giveUp.Sub(created) >= model.WebhookRetryFor && !since.After(created)
		if !enabled || (now.Sub(since) < model.WebhookRetryFor && !exhausted) {
			return nil
		}
		reason := fmt.Sprintf("Disabled by Gatehouse: every delivery failed since %s UTC.", since.UTC().Format("2006-01-02 15:04"))
		if _, err := tx.execP(ctx, `UPDATE webhook_endpoints SET enabled = false, disabled_reason = ?, updated_at = ? WHERE id = ?`,
			reason, now, endpoint); err != nil {
			return err
		}
		d.Since = since
		off = d
		return s.auditWebhookDisabled(ctx, tx, endpoint, since)
	})
	if off != nil {
		s.forgetWebhookGate()
	}
	return off, err
}

// auditWebhookDisabled records, as the system, that an endpoint was
// disabled, in its account's log (and its ancestors').
func (s *Store) auditWebhookDisabled(ctx context.Context, tx *Tx, endpoint int64, since time.Time) error {
	js, _ := json.Marshal(map[string]any{"failing_since": since})
	_, err := tx.exec(ctx, `INSERT INTO audit_log (at, actor_id, actor, real_actor_id, real_actor, account_id, account, distributor_id,
		subdistributor_id, action, object_type, object_id, details)
		SELECT ?, NULL, 'system', NULL, '', a.id, a.username, a.distributor_id, a.subdistributor_id, 'webhook.disabled', 'webhook_endpoint', ?, ?
		FROM webhook_endpoints w JOIN accounts a ON a.id = w.account_id WHERE w.id = ?`,
		s.now(), strconv.FormatInt(endpoint, 10), string(js), endpoint)
	return err
}

// FreeWebhookLeases gives up node's delivery leases (a node shutting
// down). (System side.)
func (s *Store) FreeWebhookLeases(ctx context.Context, node string) error {
	if _, err := actor(ctx); err != nil {
		return err
	}
	_, err := s.exec(ctx, `UPDATE webhook_deliveries SET lease_node = '', lease_until = NULL, attempts = attempts - 1
		WHERE lease_node = ? AND state = 'pending' AND attempts > 0`, node)
	return err
}

// PruneWebhookEvents deletes up to 5,000 events older than before whose
// deliveries all ended, with those deliveries. (System side.)
func (s *Store) PruneWebhookEvents(ctx context.Context, before time.Time) (int64, error) {
	if _, err := actor(ctx); err != nil {
		return 0, err
	}
	var n int64
	err := s.inTx(ctx, func(tx *Tx) error {
		rows, err := tx.query(ctx, `SELECT e.id FROM webhook_events e WHERE e.created_at < ? AND e.fanned = true
			AND NOT EXISTS (SELECT 1 FROM webhook_deliveries d WHERE d.event_id = e.id AND d.state = 'pending') ORDER BY e.id LIMIT 5000`, before)
		if err != nil {
			return err
		}
		ids, err := scanIDs(rows)
		if err != nil || len(ids) == 0 {
			return err
		}
		args := make([]any, len(ids))
		for i, id := range ids {
			args[i] = id
		}
		in := "?" + strings.Repeat(",?", len(ids)-1)
		if _, err := tx.exec(ctx, `DELETE FROM webhook_deliveries WHERE event_id IN (`+in+`)`, args...); err != nil {
			return err
		}
		res, err := tx.exec(ctx, `DELETE FROM webhook_events WHERE id IN (`+in+`)`, args...)
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	return n, err
}

// LeaseWebhookJob takes or renews, for node, the lease of the periodic job
// name until now + ttl, when it is node's, free or expired; it reports
// whether node holds it. (System side.)
func (s *Store) LeaseWebhookJob(ctx context.Context, name, node string, ttl time.Duration) (bool, error) {
	if _, err := actor(ctx); err != nil {
		return false, err
	}
	if node == "" {
		return false, fmt.Errorf("store: lease for no node")
	}
	if _, err := s.exec(ctx, `INSERT INTO webhook_jobs (name) VALUES (?) ON CONFLICT (name) DO NOTHING`, name); err != nil {
		return false, err
	}
	now := s.now()
	res, err := s.exec(ctx, `UPDATE webhook_jobs SET lease_node = ?, lease_until = ?, last_run = ?
		WHERE name = ? AND (lease_node = ? OR lease_until IS NULL OR lease_until < ?)`, node, now.Add(ttl), now, name, node, now)
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

// expiryWindows are the thresholds of enduser.expiring, in days: a service
// expiring within (next, days] days is told once at days; 0 is "expired"
// (within the last 30 days).
var expiryWindows = []int{30, 7, 1, 0}

// EmitEndUserExpiring writes the enduser.expiring events due now: once per
// end user, service (app, premium), threshold and expiry, for end users of
// trees with an endpoint subscribed. Up to 2,000 per window and run; the
// next run goes on. Run by the node holding the job's lease. (System side.)
func (s *Store) EmitEndUserExpiring(ctx context.Context) (int, error) {
	if _, err := actor(ctx); err != nil {
		return 0, err
	}
	bit := model.WebhookEventBit(model.EventEndUserExpiring)
	if !s.webhookWanted(ctx, s.db, bit) {
		return 0, nil
	}
	total := 0
	now := s.now()
	day := 24 * time.Hour
	for _, svc := range []struct{ name, col string }{{"app", "u.app_expires_at"}, {"premium", "u.premium_expires_at"}} {
		for i, days := range expiryWindows {
			lo, hi := now.Add(-30*day), now
			if days > 0 {
				lo, hi = now.Add(time.Duration(expiryWindows[i+1])*day), now.Add(time.Duration(days)*day)
			}
			err := s.inTx(ctx, func(tx *Tx) error {
				rows, err := tx.query(ctx, `SELECT u.id, u.name, `+svc.col+`, u.project_id, a.id, coalesce(a.subdistributor_id, 0),
					coalesce(a.distributor_id, 0) FROM end_users u JOIN accounts a ON a.id = u.installer_id
					WHERE `+svc.col+` > ? AND `+svc.col+` <= ?
					AND NOT EXISTS (SELECT 1 FROM webhook_expiry_marks m WHERE m.end_user_id = u.id AND m.service = ? AND m.days = ?
						AND m.expires_at = `+svc.col+`)
					AND EXISTS (SELECT 1 FROM webhook_endpoints w WHERE w.enabled = true AND (w.event_mask & ?) <> 0
						AND (w.all_tree = true OR w.account_id IN (a.id, a.subdistributor_id, a.distributor_id)))
					ORDER BY u.id LIMIT 2000`, lo, hi, svc.name, days, bit)
				if err != nil {
					return err
				}
				type due struct {
					id, project int64
					name        string
					expires     time.Time
					o           webhookOwner
				}
				var list []due
				for rows.Next() {
					var d due
					if err := rows.Scan(&d.id, &d.name, &d.expires, &d.project, &d.o.account, &d.o.sub, &d.o.dist); err != nil {
						rows.Close()
						return err
					}
					list = append(list, d)
				}
				rows.Close()
				if err := rows.Err(); err != nil {
					return err
				}
				for _, d := range list {
					res, err := tx.exec(ctx, `INSERT INTO webhook_expiry_marks (end_user_id, service, days, expires_at) VALUES (?,?,?,?)
						ON CONFLICT DO NOTHING`, d.id, svc.name, days, d.expires)
					if err != nil {
						return err
					}
					if n, _ := res.RowsAffected(); n == 0 {
						continue
					}
					if err := s.emitWebhook(ctx, tx, model.EventEndUserExpiring, d.o, map[string]any{"end_user_id": d.id, "name": d.name,
						"service": svc.name, "days": days, "expired": days == 0, "expires_at": d.expires.UTC(), "project_id": d.project,
						"installer_id": d.o.account}); err != nil {
						return err
					}
					total++
				}
				return nil
			})
			if err != nil {
				return total, err
			}
		}
	}
	return total, nil
}
