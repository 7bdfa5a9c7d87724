// Package api is the JSON API under /api/v1: one file per resource, thin
// handlers that parse input, call one use case (internal/usecase) — or, for
// a read, the tenancy-scoped store — and write JSON. Handlers return errors;
// the server's one adapter turns them into status codes. It never imports
// internal/web (ARCHITECTURE.md).
package api

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/model"
	"github.com/gatehouse-dev/gatehouse/internal/store"
	"github.com/gatehouse-dev/gatehouse/internal/tabular"
	"github.com/gatehouse-dev/gatehouse/internal/usecase"
)

// API holds what the handlers need.
type API struct {
	Cases *usecase.Cases // the use cases; handlers parse, call one, and write its result
	Store *store.Store
	Auth  *auth.Service
	// SetSessionCookie and ClearSessionCookie are the server's cookie policy.
	SetSessionCookie   func(w http.ResponseWriter, r *http.Request, token string, expires time.Time)
	ClearSessionCookie func(w http.ResponseWriter, r *http.Request)
}

// Handler is an API handler that reports failure as an error.
type Handler func(w http.ResponseWriter, r *http.Request) error

// writeJSON writes v with a status.
func writeJSON(w http.ResponseWriter, status int, v any) error {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// maxBody bounds every JSON request body.
const maxBody = 1 << 20

// jsonSpace is JSON's white space.
const jsonSpace = " \t\r\n"

// decodeJSON reads one JSON object into v, naming the field of any error.
func decodeJSON(w http.ResponseWriter, r *http.Request, v any) error {
	// The Content-Type is not checked: curl's -d sends a form type by
	// default, and the body decides whether it is JSON.
	raw, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	var maxErr0 *http.MaxBytesError
	if errors.As(err, &maxErr0) {
		// The route may bound its body tighter than maxBody.
		return model.Invalid("body", "is larger than %d bytes", maxErr0.Limit)
	} else if err != nil {
		return model.Invalid("body", "could not be read")
	}
	// Text with NUL characters cannot be stored (PostgreSQL refuses it).
	if bytes.Contains(raw, []byte{0}) || bytes.Contains(bytes.ToLower(raw), []byte(`\u0000`)) {
		return model.Invalid("body", "contains a NUL character")
	}
	// An object, not null, an array or a string: those decode without an
	// error (null) or with one that names no field.
	if t := bytes.TrimLeft(raw, jsonSpace); len(t) > 0 && t[0] != '{' {
		return model.Invalid("body", "must hold one JSON object")
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	err = dec.Decode(v)
	var typeErr *json.UnmarshalTypeError
	var maxErr *http.MaxBytesError
	switch {
	case err == nil:
		// Nothing but white space after it (dec.More does not see a
		// stray "]" or "}").
		if len(bytes.TrimLeft(raw[dec.InputOffset():], jsonSpace)) > 0 {
			return model.Invalid("body", "must hold one JSON object")
		}
		return nil
	case errors.As(err, &typeErr) && typeErr.Field != "":
		return model.Invalid(typeErr.Field, "must be of type %s", typeErr.Type.String())
	case errors.As(err, &maxErr):
		return model.Invalid("body", "is larger than %d bytes", maxErr.Limit)
	case errors.Is(err, io.EOF):
		return model.Invalid("body", "is empty; a JSON object is required")
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		// The name is the client's: a long one is cut, not echoed whole.
		f := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		if len(f) > 64 {
			f = strings.ToValidUTF8(f[:64], "") + "…"
		} else if f == "" {
			return model.Invalid("body", "holds a field without a name")
		}
		return model.Invalid(f, "is not a known field")
	default:
		return model.Invalid("body", "is not valid JSON: %s", strings.TrimPrefix(err.Error(), "json: "))
	}
}

// pathID parses an integer id from the path; a malformed id is simply not found.
func pathID(r *http.Request, name, what string) (int64, error) {
	id, err := strconv.ParseInt(r.PathValue(name), 10, 64)
	if err != nil || id <= 0 {
		return 0, model.NotFound(what)
	}
	return id, nil
}

// checkFormat validates the format parameter shared by every list.
func checkFormat(r *http.Request, v *model.Validator) string {
	f := r.URL.Query().Get("format")
	v.Check(f == "" || f == "json" || f == "csv", "format", "must be json or csv")
	return f
}

// maxExportRows bounds a CSV export; a bigger export must be narrowed by filters.
const maxExportRows = 100_000

// writeList answers a list as JSON, or as CSV when format=csv: a header row
// of columns and one row per item from row(item).
func writeList[T any](w http.ResponseWriter, format, filename string, l model.List[T], columns []string, row func(T) []string) error {
	if format != "csv" {
		return writeJSON(w, http.StatusOK, l)
	}
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="%s.csv"`, filename))
	cw := csv.NewWriter(w)
	cw.Write(columns)
	for _, it := range l.Items {
		cw.Write(tabular.SafeCells(row(it)))
	}
	cw.Flush()
	return cw.Error()
}

// cappedList is a JSON page of a list whose count stops at a cap: Total is
// at most the cap, and TotalCapped says that more match.
type cappedList[I any] struct {
	Items       []I  `json:"items"`
	Total       int  `json:"total"`
	TotalCapped bool `json:"total_capped,omitempty"`
	Page        int  `json:"page"`
	PerPage     int  `json:"per_page"`
}

// writeCapped answers a page of a capped list as JSON, each row as item(row).
func writeCapped[T, I any](w http.ResponseWriter, l model.List[T], limit int, item func(T) I) error {
	out := cappedList[I]{Items: make([]I, 0, len(l.Items)), Total: l.Total, Page: l.Page, PerPage: l.PerPage}
	if l.Total > limit {
		out.Total, out.TotalCapped = limit, true
	}
	for _, row := range l.Items {
		out.Items = append(out.Items, item(row))
	}
	return writeJSON(w, http.StatusOK, out)
}

// exportPage widens the page to the export bound when CSV is asked for, so
// an export holds the whole filtered list, not one page of it.
func exportPage(format string, p model.Page) model.Page {
	if format == "csv" {
		return model.Page{Page: 1, PerPage: maxExportRows}
	}
	return p
}

func formatTime(t time.Time) string { return t.UTC().Format(time.RFC3339) }

// identity returns the signed-in identity; the route wrapper guarantees one.
func identity(r *http.Request) *auth.Identity { return auth.IdentityFrom(r.Context()) }
