package web

import (
	"fmt"
	"net/http"
	"strings"
	"time"

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
	return newAvailabilityView(a), nil
}

func newAvailabilityView(a *model.Availability) *availabilityView {
	v := &availabilityView{A: a, Percent: fmt.Sprintf("%.2f %%", a.Percent), Width: availabilityStripWidth}
	total := a.To.Sub(a.From)
	if total <= 0 {
		return v
	}
	x := func(t time.Time) float64 { return float64(t.Sub(a.From)) / float64(total) * availabilityStripWidth }
	for _, s := range a.Spans {
		r := availabilityRect{X: fmt.Sprintf("%.2f", x(s.From)), W: fmt.Sprintf("%.2f", x(s.To)-x(s.From))}
		switch {
		case !s.Known:
			r.Class, r.Fill = "unknown", "#d9d9d9"
			r.Title = "no history (not added yet)"
		case s.Online:
			r.Class, r.Fill = "online", "#2e9d4f"
			r.Title = "online"
		default:
			r.Class, r.Fill = "offline", "#c93c37"
			r.Title = "offline"
		}
		r.Title += " " + s.From.UTC().Format("Jan 2 15:04") + " – " + s.To.UTC().Format("Jan 2 15:04") + " UTC (" + spanText(s.To.Sub(s.From)) + ")"
		v.Rects = append(v.Rects, r)
	}
	// A tick at each midnight (UTC) within the window.
	for d := a.From.UTC().Truncate(24 * time.Hour).Add(24 * time.Hour); d.Before(a.To); d = d.Add(24 * time.Hour) {
		v.Ticks = append(v.Ticks, availabilityTick{X: fmt.Sprintf("%.2f", x(d)), Label: d.Format("Mon Jan 2")})
	}
	known := time.Duration(a.KnownSeconds) * time.Second
	v.Partial = known < total-time.Minute
	v.Known = spanText(known)
	var b strings.Builder
	fmt.Fprintf(&b, "From %s to %s UTC: online %s, offline %s", a.From.UTC().Format("Jan 2 15:04"), a.To.UTC().Format("Jan 2 15:04"),
		spanText(time.Duration(a.OnlineSeconds)*time.Second), spanText(time.Duration(a.OfflineSeconds)*time.Second))
	if v.Partial {
		fmt.Fprintf(&b, ", no history for %s (before the device was added)", spanText(total-known))
	}
	fmt.Fprintf(&b, "; %d transitions.", a.Transitions)
	v.Desc = b.String()
	return v
}

// spanText writes a duration as days, hours and minutes: "2 d 3 h", "45 min".
func spanText(d time.Duration) string {
	d = d.Round(time.Minute)
	days, h, m := int(d/(24*time.Hour)), int(d%(24*time.Hour)/time.Hour), int(d%time.Hour/time.Minute)
	switch {
	case days > 0 && h > 0:
		return fmt.Sprintf("%d d %d h", days, h)
	case days > 0:
		return fmt.Sprintf("%d d", days)
	case h > 0 && m > 0:
		return fmt.Sprintf("%d h %d min", h, m)
	case h > 0:
		return fmt.Sprintf("%d h", h)
	}
	return fmt.Sprintf("%d min", m)
}
