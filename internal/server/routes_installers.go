package server

import (
	"github.com/gatehouse-dev/gatehouse/internal/api"
	"github.com/gatehouse-dev/gatehouse/internal/model"
)

// routesInstallers: the User module's Installer tab (sub-distributor), the
// MAC library, access without password, and single-use password links.
func (s *Server) routesInstallers() {
	a, w := s.api, s.web
	managers := []model.Role{model.RoleSubdistributor, model.RoleDistributor, model.RoleAdmin}
	subs := []model.Role{model.RoleSubdistributor}
	installer := []model.Role{model.RoleInstaller}

	s.handleAPI("GET /api/v1/installers", s.apiAuth(a.ListInstallers, managers...))
	s.handleAPI("POST /api/v1/installers", s.apiAuth(a.CreateInstaller, model.RoleSubdistributor, model.RoleDistributor))
	s.handleAPI("GET /api/v1/installers/{id}", s.apiAuth(a.GetInstaller, managers...))
	s.handleAPI("PATCH /api/v1/installers/{id}", s.apiAuth(a.UpdateInstaller, managers...))
	s.handleAPI("DELETE /api/v1/installers/{id}", s.apiAuth(a.DeleteInstaller, managers...))
	s.handleAPI("POST /api/v1/installers/{id}/password-reset", s.apiAuth(a.ResetInstallerPassword, managers...))
	s.handleAPI("GET /api/v1/installers/{id}/macs", s.apiAuth(a.ListMACs))
	s.handleAPI("POST /api/v1/installers/{id}/macs", s.apiAuth(a.AddMACs, managers...))
	s.handleAPI("POST /api/v1/installers/{id}/macs/import", s.apiAuth(a.ImportMACs, managers...))
	s.handleAPI("DELETE /api/v1/installers/{id}/macs/{mac}", s.apiAuth(a.DeleteMAC, managers...))
	s.handleAPI("GET /api/v1/mac-template", s.apiAuth(api.MACTemplate))
	s.handleAPI("POST /api/v1/installers/{id}/impersonate", s.apiAuth(a.Impersonate, model.RoleSubdistributor, model.RoleDistributor))
	s.handleAPI("PUT /api/v1/me/access-without-password", s.apiAuth(a.SetAccessWithoutPassword, installer...))

	s.handlePage("GET /users", s.page(w.UsersHome, subs...))
	s.handlePage("GET /users/installers", s.page(w.Installers, subs...))
	s.handlePage("GET /users/installers/new", s.page(w.NewInstaller, subs...))
	s.handlePage("POST /users/installers", s.page(w.CreateInstaller, subs...))
	s.handlePage("GET /users/installers/{id}", s.page(w.Installer, subs...))
	s.handlePage("POST /users/installers/{id}", s.page(w.UpdateInstaller, subs...))
	s.handlePage("POST /users/installers/{id}/password-reset", s.page(w.ResetInstallerPassword, subs...))
	s.handlePage("POST /users/installers/{id}/two-factor-reset", s.page(w.ResetInstallerTwoFactor, subs...))
	s.handlePage("GET /users/installers/{id}/delete", s.page(w.ConfirmDeleteInstaller, subs...))
	s.handlePage("POST /users/installers/{id}/delete", s.page(w.DeleteInstaller, subs...))
	s.handlePage("POST /users/installers/{id}/macs", s.page(w.AddMAC, subs...))
	s.handlePage("POST /users/installers/{id}/macs/import", s.page(w.ImportMACs, subs...))
	s.handlePage("POST /users/installers/{id}/macs/{mac}/delete", s.page(w.DeleteMAC, subs...))
	s.handlePage("POST /users/installers/{id}/access", s.page(w.StartAccess, subs...))
	s.handlePage("POST /access/end", s.page(w.EndAccess))
	s.handlePage("GET /installer/settings", s.page(w.InstallerSettings, installer...))
	s.handlePage("POST /installer/settings/access", s.page(w.SetAccess, installer...))
	s.handlePage("GET /password/set", s.pagePublic(w.SetPasswordPage))
	s.handlePage("POST /password/set", s.pagePublic(w.SetPassword))
}
