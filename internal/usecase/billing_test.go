package usecase

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/billing"
	"github.com/gatehouse-dev/gatehouse/internal/billing/paypal"
	"github.com/gatehouse-dev/gatehouse/internal/billing/paypal/paypaltest"
	gstripe "github.com/gatehouse-dev/gatehouse/internal/billing/stripe"
	"github.com/gatehouse-dev/gatehouse/internal/billing/stripe/stripetest"
	"github.com/gatehouse-dev/gatehouse/internal/model"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

var billingSystem = model.WithActor(context.Background(), model.System)

// billingPayer is a sub-distributor with the payment feature on, one of its
// installers and that installer's not yet active office users.
type billingPayer struct {
	sub, installer *model.Account
	users          []*model.EndUser
}

func (p *billingPayer) ctx() context.Context {
	return model.WithActor(context.Background(), model.ActorOf(p.sub))
}

func billingNewPayer(t *testing.T, st *store.Store, users int) *billingPayer {
	t.Helper()
	account := func(role model.Role, name string, parent *model.Account) *model.Account {
		a := &model.Account{Role: role, Username: name, Email: name + "@example.com"}
		if parent != nil {
			a.ParentID = parent.ID
		}
		if err := st.CreateAccount(billingSystem, a, "x"); err != nil {
			t.Fatalf("create %s: %v", name, err)
		}
		return a
	}
	admin := account(model.RoleAdmin, "root", nil)
	dist := account(model.RoleDistributor, "dist", admin)
	p := &billingPayer{sub: account(model.RoleSubdistributor, "sub", dist)}
	p.installer = account(model.RoleInstaller, "inst", p.sub)
	if err := st.SetSubdistributorSwitches(billingSystem, p.sub.ID, new(true), new(false)); err != nil {
		t.Fatal(err)
	}
	ictx := model.WithActor(context.Background(), model.ActorOf(p.installer))
	office := &model.Project{Kind: model.ProjectOffice, Name: "Offices"}
	if err := st.CreateProject(ictx, office); err != nil {
		t.Fatal(err)
	}
	dept := &model.Department{ProjectID: office.ID, Name: "Sales"}
	if err := st.CreateDepartment(ictx, dept); err != nil {
		t.Fatal(err)
	}
	for i := range users {
		u := &model.EndUser{ProjectID: office.ID, DepartmentID: dept.ID, Role: model.OfficeStaff, Name: fmt.Sprintf("Staff %d", i)}
		if err := st.AddEndUser(ictx, u); err != nil {
			t.Fatal(err)
		}
		p.users = append(p.users, u)
	}
	return p
}

// order creates an activation order of the payer's users.
func (p *billingPayer) order(t *testing.T, c *Cases, users ...*model.EndUser) *billing.Order {
	t.Helper()
	req := &billing.OrderRequest{Kind: "activation", InstallerID: p.installer.ID, ProjectType: "office"}
	for _, u := range users {
		req.Items = append(req.Items, billing.OrderLine{UserID: u.ID, Months: 12})
	}
	o, err := c.CreateOrder(p.ctx(), req)
	if err != nil {
		t.Fatal(err)
	}
	return o
}

// billingSecret is what the failing providers answer: it must reach the
// log and never a user.
const billingSecret = "SECRET-4711-acct_1SecretPlatform"

// billingProviders are the real Stripe provider against an API that
// refuses every request with billingSecret, and the real PayPal provider
// against the PayPal fake (which refuses what the test says).
func billingProviders(t *testing.T) (map[string]billing.Provider, *paypaltest.Server) {
	sp, err := gstripe.New(gstripe.Config{SecretKey: "sk_test_123", WebhookSecret: "whsec_test", BackendURL: stripetest.RefusingAPI(t, billingSecret)})
	if err != nil {
		t.Fatal(err)
	}
	fake := paypaltest.New(t)
	pp, err := paypal.New(fake.Config())
	if err != nil {
		t.Fatal(err)
	}
	return map[string]billing.Provider{"stripe": sp, "paypal": pp}, fake
}

