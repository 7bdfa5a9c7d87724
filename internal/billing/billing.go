package billing

import (
	"crypto/rand"
	"fmt"
	"math/big"
	"net/mail"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/model"
)

// Item is a priced service of the price list.
type Item string

const (
	CommunityApp       Item = "community_app"        // community family master
	FamilyMemberApp    Item = "family_member_app"    // additional community family member
	PropertyManagerApp Item = "property_manager_app" // property manager app
	VillaApp           Item = "villa_app"            // single-tenant family master
	VillaPremium       Item = "villa_premium"        // single-tenant premium plan
	VillaExtraMember   Item = "villa_extra_member"   // single-tenant extra family member
	OfficeUser         Item = "office_user"          // office staff
)

// Items in price-list order.
var Items = []Item{CommunityApp, FamilyMemberApp, PropertyManagerApp, VillaApp, VillaPremium, VillaExtraMember, OfficeUser}

// Label is the item's name as the portal shows it.
func (i Item) Label() string {
	switch i {
	case CommunityApp:
		return "Community app (family master)"
	case FamilyMemberApp:
		return "Additional family member app"
	case PropertyManagerApp:
		return "Property manager app"
	case VillaApp:
		return "Villa app"
	case VillaPremium:
		return "Villa premium plan"
	case VillaExtraMember:
		return "Villa extra family member"
	case OfficeUser:
		return "Office user"
	}
	return string(i)
}

// Valid reports whether i is a known item.
func (i Item) Valid() bool {
	for _, x := range Items {
		if x == i {
			return true
		}
	}
	return false
}

// Price is one line of a price list, in minor units.
type Price struct {
	Item          Item   `json:"item"`
	Label         string `json:"label"`
	ActivationFee int64  `json:"activation_fee"`
	MonthlyFee    int64  `json:"monthly_fee"`
	Currency      string `json:"currency"`
	Overridden    bool   `json:"overridden"` // set by the distributor rather than the default
}

// PriceList is the effective list: the admin's default with a distributor's overrides.
type PriceList struct {
	Currency string  `json:"currency"`
	Items    []Price `json:"items"`
}

// Of returns the price of an item.
func (l PriceList) Of(i Item) (Price, bool) {
	for _, p := range l.Items {
		if p.Item == i {
			return p, true
		}
	}
	return Price{}, false
}

// ValidatePrices checks a price list update: known items, fees ≥ 0 and
// one three-letter currency.
func ValidatePrices(ps []Price) error {
	var v model.Validator
	v.Check(len(ps) > 0, "items", "must list at least one item")
	cur := ""
	for n, p := range ps {
		f := fmt.Sprintf("items[%d]", n)
		v.Check(p.Item.Valid(), f+".item", "must be one of %s", itemNames())
		v.Check(p.ActivationFee >= 0 && p.ActivationFee <= 100_000_000, f+".activation_fee", "must be 0 to 100000000 minor units")
		v.Check(p.MonthlyFee >= 0 && p.MonthlyFee <= 100_000_000, f+".monthly_fee", "must be 0 to 100000000 minor units")
		v.Check(validCurrency(p.Currency), f+".currency", "must be a three-letter ISO 4217 code such as USD")
		if cur == "" {
			cur = p.Currency
		}
		v.Check(p.Currency == cur, f+".currency", "must be the same currency for every item")
	}
	return v.Err()
}

func itemNames() string {
	var s []string
	for _, i := range Items {
		s = append(s, string(i))
	}
	return strings.Join(s, ", ")
}

func validCurrency(c string) bool {
	if len(c) != 3 {
		return false
	}
	for _, r := range c {
		if r < 'A' || r > 'Z' {
			return false
		}
	}
	return true
}

// OrderType is the guide's transaction type.
type OrderType string

const (
	TypeActivation   OrderType = "activation"
	TypeSubscription OrderType = "subscription" // a renewal
	TypeFeatures     OrderType = "features"     // the feature plan: the villa premium plan
)

// OrderTypes in the guide's order.
var OrderTypes = []OrderType{TypeActivation, TypeSubscription, TypeFeatures}

func (t OrderType) Label() string {
	switch t {
	case TypeActivation:
		return "Activation"
	case TypeSubscription:
		return "Subscription"
	case TypeFeatures:
		return "Features"
	}
	return string(t)
}

// OrderTypeOfRequest maps the API's order kinds to the guide's types:
// "Activation" is the initial activation of a user account, an extra family
// member's included (the guide pays for it "in the same way", community or
// villa); "Subscription" a renewal. extra_member is an activation that must
// list family members only. An activation of the premium plan (the feature
// plan) becomes "Features" in Validate.
func OrderTypeOfRequest(kind string) (OrderType, bool) {
	switch kind {
	case "activation", "extra_member":
		return TypeActivation, true
	case "renewal":
		return TypeSubscription, true
	}
	return "", false
}

