package server

import (
	"encoding/json"
	"errors"

	"net/http"
	"strconv"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/model"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// statusOf maps a domain error code to its HTTP status: the one place that
// knows both.
func statusOf(err error) int {
	var te *auth.ThrottledError
	if errors.As(err, &te) {
		return http.StatusTooManyRequests
	}
	switch model.ErrorCode(store.Unavailable(err)) {
	case model.ENOTFOUND:
		return http.StatusNotFound
	case model.EINVALID:
		return http.StatusBadRequest
	case model.ECONFLICT:
		return http.StatusConflict
	case model.EFORBIDDEN:
		return http.StatusForbidden
	case model.EUNAUTHORIZED:
		return http.StatusUnauthorized
	case model.ETOOMANY:
		return http.StatusTooManyRequests
	case model.ETOOLARGE:
		return http.StatusRequestEntityTooLarge
	case model.EUNAVAILABLE:
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}

// unavailableRetryAfter is the Retry-After (seconds) of a 503 for a
// database that cannot serve now.
const unavailableRetryAfter = 5

type errorBody struct {
	Error errorDetail `json:"error"`
}

type errorDetail struct {
	Code    string            `json:"code"`
	Message string            `json:"message"`
	Fields  map[string]string `json:"fields,omitempty"`
}

// errorResponse describes err for a user, logging it when it is ours.
func (s *Server) errorResponse(w http.ResponseWriter, r *http.Request, err error) (int, errorDetail) {
	// A database that cannot serve now (unreachable, its disk full) is 503
	// with a message saying so, never 500 (store.Unavailable classifies).
	// A request whose client is gone is not classified: its broken pipe or
	// cancelled context says nothing about the database.
	if u := store.Unavailable(err); u != err && r.Context().Err() == nil {
		s.log.WarnContext(r.Context(), "database unavailable", "method", r.Method, "path", r.URL.Path, "err", err)
		err = u
	}
	if model.ErrorCode(err) == model.EUNAVAILABLE { // classified here or by a use case
		w.Header().Set("Retry-After", strconv.Itoa(unavailableRetryAfter))
	}
	status := statusOf(err)
	d := errorDetail{Code: model.ErrorCode(err), Message: model.ErrorMessage(err), Fields: model.ErrorFields(err)}
	var te *auth.ThrottledError
	if errors.As(err, &te) {
		w.Header().Set("Retry-After", strconv.Itoa(te.RetryAfterSeconds()))
		d.Code, d.Message = model.ETOOMANY, "Too many failed logins. Try again later."
	}
	var ra interface{ RetryAfterSeconds() int } // a busy password check, a recovery request over its limit
	if errors.As(err, &ra) {
		w.Header().Set("Retry-After", strconv.Itoa(ra.RetryAfterSeconds()))
	}
	if status == http.StatusInternalServerError {
		s.log.ErrorContext(r.Context(), "request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	return status, d
}

// writeAPIError answers an API request with the JSON error shape.
func (s *Server) writeAPIError(w http.ResponseWriter, r *http.Request, err error) {
	status, d := s.errorResponse(w, r, err)
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(errorBody{Error: d})
}

// writePageError answers a portal request with an error page; an anonymous
// visitor is sent to the login page instead.
func (s *Server) writePageError(w http.ResponseWriter, r *http.Request, err error) {
	if model.ErrorCode(err) == model.EUNAUTHORIZED {
		http.Redirect(w, r, "/login?next="+urlQueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
		return
	}
	status, d := s.errorResponse(w, r, err)
	s.web.RenderError(w, r, status, err, d.Message)
}
