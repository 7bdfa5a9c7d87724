package i18n

import (
	"fmt"
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

// Abbreviated month names (CLDR, the form used with a day) and weekday
// names of each language.
var months = map[string][12]string{
	"en":    {"Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"},
	"de":    {"Jan.", "Feb.", "März", "Apr.", "Mai", "Juni", "Juli", "Aug.", "Sept.", "Okt.", "Nov.", "Dez."},
	"fr":    {"janv.", "févr.", "mars", "avr.", "mai", "juin", "juil.", "août", "sept.", "oct.", "nov.", "déc."},
	"es":    {"ene", "feb", "mar", "abr", "may", "jun", "jul", "ago", "sept", "oct", "nov", "dic"},
	"ru":    {"янв.", "февр.", "мар.", "апр.", "мая", "июн.", "июл.", "авг.", "сент.", "окт.", "нояб.", "дек."},
	"zh-CN": {"1月", "2月", "3月", "4月", "5月", "6月", "7月", "8月", "9月", "10月", "11月", "12月"},
}

var weekdays = map[string][7]string{ // Sunday first, as time.Weekday
	"en":    {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"},
	"de":    {"So.", "Mo.", "Di.", "Mi.", "Do.", "Fr.", "Sa."},
	"fr":    {"dim.", "lun.", "mar.", "mer.", "jeu.", "ven.", "sam."},
	"es":    {"dom", "lun", "mar", "mié", "jue", "vie", "sáb"},
	"ru":    {"вс", "пн", "вт", "ср", "чт", "пт", "сб"},
	"zh-CN": {"周日", "周一", "周二", "周三", "周四", "周五", "周六"},
}

// DayMonth writes the day and month of an instant in the locale's zone:
// Jan 2, 2. Jan., 2 janv., 2 ene, 2 янв., 1月2日.
func (l *Locale) DayMonth(t time.Time) string {
	t = t.In(l.Zone)
	m := months[l.Tag][t.Month()-1]
	switch l.Tag {
	case "en":
		return fmt.Sprintf("%s %d", m, t.Day())
	case "de":
		return fmt.Sprintf("%d. %s", t.Day(), m)
	case "zh-CN":
		return fmt.Sprintf("%d月%d日", t.Month(), t.Day())
	}
	return fmt.Sprintf("%d %s", t.Day(), m)
}

// WeekdayDayMonth is DayMonth with the weekday: Mon Jan 2, Mo., 2. Jan., 1月2日周一.
func (l *Locale) WeekdayDayMonth(t time.Time) string {
	t = t.In(l.Zone)
	w := weekdays[l.Tag][t.Weekday()]
	switch l.Tag {
	case "en", "fr", "es":
		return w + " " + l.DayMonth(t)
	case "zh-CN":
		return l.DayMonth(t) + w
	}
	return w + ", " + l.DayMonth(t)
}

// Month writes the abbreviated month of an instant in the locale's zone.
func (l *Locale) Month(t time.Time) string { return months[l.Tag][t.In(l.Zone).Month()-1] }

// DayMonthTime writes day, month and minute: Jan 2 15:04, 2. Jan., 15:04.
func (l *Locale) DayMonthTime(t time.Time) string {
	sep := " "
	if l.Tag == "de" || l.Tag == "ru" || l.Tag == "es" {
		sep = ", "
	}
	return l.DayMonth(t) + sep + t.In(l.Zone).Format("15:04")
}

// Clock writes the hour and minute of an instant in the locale's zone (every
// language here writes 24-hour time the same way).
func (l *Locale) Clock(t time.Time) string { return t.In(l.Zone).Format("15:04") }

// ClockSeconds is Clock with seconds.
func (l *Locale) ClockSeconds(t time.Time) string { return t.In(l.Zone).Format("15:04:05") }
