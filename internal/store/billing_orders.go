package store

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/billing"
	"github.com/gatehouse-dev/gatehouse/internal/model"
)

// orderScope limits orders (aliased o) to the actor's subtree: a
// distributor sees its subtree's, a sub-distributor its own and its
// installers', an installer its own.
func orderScope(a *model.Actor) (string, []any) {
	switch a.Role {
	case model.RoleAdmin:
		return "1=1", nil
	case model.RoleDistributor:
		return "o.distributor_id = ?", []any{a.AccountID}
	case model.RoleSubdistributor:
		return "o.subdistributor_id = ?", []any{a.AccountID}
	default:
		return "o.installer_id = ?", []any{a.AccountID}
	}
}

// gateFor answers what actor may do with the payments of installer
// (an installer of the actor's subtree; 0 for the actor's own gate). Who
// pays follows billing.MayPay.
func (s *Store) gateFor(ctx context.Context, q querier, act *model.Actor, installerID int64) (billing.Gate, error) {
	subID := act.SubdistributorID
	chargeMode := ""
	if installerID != 0 {
		if err := q.QueryRowContext(ctx, s.q(`SELECT subdistributor_id, charge_mode FROM accounts WHERE id = ? AND role = 'installer'`),
			installerID).Scan(&subID, &chargeMode); err != nil {
			return billing.Gate{}, err
		}
	} else if act.Role == model.RoleInstaller {
		if err := q.QueryRowContext(ctx, s.q(`SELECT charge_mode FROM accounts WHERE id = ?`), act.AccountID).Scan(&chargeMode); err != nil {
			return billing.Gate{}, err
		}
	}
	if subID == 0 { // the admin or a distributor, about no installer in particular
		return billing.Gate{Enabled: true, CanPay: true}, nil
	}
	var subName string
	var enabled, payByDist bool
	if err := q.QueryRowContext(ctx, s.q(`SELECT username, payment_enabled, pay_by_distributor FROM accounts WHERE id = ?`), subID).
		Scan(&subName, &enabled, &payByDist); err != nil {
		return billing.Gate{}, err
	}
	if !enabled {
		return billing.PaymentsOff(subName), nil
	}
	g := billing.Gate{Enabled: true, CanPay: true}
	if installerID == 0 && act.Role == model.RoleSubdistributor {
		if payByDist {
			g.CanPay, g.Reason = false, billing.ReasonPaidByDistributor
		}
		return g, nil
	}
	g.CanPay, g.Reason = billing.MayPay(act.Role, act.AccountID, billing.DistributorPays(payByDist, chargeMode), chargeMode)
	return g, nil
}

// PaymentGate tells whether Subscriptions and Payments exist for the actor
// and whether it may pay.
func (s *Store) PaymentGate(ctx context.Context) (billing.Gate, error) {
	act, err := actor(ctx)
	if err != nil {
		return billing.Gate{}, err
	}
	return s.gateFor(ctx, s.db, act, 0)
}

// requireGate fails with 403 and the reason when the modules are off for the actor.
func (s *Store) requireGate(ctx context.Context, act *model.Actor) error {
	g, err := s.gateFor(ctx, s.db, act, 0)
	if err != nil {
		return err
	}
	if !g.Enabled {
		return g.Err()
	}
	return nil
}

// orderPricedHook, when a test sets it, runs after an order is checked and
// priced and before it is written, inside the transaction that writes it.
var orderPricedHook func(ctx context.Context)

