package store

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/billing"
	"github.com/gatehouse-dev/gatehouse/internal/model"
)

// payable loads an order the actor may pay now, inside tx. On PostgreSQL
// the order's row stays locked until tx ends (SQLite's writer holds the
// database from BEGIN): of two payments of one order at once, the second
// waits and then finds it paid (ECONFLICT) — it used to go on to debit a
// coupon again and fail on the debit's unique key with a 500.
func (s *Store) payable(ctx context.Context, tx *Tx, act *model.Actor, number string) (*billing.Order, error) {
	o, err := s.getOrder(ctx, tx.tx, act, number)
	if err != nil {
		return nil, err
	}
	if s.dialect == Postgres {
		if err := tx.queryRow(ctx, `SELECT status FROM orders WHERE id = ? FOR UPDATE`, o.ID).Scan(&o.Status); err != nil {
			return nil, err
		}
	}
	g, err := s.gateFor(ctx, tx.tx, act, o.InstallerID)
	if err != nil {
		return nil, err
	}
	if !g.Enabled || !g.CanPay {
		return nil, g.Err()
	}
	if !billing.Payable(o.Status) {
		return nil, model.Errorf(model.ECONFLICT, "This order is %s: there is nothing to pay.", o.Status.Label())
	}
	return o, nil
}

// restart puts a Failed or Timeout order back to Processing for a new payment.
func (s *Store) restart(ctx context.Context, tx *Tx, o *billing.Order, how string) error {
	if o.Status == billing.StatusProcessing {
		return nil
	}
	ok, err := s.moveOrder(ctx, tx, o.ID, billing.StatusProcessing, ", processing_since = ?", s.now())
	if err != nil {
		return err
	} else if !ok {
		return model.Errorf(model.ECONFLICT, "The order changed meanwhile; reload it.")
	}
	o.Status = billing.StatusProcessing
	return s.orderEvent(ctx, tx, o.ID, billing.StatusProcessing, "Paying again "+how+".")
}

// PayWithCoupons pays an order in full ("All Fee") from the coupons named
// by code, in the order given: one transaction that debits each coupon at
// most its balance and completes the order, or changes nothing.
func (s *Store) PayWithCoupons(ctx context.Context, number string, codes []string) (*billing.Order, error) {
	act, err := actor(ctx)
	if err != nil {
		return nil, err
	}
	if ok, why := billing.MayUseCoupons(act.Role, act.AccountID); !ok {
		// Checked after the order so that a foreign order stays "not found".
		if _, err := s.getOrder(ctx, s.db, act, number); err != nil {
			return nil, err
		}
		return nil, model.Errorf(model.EFORBIDDEN, "%s", why)
	}
	var v model.Validator
	v.Check(len(codes) > 0 && len(codes) <= 50, "coupons", "must name 1 to 50 coupons")
	seen := map[string]bool{}
	for i, c := range codes {
		codes[i] = strings.ToUpper(strings.TrimSpace(c))
		v.Check(!seen[codes[i]], "coupons", "names %s twice", codes[i])
		seen[codes[i]] = true
	}
	if err := v.Err(); err != nil {
		return nil, err
	}
	var out *billing.Order
	err = s.inTx(ctx, func(tx *Tx) error {
		o, err := s.payable(ctx, tx, act, number)
		if err != nil {
			return err
		}
		if err := s.restart(ctx, tx, o, "by coupon"); err != nil {
			return err
		}
		type cp struct {
			id      int64
			code    string
			balance int64
		}
		var cps []cp
		for _, code := range codes {
			var c cp
			var cur string
			var exp time.Time
			err := tx.queryRow(ctx, `SELECT id, code, currency, expires_at FROM coupons WHERE code = ? AND subdistributor_id = ?`, code, o.SubdistributorID).
				Scan(&c.id, &c.code, &cur, &exp)
			if isNoRows(err) {
				return model.Invalid("coupons", "no such coupon %s", code)
			} else if err != nil {
				return err
			}
			if !s.now().Before(exp) {
				return model.Invalid("coupons", "coupon %s has expired", code)
			}
			if cur != o.Currency {
				return model.Invalid("coupons", "coupon %s is in %s, the order in %s", code, cur, o.Currency)
			}
			cps = append(cps, c)
		}
		// Lock the coupons in id order (no deadlock between two payments
		// naming them in different orders), then read the balances.
		locked := append([]cp(nil), cps...)
		sort.Slice(locked, func(i, j int) bool { return locked[i].id < locked[j].id })
		bal := map[int64]int64{}
		for _, c := range locked {
			q := `SELECT balance FROM coupons WHERE id = ?`
			if s.dialect == Postgres {
				q += ` FOR UPDATE`
			}
			var b int64
			if err := tx.queryRow(ctx, q, c.id).Scan(&b); err != nil {
				return err
			}
			bal[c.id] = b
		}
		left := o.Total
		var used []string
		for _, c := range cps {
			if left == 0 {
				break
			}
			d := min(left, bal[c.id])
			if d <= 0 {
				continue
			}
			res, err := tx.exec(ctx, `UPDATE coupons SET balance = balance - ? WHERE id = ? AND balance >= ?`, d, c.id, d)
			if err != nil {
				return err
			}
			if n, _ := res.RowsAffected(); n != 1 {
				return model.Errorf(model.ECONFLICT, "Coupon %s changed meanwhile; try again.", c.code)
			}
			if _, err := tx.exec(ctx, `INSERT INTO coupon_debits (coupon_id, order_id, amount, at) VALUES (?,?,?,?)`, c.id, o.ID, d, s.now()); err != nil {
				return err
			}
			left -= d
			used = append(used, fmt.Sprintf("%s (%s)", c.code, billing.FormatMoney(d, o.Currency)))
		}
		if left > 0 {
			return model.Invalid("coupons", "cover %s of %s: the coupons must pay the whole order",
				billing.FormatMoney(o.Total-left, o.Currency), billing.FormatMoney(o.Total, o.Currency))
		}
		done, err := s.complete(ctx, tx, act, o, "coupon", "", "Paid by coupon: "+strings.Join(used, ", ")+".")
		if err != nil {
			return err
		} else if !done {
			return model.Errorf(model.ECONFLICT, "The order was paid meanwhile.")
		}
		if err := s.audit(ctx, tx, "order.pay", "order", o.Number, map[string]any{"method": "coupon", "coupons": used}); err != nil {
			return err
		}
		out, err = s.getOrder(ctx, tx.tx, act, number)
		return err
	})
	return out, err
}

