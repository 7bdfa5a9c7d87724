package server

// routesNotifications: Setting → Notification, the signed-in account's own
// e-mail switches (every role), as a page and in the API.
func (s *Server) routesNotifications() {
	a, w := s.api, s.web
	s.handleAPI("GET /api/v1/me/notifications", s.apiAuth(a.GetNotificationSettings))
	s.handleAPI("PUT /api/v1/me/notifications", s.apiAuth(a.PutNotificationSettings))
	s.handlePage("GET /account/notifications", s.page(w.NotificationsPage))
	s.handlePage("POST /account/notifications", s.page(w.SaveNotifications))
}