// Status of an order.
type Status string

const (
	StatusProcessing       Status = "processing"
	StatusSystemProcessing Status = "system_processing"
	StatusCompleted        Status = "completed"
	StatusFailed           Status = "failed"
	StatusTimeout          Status = "timeout"
	StatusCancel           Status = "cancel"
)

// Statuses in the guide's order.
var Statuses = []Status{StatusProcessing, StatusSystemProcessing, StatusCompleted, StatusFailed, StatusTimeout, StatusCancel}

func (s Status) Label() string {
	switch s {
	case StatusProcessing:
		return "Processing"
	case StatusSystemProcessing:
		return "System Processing"
	case StatusCompleted:
		return "Completed"
	case StatusFailed:
		return "Failed"
	case StatusTimeout:
		return "Timeout"
	case StatusCancel:
		return "Cancel"
	}
	return string(s)
}

func (s Status) Valid() bool {
	for _, x := range Statuses {
		if x == s {
			return true
		}
	}
	return false
}

// transitions lists the statuses an order may move to from each status.
//
// A payment the provider captured completes the order whatever happened
// meanwhile: a late webhook after Timeout (or after a Cancel or a Failed
// report the payer raced) COMPLETES the order, and its history says so —
// the money was taken, so the service is delivered rather than refunded.
var transitions = map[Status][]Status{
	StatusProcessing:       {StatusSystemProcessing, StatusCompleted, StatusFailed, StatusTimeout, StatusCancel},
	StatusSystemProcessing: {StatusCompleted, StatusFailed, StatusProcessing},
	StatusFailed:           {StatusProcessing, StatusCompleted},
	StatusTimeout:          {StatusProcessing, StatusCompleted},
	StatusCancel:           {StatusCompleted},
	StatusCompleted:        nil,
}

// CanMove reports whether an order may go from one status to another.
func CanMove(from, to Status) bool {
	for _, s := range transitions[from] {
		if s == to {
			return true
		}
	}
	return false
}

// From lists the statuses from which an order may move to to.
func From(to Status) []Status {
	var out []Status
	for _, from := range Statuses {
		if CanMove(from, to) {
			out = append(out, from)
		}
	}
	return out
}

// Payable reports whether an order in status s offers Pay.
func Payable(s Status) bool { return s == StatusProcessing || s == StatusFailed || s == StatusTimeout }

// DefaultOrderTimeout is how long an order stays Processing unpaid.
const DefaultOrderTimeout = 30 * time.Minute

// MaxMonths bounds a renewal period: community up to 5 years, villa and
// office up to 60 months (the same bound, said differently by the guide).
func MaxMonths(projectType string) int { return 60 }

// CheckMonths validates a period for field, naming the limit.
func CheckMonths(v *model.Validator, field, projectType string, months int) {
	max := MaxMonths(projectType)
	if projectType == "community" {
		v.Check(months >= 1 && months <= max, field, "must be 1 to %d months (at most 5 years)", max)
		return
	}
	v.Check(months >= 1 && months <= max, field, "must be 1 to %d months", max)
}

// MaxDays is the longest renewal by day: as long as the longest by month.
func MaxDays(projectType string) int { return MaxMonths(projectType) * 365 / 12 }

// CheckDays validates a renewal by day for field, naming the limit.
func CheckDays(v *model.Validator, field, projectType string, days int) {
	v.Check(days >= 1 && days <= MaxDays(projectType), field, "must be 1 to %d days", MaxDays(projectType))
}

// ExtendDays is Extend by days.
func ExtendDays(current *time.Time, now time.Time, days int) time.Time {
	from := now
	if current != nil && current.After(now) {
		from = *current
	}
	return from.AddDate(0, 0, days).UTC()
}

// AmountDays is the price of a renewal by day: the monthly fee's year
// spread over 365 days, rounded up to the minor unit.
func AmountDays(p Price, days int) int64 {
	return (p.MonthlyFee*12*int64(days) + 364) / 365
}

// Extend returns the new expiry of a service renewed by months: from the
// current expiry while it runs, from now once it has expired (or never ran).
func Extend(current *time.Time, now time.Time, months int) time.Time {
	from := now
	if current != nil && current.After(now) {
		from = *current
	}
	return from.AddDate(0, months, 0).UTC()
}

// Amount is the price of one order line: the activation fee when the
// service is activated, plus the monthly fee for each month.
func Amount(p Price, activation bool, months int) int64 {
	a := p.MonthlyFee * int64(months)
	if activation {
		a += p.ActivationFee
	}
	return a
}