// CreateOrder creates a Processing order for users of one installer of the
// actor's subtree, priced from the price list in force. The installer, its
// users and the prices are read and checked in the transaction that writes
// the order — locked on PostgreSQL, under SQLite's write lock taken at
// BEGIN — so what was checked is what is written: a price change, a user
// deleted, moved or paid meanwhile waits for the order or is seen by it.
func (s *Store) CreateOrder(ctx context.Context, req *billing.OrderRequest) (*billing.Order, error) {
	act, err := actor(ctx)
	if err != nil {
		return nil, err
	}
	typ, err := req.Validate()
	if err != nil {
		return nil, err
	}
	var o *billing.Order
	err = s.inTx(ctx, func(tx *Tx) error {
		// The installer must be in the actor's subtree; locked so that it
		// is not moved to another subtree before the order is written.
		cond, args := accountScope(act, "a")
		var inst model.Account
		err := tx.queryRow(ctx, `SELECT a.id, a.username, a.distributor_id, a.subdistributor_id FROM accounts a
			WHERE a.id = ? AND a.role = 'installer' AND `+cond+s.lockFor(" FOR SHARE OF a"),
			append([]any{req.InstallerID}, args...)...).Scan(&inst.ID, &inst.Username, &inst.DistributorID, &inst.SubdistributorID)
		if isNoRows(err) {
			return model.Invalid("installer_id", "no such installer")
		} else if err != nil {
			return err
		}
		g, err := s.gateFor(ctx, tx.tx, act, inst.ID)
		if err != nil {
			return err
		}
		if !g.Enabled {
			return g.Err()
		}
		if act.Role == model.RoleInstaller && !g.CanPay {
			return g.Err()
		}
		// The price list is locked first (waiting for a price change in
		// flight), then read by a statement of its own: a statement sees
		// what was committed when it began, so the one that waited would
		// miss an override the change inserted. Rows are locked in key
		// order, as PutPrices locks them.
		if s.dialect == Postgres {
			if _, err := tx.exec(ctx, `SELECT item FROM price_items WHERE distributor_id = 0 OR distributor_id = ? ORDER BY distributor_id, item FOR SHARE`,
				inst.DistributorID); err != nil {
				return err
			}
		}
		prices, err := s.pricesFor(ctx, tx.tx, inst.DistributorID)
		if err != nil {
			return err
		}
		users, err := s.orderUsers(ctx, tx, inst.ID, req.Items)
		if err != nil {
			return err
		}
		now := s.now()
		o = &billing.Order{Type: typ, InstallerID: inst.ID, Installer: inst.Username, SubdistributorID: inst.SubdistributorID,
			DistributorID: inst.DistributorID, ProjectType: req.ProjectType, Status: billing.StatusProcessing, Currency: prices.Currency,
			Created: now, ProcessingSince: now, Updated: now, Project: "-"}
		if err := billing.PriceOrder(o, req, typ, users, prices, now); err != nil {
			return err
		}
		if orderPricedHook != nil {
			orderPricedHook(ctx)
		}
		return s.insertOrder(ctx, tx, act, o)
	})
	if err != nil {
		return nil, err
	}
	return o, nil
}

// lockFor is clause on PostgreSQL and nothing on SQLite, whose writer holds
// the database from BEGIN (_txlock=immediate).
func (s *Store) lockFor(clause string) string {
	if s.dialect == Postgres {
		return clause
	}
	return ""
}

