package server

import "github.com/gatehouse-dev/gatehouse/internal/model"

// routesWebhooks registers the webhooks' API and pages (issue 16). Every
// role registers endpoints for its own account; the store hands each only
// its own (another account's id is not found), and an endpoint hears only
// the events of its account's subtree.
func (s *Server) routesWebhooks() {
	roles := []model.Role{model.RoleAdmin, model.RoleDistributor, model.RoleSubdistributor, model.RoleInstaller}
	a, w := s.api, s.web
	s.handleAPI("GET /api/v1/webhooks", s.apiAuth(a.ListWebhookEndpoints, roles...))
	s.handleAPI("POST /api/v1/webhooks", s.apiAuth(a.CreateWebhookEndpoint, roles...))
	s.handleAPI("GET /api/v1/webhooks/{id}", s.apiAuth(a.GetWebhookEndpoint, roles...))
	s.handleAPI("PATCH /api/v1/webhooks/{id}", s.apiAuth(a.UpdateWebhookEndpoint, roles...))
	s.handleAPI("DELETE /api/v1/webhooks/{id}", s.apiAuth(a.DeleteWebhookEndpoint, roles...))
	s.handleAPI("POST /api/v1/webhooks/{id}/rotate-secret", s.apiAuth(a.RotateWebhookSecret, roles...))
	s.handleAPI("POST /api/v1/webhooks/{id}/test", s.apiAuth(a.SendTestWebhook, roles...))
	s.handleAPI("GET /api/v1/webhooks/{id}/deliveries", s.apiAuth(a.ListWebhookDeliveries, roles...))
	s.handleAPI("GET /api/v1/webhook-deliveries/{id}", s.apiAuth(a.GetWebhookDelivery, roles...))
	s.handleAPI("POST /api/v1/webhook-deliveries/{id}/redeliver", s.apiAuth(a.RedeliverWebhook, roles...))

	s.handlePage("GET /webhooks", s.page(w.Webhooks, roles...))
	s.handlePage("POST /webhooks", s.page(w.CreateWebhook, roles...))
	s.handlePage("GET /webhooks/{id}", s.page(w.WebhookPage, roles...))
	s.handlePage("POST /webhooks/{id}", s.page(w.SaveWebhook, roles...))
	s.handlePage("POST /webhooks/{id}/delete", s.page(w.DeleteWebhook, roles...))
	s.handlePage("POST /webhooks/{id}/rotate", s.page(w.RotateWebhook, roles...))
	s.handlePage("POST /webhooks/{id}/test", s.page(w.TestWebhook, roles...))
	s.handlePage("POST /webhooks/deliveries/{id}/redeliver", s.page(w.RedeliverWebhook, roles...))
}
