package store

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/billing"
	"github.com/gatehouse-dev/gatehouse/internal/model"
)

// IssueCoupon lets a distributor (or the admin) issue a coupon to a
// sub-distributor of its subtree, in the currency of its price list.
func (s *Store) IssueCoupon(ctx context.Context, c *billing.Coupon) error {
	act, err := actor(ctx)
	if err != nil {
		return err
	}
	if act.Role != model.RoleDistributor && act.Role != model.RoleAdmin {
		return model.Errorf(model.EFORBIDDEN, "Only a distributor issues coupons.")
	}
	if err := billing.ValidateCoupon(c, s.now()); err != nil {
		return err
	}
	cond, args := accountScope(act, "a")
	var distID int64
	err = s.queryRow(ctx, `SELECT a.distributor_id, a.username FROM accounts a WHERE a.id = ? AND a.role = 'subdistributor' AND `+cond,
		append([]any{c.SubdistributorID}, args...)...).Scan(&distID, &c.Subdistributor)
	if isNoRows(err) {
		return model.Invalid("subdistributor_id", "no such sub-distributor")
	} else if err != nil {
		return err
	}
	prices, err := s.pricesFor(ctx, s.db, distID)
	if err != nil {
		return err
	}
	c.Currency, c.Balance, c.Created = prices.Currency, c.Value, s.now()
	return s.inTx(ctx, func(tx *Tx) error {
		err := tx.queryRow(ctx, `INSERT INTO coupons (code, subdistributor_id, distributor_id, value, balance, currency, expires_at, issued_by, created_at)
			VALUES (?,?,?,?,?,?,?,?,?) RETURNING id`, c.Code, c.SubdistributorID, distID, c.Value, c.Balance, c.Currency, c.Expires.UTC(),
			nullID(act.AccountID), c.Created).Scan(&c.ID)
		if isUniqueViolation(err) {
			return model.Errorf(model.ECONFLICT, "A coupon with code %s exists already.", c.Code).
				WithField("code", "is taken")
		} else if err != nil {
			return err
		}
		c.State = c.StateAt(s.now())
		return s.audit(ctx, tx, "coupon.issue", "coupon", c.ID, map[string]any{"code": c.Code, "value": c.Value, "subdistributor": c.Subdistributor})
	})
}

// ListCoupons lists coupons: a sub-distributor its own, a distributor those
// of its sub-distributors, by state (normal, used, expired).
func (s *Store) ListCoupons(ctx context.Context, f billing.CouponFilter) (model.List[*billing.Coupon], error) {
	act, err := actor(ctx)
	if err != nil {
		return model.List[*billing.Coupon]{}, err
	}
	var where []string
	var args []any
	switch act.Role {
	case model.RoleAdmin:
		where = []string{"1=1"}
	case model.RoleDistributor:
		where, args = []string{"c.distributor_id = ?"}, []any{act.AccountID}
	case model.RoleSubdistributor:
		if err := s.requireGate(ctx, act); err != nil {
			return model.List[*billing.Coupon]{}, err
		}
		where, args = []string{"c.subdistributor_id = ?"}, []any{act.AccountID}
	default:
		return model.List[*billing.Coupon]{}, model.Errorf(model.EFORBIDDEN, "Coupons belong to your sub-distributor.")
	}
	if f.SubdistributorID != 0 {
		where, args = append(where, "c.subdistributor_id = ?"), append(args, f.SubdistributorID)
	}
	now := s.now()
	switch f.State {
	case billing.CouponNormal:
		where, args = append(where, "c.balance > 0 AND c.expires_at > ?"), append(args, now)
	case billing.CouponUsed:
		where = append(where, "c.balance = 0")
	case billing.CouponExpired:
		where, args = append(where, "c.balance > 0 AND c.expires_at <= ?"), append(args, now)
	}
	return list(ctx, s, "coupons c JOIN accounts sa ON sa.id = c.subdistributor_id", strings.Join(where, " AND "),
		"c.expires_at, c.id", `c.id, c.code, c.subdistributor_id, sa.username, c.value, c.balance, c.currency, c.expires_at, c.created_at`,
		args, f.Page, func(r scanner) (*billing.Coupon, error) {
			var c billing.Coupon
			err := r.Scan(&c.ID, &c.Code, &c.SubdistributorID, &c.Subdistributor, &c.Value, &c.Balance, &c.Currency, &c.Expires, &c.Created)
			c.State = c.StateAt(now)
			return &c, err
		})
}

// GetBillingInfo returns the actor's own billing information.
func (s *Store) GetBillingInfo(ctx context.Context) (*billing.Info, error) {
	act, err := actor(ctx)
	if err != nil {
		return nil, err
	}
	return s.billingInfoOf(ctx, s.db, act.AccountID)
}