// complete moves an order to Completed and applies its effects, once: the
// status UPDATE is guarded, so of two deliveries only one gets here.
func (s *Store) complete(ctx context.Context, tx *Tx, act *model.Actor, o *billing.Order, provider, ref, msg string) (bool, error) {
	now := s.now()
	payer := any(nil)
	if act.AccountID != 0 {
		payer = act.AccountID
	}
	ok, err := s.moveOrder(ctx, tx, o.ID, billing.StatusCompleted, ", paid_at = ?, payer_id = COALESCE(?, payer_id, created_by), provider = ?, provider_ref = CASE WHEN ? = '' THEN provider_ref ELSE ? END",
		now, payer, provider, ref, ref)
	if err != nil || !ok {
		return false, err
	}
	users, err := s.lockOrderUsers(ctx, tx, o.Items)
	if err != nil {
		return false, err
	}
	for i, it := range o.Items {
		u, ok := users[it.EndUserID]
		if !ok {
			continue // the user was deleted meanwhile
		}
		var newExp time.Time
		extend := func(cur *time.Time) time.Time {
			if it.Days > 0 {
				return billing.ExtendDays(cur, now, it.Days)
			}
			return billing.Extend(cur, now, it.Months)
		}
		if it.Service == "premium" {
			newExp = extend(u.PremiumExpires)
			u.PremiumExpires = &newExp
			_, err = tx.exec(ctx, `UPDATE end_users SET premium = true, premium_expires_at = ? WHERE id = ?`, newExp, it.EndUserID)
		} else {
			newExp = extend(u.AppExpires)
			u.AppExpires = &newExp
			_, err = tx.exec(ctx, `UPDATE end_users SET active = true, app_expires_at = ? WHERE id = ?`, newExp, it.EndUserID)
		}
		if err != nil {
			return false, err
		}
		users[it.EndUserID] = u
		if _, err := tx.exec(ctx, `UPDATE order_items SET new_expires_at = ? WHERE order_id = ? AND end_user_id = ? AND service = ?`,
			newExp, o.ID, it.EndUserID, it.Service); err != nil {
			return false, err
		}
		o.Items[i].NewExpires = &newExp
	}
	if err := s.issueInvoice(ctx, tx, o, now); err != nil {
		return false, err
	}
	if o.Status != billing.StatusProcessing && o.Status != billing.StatusSystemProcessing {
		msg += fmt.Sprintf(" The payment arrived after the order was %s: the order is completed and its services applied.", o.Status.Label())
	}
	return true, s.orderEvent(ctx, tx, o.ID, billing.StatusCompleted, msg)
}

// lockOrderUsers reads the expiries of an order's users in one query, in id
// order and (on PostgreSQL) locked, as CreateOrder locks them, so that a
// payment and an order for the same users wait for each other rather than
// deadlock. A deleted user is absent.
func (s *Store) lockOrderUsers(ctx context.Context, tx *Tx, items []billing.OrderItem) (map[int64]billing.OrderUser, error) {
	var args []any
	for _, it := range items {
		if it.EndUserID != 0 {
			args = append(args, it.EndUserID)
		}
	}
	users := map[int64]billing.OrderUser{}
	if len(args) == 0 {
		return users, nil
	}
	ph := strings.TrimSuffix(strings.Repeat("?,", len(args)), ",")
	rows, err := tx.query(ctx, `SELECT id, active, app_expires_at, premium_expires_at FROM end_users WHERE id IN (`+ph+`) ORDER BY id`+
		s.lockFor(" FOR UPDATE"), args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var u billing.OrderUser
		if err := rows.Scan(&u.ID, &u.Active, &u.AppExpires, &u.PremiumExpires); err != nil {
			return nil, err
		}
		users[u.ID] = u
	}
	return users, rows.Err()
}

