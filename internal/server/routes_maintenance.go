package server

// routesMaintenance registers remote maintenance: reboot, reset, a device's
// commands, and Remote Control sessions with their /remote/{token}/ proxy.
func (s *Server) routesMaintenance() {
}
