package server_test

import (
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestBrowserDeviceAvailability: a device's page draws its week as a
// strip the width of the panel, its spans in proportion to their time,
// named for assistive technology; the list sorts by the figure.
func TestBrowserDeviceAvailability(t *testing.T) {
	execPath := requireChromium(t)
	e := newEnv(t, "sqlite")
	day, hour := 24*time.Hour, time.Hour
	mac := e.devMAC(t, demoSubCond)
	// A week with a long outage, a short one and a night away.
	e.setHistory(t, mac, histPoint{30 * day, true}, histPoint{6*day + 3*hour, false}, histPoint{5*day + 9*hour, true},
		histPoint{3*day + 2*hour, false}, histPoint{3*day + hour, true}, histPoint{day + 20*hour, false}, histPoint{day + 8*hour, true})
	e.recomputeAvailability(t)

	c := newChrome(t, execPath, e.url, 1280, 900, 90*time.Second)
	c.login("demo-subdistributor")
	if st := c.open("/devices/" + mac); st != 200 {
		t.Fatalf("device page: %d", st)
	}
	// 18 + 1 + 12 hours offline of 168: 81.54 %.
	if got := c.text("#availability-percent"); got == "" || got[:7] != "81.54 %" {
		t.Errorf("percent: %q", got)
	}
	panel := chromeEval[float64](c, `document.querySelector('#availability').getBoundingClientRect().width`)
	strip := chromeEval[float64](c, `document.querySelector('#availability-strip').getBoundingClientRect().width`)
	if strip < panel*0.8 || strip > panel {
		t.Errorf("the strip is %.0f px wide in a panel of %.0f", strip, panel)
	}
	// The offline spans' drawn widths, as a share of the strip: 31 of 168 hours.
	off := chromeEval[float64](c, `[...document.querySelectorAll('#availability-strip rect.offline')].reduce((s, r) => s + r.getBoundingClientRect().width, 0) / document.querySelector('#availability-strip').getBoundingClientRect().width`)
	if off < 0.18 || off > 0.19 {
		t.Errorf("offline drawn over %.3f of the strip, want 31/168 = 0.185", off)
	}
	if n := chromeEval[int](c, `document.querySelectorAll('#availability-strip rect.offline').length`); n != 3 {
		t.Errorf("%d offline spans, want 3", n)
	}
	label := chromeEval[string](c, `(() => { const s = document.querySelector('#availability-strip');
		return s.getAttribute('aria-labelledby').split(' ').map(id => document.getElementById(id).textContent).join(' | ') })()`)
	if want := "Availability over the last 7 days: 81.54 % online | From "; len(label) < len(want) || label[:len(want)] != want {
		t.Errorf("the strip's accessible name and description: %q", label)
	}
	if n := chromeEval[int](c, `document.querySelectorAll('#availability-recent li').length`); n != 6 {
		t.Errorf("%d transitions listed, want the week's 6", n)
	}
	c.do("scroll to the panel", chromedp.ScrollIntoView("#availability"))
	saveShot(t, c, "device-availability.png")

	// The list, least available first: the device is not last.
	if st := c.open("/project-devices?kind=community&sort=availability&order=asc"); st != 200 {
		t.Fatalf("list: %d", st)
	}
	if got := c.text(`#device-list th[data-col="availability"] a.active`); !strings.EqualFold(got, "Availability (7 d)") {
		t.Errorf("the active sort header: %q", got)
	}
}
