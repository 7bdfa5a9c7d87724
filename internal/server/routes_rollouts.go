package server

import "github.com/gatehouse-dev/gatehouse/internal/model"

// routesRollouts registers the firmware rollouts' API (issue 15). Every
// role that has devices may roll out to its own subtree's: the store scopes
// the targets and the rollouts (the creator's account and its ancestors).
func (s *Server) routesRollouts() {
	roles := []model.Role{model.RoleAdmin, model.RoleDistributor, model.RoleSubdistributor, model.RoleInstaller}
	a := s.api
	s.handleAPI("GET /api/v1/rollouts", s.apiAuth(a.ListRollouts, roles...))
	s.handleAPI("POST /api/v1/rollouts", s.apiAuth(a.CreateRollout, roles...))
	s.handleAPI("POST /api/v1/rollouts/preview", s.apiAuth(a.PreviewRollout, roles...))
	s.handleAPI("GET /api/v1/rollouts/{id}", s.apiAuth(a.GetRollout, roles...))
	s.handleAPI("GET /api/v1/rollouts/{id}/progress", s.apiAuth(a.GetRolloutProgress, roles...))
	s.handleAPI("GET /api/v1/rollouts/{id}/devices", s.apiAuth(a.ListRolloutDevices, roles...))
	s.handleAPI("POST /api/v1/rollouts/{id}/start", s.apiAuth(a.StartRollout, roles...))
	s.handleAPI("POST /api/v1/rollouts/{id}/pause", s.apiAuth(a.PauseRollout, roles...))
	s.handleAPI("POST /api/v1/rollouts/{id}/resume", s.apiAuth(a.ResumeRollout, roles...))
	s.handleAPI("POST /api/v1/rollouts/{id}/cancel", s.apiAuth(a.CancelRollout, roles...))
	s.handleAPI("GET /api/v1/devices/{mac}/firmware-upgrades", s.apiAuth(a.DeviceFirmwareHistory, roles...))
}
