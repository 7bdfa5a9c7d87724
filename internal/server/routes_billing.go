package server

import "github.com/gatehouse-dev/gatehouse/internal/model"

// routesBilling registers the API routes (with s.handleAPI) and portal pages of
// this module: prices, orders, payments, coupons, billing information,
// invoices, and the providers' webhooks and return URL.
func (s *Server) routesBilling() {
	a, w := s.api, s.web
	payers := []model.Role{model.RoleAdmin, model.RoleDistributor, model.RoleSubdistributor, model.RoleInstaller}
	// Subscriptions: the sub-distributor for its installers, an installer
	// for its own users (when its charge mode says it pays).
	subscribers := []model.Role{model.RoleSubdistributor, model.RoleInstaller}

	s.handleAPI("GET /api/v1/prices", s.apiAuth(a.GetPrices))
	s.handleAPI("PUT /api/v1/prices", s.apiAuth(a.PutPrices, distributors...))
	s.handleAPI("GET /api/v1/orders", s.apiAuth(a.ListOrders, payers...))
	s.handleAPI("POST /api/v1/orders", s.apiAuth(a.CreateOrder, payers...))
	s.handleAPI("GET /api/v1/orders/{number}", s.apiAuth(a.GetOrder, payers...))
	s.handleAPI("DELETE /api/v1/orders/{number}", s.apiAuth(a.DeleteOrder, payers...))
	s.handleAPI("POST /api/v1/orders/{number}/pay", s.apiAuth(a.PayOrder, payers...))
	s.handleAPI("POST /api/v1/orders/{number}/cancel", s.apiAuth(a.CancelOrder, payers...))
	s.handleAPI("GET /api/v1/orders/{number}/invoice.pdf", s.apiAuth(a.Invoice, payers...))
	s.handleAPI("GET /api/v1/coupons", s.apiAuth(a.ListCoupons))
	s.handleAPI("POST /api/v1/coupons", s.apiAuth(a.IssueCoupon, distributors...))
	s.handleAPI("GET /api/v1/billing-info", s.apiAuth(a.GetBillingInfo))
	s.handleAPI("PUT /api/v1/billing-info", s.apiAuth(a.PutBillingInfo))

	// Providers call these without a session: the signature is the proof.
	s.mux.Handle("POST /webhooks/stripe", s.apiPublic(a.Webhook("stripe")))
	s.mux.Handle("POST /webhooks/paypal", s.apiPublic(a.Webhook("paypal")))

	s.handlePage("GET /subscriptions", s.page(w.Subscriptions, subscribers...))
	s.handlePage("POST /subscriptions/order", s.page(w.SubscriptionOrder, subscribers...))
	s.handlePage("GET /payments", s.page(w.Payments, payers...))
	s.handlePage("GET /payments/return", s.page(w.PaymentReturn, payers...))
	s.handlePage("GET /payments/{number}", s.page(w.PaymentDetail, payers...))
	s.handlePage("POST /payments/{number}/pay", s.page(w.PaymentPay, payers...))
	s.handlePage("POST /payments/{number}/cancel", s.page(w.PaymentCancel, payers...))
	s.handlePage("POST /payments/{number}/delete", s.page(w.PaymentDelete, payers...))
	s.handlePage("GET /payments/{number}/invoice.pdf", s.page(w.PaymentInvoice, payers...))
	s.handlePage("POST /billing-info", s.page(w.SaveBillingInfo, payers...))
	s.handlePage("GET /prices", s.page(w.Prices, distributors...))
	s.handlePage("POST /prices", s.page(w.SavePrices, distributors...))
	s.handlePage("GET /coupons", s.page(w.Coupons, distributors...))
	s.handlePage("POST /coupons", s.page(w.IssueCoupon, distributors...))
}
