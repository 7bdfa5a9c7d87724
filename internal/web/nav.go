package web

import (
	"net/http"

	"github.com/gatehouse-dev/gatehouse/internal/i18n"
	"github.com/gatehouse-dev/gatehouse/internal/model"
)

// NavItem is one entry of the portal's navigation.
type NavItem struct {
	Key, Title, Path string
}

// Module is a module of the portal: its navigation entry, who sees it, and
// what it holds. A Pending module is not built yet; its page says so
// plainly until a later release registers the real one.
type Module struct {
	NavItem
	Roles        []model.Role
	PaymentGated bool // shown only when the distributor switched payments on
	Pending      bool
	Text         string // what the module holds, for the home page
}

var (
	admin = []model.Role{model.RoleAdmin}
	dist  = []model.Role{model.RoleDistributor}
	sub   = []model.Role{model.RoleSubdistributor}
	inst  = []model.Role{model.RoleInstaller}
	all   = []model.Role{model.RoleAdmin, model.RoleDistributor, model.RoleSubdistributor, model.RoleInstaller}
)

// Modules in navigation order; each role sees those listing it.
var Modules = []Module{
	{NavItem: NavItem{"distributors", i18n.N("Distributors"), "/distributors"}, Roles: admin, Text: i18n.N("Create and list distributors.")},
	{NavItem: NavItem{"subdistributors", i18n.N("Sub-distributors"), "/subdistributors"}, Roles: dist,
		Text: i18n.N("Create and list sub-distributors; switch the payment feature and Pay by Distributor.")},
	{NavItem: NavItem{"prices", i18n.N("Prices"), "/prices"}, Roles: []model.Role{model.RoleAdmin, model.RoleDistributor},
		Text: i18n.N("The price list of SmartPlus services: activation and monthly fees per item.")},
	{NavItem: NavItem{"coupons", i18n.N("Coupons"), "/coupons"}, Roles: dist,
		Text: i18n.N("Issue coupons to your sub-distributors and follow their balances.")},
	{NavItem: NavItem{"orders", i18n.N("Payments"), "/payments"}, Roles: dist,
		Text: i18n.N("The orders of your sub-distributors and their installers; pay them when Pay by Distributor is on.")},

	// The sub-distributor's eight modules, in the guide's order.
	{NavItem: NavItem{"project-devices", i18n.N("Project Device"), "/project-devices"}, Roles: sub,
		Text: i18n.N("Community and office devices: search by MAC, SIP, manager and project, details, delete, and remote maintenance.")},
	{NavItem: NavItem{"personal-devices", i18n.N("Personal Device"), "/personal-devices"}, Roles: sub,
		Text: i18n.N("Single-tenant devices: search by MAC, device name, single-tenant manager and SIP, details, delete, and remote maintenance.")},
	{NavItem: NavItem{"third-party-devices", i18n.N("Third-Party Device"), "/third-party-devices"}, Roles: sub,
		Text: i18n.N("Third-party cameras of projects and single tenants: search, check and delete.")},
	{NavItem: NavItem{"users", i18n.N("User"), "/users/installers"}, Roles: sub,
		Text: i18n.N("Installers (add, edit, reset password, delete, MAC addresses, access without password) and the villa, community and office users.")},

	// The installer's own portal.
	{NavItem: NavItem{"installer-projects", i18n.N("Projects"), "/installer/projects"}, Roles: inst,
		Text: i18n.N("Communities with buildings and apartments, offices with departments, and single-tenant homes.")},
	{NavItem: NavItem{"installer-devices", i18n.N("Devices"), "/installer/devices"}, Roles: inst,
		Text: i18n.N("Devices by MAC in your projects, and third-party cameras.")},
	{NavItem: NavItem{"installer-users", i18n.N("Users"), "/installer/users"}, Roles: inst,
		Text: i18n.N("Residents, office staff and property managers; CSV import.")},

	{NavItem: NavItem{"firmware", i18n.N("Firmware"), "/firmware"}, Roles: all,
		Text: i18n.N("The device firmware available for your installers: versions, models and change logs; rollouts put it on your devices in waves.")},
	{NavItem: NavItem{"subscriptions", i18n.N("Subscriptions"), "/subscriptions"}, Roles: sub, PaymentGated: true,
		Text: i18n.N("Activation and renewal of SmartPlus services, paid by Stripe, PayPal or coupon.")},
	{NavItem: NavItem{"payments", i18n.N("Payments"), "/payments"}, Roles: sub, PaymentGated: true,
		Text: i18n.N("Transaction history: search, details, cancel, pay and invoices.")},
	// The installer's side of them, shown while its sub-distributor has the
	// payment feature (an installer account carries its sub-distributor's
	// switch); the pages say who pays when the installer does not.
	{NavItem: NavItem{"installer-subscriptions", i18n.N("Subscription"), "/subscriptions"}, Roles: inst, PaymentGated: true,
		Text: i18n.N("Activation and renewal of your users' SmartPlus services, when your charge mode says you pay.")},
	{NavItem: NavItem{"installer-payments", i18n.N("Payments"), "/payments"}, Roles: inst, PaymentGated: true,
		Text: i18n.N("Your orders: search, details, cancel, pay and invoices.")},
	{NavItem: NavItem{"settings", i18n.N("Setting"), "/settings"}, Roles: sub,
		Text: i18n.N("Customer service contacts for your installers, Receive Feedback, and the feedback they sent.")},
	{NavItem: NavItem{"installer-support", i18n.N("Support"), "/installer/support"}, Roles: inst,
		Text: i18n.N("Your sub-distributor's customer service contacts, and feedback to it.")},
	{NavItem: NavItem{"installer-settings", i18n.N("Settings"), "/installer/settings"}, Roles: inst,
		Text: i18n.N("Your profile, and access without password for your sub-distributor.")},
	// After the guide's modules: device enrollment (DESIGN.md §3).
	{NavItem: NavItem{"pending-devices", i18n.N("Pending devices"), "/pending-devices"}, Roles: []model.Role{model.RoleSubdistributor, model.RoleInstaller},
		Text: i18n.N("Keys devices presented that are not accepted yet: accept or reject them, or open a short acceptance window.")},
	{NavItem: NavItem{"audit", i18n.N("Audit Log"), "/audit"}, Roles: all,
		Text: i18n.N("Who did what, when, and on whose behalf, in your part of the platform.")},
}

