// Package server wires Gatehouse's HTTP surface: every route in one place,
// the authentication and CSRF wrappers, the one error adapter, metrics and
// graceful shutdown.
package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gatehouse-dev/gatehouse/internal/api"
	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/autopserver"
	"github.com/gatehouse-dev/gatehouse/internal/billing"
	"github.com/gatehouse-dev/gatehouse/internal/bus"
	"github.com/gatehouse-dev/gatehouse/internal/deviceauth"
	"github.com/gatehouse-dev/gatehouse/internal/gateway"
	"github.com/gatehouse-dev/gatehouse/internal/mail"
	"github.com/gatehouse-dev/gatehouse/internal/model"
	"github.com/gatehouse-dev/gatehouse/internal/store"
	"github.com/gatehouse-dev/gatehouse/internal/usecase"
	"github.com/gatehouse-dev/gatehouse/internal/web"
)

// SessionCookie is the name of the portal's session cookie; ActingCookie
// holds the session of "access without password" beside it, so that ending
// it returns to the account's own session.
const (
	SessionCookie = "gatehouse_session"
	ActingCookie  = "gatehouse_acting"
)

// Config is what `gatehouse serve` passes in.
type Config struct {
	Addr       string
	PublicURL  string // where users reach this server (links in emails); default http://Addr
	TrustProxy bool   // take the client address and scheme from X-Forwarded-* headers
	TLSCert    string
	TLSKey     string
	// Providers are the configured payment providers by name ("stripe",
	// "paypal"); a missing one is shown as not configured.
	Providers map[string]billing.Provider
	// Bus carries device events between nodes; nil is this node alone
	// (an in-process bus).
	Bus bus.Bus
	// Gateway tunes this node's device gateway (node name, heartbeat).
	Gateway gateway.Options
	// DeviceLimits bound the attempts of devices with keys the cloud did
	// not accept, on the gateway and the AutoP server together; zero fields
	// take deviceauth.DefaultLimits.
	DeviceLimits deviceauth.Limits
	// RemoteURL is the base of a separate origin for Remote Control
	// (https://remote.example.com, pointing at the same servers); empty:
	// sessions are served on the portal's own host, sandboxed without scripts.
	RemoteURL string
	// DataDir is the node's data directory: it caches firmware images in
	// <DataDir>/firmware (empty: a temporary directory).
	DataDir string
	// Firmware bounds uploads and downloads of firmware images (zero
	// fields: the defaults).
	Firmware FirmwareOptions
	// RolloutEvery is how often the firmware rollout scheduler steps
	// (usecase.DefaultRolloutEvery when 0).
	RolloutEvery time.Duration
	// NotifyEvery is how often the notification scheduler runs
	// (usecase.DefaultNotifyEvery when 0).
	NotifyEvery time.Duration
	// DashboardEvery is how often the dashboard's summaries are recomputed
	// (usecase.DefaultDashboardEvery when 0).
	DashboardEvery time.Duration
	// Webhooks configure the webhook deliveries: internal addresses
	// allowed (`--webhook-allow-private`), concurrency, the client.
	Webhooks usecase.WebhookOptions
	// Diagnostics bound the devices' diagnostics (size, retention), and
	// DiagnosticsSweepEvery is how often their sweeper runs
	// (usecase.DefaultDiagnosticsSweep when 0).
	Diagnostics           usecase.DiagnosticOptions
	DiagnosticsSweepEvery time.Duration
	// Availability configures the availability history: its retention
	// (`--availability-retention`) and how often the sweep runs.
	Availability usecase.AvailabilityOptions
}

// Server is the HTTP side of one Gatehouse node.
type Server struct {
	cfg       Config
	store     *store.Store
	auth      *auth.Service
	log       *slog.Logger
	cases     *usecase.Cases // the application layer api and web call
	api       *api.API
	web       *web.Web
	metrics   *metrics
	mux       *http.ServeMux
	apiRoutes []string
	pages     map[string]bool
	gateway   *gateway.Gateway
	autop     *autopserver.Server // its fetch records are written at shutdown
	// deviceLimiter is shared by the gateway and the AutoP server.
	deviceLimiter *deviceauth.Limiter
	bus           bus.Bus // Config.Bus, or this node's in-process one
	// remoteHost is the host of Config.RemoteURL: requests to it reach
	// Remote Control sessions only.
	remoteHost string
	// hooks delivers webhooks from this node (Run runs it).
	hooks *usecase.WebhookDispatcher
}

