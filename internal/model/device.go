package model

import (
	"strings"
	"time"
)

// DeviceType is the kind of hardware.
type DeviceType string

const (
	DoorPhone     DeviceType = "door_phone"
	IndoorMonitor DeviceType = "indoor_monitor"
	AccessControl DeviceType = "access_control"
	GuardPhone    DeviceType = "guard_phone"
)

// DeviceTypes in display order.
var DeviceTypes = []DeviceType{DoorPhone, IndoorMonitor, AccessControl, GuardPhone}

// Device is an intercom device registered by its MAC within a project.
type Device struct {
	ID           int64      `json:"id"`
	MAC          string     `json:"mac"`
	InstallerID  int64      `json:"installer_id"`
	ProjectID    int64      `json:"project_id"`
	BuildingID   int64      `json:"building_id,omitempty"`
	ApartmentID  int64      `json:"apartment_id,omitempty"`
	DepartmentID int64      `json:"department_id,omitempty"`
	OwnerID      int64      `json:"owner_id,omitempty"` // end user, for personal devices
	Type         DeviceType `json:"type"`
	Model        string     `json:"model"`
	Name         string     `json:"name"`
	SIP          string     `json:"sip"`
	Firmware     string     `json:"firmware"`
	Location     string     `json:"location"`
	Online       bool       `json:"online"`
	LastSeen     *time.Time `json:"last_seen"`
	Created      time.Time  `json:"created_at"`
}

// NormalizeMAC accepts 0C:11:05:AA:BB:CC, 0c-11-05-aa-bb-cc, 0c11.05aa.bbcc
// and 0C1105AABBCC and returns the 12 upper-case hex digits, or ok=false.
func NormalizeMAC(s string) (string, bool) {
	var b strings.Builder
	for _, r := range strings.TrimSpace(s) {
		switch {
		case r >= '0' && r <= '9', r >= 'A' && r <= 'F':
			b.WriteRune(r)
		case r >= 'a' && r <= 'f':
			b.WriteRune(r - 'a' + 'A')
		case r == ':' || r == '-' || r == '.':
		default:
			return "", false
		}
	}
	if b.Len() != 12 {
		return "", false
	}
	return b.String(), true
}

// ThirdPartyDevice is a camera added by an installer to a project or to a
// single-tenant home. Credentials never leave the store in lists.
type ThirdPartyDevice struct {
	ID          int64     `json:"id"`
	InstallerID int64     `json:"installer_id"`
	ProjectID   int64     `json:"project_id"`
	OwnerID     int64     `json:"owner_id,omitempty"`
	Name        string    `json:"name"`
	Kind        string    `json:"kind"` // "camera"
	StreamURL   string    `json:"stream_url"`
	Username    string    `json:"-"`
	Password    string    `json:"-"`
	Created     time.Time `json:"created_at"`
}
