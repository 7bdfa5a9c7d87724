package web

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/billing"
	"github.com/gatehouse-dev/gatehouse/internal/i18n"
	"github.com/gatehouse-dev/gatehouse/internal/listquery"
	"github.com/gatehouse-dev/gatehouse/internal/model"
	"github.com/gatehouse-dev/gatehouse/internal/store"
	"github.com/gatehouse-dev/gatehouse/internal/usecase"
)

// requirePayments refuses the modules when the distributor has not switched them on.
func (w *Web) requirePayments(r *http.Request) (billing.Gate, error) {
	g, err := w.store.PaymentGate(r.Context())
	if err != nil {
		return g, err
	}
	if !g.Enabled {
		return g, g.Err()
	}
	return g, nil
}

type providerState struct {
	Name, Label string
	Configured  bool
}

func (w *Web) providerStates() []providerState {
	var out []providerState
	for _, name := range []string{"stripe", "paypal"} {
		out = append(out, providerState{name, billing.ProviderLabel(name), w.cases.PaymentProviderConfigured(name)})
	}
	return out
}

func (w *Web) anyProvider() bool {
	return w.cases.PaymentProviderConfigured("stripe") || w.cases.PaymentProviderConfigured("paypal")
}

// The labels of internal/billing the pages show through the catalogs
// ({{t .Status.Label}}): its items, order types and statuses
// (TestBillingLabelsAreInTheCatalogs holds them to these).
var _ = []string{
	i18n.N("Community app (family master)"), i18n.N("Additional family member app"), i18n.N("Property manager app"),
	i18n.N("Villa app"), i18n.N("Villa premium plan"), i18n.N("Villa extra family member"), i18n.N("Office user"),
	i18n.N("Activation"), i18n.N("Subscription"), i18n.N("Features"),
	i18n.N("Processing"), i18n.N("System Processing"), i18n.N("Completed"), i18n.N("Failed"), i18n.N("Timeout"), i18n.N("Cancel"),
}

// couponStates name the coupon states.
var couponStates = map[billing.CouponState]string{billing.CouponNormal: i18n.N("Normal"), billing.CouponUsed: i18n.N("Used"),
	billing.CouponExpired: i18n.N("Expired")}

// orderStatusKeys are the catalog keys of the statuses whose English label
// names something else too: the status Cancel is not the Cancel button.
var orderStatusKeys = map[billing.Status]string{billing.StatusCancel: i18n.N("Cancel (order status)")}

func init() {
	localeFuncs["orderStatus"] = func(l *i18n.Locale) any {
		return func(s billing.Status) string {
			if k, ok := orderStatusKeys[s]; ok {
				return l.T(k)
			}
			return l.T(s.Label())
		}
	}
	localeFuncs["reason"] = func(l *i18n.Locale) any {
		return func(s string) string {
			if i18n.Has(s) {
				return l.T(s)
			}
			return s
		}
	}
	localeFuncs["couponState"] = func(l *i18n.Locale) any {
		return func(s billing.CouponState) string {
			if k, ok := couponStates[s]; ok {
				return l.T(k)
			}
			return string(s)
		}
	}
}

// billingNav is the navigation key of a billing page for the account's
// portal: the installer's and the distributor's entries have their own.
func billingNav(r *http.Request, key string) string {
	switch identity(r).Effective().Role {
	case model.RoleInstaller:
		return "installer-" + key
	case model.RoleDistributor:
		if key == "payments" {
			return "orders"
		}
	}
	return key
}

// payMethods is what a payer sees of the ways to pay.
type payMethods struct {
	Coupons      bool   // the account may pay with coupons (a sub-distributor)
	CouponReason string // why not
	Providers    []providerState
	AnyProvider  bool
}

func (w *Web) payMethods(r *http.Request) payMethods {
	me := identity(r).Effective()
	ok, why := billing.MayUseCoupons(me.Role, me.ID)
	return payMethods{Coupons: ok, CouponReason: why, Providers: w.providerStates(), AnyProvider: w.anyProvider()}
}