// New builds the server and its routes.
func New(cfg Config, st *store.Store, au *auth.Service, mailer mail.Sender, log *slog.Logger) (*Server, error) {
	// Devices are told the AutoP and firmware URLs of the public URL when
	// the operator gave one; else of the host they dialed (an address such
	// as 127.0.0.1:0 or :8080 is no URL a device can use).
	publicGiven := cfg.PublicURL != ""
	if !publicGiven {
		cfg.PublicURL = "http://" + cfg.Addr
	}
	cfg.PublicURL = strings.TrimSuffix(cfg.PublicURL, "/")
	s := &Server{cfg: cfg, store: st, auth: au, log: log, metrics: newMetrics(), mux: http.NewServeMux(), pages: map[string]bool{}}
	if cfg.Bus == nil {
		cfg.Bus = bus.NewLocal()
	}
	s.bus = cfg.Bus
	if u, err := url.Parse(cfg.PublicURL); publicGiven && cfg.Gateway.PublicURL == "" && err == nil && u.Host != "" {
		cfg.Gateway.PublicURL = cfg.PublicURL
	}
	if cfg.Gateway.Limiter == nil {
		cfg.Gateway.Limiter = deviceauth.NewLimiter(cfg.DeviceLimits)
	}
	s.deviceLimiter = cfg.Gateway.Limiter
	s.gateway = gateway.New(st, cfg.Bus, log, cfg.Gateway)
	if cfg.RemoteURL != "" {
		u, err := url.Parse(cfg.RemoteURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") {
			return nil, fmt.Errorf("the Remote Control URL %q must be http(s)://host[:port] of its own", cfg.RemoteURL)
		}
		if p, err := url.Parse(cfg.PublicURL); err == nil && p.Host == u.Host {
			return nil, fmt.Errorf("the Remote Control URL %q must be another host than the portal's", cfg.RemoteURL)
		}
		cfg.RemoteURL = strings.TrimSuffix(cfg.RemoteURL, "/")
		s.cfg.RemoteURL, s.remoteHost = cfg.RemoteURL, u.Host
	}
	// Passkeys: this node is the WebAuthn relying party of its public URL
	// (a host name; none for an IP address or no URL).
	if au.Passkeys == nil {
		if rp, err := auth.NewRelyingParty(cfg.PublicURL); err == nil {
			au.Passkeys = rp
		} else if publicGiven {
			log.Warn("no passkeys", "err", err)
		}
	}
	s.cases = usecase.New(usecase.Deps{Store: st, Mail: mailer, Providers: cfg.Providers, Gateway: s.gateway, Bus: cfg.Bus, Log: log,
		PublicURL: cfg.PublicURL, RemoteURL: cfg.RemoteURL, FirmwareDir: s.firmwareDir(), FirmwareMaxBytes: cfg.Firmware.MaxBytes,
		Webhooks: cfg.Webhooks, Diagnostics: cfg.Diagnostics, Availability: cfg.Availability})
	s.hooks = s.cases.NewWebhookDispatcher(s.gateway.Node())
	s.api = &api.API{Cases: s.cases, Store: st, Auth: au,
		SetSessionCookie: s.setSessionCookie, ClearSessionCookie: s.clearSessionCookie}
	var err error
	s.web, err = web.New(web.Deps{Cases: s.cases, Store: st, Auth: au,
		SetCookie: s.setSessionCookie, ClearCookie: s.clearSessionCookie,
		SetActingCookie: s.setActingCookie, ClearActingCookie: s.clearActingCookie})
	if err != nil {
		return nil, err
	}
	s.routes()
	return s, nil
}

// Handler is the whole HTTP surface.
func (s *Server) Handler() http.Handler {
	if s.remoteHost == "" {
		return s.observe(s.mux)
	}
	return s.observe(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Host == s.remoteHost {
			s.remoteOrigin(w, r)
			return
		}
		s.mux.ServeHTTP(w, r)
	}))
}

// APIRoutes lists the registered API patterns ("GET /api/v1/…"), for the
// test that holds the OpenAPI document to them.
func (s *Server) APIRoutes() []string { return slices.Clone(s.apiRoutes) }

var (
	admins       = []model.Role{model.RoleAdmin}
	distributors = []model.Role{model.RoleAdmin, model.RoleDistributor}
)

