package web

import (
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/i18n"
	"github.com/gatehouse-dev/gatehouse/internal/model"
)

// TestErrorTextTranslatesLabelsOnly: a role's label inside an error is
// translated; a user's name that happens to look like a message is not
// (it once printed "%!d(MISSING)").
func TestErrorTextTranslatesLabelsOnly(t *testing.T) {
	de := i18n.For("de", "")
	err := model.Errorf(model.EFORBIDDEN, "This is not available to a %s account.", "Installer")
	if got := localized(de, err, err.Message); !strings.Contains(got, de.T("Installer")) || de.T("Installer") == "Installer" {
		t.Errorf("role label not translated: %q", got)
	}
	err = model.Errorf(model.ECONFLICT, "The account name %q is taken.", "%d devices")
	if got := localized(de, err, err.Message); strings.Contains(got, "%!") || !strings.Contains(got, `"%d devices"`) {
		t.Errorf("a name read as a message: %q", got)
	}
}

// TestMergedFieldsStayTranslatable: a field message copied from another
// error is translated like the original.
func TestMergedFieldsStayTranslatable(t *testing.T) {
	var inner model.Validator
	inner.Check(false, "email", "is not a valid email address")
	var v model.Validator
	v.Merge(inner.Err())
	p := &Page{L: i18n.For("fr", "")}
	p.Fail(v.Err())
	if want := p.L.T("is not a valid email address"); p.Fields["email"] != want || want == "is not a valid email address" {
		t.Errorf("merged field message %q, want the French %q", p.Fields["email"], want)
	}
}

// TestHereKeepsOnlyLocalLinks: the switcher comes back to the page with its
// own next (the sign-in page's), never with a link to another site.
func TestHereKeepsOnlyLocalLinks(t *testing.T) {
	for target, want := range map[string]string{
		"/login?next=%2Fpayments%3Fpage%3D2":            "/login?next=%2Fpayments%3Fpage%3D2",
		"/devices/x?back=https%3A%2F%2Fevil.example%2F": "/devices/x",
		"/project-devices?kind=office&notice=Saved":     "/project-devices?kind=office",
		"/a?next=%2F%2Fevil.example":                    "/a",
	} {
		if got := here(httptest.NewRequest("GET", target, nil)); got != want {
			t.Errorf("here(%s) = %q, want %q", target, got, want)
		}
	}
	if got := here(httptest.NewRequest("POST", "/account/email", nil)); got != "/" {
		t.Errorf("after a POST: %q, want /", got)
	}
}

// TestPortalSpeaksTheAccountsLanguages: the switcher offers exactly the
// languages an account may hold (model.Languages), in the same order.
func TestPortalSpeaksTheAccountsLanguages(t *testing.T) {
	var tags []string
	for _, l := range i18n.Languages {
		tags = append(tags, l.Tag)
	}
	if strings.Join(tags, ",") != strings.Join(model.Languages, ",") {
		t.Fatalf("i18n.Languages %q, model.Languages %q", tags, model.Languages)
	}
}
