package model

import (
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// The sub-distributor's Project Device (community, office) and Personal
// Device lists: the guide's "Check/Delete Project Devices" and "Check/Delete
// Personal Device".

// DeviceSortColumns are the visible columns a device list sorts by.
var DeviceSortColumns = []string{"status", "name", "mac", "sip", "type", "model", "firmware", "project", "location",
	"installer", "manager", "created_at", "availability"}

// MaxDeviceQuery bounds each text filter of a device list.
const MaxDeviceQuery = 64

// MaxDeviceBatch bounds a batch delete (and, later, a batch AutoP): the
// guide's 500 devices at a time.
const MaxDeviceBatch = 500

// DeviceFilter is a device list's search. Scope is the list (community,
// office or personal). MAC matches a MAC holding the hex digits typed (in
// any notation: a whole MAC, or a part of one); SIP is a prefix (a whole
// number is its own prefix); Name, Community, Office and Manager are
// case-insensitive "contains" on the device name, the community's or
// office's name and the project's manager (Community, Office or
// Single-tenant Manager). Firmware is a version, matched exactly (as the
// device reported it).
type DeviceFilter struct {
	Scope     ProjectKind
	MAC       string
	SIP       string
	Name      string
	Community string // scope community only
	Office    string // scope office only
	Manager   string
	Firmware  string // exact version
	Model     string // exact model, as the device reported it
	Online    *bool  // nil: both
	Sort      string // one of DeviceSortColumns; "" is created_at
	Order     string // asc or desc; "" is desc for created_at, asc for the others
	Page
}

// Check validates and normalises f into v, naming the field of each
// problem: MAC becomes its upper-case hex digits, text is trimmed, Sort and
// Order get their defaults.
func (f *DeviceFilter) Check(v *Validator) {
	switch {
	case f.Scope == "":
		v.Add("scope", "is required: community, office or personal")
	case !f.Scope.Valid():
		v.Add("scope", "must be community, office or personal")
	}
	if f.MAC = strings.TrimSpace(f.MAC); f.MAC != "" {
		hex, ok := PartialMAC(f.MAC)
		v.Check(ok, "mac", "must be a MAC or a part of one: hex digits, optionally separated by : - or . (e.g. 0C:11:05:AA:BB:CC or BB:CC)")
		if ok {
			f.MAC = hex
		}
	}
	for _, t := range []struct {
		field string
		p     *string
	}{{"sip", &f.SIP}, {"name", &f.Name}, {"community", &f.Community}, {"office", &f.Office}, {"manager", &f.Manager},
		{"firmware", &f.Firmware}, {"model", &f.Model}} {
		*t.p = strings.TrimSpace(*t.p)
		v.Check(utf8.RuneCountInString(*t.p) <= MaxDeviceQuery, t.field, "must be at most %d characters", MaxDeviceQuery)
		v.Check(!strings.ContainsFunc(*t.p, isControl), t.field, "must not hold control characters")
	}
	v.Check(f.Community == "" || f.Scope == ProjectCommunity || !f.Scope.Valid(), "community", "searches community devices only (scope=community)")
	v.Check(f.Office == "" || f.Scope == ProjectOffice || !f.Scope.Valid(), "office", "searches office devices only (scope=office)")
	if f.Sort == "" {
		f.Sort = "created_at"
	}
	v.Check(slices.Contains(DeviceSortColumns, f.Sort), "sort", "must be one of %s", strings.Join(DeviceSortColumns, ", "))
	if f.Order == "" {
		f.Order = "asc"
		if f.Sort == "created_at" {
			f.Order = "desc"
		}
	}
	v.Check(f.Order == "asc" || f.Order == "desc", "order", "must be asc or desc")
}

func isControl(r rune) bool { return r < 0x20 || r == 0x7f }

// PartialMAC reads a MAC or a part of one in any common notation
// (0C:11:05:AA:BB:CC, 0c-11-05, 0c11.05aa, AABBCC) and returns its
// upper-case hex digits: at least one, at most 12.
func PartialMAC(s string) (string, bool) {
	var b strings.Builder
	for _, r := range strings.TrimSpace(s) {
		switch {
		case r >= '0' && r <= '9', r >= 'A' && r <= 'F':
			b.WriteRune(r)
		case r >= 'a' && r <= 'f':
			b.WriteRune(r - 'a' + 'A')
		case r == ':' || r == '-' || r == '.' || r == ' ':
		default:
			return "", false
		}
	}
	return b.String(), b.Len() >= 1 && b.Len() <= 12
}

// DeviceRow is a device as the Project Device and Personal Device lists
// show it: the device and the names of its project, the project's manager
// and its installer.
type DeviceRow struct {
	Device
	ProjectKind ProjectKind `json:"scope"`
	Project     string      `json:"project"`
	Manager     string      `json:"manager"`
	Installer   string      `json:"installer"` // the installer's name, or its account name when it has none
	// Availability7d is the share of the last 7 days the device was online,
	// in basis points (0–10000), as last recomputed (README "Availability").
	Availability7d int `json:"availability_7d"`
}

// DeviceLink is one step of a device's owner chain: what it belongs to, up
// to its installer.
type DeviceLink struct {
	Kind string `json:"kind"` // end_user, apartment, building, department, community, office, home, installer
	ID   int64  `json:"id"`
	Name string `json:"name"`
}

// DeviceDetail is one device with everything stored about it, the chain of
// what it belongs to (nearest first, up to its installer) and its latest
// audit entries.
type DeviceDetail struct {
	DeviceRow
	Building          string `json:"building,omitempty"`
	Apartment         string `json:"apartment,omitempty"`
	Department        string `json:"department,omitempty"`
	Owner             string `json:"owner,omitempty"`
	ProjectAddress    string `json:"project_address"`
	ProjectTimeZone   string `json:"project_time_zone"`
	InstallerUsername string `json:"installer_username"`
	InstallerEmail    string `json:"installer_email"`
	InstallerCompany  string `json:"installer_company"`
	// What the device reported over the gateway.
	IP            string        `json:"ip"`
	Uptime        int64         `json:"uptime"`
	ConfigVersion string        `json:"config_version"`
	Connected     *time.Time    `json:"connected_at"`
	Chain         []DeviceLink  `json:"owner_chain"`
	Audit         []*AuditEntry `json:"audit"`
}