func (s *Server) routes() {
	m := s.mux
	a, w := s.api, s.web

	// Operations.
	m.HandleFunc("GET /healthz", s.healthz)
	m.Handle("GET /metrics", s.metrics.handler())

	// JSON API.
	s.handleAPI("POST /api/v1/auth/login", limitBody(maxLoginBody, s.apiPublic(a.Login)))
	s.handleAPI("POST /api/v1/auth/password-recovery", limitBody(maxLoginBody, s.apiPublic(a.RecoverPassword)))
	s.handleAPI("POST /api/v1/auth/logout", s.apiAuth(a.Logout))
	s.handleAPI("GET /api/v1/me", s.apiAuth(a.Me))
	s.handleAPI("PUT /api/v1/me/password", s.apiAuth(a.ChangePassword))
	s.handleAPI("POST /api/v1/auth/login/second-factor", limitBody(maxLoginBody, s.apiPublic(a.LoginSecondFactor)))
	s.handleAPI("POST /api/v1/auth/login/passkey-options", limitBody(maxLoginBody, s.apiPublic(a.LoginPasskeyOptions)))
	s.handleAPI("GET /api/v1/me/passkeys", s.apiAuth(a.ListPasskeys))
	s.handleAPI("POST /api/v1/me/passkeys/options", s.apiAuth(a.PasskeyOptions))
	s.handleAPI("POST /api/v1/me/passkeys", s.apiAuth(a.AddPasskey))
	s.handleAPI("PATCH /api/v1/me/passkeys/{id}", s.apiAuth(a.RenamePasskey))
	s.handleAPI("DELETE /api/v1/me/passkeys/{id}", s.apiAuth(a.DeletePasskey))
	s.handleAPI("POST /api/v1/me/two-factor/passkey-options", s.apiAuth(a.TwoFactorPasskeyOptions))
	s.handleAPI("GET /api/v1/me/two-factor", s.apiAuth(a.TwoFactorStatus))
	s.handleAPI("POST /api/v1/me/two-factor", s.apiAuth(a.StartTwoFactor))
	s.handleAPI("POST /api/v1/me/two-factor/confirm", s.apiAuth(a.ConfirmTwoFactor))
	s.handleAPI("POST /api/v1/me/two-factor/disable", s.apiAuth(a.DisableTwoFactor))
	s.handleAPI("PUT /api/v1/me/two-factor/policy", s.apiAuth(a.SetTwoFactorPolicy, model.RoleAdmin, model.RoleDistributor, model.RoleSubdistributor))
	s.handleAPI("POST /api/v1/accounts/{id}/two-factor/reset", s.apiAuth(a.ResetChildTwoFactor, model.RoleAdmin, model.RoleDistributor, model.RoleSubdistributor))
	s.handleAPI("GET /api/v1/tokens", s.apiAuth(a.ListTokens))
	s.handleAPI("POST /api/v1/tokens", s.apiAuth(a.CreateToken))
	s.handleAPI("DELETE /api/v1/tokens/{id}", s.apiAuth(a.DeleteToken))
	s.handleAPI("GET /api/v1/firmware", s.apiAuth(a.ListFirmware))
	s.handleAPI("POST /api/v1/firmware", s.apiAuth(a.CreateFirmware, admins...))
	s.handleAPI("GET /api/v1/firmware/{id}", s.apiAuth(a.GetFirmware))
	s.handleAPI("GET /api/v1/distributors", s.apiAuth(a.ListDistributors, admins...))
	s.handleAPI("POST /api/v1/distributors", s.apiAuth(a.CreateDistributor, admins...))
	s.handleAPI("GET /api/v1/subdistributors", s.apiAuth(a.ListSubdistributors, distributors...))
	s.handleAPI("POST /api/v1/subdistributors", s.apiAuth(a.CreateSubdistributor, distributors...))
	s.handleAPI("GET /api/v1/subdistributors/{id}", s.apiAuth(a.GetSubdistributor, distributors...))
	s.handleAPI("PATCH /api/v1/subdistributors/{id}", s.apiAuth(a.UpdateSubdistributor, distributors...))
	s.handleAPI("GET /api/v1/audit", s.apiAuth(a.ListAudit))
	s.handleAPI("GET /api/v1/openapi.json", http.HandlerFunc(api.OpenAPI))

	// Modules, each registering its API routes and pages in its own file.
	s.routesInstallers()
	s.routesEndUsers()
	s.routesSettings()
	s.routesNotifications()
	s.routesDashboard()
	s.routesAvailability()
	s.routesInstallerPortal()
	s.routesDevices()
	s.routesCameras()
	s.routesBilling()
	s.routesGateway()
	s.routesAutoP()
	s.routesMaintenance()
	s.routesEnroll()
	s.routesFirmwareImages()
	s.routesRollouts()
	s.routesRolloutsWeb()
	s.routesWebhooks()
	s.routesDiagnostics()

	m.Handle("/api/", s.apiPublic(func(http.ResponseWriter, *http.Request) error {
		return model.Errorf(model.ENOTFOUND, "No such API route.")
	}))

	// Portal.
	m.Handle("GET /static/", w.Static())
	m.Handle("GET /login", s.pagePublic(w.LoginPage))
	m.Handle("POST /login", limitBody(maxLoginBody, s.pagePublic(w.Login)))
	m.Handle("POST /login/second-factor", limitBody(maxLoginBody, s.pagePublic(w.LoginSecondFactor)))
	m.Handle("GET /password/forgot", s.pagePublic(w.ForgotPasswordPage))
	m.Handle("POST /password/forgot", limitBody(maxLoginBody, s.pagePublic(w.ForgotPassword)))
	m.Handle("POST /logout", s.page(w.Logout))
	m.Handle("POST /language", limitBody(maxLoginBody, s.pagePublic(w.SetLanguage)))
	m.Handle("POST /account/language", s.page(w.SetOwnLanguage))
	m.Handle("GET /account", s.page(w.AccountPage))
	m.Handle("GET /account/password", s.page(w.PasswordPage))
	m.Handle("POST /account/password", s.page(w.ChangePassword))
	m.Handle("GET /account/two-factor", s.page(w.TwoFactorPage))
	m.Handle("GET /account/email", s.page(w.OwnEmailPage))
	m.Handle("POST /account/email", s.page(w.SetOwnEmail))
	m.Handle("POST /account/two-factor/start", s.page(w.StartTwoFactor))
	m.Handle("POST /account/two-factor/confirm", s.page(w.ConfirmTwoFactor))
	m.Handle("POST /account/two-factor/disable", s.page(w.DisableTwoFactor))
	m.Handle("POST /account/two-factor/passkeys", s.page(w.AddPasskey))
	m.Handle("POST /account/two-factor/passkeys/{id}/rename", s.page(w.RenamePasskey))
	m.Handle("POST /account/two-factor/passkeys/{id}/delete", s.page(w.DeletePasskey))
	m.Handle("POST /account/two-factor/policy", s.page(w.SetTwoFactorPolicy, model.RoleAdmin, model.RoleDistributor, model.RoleSubdistributor))
	m.Handle("GET /{$}", s.page(w.Home))
	m.Handle("GET /firmware", s.page(w.FirmwareList))
	m.Handle("GET /firmware/{id}", s.page(w.FirmwareDetail))
	m.Handle("GET /audit", s.page(w.AuditList))
	for _, mod := range web.PendingModules {
		// A module built since keeps its own route.
		if !s.pages["GET "+mod.Path] {
			m.Handle("GET "+mod.Path, s.page(w.Pending(mod), mod.Roles...))
		}
	}
	m.Handle("GET /distributors", s.page(w.Distributors, admins...))
	m.Handle("POST /distributors", s.page(w.CreateDistributor, admins...))
	m.Handle("GET /subdistributors", s.page(w.Subdistributors, distributors...))
	m.Handle("POST /subdistributors", s.page(w.CreateSubdistributor, distributors...))
	m.Handle("POST /subdistributors/{id}/switches", s.page(w.SubdistributorSwitches, distributors...))
	m.Handle("/", s.pagePublic(func(http.ResponseWriter, *http.Request) error {
		return model.Errorf(model.ENOTFOUND, "Page not found.")
	}))
}

