package web

import (
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/i18n"
	"github.com/gatehouse-dev/gatehouse/internal/model"
)

// A device's Availability panel (templates/partial_device_availability.html):
// the share of the last 7 days it was online, a strip of its online and
// offline spans drawn as inline SVG on the server, and its latest
// transitions (README "Availability").

// availabilityStripWidth is the strip's width in SVG units (its viewBox;
// the page scales it to the panel).
const availabilityStripWidth = 700

type availabilityRect struct {
	X, W  string // SVG units, two decimals
	Class string // online, offline, unknown
	Fill  string
	Title string
}

type availabilityTick struct {
	X     string
	Label string
}

type availabilityView struct {
	A       *model.Availability
	Percent string
	// Partial: the device's history covers only part of the window (it
	// was added within it).
	Partial bool
	Known   string // how much of the window the history covers
	Rects   []availabilityRect
	Ticks   []availabilityTick
	Desc    string
	Width   int
}

// deviceAvailability reads device mac's availability over the last 7 days
// for its page.
func (w *Web) deviceAvailability(r *http.Request, mac string) (*availabilityView, error) {
	a, err := w.store.GetDeviceAvailability(r.Context(), mac, int(model.AvailabilityWindow/(24*time.Hour)))
	if err != nil {
		return nil, err
	}
	return newAvailabilityView(locale(r), a), nil
}

// availTime and availDay write the strip's instants, always in UTC (its
// ticks are at midnight UTC): English keeps "Jan 2 15:04" and "Mon Jan 2",
// other languages their date format.
func availTime(l *i18n.Locale, t time.Time) string {
	if l.Tag == "en" {
		return t.UTC().Format("Jan 2 15:04")
	}
	return i18n.For(l.Tag, "UTC").DateTime(t)
}

func availDay(l *i18n.Locale, t time.Time) string {
	if l.Tag == "en" {
		return t.UTC().Format("Mon Jan 2")
	}
	return i18n.For(l.Tag, "UTC").Date(t)
}

func newAvailabilityView(l *i18n.Locale, a *model.Availability) *availabilityView {
	v := &availabilityView{A: a, Percent: l.T("%.2f %%", a.Percent), Width: availabilityStripWidth}
	total := a.To.Sub(a.From)
	if total <= 0 {
		return v
	}
	x := func(t time.Time) float64 { return float64(t.Sub(a.From)) / float64(total) * availabilityStripWidth }
	for _, s := range a.Spans {
		r := availabilityRect{X: fmt.Sprintf("%.2f", x(s.From)), W: fmt.Sprintf("%.2f", x(s.To)-x(s.From))}
		from, to, span := availTime(l, s.From), availTime(l, s.To), spanText(l, s.To.Sub(s.From))
		switch {
		case !s.Known:
			r.Class, r.Fill = "unknown", "#d9d9d9"
			r.Title = l.T("no history (not added yet) %s – %s UTC (%s)", from, to, span)
		case s.Online:
			r.Class, r.Fill = "online", "#2e9d4f"
			r.Title = l.T("online %s – %s UTC (%s)", from, to, span)
		default:
			r.Class, r.Fill = "offline", "#c93c37"
			r.Title = l.T("offline %s – %s UTC (%s)", from, to, span)
		}
		v.Rects = append(v.Rects, r)
	}
	// A tick at each midnight (UTC) within the window.
	for d := a.From.UTC().Truncate(24 * time.Hour).Add(24 * time.Hour); d.Before(a.To); d = d.Add(24 * time.Hour) {
		v.Ticks = append(v.Ticks, availabilityTick{X: fmt.Sprintf("%.2f", x(d)), Label: availDay(l, d)})
	}
	known := time.Duration(a.KnownSeconds) * time.Second
	v.Partial = known < total-time.Minute
	v.Known = spanText(l, known)
	var b strings.Builder
	b.WriteString(l.T("From %s to %s UTC: online %s, offline %s", availTime(l, a.From), availTime(l, a.To),
		spanText(l, time.Duration(a.OnlineSeconds)*time.Second), spanText(l, time.Duration(a.OfflineSeconds)*time.Second)))
	if v.Partial {
		b.WriteString(l.T(", no history for %s (before the device was added)", spanText(l, total-known)))
	}
	b.WriteString(l.T("; %d transitions.", a.Transitions))
	v.Desc = b.String()
	return v
}

// spanText writes a duration as days, hours and minutes: "2 d 3 h", "45 min".
func spanText(l *i18n.Locale, d time.Duration) string {
	d = d.Round(time.Minute)
	days, h, m := int(d/(24*time.Hour)), int(d%(24*time.Hour)/time.Hour), int(d%time.Hour/time.Minute)
	switch {
	case days > 0 && h > 0:
		return l.T("%d d %d h", days, h)
	case days > 0:
		return l.T("%d d", days)
	case h > 0 && m > 0:
		return l.T("%d h %d min", h, m)
	case h > 0:
		return l.T("%d h", h)
	}
	return l.T("%d min", m)
}
