package web

import (
	"bytes"
	"io"
	"mime/multipart"
	"net/http"
	"strconv"
	"unicode/utf8"

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
	p := w.page(r, tr(r, "Firmware"), "firmware", nil)
	if err := v.Err(); err != nil {
		p.Fail(err)
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
	return w.render(rw, http.StatusOK, "firmware_detail", w.page(r, tr(r, "Firmware %s", fw.Version), "firmware", fw))
}

func itoa(n int) string { return strconv.Itoa(n) }

// firmwareUploadData is the upload form, filled again after a refusal.
type firmwareUploadData struct {
	Form     model.Firmware
	MaxBytes int64
}

// MaxMiB is the size limit in MiB, rounded down (the page says it).
func (d firmwareUploadData) MaxMiB() int64 { return d.MaxBytes >> 20 }

// FirmwareUploadPage is the admin's form to upload a firmware image.
func (w *Web) FirmwareUploadPage(rw http.ResponseWriter, r *http.Request) error {
	return w.render(rw, http.StatusOK, "firmware_upload", w.page(r, tr(r, "Upload firmware"), "firmware", firmwareUploadData{MaxBytes: w.cases.FirmwareMaxBytes()}))
}

// maxUploadField bounds one of the upload form's text fields (the change
// log is at most 10,000 characters).
const maxUploadField = 64 << 10

// UploadFirmware takes the upload form, a multipart body read part by part
// (mr; the server took its first part, the CSRF token): the text fields
// first, then the file, streamed to the use case — never held whole.
func (w *Web) UploadFirmware(rw http.ResponseWriter, r *http.Request, mr *multipart.Reader) error {
	var fw model.Firmware
	err := func() error {
		for {
			part, err := mr.NextPart()
			if err == io.EOF {
				return model.Invalid("file", "is required: choose the image file")
			} else if err != nil {
				return model.Invalid("body", "is not a readable form upload")
			}
			name := part.FormName()
			if name == "file" {
				if part.FileName() == "" {
					return model.Invalid("file", "is required: choose the image file")
				}
				return w.cases.UploadFirmware(r.Context(), &fw, part)
			}
			b, err := io.ReadAll(io.LimitReader(part, maxUploadField+1))
			if err != nil {
				return model.Invalid("body", "is not a readable form upload")
			}
			if len(b) > maxUploadField || !utf8.Valid(b) || bytes.IndexByte(b, 0) >= 0 {
				return model.Invalid(name, "must be text of at most %d bytes", maxUploadField)
			}
			switch v := string(b); name {
			case "version":
				fw.Version = v
			case "model":
				fw.Model = v
			case "change_log":
				fw.ChangeLog = v
			case "sha256":
				fw.Checksum = v
			}
		}
	}()
	if err == nil {
		return redirect(rw, r, "/firmware/"+strconv.FormatInt(fw.ID, 10), tr(r, "Firmware %s for %s uploaded.", fw.Version, fw.Model))
	}
	code := model.ErrorCode(err)
	if code != model.EINVALID && code != model.ECONFLICT && code != model.ETOOLARGE {
		return err
	}
	status := http.StatusBadRequest
	switch code {
	case model.ECONFLICT:
		status = http.StatusConflict
	case model.ETOOLARGE:
		status = http.StatusRequestEntityTooLarge
	}
	p := w.page(r, tr(r, "Upload firmware"), "firmware", firmwareUploadData{Form: fw, MaxBytes: w.cases.FirmwareMaxBytes()})
	p.Fail(err)
	return w.render(rw, status, "firmware_upload", p)
}
