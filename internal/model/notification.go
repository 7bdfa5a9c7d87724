package model

import "time"

// Notification kinds (Setting → Notification): what an account may be
// mailed about, each with its own e-mail switch.
const (
	NotifyEndUserExpiry = "enduser_expiry" // end users' services expiring in 30, 7, 1 days and expired
	NotifyDeviceOffline = "device_offline" // devices offline longer than N minutes, and back
	NotifyOrderResult   = "order_result"   // orders completed or failed
	NotifyRolloutPaused = "rollout_paused" // firmware rollouts paused
)

// NotifyKinds lists the kinds in the order the settings show them.
var NotifyKinds = []string{NotifyEndUserExpiry, NotifyDeviceOffline, NotifyOrderResult, NotifyRolloutPaused}

// Bounds and default of the offline minutes: a device offline this long
// is reported; one back sooner is not (the quiet period).
const (
	DefaultOfflineMinutes = 10
	MinOfflineMinutes     = 1
	MaxOfflineMinutes     = 1440
)

// NotificationSettings are one account's e-mail switches. An account that
// never saved them has DefaultNotificationSettings.
type NotificationSettings struct {
	EndUserExpiry  bool       `json:"enduser_expiry"`
	DeviceOffline  bool       `json:"device_offline"`
	OrderResult    bool       `json:"order_result"`
	RolloutPaused  bool       `json:"rollout_paused"`
	OfflineMinutes int        `json:"offline_minutes"`
	Email          string     `json:"email"`      // where they go (the account's address; read only)
	Language       string     `json:"language"`   // the mails' language (the account's; read only)
	Updated        *time.Time `json:"updated_at"` // nil: never saved, the defaults
}

// DefaultNotificationSettings: every kind on, devices after 10 minutes.
func DefaultNotificationSettings() NotificationSettings {
	return NotificationSettings{EndUserExpiry: true, DeviceOffline: true, OrderResult: true, RolloutPaused: true,
		OfflineMinutes: DefaultOfflineMinutes}
}

// On reports whether kind is switched on.
func (s NotificationSettings) On(kind string) bool {
	switch kind {
	case NotifyEndUserExpiry:
		return s.EndUserExpiry
	case NotifyDeviceOffline:
		return s.DeviceOffline
	case NotifyOrderResult:
		return s.OrderResult
	case NotifyRolloutPaused:
		return s.RolloutPaused
	}
	return false
}

// Check validates what a person may set.
func (s NotificationSettings) Check(v *Validator) {
	v.Check(s.OfflineMinutes >= MinOfflineMinutes && s.OfflineMinutes <= MaxOfflineMinutes, "offline_minutes",
		"must be a whole number of minutes from %d to %d", MinOfflineMinutes, MaxOfflineMinutes)
}

// NotifyDigestKey names one digest: an account's pending notices of one
// kind (and, for devices, of one project).
type NotifyDigestKey struct {
	AccountID int64
	Kind      string
	ProjectID int64 // device_offline: the project; 0 for the other kinds
}

// NotifyLine is one item of a digest, as the ledger keeps it.
type NotifyLine struct {
	Event     string    `json:"event"`             // enduser_expiry: 30d, 7d, 1d, expired; device: offline, online; order: completed, failed; paused
	ID        int64     `json:"id,omitempty"`      // the end user, device, order or rollout
	Name      string    `json:"name,omitempty"`    // its name (a device's name, an order's number)
	Project   string    `json:"project,omitempty"` // its project's name
	ProjectID int64     `json:"project_id,omitempty"`
	Installer string    `json:"installer,omitempty"` // the installer (in a sub-distributor's digest)
	Service   string    `json:"service,omitempty"`   // app or premium
	MAC       string    `json:"mac,omitempty"`
	Detail    string    `json:"detail,omitempty"` // an order's amount, a rollout's pause reason
	At        time.Time `json:"at"`               // the expiry, the time offline or back, the order's or pause's time
	Since     time.Time `json:"since,omitzero"`   // device online: since when it had been offline
}

// NotifyDigest is what one digest mail carries: its recipient, the first
// lines, and how many rows in all (Count; MaxID bounds the rows it covers).
type NotifyDigest struct {
	NotifyDigestKey
	Username string
	Name     string
	Role     Role
	Email    string
	Language string
	On       bool // the account still has the kind on
	Count    int
	MaxID    int64
	Attempts int // failed deliveries so far
	Lines    []NotifyLine
}

// NotifyDecided counts the ledger rows one run decided, by kind.
type NotifyDecided map[string]int
