package server

// routesGateway registers the device gateway (docs/device-protocol.md).
func (s *Server) routesGateway() {
	s.mux.Handle("GET /device/v1/connect", s.gateway)
}
