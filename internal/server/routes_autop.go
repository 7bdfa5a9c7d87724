package server

// routesAutoP registers the AutoP server (/autop/{MAC}.cfg), a device's
// AutoP commands and preview, and Batch AutoP: API routes and pages.
func (s *Server) routesAutoP() {
}
