package server

// routesDashboard: the home page's dashboard in the API (the page itself is
// GET /, the web's Home), and the list its failed-command figures link to.
// The store scopes every figure to the caller's subtree, so every role may
// use them.
func (s *Server) routesDashboard() {
	a, w := s.api, s.web
	s.handleAPI("GET /api/v1/dashboard", s.apiAuth(a.GetDashboard))
	s.handleAPI("GET /api/v1/failed-commands", s.apiAuth(a.ListFailedCommands))
	s.handlePage("GET /failed-commands", s.page(w.FailedCommands))
}
