package server

import "github.com/gatehouse-dev/gatehouse/internal/model"

// routesAvailability: a device's availability history (README
// "Availability"). Its page panel is drawn by the device pages themselves.
func (s *Server) routesAvailability() {
	readers := []model.Role{model.RoleSubdistributor, model.RoleDistributor, model.RoleAdmin, model.RoleInstaller}
	s.handleAPI("GET /api/v1/devices/{mac}/availability", s.apiAuth(s.api.GetDeviceAvailability, readers...))
}
