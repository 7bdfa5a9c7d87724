package web

import (
	"net/http"

	"github.com/gatehouse-dev/gatehouse/internal/model"
)

// deviceAutoP loads the AutoP panel of a device's page: its regular and
// one-time commands and a preview of the file it will receive.
func (w *Web) deviceAutoP(r *http.Request, d *model.DeviceDetail) (any, error) {
	return nil, nil
}