// WebhookDispatcher is this node's webhook dispatcher (Run runs it; tests
// step it).
func (s *Server) WebhookDispatcher() *usecase.WebhookDispatcher { return s.hooks }

// Gateway is this node's device gateway (tests drive it directly).
func (s *Server) Gateway() *gateway.Gateway { return s.gateway }

// handlePage registers a portal page.
func (s *Server) handlePage(pattern string, h http.Handler) {
	s.pages[pattern] = true
	s.mux.Handle(pattern, h)
}

func (s *Server) handleAPI(pattern string, h http.Handler) {
	s.apiRoutes = append(s.apiRoutes, pattern)
	s.mux.Handle(pattern, h)
}

func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	w.Header().Set("Content-Type", "application/json")
	if err := s.store.Ping(ctx); err != nil {
		w.WriteHeader(http.StatusServiceUnavailable)
		w.Write([]byte(`{"status":"unavailable","database":"down"}` + "\n"))
		return
	}
	w.Write([]byte(`{"status":"ok","database":"` + string(s.store.Dialect()) + `"}` + "\n"))
}

// identify finds the identity of a request: a bearer token in the
// Authorization header, or the session cookie. Anonymous is (nil, nil).
func (s *Server) identify(r *http.Request, allowBearer bool) (*auth.Identity, error) {
	if h := r.Header.Get("Authorization"); allowBearer && h != "" {
		tok, ok := strings.CutPrefix(h, "Bearer ")
		if !ok {
			return nil, model.Errorf(model.EUNAUTHORIZED, "The Authorization header must be \"Bearer <token>\".")
		}
		id, err := s.auth.Authenticate(r.Context(), strings.TrimSpace(tok))
		if model.ErrorCode(err) == model.ENOTFOUND {
			return nil, model.Errorf(model.EUNAUTHORIZED, "The token is invalid or expired.")
		} else if err != nil {
			return nil, err
		}
		id.Bearer = true
		return id, nil
	}
	for _, name := range []string{ActingCookie, SessionCookie} {
		c, err := r.Cookie(name)
		if err != nil || c.Value == "" {
			continue
		}
		id, err := s.auth.Authenticate(r.Context(), c.Value)
		if model.ErrorCode(err) == model.ENOTFOUND {
			continue // an ended acting session falls back to the own one
		}
		if err == nil && name == ActingCookie {
			if own, err := r.Cookie(SessionCookie); err == nil {
				id.OwnToken = own.Value // logging out ends both
			}
		}
		return id, err
	}
	return nil, nil
}