// billingHidesSecret fails unless err is a conflict naming step without the
// provider's text, and the log holds that text.
func billingHidesSecret(t *testing.T, tc *testCases, err error, step string) {
	t.Helper()
	if model.ErrorCode(err) != model.ECONFLICT {
		t.Fatalf("err = %v (%s), want a conflict", err, model.ErrorCode(err))
	}
	msg := model.ErrorMessage(err)
	if strings.Contains(msg, "SECRET") || !strings.HasPrefix(msg, step+" failed. Please try again later") {
		t.Errorf("message shown to the payer = %q: it must name the step (%s), not what the provider answered", msg, step)
	}
	if !strings.Contains(tc.log.String(), "SECRET-4711") {
		t.Errorf("what the provider answered was not logged: %q", tc.log.String())
	}
}

func TestBillingProviderErrorsAreLoggedNotShown(t *testing.T) {
	forEachBackend(t, func(t *testing.T, backend string) {
		providers, fake := billingProviders(t)
		tc := newTestCases(t, backend, func(d *Deps) { d.Providers = providers })
		failPayPal := func(suffix string) { fake.Refuse(suffix, billingSecret) }
		p := billingNewPayer(t, tc.store, 2)

		o := p.order(t, tc.Cases, p.users[0])
		_, err := tc.PayOrder(p.ctx(), PayInput{Number: o.Number, Method: "stripe"})
		billingHidesSecret(t, tc, err, "Starting the Stripe payment")

		tc.log.Reset()
		failPayPal("/v2/checkout/orders")
		_, err = tc.PayOrder(p.ctx(), PayInput{Number: o.Number, Method: "paypal"})
		billingHidesSecret(t, tc, err, "Starting the PayPal payment")

		// The payer comes back from PayPal; capturing fails.
		tc.log.Reset()
		failPayPal("")
		res, err := tc.PayOrder(p.ctx(), PayInput{Number: o.Number, Method: "paypal"})
		if err != nil {
			t.Fatal(err)
		}
		if err := fake.Approve(res.Order.ProviderRef); err != nil {
			t.Fatal(err)
		}
		failPayPal("/capture")
		_, err = tc.ConfirmReturn(p.ctx(), o.Number)
		billingHidesSecret(t, tc, err, "Confirming the PayPal payment")

		// Ours stay as they were.
		_, err = tc.PayOrder(p.ctx(), PayInput{Number: o.Number, Method: "cash"})
		if model.ErrorCode(err) != model.EINVALID || model.ErrorFields(err)["method"] == "" {
			t.Errorf("unknown method: %v", err)
		}
		failPayPal("")
		if got, err := tc.ConfirmReturn(p.ctx(), o.Number); err != nil || got.Status != billing.StatusCompleted {
			t.Errorf("return once PayPal captures: %v %v", got, err)
		}
	})
}

// TestBillingWebhook takes a webhook as its raw body and signature header
// values: PayPal's, signed by the fake, is applied once; a forged one and
// one without its signature are refused without the provider's text.
func TestBillingWebhook(t *testing.T) {
	forEachBackend(t, func(t *testing.T, backend string) {
		providers, fake := billingProviders(t)
		pp := providers["paypal"]
		tc := newTestCases(t, backend, func(d *Deps) { d.Providers = map[string]billing.Provider{"paypal": pp} })
		p := billingNewPayer(t, tc.store, 1)
		o := p.order(t, tc.Cases, p.users[0])
		res, err := tc.PayOrder(p.ctx(), PayInput{Number: o.Number, Method: "paypal"})
		if err != nil {
			t.Fatal(err)
		}
		if err := fake.Approve(res.Order.ProviderRef); err != nil {
			t.Fatal(err)
		}
		signature := func(h http.Header) map[string]string {
			m := map[string]string{}
			for _, k := range billing.SignatureHeaders {
				if v := h.Get(k); v != "" {
					m[k] = v
				}
			}
			return m
		}
		h, body := fake.ForgedWebhook("PAYMENT.CAPTURE.COMPLETED", res.Order.ProviderRef)
		_, err = tc.ReceiveWebhook(context.Background(), WebhookInput{Provider: "paypal", Body: body, Signature: signature(h)})
		if model.ErrorCode(err) != model.EINVALID || model.ErrorMessage(err) != "The webhook is not verified." {
			t.Errorf("forged webhook: %v", err)
		}
		_, err = tc.ReceiveWebhook(context.Background(), WebhookInput{Provider: "paypal", Body: body})
		if model.ErrorCode(err) != model.EINVALID {
			t.Errorf("webhook without a signature: %v", err)
		}
		if _, err := tc.ReceiveWebhook(context.Background(), WebhookInput{Provider: "stripe", Body: body}); model.ErrorCode(err) != model.ENOTFOUND {
			t.Errorf("webhook of an unconfigured provider: %v", err)
		}
		// PayPal captures when the payer returns; its webhook tells the same.
		if _, err := pp.Confirm(context.Background(), res.Order.ProviderRef); err != nil {
			t.Fatal(err)
		}
		h, body = fake.CaptureWebhook(res.Order.ProviderRef)
		applied := 0
		for range 2 {
			ok, err := tc.ReceiveWebhook(context.Background(), WebhookInput{Provider: "paypal", Body: body, Signature: signature(h)})
			if err != nil {
				t.Fatal(err)
			}
			if ok {
				applied++
			}
		}
		if applied != 1 {
			t.Errorf("the webhook applied %d times, want once", applied)
		}
		got, err := tc.store.GetOrder(p.ctx(), o.Number)
		if err != nil || got.Status != billing.StatusCompleted {
			t.Fatalf("order after the webhook: %v %v", got, err)
		}
	})
}

