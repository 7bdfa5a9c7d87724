// Package gateway is the device gateway of docs/device-protocol.md: devices
// connect over WebSocket carrying yamux, report hello/status, receive their
// commands and serve Remote Control tunnels. Commands live in the store; the
// bus tells the node holding a device's connection to send them.
package gateway

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/bus"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// ErrOffline answers a tunnel to a device no node holds.
var ErrOffline = errors.New("gateway: the device is offline")

// Options tune one node's gateway.
type Options struct {
	Node      string        // this node's name, unique among nodes (default: host name + pid)
	PublicURL string        // base of the autop_url sent to devices; default: the request's host
	Heartbeat time.Duration // sent to devices in welcome (default 30s)
}

// Gateway is one node's device gateway.
type Gateway struct {
	st   *store.Store
	bus  bus.Bus
	log  *slog.Logger
	opts Options
}

// New returns a gateway; Run starts its background work.
func New(st *store.Store, b bus.Bus, log *slog.Logger, opts Options) *Gateway {
	return &Gateway{st: st, bus: b, log: log, opts: opts}
}

// ServeHTTP is GET /device/v1/connect.
func (g *Gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	http.Error(w, "not yet", http.StatusNotImplemented)
}

// Kick tells whichever node holds each device's connection to send its
// pending commands now. Devices that are offline get them when they connect.
func (g *Gateway) Kick(ctx context.Context, macs ...string) {}

// Tunnel is a RoundTripper to the web UI of the device mac, through a
// tunnel stream on whichever node holds its connection; ErrOffline when none.
func (g *Gateway) Tunnel(mac string) http.RoundTripper {
	return roundTripFunc(func(*http.Request) (*http.Response, error) { return nil, ErrOffline })
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// Run does the node's background work (expiring commands, marking silent
// devices offline, answering the bus) until ctx ends.
func (g *Gateway) Run(ctx context.Context) error { <-ctx.Done(); return nil }

// Close ends every device connection of this node.
func (g *Gateway) Close() error { return nil }
