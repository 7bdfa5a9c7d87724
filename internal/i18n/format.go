package i18n

import (
	"time"
)

// layouts are each language's date and date-time formats (CLDR's short
// date and medium time); English keeps the ISO forms the portal always had.
var layouts = map[string]struct{ date, datetime string }{
	"en":    {"2006-01-02", "2006-01-02 15:04:05"},
	"zh-CN": {"2006/1/2", "2006/1/2 15:04:05"},
	"es":    {"2/1/2006", "2/1/2006, 15:04:05"},
	"de":    {"02.01.2006", "02.01.2006, 15:04:05"},
	"fr":    {"02/01/2006", "02/01/2006 15:04:05"},
	"ru":    {"02.01.2006", "02.01.2006, 15:04:05"},
}

func when(t any) (time.Time, bool) {
	switch v := t.(type) {
	case time.Time:
		return v, !v.IsZero()
	case *time.Time:
		if v != nil {
			return *v, !v.IsZero()
		}
	}
	return time.Time{}, false
}

// DateTime writes an instant (a time.Time or *time.Time) in the locale's
// zone and format; "-" for none.
func (l *Locale) DateTime(t any) string {
	at, ok := when(t)
	if !ok {
		return "-"
	}
	return at.In(l.Zone).Format(layouts[l.Tag].datetime)
}

// Date writes the day of an instant in the locale's zone and format; "-" for none.
func (l *Locale) Date(t any) string {
	at, ok := when(t)
	if !ok {
		return "-"
	}
	return at.In(l.Zone).Format(layouts[l.Tag].date)
}

// Ago writes how long before now an instant was; "" for none.
func (l *Locale) Ago(t any, now time.Time) string {
	at, ok := when(t)
	if !ok {
		return ""
	}
	d := now.Sub(at)
	switch {
	case d < time.Minute:
		return l.T("just now")
	case d < time.Hour:
		return l.T("%d min ago", int(d/time.Minute))
	case d < 48*time.Hour:
		return l.T("%d h ago", int(d/time.Hour))
	default:
		return l.T("%d days ago", int(d/(24*time.Hour))) // a plural in the catalogs
	}
}

// Money writes an amount in minor units (cents) with its ISO currency code,
// the number in the language's format: 1,234.50 USD, 1.234,50 USD, 1 234,50 USD.
func (l *Locale) Money(minor int64, currency string) string {
	return l.p.Sprintf("%.2f", float64(minor)/100) + " " + currency
}

// Number writes a count in the language's format (its grouping).
func (l *Locale) Number(n any) string { return l.p.Sprintf("%d", n) }

// Sprintf formats in the locale's way without a catalog lookup (its
// numbers grouped as the language groups them).
func (l *Locale) Sprintf(format string, args ...any) string {
	return l.p.Sprintf(format, args...)
}
