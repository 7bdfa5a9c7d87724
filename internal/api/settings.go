package api

import (
	"net/http"
	"strconv"

	"github.com/gatehouse-dev/gatehouse/internal/listquery"
	"github.com/gatehouse-dev/gatehouse/internal/model"
)

// The Setting module: a sub-distributor's customer service contacts and
// Receive Feedback switch; installers read the contacts and send feedback.

// GetCustomerService answers the caller's customer service settings.
func (a *API) GetCustomerService(w http.ResponseWriter, r *http.Request) error {
	cs, err := a.Cases.CallerCustomerService(r.Context())
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, cs)
}

type customerServiceRequest struct {
	Email           string `json:"email"`
	Phone           string `json:"phone"`
	Other           string `json:"other"`
	ReceiveFeedback bool   `json:"receive_feedback"`
	FeedbackEmail   string `json:"feedback_email"`
	Language        string `json:"language"`
}

// PutCustomerService replaces the calling sub-distributor's settings.
func (a *API) PutCustomerService(w http.ResponseWriter, r *http.Request) error {
	var req customerServiceRequest
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	cs := &model.CustomerService{Email: req.Email, Phone: req.Phone, Other: req.Other, ReceiveFeedback: req.ReceiveFeedback,
		FeedbackEmail: req.FeedbackEmail, Language: req.Language}
	if err := a.Cases.SaveCustomerService(r.Context(), cs); err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, cs)
}

// ListFeedback lists the feedback the caller's installers sent.
func (a *API) ListFeedback(w http.ResponseWriter, r *http.Request) error {
	var v model.Validator
	f := listquery.Feedback(r.URL.Query(), &v)
	format := checkFormat(r, &v)
	if err := v.Err(); err != nil {
		return err
	}
	f.Page = exportPage(format, f.Page)
	l, err := a.Store.ListFeedback(r.Context(), f)
	if err != nil {
		return err
	}
	return writeList(w, format, "feedback", l,
		[]string{"id", "created_at", "installer", "installer_name", "subject", "message", "contact_email", "mailed"},
		func(x *model.Feedback) []string {
			return []string{strconv.FormatInt(x.ID, 10), formatTime(x.Created), x.Installer, x.InstallerName, x.Subject, x.Message,
				x.ContactEmail, strconv.FormatBool(x.Mailed)}
		})
}

type feedbackRequest struct {
	Subject      string `json:"subject"`
	Message      string `json:"message"`
	ContactEmail string `json:"contact_email"`
}

// CreateFeedback stores the calling installer's feedback and mails it to
// its sub-distributor's feedback address.
func (a *API) CreateFeedback(w http.ResponseWriter, r *http.Request) error {
	var req feedbackRequest
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	f := &model.Feedback{Subject: req.Subject, Message: req.Message, ContactEmail: req.ContactEmail}
	if err := a.Cases.SubmitFeedback(r.Context(), f); err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, f)
}
