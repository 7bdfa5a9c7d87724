package billing

import (
	"fmt"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/i18n"
	"github.com/gatehouse-dev/gatehouse/internal/model"
)

// OrderFilter is the Payments module's search.
type OrderFilter struct {
	CreatedFrom *time.Time // inclusive
	CreatedTo   *time.Time // exclusive
	Type        OrderType
	Status      Status
	InstallerID int64
	Number      string // contains
	model.Page
}

// CouponFilter selects coupons by state.
type CouponFilter struct {
	State            CouponState
	SubdistributorID int64
	model.Page
}

// BillableFilter selects the users the Subscriptions module lists.
type BillableFilter struct {
	InstallerID    int64
	ProjectType    string    // community | villa | office
	ProjectID      int64     // a community or the office
	Mode           string    // active (not yet active users) | renew
	ServiceType    string    // community: family_master | family_member | property_manager; villa: app | premium
	ExpiringBefore time.Time // renew: expired or expiring before this
	Sort           string    // apt | apt_name
}

// BillableUser is a user the Subscriptions module can pay for.
type BillableUser struct {
	ID             int64      `json:"id"`
	Name           string     `json:"name"`
	Role           string     `json:"role"`
	Project        string     `json:"project"`
	ProjectID      int64      `json:"project_id"`
	Apartment      string     `json:"apartment"`
	AptName        string     `json:"apt_name"`
	Item           Item       `json:"item"`
	Active         bool       `json:"active"`
	AppExpires     *time.Time `json:"app_expires_at"`
	PremiumExpires *time.Time `json:"premium_expires_at"`
}

// Gate says what the actor may do with Subscriptions and Payments.
type Gate struct {
	Enabled bool   // the modules exist for the actor
	CanPay  bool   // pay buttons are shown
	Reason  string // why not, when not
	// off is Reason's format and arguments when the modules are off (it
	// names an account), for the portal's catalogs.
	off model.Text
}

// PaymentsOff is the gate of an actor whose sub-distributor's distributor
// has not switched payments on.
func PaymentsOff(subdistributor string) Gate {
	format := i18n.N("The distributor of %s has not switched the payment feature on.")
	return Gate{Reason: fmt.Sprintf(format, subdistributor), off: model.Text{Format: format, Args: []any{subdistributor}}}
}

// Err refuses what the gate does not let through: its reason as a
// forbidden error, translatable in the portal.
func (g Gate) Err() error {
	if g.off.Format != "" {
		e := model.Errorf(model.EFORBIDDEN, "%s", g.Reason)
		e.Text = g.off
		return e
	}
	return model.Errorf(model.EFORBIDDEN, "%s", g.Reason)
}

// ParseExpiry reads a coupon's expiry: a date (valid through that day) or an RFC 3339 time.
func ParseExpiry(s string) (time.Time, error) {
	if t, err := time.Parse("2006-01-02", s); err == nil {
		return t.AddDate(0, 0, 1), nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return t, model.Invalid("expires_at", "must be a date (YYYY-MM-DD) or an RFC 3339 time")
	}
	return t, nil
}
