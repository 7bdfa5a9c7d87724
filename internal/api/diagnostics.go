package api

import (
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/model"
)

// Diagnostics of a device (README "Diagnostics"): a system log, ping,
// traceroute or packet capture run by the device, kept as a file.

type diagnosticInput struct {
	Kind    string `json:"kind"`
	Lines   int    `json:"lines"`
	Since   string `json:"since"`
	Host    string `json:"host"`
	Count   int    `json:"count"`
	MaxHops int    `json:"max_hops"`
	Seconds int    `json:"seconds"`
	Filter  string `json:"filter"`
}

// Request turns the input into a request; since must be RFC 3339.
func (in diagnosticInput) request() (model.DiagnosticRequest, error) {
	req := model.DiagnosticRequest{Kind: model.DiagnosticKind(in.Kind), DiagnosticParams: model.DiagnosticParams{
		Lines: in.Lines, Host: in.Host, Count: in.Count, MaxHops: in.MaxHops, Seconds: in.Seconds, Filter: in.Filter}}
	if s := strings.TrimSpace(in.Since); s != "" {
		t, err := time.Parse(time.RFC3339, s)
		if err != nil {
			return req, model.Invalid("since", "must be an RFC 3339 time such as 2026-12-05T10:00:00Z")
		}
		req.Since = &t
	}
	return req, nil
}

// CreateDiagnostic answers POST /devices/{mac}/diagnostics {"kind": …}
// with 202 and the diagnostic (queued).
func (a *API) CreateDiagnostic(w http.ResponseWriter, r *http.Request) error {
	var in diagnosticInput
	if err := decodeJSON(w, r, &in); err != nil {
		return err
	}
	req, err := in.request()
	if err != nil {
		return err
	}
	g, err := a.Cases.RequestDiagnostic(r.Context(), r.PathValue("mac"), req)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusAccepted, g)
}

// ListDiagnostics answers GET /devices/{mac}/diagnostics: the device's
// latest diagnostics (at most 50), newest first.
func (a *API) ListDiagnostics(w http.ResponseWriter, r *http.Request) error {
	gs, err := a.Store.ListDiagnostics(r.Context(), r.PathValue("mac"), 50)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, map[string]any{"items": gs, "total": len(gs)})
}

// GetDiagnostic answers GET /diagnostics/{id}.
func (a *API) GetDiagnostic(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id", "diagnostic")
	if err != nil {
		return err
	}
	g, err := a.Store.GetDiagnostic(r.Context(), id)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, g)
}

// DownloadDiagnostic answers GET /diagnostics/{id}/file: the result as an
// attachment, with the content type recorded.
func (a *API) DownloadDiagnostic(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id", "diagnostic")
	if err != nil {
		return err
	}
	return a.Cases.DownloadDiagnostic(r.Context(), id, func(g *model.Diagnostic, data []byte) { WriteDiagnosticFile(w, g, data) })
}

// WriteDiagnosticFile writes a diagnostic's file as a download.
func WriteDiagnosticFile(w http.ResponseWriter, g *model.Diagnostic, data []byte) {
	h := w.Header()
	ct := g.ContentType
	if ct == "" {
		ct = "application/octet-stream"
	}
	name := g.MAC + "-" + strconv.FormatInt(g.ID, 10) + "-" + g.FileName
	h.Set("Content-Type", ct)
	h.Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": name}))
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Length", strconv.Itoa(len(data)))
	h.Set("Cache-Control", "private, no-store")
	w.WriteHeader(http.StatusOK)
	w.Write(data)
}
