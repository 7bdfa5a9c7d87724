package api

import (
	"errors"
	"io"
	"net/http"
	"strings"

	"github.com/gatehouse-dev/gatehouse/internal/model"
	"github.com/gatehouse-dev/gatehouse/internal/tabular"
)

// The installer's MAC library: MACs for its single tenants, added one by
// one or imported from the CSV / XLSX template.

// ListMACs lists an installer's library.
func (a *API) ListMACs(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id", "installer")
	if err != nil {
		return err
	}
	var v model.Validator
	q := r.URL.Query()
	f := model.MACFilter{Search: q.Get("search"), Unused: q.Get("unused") == "true", Page: model.ParsePage(q, &v)}
	format := checkFormat(r, &v)
	if err := v.Err(); err != nil {
		return err
	}
	f.Page = exportPage(format, f.Page)
	l, err := a.Store.ListMACs(r.Context(), id, f)
	if err != nil {
		return err
	}
	return writeList(w, format, "macs", l, []string{"mac", "name", "in_use", "created_at"}, func(m *model.LibraryMAC) []string {
		return []string{m.MAC, m.Name, boolText(m.InUse), formatTime(m.Created)}
	})
}

type macEntry struct {
	MAC       string `json:"mac"`
	Name      string `json:"name"`
	ClaimCode string `json:"claim_code"` // the maker's, optional
}

type addMACsRequest struct {
	MACs []macEntry `json:"macs"`
}

// AddMACs adds MACs given as JSON; every refused entry is reported by its
// position (1-based) and reason, the rest are added.
func (a *API) AddMACs(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id", "installer")
	if err != nil {
		return err
	}
	var req addMACsRequest
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	if len(req.MACs) == 0 {
		return model.Invalid("macs", "must list at least one MAC")
	}
	rows := make([]model.MACRow, len(req.MACs))
	for i, m := range req.MACs {
		rows[i] = model.MACRow{Row: i + 1, MAC: m.MAC, Name: m.Name, Claim: m.ClaimCode}
	}
	res, err := a.Cases.AddMACs(r.Context(), id, rows)
	if err != nil {
		return err
	}
	return writeImport(w, res)
}

func writeImport(w http.ResponseWriter, res model.ImportResult) error {
	status := http.StatusOK
	if res.Imported == 0 && len(res.Rejected) > 0 {
		status = http.StatusUnprocessableEntity
	}
	return writeJSON(w, status, res)
}

// ImportMACs imports the template (CSV or XLSX) uploaded as multipart "file".
func (a *API) ImportMACs(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id", "installer")
	if err != nil {
		return err
	}
	if _, err := a.Store.GetInstaller(r.Context(), id); err != nil {
		return err // a foreign installer is not found before its file is read
	}
	data, err := uploadedFile(w, r)
	if err != nil {
		return err
	}
	res, err := a.Cases.ImportMACFile(r.Context(), id, data)
	if err != nil {
		return err
	}
	return writeImport(w, res)
}

// uploadedFile reads the multipart field "file" (or a raw body).
func uploadedFile(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	tooLarge := model.TooLarge("file", "is larger than %d MiB", tabular.MaxBytes>>20)
	r.Body = http.MaxBytesReader(w, r.Body, tabular.MaxBytes+1<<20) // room for the multipart envelope
	var maxErr *http.MaxBytesError
	if strings.HasPrefix(r.Header.Get("Content-Type"), "multipart/form-data") {
		f, _, err := r.FormFile("file")
		if errors.As(err, &maxErr) {
			return nil, tooLarge
		} else if err != nil {
			return nil, model.Invalid("file", "is required: upload the CSV or XLSX template as multipart field \"file\"")
		}
		defer f.Close()
		// The form may have been parsed before this handler (for its CSRF
		// token): bound the file itself too.
		b, err := io.ReadAll(io.LimitReader(f, tabular.MaxBytes+1))
		if err != nil || len(b) > tabular.MaxBytes {
			return nil, tooLarge
		}
		return b, nil
	}
	b, err := io.ReadAll(r.Body)
	if errors.As(err, &maxErr) || len(b) > tabular.MaxBytes {
		return nil, tooLarge
	} else if err != nil {
		return nil, model.Invalid("file", "could not be read")
	}
	if len(b) == 0 {
		return nil, model.Invalid("file", "is empty")
	}
	return b, nil
}

// DeleteMAC removes one MAC from an installer's library.
func (a *API) DeleteMAC(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id", "installer")
	if err != nil {
		return err
	}
	if err := a.Cases.DeleteMAC(r.Context(), id, r.PathValue("mac")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

var macTemplateHeader = []string{"MAC", "Name", "Claim code"}
var macTemplateExample = [][]string{{"0C:11:05:00:00:01", "Villa 12 front door", "7KQ2-M9XD-4TPA-R8WC"}, {"0C1105000002", "", ""}}

// MACTemplate downloads the import template as CSV (default) or XLSX.
func MACTemplate(w http.ResponseWriter, r *http.Request) error {
	switch r.URL.Query().Get("format") {
	case "", "csv":
		w.Header().Set("Content-Type", "text/csv; charset=utf-8")
		w.Header().Set("Content-Disposition", `attachment; filename="mac-template.csv"`)
		_, err := w.Write(tabular.CSV(macTemplateHeader, macTemplateExample))
		return err
	case "xlsx":
		b, err := tabular.XLSX("MACs", macTemplateHeader, macTemplateExample)
		if err != nil {
			return err
		}
		w.Header().Set("Content-Type", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
		w.Header().Set("Content-Disposition", `attachment; filename="mac-template.xlsx"`)
		_, err = w.Write(b)
		return err
	}
	return model.Invalid("format", "must be csv or xlsx")
}