// tooLargeForm parses the form the CSRF token may come in, answering 413
// for a body past maxRequestBody: PostFormValue would drop that error and
// the request be refused for a missing token instead.
func tooLargeForm(r *http.Request) error {
	var err error
	if strings.HasPrefix(r.Header.Get("Content-Type"), "multipart/form-data") {
		err = r.ParseMultipartForm(32 << 20) // PostFormValue's own memory bound
	} else {
		err = r.ParseForm()
	}
	if maxErr := (*http.MaxBytesError)(nil); errors.As(err, &maxErr) {
		return model.TooLarge("body", "is larger than %d MiB", maxRequestBody>>20)
	}
	return nil
}

func unsafeMethod(m string) bool {
	return m != http.MethodGet && m != http.MethodHead && m != http.MethodOptions
}

// authorize authenticates r, checks CSRF for cookie-authenticated unsafe
// requests and the role, and returns r with the identity and actor in ctx.
func (s *Server) authorize(w http.ResponseWriter, r *http.Request, allowBearer bool, roles []model.Role) (*http.Request, error) {
	// Bound every body before anything parses it (the CSRF check below may
	// parse a whole multipart form).
	r.Body = http.MaxBytesReader(w, r.Body, maxRequestBody)
	r2, id, err := s.authenticate(r, allowBearer, roles)
	if err != nil {
		return r2, err
	}
	if !id.Bearer && unsafeMethod(r.Method) {
		tok := r.Header.Get("X-CSRF-Token")
		if tok == "" {
			if err := tooLargeForm(r2); err != nil {
				return r2, err
			}
			tok = r2.PostFormValue("csrf_token")
		}
		if err := checkCSRF(id, tok); err != nil {
			return r2, err
		}
	}
	return r2, nil
}

// authenticate is authorize without the CSRF check and without touching
// the body: who asks, and may their role. The request it returns carries
// the identity (nil with the error when there is none).
func (s *Server) authenticate(r *http.Request, allowBearer bool, roles []model.Role) (*http.Request, *auth.Identity, error) {
	if err := checkText(r, !allowBearer); err != nil {
		return nil, nil, err
	}
	id, err := s.identify(r, allowBearer)
	if err != nil {
		return nil, nil, err
	}
	if id == nil {
		return nil, nil, model.Errorf(model.EUNAUTHORIZED, "Sign in first.")
	}
	// From here on the identity is known: a refusal still renders with the
	// account's top bar and navigation.
	ctx := auth.WithIdentity(r.Context(), id)
	ctx = model.WithActor(ctx, id.Actor())
	r2 := r.WithContext(ctx)
	if !id.Bearer && fromRemoteControl(r) {
		return r2, id, model.Errorf(model.EFORBIDDEN, "A page shown through Remote Control cannot use the portal with your session.")
	}
	// Working in an installer's account does not get round it either: the
	// person leaves it (or logs out) and sets it up in their own.
	if id.Session != nil && id.Session.MustEnrollTwoFactor && !enrollPaths[r.URL.Path] {
		return r2, id, errMustEnroll
	}
	if role := id.Effective().Role; len(roles) > 0 && !slices.Contains(roles, role) {
		return r2, id, model.Errorf(model.EFORBIDDEN, "This is not available to a %s account.", role.Label())
	}
	return r2, id, nil
}