// TestBillingOrdersOfTheSameUsersRace runs activation orders of the same
// users concurrently with the payment of one of them: each either is
// written whole, at the list's price, before the payment activates the
// users, or refused because they are active by then — no deadlock, no
// database error between the order's locks and the payment's.
// (TestOrderIsWrittenAsItWasChecked in the store holds an order between its
// check and its write, deterministically.)
func TestBillingOrdersOfTheSameUsersRace(t *testing.T) {
	forEachBackend(t, func(t *testing.T, backend string) {
		tc := newTestCases(t, backend)
		p := billingNewPayer(t, tc.store, 3)
		first := p.order(t, tc.Cases, p.users...)
		var wg sync.WaitGroup
		orders := make(chan *billing.Order, 8)
		errs := make(chan error, 9)
		for range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				req := &billing.OrderRequest{Kind: "activation", InstallerID: p.installer.ID, ProjectType: "office"}
				for _, u := range p.users {
					req.Items = append(req.Items, billing.OrderLine{UserID: u.ID, Months: 12})
				}
				o, err := tc.CreateOrder(p.ctx(), req)
				if err == nil {
					orders <- o
				} else if model.ErrorCode(err) != model.EINVALID || !strings.Contains(model.ErrorFields(err)["items[0].user_id"], "already active") {
					errs <- err
				}
			}()
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := tc.store.ApplyPaymentEvent(billingSystem, "stripe", billing.Event{ID: "evt_race", Kind: billing.EventPaid, OrderNumber: first.Number, Amount: first.Total})
			if err != nil {
				errs <- err
			}
		}()
		wg.Wait()
		close(orders)
		close(errs)
		for err := range errs {
			t.Errorf("unexpected error: %v", err)
		}
		paid, err := tc.store.GetOrder(p.ctx(), first.Number)
		if err != nil || paid.Paid == nil {
			t.Fatalf("the first order: %v %v", paid, err)
		}
		// History lines are numbered as they are written: an activation
		// written after the payment's would activate active users.
		lastEvent := func(number string) int64 {
			var id int64
			if err := tc.store.DB().QueryRow(`SELECT max(e.id) FROM order_events e JOIN orders o ON o.id = e.order_id WHERE o.number = '` + number + `'`).Scan(&id); err != nil {
				t.Fatal(err)
			}
			return id
		}
		paidAt := lastEvent(first.Number)
		for o := range orders {
			if lastEvent(o.Number) > paidAt {
				t.Errorf("order %s was written after the payment that activated its users", o.Number)
			}
			var sum int64
			for _, it := range o.Items {
				sum += it.Amount
			}
			if sum != o.Total || o.Total != first.Total || len(o.Items) != len(p.users) {
				t.Errorf("order %s: total %d, items %d (%d), first order %d", o.Number, o.Total, sum, len(o.Items), first.Total)
			}
		}
	})
}
