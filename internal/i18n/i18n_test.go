package i18n_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"golang.org/x/text/feature/plural"
	"golang.org/x/text/language"

	"github.com/gatehouse-dev/gatehouse/internal/i18n"
)

func TestMatchAcceptLanguage(t *testing.T) {
	for header, want := range map[string]string{
		"de-DE,de;q=0.9,en;q=0.8":   "de",
		"zh-CN,zh;q=0.9":            "zh-CN",
		"zh-Hans":                   "zh-CN",
		"fr-CA":                     "fr",
		"es-419,es;q=0.9":           "es",
		"ru":                        "ru",
		"pt-BR,pt;q=0.9":            "en", // not spoken here: English
		"ja;q=0.9, ru;q=0.8":        "ru",
		"":                          "en",
		"!!garbage;q=x":             "en",
		strings.Repeat("de,", 5000): "de", // bounded, still read
	} {
		if got := i18n.Match(header); got != want {
			t.Errorf("Match(%.40q) = %q, want %q", header, got, want)
		}
	}
}

func TestForFallsBack(t *testing.T) {
	if l := i18n.For("tlh", "Mars/Olympus"); l.Tag != "en" || l.Zone != time.UTC {
		t.Fatalf("For(unknown) = %s %s, want en UTC", l.Tag, l.Zone)
	}
	if l := i18n.For("de", "Europe/Berlin"); l.Tag != "de" || l.Zone.String() != "Europe/Berlin" {
		t.Fatalf("For(de, Berlin) = %s %s", l.Tag, l.Zone)
	}
}

// TestDatesInZoneAndLanguage: an instant in the account's time zone and
// the language's format.
func TestDatesInZoneAndLanguage(t *testing.T) {
	at := time.Date(2026, 12, 5, 23, 15, 0, 0, time.UTC) // already the 6th in Berlin
	for _, c := range []struct{ lang, zone, datetime, date string }{
		{"en", "UTC", "2026-12-05 23:15:00", "2026-12-05"},
		{"en", "Europe/Berlin", "2026-12-06 00:15:00", "2026-12-06"},
		{"de", "Europe/Berlin", "06.12.2026, 00:15:00", "06.12.2026"},
		{"zh-CN", "Asia/Shanghai", "2026/12/6 07:15:00", "2026/12/6"},
		{"fr", "America/New_York", "05/12/2026 18:15:00", "05/12/2026"},
		{"ru", "Europe/Moscow", "06.12.2026, 02:15:00", "06.12.2026"},
		{"es", "UTC", "5/12/2026, 23:15:00", "5/12/2026"},
	} {
		l := i18n.For(c.lang, c.zone)
		if got := l.DateTime(at); got != c.datetime {
			t.Errorf("%s %s: DateTime = %q, want %q", c.lang, c.zone, got, c.datetime)
		}
		if got := l.Date(&at); got != c.date {
			t.Errorf("%s %s: Date = %q, want %q", c.lang, c.zone, got, c.date)
		}
		if got := l.DateTime((*time.Time)(nil)); got != "-" {
			t.Errorf("DateTime(nil) = %q", got)
		}
	}
}

func TestMoneyInLanguage(t *testing.T) {
	for lang, want := range map[string]string{
		"en":    "1,234.56 USD",
		"de":    "1.234,56 USD",
		"es":    "1.234,56 USD",
		"fr":    "1\u00a0234,56 USD",
		"ru":    "1\u00a0234,56 USD",
		"zh-CN": "1,234.56 USD",
	} {
		if got := i18n.For(lang, "").Money(123456, "USD"); got != want {
			t.Errorf("%s: Money = %q, want %q", lang, got, want)
		}
	}
	if got := i18n.For("de", "").Money(-5, "EUR"); got != "-0,05 EUR" {
		t.Errorf("negative: %q", got)
	}
}

// TestPluralForms: a plural message takes the form the language's CLDR
// rule gives its count (Russian 1, 2, 5 and 21 take three forms).
func TestPluralForms(t *testing.T) {
	cats := readCatalogs(t)
	names := map[plural.Form]string{plural.Zero: "zero", plural.One: "one", plural.Two: "two", plural.Few: "few", plural.Many: "many", plural.Other: "other"}
	checked := 0
	for key, e := range cats["en"] {
		if !e.Plural() || len(verbs(key)) != 1 {
			continue
		}
		for _, lang := range i18n.Languages {
			got := cats[lang.Tag][key]
			for _, n := range []int{0, 1, 2, 5, 21, 1000} {
				form := got.Forms[fmt.Sprintf("=%d", n)]
				if form == "" {
					form = got.Forms[names[plural.Cardinal.MatchPlural(language.MustParse(lang.Tag), n, 0, 0, 0, 0)]]
				}
				if form == "" {
					form = got.Forms["other"]
				}
				want := i18n.For(lang.Tag, "").Sprintf(form, n)
				if s := i18n.For(lang.Tag, "").T(key, n); s != want {
					t.Errorf("%s %q with %d = %q, want %q", lang.Tag, key, n, s, want)
				}
				checked++
			}
		}
	}
	if checked == 0 {
		t.Fatal("no plural message checked")
	}
	if got := i18n.For("en", "").Ago(time.Now().Add(-49*time.Hour), time.Now()); got != "2 days ago" {
		t.Fatalf("Ago 49h = %q", got)
	}
}

func TestMissingKeysAreRecorded(t *testing.T) {
	key := "a message no catalog holds %d"
	if got := i18n.For("de", "").T(key, 3); got != "a message no catalog holds 3" {
		t.Fatalf("missing key printed %q, want the English format", got)
	}
	found := false
	for _, k := range i18n.Missing() {
		found = found || k == key
	}
	if !found {
		t.Fatalf("Missing() = %q lacks %q", i18n.Missing(), key)
	}
}

func TestShortDatesInLanguage(t *testing.T) {
	at := time.Date(2026, 12, 6, 22, 30, 0, 0, time.UTC) // a Sunday; Monday the 7th in Shanghai
	for _, c := range []struct{ lang, zone, dm, wdm, dmt, month string }{
		{"en", "UTC", "Dec 6", "Sun Dec 6", "Dec 6 22:30", "Dec"},
		{"de", "UTC", "6. Dez.", "So., 6. Dez.", "6. Dez., 22:30", "Dez."},
		{"fr", "UTC", "6 déc.", "dim. 6 déc.", "6 déc. 22:30", "déc."},
		{"es", "UTC", "6 dic", "dom 6 dic", "6 dic, 22:30", "dic"},
		{"ru", "UTC", "6 дек.", "вс, 6 дек.", "6 дек., 22:30", "дек."},
		{"zh-CN", "Asia/Shanghai", "12月7日", "12月7日周一", "12月7日 06:30", "12月"},
	} {
		l := i18n.For(c.lang, c.zone)
		for _, g := range []struct{ name, got, want string }{
			{"DayMonth", l.DayMonth(at), c.dm}, {"WeekdayDayMonth", l.WeekdayDayMonth(at), c.wdm},
			{"DayMonthTime", l.DayMonthTime(at), c.dmt}, {"Month", l.Month(at), c.month},
		} {
			if g.got != g.want {
				t.Errorf("%s %s: %s = %q, want %q", c.lang, c.zone, g.name, g.got, g.want)
			}
		}
	}
}