type subscriptionsData struct {
	Gate          billing.Gate
	IsInstaller   bool // the installer's own Subscriptions: its users only
	InstallerName string
	Installers    []*model.Account
	Offices       []*store.ProjectRow
	Communities   []*store.ProjectRow
	Q             url.Values
	InstallerID   int64
	ProjectType   string
	Mode          string
	Users         []billing.BillableUser
	Coupons       []*billing.Coupon
	Methods       payMethods
	Info          *billing.Info
	Prices        billing.PriceList
}

// Subscriptions is the Subscriptions module: installer → project type →
// Active or Renew → users → order. An installer whose charge mode says it
// pays gets the same page for its own users, without the installer choice.
func (w *Web) Subscriptions(rw http.ResponseWriter, r *http.Request) error {
	g, err := w.requirePayments(r)
	if err != nil {
		return err
	}
	ctx := r.Context()
	q := r.URL.Query()
	me := identity(r).Effective()
	d := subscriptionsData{Gate: g, Q: q, ProjectType: q.Get("project_type"), Mode: q.Get("mode"), Methods: w.payMethods(r),
		IsInstaller: me.Role == model.RoleInstaller}
	if d.IsInstaller {
		d.InstallerID, d.InstallerName = me.ID, me.Username
	} else {
		insts, err := w.store.ListAccounts(ctx, model.AccountFilter{Role: model.RoleInstaller, Page: model.Page{Page: 1, PerPage: 500}})
		if err != nil {
			return err
		}
		d.Installers = insts.Items
		d.InstallerID, _ = strconv.ParseInt(q.Get("installer"), 10, 64)
	}
	if d.ProjectType == "" {
		d.ProjectType = "community"
	}
	if d.Mode == "" {
		d.Mode = "active"
	}
	title := tr(r, "Subscriptions")
	if d.IsInstaller {
		title = tr(r, "Subscription") // as its navigation entry says
	}
	p := w.page(r, title, billingNav(r, "subscriptions"), &d)
	if d.IsInstaller && !g.CanPay {
		// Somebody else pays for this installer's users: nothing to order here.
		d.InstallerID = 0
		return w.render(rw, http.StatusOK, "billing_subscriptions", p)
	}
	if d.InstallerID != 0 {
		for _, kind := range []model.ProjectKind{model.ProjectOffice, model.ProjectCommunity} {
			l, err := w.store.ListProjects(ctx, store.ProjectFilter{Kind: kind, InstallerID: d.InstallerID, Page: model.Page{Page: 1, PerPage: 500}})
			if err != nil {
				return err
			}
			if kind == model.ProjectOffice {
				d.Offices = l.Items
			} else {
				d.Communities = l.Items
			}
		}
		f := billing.BillableFilter{InstallerID: d.InstallerID, ProjectType: d.ProjectType, Mode: d.Mode, ServiceType: q.Get("service"), Sort: q.Get("sort")}
		f.ProjectID, _ = strconv.ParseInt(q.Get("project"), 10, 64)
		if s := q.Get("expiring_before"); s != "" {
			t, err := time.Parse("2006-01-02", s)
			if err != nil {
				p.Fail(model.Invalid("expiring_before", "must be a date"))
				return w.render(rw, http.StatusBadRequest, "billing_subscriptions", p)
			}
			f.ExpiringBefore = t
		}
		if d.Users, err = w.store.ListBillableUsers(ctx, f); err != nil {
			return err
		}
	}
	if d.Methods.Coupons {
		if cl, err := w.store.ListCoupons(ctx, billing.CouponFilter{Page: model.Page{Page: 1, PerPage: 100}}); err == nil {
			d.Coupons = cl.Items
		}
	}
	if d.Info, err = w.store.GetBillingInfo(ctx); err != nil {
		return err
	}
	if d.Prices, err = w.store.GetPrices(ctx); err != nil {
		return err
	}
	return w.render(rw, http.StatusOK, "billing_subscriptions", p)
}

