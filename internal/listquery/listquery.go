// Package listquery reads the guide's list searches (filters, sort and
// paging) from a URL query. Both transports, the JSON API and the portal, use
// it so that a list searches alike wherever it is shown; it knows nothing
// about HTTP beyond url.Values.
package listquery

import (
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/billing"
	"github.com/gatehouse-dev/gatehouse/internal/model"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// Orders reads the Payments module's search from a query; the
// portal uses it too.
func Orders(q url.Values, v *model.Validator) billing.OrderFilter {
	f := billing.OrderFilter{Page: model.ParsePage(q, v), Number: strings.TrimSpace(q.Get("number"))}
	parseDay := func(name string, next bool) *time.Time {
		s := strings.TrimSpace(q.Get(name))
		if s == "" {
			return nil
		}
		t, err := time.Parse("2006-01-02", s)
		if err != nil {
			t, err = time.Parse(time.RFC3339, s)
		} else if next {
			t = t.AddDate(0, 0, 1) // a day's end: created_to is inclusive of its day
		}
		v.Check(err == nil, name, "must be a date (YYYY-MM-DD) or an RFC 3339 time")
		if err != nil {
			return nil
		}
		return &t
	}
	f.CreatedFrom = parseDay("created_from", false)
	f.CreatedTo = parseDay("created_to", true)
	if t := q.Get("type"); t != "" && t != "all" {
		f.Type = billing.OrderType(t)
		if t == "renewal" {
			f.Type = billing.TypeSubscription
		}
		v.Check(f.Type == billing.TypeActivation || f.Type == billing.TypeSubscription || f.Type == billing.TypeFeatures, "type", "must be all, activation, subscription or features")
	}
	if s := q.Get("status"); s != "" && s != "all" {
		f.Status = billing.Status(s)
		v.Check(f.Status.Valid(), "status", "must be all, processing, system_processing, completed, failed, timeout or cancel")
	}
	if s := q.Get("installer"); s != "" {
		id, err := strconv.ParseInt(s, 10, 64)
		v.Check(err == nil && id > 0, "installer", "must be an installer id")
		f.InstallerID = id
	}
	v.Check(len(f.Number) <= 32, "number", "must be at most 32 characters")
	return f
}

// Cameras reads a camera search from a query (scope,
// project_id, name, project, manager, owner, sort, order, page, per_page);
// the portal uses it too.
func Cameras(q url.Values, v *model.Validator) store.CameraListFilter {
	f := store.CameraListFilter{Scope: q.Get("scope"), ProjectID: queryID(q, "project_id", v), Name: q.Get("name"),
		Project: q.Get("project"), Manager: q.Get("manager"), Owner: q.Get("owner"), Sort: q.Get("sort"), Order: q.Get("order"),
		Page: model.ParsePage(q, v)}
	store.CheckCameraListFilter(&f, v)
	return f
}

// Devices reads a device list's search from a query: scope,
// mac, sip, name, community, office, manager, firmware, model, online, sort, order, page
// and per_page. The portal uses it too, with the scope of its page.
func Devices(q url.Values, scope model.ProjectKind, v *model.Validator) model.DeviceFilter {
	f := model.DeviceFilter{Scope: scope, MAC: q.Get("mac"), SIP: q.Get("sip"), Name: q.Get("name"),
		Community: q.Get("community"), Office: q.Get("office"), Manager: q.Get("manager"), Firmware: q.Get("firmware"),
		Model: q.Get("model"), Sort: q.Get("sort"), Order: q.Get("order"), Page: model.ParsePage(q, v)}
	switch o := q.Get("online"); o {
	case "":
	case "true", "false":
		b := o == "true"
		f.Online = &b
	default:
		v.Add("online", "must be true or false")
	}
	f.Check(v)
	return f
}

// EndUsers reads an end-user search from a query (kind,
// account_type, search_type, q, expiring, page, per_page); the portal uses
// it too, with the kind taken from its path.
func EndUsers(q url.Values, kind model.EndUserKind, v *model.Validator) model.EndUserFilter {
	f := model.EndUserFilter{Kind: kind, AccountType: q.Get("account_type"), SearchType: q.Get("search_type"), Q: q.Get("q"),
		ExpiringDays: ExpiringDays(q, v), Page: model.ParsePage(q, v)}
	store.CheckEndUserFilter(&f, v)
	return f
}

// ExpiringDays reads the end-user lists' expiring filter (a number of
// days, 1 to model.MaxExpiringDays; "" or absent: no filter).
func ExpiringDays(q url.Values, v *model.Validator) int {
	s := strings.TrimSpace(q.Get("expiring"))
	if s == "" {
		return 0
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > model.MaxExpiringDays {
		v.Add("expiring", "must be a number of days from 1 to %d", model.MaxExpiringDays)
		return 0
	}
	return n
}

// Firmware reads the Firmware module's search from a query; the
// portal uses it too, so both search alike.
func Firmware(q url.Values, v *model.Validator) model.FirmwareFilter {
	f := model.FirmwareFilter{Version: q.Get("version"), Model: q.Get("model"), Page: model.ParsePage(q, v)}
	v.Check(len(f.Version) <= 64, "version", "must be at most 64 characters")
	v.Check(len(f.Model) <= 64, "model", "must be at most 64 characters")
	return f
}

// InstallerDevices reads the installer's device search; the portal uses it
// too.
func InstallerDevices(q url.Values, v *model.Validator) store.DeviceFilter {
	f := store.DeviceFilter{ProjectID: queryID(q, "project_id", v), Search: strings.TrimSpace(q.Get("search")),
		Firmware: strings.TrimSpace(q.Get("firmware")), Model: strings.TrimSpace(q.Get("model")), Page: model.ParsePage(q, v)}
	switch o := q.Get("online"); o {
	case "":
	case "true", "false":
		b := o == "true"
		f.Online = &b
	default:
		v.Add("online", "must be true or false")
	}
	v.Check(len(f.Model) <= model.MaxDeviceQuery, "model", "must be at most %d characters", model.MaxDeviceQuery)
	v.Check(len(f.Search) <= 64, "search", "must be at most 64 characters")
	v.Check(len(f.Firmware) <= model.MaxDeviceQuery, "firmware", "must be at most %d characters", model.MaxDeviceQuery)
	return f
}

// Projects reads the project search from a query; the portal
// uses it too.
func Projects(q url.Values, v *model.Validator) store.ProjectFilter {
	f := store.ProjectFilter{Kind: model.ProjectKind(q.Get("kind")), Search: strings.TrimSpace(q.Get("search")),
		InstallerID: queryID(q, "installer_id", v), Page: model.ParsePage(q, v)}
	v.Check(f.Kind == "" || f.Kind.Valid(), "kind", "must be community, office or personal")
	v.Check(len(f.Search) <= 128, "search", "must be at most 128 characters")
	return f
}

// Feedback reads the feedback list's search from a query; the
// portal uses it too.
func Feedback(q url.Values, v *model.Validator) model.FeedbackFilter {
	f := model.FeedbackFilter{Installer: q.Get("installer"), Subject: q.Get("subject"), Page: model.ParsePage(q, v)}
	v.Check(len(f.Installer) <= 128, "installer", "must be at most 128 characters")
	v.Check(len(f.Subject) <= 200, "subject", "must be at most 200 characters")
	return f
}

// queryID reads an optional positive id from the query, naming the field.
func queryID(q url.Values, name string, v *model.Validator) int64 {
	s := q.Get(name)
	if s == "" {
		return 0
	}
	id, err := strconv.ParseInt(s, 10, 64)
	v.Check(err == nil && id > 0, name, "must be a positive whole number")
	return id
}