// orderUsers reads the users an order names, of one installer, in one
// query; on PostgreSQL they stay locked until the order is written.
func (s *Store) orderUsers(ctx context.Context, tx *Tx, installerID int64, lines []billing.OrderLine) (map[int64]billing.OrderUser, error) {
	args := []any{installerID}
	for _, l := range lines {
		args = append(args, l.UserID)
	}
	ph := strings.TrimSuffix(strings.Repeat("?,", len(lines)), ",")
	rows, err := tx.query(ctx, `SELECT u.id, u.name, u.role, u.active, u.app_expires_at, u.premium_expires_at, u.project_id, p.kind, p.name
		FROM end_users u JOIN projects p ON p.id = u.project_id WHERE u.installer_id = ? AND u.id IN (`+ph+`) ORDER BY u.id`+
		s.lockFor(" FOR UPDATE OF u"), args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	users := map[int64]billing.OrderUser{}
	for rows.Next() {
		var u billing.OrderUser
		if err := rows.Scan(&u.ID, &u.Name, &u.Role, &u.Active, &u.AppExpires, &u.PremiumExpires, &u.ProjectID, &u.ProjectKind, &u.ProjectName); err != nil {
			return nil, err
		}
		users[u.ID] = u
	}
	return users, rows.Err()
}

// insertOrder writes a priced order with its items and first history line.
func (s *Store) insertOrder(ctx context.Context, tx *Tx, act *model.Actor, o *billing.Order) error {
	now := o.Created
	for try := 0; ; try++ {
		o.Number = billing.NewOrderNumber(now)
		var taken int
		if err := tx.queryRow(ctx, `SELECT count(*) FROM orders WHERE number = ?`, o.Number).Scan(&taken); err != nil {
			return err
		}
		if taken == 0 || try > 5 {
			break
		}
	}
	err := tx.queryRow(ctx, `INSERT INTO orders (number, type, installer_id, subdistributor_id, distributor_id, created_by, project_id,
		project_name, project_type, status, counts, total, currency, created_at, processing_since, updated_at)
		VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?) RETURNING id`,
		o.Number, o.Type, o.InstallerID, o.SubdistributorID, o.DistributorID, nullID(act.AccountID), nullID(o.ProjectID),
		o.Project, o.ProjectType, o.Status, o.Counts, o.Total, o.Currency, now, now, now).Scan(&o.ID)
	if err != nil {
		return err
	}
	for _, it := range o.Items {
		months := it.Months
		if it.Days > 0 {
			// A renewal by day: the months column (CHECK 1 to 60) holds
			// the months it spans, rounded up; days the exact period.
			months = (it.Days + 30) / 31
		}
		if _, err := tx.exec(ctx, `INSERT INTO order_items (order_id, end_user_id, user_name, item, service, months, days, amount) VALUES (?,?,?,?,?,?,?,?)`,
			o.ID, it.EndUserID, it.UserName, it.Item, it.Service, months, it.Days, it.Amount); err != nil {
			return err
		}
	}
	if err := s.orderEvent(ctx, tx, o.ID, billing.StatusProcessing, fmt.Sprintf("Order created by %s.", act.Username)); err != nil {
		return err
	}
	return s.audit(ctx, tx, "order.create", "order", o.Number, map[string]any{"type": o.Type, "total": o.Total, "counts": o.Counts})
}

func (s *Store) orderEvent(ctx context.Context, tx *Tx, orderID int64, st billing.Status, msg string) error {
	if _, err := tx.exec(ctx, `INSERT INTO order_events (order_id, at, status, message) VALUES (?,?,?,?)`, orderID, s.now(), st, msg); err != nil {
		return err
	}
	switch st {
	case billing.StatusCompleted:
		return s.emitOrderWebhook(ctx, tx, orderID, model.EventOrderCompleted)
	case billing.StatusFailed:
		return s.emitOrderWebhook(ctx, tx, orderID, model.EventOrderFailed)
	case billing.StatusTimeout:
		return s.emitOrderWebhook(ctx, tx, orderID, model.EventOrderTimedOut)
	}
	return nil
}

const orderCols = `o.id, o.number, o.type, o.installer_id, ia.username, o.subdistributor_id, o.distributor_id, o.payer_id, o.project_id,
	o.project_name, o.project_type, o.status, o.counts, o.total, o.currency, o.provider, o.provider_ref, o.hidden,
	o.created_at, o.processing_since, o.paid_at, o.updated_at, ia.charge_mode, sa.pay_by_distributor`

const orderFrom = `orders o JOIN accounts ia ON ia.id = o.installer_id JOIN accounts sa ON sa.id = o.subdistributor_id`

func scanOrder(r scanner) (*billing.Order, error) {
	var o billing.Order
	var payByDist bool
	err := r.Scan(&o.ID, &o.Number, &o.Type, &o.InstallerID, &o.Installer, &o.SubdistributorID, &o.DistributorID, nid(&o.PayerID), nid(&o.ProjectID),
		&o.Project, &o.ProjectType, &o.Status, &o.Counts, &o.Total, &o.Currency, &o.Provider, &o.ProviderRef, &o.Hidden,
		&o.Created, &o.ProcessingSince, &o.Paid, &o.Updated, &o.ChargeMode, &payByDist)
	o.DistributorPays = billing.DistributorPays(payByDist, o.ChargeMode)
	return &o, err
}

// scanOrderFor scans an order and says whether act may pay it now
// (the payment feature being on: the callers checked it).
func scanOrderFor(act *model.Actor) func(r scanner) (*billing.Order, error) {
	return func(r scanner) (*billing.Order, error) {
		o, err := scanOrder(r)
		if err != nil {
			return o, err
		}
		payability(act, o)
		return o, nil
	}
}

func payability(act *model.Actor, o *billing.Order) {
	ok, why := billing.MayPay(act.Role, act.AccountID, o.DistributorPays, o.ChargeMode)
	o.CanPay, o.PayNote = ok && billing.Payable(o.Status), ""
	if !ok && billing.Payable(o.Status) {
		o.PayNote = why
	}
}

// ListOrders is the Payments module's search: created time range, type,
// status, installer and order number; hidden orders are left out.
func (s *Store) ListOrders(ctx context.Context, f billing.OrderFilter) (model.List[*billing.Order], error) {
	act, err := actor(ctx)
	if err != nil {
		return model.List[*billing.Order]{}, err
	}
	if err := s.requireGate(ctx, act); err != nil {
		return model.List[*billing.Order]{}, err
	}
	cond, args := orderScope(act)
	where := []string{cond, "o.hidden = false"}
	if f.CreatedFrom != nil {
		where, args = append(where, "o.created_at >= ?"), append(args, f.CreatedFrom.UTC())
	}
	if f.CreatedTo != nil {
		where, args = append(where, "o.created_at < ?"), append(args, f.CreatedTo.UTC())
	}
	if f.Type != "" {
		where, args = append(where, "o.type = ?"), append(args, f.Type)
	}
	if f.Status != "" {
		where, args = append(where, "o.status = ?"), append(args, f.Status)
	}
	if f.InstallerID != 0 {
		where, args = append(where, "o.installer_id = ?"), append(args, f.InstallerID)
	}
	if n := strings.TrimSpace(f.Number); n != "" {
		where, args = append(where, `lower(o.number) LIKE ? ESCAPE '\'`), append(args, likeContains(n))
	}
	return list(ctx, s, orderFrom, strings.Join(where, " AND "), "o.created_at DESC, o.id DESC", orderCols, args, f.Page, scanOrderFor(act))
}

// GetOrder returns an order of the actor's subtree with its items and history.
func (s *Store) GetOrder(ctx context.Context, number string) (*billing.Order, error) {
	act, err := actor(ctx)
	if err != nil {
		return nil, err
	}
	if err := s.requireGate(ctx, act); err != nil {
		return nil, err
	}
	return s.getOrder(ctx, s.db, act, number)
}

func (s *Store) getOrder(ctx context.Context, q querier, act *model.Actor, number string) (*billing.Order, error) {
	cond, args := orderScope(act)
	o, err := scanOrderFor(act)(q.QueryRowContext(ctx, s.q(`SELECT `+orderCols+` FROM `+orderFrom+` WHERE o.number = ? AND `+cond),
		append([]any{number}, args...)...))
	if isNoRows(err) {
		return nil, model.NotFound("order")
	} else if err != nil {
		return nil, err
	}
	if o.Status == billing.StatusCompleted {
		var seq int64
		if err := q.QueryRowContext(ctx, s.q(`SELECT seq FROM invoices WHERE order_id = ?`), o.ID).Scan(&seq); err == nil {
			o.InvoiceNumber = billing.InvoiceNumber(seq)
		} else if !isNoRows(err) {
			return nil, err
		}
	}
	rows, err := q.QueryContext(ctx, s.q(`SELECT i.end_user_id, i.user_name, i.item, i.service, i.months, i.days, i.amount, i.new_expires_at,
		u.app_expires_at, u.premium_expires_at
		FROM order_items i LEFT JOIN end_users u ON u.id = i.end_user_id WHERE i.order_id = ? ORDER BY i.id`), o.ID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	now := s.now()
	for rows.Next() {
		var it billing.OrderItem
		var current, premium *time.Time
		if err := rows.Scan(nid(&it.EndUserID), &it.UserName, &it.Item, &it.Service, &it.Months, &it.Days, &it.Amount, &it.NewExpires,
			&current, &premium); err != nil {
			return nil, err
		}
		if it.Service == "premium" {
			current = premium
		}
		if it.Days > 0 {
			it.Months = 0 // the stored months only satisfy the column's CHECK
			// The Next Expiration Date of a renewal by day.
			if it.NewExpires != nil {
				it.NextExpires = it.NewExpires
			} else if it.EndUserID != 0 && o.Status != billing.StatusCompleted {
				next := billing.ExtendDays(current, now, it.Days)
				it.NextExpires = &next
			}
		}
		o.Items = append(o.Items, it)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	rows.Close()
	ev, err := q.QueryContext(ctx, s.q(`SELECT at, status, message FROM order_events WHERE order_id = ? ORDER BY id`), o.ID)
	if err != nil {
		return nil, err
	}
	defer ev.Close()
	for ev.Next() {
		var e billing.OrderEvent
		if err := ev.Scan(&e.At, &e.Status, &e.Message); err != nil {
			return nil, err
		}
		o.Events = append(o.Events, e)
	}
	return o, ev.Err()
}

// moveOrder changes the status of an order when its current status allows
// it: one UPDATE … WHERE status IN (…), so concurrent moves apply once.
// It reports whether this call moved it.
func (s *Store) moveOrder(ctx context.Context, tx *Tx, orderID int64, to billing.Status, extra string, extraArgs ...any) (bool, error) {
	from := billing.From(to)
	ph := strings.TrimSuffix(strings.Repeat("?,", len(from)), ",")
	args := []any{to, s.now()}
	args = append(args, extraArgs...)
	args = append(args, orderID)
	for _, f := range from {
		args = append(args, f)
	}
	res, err := tx.exec(ctx, `UPDATE orders SET status = ?, updated_at = ?`+extra+` WHERE id = ? AND status IN (`+ph+`)`, args...)
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

// CancelOrder cancels a Processing order.
func (s *Store) CancelOrder(ctx context.Context, number string) error {
	act, err := actor(ctx)
	if err != nil {
		return err
	}
	if err := s.requireGate(ctx, act); err != nil {
		return err
	}
	return s.inTx(ctx, func(tx *Tx) error {
		o, err := s.getOrder(ctx, tx.tx, act, number)
		if err != nil {
			return err
		}
		if o.Status != billing.StatusProcessing {
			return model.Errorf(model.ECONFLICT, "Only a Processing order can be cancelled; this one is %s.", o.Status.Label())
		}
		ok, err := s.moveOrder(ctx, tx, o.ID, billing.StatusCancel, "")
		if err != nil {
			return err
		} else if !ok {
			return model.Errorf(model.ECONFLICT, "The order changed meanwhile; reload it.")
		}
		if err := s.orderEvent(ctx, tx, o.ID, billing.StatusCancel, fmt.Sprintf("Cancelled by %s.", act.Username)); err != nil {
			return err
		}
		return s.audit(ctx, tx, "order.cancel", "order", o.Number, nil)
	})
}

// HideOrder deletes an order from the Payments list (it stays for the
// books). A Processing order must be cancelled first.
func (s *Store) HideOrder(ctx context.Context, number string) error {
	act, err := actor(ctx)
	if err != nil {
		return err
	}
	if err := s.requireGate(ctx, act); err != nil {
		return err
	}
	return s.inTx(ctx, func(tx *Tx) error {
		o, err := s.getOrder(ctx, tx.tx, act, number)
		if err != nil {
			return err
		}
		if o.Status == billing.StatusProcessing || o.Status == billing.StatusSystemProcessing {
			return model.Errorf(model.ECONFLICT, "A %s order cannot be deleted; cancel it first.", o.Status.Label())
		}
		if _, err := tx.exec(ctx, `UPDATE orders SET hidden = true, updated_at = ? WHERE id = ?`, s.now(), o.ID); err != nil {
			return err
		}
		return s.audit(ctx, tx, "order.delete", "order", o.Number, nil)
	})
}

// TimeoutOrders turns Processing orders unpaid for longer than period into
// Timeout orders (the admin's or the system's job). It returns how many.
func (s *Store) TimeoutOrders(ctx context.Context, period time.Duration) (int, error) {
	act, err := actor(ctx)
	if err != nil {
		return 0, err
	}
	if act.Role != model.RoleAdmin {
		return 0, model.Errorf(model.EFORBIDDEN, "Only the system times orders out.")
	}
	cutoff := s.now().Add(-period)
	rows, err := s.query(ctx, `SELECT id, number FROM orders WHERE status = 'processing' AND processing_since < ? ORDER BY id LIMIT 1000`, cutoff)
	if err != nil {
		return 0, err
	}
	type ref struct {
		id     int64
		number string
	}
	var due []ref
	for rows.Next() {
		var r ref
		if err := rows.Scan(&r.id, &r.number); err != nil {
			rows.Close()
			return 0, err
		}
		due = append(due, r)
	}
	rows.Close()
	n := 0
	for _, r := range due {
		err := s.inTx(ctx, func(tx *Tx) error {
			// Guarded again: the order may have been paid since the select.
			res, err := tx.exec(ctx, `UPDATE orders SET status = 'timeout', updated_at = ? WHERE id = ? AND status = 'processing' AND processing_since < ?`,
				s.now(), r.id, cutoff)
			if err != nil {
				return err
			}
			if k, _ := res.RowsAffected(); k == 0 {
				return nil
			}
			n++
			if err := s.orderEvent(ctx, tx, r.id, billing.StatusTimeout, fmt.Sprintf("Not paid within %s.", period)); err != nil {
				return err
			}
			return s.audit(ctx, tx, "order.timeout", "order", r.number, nil)
		})
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// RunOrderTimeouts times Processing orders out every `every` until ctx
// ends, and returns then (period: how long an order may stay unpaid; 0 means
// the default). The caller owns its goroutine and waits for it before
// closing the store. Each round has a deadline.
func RunOrderTimeouts(ctx context.Context, st *Store, period, every time.Duration, logf func(format string, args ...any)) {
	if period <= 0 {
		period = billing.DefaultOrderTimeout
	}
	if every <= 0 {
		every = time.Minute
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		rctx, cancel := context.WithTimeout(model.WithActor(ctx, model.System), orderTimeoutRound)
		n, err := st.TimeoutOrders(rctx, period)
		cancel()
		if err != nil && ctx.Err() == nil && logf != nil {
			logf("order timeouts: %v", err)
		} else if n > 0 && logf != nil {
			logf("order timeouts: %d orders timed out", n)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// orderTimeoutRound bounds one round of RunOrderTimeouts.
const orderTimeoutRound = time.Minute
