package web

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/i18n"
	"github.com/gatehouse-dev/gatehouse/internal/model"
)

// The account part's pages render in every language: no template error,
// no formatting gap ("%!d(…)"), and a language other than English shows
// none of the English sentences the page holds.
func TestAccountPagesInEveryLanguage(t *testing.T) {
	w, err := New(Deps{})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	asOf := now.Add(-time.Minute)
	acc := &model.Account{ID: 7, Username: "sub-1", Name: "Sub One", Email: "sub@example.com", Role: model.RoleSubdistributor}
	dash := model.Dashboard{AsOf: &asOf, Online: 1234, Offline: 5, Payments: true, FailedCmds: 10000, FailedCapped: true,
		Kinds:         []model.DashboardKindCount{{Kind: model.ProjectCommunity, Online: 3, Offline: 1}},
		Models:        []model.DashboardShare{{Name: "R29", Devices: 3, Community: 3}, {Others: true, Devices: 1}},
		ExpiringLists: []model.DashboardExpiring{{List: model.KindVilla, Users: 2}},
		Days:          []model.DashboardDay{{Day: now.UTC().Format("2006-01-02"), Online: 3, Offline: 1}},
		Months:        []model.DashboardMonth{{Month: now.UTC().Format("2006-01"), Orders: 2, Amounts: []model.DashboardAmount{{Currency: "USD", Amount: 123456}}}},
	}
	pages := []struct {
		name    string
		data    func(l *i18n.Locale) any
		english []string // sentences the English page holds
	}{
		{"login", func(*i18n.Locale) any { return loginData{} }, []string{"Sign in to manage your installers", "Forgot password?"}},
		{"login_second", func(*i18n.Locale) any { return secondFactorData{Passkey: true} }, []string{"Use a passkey", "This browser cannot use passkeys."}},
		{"account_two_factor", func(*i18n.Locale) any {
			return twoFactorData{Status: model.TwoFactorStatus{Enabled: true, TOTP: true, Passkeys: 2, RecoveryCodesLeft: 3},
				PasskeysOn: true, PasskeyRoom: true, MaxPasskeys: 10, CanRequire: true,
				Children: "Require two-factor sign-in of my installers",
				Passkeys: []model.Passkey{{ID: 1, Name: "Laptop", Created: now}}}
		}, []string{"3 recovery codes left", "authenticator app, 2 passkeys", "Require two-factor sign-in of my installers", "never"}},
		{"home", func(l *i18n.Locale) any {
			v := dashboardFor(l, acc, dash)
			v.Modules = modulesFor(acc)
			return v
		}, []string{"Welcome, Sub One", "more than 10,000", "Community online", "Devices online and offline, last 30 days"}},
		{"account_notifications", func(*i18n.Locale) any {
			return notificationsData{Form: model.NotificationSettings{Language: "de"}, Min: 1, Max: 1440, Kinds: notifyKindRows(model.NotificationSettings{})}
		}, []string{"no address", "Report a device offline after (minutes, 1–1440)", "Devices offline"}},
	}
	for _, l := range i18n.Languages {
		loc := i18n.For(l.Tag, "UTC")
		for _, pg := range pages {
			tpl, err := w.template(pg.name, loc)
			if err != nil {
				t.Fatal(err)
			}
			p := &Page{Title: "x", Account: acc, L: loc, Data: pg.data(loc), Fields: map[string]string{}}
			var b bytes.Buffer
			if err := tpl.ExecuteTemplate(&b, "layout", p); err != nil {
				t.Fatalf("%s in %s: %v", pg.name, l.Tag, err)
			}
			out := b.String()
			if strings.Contains(out, "%!") {
				i := strings.Index(out, "%!")
				t.Errorf("%s in %s: a formatting gap: %q", pg.name, l.Tag, out[max(0, i-80):min(len(out), i+40)])
			}
			if pg.name == "home" && l.Tag == "de" && !strings.Contains(out, "1.234,56 USD") {
				t.Errorf("home in de: the month's amount is not in the German format (1.234,56 USD)")
			}
			for _, s := range pg.english {
				if has := strings.Contains(out, s); has != (l.Tag == "en") {
					t.Errorf("%s in %s: %q shown: %v", pg.name, l.Tag, s, has)
				}
			}
		}
	}
}