// NewOrderNumber makes an order number: "GH", the UTC date, and ten random
// digits, e.g. GH20250301-4821937065. The store retries on a collision.
func NewOrderNumber(now time.Time) string {
	n, err := rand.Int(rand.Reader, big.NewInt(10_000_000_000))
	if err != nil {
		panic(err)
	}
	return fmt.Sprintf("GH%s-%010d", now.UTC().Format("20060102"), n.Int64())
}

// ValidOrderNumber reports whether s looks like an order number.
func ValidOrderNumber(s string) bool {
	if len(s) != 21 || !strings.HasPrefix(s, "GH") || s[10] != '-' {
		return false
	}
	for i, r := range s[2:] {
		if i+2 == 10 {
			continue
		}
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

// Order is a payment for services of one installer's users.
type Order struct {
	ID               int64        `json:"-"`
	Number           string       `json:"number"`
	Type             OrderType    `json:"type"`
	InstallerID      int64        `json:"installer_id"`
	Installer        string       `json:"installer"`
	SubdistributorID int64        `json:"subdistributor_id"`
	DistributorID    int64        `json:"distributor_id"`
	PayerID          int64        `json:"payer_id,omitempty"`
	ProjectID        int64        `json:"project_id,omitempty"`
	Project          string       `json:"project"` // "-" for single tenants
	ProjectType      string       `json:"project_type"`
	Status           Status       `json:"status"`
	Counts           int          `json:"counts"`
	Total            int64        `json:"total"`
	Currency         string       `json:"currency"`
	Provider         string       `json:"provider,omitempty"`
	ProviderRef      string       `json:"provider_ref,omitempty"`
	Hidden           bool         `json:"hidden"`
	ChargeMode       string       `json:"-"`                  // the installer's
	DistributorPays  bool         `json:"distributor_pays"`   // Pay by Distributor applies to this order
	CanPay           bool         `json:"can_pay"`            // the asking account may pay it now
	PayNote          string       `json:"pay_note,omitempty"` // why it may not, while the order waits for a payment
	Created          time.Time    `json:"created_at"`
	ProcessingSince  time.Time    `json:"-"`
	Paid             *time.Time   `json:"paid_at"`
	Updated          time.Time    `json:"updated_at"`
	InvoiceNumber    string       `json:"invoice_number,omitempty"` // once completed: the seller's invoice number
	Items            []OrderItem  `json:"items,omitempty"`
	Events           []OrderEvent `json:"history,omitempty"`
}

// OrderItem is one user's service in an order.
type OrderItem struct {
	EndUserID  int64      `json:"user_id"`
	UserName   string     `json:"user_name"`
	Item       Item       `json:"item"`
	Service    string     `json:"service"` // app or premium
	Months     int        `json:"months"`
	Days       int        `json:"days,omitempty"` // a renewal by day
	Amount     int64      `json:"amount"`
	NewExpires *time.Time `json:"new_expires_at"`
	// NextExpires is the Next Expiration Date of a renewal by day (nil for
	// any other line): the expiry its payment gave, or, while the order
	// waits, the one paying now would give.
	NextExpires *time.Time `json:"next_expires_at,omitempty"`
}

// OrderEvent is one line of an order's history.
type OrderEvent struct {
	At      time.Time `json:"at"`
	Status  Status    `json:"status"`
	Message string    `json:"message"`
}

// OrderLine is what a caller asks for: a user and a period.
type OrderLine struct {
	UserID  int64  `json:"user_id"`
	Months  int    `json:"months"`
	Service string `json:"service,omitempty"` // "app" (default) or "premium" (villa)
	// Days renews by day instead of by month (renewals only; months then
	// 0): the guide's orders "renewed daily", whose details show the Next
	// Expiration Date.
	Days int `json:"days,omitempty"`
}

// OrderRequest creates an order.
type OrderRequest struct {
	Kind        string      `json:"type"` // activation | renewal | extra_member
	InstallerID int64       `json:"installer_id"`
	ProjectType string      `json:"project_type"` // community | villa | office
	ProjectID   int64       `json:"project_id,omitempty"`
	Items       []OrderLine `json:"items"`
}

// Validate checks the shape of the request (PriceOrder checks it against
// the users, in the transaction that writes the order).
func (r *OrderRequest) Validate() (OrderType, error) {
	var v model.Validator
	t, ok := OrderTypeOfRequest(r.Kind)
	v.Check(ok, "type", "must be activation, renewal or extra_member")
	v.Check(r.InstallerID > 0, "installer_id", "is required")
	v.Check(r.ProjectType == "community" || r.ProjectType == "villa" || r.ProjectType == "office", "project_type", "must be community, villa or office")
	v.Check(len(r.Items) > 0 && len(r.Items) <= 1000, "items", "must list 1 to 1000 users")
	seen := map[[2]any]bool{}
	premium := 0
	for n, l := range r.Items {
		f := fmt.Sprintf("items[%d]", n)
		if l.Service == "" {
			r.Items[n].Service = "app"
			l.Service = "app"
		}
		v.Check(l.UserID > 0, f+".user_id", "is required")
		v.Check(l.Service == "app" || (l.Service == "premium" && r.ProjectType == "villa"), f+".service", "must be app (or premium for villa users)")
		if l.Days != 0 {
			v.Check(t == TypeSubscription, f+".days", "only a renewal runs by day")
			v.Check(l.Months == 0, f+".days", "give months or days, not both")
			CheckDays(&v, f+".days", r.ProjectType, l.Days)
		} else {
			if r.Items[n].Months == 0 && t != TypeSubscription {
				r.Items[n].Months = 12
			}
			CheckMonths(&v, f+".months", r.ProjectType, r.Items[n].Months)
		}
		k := [2]any{l.UserID, l.Service}
		v.Check(!seen[k], f+".user_id", "is listed twice")
		seen[k] = true
		if l.Service == "premium" {
			premium++
		}
	}
	if t == TypeActivation && premium > 0 {
		// The premium plan is the feature plan: a Features order of its own.
		v.Check(premium == len(r.Items), "items", "mixes the premium plan (a Features order) with account activations: order them apart")
		v.Check(r.Kind != "extra_member", "type", "extra_member activates family members: the premium plan is a Features order (type activation, service premium)")
		t = TypeFeatures
	}
	return t, v.Err()
}

// CouponState is the guide's coupon state.
type CouponState string

const (
	CouponNormal  CouponState = "normal"  // valid, with a balance
	CouponUsed    CouponState = "used"    // no balance left
	CouponExpired CouponState = "expired" // past its expiry, balance kept
)

// Coupon is a prepaid value a distributor issued to a sub-distributor.
type Coupon struct {
	ID               int64       `json:"id"`
	Code             string      `json:"code"`
	SubdistributorID int64       `json:"subdistributor_id"`
	Subdistributor   string      `json:"subdistributor"`
	Value            int64       `json:"value"`
	Balance          int64       `json:"balance"`
	Currency         string      `json:"currency"`
	Expires          time.Time   `json:"expires_at"`
	Created          time.Time   `json:"created_at"`
	State            CouponState `json:"state"`
}

// StateAt is the coupon's state at now.
func (c *Coupon) StateAt(now time.Time) CouponState {
	switch {
	case c.Balance <= 0:
		return CouponUsed
	case !now.Before(c.Expires):
		return CouponExpired
	}
	return CouponNormal
}

// ValidateCoupon checks a coupon to issue.
func ValidateCoupon(c *Coupon, now time.Time) error {
	c.Code = strings.ToUpper(strings.TrimSpace(c.Code))
	var v model.Validator
	v.Check(len(c.Code) >= 4 && len(c.Code) <= 32 && strings.Trim(c.Code, "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-") == "", "code", "must be 4–32 letters, digits or -")
	v.Check(c.SubdistributorID > 0, "subdistributor_id", "is required")
	v.Check(c.Value > 0 && c.Value <= 100_000_000, "value", "must be 1 to 100000000 minor units")
	v.Check(c.Expires.After(now), "expires_at", "must be in the future")
	return v.Err()
}

// Info is a payer's billing information, printed on invoices.
type Info struct {
	Company string `json:"company"` // Company/Family
	ATTN    string `json:"attn"`
	Address string `json:"address"`
	TEL     string `json:"tel"`
	Fax     string `json:"fax"`
	Email   string `json:"email"`
}

// Validate trims and checks billing information.
func (b *Info) Validate() error {
	for _, p := range []*string{&b.Company, &b.ATTN, &b.Address, &b.TEL, &b.Fax, &b.Email} {
		*p = strings.TrimSpace(*p)
	}
	var v model.Validator
	v.Check(len(b.Company) <= 128, "company", "must be at most 128 characters")
	v.Check(len(b.ATTN) <= 128, "attn", "must be at most 128 characters")
	v.Check(len(b.Address) <= 256, "address", "must be at most 256 characters")
	v.Check(model.ValidPhone(b.TEL), "tel", "may hold only digits, spaces and + - ( ), at most 32")
	v.Check(model.ValidPhone(b.Fax), "fax", "may hold only digits, spaces and + - ( ), at most 32")
	if b.Email != "" {
		_, err := mail.ParseAddress(b.Email)
		v.Check(err == nil && !strings.ContainsAny(b.Email, "<> ") && len(b.Email) <= 254, "email", "is not a valid email address")
	}
	return v.Err()
}

// FormatMoney writes minor units as "12.34 USD".
func FormatMoney(minor int64, currency string) string {
	sign := ""
	if minor < 0 {
		sign, minor = "-", -minor
	}
	return fmt.Sprintf("%s%d.%02d %s", sign, minor/100, minor%100, currency)
}