// errMustEnroll refuses a session whose parent account requires two-factor
// sign-in it has not set up: everything but setting it up (and leaving).
// API tokens are not sessions: scripts go on.
var errMustEnroll = model.Errorf(model.EFORBIDDEN, "Your parent account requires two-factor sign-in: set it up first (Two-factor, /account/two-factor; API: POST /api/v1/me/two-factor).")

var enrollPaths = map[string]bool{
	"/account/language": true, "/account/two-factor": true, "/account/two-factor/start": true, "/account/two-factor/confirm": true, "/logout": true, "/access/end": true,
	"/api/v1/me": true, "/api/v1/me/two-factor": true, "/api/v1/me/two-factor/confirm": true, "/api/v1/auth/logout": true,
	// A passkey is set up instead of an app (issue 16).
	"/account/two-factor/passkeys": true, "/api/v1/me/passkeys": true, "/api/v1/me/passkeys/options": true,
}

func checkCSRF(id *auth.Identity, tok string) error {
	if !auth.CSRFValid(id.Session, tok) {
		return model.Errorf(model.EFORBIDDEN, "Missing or wrong CSRF token: reload the page and try again.")
	}
	return nil
}

func (s *Server) apiPublic(h api.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if unsafeMethod(r.Method) && r.Header.Get("Sec-Fetch-Site") == "cross-site" {
			s.writeAPIError(w, r, model.Errorf(model.EFORBIDDEN, "Cross-site requests are refused."))
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, maxRequestBody)
		if err := checkText(r, false); err != nil {
			s.writeAPIError(w, r, err)
			return
		}
		if err := h(w, r); err != nil {
			s.writeAPIError(w, r, err)
		}
	})
}

func (s *Server) apiAuth(h api.Handler, roles ...model.Role) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r2, err := s.authorize(w, r, true, roles)
		if err == nil {
			err = h(w, r2)
		}
		if err != nil {
			s.writeAPIError(w, r, err)
		}
	})
}

func (s *Server) pagePublic(h web.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if unsafeMethod(r.Method) && r.Header.Get("Sec-Fetch-Site") == "cross-site" {
			s.writePageError(w, r, model.Errorf(model.EFORBIDDEN, "Cross-site requests are refused."))
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, maxRequestBody)
		if err := checkText(r, true); err != nil {
			s.writePageError(w, r, err)
			return
		}
		setPageHeaders(w)
		if err := h(w, r); err != nil {
			s.writePageError(w, r, err)
		}
	})
}

func (s *Server) page(h web.Handler, roles ...model.Role) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		setPageHeaders(w)
		r2, err := s.authorize(w, r, false, roles)
		if errors.Is(err, errMustEnroll) && r.Method == http.MethodGet && (r2 == nil || auth.IdentityFrom(r2.Context()).ActingAs == nil) {
			asked := r // the reader's language is the signed-in person's
			if r2 != nil {
				asked = r2
			}
			notice := web.Translate(asked, "Your parent account requires two-factor sign-in: set it up to go on.")
			http.Redirect(w, r, "/account/two-factor?notice="+url.QueryEscape(notice), http.StatusSeeOther)
			return
		}
		// An account without an e-mail address is asked for one first.
		if err == nil && r.Method == http.MethodGet && !enrollPaths[r.URL.Path] && r.URL.Path != "/account/email" {
			if id := auth.IdentityFrom(r2.Context()); id.Session != nil && id.ActingAs == nil && strings.TrimSpace(id.Account.Email) == "" {
				http.Redirect(w, r, "/account/email?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
				return
			}
		}
		if err == nil {
			err = h(w, r2)
		}
		if err != nil {
			if r2 != nil {
				r = r2
			}
			s.writePageError(w, r, err)
		}
	})
}

// fromRemoteControl reports a request that a device's web page, shown
// through Remote Control on this origin, made by script (not a navigation
// by the user): it must not ride on the portal session.
func fromRemoteControl(r *http.Request) bool {
	if r.Header.Get("Sec-Fetch-Mode") == "navigate" {
		return false
	}
	ref, err := url.Parse(r.Header.Get("Referer"))
	return err == nil && strings.HasPrefix(ref.Path, "/remote/") && (ref.Host == "" || ref.Host == r.Host)
}

func setPageHeaders(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; form-action 'self'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "same-origin")
	h.Set("Cache-Control", "no-store")
}