// SubscriptionOrder creates the order of the selected users (Next).
func (w *Web) SubscriptionOrder(rw http.ResponseWriter, r *http.Request) error {
	if _, err := w.requirePayments(r); err != nil {
		return err
	}
	if err := r.ParseForm(); err != nil {
		return model.Invalid("body", "is not a form")
	}
	f := r.PostForm
	req := &billing.OrderRequest{Kind: f.Get("kind"), ProjectType: f.Get("project_type")}
	req.InstallerID, _ = strconv.ParseInt(f.Get("installer"), 10, 64)
	if me := identity(r).Effective(); me.Role == model.RoleInstaller {
		req.InstallerID = me.ID // its own users, whatever the form says
	}
	req.ProjectID, _ = strconv.ParseInt(f.Get("project"), 10, 64)
	months, _ := strconv.Atoi(f.Get("months"))
	days, _ := strconv.Atoi(f.Get("days")) // a renewal by day, when given
	if days != 0 {
		months = 0
	}
	for _, s := range f["user"] {
		id, _ := strconv.ParseInt(s, 10, 64)
		req.Items = append(req.Items, billing.OrderLine{UserID: id, Months: months, Days: days, Service: f.Get("service_kind")})
	}
	back := "/subscriptions?" + url.Values{"installer": {f.Get("installer")}, "project_type": {req.ProjectType}, "mode": {f.Get("mode")},
		"project": {f.Get("project")}, "service": {f.Get("service")}}.Encode()
	if len(req.Items) == 0 {
		http.Redirect(rw, r, back+"&notice="+url.QueryEscape(tr(r, "Select at least one user.")), http.StatusSeeOther)
		return nil
	}
	o, err := w.cases.CreateOrder(r.Context(), req)
	if model.ErrorCode(err) == model.EINVALID {
		http.Redirect(rw, r, back+"&notice="+url.QueryEscape(localized(locale(r), err, model.ErrorMessage(err))), http.StatusSeeOther)
		return nil
	} else if err != nil {
		return err
	}
	return redirect(rw, r, "/payments/"+url.PathEscape(o.Number), tr(r, "Order %s created: pay it below.", o.Number))
}

type paymentsData struct {
	Q           url.Values
	List        model.List[*billing.Order]
	Pager       Pager
	IsInstaller bool // its own orders: no installer filter
	Installers  []*model.Account
	Types       []billing.OrderType
	Statuses    []billing.Status
	Gate        billing.Gate
	Back        string // this list with its search, where row actions return
}

// Payments is the Payments module (transaction history). Each order says
// whether the viewer may pay it (billing.MayPay).
func (w *Web) Payments(rw http.ResponseWriter, r *http.Request) error {
	g, err := w.requirePayments(r)
	if err != nil {
		return err
	}
	var v model.Validator
	f := listquery.Orders(r.URL.Query(), &v)
	me := identity(r).Effective()
	d := &paymentsData{Q: r.URL.Query(), Types: billing.OrderTypes, Statuses: billing.Statuses, Gate: g,
		IsInstaller: me.Role == model.RoleInstaller}
	q := r.URL.Query()
	q.Del("notice")
	d.Back = "/payments"
	if len(q) > 0 {
		d.Back += "?" + q.Encode()
	}
	if !d.IsInstaller {
		if insts, err := w.store.ListAccounts(r.Context(), model.AccountFilter{Role: model.RoleInstaller, Page: model.Page{Page: 1, PerPage: 500}}); err == nil {
			d.Installers = insts.Items
		}
	}
	p := w.page(r, tr(r, "Payments"), billingNav(r, "payments"), d)
	if err := v.Err(); err != nil {
		p.Fail(err)
		return w.render(rw, http.StatusBadRequest, "billing_payments", p)
	}
	if d.List, err = w.store.ListOrders(r.Context(), f); err != nil {
		return err
	}
	d.Pager = newPager(r, f.Page.Page, f.PerPage, d.List.Total)
	return w.render(rw, http.StatusOK, "billing_payments", p)
}

