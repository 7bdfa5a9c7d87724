package model

import "time"

// EndUserRole says what an end user is within a project.
type EndUserRole string

const (
	FamilyMaster    EndUserRole = "family_master"
	FamilyMember    EndUserRole = "family_member"
	OfficeStaff     EndUserRole = "office_staff"
	PropertyManager EndUserRole = "property_manager"
)

// EndUser is a resident, office worker or property manager: data only.
type EndUser struct {
	ID             int64       `json:"id"`
	InstallerID    int64       `json:"installer_id"`
	ProjectID      int64       `json:"project_id"`
	ApartmentID    int64       `json:"apartment_id,omitempty"`
	DepartmentID   int64       `json:"department_id,omitempty"`
	Role           EndUserRole `json:"role"`
	FamilyMasterID int64       `json:"family_master_id,omitempty"`
	Name           string      `json:"name"`
	SIP            string      `json:"sip"`
	Email          string      `json:"email"`
	Mobile         string      `json:"mobile"`
	Phone          string      `json:"phone"`
	Address        string      `json:"address"`
	Active         bool        `json:"active"`
	Premium        bool        `json:"premium"`
	Created        time.Time   `json:"created_at"`
	AppExpires     *time.Time  `json:"app_expires_at"`
	PremiumExpires *time.Time  `json:"premium_expires_at"`
}

// EndUserKind selects one of the guide's three end-user lists.
type EndUserKind string

const (
	KindVilla     EndUserKind = "villa"     // single-tenant homes
	KindCommunity EndUserKind = "community" // community residents and property managers
	KindOffice    EndUserKind = "office"    // office staff
)

// EndUserFilter is the User module's end-user search: Account Type (All,
// Family Master, Family Member) and Search Type + text, as the guide says.
type EndUserFilter struct {
	Kind        EndUserKind
	AccountType string // "", "all", "family_master", "family_member"
	SearchType  string // sip, name, email, mobile, installer, family_master (villa/community); office instead of family_master for office
	Q           string
	InstallerID int64 // optional narrowing (installer portal)
	ProjectID   int64 // optional narrowing
	// ExpiringDays, when not 0, keeps the users whose App service expires
	// from now to now + ExpiringDays days (1 to MaxExpiringDays): the
	// dashboard's "expiring within 30 days" (expiring=30).
	ExpiringDays int
	Page
}

// MaxExpiringDays bounds EndUserFilter.ExpiringDays.
const MaxExpiringDays = 365

// EndUserRow is an end user as the lists show it, with the names the guide's
// columns need.
type EndUserRow struct {
	EndUser
	Installer    string `json:"installer"`
	Project      string `json:"project"` // community or office name; "" for villas
	FamilyMaster string `json:"family_master"`
	// Kind is the list the user belongs to (from its project's kind).
	Kind EndUserKind `json:"kind"`
	// Apartment ("Building · Floor · Number") and Department name, filled
	// by the detail read (GetEndUserRow) only.
	Apartment  string `json:"apartment,omitempty"`
	Department string `json:"department,omitempty"`
}
