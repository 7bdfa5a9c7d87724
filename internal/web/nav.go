package web

import (
	"net/http"

	"github.com/gatehouse-dev/gatehouse/internal/model"
)

// NavItem is one entry of the portal's navigation.
type NavItem struct {
	Key, Title, Path string
}

// Module is a portal module that a later release builds; until then its
// page says so plainly.
type Module struct {
	NavItem
	Roles        []model.Role
	PaymentGated bool   // shown only when the distributor switched payments on
	Coming       string // what the page will hold
}

var sub = []model.Role{model.RoleSubdistributor}
var inst = []model.Role{model.RoleInstaller}

// PendingModules are the guide's modules not built yet.
var PendingModules = []Module{
	{NavItem{"project-devices", "Project Device", "/project-devices"}, sub, false,
		"Community and office devices: search by MAC, SIP, manager and project, details, delete, and remote maintenance."},
	{NavItem{"personal-devices", "Personal Device", "/personal-devices"}, sub, false,
		"Single-tenant devices: search by MAC, device name, single-tenant manager and SIP, details, delete, and remote maintenance."},
	{NavItem{"third-party-devices", "Third-Party Device", "/third-party-devices"}, sub, false,
		"Third-party cameras of projects and single tenants: search, check and delete."},
	{NavItem{"users", "User", "/users"}, sub, false,
		"Installer accounts (add, edit, reset password, delete, MAC addresses, access without password) and the villa, community and office user lists."},
	{NavItem{"subscriptions", "Subscriptions", "/subscriptions"}, sub, true,
		"Activation and renewal of SmartPlus services, paid by Stripe, PayPal or coupon."},
	{NavItem{"payments", "Payments", "/payments"}, sub, true,
		"Transaction history: search, details, cancel, pay and invoices."},
	{NavItem{"settings", "Setting", "/settings"}, sub, false,
		"Customer service contacts and Receive Feedback."},
	{NavItem{"installer-projects", "Projects", "/installer/projects"}, inst, false,
		"Communities with buildings and apartments, offices with departments, and single-tenant homes."},
	{NavItem{"installer-devices", "Devices", "/installer/devices"}, inst, false,
		"Devices by MAC in your projects, and third-party cameras."},
	{NavItem{"installer-users", "Users", "/installer/users"}, inst, false,
		"Residents, office staff and property managers."},
	{NavItem{"installer-settings", "Settings", "/installer/settings"}, inst, false,
		"Your profile, access without password for your sub-distributor, and customer service contacts."},
}

func pending(key string) NavItem {
	for _, m := range PendingModules {
		if m.Key == key {
			return m.NavItem
		}
	}
	panic("no module " + key)
}

var (
	navFirmware = NavItem{"firmware", "Firmware", "/firmware"}
	navAudit    = NavItem{"audit", "Audit Log", "/audit"}
)

// builtModules describe the modules that work today, for the home page.
var builtModules = map[string]string{
	"firmware":        "The device firmware available for your installers: versions, models and change logs.",
	"audit":           "Who did what, when, and on whose behalf, in your part of the platform.",
	"distributors":    "Create and list distributors.",
	"subdistributors": "Create and list sub-distributors; switch the payment feature and Pay by Distributor.",
}

// navFor lists the modules of an account's portal, in the guide's order.
func navFor(a *model.Account) []NavItem {
	switch a.Role {
	case model.RoleAdmin:
		return []NavItem{{"distributors", "Distributors", "/distributors"}, navFirmware, navAudit}
	case model.RoleDistributor:
		return []NavItem{{"subdistributors", "Sub-distributors", "/subdistributors"}, navFirmware, navAudit}
	case model.RoleSubdistributor:
		nav := []NavItem{pending("project-devices"), pending("personal-devices"), pending("third-party-devices"),
			pending("users"), navFirmware}
		if a.PaymentEnabled {
			nav = append(nav, pending("subscriptions"), pending("payments"))
		}
		return append(nav, pending("settings"), navAudit)
	default:
		return []NavItem{pending("installer-projects"), pending("installer-devices"), pending("installer-users"),
			navFirmware, pending("installer-settings"), navAudit}
	}
}

// Pending serves the placeholder page of a module not built yet.
func (w *Web) Pending(m Module) Handler {
	return func(rw http.ResponseWriter, r *http.Request) error {
		// The account is read with the session on every request, so a
		// switch by the distributor takes effect at once.
		if m.PaymentGated && !identity(r).Account.PaymentEnabled {
			return model.Errorf(model.EFORBIDDEN, "Your distributor has not switched the payment feature on.")
		}
		return w.render(rw, http.StatusOK, "pending", w.page(r, m.Title, m.Key, m))
	}
}
