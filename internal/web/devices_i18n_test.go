package web

import (
	"html/template"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/i18n"
	"github.com/gatehouse-dev/gatehouse/internal/model"
)

// The device pages' words and figures follow the reader's language; English
// stays as the portal always wrote it.
func TestDeviceTextsInLanguages(t *testing.T) {
	en, de, ru := i18n.For("en", "UTC"), i18n.For("de", "Europe/Berlin"), i18n.For("ru", "UTC")
	for _, c := range []struct{ got, want string }{
		{rangeText(en, 9951, 10000, 10000, true, "No devices"), "9951–10000 of more than 10,000"},
		{rangeText(en, 1, 50, 327, false, "No devices"), "1–50 of 327"},
		{rangeText(de, 1, 50, 12345, false, "No devices"), "1–50 von 12.345"},
		{rangeText(de, 0, 0, 0, false, "No devices"), "Keine Geräte"},
		{spanText(en, 50*time.Hour+10*time.Minute), "2 d 2 h"},
		{spanText(de, 90*time.Minute), "1 Std. 30 Min."},
		{deviceTypeLabel(en, model.DoorPhone), "Door Phone"},
		{deviceTypeLabel(de, model.DoorPhone), "Türstation"},
		{deviceTypeLabel(de, "unknown"), ""},
		{deviceTextOf(model.ProjectCommunity).in(ru).Manager, "Управляющий жилым комплексом"},
		{labelIn(de, commandStatusLabels, "queued"), "eingereiht"},
		{labelIn(de, commandStatusLabels, "unheard-of"), "unheard-of"},
		{describeDiagnostic(en, model.DiagnosticRequest{Kind: model.DiagnosticPing, DiagnosticParams: model.DiagnosticParams{Host: "sip.example.com", Count: 4}}), "sip.example.com, 4 packets"},
		{describeDiagnostic(ru, model.DiagnosticRequest{Kind: model.DiagnosticLog, DiagnosticParams: model.DiagnosticParams{Lines: 200}}), "последние строки: 200"},
		// Times written after a datetime carry the reader's zone.
		{zoneTime(de, time.Date(2026, 12, 5, 10, 0, 0, 0, time.UTC), "15:04"), "11:00 Europe/Berlin"},
		{zoneTime(en, time.Date(2026, 12, 5, 10, 0, 0, 0, time.UTC), "2006-01-02 15:04"), "2026-12-05 10:00 UTC"},
	} {
		if c.got != c.want {
			t.Errorf("got %q, want %q", c.got, c.want)
		}
	}
	// A command's label is a key the template function translates.
	if l := commandLabel(&model.DeviceCommand{Kind: model.CommandReset, Mode: model.ResetFactory}); !i18n.Has(l) || de.T(l) == l {
		t.Errorf("commandLabel %q is not translated in German", l)
	}
}

// markPart puts the figure of a translated message in bold, escaping the rest.
func TestMarkPart(t *testing.T) {
	for _, c := range []struct {
		msg, part string
		want      template.HTML
	}{
		{"Delete these 2 devices? Their MACs…", "2", "Delete these <strong>2</strong> devices? Their MACs…"},
		{"<b>64.28 %</b> online", "64.28 %", "&lt;b&gt;<strong>64.28 %</strong>&lt;/b&gt; online"},
		{"no figure here", "7", "no figure here"},
		{"empty part", "", "empty part"},
	} {
		if got := markPart(c.msg, c.part, "<strong>", "</strong>"); got != c.want {
			t.Errorf("markPart(%q, %q) = %q, want %q", c.msg, c.part, got, c.want)
		}
	}
}

// static/maintenance.js writes the times it refreshes in datetime's layout,
// which datetimeLayout gives it: the layout of every language is one the
// script's tokens (2006 01 1 02 2 15 04 05) cover.
func TestDatetimeLayoutIsAGoLayout(t *testing.T) {
	at := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	for _, lang := range i18n.Languages {
		l := i18n.For(lang.Tag, "UTC")
		layout := localeFuncs["datetimeLayout"](l).(func() string)()
		if got, want := at.Format(layout), l.DateTime(at); got != want {
			t.Errorf("%s: layout %q writes %q, datetime %q", lang.Tag, layout, got, want)
		}
		if rest := strings.NewReplacer("2006", "", "01", "", "02", "", "15", "", "04", "", "05", "", "1", "", "2", "").Replace(layout); strings.ContainsAny(rest, "0123456789") {
			t.Errorf("%s: layout %q has digits the script does not read: %q", lang.Tag, layout, rest)
		}
	}
}