// secure reports whether the client reached us over TLS.
func (s *Server) secure(r *http.Request) bool {
	return r.TLS != nil || (s.cfg.TrustProxy && r.Header.Get("X-Forwarded-Proto") == "https")
}

func (s *Server) setSessionCookie(w http.ResponseWriter, r *http.Request, token string, expires time.Time) {
	http.SetCookie(w, &http.Cookie{Name: SessionCookie, Value: token, Path: "/", Expires: expires,
		HttpOnly: true, SameSite: http.SameSiteLaxMode, Secure: s.secure(r)})
}

func (s *Server) clearSessionCookie(w http.ResponseWriter, r *http.Request) {
	for _, name := range []string{SessionCookie, ActingCookie} {
		s.clearCookie(w, r, name)
	}
}

func (s *Server) clearCookie(w http.ResponseWriter, r *http.Request, name string) {
	http.SetCookie(w, &http.Cookie{Name: name, Value: "", Path: "/", MaxAge: -1,
		HttpOnly: true, SameSite: http.SameSiteLaxMode, Secure: s.secure(r)})
}

// setActingCookie and clearActingCookie start and end working as an installer.
func (s *Server) setActingCookie(w http.ResponseWriter, r *http.Request, token string, expires time.Time) {
	http.SetCookie(w, &http.Cookie{Name: ActingCookie, Value: token, Path: "/", Expires: expires,
		HttpOnly: true, SameSite: http.SameSiteLaxMode, Secure: s.secure(r)})
}

func (s *Server) clearActingCookie(w http.ResponseWriter, r *http.Request) {
	s.clearCookie(w, r, ActingCookie)
}

func urlQueryEscape(s string) string { return url.QueryEscape(s) }

// proxyHeaders takes the client address from X-Forwarded-For when the node
// runs behind a trusted proxy.
func (s *Server) proxyHeaders(next http.Handler) http.Handler {
	if !s.cfg.TrustProxy {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Several lines are one comma-separated list (a proxy may add its
		// own line after the client's): the last line holds the last entry.
		if xffs := r.Header.Values("X-Forwarded-For"); len(xffs) > 0 {
			xff := xffs[len(xffs)-1]
			// The rightmost entry is the one our proxy added; anything left
			// of it came from the client and can be forged.
			parts := strings.Split(xff, ",")
			ip := strings.TrimSpace(parts[len(parts)-1])
			if net.ParseIP(ip) != nil {
				r.RemoteAddr = net.JoinHostPort(ip, "0")
			}
		}
		next.ServeHTTP(w, r)
	})
}

// Bounds of shutdown.
const (
	// shutdownTimeout bounds the requests under way and the device
	// gateway's shutdown, which run together.
	shutdownTimeout = 15 * time.Second
	// autoPFlushTimeout bounds the last write of AutoP fetch records,
	// after the requests ended.
	autoPFlushTimeout = 5 * time.Second
)

// Run serves until ctx ends, then shuts the node down (shutdown): within
// shutdownTimeout, then autoPFlushTimeout for the AutoP fetch records.
func (s *Server) Run(ctx context.Context, ready func(addr string)) error {
	ln, err := net.Listen("tcp", s.cfg.Addr)
	if err != nil {
		return err
	}
	srv := &http.Server{
		Handler:           s.proxyHeaders(s.Handler()),
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       readTimeout,
		IdleTimeout:       idleTimeout,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
	var tlsConfig *tls.Config
	if s.cfg.TLSCert != "" {
		cert, err := tls.LoadX509KeyPair(s.cfg.TLSCert, s.cfg.TLSKey)
		if err != nil {
			ln.Close()
			return err
		}
		// What ServeTLS would set; the front door does the handshakes.
		srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}, NextProtos: []string{"h2", "http/1.1"}}
		tlsConfig = srv.TLSConfig.Clone()
		srv.Handler, srv.ConnContext = withTLSState(srv.Handler), connTLSState
	}
	// Devices' AutoP fetches are answered at the front door; the rest is
	// net/http's (FrontDoor).
	front := s.FrontDoor(ln, tlsConfig)
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(front) }()
	gatewayDone := make(chan struct{})
	go func() {
		defer close(gatewayDone)
		s.gateway.Run(ctx)
	}()
	rolloutsDone := make(chan struct{})
	go func() {
		defer close(rolloutsDone)
		s.cases.NewRolloutScheduler(s.gateway.Node()).Run(ctx, s.cfg.RolloutEvery)
	}()
	notifyDone := make(chan struct{})
	go func() {
		defer close(notifyDone)
		s.cases.NewNotifier(s.gateway.Node()).Run(ctx, s.cfg.NotifyEvery)
	}()
	diagDone := make(chan struct{})
	go func() {
		defer close(diagDone)
		s.cases.NewDiagnosticSweeper(s.gateway.Node()).Run(ctx, s.cfg.DiagnosticsSweepEvery)
	}()
	dashDone := make(chan struct{})
	go func() {
		defer close(dashDone)
		s.cases.NewDashboardRecomputer(s.gateway.Node()).Run(ctx, s.cfg.DashboardEvery)
	}()
	availDone := make(chan struct{})
	go func() {
		defer close(availDone)
		s.cases.NewAvailabilitySweeper(s.gateway.Node()).Run(ctx)
	}()
	hooksDone := make(chan struct{})
	go func() {
		defer close(hooksDone)
		s.hooks.Run(ctx)
	}()
	if ready != nil {
		ready(ln.Addr().String())
	}
	var serveErr error
	select {
	case serveErr = <-errc:
	case <-ctx.Done():
	}
	s.log.Info("shutting down")
	start := time.Now()
	err = s.shutdown(srv, front, serveErr == nil)
	<-gatewayDone // Run is the gateway's: it ended with Shutdown
	<-rolloutsDone
	<-notifyDone
	<-diagDone
	<-dashDone
	<-availDone
	<-hooksDone
	s.log.Info("shut down", "took", time.Since(start).Round(time.Millisecond))
	if serveErr != nil {
		return serveErr
	}
	if err2 := <-errc; !errors.Is(err2, http.ErrServerClosed) {
		return err2
	}
	return err
}

