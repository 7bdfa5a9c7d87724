package server

// routesBilling registers the API routes (with s.handleAPI) and portal pages of
// this module.
func (s *Server) routesBilling() {
}
