package server

import (
	"github.com/gatehouse-dev/gatehouse/internal/autopserver"
	"github.com/gatehouse-dev/gatehouse/internal/model"
)

// routesAutoP registers the AutoP server (/autop/{MAC}.cfg), a device's
// AutoP commands and preview, and Batch AutoP: API routes and pages. The
// store scopes every read and write to the caller's subtree, so every role
// may use the API; the pages are the sub-distributor's.
func (s *Server) routesAutoP() {
	// Devices fetch their files here, authenticated by MAC and key
	// (docs/device-protocol.md §7): neither a page nor the JSON API.
	// Rendered files are kept on every node: each change is told to every
	// node's cache (usecase events), which serves only while it hears them.
	s.autop = autopserver.New(s.store, s.log, true, s.deviceLimiter)
	s.mux.Handle(autoPFetchRoute, s.autop)

	roles := []model.Role{model.RoleSubdistributor, model.RoleDistributor, model.RoleAdmin, model.RoleInstaller}
	s.handleAPI("GET /api/v1/devices/{mac}/autop", s.apiAuth(s.api.GetDeviceAutoP, roles...))
	s.handleAPI("PUT /api/v1/devices/{mac}/autop", s.apiAuth(s.api.PutDeviceAutoP, roles...))
	s.handleAPI("PUT /api/v1/devices/{mac}/connect-type", s.apiAuth(s.api.PutDeviceConnectType, roles...))
	s.handleAPI("GET /api/v1/devices/{mac}/autop/preview", s.apiAuth(s.api.PreviewDeviceAutoP, roles...))
	s.handleAPI("POST /api/v1/autop/batch", s.apiAuth(s.api.CreateAutoPBatch, roles...))
	s.handleAPI("GET /api/v1/autop/batch/{id}", s.apiAuth(s.api.GetAutoPBatch, roles...))

	sub := model.RoleSubdistributor
	s.handlePage("POST /devices/{mac}/autop", s.page(s.web.SaveDeviceAutoP, sub))
	s.handlePage("POST /devices/{mac}/connect-type", s.page(s.web.SaveDeviceConnectType, sub))
	s.handlePage("GET /autop", s.page(s.web.BatchAutoP, sub))
	s.handlePage("POST /autop", s.page(s.web.BatchAutoPPost, sub))
	s.handlePage("GET /autop/batches/{id}", s.page(s.web.AutoPBatchPage, sub))
}
