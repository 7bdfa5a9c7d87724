package store

import (
	"context"

	"github.com/gatehouse-dev/gatehouse/internal/billing"
	"github.com/gatehouse-dev/gatehouse/internal/model"
)

// Price lists: the admin's default (distributor_id 0) and each
// distributor's overrides of single items.

// GetPrices returns the price list in force for the actor: its
// distributor's overrides over the admin's default.
func (s *Store) GetPrices(ctx context.Context) (billing.PriceList, error) {
	act, err := actor(ctx)
	if err != nil {
		return billing.PriceList{}, err
	}
	return s.pricesFor(ctx, s.db, act.DistributorID)
}

// pricesFor reads a distributor's price list.
func (s *Store) pricesFor(ctx context.Context, q querier, distributorID int64) (billing.PriceList, error) {
	rows, err := q.QueryContext(ctx, s.q(`SELECT distributor_id, item, activation_fee, monthly_fee, currency FROM price_items
		WHERE distributor_id = 0 OR distributor_id = ? ORDER BY distributor_id`), distributorID)
	if err != nil {
		return billing.PriceList{}, err
	}
	defer rows.Close()
	byItem := map[billing.Item]billing.Price{}
	for rows.Next() {
		var did int64
		var p billing.Price
		if err := rows.Scan(&did, &p.Item, &p.ActivationFee, &p.MonthlyFee, &p.Currency); err != nil {
			return billing.PriceList{}, err
		}
		p.Overridden = did != 0
		byItem[p.Item] = p // overrides come last
	}
	if err := rows.Err(); err != nil {
		return billing.PriceList{}, err
	}
	l := billing.PriceList{Items: []billing.Price{}}
	for _, it := range billing.Items {
		p, ok := byItem[it]
		if !ok {
			continue
		}
		p.Label = it.Label()
		l.Items = append(l.Items, p)
		if l.Currency == "" || !p.Overridden {
			l.Currency = p.Currency
		}
	}
	return l, nil
}

// PutPrices sets prices: the admin sets the default list, a distributor
// overrides items of it for its subtree. Items left out keep their price.
func (s *Store) PutPrices(ctx context.Context, ps []billing.Price) error {
	act, err := actor(ctx)
	if err != nil {
		return err
	}
	var owner int64
	switch act.Role {
	case model.RoleAdmin:
		owner = 0
	case model.RoleDistributor:
		owner = act.AccountID
	default:
		return model.Errorf(model.EFORBIDDEN, "Only a distributor or the admin sets prices.")
	}
	if err := billing.ValidatePrices(ps); err != nil {
		return err
	}
	return s.inTx(ctx, func(tx *Tx) error {
		// Every order reads (and on PostgreSQL share-locks) the default
		// list: locking it first makes a price change wait for the orders
		// being priced, and them for it, even where it adds an override.
		if s.dialect == Postgres {
			if _, err := tx.exec(ctx, `SELECT item FROM price_items WHERE distributor_id = 0 ORDER BY item FOR UPDATE`); err != nil {
				return err
			}
		}
		now := s.now()
		for _, p := range ps {
			// Updated in place, not deleted and inserted again: an order
			// waiting on the row's lock then reads its new version, where
			// a deleted row would vanish from the order's price list.
			if _, err := tx.exec(ctx, `INSERT INTO price_items (distributor_id, item, activation_fee, monthly_fee, currency, updated_at)
				VALUES (?,?,?,?,?,?) ON CONFLICT (distributor_id, item) DO UPDATE SET activation_fee = excluded.activation_fee,
				monthly_fee = excluded.monthly_fee, currency = excluded.currency, updated_at = excluded.updated_at`,
				owner, p.Item, p.ActivationFee, p.MonthlyFee, p.Currency, now); err != nil {
				return err
			}
		}
		// One currency: the distributor's overrides follow the default's,
		// and the admin changes the default's currency for every item at once.
		var n int
		if err := tx.queryRow(ctx, `SELECT count(DISTINCT currency) FROM price_items WHERE distributor_id = 0`).Scan(&n); err != nil {
			return err
		}
		if n > 1 {
			return model.Invalid("items[0].currency", "must be the currency of the whole price list; list every item to change it")
		}
		if owner != 0 {
			if err := tx.queryRow(ctx, `SELECT count(*) FROM price_items o WHERE o.distributor_id = ? AND o.currency <>
				(SELECT min(d.currency) FROM price_items d WHERE d.distributor_id = 0)`, owner).Scan(&n); err != nil {
				return err
			}
			if n > 0 {
				return model.Invalid("items[0].currency", "must be the currency of the default price list")
			}
		}
		if pricesWrittenHook != nil {
			pricesWrittenHook(ctx)
		}
		return s.audit(ctx, tx, "prices.update", "price_list", owner, map[string]any{"items": len(ps)})
	})
}

// pricesWrittenHook, when a test sets it, runs after a price change is
// written and before it commits, inside its transaction.
var pricesWrittenHook func(ctx context.Context)