func (s *Store) billingInfoOf(ctx context.Context, q querier, accountID int64) (*billing.Info, error) {
	var b billing.Info
	err := q.QueryRowContext(ctx, s.q(`SELECT company, attn, address, tel, fax, email FROM billing_info WHERE account_id = ?`), accountID).
		Scan(&b.Company, &b.ATTN, &b.Address, &b.TEL, &b.Fax, &b.Email)
	if isNoRows(err) {
		// Nothing saved yet: start from the account's own details.
		var a model.Account
		if err := q.QueryRowContext(ctx, s.q(`SELECT name, company, email, phone FROM accounts WHERE id = ?`), accountID).Scan(&a.Name, &a.Company, &a.Email, &a.Phone); err == nil {
			return &billing.Info{Company: a.Company, ATTN: a.Name, Email: a.Email, TEL: a.Phone}, nil
		}
		return &billing.Info{}, nil
	}
	return &b, err
}

// PutBillingInfo saves the actor's own billing information.
func (s *Store) PutBillingInfo(ctx context.Context, b *billing.Info) error {
	act, err := actor(ctx)
	if err != nil {
		return err
	}
	if act.AccountID == 0 {
		return model.Errorf(model.EFORBIDDEN, "The system has no billing information.")
	}
	if err := b.Validate(); err != nil {
		return err
	}
	return s.inTx(ctx, func(tx *Tx) error {
		if _, err := tx.exec(ctx, `DELETE FROM billing_info WHERE account_id = ?`, act.AccountID); err != nil {
			return err
		}
		if _, err := tx.exec(ctx, `INSERT INTO billing_info (account_id, company, attn, address, tel, fax, email, updated_at) VALUES (?,?,?,?,?,?,?,?)`,
			act.AccountID, b.Company, b.ATTN, b.Address, b.TEL, b.Fax, b.Email, s.now()); err != nil {
			return err
		}
		return s.audit(ctx, tx, "billing_info.update", "account", act.AccountID, nil)
	})
}

// InvoiceFor returns the invoice of a completed order of the actor's
// subtree, as it was frozen when the order completed.
func (s *Store) InvoiceFor(ctx context.Context, number string) (*billing.Invoice, error) {
	o, err := s.GetOrder(ctx, number)
	if err != nil {
		return nil, err
	}
	if o.Status != billing.StatusCompleted {
		return nil, model.Errorf(model.ECONFLICT, "Only a completed order has an invoice; this one is %s.", o.Status.Label())
	}
	inv := &billing.Invoice{OrderNumber: o.Number}
	err = s.queryRow(ctx, `SELECT issuer_id, seq, issued_at, payer_id, order_type, installer_name, project_name, counts, total, currency,
		seller_company, seller_attn, seller_address, seller_tel, seller_fax, seller_email,
		payer_company, payer_attn, payer_address, payer_tel, payer_fax, payer_email FROM invoices WHERE order_id = ?`, o.ID).
		Scan(&inv.IssuerID, &inv.Seq, &inv.Issued, nid(&inv.PayerID), &inv.Type, &inv.Installer, &inv.Project, &inv.Counts, &inv.Total, &inv.Currency,
			&inv.Seller.Company, &inv.Seller.ATTN, &inv.Seller.Address, &inv.Seller.TEL, &inv.Seller.Fax, &inv.Seller.Email,
			&inv.Payer.Company, &inv.Payer.ATTN, &inv.Payer.Address, &inv.Payer.TEL, &inv.Payer.Fax, &inv.Payer.Email)
	if isNoRows(err) {
		// Every completion and the migration write one: its absence is a bug, not the caller's.
		return nil, fmt.Errorf("order %s is completed but has no invoice", o.Number)
	} else if err != nil {
		return nil, err
	}
	inv.Number = billing.InvoiceNumber(inv.Seq)
	rows, err := s.query(ctx, `SELECT user_name, item, description, service, months, amount, new_expires_at FROM invoice_lines WHERE order_id = ? ORDER BY line`, o.ID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var l billing.InvoiceLine
		if err := rows.Scan(&l.UserName, &l.Item, &l.Description, &l.Service, &l.Months, &l.Amount, &l.NewExpires); err != nil {
			return nil, err
		}
		inv.Lines = append(inv.Lines, l)
	}
	return inv, rows.Err()
}

