package server

import "github.com/gatehouse-dev/gatehouse/internal/model"

// routesDiagnostics registers the devices' diagnostics (README
// "Diagnostics"): the API for every role (the store scopes each device and
// diagnostic to the caller's subtree), the installer's own device paths,
// and the forms of the sub-distributor's and the installer's device pages.
// The pages' Download links are the API's file route (a session cookie
// authenticates a GET).
func (s *Server) routesDiagnostics() {
	a, w := s.api, s.web
	roles := []model.Role{model.RoleSubdistributor, model.RoleDistributor, model.RoleAdmin, model.RoleInstaller}
	s.handleAPI("POST /api/v1/devices/{mac}/diagnostics", s.apiAuth(a.CreateDiagnostic, roles...))
	s.handleAPI("GET /api/v1/devices/{mac}/diagnostics", s.apiAuth(a.ListDiagnostics, roles...))
	s.handleAPI("POST /api/v1/installer/devices/{mac}/diagnostics", s.apiAuth(a.CreateDiagnostic, model.RoleInstaller))
	s.handleAPI("GET /api/v1/installer/devices/{mac}/diagnostics", s.apiAuth(a.ListDiagnostics, model.RoleInstaller))
	s.handleAPI("GET /api/v1/diagnostics/{id}", s.apiAuth(a.GetDiagnostic, roles...))
	s.handleAPI("GET /api/v1/diagnostics/{id}/file", s.apiAuth(a.DownloadDiagnostic, roles...))

	s.handlePage("POST /devices/{mac}/diagnostics", s.page(w.RequestDiagnostic, model.RoleSubdistributor))
	s.handlePage("POST /installer/devices/{mac}/diagnostics", s.page(w.RequestInstallerDiagnostic, model.RoleInstaller))
}
