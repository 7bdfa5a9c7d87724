package billing

import (
	"fmt"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/model"
)

// ItemFor chooses the price-list item of a user's service.
func ItemFor(kind model.ProjectKind, role model.EndUserRole, service string) (Item, bool) {
	switch kind {
	case model.ProjectCommunity:
		switch role {
		case model.FamilyMaster:
			return CommunityApp, true
		case model.FamilyMember:
			return FamilyMemberApp, true
		case model.PropertyManager:
			return PropertyManagerApp, true
		}
	case model.ProjectPersonal:
		switch role {
		case model.FamilyMaster:
			if service == "premium" {
				return VillaPremium, true
			}
			return VillaApp, true
		case model.FamilyMember:
			return VillaExtraMember, true
		}
	case model.ProjectOffice:
		if role == model.OfficeStaff {
			return OfficeUser, true
		}
	}
	return "", false
}

// ProjectKindOf is the kind of project an order's project type names
// (a villa is a personal project).
func ProjectKindOf(projectType string) model.ProjectKind {
	if projectType == "villa" {
		return model.ProjectPersonal
	}
	return model.ProjectKind(projectType)
}

// OrderUser is what pricing an order reads of one of its users, as it is
// in the transaction that writes the order.
type OrderUser struct {
	ID             int64
	Name           string
	Role           model.EndUserRole
	Active         bool
	AppExpires     *time.Time
	PremiumExpires *time.Time
	ProjectID      int64
	ProjectKind    model.ProjectKind
	ProjectName    string
}

// PriceOrder checks each line of req (whose shape Validate checked: typ is
// its order type) against its user — users holds the installer's users by
// id, so a missing one is not the installer's — and prices it from prices
// at now. It fills o's Items, Total, Counts and project. Invalid lines are
// reported together; an item without a price is a conflict.
func PriceOrder(o *Order, req *OrderRequest, typ OrderType, users map[int64]OrderUser, prices PriceList, now time.Time) error {
	kind := ProjectKindOf(req.ProjectType)
	var v model.Validator
	projects := map[int64]string{}
	for n, l := range req.Items {
		f := fmt.Sprintf("items[%d]", n)
		u, ok := users[l.UserID]
		if !ok {
			v.Add(f+".user_id", "no such user of this installer")
			continue
		}
		if u.ProjectKind != kind {
			v.Add(f+".user_id", "is not a %s user", req.ProjectType)
			continue
		}
		if req.ProjectID != 0 && u.ProjectID != req.ProjectID {
			v.Add(f+".user_id", "is not a user of the selected project")
			continue
		}
		item, ok := ItemFor(u.ProjectKind, u.Role, l.Service)
		if !ok {
			v.Add(f+".user_id", "has no paid service")
			continue
		}
		activation := false
		switch typ {
		case TypeActivation, TypeFeatures:
			if req.Kind == "extra_member" && u.Role != model.FamilyMember {
				v.Add(f+".user_id", "is not an extra family member")
				continue
			}
			if l.Service == "premium" {
				activation = u.PremiumExpires == nil
			} else if u.Active {
				v.Add(f+".user_id", "is already active; renew it instead")
				continue
			} else {
				activation = true
			}
		case TypeSubscription:
			if l.Service == "app" && u.AppExpires == nil && !u.Active {
				v.Add(f+".user_id", "was never activated; activate it first")
				continue
			}
		}
		p, ok := prices.Of(item)
		if !ok {
			return model.Errorf(model.ECONFLICT, "The price list has no price for %s.", item.Label())
		}
		amt := Amount(p, activation, l.Months)
		if l.Days > 0 {
			amt = AmountDays(p, l.Days)
		}
		oi := OrderItem{EndUserID: u.ID, UserName: u.Name, Item: item, Service: l.Service, Months: l.Months, Days: l.Days, Amount: amt}
		if l.Days > 0 {
			cur := u.AppExpires
			if l.Service == "premium" {
				cur = u.PremiumExpires
			}
			next := ExtendDays(cur, now, l.Days)
			oi.NextExpires = &next
		}
		o.Items = append(o.Items, oi)
		o.Total += amt
		if u.ProjectKind != model.ProjectPersonal {
			projects[u.ProjectID] = u.ProjectName
		}
	}
	if err := v.Err(); err != nil {
		return err
	}
	o.Counts = len(o.Items)
	if len(projects) == 1 {
		for id, name := range projects {
			o.ProjectID, o.Project = id, name
		}
	} else if len(projects) > 1 {
		o.Project = fmt.Sprintf("%d projects", len(projects))
	}
	return nil
}