type paymentDetailData struct {
	Order   *billing.Order
	Gate    billing.Gate
	Payable bool
	Methods payMethods
	Coupons []*billing.Coupon
}

// PaymentDetail shows an order: items, history, and its actions.
func (w *Web) PaymentDetail(rw http.ResponseWriter, r *http.Request) error {
	return w.paymentDetail(rw, r, http.StatusOK, nil)
}

// paymentDetail shows an order, with fail (when not nil) as the page's error.
func (w *Web) paymentDetail(rw http.ResponseWriter, r *http.Request, status int, fail error) error {
	g, err := w.requirePayments(r)
	if err != nil {
		return err
	}
	o, err := w.store.GetOrder(r.Context(), r.PathValue("number"))
	if err != nil {
		return err
	}
	d := &paymentDetailData{Order: o, Gate: g, Payable: o.CanPay, Methods: w.payMethods(r)}
	if d.Payable && d.Methods.Coupons {
		if cl, err := w.store.ListCoupons(r.Context(), billing.CouponFilter{State: billing.CouponNormal, Page: model.Page{Page: 1, PerPage: 100}}); err == nil {
			d.Coupons = cl.Items
		}
	}
	p := w.page(r, tr(r, "Order %s", o.Number), billingNav(r, "payments"), d)
	if fail != nil {
		p.Fail(fail)
	}
	return w.render(rw, status, "billing_payment", p)
}

// PaymentPay pays an order by coupon, or sends the payer to Stripe / PayPal.
func (w *Web) PaymentPay(rw http.ResponseWriter, r *http.Request) error {
	if err := r.ParseForm(); err != nil {
		return model.Invalid("body", "is not a form")
	}
	number := r.PathValue("number")
	method := r.PostForm.Get("method")
	res, err := w.cases.PayOrder(r.Context(), usecase.PayInput{Number: number, Method: method, Coupons: r.PostForm["coupon"]})
	if code := model.ErrorCode(err); code == model.EINVALID || code == model.ECONFLICT {
		return w.paymentDetail(rw, r, http.StatusBadRequest, err)
	} else if err != nil {
		return err
	}
	if res.RedirectURL != "" {
		// Not a redirect: the portal's Content-Security-Policy says
		// form-action 'self', which also holds for the redirects that follow
		// a form's submission, so a 303 to the provider would be blocked. A
		// page that moves on by itself (and links there) is a new navigation.
		label := billing.ProviderLabel(method)
		d := &checkoutRedirect{URL: res.RedirectURL, Label: label, Number: number}
		return w.render(rw, http.StatusOK, "billing_redirect", w.page(r, tr(r, "Pay with %s", label), billingNav(r, "payments"), d))
	}
	return redirect(rw, r, "/payments/"+url.PathEscape(number), tr(r, "Paid by coupon: the order is completed."))
}

type checkoutRedirect struct {
	URL, Label, Number string
}

// PaymentReturn is where Stripe and PayPal send the payer back.
func (w *Web) PaymentReturn(rw http.ResponseWriter, r *http.Request) error {
	number := r.URL.Query().Get("order")
	o, err := w.cases.ConfirmReturn(r.Context(), number)
	if model.ErrorCode(err) == model.ECONFLICT {
		return redirect(rw, r, "/payments/"+url.PathEscape(number), localized(locale(r), err, model.ErrorMessage(err)))
	} else if err != nil {
		return err
	}
	return redirect(rw, r, "/payments/"+url.PathEscape(o.Number), tr(r, "Payment %s.", tr(r, o.Status.Label())))
}

