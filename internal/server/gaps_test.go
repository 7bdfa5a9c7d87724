package server_test

import (
	"fmt"
	"strings"
	"testing"
)

// Issue 12 point 7: the installer form says who pays in the guide's words,
// and the villa Subscriptions filter offers "Family member".
func TestGuideGapsPages(t *testing.T) {
	eachBackend(t, func(t *testing.T, e *env) {
		b := e.browserLogin("demo-subdistributor")
		form := string(e.do(b.c, "GET", "/users/installers/new", nil).body)
		for _, want := range []string{"Select the payer for the SmartPlus service (both account activation and renewal)",
			`<option value="installer" selected>Installer</option>`, `<option value="enduser" >Sub-distributor</option>`, `id="charge-mode-help"`} {
			if !strings.Contains(form, want) {
				t.Errorf("installer form lacks %q", want)
			}
		}
		if strings.Contains(form, "End user pays") {
			t.Error(`installer form still says "End user pays"`)
		}
		id := installerID(t, e, "demo-installer")
		page := string(e.do(b.c, "GET", fmt.Sprintf("/subscriptions?installer=%d&project_type=villa&mode=active", id), nil).body)
		if !strings.Contains(page, `<option value="family_member" >Family member</option>`) {
			t.Errorf("villa service type without Family member:\n%s", page)
		}
	})
}
