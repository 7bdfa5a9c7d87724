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

// NormalizeMAC accepts the common notations of a MAC — 0C:11:05:AA:BB:CC,
// 0c-11-05-aa-bb-cc, 0c11.05aa.bbcc, 0c1105-aabbcc and 0C1105AABBCC, in
// either case — and returns the 12 upper-case hex digits, or ok=false. Separators must
// be where the notation puts them, one kind throughout: a run of hex
// digits with separators strewn anywhere ("0C1:105AABB::CC") is refused,
// not guessed at.
func NormalizeMAC(s string) (string, bool) {
	s = strings.TrimSpace(s)
	var sep byte
	group := 12 // hex digits between separators
	switch len(s) {
	case 12:
	case 17: // six pairs
		sep, group = s[2], 2
		if sep != ':' && sep != '-' {
			return "", false
		}
	case 14: // three fours
		sep, group = '.', 4
	case 13: // two sixes
		sep, group = '-', 6
	default:
		return "", false
	}
	var out [12]byte
	n := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if group < 12 && (i+1)%(group+1) == 0 {
			if c != sep {
				return "", false
			}
			continue
		}
		switch {
		case c >= '0' && c <= '9', c >= 'A' && c <= 'F':
		case c >= 'a' && c <= 'f':
			c -= 'a' - 'A'
		default:
			return "", false
		}
		out[n] = c
		n++
	}
	return string(out[:]), true
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