// PaymentCancel cancels a Processing order.
func (w *Web) PaymentCancel(rw http.ResponseWriter, r *http.Request) error {
	number := r.PathValue("number")
	err := w.cases.CancelOrder(r.Context(), number)
	if model.ErrorCode(err) == model.ECONFLICT {
		return w.paymentDetail(rw, r, http.StatusConflict, err)
	} else if err != nil {
		return err
	}
	return redirectNotice(rw, r, backTo(r, "/payments/"+url.PathEscape(number)), tr(r, "Order %s cancelled.", number))
}

// PaymentDelete hides an order from the list.
func (w *Web) PaymentDelete(rw http.ResponseWriter, r *http.Request) error {
	number := r.PathValue("number")
	err := w.cases.DeleteOrder(r.Context(), number)
	if model.ErrorCode(err) == model.ECONFLICT {
		return w.paymentDetail(rw, r, http.StatusConflict, err)
	} else if err != nil {
		return err
	}
	return redirectNotice(rw, r, backTo(r, "/payments"), tr(r, "Order %s deleted from the list.", number))
}

// PaymentInvoice downloads the PDF invoice of a completed order.
func (w *Web) PaymentInvoice(rw http.ResponseWriter, r *http.Request) error {
	inv, err := w.store.InvoiceFor(r.Context(), r.PathValue("number"))
	if err != nil {
		return err
	}
	pdf, err := billing.InvoicePDF(inv, locale(r))
	if err != nil {
		return err
	}
	rw.Header().Set("Content-Type", "application/pdf")
	rw.Header().Set("Content-Disposition", `attachment; filename="invoice-`+inv.OrderNumber+`.pdf"`)
	_, err = rw.Write(pdf)
	return err
}

// SaveBillingInfo saves the payer's billing information.
func (w *Web) SaveBillingInfo(rw http.ResponseWriter, r *http.Request) error {
	if err := r.ParseForm(); err != nil {
		return model.Invalid("body", "is not a form")
	}
	f := r.PostForm
	b := &billing.Info{Company: f.Get("company"), ATTN: f.Get("attn"), Address: f.Get("address"), TEL: f.Get("tel"), Fax: f.Get("fax"), Email: f.Get("email")}
	back := f.Get("back")
	if !strings.HasPrefix(back, "/") || strings.HasPrefix(back, "//") {
		back = "/subscriptions"
	}
	if err := w.cases.PutBillingInfo(r.Context(), b); model.ErrorCode(err) == model.EINVALID {
		http.Redirect(rw, r, back+"?notice="+url.QueryEscape(tr(r, "Billing information not saved: %s", localized(locale(r), err, model.ErrorMessage(err)))), http.StatusSeeOther)
		return nil
	} else if err != nil {
		return err
	}
	return redirect(rw, r, back, tr(r, "Billing information saved."))
}

type pricesData struct {
	Prices billing.PriceList
}

// Prices is the distributor's price list.
func (w *Web) Prices(rw http.ResponseWriter, r *http.Request) error {
	l, err := w.store.GetPrices(r.Context())
	if err != nil {
		return err
	}
	return w.render(rw, http.StatusOK, "billing_prices", w.page(r, tr(r, "Prices"), "prices", &pricesData{Prices: l}))
}

