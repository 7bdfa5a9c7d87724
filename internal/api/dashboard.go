package api

import (
	"net/http"

	"github.com/gatehouse-dev/gatehouse/internal/model"
)

// GetDashboard answers the figures of the home page's dashboard for the
// caller's subtree.
func (a *API) GetDashboard(w http.ResponseWriter, r *http.Request) error {
	d, err := a.Cases.Dashboard(r.Context())
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, d)
}

// ListFailedCommands lists the commands (kind=command: reboot, reset) or
// AutoP (kind=autop) that failed or expired in the last day on devices of
// the caller's subtree, newest first.
func (a *API) ListFailedCommands(w http.ResponseWriter, r *http.Request) error {
	var v model.Validator
	f := model.FailedCommandFilter{Kind: r.URL.Query().Get("kind"), Page: model.ParsePage(r.URL.Query(), &v)}
	if err := v.Err(); err != nil {
		return err
	}
	l, err := a.Cases.FailedCommands(r.Context(), f)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, l)
}
