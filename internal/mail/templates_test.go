package mail

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/model"
)

// TestEveryLanguageHasEveryTemplate: each language an installer can choose
// has its own translation of every mail, and each carries the account (or
// installer) and the link.
func TestEveryLanguageHasEveryTemplate(t *testing.T) {
	if !slices.Equal(Languages(), model.Languages) {
		t.Fatalf("mail languages %q differ from the installer languages %q", Languages(), model.Languages)
	}
	sets := map[string]map[string]template{"welcome": welcomeMails, "reset": resetMails, "feedback": feedbackMails}
	for name, set := range sets {
		if len(set) != len(Languages()) {
			t.Errorf("%s has %d languages, want %d", name, len(set), len(Languages()))
		}
		for _, lang := range Languages() {
			tpl, ok := set[lang]
			if !ok || tpl.subject == "" || tpl.body == "" {
				t.Errorf("%s has no %s translation", name, lang)
				continue
			}
			if lang != DefaultLanguage && (tpl.subject == set[DefaultLanguage].subject || tpl.body == set[DefaultLanguage].body) {
				t.Errorf("%s in %s is the English text", name, lang)
			}
		}
	}
	d := LinkMail{Account: "fitter-42", Name: "Fitter GmbH", From: "Acme East", Link: "https://gh.example/set-password/tok123",
		Expires: time.Date(2031, 5, 6, 7, 8, 0, 0, time.UTC)}
	fb := FeedbackMail{Installer: "fitter-42", Name: "Fitter GmbH", Email: "team@fitter.example", Subject: "Door R29 offline",
		Message: "Line one\nline two", Sent: time.Date(2031, 5, 6, 7, 8, 0, 0, time.UTC), Link: "https://gh.example/settings#feedback"}
	for _, lang := range Languages() {
		for name, m := range map[string]Message{"welcome": InstallerWelcome(lang, d), "reset": PasswordReset(lang, d)} {
			if !strings.Contains(m.Subject, d.Account) || !strings.Contains(m.Text, d.Account) {
				t.Errorf("%s/%s does not name the account: %q / %q", name, lang, m.Subject, m.Text)
			}
			if !strings.Contains(m.Text, d.Link) || !strings.Contains(m.Text, "2031-05-06 07:08") || !strings.Contains(m.Text, d.Name) {
				t.Errorf("%s/%s lacks the link, the expiry or the name: %q", name, lang, m.Text)
			}
			if strings.Contains(m.Subject+m.Text, "{") {
				t.Errorf("%s/%s has an unreplaced placeholder: %q %q", name, lang, m.Subject, m.Text)
			}
		}
		if m := InstallerWelcome(lang, d); !strings.Contains(m.Text, d.From) {
			t.Errorf("welcome/%s does not say who created the account: %q", lang, m.Text)
		}
		m := Feedback(lang, fb)
		for _, s := range []string{fb.Installer, fb.Name, fb.Email, fb.Subject, fb.Message, fb.Link} {
			if !strings.Contains(m.Text, s) {
				t.Errorf("feedback/%s lacks %q: %q", lang, s, m.Text)
			}
		}
		if !strings.Contains(m.Subject, fb.Installer) || !strings.Contains(m.Subject, fb.Subject) || m.ReplyTo != fb.Email {
			t.Errorf("feedback/%s: subject %q, reply-to %q", lang, m.Subject, m.ReplyTo)
		}
	}
}

func TestLanguageFallback(t *testing.T) {
	for in, want := range map[string]string{"en": "en", "zh-CN": "zh-CN", "zh-cn": "zh-CN", "zh": "zh-CN", "zh_Hans": "zh-CN",
		"de-AT": "de", "FR": "fr", "ru-RU": "ru", "": "en", "xx": "en", "pt-BR": "en"} {
		if got := resolve(in); got != want {
			t.Errorf("resolve(%q) = %q, want %q", in, got, want)
		}
	}
	d := LinkMail{Account: "a1", Link: "https://x/1"}
	if got, want := InstallerWelcome("klingon", d), InstallerWelcome("en", d); got.Subject != want.Subject || got.Text != want.Text {
		t.Errorf("unknown language: %+v, want English %+v", got, want)
	}
	if m := InstallerWelcome("de", d); !strings.Contains(m.Subject, "Installateurkonto") {
		t.Errorf("German welcome: %q", m.Subject)
	}
}

// TestUserTextIsNotExpanded: placeholders typed by an installer stay text.
func TestUserTextIsNotExpanded(t *testing.T) {
	m := Feedback("en", FeedbackMail{Installer: "i1", Subject: "see {link}\r\nBcc: evil@example.com", Message: "{installer} {email}", Link: "https://real/link"})
	if strings.Count(m.Text, "https://real/link") != 1 || !strings.Contains(m.Text, "{installer} {email}") {
		t.Errorf("user text expanded: %q", m.Text)
	}
	if strings.ContainsAny(m.Subject, "\r\n") {
		t.Errorf("subject keeps a line break: %q", m.Subject)
	}
	if m.ReplyTo != "" || !strings.Contains(m.Text, "Contact email: -") {
		t.Errorf("no contact email: reply-to %q, text %q", m.ReplyTo, m.Text)
	}
}