// PendingModules are the modules a later release builds.
var PendingModules = func() []Module {
	var out []Module
	for _, m := range Modules {
		if m.Pending {
			out = append(out, m)
		}
	}
	return out
}()

// modulesFor lists the modules of an account's portal, in order.
func modulesFor(a *model.Account) []Module {
	var out []Module
	for _, m := range Modules {
		if !hasRole(m.Roles, a.Role) || (m.PaymentGated && !a.PaymentEnabled) {
			continue
		}
		out = append(out, m)
	}
	return out
}

func hasRole(roles []model.Role, r model.Role) bool {
	for _, x := range roles {
		if x == r {
			return true
		}
	}
	return false
}

// navFor is the navigation of an account's portal.
func navFor(a *model.Account) []NavItem {
	var out []NavItem
	for _, m := range modulesFor(a) {
		out = append(out, m.NavItem)
	}
	return out
}

// Pending serves the placeholder page of a module not built yet.
func (w *Web) Pending(m Module) Handler {
	return func(rw http.ResponseWriter, r *http.Request) error {
		// The account is read with the session on every request, so a
		// switch by the distributor takes effect at once.
		if m.PaymentGated && !identity(r).Effective().PaymentEnabled {
			return model.Errorf(model.EFORBIDDEN, "Your distributor has not switched the payment feature on.")
		}
		return w.render(rw, http.StatusOK, "pending", w.page(r, tr(r, m.Title), m.Key, m))
	}
}
