package model

import (
	"strings"
	"time"
)

// Device enrollment (DESIGN.md §3, docs/device-protocol.md §1): a device's
// key is accepted by a person, an acceptance window or a maker's claim code;
// any other key waits as pending and gets the device nothing.

// Key states of a device key the cloud has not accepted.
const (
	KeyPending  = "pending"
	KeyRejected = "rejected"
)

// EnrollWindowMax bounds an acceptance window: it is opened by an installer
// standing at the device, for the next few minutes only.
const (
	EnrollWindowDefault = 10 * time.Minute
	EnrollWindowMax     = 60 * time.Minute
)

// DeviceAttempt is one attempt of a device to authenticate, as the gateway
// saw it: what it presented and what it said of itself before the upgrade.
type DeviceAttempt struct {
	MAC, Key   string
	Claim      string // the maker's claim code, "" when none was presented
	RemoteAddr string
	Model      string
	Firmware   string
	// Allow, when set, is asked once before anything is done for a key that
	// is not the accepted one (rate limits): its error is returned as is.
	Allow func() error
}

// PendingKey is a key a device presented that the cloud has not accepted.
type PendingKey struct {
	ID          int64      `json:"id"`
	MAC         string     `json:"mac"`
	DeviceName  string     `json:"device_name"`
	Project     string     `json:"project"`
	Installer   string     `json:"installer"`
	Fingerprint string     `json:"fingerprint"` // first 16 hex digits of the key's SHA-256
	Status      string     `json:"status"`      // pending | rejected
	RemoteAddr  string     `json:"remote_addr"`
	Model       string     `json:"model"`
	Firmware    string     `json:"firmware"`
	Attempts    int64      `json:"attempts"`
	FirstAt     time.Time  `json:"first_attempt_at"`
	LastAt      time.Time  `json:"last_attempt_at"`
	Bound       bool       `json:"device_has_accepted_key"` // the device has another, accepted key
	DecidedBy   string     `json:"decided_by,omitempty"`
	DecidedAt   *time.Time `json:"decided_at,omitempty"`
}

// PendingKeyFilter searches the pending devices list.
type PendingKeyFilter struct {
	MAC string // contains, any notation
	Page
}

// EnrollWindow is an open "accept the next key" window of one device or
// of a whole project.
type EnrollWindow struct {
	ID        int64     `json:"id"`
	MAC       string    `json:"mac,omitempty"`
	ProjectID int64     `json:"project_id,omitempty"`
	Project   string    `json:"project,omitempty"`
	OpenedBy  string    `json:"opened_by"`
	Opened    time.Time `json:"opened_at"`
	Expires   time.Time `json:"expires_at"`
}

// DeviceEnrollment is what a device's page shows of its enrollment.
type DeviceEnrollment struct {
	MAC           string        `json:"mac"`
	Accepted      bool          `json:"accepted"`              // a key is accepted
	Fingerprint   string        `json:"fingerprint,omitempty"` // of the accepted key
	ClaimCode     bool          `json:"claim_code"`            // a claim code is on file for the MAC
	Window        *EnrollWindow `json:"window"`                // this device's open window
	ProjectWindow *EnrollWindow `json:"project_window"`        // its project's open window
	Keys          []*PendingKey `json:"keys"`                  // pending and rejected keys, newest attempt first
}

// NormalizeClaimCode reads a claim code as printed ("7KQ2-M9XD-4TPA-R8WC",
// lower case, spaces): 12 to 64 letters and digits once dashes and spaces
// are dropped, upper-cased.
func NormalizeClaimCode(s string) (string, bool) {
	var b strings.Builder
	for _, r := range strings.TrimSpace(s) {
		switch {
		case r >= '0' && r <= '9', r >= 'A' && r <= 'Z':
			b.WriteRune(r)
		case r >= 'a' && r <= 'z':
			b.WriteRune(r - 'a' + 'A')
		case r == '-' || r == ' ':
		default:
			return "", false
		}
	}
	if b.Len() < 12 || b.Len() > 64 {
		return "", false
	}
	return b.String(), true
}
