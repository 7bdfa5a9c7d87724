// Package devicesim simulates intercom devices speaking the device protocol
// of docs/device-protocol.md, built from that page alone: many devices in one
// process, each with its own key, web UI, config and command memory.
package devicesim

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
)

// Config describes a fleet of simulated devices.
type Config struct {
	Server      string   // Gatehouse base URL, http(s)://host:port
	MACs        []string // one device per MAC
	StateDir    string   // keys and executed command ids survive restarts here; "" keeps them in memory
	Model       string   // reported model (default "R29C")
	Firmware    string   // reported firmware (default "29.30.1.12")
	SourceAddrs []string // local addresses to dial from, round robin ("" = any), for >28k connections
	Log         *slog.Logger
}

// Fleet is a running set of simulated devices.
type Fleet struct{}

// Start connects every device of cfg and keeps them connected until Close.
func Start(ctx context.Context, cfg Config) (*Fleet, error) { return nil, errors.New("devicesim: not built yet") }

// Device returns the simulated device with that MAC (any notation), or nil.
func (f *Fleet) Device(mac string) *Device { return nil }

// Online counts devices with a live connection that got a welcome.
func (f *Fleet) Online() int { return 0 }

// ServeHTTP is the fleet's own web page: a list of devices linking to each
// device's web UI under /{MAC}/.
func (f *Fleet) ServeHTTP(w http.ResponseWriter, r *http.Request) {}

// Close disconnects every device.
func (f *Fleet) Close() error { return nil }

// Device is one simulated device.
type Device struct{}

// MAC is the device's MAC, 12 upper-case hex digits.
func (d *Device) MAC() string { return "" }

// Online reports a live connection that got a welcome.
func (d *Device) Online() bool { return false }

// WaitOnline blocks until the device is online or ctx ends.
func (d *Device) WaitOnline(ctx context.Context) error { return ctx.Err() }

// Config is the configuration the device applied last (key → value).
func (d *Device) Config() map[string]string { return nil }

// ConfigVersion is the AutoP version the device applied last.
func (d *Device) ConfigVersion() string { return "" }

// Boots counts the device's boots (1 after Start, +1 per reboot or reset).
func (d *Device) Boots() int { return 0 }

// Executed counts the commands with this id the device executed (0 or 1,
// whatever the server resent).
func (d *Device) Executed(id string) int { return 0 }

// Handler is the device's own web UI (login page and a status page showing
// its current config), served over Remote Control tunnels and by the fleet.
func (d *Device) Handler() http.Handler { return http.NotFoundHandler() }

// Drop closes the device's connection abruptly, as a network fault would;
// it reconnects with back-off.
func (d *Device) Drop() {}