// PreparePayment checks that the actor may pay an order by a provider now
// and returns it (a Failed or Timeout order goes back to Processing).
func (s *Store) PreparePayment(ctx context.Context, number, provider string) (*billing.Order, error) {
	act, err := actor(ctx)
	if err != nil {
		return nil, err
	}
	var out *billing.Order
	err = s.inTx(ctx, func(tx *Tx) error {
		o, err := s.payable(ctx, tx, act, number)
		if err != nil {
			return err
		}
		if err := s.restart(ctx, tx, o, "by "+provider); err != nil {
			return err
		}
		out = o
		return nil
	})
	return out, err
}

// RecordCheckout notes the provider payment started for an order.
func (s *Store) RecordCheckout(ctx context.Context, number, provider, ref string) error {
	act, err := actor(ctx)
	if err != nil {
		return err
	}
	return s.inTx(ctx, func(tx *Tx) error {
		o, err := s.getOrder(ctx, tx.tx, act, number)
		if err != nil {
			return err
		}
		if _, err := tx.exec(ctx, `UPDATE orders SET provider = ?, provider_ref = ?, payer_id = ?, updated_at = ? WHERE id = ?`,
			provider, ref, nullID(act.AccountID), s.now(), o.ID); err != nil {
			return err
		}
		if err := s.orderEvent(ctx, tx, o.ID, o.Status, fmt.Sprintf("Payment started at %s by %s.", provider, act.Username)); err != nil {
			return err
		}
		return s.audit(ctx, tx, "order.checkout", "order", o.Number, map[string]any{"provider": provider})
	})
}

// ApplyPaymentEvent applies a provider's verified event to its order exactly
// once: the event id is recorded with a unique key in the same transaction
// as its effects, and the order moves by a guarded UPDATE, so a replayed,
// duplicated or concurrent delivery (on any node) changes nothing. It
// reports whether this call changed the order.
func (s *Store) ApplyPaymentEvent(ctx context.Context, provider string, ev billing.Event) (bool, error) {
	act, err := actor(ctx)
	if err != nil {
		return false, err
	}
	applied := false
	err = s.inTx(ctx, func(tx *Tx) error {
		o, err := s.getOrder(ctx, tx.tx, act, ev.OrderNumber)
		if model.ErrorCode(err) == model.ENOTFOUND && ev.ProviderRef != "" && act.Role == model.RoleAdmin {
			var number string
			if e := tx.queryRow(ctx, `SELECT number FROM orders WHERE provider = ? AND provider_ref = ?`, provider, ev.ProviderRef).Scan(&number); e == nil {
				o, err = s.getOrder(ctx, tx.tx, act, number)
			}
		}
		if err != nil {
			return err
		}
		if ev.ID != "" {
			res, err := tx.exec(ctx, `INSERT INTO payment_events (provider, event_id, order_number, kind, received_at) VALUES (?,?,?,?,?)
				ON CONFLICT DO NOTHING`, provider, ev.ID, o.Number, string(ev.Kind), s.now())
			if err != nil {
				return err
			}
			if n, _ := res.RowsAffected(); n == 0 {
				return nil // a repeat: applied before
			}
		}
		switch ev.Kind {
		case billing.EventPaid:
			if (ev.Amount != 0 && ev.Amount != o.Total) || (ev.Currency != "" && !strings.EqualFold(ev.Currency, o.Currency)) {
				return s.orderEvent(ctx, tx, o.ID, o.Status, fmt.Sprintf("%s reported %s paid, the order is %s: not completed, check it at %s.",
					provider, billing.FormatMoney(ev.Amount, strings.ToUpper(ev.Currency)), billing.FormatMoney(o.Total, o.Currency), provider))
			}
			done, err := s.complete(ctx, tx, act, o, provider, ev.ProviderRef, fmt.Sprintf("Paid at %s (event %s).", provider, ev.ID))
			if err != nil {
				return err
			}
			applied = done
			if done {
				return s.audit(ctx, tx, "order.pay", "order", o.Number, map[string]any{"method": provider, "event": ev.ID})
			}
		case billing.EventFailed:
			ok, err := s.moveOrder(ctx, tx, o.ID, billing.StatusFailed, "")
			if err != nil || !ok {
				return err
			}
			applied = true
			return s.orderEvent(ctx, tx, o.ID, billing.StatusFailed, fmt.Sprintf("%s reports the payment failed.", provider))
		case billing.EventPending:
			ok, err := s.moveOrder(ctx, tx, o.ID, billing.StatusSystemProcessing, "")
			if err != nil || !ok {
				return err
			}
			applied = true
			return s.orderEvent(ctx, tx, o.ID, billing.StatusSystemProcessing, fmt.Sprintf("%s is processing the payment.", provider))
		}
		return nil
	})
	return applied, err
}
