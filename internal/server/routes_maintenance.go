package server

import (
	"errors"
	"net/http"
	"net/http/httputil"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/gateway"
	"github.com/gatehouse-dev/gatehouse/internal/model"
	"github.com/gatehouse-dev/gatehouse/internal/store"
	"github.com/gatehouse-dev/gatehouse/internal/usecase"
)

// routesMaintenance registers remote maintenance: reboot, reset, a device's
// commands, and Remote Control sessions with their /remote/{token}/ proxy.
// The store scopes every device to the caller's subtree, so every role may
// use the API; the device page is the sub-distributor's.
func (s *Server) routesMaintenance() {
	roles := []model.Role{model.RoleSubdistributor, model.RoleDistributor, model.RoleAdmin, model.RoleInstaller}
	s.handleAPI("POST /api/v1/devices/{mac}/reboot", s.apiAuth(s.api.RebootDevice, roles...))
	s.handleAPI("POST /api/v1/devices/{mac}/reset", s.apiAuth(s.api.ResetDevice, roles...))
	s.handleAPI("GET /api/v1/devices/{mac}/commands", s.apiAuth(s.api.ListDeviceCommands, roles...))
	s.handleAPI("POST /api/v1/devices/{mac}/remote-sessions", s.apiAuth(s.api.CreateRemoteSession, roles...))

	sub := model.RoleSubdistributor
	s.handlePage("POST /devices/{mac}/reboot", s.page(s.web.RebootDevice, sub))
	s.handlePage("POST /devices/{mac}/reset", s.page(s.web.ResetDevice, sub))
	s.handlePage("POST /devices/{mac}/remote-control", s.page(s.web.OpenRemoteControl, sub))

	s.mux.HandleFunc("/remote/{token}", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, usecase.RemotePath(r.PathValue("token")), http.StatusMovedPermanently)
	})
	s.mux.HandleFunc("/remote/{token}/{rest...}", s.remoteControl)
}

// remoteControl reverse-proxies one request of a Remote Control session to
// the device's own web interface, through a tunnel on whichever node holds
// the device's connection. The session cookie says who asks; the token in
// the path says which device (and is what a cross-site form cannot know, so
// no CSRF token is asked: the device's own forms post here).
func (s *Server) remoteControl(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxRequestBody)
	id, err := s.identify(r, false)
	if err == nil && id == nil {
		err = model.Errorf(model.EUNAUTHORIZED, "Sign in first.")
	}
	if err != nil {
		s.writePageError(w, r, err)
		return
	}
	ctx := model.WithActor(auth.WithIdentity(r.Context(), id), id.Actor())
	r = r.WithContext(ctx)
	token := r.PathValue("token")
	mac, err := s.store.RemoteSessionDevice(ctx, token)
	if err != nil {
		s.log.Info("remote control refused", "account", id.Actor().Username, "error", err)
		setPageHeaders(w)
		s.writePageError(w, r, err)
		return
	}
	s.remoteProxy(w, r, mac, token, r.PathValue("rest"), true)
}

// RemoteCookie holds, on the separate Remote Control origin, the secret of
// the browser that claimed a session (path-scoped to that session).
const RemoteCookie = "gatehouse_remote"

// remoteOrigin serves the separate Remote Control origin (--remote-url):
// nothing but /remote/{token}/…, authenticated by the session's handoff
// code on the link's first use and by a cookie of that browser afterwards.
// The portal's cookies are not sent here (another host), so the device's
// pages run with their scripts and cannot act as the portal user.
func (s *Server) remoteOrigin(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxRequestBody)
	rest, ok := strings.CutPrefix(r.URL.Path, "/remote/")
	token, rest, _ := strings.Cut(rest, "/")
	if !ok || token == "" {
		http.Error(w, "Not found: this host serves Remote Control sessions only.", http.StatusNotFound)
		return
	}
	ctx := model.WithActor(r.Context(), model.System)
	prefix := usecase.RemotePath(token)
	if handoff := r.URL.Query().Get("handoff"); handoff != "" {
		mac, secret, err := s.cases.ClaimRemoteControl(ctx, token, handoff)
		if err != nil {
			s.log.Info("remote control claim refused", "error", err)
			http.Error(w, model.ErrorMessage(err), statusOf(err))
			return
		}
		http.SetCookie(w, &http.Cookie{Name: RemoteCookie, Value: secret, Path: prefix, HttpOnly: true,
			SameSite: http.SameSiteLaxMode, Secure: s.secure(r), Expires: time.Now().Add(store.RemoteSessionTTL)})
		s.log.Info("remote control claimed", "mac", mac)
		http.Redirect(w, r, prefix+rest, http.StatusSeeOther)
		return
	}
	c, err := r.Cookie(RemoteCookie)
	secret := ""
	if err == nil {
		secret = c.Value
	}
	mac, err := s.store.RemoteSessionBrowser(ctx, token, secret)
	if err != nil {
		http.Error(w, model.ErrorMessage(err), statusOf(err))
		return
	}
	s.remoteProxy(w, r.WithContext(ctx), mac, token, rest, false)
}

// remoteProxy forwards one request of a Remote Control session to the
// device's web interface; sandbox serves its pages without scripts nor
// meta http-equiv (when they share the portal's origin). Headers cross
// through allow-lists both ways (remote_proxy.go).
func (s *Server) remoteProxy(w http.ResponseWriter, r *http.Request, mac, token, rest string, sandbox bool) {
	prefix := strings.TrimSuffix(usecase.RemotePath(token), "/")
	view := remoteView{prefix: prefix, reqPath: r.URL.EscapedPath(), secure: s.secure(r), sandbox: sandbox, now: time.Now()}
	if validHost(r.Host) {
		view.origin = "http://" + r.Host
		if view.secure {
			view.origin = "https://" + r.Host
		}
	}
	proxy := &httputil.ReverseProxy{
		Transport: s.gateway.Tunnel(mac),
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.Out.URL.Scheme, pr.Out.URL.Host = "http", "device"
			pr.Out.URL.Path, pr.Out.URL.RawPath = "/"+rest, ""
			pr.Out.Host = mac
			// The device never sees the portal's credentials.
			pr.Out.Header = remoteRequestHeader(pr.In, prefix, mac)
		},
		ModifyResponse: view.filterResponse,
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			if errors.Is(err, gateway.ErrOffline) {
				s.writePageError(w, r, model.Errorf(model.ECONFLICT, "Device %s is offline: Remote Control needs it connected.", mac))
				return
			}
			s.log.Warn("remote control failed", "mac", mac, "error", err)
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			w.WriteHeader(http.StatusBadGateway)
			w.Write([]byte("The device did not answer through the cloud: " + err.Error() + "\n"))
		},
	}
	proxy.ServeHTTP(w, r)
}
