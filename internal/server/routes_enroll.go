package server

import "github.com/gatehouse-dev/gatehouse/internal/model"

// routesEnroll registers device enrollment: the pending keys, accept and
// reject, a device's enrollment and "accept the next key" windows. The store
// scopes everything to the caller's subtree, so every role may use the API;
// the pages are the installer's and the sub-distributor's.
func (s *Server) routesEnroll() {
	roles := []model.Role{model.RoleSubdistributor, model.RoleDistributor, model.RoleAdmin, model.RoleInstaller}
	s.handleAPI("GET /api/v1/pending-keys", s.apiAuth(s.api.ListPendingKeys, roles...))
	s.handleAPI("POST /api/v1/pending-keys/{id}/accept", s.apiAuth(s.api.AcceptPendingKey, roles...))
	s.handleAPI("POST /api/v1/pending-keys/{id}/reject", s.apiAuth(s.api.RejectPendingKey, roles...))
	s.handleAPI("GET /api/v1/devices/{mac}/enrollment", s.apiAuth(s.api.GetDeviceEnrollment, roles...))
	s.handleAPI("GET /api/v1/enrollment-windows", s.apiAuth(s.api.ListEnrollWindows, roles...))
	s.handleAPI("POST /api/v1/enrollment-windows", s.apiAuth(s.api.OpenEnrollWindow, roles...))
	s.handleAPI("DELETE /api/v1/enrollment-windows/{id}", s.apiAuth(s.api.CloseEnrollWindow, roles...))

	people := []model.Role{model.RoleSubdistributor, model.RoleInstaller}
	s.handlePage("GET /pending-devices", s.page(s.web.PendingDevices, people...))
	s.handlePage("POST /pending-devices/{id}/accept", s.page(s.web.AcceptPendingKey, people...))
	s.handlePage("POST /pending-devices/{id}/reject", s.page(s.web.RejectPendingKey, people...))
	s.handlePage("POST /enrollment-windows", s.page(s.web.OpenEnrollWindow, people...))
	s.handlePage("POST /enrollment-windows/{id}/close", s.page(s.web.CloseEnrollWindow, people...))
}
