package mail

import (
	"strings"
	"testing"
	"time"
)

// TestWebhookDisabledMailInEveryLanguage: the mail of an endpoint turned
// off is written in each language, in its own words, and names the
// account, the endpoint, when it began failing and where to turn it on.
func TestWebhookDisabledMailInEveryLanguage(t *testing.T) {
	if len(webhookDisabledMails) != len(Languages()) {
		t.Fatalf("%d languages, want %d", len(webhookDisabledMails), len(Languages()))
	}
	d := WebhookDisabledMail{Account: "fitter-42", Name: "Fitter GmbH", URL: "https://hooks.fitter.example/gh",
		Since: time.Date(2031, 5, 6, 7, 8, 0, 0, time.UTC), Link: "https://gh.example/webhooks"}
	for _, lang := range Languages() {
		tpl, ok := webhookDisabledMails[lang]
		if !ok {
			t.Errorf("no %s translation", lang)
			continue
		}
		if lang != DefaultLanguage && (tpl.subject == webhookDisabledMails[DefaultLanguage].subject || tpl.body == webhookDisabledMails[DefaultLanguage].body) {
			t.Errorf("%s is the English text", lang)
		}
		m := WebhookDisabled(lang, d)
		for _, s := range []string{d.URL, d.Name, d.Link, "2031-05-06 07:08"} {
			if !strings.Contains(m.Text, s) {
				t.Errorf("%s lacks %q: %q", lang, s, m.Text)
			}
		}
		if !strings.Contains(m.Subject, d.Account) || strings.Contains(m.Subject+m.Text, "{") {
			t.Errorf("%s: subject %q / text %q", lang, m.Subject, m.Text)
		}
	}
}
