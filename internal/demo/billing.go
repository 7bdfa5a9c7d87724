package demo

import (
	"context"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"sort"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/billing"
	"github.com/gatehouse-dev/gatehouse/internal/model"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// Demo coupon codes of demo-subdistributor.
const (
	CouponNormal   = "DEMO-NORMAL-1"
	CouponNormal2  = "DEMO-NORMAL-2"
	CouponUsed     = "DEMO-USED"
	CouponExpired  = "DEMO-EXPIRED"
	demoUsedValue  = 1_000 // minor units: less than the order that spends it
	demoOrderMonth = 24    // months of the renewal that spends DEMO-USED (a total above demoUsedValue)
)

// BillingOptions make the demo's order history reproducible.
type BillingOptions struct {
	// Seed drives the history's choices (dates, users, outcomes). Without
	// options LoadBilling derives one from the data set, which the demo's
	// own seed made, so the history is still the same for the same seed.
	Seed uint64
	// Now is the history's "today"; zero means the store's clock.
	Now time.Time
}

// HistoryOrders is how many orders of demo-subdistributor's installers the
// demo dates across the last year, besides the special ones (coupons spent,
// a late payment, the open orders of today).
const HistoryOrders = 30

// billingUser is a demo end user an order can be made for.
type billingUser struct {
	installer   int64
	projectType string // community | villa | office
	user        billing.BillableUser
}

// LoadBilling adds the money side of the demo: a price-list override for
// demo-distributor, coupons of demo-subdistributor in every state (Normal,
// Used, Expired) and a history of orders dated across the last twelve
// months in every status (Processing, System Processing, Completed, Failed,
// Timeout, Cancel): paid by coupon, Stripe and PayPal by demo-subdistributor,
// by one of its installers (charge mode "installer") for its own users, and
// by demo-distributor for the installers of its Pay by Distributor
// sub-distributor. demo-installer's users are left alone for people trying
// the modules. Everything goes
// through the store with its clock set to each step's time, so every
// timestamp, history line, audit entry and new expiry date is that of its
// day; the clock is put back afterwards.
func LoadBilling(ctx context.Context, st *store.Store, opts ...BillingOptions) (err error) {
	ctx = model.WithActor(ctx, model.System)
	acc := func(name string) (*model.Account, error) {
		a, _, err := st.AccountForLogin(ctx, name)
		if err != nil {
			return nil, fmt.Errorf("demo billing: %s: %w", name, err)
		}
		return a, nil
	}
	dist, err := acc(DistributorUser)
	if err != nil {
		return err
	}
	sub, err := acc(SubdistributorUser)
	if err != nil {
		return err
	}
	o := BillingOptions{}
	if len(opts) > 0 {
		o = opts[0]
	}
	if o.Now.IsZero() {
		o.Now = st.Now()
	}
	now := o.Now.UTC().Truncate(time.Second)

	// The store's clock walks through the history; afterwards it runs on
	// from where it was.
	offset := st.Now().Sub(time.Now())
	defer func() {
		if offset.Abs() < time.Second {
			st.SetClock(func() time.Time { return time.Now().UTC().Truncate(time.Microsecond) })
		} else {
			st.SetClock(func() time.Time { return time.Now().Add(offset).UTC().Truncate(time.Microsecond) })
		}
	}()

	h := &history{st: st, sys: ctx, now: now,
		sub:  model.WithActor(ctx, model.ActorOf(sub)),
		dist: model.WithActor(ctx, model.ActorOf(dist))}

	// demo-distributor has sold community and office apps a little cheaper for a year.
	h.at(now.AddDate(-1, 0, -30))
	if err := st.PutPrices(h.dist, []billing.Price{
		{Item: billing.CommunityApp, ActivationFee: 450, MonthlyFee: 90, Currency: "USD"},
		{Item: billing.OfficeUser, ActivationFee: 350, MonthlyFee: 80, Currency: "USD"},
	}); err != nil {
		return fmt.Errorf("demo prices: %w", err)
	}

	// Coupons, issued on their days: two Normal, one to be spent to Used,
	// one issued last year and partly spent that is Expired now.
	for _, c := range []struct {
		code           string
		value          int64
		issued, expiry time.Time
	}{
		{CouponExpired, 5_000, now.AddDate(-1, -1, -5), now.AddDate(0, 0, -20)},
		{CouponNormal, 500_000, now.AddDate(-1, 0, -20), now.AddDate(1, 0, 0)},
		{CouponUsed, demoUsedValue, now.AddDate(0, -9, 0), now.AddDate(1, 0, 0)},
		{CouponNormal2, 20_000, now.AddDate(0, -2, 0), now.AddDate(0, 6, 0)},
	} {
		h.at(c.issued)
		if err := st.IssueCoupon(h.dist, &billing.Coupon{Code: c.code, SubdistributorID: sub.ID, Value: c.value, Expires: c.expiry}); err != nil {
			return fmt.Errorf("demo coupon %s: %w", c.code, err)
		}
	}

	// The users orders are made for, read as the system.
	renewable, activatable, insts, err := billingUsers(ctx, st, sub.ID, InstallerUser)
	if err != nil {
		return err
	}
	if len(renewable) == 0 {
		return fmt.Errorf("demo orders: demo-subdistributor's installers have no active users")
	}
	// An installer whose charge mode says it pays renews its own users. Not
	// demo-installer: its users are kept for people trying the modules (and
	// an installer with orders cannot be deleted yet).
	var own []billingUser
	var payer *model.Account
	for _, u := range renewable {
		if a := insts[u.installer]; a.ChargeMode == model.ChargeInstaller && (payer == nil || payer.ID == a.ID) {
			payer = a
			own = append(own, u)
		}
	}
	var pbdSub *model.Account
	var pbdUsers []billingUser
	if subs, err := st.ListAccounts(h.dist, model.AccountFilter{Role: model.RoleSubdistributor, Page: model.Page{Page: 1, PerPage: 100}}); err == nil {
		for _, s := range subs.Items {
			if s.PaymentEnabled && s.PayByDistributor && pbdSub == nil {
				pbdSub = s
			}
		}
	}
	if pbdSub != nil {
		if pbdUsers, _, _, err = billingUsers(ctx, st, pbdSub.ID, InstallerUser); err != nil {
			return err
		}
	}
	if len(opts) == 0 {
		o.Seed = seedOf(renewable, activatable)
	}
	h.rng = rand.New(rand.NewPCG(o.Seed, 0xb111))
	h.renewable, h.activatable = renewable, activatable
	if payer != nil {
		h.inst = model.WithActor(ctx, model.ActorOf(payer))
	}

	// The plan: special orders on fixed days, and HistoryOrders on random
	// days of the last year, run oldest first.
	plans := []plan{
		{age: 365*24*time.Hour - 72*time.Hour, by: h.sub, kind: "renewal", outcome: outcomeExpiredCoupon},
		{age: 243 * 24 * time.Hour, by: h.sub, kind: "renewal", outcome: outcomeUsedCoupon},
		{age: 152 * 24 * time.Hour, by: h.sub, kind: "renewal", outcome: outcomeLate},
		{age: 190 * 24 * time.Hour, by: h.sub, kind: "activation", outcome: outcomeCancel},
		{age: 97 * 24 * time.Hour, by: h.sub, kind: "renewal", outcome: outcomeFailed},
		{age: 40 * 24 * time.Hour, by: h.sub, kind: "renewal", outcome: outcomeTimeout},
		{age: 5 * time.Hour, by: h.sub, kind: "renewal", outcome: outcomePending},
		{age: 4 * time.Minute, by: h.sub, kind: "activation", outcome: outcomeOpen},
	}
	if h.hasExtraMember() {
		plans = append(plans, plan{age: 61 * 24 * time.Hour, by: h.sub, kind: "extra_member", outcome: outcomeStripe})
	}
	if len(own) > 0 {
		plans = append(plans, plan{age: 2 * time.Minute, by: h.inst, kind: "renewal", outcome: outcomeOpen, pool: own})
	}
	if len(pbdUsers) > 0 {
		for i := 0; i < 3; i++ {
			plans = append(plans, plan{age: h.randomAge(), by: model.WithActor(ctx, model.ActorOf(pbdSub)), payer: h.dist, kind: "renewal",
				outcome: []outcome{outcomeStripe, outcomePayPal}[i%2], pool: pbdUsers})
		}
		plans = append(plans, plan{age: 6 * time.Minute, by: model.WithActor(ctx, model.ActorOf(pbdSub)), kind: "renewal", outcome: outcomeOpen, pool: pbdUsers})
	}
	couponsFrom := now.Sub(now.AddDate(-1, 0, -20)) // DEMO-NORMAL-1 exists from then on
	for i := 0; i < HistoryOrders; i++ {
		p := plan{age: h.randomAge(), by: h.sub}
		switch k := h.rng.IntN(10); {
		case k < 3 && len(h.activatable) > 0:
			p.kind = "activation"
		case k == 3 && h.hasExtraMember():
			p.kind = "extra_member"
		default:
			p.kind = "renewal"
		}
		p.outcome = h.randomOutcome()
		if p.kind == "renewal" && len(own) > 0 && h.rng.IntN(10) < 3 {
			p.by, p.pool = h.inst, own // the installer renews its own users
		}
		if p.outcome == outcomeCoupon && (p.by == h.inst || p.age > couponsFrom) {
			p.outcome = outcomeStripe
		}
		plans = append(plans, p)
	}
	sort.SliceStable(plans, func(i, j int) bool { return plans[i].age > plans[j].age })
	for i, p := range plans {
		if err := h.run(p); err != nil {
			return fmt.Errorf("demo order %d (%s, %s): %w", i, p.kind, p.outcome, err)
		}
	}
	return nil
}

// outcome is what becomes of a planned order.
type outcome string

const (
	outcomeCoupon        outcome = "coupon"         // paid with DEMO-NORMAL-1
	outcomeExpiredCoupon outcome = "expired coupon" // paid with DEMO-EXPIRED while it ran
	outcomeUsedCoupon    outcome = "used coupon"    // DEMO-USED spent to nothing, DEMO-NORMAL-1 the rest
	outcomeStripe        outcome = "stripe"
	outcomePayPal        outcome = "paypal" // approved, then captured
	outcomeFailed        outcome = "failed"
	outcomeRetried       outcome = "failed, then paid"
	outcomeCancel        outcome = "cancel"
	outcomeTimeout       outcome = "timeout"
	outcomeLate          outcome = "late" // timed out, then the payment arrived
	outcomePending       outcome = "pending"
	outcomeOpen          outcome = "open" // created moments ago, not paid yet
)

type plan struct {
	age     time.Duration   // created this long before now
	by      context.Context // who creates the order
	payer   context.Context // who pays it; nil: its creator
	kind    string          // activation | renewal | extra_member
	outcome outcome
	pool    []billingUser // renewal users to choose from; nil: all renewable
}

type history struct {
	st                     *store.Store
	sys, sub, dist, inst   context.Context
	now                    time.Time
	rng                    *rand.Rand
	renewable, activatable []billingUser
	seq                    int
}

// at sets the store's clock to t.
func (h *history) at(t time.Time) { h.st.SetClock(func() time.Time { return t }) }

// randomAge is a time of day in working hours, 3 to 362 days ago.
func (h *history) randomAge() time.Duration {
	day := h.now.Add(-time.Duration(3+h.rng.IntN(360)) * 24 * time.Hour)
	t := time.Date(day.Year(), day.Month(), day.Day(), 7+h.rng.IntN(11), h.rng.IntN(60), h.rng.IntN(60), 0, time.UTC)
	return h.now.Sub(t)
}

func (h *history) randomOutcome() outcome {
	switch k := h.rng.IntN(100); {
	case k < 35:
		return outcomeCoupon
	case k < 60:
		return outcomeStripe
	case k < 75:
		return outcomePayPal
	case k < 82:
		return outcomeFailed
	case k < 86:
		return outcomeRetried
	case k < 94:
		return outcomeCancel
	default:
		return outcomeTimeout
	}
}

func (h *history) hasExtraMember() bool {
	for _, u := range h.activatable {
		if u.user.Role == string(model.FamilyMember) {
			return true
		}
	}
	return false
}

// request picks the users of a planned order: 1 to 3 of one installer and
// project type, activatable ones once only.
func (h *history) request(p plan) (*billing.OrderRequest, error) {
	n := 1 + h.rng.IntN(3)
	months := []int{1, 3, 6, 12, 12, 24}[h.rng.IntN(6)]
	var chosen []billingUser
	switch p.kind {
	case "activation", "extra_member":
		var idx []int
		for i, u := range h.activatable {
			if p.kind == "extra_member" && u.user.Role != string(model.FamilyMember) {
				continue
			}
			if len(idx) > 0 {
				f := h.activatable[idx[0]]
				if u.installer != f.installer || u.projectType != f.projectType {
					continue
				}
			} else if p.kind == "activation" && h.rng.IntN(4) != 0 && i < len(h.activatable)-1 {
				continue // start somewhere along the list
			}
			idx = append(idx, i)
			if len(idx) == n {
				break
			}
		}
		if len(idx) == 0 {
			p.kind = "renewal"
			return h.request(p)
		}
		for k := len(idx) - 1; k >= 0; k-- { // used once
			chosen = append(chosen, h.activatable[idx[k]])
			h.activatable = append(h.activatable[:idx[k]], h.activatable[idx[k]+1:]...)
		}
		months = 12
	default:
		pool := p.pool
		if pool == nil {
			pool = h.renewable
		}
		first := pool[h.rng.IntN(len(pool))]
		chosen = append(chosen, first)
		for _, u := range pool {
			if len(chosen) == n {
				break
			}
			if u.user.ID != first.user.ID && u.installer == first.installer && u.projectType == first.projectType && h.rng.IntN(3) == 0 {
				chosen = append(chosen, u)
			}
		}
	}
	req := &billing.OrderRequest{Kind: p.kind, InstallerID: chosen[0].installer, ProjectType: chosen[0].projectType}
	for _, u := range chosen {
		req.Items = append(req.Items, billing.OrderLine{UserID: u.user.ID, Months: months})
	}
	switch p.outcome {
	case outcomeUsedCoupon:
		for i := range req.Items { // more than DEMO-USED holds
			req.Items[i].Months = demoOrderMonth
		}
	case outcomeExpiredCoupon:
		req.Items = req.Items[:1] // well within DEMO-EXPIRED's 50.00
		req.Items[0].Months = 3
	}
	return req, nil
}

// run creates a planned order on its day and takes it where its outcome
// says, each step at its own time.
func (h *history) run(p plan) error {
	created := h.now.Add(-p.age)
	t := created
	step := func(min, max time.Duration) {
		t = t.Add(min + time.Duration(h.rng.Int64N(int64(max-min)+1)))
		t = t.Truncate(time.Second)
		h.at(t)
	}
	req, err := h.request(p)
	if err != nil {
		return err
	}
	h.at(created)
	o, err := h.st.CreateOrder(p.by, req)
	if err != nil {
		return err
	}
	payer := p.payer
	if payer == nil {
		payer = p.by
	}
	h.seq++
	event := func(provider string, kind billing.EventKind) error {
		_, err := h.st.ApplyPaymentEvent(h.sys, provider, billing.Event{ID: fmt.Sprintf("evt_demo_%d_%s", h.seq, kind), Kind: kind,
			OrderNumber: o.Number, Amount: o.Total, Currency: o.Currency})
		return err
	}
	checkout := func(provider string) error {
		if _, err := h.st.PreparePayment(payer, o.Number, provider); err != nil {
			return err
		}
		ref := fmt.Sprintf("cs_demo_%06d", h.seq)
		if provider == "paypal" {
			ref = fmt.Sprintf("DEMO%013d", h.seq)
		}
		return h.st.RecordCheckout(payer, o.Number, provider, ref)
	}
	coupons := func(codes ...string) error {
		_, err := h.st.PayWithCoupons(payer, o.Number, codes)
		return err
	}
	switch p.outcome {
	case outcomeOpen:
		return nil
	case outcomeCoupon:
		step(time.Minute, 8*time.Minute)
		return coupons(CouponNormal)
	case outcomeExpiredCoupon:
		step(time.Minute, 8*time.Minute)
		return coupons(CouponExpired)
	case outcomeUsedCoupon:
		step(time.Minute, 8*time.Minute)
		return coupons(CouponUsed, CouponNormal)
	case outcomeStripe, outcomePayPal, outcomeFailed, outcomeRetried, outcomePending:
		provider := "stripe"
		if p.outcome == outcomePayPal || p.outcome == outcomeRetried {
			provider = "paypal"
		}
		step(30*time.Second, 3*time.Minute)
		if err := checkout(provider); err != nil {
			return err
		}
		switch p.outcome {
		case outcomePending:
			step(time.Minute, 5*time.Minute)
			return event(provider, billing.EventPending)
		case outcomeFailed:
			step(2*time.Minute, 15*time.Minute)
			return event(provider, billing.EventFailed)
		case outcomeRetried:
			step(2*time.Minute, 10*time.Minute)
			if err := event(provider, billing.EventFailed); err != nil {
				return err
			}
			step(10*time.Minute, 3*time.Hour)
			provider = "stripe"
			if err := checkout(provider); err != nil {
				return err
			}
		case outcomePayPal:
			step(time.Minute, 6*time.Minute)
			if err := event(provider, billing.EventPending); err != nil { // approved, capturing
				return err
			}
		}
		step(time.Minute, 20*time.Minute)
		return event(provider, billing.EventPaid)
	case outcomeCancel:
		step(time.Minute, 2*time.Hour)
		return h.st.CancelOrder(p.by, o.Number)
	case outcomeTimeout, outcomeLate:
		if p.outcome == outcomeLate {
			step(time.Minute, 3*time.Minute)
			if err := checkout("stripe"); err != nil {
				return err
			}
		}
		// The timeout job runs every minute.
		t = created.Add(billing.DefaultOrderTimeout)
		step(time.Second, time.Minute)
		if n, err := h.st.TimeoutOrders(h.sys, billing.DefaultOrderTimeout); err != nil {
			return err
		} else if n != 1 {
			return fmt.Errorf("%d orders timed out, want 1", n)
		}
		if p.outcome == outcomeLate {
			step(2*time.Hour, 30*time.Hour)
			return event("stripe", billing.EventPaid)
		}
		return nil
	}
	return fmt.Errorf("unknown outcome %q", p.outcome)
}

// seedOf derives a seed from the users (which the demo's seed made).
func seedOf(lists ...[]billingUser) uint64 {
	f := fnv.New64a()
	for _, l := range lists {
		for _, u := range l {
			fmt.Fprintf(f, "%d|%s|%d;", u.user.ID, u.user.Name, u.installer)
		}
	}
	return f.Sum64()
}

// billingUsers lists users of the sub-distributor's installers whose app
// runs or ran (renewable) and users never activated (activatable), leaving
// out those of the installer named skip, and the installers by id.
func billingUsers(ctx context.Context, st *store.Store, subID int64, skip string) (renewable, activatable []billingUser, insts map[int64]*model.Account, err error) {
	l, err := st.ListAccounts(ctx, model.AccountFilter{Role: model.RoleInstaller, ParentID: subID, Page: model.Page{Page: 1, PerPage: 500}})
	if err != nil {
		return nil, nil, nil, err
	}
	insts = map[int64]*model.Account{}
	for _, inst := range l.Items {
		if inst.ParentID != subID || inst.Username == skip {
			continue
		}
		insts[inst.ID] = inst
		for _, pt := range []string{"community", "office", "villa"} {
			for _, mode := range []string{"renew", "active"} {
				us, err := st.ListBillableUsers(ctx, billing.BillableFilter{InstallerID: inst.ID, ProjectType: pt, Mode: mode})
				if err != nil {
					return nil, nil, nil, err
				}
				for _, u := range us {
					if u.Item == "" {
						continue
					}
					b := billingUser{installer: inst.ID, projectType: pt, user: u}
					if mode == "renew" {
						renewable = append(renewable, b)
					} else {
						activatable = append(activatable, b)
					}
				}
			}
		}
	}
	return renewable, activatable, insts, nil
}
