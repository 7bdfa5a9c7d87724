package api

import (
	"net/http"

	"github.com/gatehouse-dev/gatehouse/internal/listquery"
	"github.com/gatehouse-dev/gatehouse/internal/model"
)

// ListFirmware searches the firmware catalogue by version and model.
func (a *API) ListFirmware(w http.ResponseWriter, r *http.Request) error {
	var v model.Validator
	f := listquery.Firmware(r.URL.Query(), &v)
	format := checkFormat(r, &v)
	if err := v.Err(); err != nil {
		return err
	}
	f.Page = exportPage(format, f.Page)
	l, err := a.Store.ListFirmware(r.Context(), f)
	if err != nil {
		return err
	}
	return writeList(w, format, "firmware", l,
		[]string{"version", "model", "change_log", "created_at", "file_url", "checksum"},
		func(fw *model.Firmware) []string {
			return []string{fw.Version, fw.Model, fw.ChangeLog, formatTime(fw.Created), fw.FileURL, fw.Checksum}
		})
}

// GetFirmware returns one firmware entry.
func (a *API) GetFirmware(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id", "firmware")
	if err != nil {
		return err
	}
	fw, err := a.Store.GetFirmware(r.Context(), id)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, fw)
}

type firmwareRequest struct {
	Version   string `json:"version"`
	Model     string `json:"model"`
	ChangeLog string `json:"change_log"`
	FileURL   string `json:"file_url"`
	Checksum  string `json:"checksum"`
}

// CreateFirmware adds a catalogue entry (admin only).
func (a *API) CreateFirmware(w http.ResponseWriter, r *http.Request) error {
	var req firmwareRequest
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	fw := &model.Firmware{Version: req.Version, Model: req.Model, ChangeLog: req.ChangeLog, FileURL: req.FileURL, Checksum: req.Checksum}
	if err := a.Cases.CreateFirmware(r.Context(), fw); err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, fw)
}