// issueInvoice freezes the invoice of order o, which this transaction has
// just completed: the seller's and the payer's billing information as they
// are now, the order's lines and total, and the issuer's next invoice
// number. Called only by complete, whose guarded UPDATE lets one
// transaction per order get here.
func (s *Store) issueInvoice(ctx context.Context, tx *Tx, o *billing.Order, now time.Time) error {
	var payerID int64
	if err := tx.queryRow(ctx, `SELECT COALESCE(payer_id, subdistributor_id) FROM orders WHERE id = ?`, o.ID).Scan(&payerID); err != nil {
		return err
	}
	seller, err := s.billingInfoOf(ctx, tx.tx, o.DistributorID)
	if err != nil {
		return err
	}
	payer, err := s.billingInfoOf(ctx, tx.tx, payerID)
	if err != nil {
		return err
	}
	// The counter row is written in this transaction: concurrent payments
	// of one issuer queue on it, and a rollback returns the number.
	var seq int64
	if err := tx.queryRow(ctx, `INSERT INTO invoice_counters (issuer_id, last_seq) VALUES (?, 1)
		ON CONFLICT (issuer_id) DO UPDATE SET last_seq = invoice_counters.last_seq + 1 RETURNING last_seq`, o.DistributorID).Scan(&seq); err != nil {
		return err
	}
	if _, err := tx.exec(ctx, `INSERT INTO invoices (order_id, issuer_id, seq, issued_at, payer_id, order_type, installer_name, project_name, counts, total, currency,
		seller_company, seller_attn, seller_address, seller_tel, seller_fax, seller_email,
		payer_company, payer_attn, payer_address, payer_tel, payer_fax, payer_email) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)`,
		o.ID, o.DistributorID, seq, now, payerID, o.Type, o.Installer, o.Project, o.Counts, o.Total, o.Currency,
		seller.Company, seller.ATTN, seller.Address, seller.TEL, seller.Fax, seller.Email,
		payer.Company, payer.ATTN, payer.Address, payer.TEL, payer.Fax, payer.Email); err != nil {
		return err
	}
	for i, it := range o.Items {
		desc := it.Item.Label()
		if it.Days > 0 {
			desc += fmt.Sprintf(" (renewal by day: %d days)", it.Days) // months is 0
		}
		if _, err := tx.exec(ctx, `INSERT INTO invoice_lines (order_id, line, user_name, item, description, service, months, amount, new_expires_at)
			VALUES (?,?,?,?,?,?,?,?,?)`, o.ID, i+1, it.UserName, it.Item, desc, it.Service, it.Months, it.Amount, it.NewExpires); err != nil {
			return err
		}
	}
	o.InvoiceNumber = billing.InvoiceNumber(seq)
	return nil
}

// ListBillableUsers lists an installer's users the Subscriptions module can
// pay for: not yet active ones (mode active) or services expired or
// expiring before a date (mode renew).
func (s *Store) ListBillableUsers(ctx context.Context, f billing.BillableFilter) ([]billing.BillableUser, error) {
	act, err := actor(ctx)
	if err != nil {
		return nil, err
	}
	if err := s.requireGate(ctx, act); err != nil {
		return nil, err
	}
	cond, args := installerScope(act, "u.installer_id")
	where := []string{cond, "u.installer_id = ?", "p.kind = ?"}
	args = append(args, f.InstallerID, billing.ProjectKindOf(f.ProjectType))
	if f.ProjectID != 0 {
		where, args = append(where, "u.project_id = ?"), append(args, f.ProjectID)
	}
	premium := f.ServiceType == "premium"
	switch f.ServiceType {
	case "family_master", "family_member", "property_manager":
		where, args = append(where, "u.role = ?"), append(args, f.ServiceType)
	case "premium":
		where = append(where, "u.role = 'family_master'")
	}
	if f.Mode == "renew" {
		col := "u.app_expires_at"
		if premium {
			col = "u.premium_expires_at"
		}
		where = append(where, col+" IS NOT NULL")
		if !f.ExpiringBefore.IsZero() {
			where, args = append(where, col+" < ?"), append(args, f.ExpiringBefore.UTC())
		}
	} else if premium {
		where = append(where, "u.premium_expires_at IS NULL")
	} else {
		where = append(where, "u.active = false")
	}
	order := "u.id"
	switch f.Sort {
	case "apt":
		order = "a.number, u.id"
	case "apt_name":
		order = "a.name, u.id"
	}
	rows, err := s.query(ctx, `SELECT u.id, u.name, u.role, p.kind, p.name, p.id, COALESCE(a.number, ''), COALESCE(a.name, ''), u.active,
		u.app_expires_at, u.premium_expires_at FROM end_users u JOIN projects p ON p.id = u.project_id
		LEFT JOIN apartments a ON a.id = u.apartment_id WHERE `+strings.Join(where, " AND ")+` ORDER BY `+order+` LIMIT 500`, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []billing.BillableUser{}
	for rows.Next() {
		var b billing.BillableUser
		var kind model.ProjectKind
		if err := rows.Scan(&b.ID, &b.Name, &b.Role, &kind, &b.Project, &b.ProjectID, &b.Apartment, &b.AptName, &b.Active,
			&b.AppExpires, &b.PremiumExpires); err != nil {
			return nil, err
		}
		svc := "app"
		if premium {
			svc = "premium"
		}
		b.Item, _ = billing.ItemFor(kind, model.EndUserRole(b.Role), svc)
		if kind == model.ProjectPersonal {
			b.Project = "-"
		}
		out = append(out, b)
	}
	return out, rows.Err()
}
