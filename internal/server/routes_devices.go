package server

// routesDevices registers the API routes (with s.handleAPI) and portal pages of
// this module.
func (s *Server) routesDevices() {
}