// shutdown stops the node: the listener closes and the requests under way
// drain while the gateway closes its device connections (hijacked: the
// HTTP server does not see them) and waits for its goroutines, both within
// shutdownTimeout; then the AutoP fetches not yet recorded are written.
func (s *Server) shutdown(srv *http.Server, front *autopserver.FrontDoor, serving bool) error {
	ctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	httpErr := make(chan error, 1)
	go func() {
		if serving {
			httpErr <- errors.Join(srv.Shutdown(ctx), front.Shutdown(ctx))
		} else {
			httpErr <- errors.Join(srv.Close(), front.Close())
		}
	}()
	gwErr := s.gateway.Shutdown(ctx)
	if gwErr != nil {
		s.log.Warn("the device gateway did not stop in time", "err", gwErr)
	}
	err := <-httpErr
	fctx, fcancel := context.WithTimeout(context.Background(), autoPFlushTimeout)
	defer fcancel()
	if ferr := s.autop.Close(fctx); ferr != nil {
		s.log.Warn("AutoP fetches not recorded at shutdown", "err", ferr)
	}
	return errors.Join(err, gwErr)
}

// maxLoginBody bounds a login request: its fields are bounded far below
// it (auth.MaxUsernameBytes, auth.MaxPasswordBytes), and nobody must make
// the server read megabytes before any authentication.
const maxLoginBody = 8 << 10

// limitBody bounds the request body tighter than maxRequestBody (the
// wrappers' own bound then no longer matters).
func limitBody(n int64, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.Body = http.MaxBytesReader(w, r.Body, n)
		h.ServeHTTP(w, r)
	})
}

// maxRequestBody bounds every request body: the largest legitimate one is a
// 16 MiB import file in a multipart form.
const maxRequestBody = 17 << 20

// checkText refuses query and form values that cannot be stored as text:
// NUL characters and invalid UTF-8 (PostgreSQL rejects both). JSON bodies
// are checked where they are decoded.
func checkText(r *http.Request, forms bool) error {
	check := func(vals map[string][]string) error {
		for k, vs := range vals {
			for _, v := range vs {
				if strings.ContainsRune(v, 0) || !utf8.ValidString(v) {
					return model.Invalid(k, "contains a NUL character or invalid UTF-8")
				}
			}
		}
		return nil
	}
	if err := check(r.URL.Query()); err != nil {
		return err
	}
	// Portal forms only: an API body is JSON whatever its Content-Type says
	// (curl -d sends a form type), and is checked where it is decoded.
	if forms && strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-www-form-urlencoded") && unsafeMethod(r.Method) {
		if err := r.ParseForm(); err != nil {
			var maxErr *http.MaxBytesError
			if errors.As(err, &maxErr) {
				return model.Invalid("body", "is larger than %d bytes", maxErr.Limit)
			}
			return model.Invalid("body", "is not a readable form")
		}
		return check(r.PostForm)
	}
	return nil
}
