package server

import (
	"errors"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/api"
	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/gateway"
	"github.com/gatehouse-dev/gatehouse/internal/model"
	"github.com/gatehouse-dev/gatehouse/internal/store"
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
		http.Redirect(w, r, api.RemotePath(r.PathValue("token")), http.StatusMovedPermanently)
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
	prefix := api.RemotePath(token)
	if handoff := r.URL.Query().Get("handoff"); handoff != "" {
		mac, secret, err := s.store.ClaimRemoteSession(ctx, token, handoff)
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
// device's web interface; sandbox serves its pages without scripts (when
// they share the portal's origin).
func (s *Server) remoteProxy(w http.ResponseWriter, r *http.Request, mac, token, rest string, sandbox bool) {
	prefix := strings.TrimSuffix(api.RemotePath(token), "/")
	proxy := &httputil.ReverseProxy{
		Transport: s.gateway.Tunnel(mac),
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.Out.URL.Scheme, pr.Out.URL.Host = "http", "device"
			pr.Out.URL.Path, pr.Out.URL.RawPath = "/"+rest, ""
			pr.Out.Host = mac
			// The device never sees the portal's credentials.
			pr.Out.Header.Del("Authorization")
			pr.Out.Header.Del("X-CSRF-Token")
			pr.Out.Header.Del("Cookie")
			for _, c := range pr.In.Cookies() {
				if c.Name != SessionCookie && c.Name != ActingCookie && c.Name != RemoteCookie {
					pr.Out.AddCookie(c)
				}
			}
		},
		ModifyResponse: func(resp *http.Response) error {
			if loc := resp.Header.Get("Location"); loc != "" {
				resp.Header.Set("Location", remoteLocation(prefix, loc))
			}
			cookies := resp.Cookies()
			resp.Header.Del("Set-Cookie")
			for _, c := range cookies {
				if c.Name == SessionCookie || c.Name == ActingCookie || c.Name == RemoteCookie {
					continue
				}
				c.Path, c.Domain = prefix+"/", ""
				resp.Header.Add("Set-Cookie", c.String())
			}
			h := resp.Header
			// The device's pages are shown on the portal's origin, where a
			// script of theirs could act with the portal session: they are
			// sandboxed without scripts (forms, links and the device's own
			// cookies keep working).
			if sandbox {
				h.Set("Content-Security-Policy", "sandbox allow-forms allow-same-origin allow-popups allow-downloads; "+
					"script-src 'none'; object-src 'none'; base-uri 'none'; frame-ancestors 'self'")
			}
			h.Set("X-Content-Type-Options", "nosniff")
			h.Set("Referrer-Policy", "same-origin")
			h.Set("Cache-Control", "no-store")
			h.Set("X-Frame-Options", "SAMEORIGIN")
			return nil
		},
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

// remoteLocation maps a redirect of the device's web interface into the
// session's path: "/status" and "http://192.168.1.20/status" both become
// "/remote/{token}/status"; a relative one is left alone.
func remoteLocation(prefix, loc string) string {
	u, err := url.Parse(loc)
	// Backslashes and control characters are read by browsers as slashes
	// or dropped: such a redirect could leave the session's path.
	if err != nil || strings.ContainsAny(loc, "\\\x00\t\r\n") || (u.Scheme != "" && u.Scheme != "http" && u.Scheme != "https") {
		return prefix + "/"
	}
	if u.IsAbs() || u.Host != "" {
		u.Scheme, u.Host, u.User = "", "", nil
	} else if !strings.HasPrefix(u.Path, "/") {
		return loc
	}
	return prefix + "/" + strings.TrimLeft(u.RequestURI(), "/")
}