// SavePrices saves the distributor's price overrides (fees in minor units).
func (w *Web) SavePrices(rw http.ResponseWriter, r *http.Request) error {
	if err := r.ParseForm(); err != nil {
		return model.Invalid("body", "is not a form")
	}
	var ps []billing.Price
	cur := strings.ToUpper(strings.TrimSpace(r.PostForm.Get("currency")))
	var v model.Validator
	for _, it := range billing.Items {
		af, e1 := strconv.ParseInt(r.PostForm.Get(string(it)+"_activation"), 10, 64)
		mf, e2 := strconv.ParseInt(r.PostForm.Get(string(it)+"_monthly"), 10, 64)
		v.Check(e1 == nil, string(it)+"_activation", "must be a whole number of minor units")
		v.Check(e2 == nil, string(it)+"_monthly", "must be a whole number of minor units")
		ps = append(ps, billing.Price{Item: it, ActivationFee: af, MonthlyFee: mf, Currency: cur})
	}
	err := v.Err()
	if err == nil {
		err = w.cases.PutPrices(r.Context(), ps)
	}
	if code := model.ErrorCode(err); code == model.EINVALID {
		l, _ := w.store.GetPrices(r.Context())
		p := w.page(r, tr(r, "Prices"), "prices", &pricesData{Prices: l})
		p.Fail(err)
		return w.render(rw, http.StatusBadRequest, "billing_prices", p)
	} else if err != nil {
		return err
	}
	return redirect(rw, r, "/prices", tr(r, "Prices saved."))
}

type couponsData struct {
	List  model.List[*billing.Coupon]
	Pager Pager
	Subs  []*model.Account
	Form  url.Values
}

// Coupons lists the distributor's coupons and issues new ones.
func (w *Web) Coupons(rw http.ResponseWriter, r *http.Request) error {
	return w.coupons(rw, r, http.StatusOK, nil, nil)
}

func (w *Web) coupons(rw http.ResponseWriter, r *http.Request, status int, form url.Values, formErr error) error {
	var v model.Validator
	q := r.URL.Query()
	f := billing.CouponFilter{Page: model.ParsePage(q, &v), State: billing.CouponState(q.Get("state"))}
	l, err := w.store.ListCoupons(r.Context(), f)
	if err != nil {
		return err
	}
	subs, err := w.store.ListAccounts(r.Context(), model.AccountFilter{Role: model.RoleSubdistributor, Page: model.Page{Page: 1, PerPage: 500}})
	if err != nil {
		return err
	}
	d := &couponsData{List: l, Pager: newPager(r, f.Page.Page, f.PerPage, l.Total), Subs: subs.Items, Form: form}
	p := w.page(r, tr(r, "Coupons"), "coupons", d)
	if formErr != nil {
		p.Fail(formErr)
	}
	return w.render(rw, status, "billing_coupons", p)
}

// IssueCoupon issues a coupon to a sub-distributor.
func (w *Web) IssueCoupon(rw http.ResponseWriter, r *http.Request) error {
	if err := r.ParseForm(); err != nil {
		return model.Invalid("body", "is not a form")
	}
	f := r.PostForm
	in := usecase.CouponInput{Code: f.Get("code"), ExpiresAt: f.Get("expires_at")}
	in.SubdistributorID, _ = strconv.ParseInt(f.Get("subdistributor_id"), 10, 64)
	in.Value, _ = strconv.ParseInt(f.Get("value"), 10, 64)
	c, err := w.cases.IssueCoupon(r.Context(), in)
	if code := model.ErrorCode(err); code == model.EINVALID || code == model.ECONFLICT {
		return w.coupons(rw, r, http.StatusBadRequest, f, err)
	} else if err != nil {
		return err
	}
	return redirect(rw, r, "/coupons", tr(r, "Coupon %s issued.", c.Code))
}

// backTo is the form's "back" path when it is a Payments page of this
// site, else def.
func backTo(r *http.Request, def string) string {
	b := r.PostFormValue("back")
	if (b == "/payments" || strings.HasPrefix(b, "/payments?") || strings.HasPrefix(b, "/payments/")) && !strings.ContainsAny(b, "\\\r\n") {
		return b
	}
	return def
}

// redirectNotice redirects to path (which may carry a query) with a notice.
func redirectNotice(rw http.ResponseWriter, r *http.Request, path, notice string) error {
	sep := "?"
	if strings.Contains(path, "?") {
		sep = "&"
	}
	http.Redirect(rw, r, path+sep+"notice="+url.QueryEscape(notice), http.StatusSeeOther)
	return nil
}
