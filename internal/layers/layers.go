// Package layers states which of Gatehouse's packages may import which — the
// table of ARCHITECTURE.md, in code — and its test fails when a package
// imports against that direction. It holds no code the app runs.
package layers

// Module is the module path every rule is relative to.
const Module = "github.com/gatehouse-dev/gatehouse/"

// Allowed lists, for each package of the module (relative path), the
// packages of the module its non-test files may import. A package missing
// here is a new one: add it with its layer (see ARCHITECTURE.md, "Where a new
// module's code goes").
//
// From the outside in: cmd wires a node; server assembles the HTTP surface;
// the transports (api, web for people; gateway and the AutoP server for
// devices) parse and render; usecase holds the use cases; store, mail and bus
// are the infrastructure they use; the domain packages (model, autop,
// billing, tabular, deviceauth) hold rules and import nothing but model.
var Allowed = map[string][]string{
	// Wiring.
	"cmd/gatehouse": {"internal/auth", "internal/billing", "internal/billing/paypal", "internal/billing/sandbox",
		"internal/billing/stripe", "internal/bus", "internal/demo", "internal/devicesim", "internal/fwimage", "internal/gateway",
		"internal/mail", "internal/model", "internal/server", "internal/store", "internal/usecase"},
	"internal/server": {"internal/api", "internal/web", "internal/usecase", "internal/gateway", "internal/autopserver", "internal/auth",
		"internal/billing", "internal/bus", "internal/deviceauth", "internal/mail", "internal/model", "internal/store", "internal/fwimage"},

	// Transports. api and web never import each other, nor what the use
	// cases hold (mail, payment providers, the bus). The device transports
	// (gateway, autopserver) speak the device protocol with the store's
	// system-side methods; the use cases drive the gateway, so it must not
	// import them.
	"internal/api": {"internal/usecase", "internal/listquery", "internal/auth", "internal/model", "internal/store",
		"internal/autop", "internal/billing", "internal/tabular", "internal/autopserver"},
	"internal/web": {"internal/usecase", "internal/listquery", "internal/auth", "internal/model", "internal/store",
		"internal/autop", "internal/billing", "internal/tabular", "internal/i18n"},
	"internal/gateway":      {"internal/gateway/ymux", "internal/deviceauth", "internal/bus", "internal/model", "internal/store"},
	"internal/gateway/ymux": {},
	// The AutoP server: devices fetch their files over HTTP (the API's
	// preview writes a file as it does).
	"internal/autopserver": {"internal/autop", "internal/deviceauth", "internal/model", "internal/store"},
	"internal/listquery":   {"internal/model", "internal/billing", "internal/store"},
	// Firmware downloads: devices fetch images with a download token.
	"internal/fwimage": {"internal/deviceauth", "internal/model", "internal/store"},

	// The application layer.
	"internal/usecase": {"internal/store", "internal/model", "internal/autop", "internal/billing", "internal/tabular",
		"internal/mail", "internal/bus", "internal/gateway", "internal/auth", "internal/webhook"},

	// Infrastructure.
	"internal/store": {"internal/model", "internal/autop", "internal/billing", "internal/deviceauth"},
	"internal/auth":  {"internal/model", "internal/store"},
	"internal/mail":  {},
	"internal/bus":   {},

	// Domain rules.
	"internal/model":      {},
	"internal/autop":      {"internal/model"},
	"internal/billing":    {"internal/model", "internal/i18n"},
	"internal/i18n":       {}, // the portal's catalogs, languages, dates and money
	"internal/tabular":    {"internal/model"},
	"internal/deviceauth": {"internal/model"},
	// Webhooks: signatures, the guarded HTTP client, one attempt, backoff.
	"internal/webhook": {"internal/model"},

	// Payment providers: adapters of billing.Provider to the outside APIs.
	"internal/billing/stripe": {"internal/billing"},
	"internal/billing/paypal": {"internal/billing"},

	// Tools beside the app: the demo loader, the device simulator, test support.
	"internal/demo":                      {"internal/auth", "internal/autop", "internal/billing", "internal/model", "internal/store"},
	"internal/devicesim":                 {"internal/model"},
	"internal/billing/sandbox":           {"internal/billing/paypal/paypaltest", "internal/billing/stripe/stripetest"},
	"internal/billing/paypal/paypaltest": {"internal/billing/paypal"},
	"internal/billing/stripe/stripetest": {},
	"internal/mail/mailtest":             {"internal/mail"},
	"internal/tabular/tabulartest":       {"internal/tabular"},
	"internal/testutil":                  {"internal/store"},
	"internal/testutil/heapwatch":        {},
	"internal/faults":                    {}, // the fault suite: tests only, over the binary
	"internal/layers":                    {},
	"scripts/testreport":                 {},
}

// NeverFromTests are pairs no file may import, tests included: the two
// people-facing transports share code through usecase, model and listquery
// only.
var NeverFromTests = [][2]string{
	{"internal/api", "internal/web"},
	{"internal/web", "internal/api"},
}
