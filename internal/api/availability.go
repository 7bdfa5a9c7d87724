package api

import (
	"net/http"
	"strconv"

	"github.com/gatehouse-dev/gatehouse/internal/model"
)

// GetDeviceAvailability answers GET /devices/{mac}/availability?days=N: a
// device's availability over its last N days (7 by default; at most 30 and
// the retention), with its spans and latest transitions (README
// "Availability").
func (a *API) GetDeviceAvailability(w http.ResponseWriter, r *http.Request) error {
	days := 7
	if s := r.URL.Query().Get("days"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || len(s) > 3 {
			return model.Invalid("days", "must be a whole number of days, 1 to %d", a.Cases.AvailabilityDays())
		}
		days = n
	}
	av, err := a.Cases.DeviceAvailability(r.Context(), r.PathValue("mac"), days)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, av)
}
