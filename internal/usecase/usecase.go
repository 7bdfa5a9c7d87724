// Package usecase is Gatehouse's application layer: one method per thing a
// person (or a device, or a payment provider) asks the system to do — place an
// order, create an installer, save a device's AutoP, send a command, open a
// Remote Control session. The transports (internal/api, internal/web,
// internal/gateway) parse a request, call one use case with ctx and typed
// input, and render what it returns; the use case holds the rules that span
// more than one row, runs one store transaction, and talks to mail, payment
// providers, the device gateway and the bus.
//
// Errors it returns are model errors whose messages are safe to show a user:
// a cause from SMTP, a payment provider or the database is logged here and
// never shown (see Cases.internal).
//
// See ARCHITECTURE.md for which package may import which.
package usecase

import (
	"context"
	"log/slog"

	"github.com/gatehouse-dev/gatehouse/internal/billing"
	"github.com/gatehouse-dev/gatehouse/internal/bus"
	"github.com/gatehouse-dev/gatehouse/internal/gateway"
	"github.com/gatehouse-dev/gatehouse/internal/mail"
	"github.com/gatehouse-dev/gatehouse/internal/model"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// Deps is what the use cases need; the server builds it once per node.
type Deps struct {
	Store     *store.Store
	Mail      mail.Sender
	Providers map[string]billing.Provider // configured payment providers by name
	Gateway   *gateway.Gateway            // tells connected devices about commands; Remote Control tunnels
	Bus       bus.Bus                     // this node's bus: in-process, or NATS shared by the cluster
	Log       *slog.Logger
	PublicURL string // where users reach this server, for links in emails
	RemoteURL string // separate Remote Control origin, or "" for the portal's host
	// FirmwareDir holds uploads of firmware images while they arrive
	// (<data>/firmware; empty: the system's temporary directory), and
	// FirmwareMaxBytes bounds an image (0: DefaultFirmwareMaxBytes).
	FirmwareDir      string
	FirmwareMaxBytes int64
	// Webhooks configure the webhook deliveries (webhooks.go).
	Webhooks WebhookOptions
	// Diagnostics bound the devices' diagnostics (diagnostics.go).
	Diagnostics DiagnosticOptions
	// Availability configures the availability history (availability.go).
	Availability AvailabilityOptions
}

// Cases runs the use cases. It is safe for concurrent use.
type Cases struct {
	store     *store.Store
	mail      mail.Sender
	providers map[string]billing.Provider
	gateway   *gateway.Gateway
	bus       bus.Bus
	log       *slog.Logger
	publicURL string
	remoteURL string
	fwDir     string
	fwMax     int64
	hooks     WebhookOptions
	hookWake  chan struct{} // wakes this node's webhook dispatcher
	diag      DiagnosticOptions
	diagFiles chan struct{} // one per diagnostic file being downloaded (diagnostics.go)
	avail     AvailabilityOptions
}

// New returns the use cases over d.
func New(d Deps) *Cases {
	if d.Log == nil {
		d.Log = slog.Default()
	}
	if d.Bus == nil {
		d.Bus = bus.NewLocal()
	}
	if d.FirmwareMaxBytes <= 0 {
		d.FirmwareMaxBytes = DefaultFirmwareMaxBytes
	}
	eventsWire(d.Store, d.Bus, d.Log)
	return &Cases{store: d.Store, mail: d.Mail, providers: d.Providers, gateway: d.Gateway, bus: d.Bus, log: d.Log,
		publicURL: d.PublicURL, remoteURL: d.RemoteURL, fwDir: d.FirmwareDir, fwMax: d.FirmwareMaxBytes,
		hooks: d.Webhooks, hookWake: make(chan struct{}, 1), diag: d.Diagnostics.withDefaults(),
		diagFiles: make(chan struct{}, DiagnosticDownloadsAtOnce),
		avail:     d.Availability}
}

// PublicURL is where users reach this server.
func (c *Cases) PublicURL() string { return c.publicURL }

// internal logs err, the cause of a failed step (an SMTP reply, a payment
// provider's answer, a database error), and returns an error for the user
// that says what failed without the cause's text. A model error passes
// through unchanged: its message was written for users.
func (c *Cases) internal(ctx context.Context, what string, err error) error {
	if err == nil {
		return nil
	}
	if model.ErrorCode(err) != model.EINTERNAL {
		return err
	}
	if u := store.Unavailable(err); u != err { // the database unreachable, its disk full: 503, not 500
		c.log.WarnContext(ctx, what+" failed", "err", err)
		return u
	}
	c.log.ErrorContext(ctx, what+" failed", "err", err)
	return model.Errorf(model.EINTERNAL, "%s failed. Please try again later; if it keeps failing, contact your administrator.", upperFirst(what))
}

func upperFirst(s string) string {
	if s == "" || s[0] < 'a' || s[0] > 'z' {
		return s
	}
	return string(s[0]-'a'+'A') + s[1:]
}
