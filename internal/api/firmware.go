package api

import (
	"net/http"
	"strconv"

	"github.com/gatehouse-dev/gatehouse/internal/listquery"
	"github.com/gatehouse-dev/gatehouse/internal/model"
	"github.com/gatehouse-dev/gatehouse/internal/store"
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
		[]string{"version", "model", "change_log", "created_at", "file_url", "checksum", "size", "stored"},
		func(fw *model.Firmware) []string {
			return []string{fw.Version, fw.Model, fw.ChangeLog, formatTime(fw.Created), fw.FileURL, fw.Checksum,
				strconv.FormatInt(fw.Size, 10), strconv.FormatBool(fw.Stored)}
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
	Size      int64  `json:"size"`
}

// CreateFirmware registers a catalogue entry whose image is at an external
// URL (admin only); UploadFirmware adds one with its image.
func (a *API) CreateFirmware(w http.ResponseWriter, r *http.Request) error {
	var req firmwareRequest
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	fw := &model.Firmware{Version: req.Version, Model: req.Model, ChangeLog: req.ChangeLog, FileURL: req.FileURL, Checksum: req.Checksum, Size: req.Size}
	if err := a.Cases.CreateFirmware(r.Context(), fw); err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, fw)
}

// UploadFirmware adds a catalogue entry with its image (admin only): the
// request's body is the image (application/octet-stream), streamed, never
// held whole; version, model, change_log and the expected sha256
// (optional) are query parameters. 201 with the entry.
func (a *API) UploadFirmware(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	for k := range q {
		switch k {
		case "version", "model", "change_log", "sha256":
		default:
			return model.Invalid(k, "is not a parameter of an upload (version, model, change_log, sha256)")
		}
	}
	// A length given up front that is over the limit is refused before a
	// byte is read; the use case bounds the image as it reads it in any case.
	if max := a.Cases.FirmwareMaxBytes(); r.ContentLength > max {
		return store.FirmwareTooLarge(max)
	}
	fw := &model.Firmware{Version: q.Get("version"), Model: q.Get("model"), ChangeLog: q.Get("change_log"), Checksum: q.Get("sha256")}
	if err := a.Cases.UploadFirmware(r.Context(), fw, r.Body); err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, fw)
}
