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
