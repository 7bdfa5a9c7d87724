package server

import "github.com/gatehouse-dev/gatehouse/internal/model"

// routesSettings: the sub-distributor's Setting module (customer service
// contacts, Receive Feedback, the feedback list) and the installer's
// Support page (the contacts, the feedback form).
func (s *Server) routesSettings() {
	a, w := s.api, s.web
	subOnly := []model.Role{model.RoleSubdistributor}
	installerOnly := []model.Role{model.RoleInstaller}

	s.handleAPI("GET /api/v1/settings/customer-service", s.apiAuth(a.GetCustomerService, model.RoleSubdistributor, model.RoleInstaller))
	s.handleAPI("PUT /api/v1/settings/customer-service", s.apiAuth(a.PutCustomerService, subOnly...))
	s.handleAPI("GET /api/v1/feedback", s.apiAuth(a.ListFeedback, subOnly...))
	s.handleAPI("POST /api/v1/feedback", s.apiAuth(a.CreateFeedback, installerOnly...))

	s.handlePage("GET /settings", s.page(w.Settings, subOnly...))
	s.handlePage("POST /settings", s.page(w.SaveCustomerService, subOnly...))
	s.handlePage("GET /installer/support", s.page(w.Support, installerOnly...))
	s.handlePage("POST /installer/support", s.page(w.SendFeedback, installerOnly...))
}
