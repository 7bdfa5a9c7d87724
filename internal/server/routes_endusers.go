package server

import "github.com/gatehouse-dev/gatehouse/internal/model"

// routesEndUsers registers the API routes (with s.handleAPI) and portal pages of
// this module: the User module's Villa User, Community User and Office User
// lists and the end-user detail view. The store scopes every read to the
// caller's subtree, so every role above the end users may use the API; the
// pages are the sub-distributor's.
func (s *Server) routesEndUsers() {
	readers := []model.Role{model.RoleSubdistributor, model.RoleDistributor, model.RoleAdmin, model.RoleInstaller}
	s.handleAPI("GET /api/v1/end-users", s.apiAuth(s.api.ListEndUsers, readers...))
	s.handleAPI("GET /api/v1/end-users/{id}", s.apiAuth(s.api.GetEndUser, readers...))

	sub := model.RoleSubdistributor
	s.handlePage("GET /users/villa", s.page(s.web.EndUserList(model.KindVilla), sub))
	s.handlePage("GET /users/community", s.page(s.web.EndUserList(model.KindCommunity), sub))
	s.handlePage("GET /users/office", s.page(s.web.EndUserList(model.KindOffice), sub))
	s.handlePage("GET /users/end-users/{id}", s.page(s.web.EndUserDetail, sub))
}
