package model

import (
	"strings"
	"time"
)

// ChargeDistributor is the charge mode fixed on installers of a
// sub-distributor whose distributor pays ("Pay by Distributor").
const ChargeDistributor = "distributor"

// InstallerFilter is the installer list's search: by Account or Email.
type InstallerFilter struct {
	Account string
	Email   string
	Page
}

// InstallerPatch holds the editable installer fields; nil leaves a field as it is.
type InstallerPatch struct {
	Name         *string
	Business     *string
	Company      *string
	Email        *string
	Phone        *string
	TimeZone     *string
	Language     *string
	ChargeMode   *string
	ConnectType  *string
	RTPConfusion *bool
}

// Apply copies the set fields onto a.
func (p InstallerPatch) Apply(a *Account) {
	set := func(dst *string, v *string) {
		if v != nil {
			*dst = strings.TrimSpace(*v)
		}
	}
	set(&a.Name, p.Name)
	set(&a.Business, p.Business)
	set(&a.Company, p.Company)
	set(&a.Email, p.Email)
	set(&a.Phone, p.Phone)
	set(&a.TimeZone, p.TimeZone)
	set(&a.Language, p.Language)
	set(&a.ChargeMode, p.ChargeMode)
	set(&a.ConnectType, p.ConnectType)
	if p.RTPConfusion != nil {
		a.RTPConfusion = *p.RTPConfusion
	}
}

// DeletionImpact is what deleting an installer would take with it.
type DeletionImpact struct {
	Projects    int `json:"projects"`
	Devices     int `json:"devices"`
	EndUsers    int `json:"end_users"`
	Cameras     int `json:"third_party_devices"`
	LibraryMACs int `json:"library_macs"`
	// Orders are kept for accounting: an installer with orders is not deleted.
	Orders int `json:"orders"`
	// DeviceMACs are the devices a completed delete removed: their
	// connections to the gateway are closed.
	DeviceMACs []string `json:"-"`
}

// Empty reports whether nothing would go with the installer.
func (d DeletionImpact) Empty() bool {
	return d.Projects+d.Devices+d.EndUsers+d.Cameras+d.LibraryMACs == 0
}

// LibraryMAC is one MAC of an installer's MAC library.
type LibraryMAC struct {
	ID          int64     `json:"id"`
	InstallerID int64     `json:"installer_id"`
	MAC         string    `json:"mac"`
	Name        string    `json:"name"`
	InUse       bool      `json:"in_use"`     // a device with this MAC exists
	ClaimCode   bool      `json:"claim_code"` // a claim code is on file (it is kept hashed)
	Created     time.Time `json:"created_at"`
}

// MACRow is one row of a MAC import, numbered as in the file.
type MACRow struct {
	Row   int
	MAC   string
	Name  string
	Claim string // the maker's claim code printed for the MAC; optional
}

// RowError says why a row of an import was rejected.
type RowError struct {
	Row    int    `json:"row"`
	Value  string `json:"value"`
	Reason string `json:"reason"`
}

// ImportResult reports an import: what was taken and every rejected row.
type ImportResult struct {
	Imported int        `json:"imported"`
	Rejected []RowError `json:"rejected"`
}

// MACFilter selects library MACs.
type MACFilter struct {
	Search string // MAC or name contains
	Unused bool   // only MACs no device uses yet
	Page
}
