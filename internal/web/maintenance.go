package web

import (
	"net/http"

	"github.com/gatehouse-dev/gatehouse/internal/model"
)

// deviceMaintenance loads the Remote maintenance panel of a device's page:
// status, reboot / reset / Remote Control and the device's commands.
func (w *Web) deviceMaintenance(r *http.Request, d *model.DeviceDetail) (any, error) {
	return nil, nil
}
