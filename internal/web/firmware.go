package web

import (
	"net/http"
	"strconv"

	"github.com/gatehouse-dev/gatehouse/internal/listquery"
	"github.com/gatehouse-dev/gatehouse/internal/model"
)

type firmwareListData struct {
	Filter model.FirmwareFilter
	List   model.List[*model.Firmware]
	Pager  Pager
	Export string
}

// FirmwareList is the Firmware module: search by version and model.
func (w *Web) FirmwareList(rw http.ResponseWriter, r *http.Request) error {
	var v model.Validator
	f := listquery.Firmware(r.URL.Query(), &v)
	p := w.page(r, "Firmware", "firmware", nil)
	if err := v.Err(); err != nil {
		p.Error, p.Fields = model.ErrorMessage(err), model.ErrorFields(err)
		p.Data = firmwareListData{Filter: f}
		return w.render(rw, http.StatusBadRequest, "firmware_list", p)
	}
	l, err := w.store.ListFirmware(r.Context(), f)
	if err != nil {
		return err
	}
	p.Data = firmwareListData{Filter: f, List: l, Pager: newPager(r, f.Page.Page, f.PerPage, l.Total), Export: exportURL(r, "/api/v1/firmware")}
	return w.render(rw, http.StatusOK, "firmware_list", p)
}

// FirmwareDetail shows one firmware entry.
func (w *Web) FirmwareDetail(rw http.ResponseWriter, r *http.Request) error {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		return model.NotFound("firmware")
	}
	fw, err := w.store.GetFirmware(r.Context(), id)
	if err != nil {
		return err
	}
	return w.render(rw, http.StatusOK, "firmware_detail", w.page(r, "Firmware "+fw.Version, "firmware", fw))
}

func itoa(n int) string { return strconv.Itoa(n) }
