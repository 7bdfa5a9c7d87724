package mail

import (
	"strings"
	"testing"
	"time"
)

// Every digest is written in every language, with every line's words, and
// carries its items, the "more" line and both links.
func TestNotificationDigestsInEveryLanguage(t *testing.T) {
	for kind, set := range notifyMails {
		if len(set) != len(Languages()) {
			t.Errorf("%s has %d languages, want %d", kind, len(set), len(Languages()))
		}
	}
	for _, lang := range Languages() {
		if notifyFooters[lang] == "" || (lang != DefaultLanguage && notifyFooters[lang] == notifyFooters[DefaultLanguage]) {
			t.Errorf("footer in %s missing or English", lang)
		}
		for key := range notifyLabels[DefaultLanguage] {
			if notifyLabels[lang][key] == "" {
				t.Errorf("label %q has no %s translation", key, lang)
			}
		}
		for kind, set := range notifyMails {
			tpl, ok := set[lang]
			if !ok || tpl.subject == "" || tpl.body == "" {
				t.Errorf("%s has no %s translation", kind, lang)
				continue
			}
			if lang != DefaultLanguage && (tpl.subject == set[DefaultLanguage].subject || tpl.body == set[DefaultLanguage].body) {
				t.Errorf("%s in %s is the English text", kind, lang)
			}
			at := time.Date(2031, 5, 20, 15, 4, 0, 0, time.UTC)
			d := NotifyDigest{Name: "Fitter GmbH", Kind: kind, Project: "Harbor View", More: 7, Link: "https://gh.example/list",
				Settings: "https://gh.example/account/notifications",
				Items: []NotifyItem{{Event: "7d", Name: "Ada Lovelace", Project: "Harbor View", Service: "app", At: at},
					{Event: "offline", Name: "Gate", MAC: "0C1105AABBCC", At: at}, {Event: "failed", Name: "GH-42", Project: "Harbor View", Detail: "12.50 USD", At: at},
					{Event: "paused", Name: "Spring R29", Detail: "3 failures", At: at}}}
			m := NotificationDigest(lang, d)
			for _, s := range []string{"Fitter GmbH", "Ada Lovelace", "2031-05-20", "0C1105AABBCC", "GH-42", "12.50 USD", "Spring R29", "3 failures",
				"7", d.Link, d.Settings, notifyLabels[lang]["7d"], notifyLabels[lang]["offline"]} {
				if !strings.Contains(m.Text, s) {
					t.Errorf("%s/%s lacks %q: %s", kind, lang, s, m.Text)
				}
			}
			if !strings.Contains(m.Subject, "11") || strings.Contains(m.Subject+m.Text, "{") {
				t.Errorf("%s/%s: count or placeholder: %q %q", kind, lang, m.Subject, m.Text)
			}
		}
	}
}
