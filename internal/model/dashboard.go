package model

import "time"

// The dashboard (issue 17): every role's home page and GET /api/v1/dashboard
// show the account's subtree at a glance. The device, upgrade, end-user and
// order figures come from summaries recomputed every minute (AsOf); the
// rollouts and the failed commands of the last day are read live.

// DashboardTop is how many models and firmware versions the dashboard names;
// the rest are summed as "others".
const DashboardTop = 5

// DashboardDays is the span of the online/offline chart; DashboardMonths the
// span of the orders chart.
const (
	DashboardDays   = 30
	DashboardMonths = 12
)

// DashboardCountCap bounds the live counts (failed commands): above it the
// dashboard says "more than".
const DashboardCountCap = 10_000

// DashboardKindCount is one project kind's devices online and offline.
type DashboardKindCount struct {
	Kind    ProjectKind `json:"scope"`
	Online  int64       `json:"online"`
	Offline int64       `json:"offline"`
}

// DashboardShare is one model or firmware version and its devices. Others
// is the sum of the names past DashboardTop (Name is empty).
type DashboardShare struct {
	Name    string `json:"name"`
	Devices int64  `json:"devices"`
	Others  bool   `json:"others,omitempty"`
	// The devices per list: community, office, personal (single-tenant).
	Community int64 `json:"community"`
	Office    int64 `json:"office"`
	Personal  int64 `json:"personal"`
}

// DashboardDay is the last figure of a day (UTC).
type DashboardDay struct {
	Day     string `json:"day"` // YYYY-MM-DD
	Online  int64  `json:"online"`
	Offline int64  `json:"offline"`
}

// DashboardAmount is an amount in one currency, in its minor unit (cents).
type DashboardAmount struct {
	Currency string `json:"currency"`
	Amount   int64  `json:"amount"`
}

// DashboardMonth is one month's orders (UTC): how many, and the completed
// ones' amounts per currency.
type DashboardMonth struct {
	Month   string            `json:"month"` // YYYY-MM
	Orders  int64             `json:"orders"`
	Amounts []DashboardAmount `json:"amounts"`
}

// DashboardExpiringDays is the window of the expiring end users' figure.
const DashboardExpiringDays = 30

// DashboardExpiring is the end users of one list whose App service expires
// within DashboardExpiringDays days.
type DashboardExpiring struct {
	List  EndUserKind `json:"list"` // villa, community, office
	Users int64       `json:"end_users"`
}

// Dashboard is the figures of the actor's subtree.
type Dashboard struct {
	AsOf      *time.Time           `json:"as_of"` // when the summaries were computed; nil: not yet
	Online    int64                `json:"devices_online"`
	Offline   int64                `json:"devices_offline"`
	Kinds     []DashboardKindCount `json:"devices_by_scope"`
	Models    []DashboardShare     `json:"devices_by_model"`
	Firmware  []DashboardShare     `json:"devices_by_firmware"`
	Days      []DashboardDay       `json:"days"`
	Rollouts  int64                `json:"rollouts_running"`
	Upgrading int64                `json:"devices_upgrading"`
	Expiring  int64                `json:"end_users_expiring"`
	// ExpiringLists: Expiring per end-user list (villa, community,
	// office), each the list's count with expiring=DashboardExpiringDays.
	ExpiringLists []DashboardExpiring `json:"end_users_expiring_by_list"`
	Payments      bool                `json:"payments"` // the role sees payments: Months is filled
	Months        []DashboardMonth    `json:"months,omitempty"`
	FailedCmds    int64               `json:"failed_commands"`
	FailedAutoP   int64               `json:"failed_autop"`
	FailedCapped  bool                `json:"failed_capped,omitempty"`
}

// FailedCommand is a command (reboot, reset, AutoP) that failed or expired,
// with its device, for the list of the last day's failures.
type FailedCommand struct {
	ID       int64       `json:"id"`
	Kind     string      `json:"kind"`
	Status   string      `json:"status"`
	Error    string      `json:"error"`
	Finished time.Time   `json:"finished_at"`
	Created  time.Time   `json:"created_at"`
	MAC      string      `json:"mac"`
	Device   string      `json:"device_name"`
	Scope    ProjectKind `json:"scope"`
}

// The kinds of the failed-commands list: AutoP commands, and the others
// (reboot, reset).
const (
	FailedKindAutoP   = "autop"
	FailedKindCommand = "command"
)

// FailedCommandFilter is the failed-commands list's search.
type FailedCommandFilter struct {
	Kind string // FailedKindAutoP or FailedKindCommand
	Page
}

// Check validates f, naming the field.
func (f *FailedCommandFilter) Check(v *Validator) {
	if f.Kind == "" {
		f.Kind = FailedKindCommand
	}
	v.Check(f.Kind == FailedKindAutoP || f.Kind == FailedKindCommand, "kind", "must be autop or command")
}
