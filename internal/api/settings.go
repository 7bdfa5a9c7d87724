package api

import (
	"context"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/listquery"
	"github.com/gatehouse-dev/gatehouse/internal/mail"
	"github.com/gatehouse-dev/gatehouse/internal/model"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// The Setting module: a sub-distributor's customer service contacts and
// Receive Feedback switch; installers read the contacts and send feedback.

// CallerCustomerService returns the customer service settings the caller
// sees: a sub-distributor its own, an installer its sub-distributor's (with
// SubdistributorID 0 and nothing set when it is directly under a
// distributor). The portal uses it too.
func CallerCustomerService(ctx context.Context, st *store.Store) (*model.CustomerService, error) {
	act := model.ActorFrom(ctx)
	if act == nil {
		return nil, model.Errorf(model.EUNAUTHORIZED, "Sign in first.")
	}
	switch act.Role {
	case model.RoleSubdistributor:
		return st.GetCustomerService(ctx, act.AccountID)
	case model.RoleInstaller:
		if act.SubdistributorID == 0 {
			return &model.CustomerService{Language: mail.DefaultLanguage}, nil
		}
		return st.GetCustomerService(ctx, act.SubdistributorID)
	}
	return nil, model.Errorf(model.EFORBIDDEN, "Customer service settings belong to sub-distributors.")
}

// GetCustomerService answers the caller's customer service settings.
func (a *API) GetCustomerService(w http.ResponseWriter, r *http.Request) error {
	cs, err := CallerCustomerService(r.Context(), a.Store)
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
	if err := a.Store.PutCustomerService(r.Context(), model.ActorFrom(r.Context()).AccountID, cs); err != nil {
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
	if err := SubmitFeedback(r.Context(), a.Store, a.Mail, feedbackLog(a.Auth), a.PublicURL, f); err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, f)
}

// feedbackSendTimeout bounds the delivery of one feedback mail.
const feedbackSendTimeout = 45 * time.Second

// SubmitFeedback stores feedback from the installer of ctx, then mails it
// to the sub-distributor's feedback address with Reply-To the installer's
// contact email. The feedback is stored first: a failed delivery is logged
// and leaves the row marked not mailed, and the installer still succeeds.
func SubmitFeedback(ctx context.Context, st *store.Store, sender mail.Sender, log *slog.Logger, publicURL string, f *model.Feedback) error {
	cs, err := st.CreateFeedback(ctx, f)
	if err != nil {
		return err
	}
	m := mail.Feedback(cs.Language, mail.FeedbackMail{Installer: f.Installer, Name: f.InstallerName, Email: f.ContactEmail,
		Subject: f.Subject, Message: f.Message, Sent: f.Created, Link: publicURL + "/settings#feedback"})
	m.To = []string{cs.FeedbackEmail}
	// The delivery finishes even when the client goes away meanwhile.
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), feedbackSendTimeout)
	defer cancel()
	if sender == nil {
		log.Error("feedback not mailed: no mail sender", "feedback", f.ID)
		return nil
	}
	if err := sender.Send(sctx, m); err != nil {
		log.Error("feedback stored but not mailed", "feedback", f.ID, "installer", f.Installer, "to", cs.FeedbackEmail, "err", err)
		return nil
	}
	if err := st.MarkFeedbackMailed(sctx, f.ID); err != nil {
		log.Error("feedback mailed but not marked so", "feedback", f.ID, "err", err)
		return nil
	}
	f.Mailed = true
	return nil
}

// feedbackLog is the server's logger as the auth service carries it, or
// the default one.
func feedbackLog(au *auth.Service) *slog.Logger {
	if au != nil && au.Log != nil {
		return au.Log
	}
	return slog.Default()
}
