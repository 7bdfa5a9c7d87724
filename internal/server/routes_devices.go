package server

import "github.com/gatehouse-dev/gatehouse/internal/model"

// routesDevices registers the API routes (with s.handleAPI) and portal pages of
// this module: the sub-distributor's Project Device (community, office) and
// Personal Device lists, a device's detail page, delete and batch delete.
// The store scopes every read and write to the caller's subtree, so every
// role may use the API; the pages are the sub-distributor's.
func (s *Server) routesDevices() {
	readers := []model.Role{model.RoleSubdistributor, model.RoleDistributor, model.RoleAdmin, model.RoleInstaller}
	s.handleAPI("GET /api/v1/devices", s.apiAuth(s.api.ListDevices, readers...))
	s.handleAPI("GET /api/v1/devices/{mac}", s.apiAuth(s.api.GetDevice, readers...))
	s.handleAPI("DELETE /api/v1/devices/{mac}", s.apiAuth(s.api.DeleteDevice, readers...))
	s.handleAPI("POST /api/v1/devices/batch-delete", s.apiAuth(s.api.BatchDeleteDevices, readers...))

	sub := model.RoleSubdistributor
	s.handlePage("GET /project-devices", s.page(s.web.ProjectDevices, sub))
	s.handlePage("GET /personal-devices", s.page(s.web.PersonalDevices, sub))
	s.handlePage("GET /devices/{mac}", s.page(s.web.DeviceDetail, sub))
	s.handlePage("GET /devices/{mac}/delete", s.page(s.web.DeviceDeleteConfirm, sub))
	s.handlePage("POST /devices/{mac}/delete", s.page(s.web.DeleteDevice, sub))
	s.handlePage("POST /devices/batch-delete", s.page(s.web.BatchDeleteDevices, sub))
}
