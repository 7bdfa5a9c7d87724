package server

import "github.com/gatehouse-dev/gatehouse/internal/model"

// routesCameras registers the API routes (with s.handleAPI) and portal pages of
// this module: the sub-distributor's Third-Party Device module. The camera
// list and the single delete are the installer portal's routes too
// (routes_installerportal.go); the store scopes every read and delete to
// the caller's subtree, so every signed-in role may use the API. The pages
// are the sub-distributor's.
func (s *Server) routesCameras() {
	a, w := s.api, s.web
	s.handleAPI("POST /api/v1/third-party-devices/batch-delete", s.apiAuth(a.DeleteThirdPartyDevices))

	sub := model.RoleSubdistributor
	s.handlePage("GET /third-party-devices", s.page(w.Cameras, sub))
	s.handlePage("GET /third-party-devices/delete", s.page(w.CamerasDeleteConfirm, sub))
	s.handlePage("POST /third-party-devices/delete", s.page(w.DeleteCameras, sub))
	s.handlePage("GET /third-party-devices/{id}", s.page(w.Camera, sub))
	s.handlePage("GET /third-party-devices/{id}/delete", s.page(w.CameraDeleteConfirm, sub))
	s.handlePage("POST /third-party-devices/{id}/delete", s.page(w.DeleteCamera, sub))
}
