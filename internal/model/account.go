package model

import (
	"net/mail"
	"regexp"
	"strings"
	"time"
)

// Role is the level of an account in the tenancy tree.
type Role string

const (
	RoleAdmin          Role = "admin"
	RoleDistributor    Role = "distributor"
	RoleSubdistributor Role = "subdistributor"
	RoleInstaller      Role = "installer"
)

// Roles in tree order, top first.
var Roles = []Role{RoleAdmin, RoleDistributor, RoleSubdistributor, RoleInstaller}

func (r Role) Valid() bool {
	for _, x := range Roles {
		if x == r {
			return true
		}
	}
	return false
}

// Label is the role's name as the portal shows it.
func (r Role) Label() string {
	switch r {
	case RoleAdmin:
		return "Admin"
	case RoleDistributor:
		return "Distributor"
	case RoleSubdistributor:
		return "Sub-distributor"
	case RoleInstaller:
		return "Installer"
	}
	return string(r)
}

// ParentRoles lists the roles allowed to create an account of role r.
func (r Role) ParentRoles() []Role {
	switch r {
	case RoleDistributor:
		return []Role{RoleAdmin}
	case RoleSubdistributor:
		return []Role{RoleDistributor}
	case RoleInstaller:
		return []Role{RoleSubdistributor, RoleDistributor}
	}
	return nil
}

// Installer profile enums, from the guide's "Add Installer Account" table.
const (
	BusinessIntercom  = "intercom"
	BusinessSmartHome = "smart_home"

	ChargeInstaller = "installer"
	ChargeEndUser   = "enduser"

	ConnectDefault = "default"
	ConnectUDP     = "udp"
	ConnectTCP     = "tcp"
	ConnectTLS     = "tls"
)

// Languages the installer's emails can be written in.
var Languages = []string{"en", "zh-CN", "es", "de", "fr", "ru"}

// Account is one node of the tenancy tree: admin, distributor,
// sub-distributor or installer. Installer profile fields are empty for others.
type Account struct {
	ID       int64     `json:"id"`
	Role     Role      `json:"role"`
	Username string    `json:"username"`
	Name     string    `json:"name"`
	Email    string    `json:"email"`
	Phone    string    `json:"phone"`
	Company  string    `json:"company"`
	ParentID int64     `json:"parent_id,omitempty"`
	Disabled bool      `json:"disabled"`
	Created  time.Time `json:"created_at"`
	Updated  time.Time `json:"updated_at"`

	// Ancestors, denormalised so that tenancy is one indexed comparison. An
	// account is its own distributor / sub-distributor at that level.
	DistributorID    int64 `json:"distributor_id,omitempty"`
	SubdistributorID int64 `json:"subdistributor_id,omitempty"`

	// Installer profile.
	Business              string `json:"business,omitempty"`
	TimeZone              string `json:"time_zone,omitempty"`
	Language              string `json:"language,omitempty"`
	ChargeMode            string `json:"charge_mode,omitempty"`
	ConnectType           string `json:"connect_type,omitempty"`
	RTPConfusion          bool   `json:"rtp_confusion"`
	AccessWithoutPassword bool   `json:"access_without_password"`

	// Sub-distributor switches, set by its distributor.
	PaymentEnabled   bool `json:"payment_enabled"`
	PayByDistributor bool `json:"pay_by_distributor"`

	// CredentialEpoch moves on whenever the password is set; a session or
	// API token made under an older one is refused.
	CredentialEpoch int64 `json:"-"`
}

var usernameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._@-]{2,63}$`)

// MinPasswordLength is the shortest password accepted anywhere.
const MinPasswordLength = 8

// MaxPasswordLength bounds a password, in bytes: no longer one can be set,
// so a login refuses a longer one before hashing it.
const MaxPasswordLength = 256

// ValidatePassword checks a new password.
func ValidatePassword(v *Validator, field, pw string) {
	v.Check(len(pw) >= MinPasswordLength, field, "must be at least %d characters", MinPasswordLength)
	v.Check(len(pw) <= MaxPasswordLength, field, "must be at most %d characters", MaxPasswordLength)
}

// Normalize trims text fields and fills profile defaults.
func (a *Account) Normalize() {
	a.Username = strings.TrimSpace(a.Username)
	a.Name = strings.TrimSpace(a.Name)
	a.Email = strings.TrimSpace(a.Email)
	a.Phone = strings.TrimSpace(a.Phone)
	a.Company = strings.TrimSpace(a.Company)
	if a.Name == "" {
		a.Name = a.Username
	}
	if a.Role == RoleInstaller {
		if a.Business == "" {
			a.Business = BusinessIntercom
		}
		if a.TimeZone == "" {
			a.TimeZone = "UTC"
		}
		if a.Language == "" {
			a.Language = "en"
		}
		if a.ChargeMode == "" {
			a.ChargeMode = ChargeInstaller
		}
		if a.ConnectType == "" {
			a.ConnectType = ConnectDefault
		}
	}
}

// Validate checks the fields a caller may set.
func (a *Account) Validate() error {
	var v Validator
	v.Check(a.Role.Valid(), "role", "must be one of admin, distributor, subdistributor, installer")
	v.Check(usernameRE.MatchString(a.Username), "username", "must be 3–64 letters, digits or . _ @ -, starting with a letter or digit")
	v.Check(len(a.Name) <= 128, "name", "must be at most 128 characters")
	v.Check(len(a.Company) <= 128, "company", "must be at most 128 characters")
	if a.Email != "" {
		_, err := mail.ParseAddress(a.Email)
		v.Check(err == nil && !strings.ContainsAny(a.Email, "<> ") && len(a.Email) <= 254, "email", "is not a valid email address")
	}
	v.Check(ValidPhone(a.Phone), "phone", "may hold only digits, spaces and + - ( ), at most 32")
	if a.Role == RoleInstaller {
		v.Check(a.Business == BusinessIntercom || a.Business == BusinessSmartHome, "business", "must be intercom or smart_home")
		_, err := time.LoadLocation(a.TimeZone)
		v.Check(err == nil && a.TimeZone != "" && a.TimeZone != "Local", "time_zone", "must be an IANA time zone such as Europe/Berlin")
		v.Check(contains(Languages, a.Language), "language", "must be one of %s", strings.Join(Languages, ", "))
		v.Check(a.ChargeMode == ChargeInstaller || a.ChargeMode == ChargeEndUser || a.ChargeMode == ChargeDistributor, "charge_mode", "must be installer or enduser")
		v.Check(contains([]string{ConnectDefault, ConnectUDP, ConnectTCP, ConnectTLS}, a.ConnectType), "connect_type", "must be default, udp, tcp or tls")
	}
	return v.Err()
}

var phoneRE = regexp.MustCompile(`^[0-9+\-() ]{0,32}$`)

// ValidPhone accepts an empty or plausible phone number.
func ValidPhone(s string) bool { return phoneRE.MatchString(s) }

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// AccountFilter selects accounts in a list.
type AccountFilter struct {
	Role     Role
	ParentID int64
	Search   string // username, name or email contains
	Page
}
