package server

import (
	"context"
	"crypto/tls"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/autopserver"
)

// autoPFetchRoute is the AutoP server's route: its metrics' label, whether
// net/http or the front door answers.
const autoPFetchRoute = "GET /autop/{file}"

// The HTTP server's bounds (Run), the front door's too.
const (
	readHeaderTimeout = 10 * time.Second
	readTimeout       = 60 * time.Second
	idleTimeout       = 120 * time.Second
)

// FrontDoor puts the AutoP front door (autopserver.FrontDoor) on ln: the
// node's devices' AutoP fetches it can answer are answered there, counted in
// the same metrics (gatehouse_http_requests_total and the duration histogram,
// route "GET /autop/{file}") and logged at debug as net/http's requests are;
// every other connection goes to the net/http server that serves the
// returned listener. tlsConfig: the node terminates TLS (nil: plain HTTP).
func (s *Server) FrontDoor(ln net.Listener, tlsConfig *tls.Config) *autopserver.FrontDoor {
	ok := s.metrics.requests.WithLabelValues(autoPFetchRoute, "200")
	notModified := s.metrics.requests.WithLabelValues(autoPFetchRoute, "304")
	took := s.metrics.duration.WithLabelValues(autoPFetchRoute)
	return s.autop.FrontDoor(ln, autopserver.FrontDoorOptions{
		ReadHeaderTimeout: readHeaderTimeout, IdleTimeout: idleTimeout, TLS: tlsConfig, PassHost: s.remoteHost,
		Observe: func(a autopserver.LeanAnswer) {
			if a.Status == http.StatusNotModified {
				notModified.Inc()
			} else {
				ok.Inc()
			}
			took.Observe(a.Took.Seconds())
			if s.log.Enabled(context.Background(), slog.LevelDebug) {
				s.log.Debug("request", "method", a.Method, "path", string(a.Path), "route", autoPFetchRoute, "status", a.Status, "duration", a.Took)
			}
		},
	})
}

// tlsStateKey holds, in a connection's context, the TLS state of a
// connection the front door handed over after reading from it (net/http
// sets Request.TLS only for its own *tls.Conn).
type tlsStateKey struct{}

func connTLSState(ctx context.Context, c net.Conn) context.Context {
	if _, own := c.(*tls.Conn); own {
		return ctx
	}
	if cs := autopserver.TLSConnectionState(c); cs != nil {
		return context.WithValue(ctx, tlsStateKey{}, cs)
	}
	return ctx
}

// withTLSState sets Request.TLS from connTLSState.
func withTLSState(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if cs, ok := r.Context().Value(tlsStateKey{}).(*tls.ConnectionState); ok && r.TLS == nil {
			r.TLS = cs
		}
		next.ServeHTTP(w, r)
	})
}
