package model

import (
	"strings"
	"time"
)

// ProjectKind is one of the three kinds of installation.
type ProjectKind string

const (
	ProjectCommunity ProjectKind = "community"
	ProjectOffice    ProjectKind = "office"
	ProjectPersonal  ProjectKind = "personal" // a single-tenant (villa) home
)

func (k ProjectKind) Valid() bool {
	return k == ProjectCommunity || k == ProjectOffice || k == ProjectPersonal
}

// Project is a community, an office or a single-tenant home, owned by an
// installer. Manager is the named Community / Office / Single-tenant Manager.
type Project struct {
	ID          int64       `json:"id"`
	InstallerID int64       `json:"installer_id"`
	Kind        ProjectKind `json:"kind"`
	Name        string      `json:"name"`
	Manager     string      `json:"manager"`
	Address     string      `json:"address"`
	TimeZone    string      `json:"time_zone"`
	Created     time.Time   `json:"created_at"`
}

func (p *Project) Validate() error {
	p.Name = strings.TrimSpace(p.Name)
	p.Manager = strings.TrimSpace(p.Manager)
	var v Validator
	v.Check(p.Kind.Valid(), "kind", "must be community, office or personal")
	v.Check(p.Name != "" && len(p.Name) <= 128, "name", "is required, at most 128 characters")
	v.Check(len(p.Manager) <= 128, "manager", "must be at most 128 characters")
	v.Check(len(p.Address) <= 256, "address", "must be at most 256 characters")
	if p.TimeZone != "" {
		_, err := time.LoadLocation(p.TimeZone)
		v.Check(err == nil, "time_zone", "must be an IANA time zone")
	}
	return v.Err()
}

// Building of a community.
type Building struct {
	ID        int64  `json:"id"`
	ProjectID int64  `json:"project_id"`
	Name      string `json:"name"`
}

// MaxFamilyMembers is the upper bound of an apartment's family member limit.
const MaxFamilyMembers = 63

// Apartment of a building.
type Apartment struct {
	ID                int64  `json:"id"`
	BuildingID        int64  `json:"building_id"`
	Floor             string `json:"floor"`
	Number            string `json:"number"`
	Name              string `json:"name"`
	FamilyMemberLimit int    `json:"family_member_limit"`
}

func (a *Apartment) Validate() error {
	var v Validator
	v.Check(strings.TrimSpace(a.Number) != "", "number", "is required")
	v.Check(a.FamilyMemberLimit >= 0 && a.FamilyMemberLimit <= MaxFamilyMembers, "family_member_limit", "must be from 0 to %d", MaxFamilyMembers)
	return v.Err()
}

// Department of an office.
type Department struct {
	ID        int64  `json:"id"`
	ProjectID int64  `json:"project_id"`
	Name      string `json:"name"`
}
