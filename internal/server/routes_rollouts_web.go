package server

import "github.com/gatehouse-dev/gatehouse/internal/model"

// routesRolloutsWeb registers the portal pages of firmware rollouts: a
// firmware's Upgrade form, the rollout list, a rollout's page with its
// actions, its live progress (JSON for static/rollouts.js) and its devices
// as CSV. Admin, distributor and sub-distributor roll out within their
// tree, an installer to its own devices; the store scopes every rollout to
// its creator's account and that account's ancestors (another's id is not
// found).
func (s *Server) routesRolloutsWeb() {
	w := s.web
	roles := []model.Role{model.RoleAdmin, model.RoleDistributor, model.RoleSubdistributor, model.RoleInstaller}
	s.handlePage("GET /firmware/{id}/upgrade", s.page(w.RolloutForm, roles...))
	s.handlePage("POST /firmware/{id}/upgrade", s.page(w.RolloutFormPost, roles...))
	s.handlePage("GET /rollouts", s.page(w.Rollouts, roles...))
	s.handlePage("GET /rollouts/{id}", s.page(w.RolloutPage, roles...))
	s.handlePage("GET /rollouts/{id}/progress", s.page(w.RolloutProgressJSON, roles...))
	s.handlePage("GET /rollouts/{id}/devices.csv", s.page(w.RolloutDevicesCSV, roles...))
	s.handlePage("POST /rollouts/{id}/{action}", s.page(w.RolloutAction, roles...))
}
