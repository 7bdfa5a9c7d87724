package web

import (
	"net/http"

	"github.com/gatehouse-dev/gatehouse/internal/listquery"
	"github.com/gatehouse-dev/gatehouse/internal/model"
)

// The Setting module (sub-distributor): customer service contacts, the
// Receive Feedback switch and the feedback its installers sent. The
// installer's Support page shows those contacts and takes feedback.

type languageOption struct{ Code, Label string }

// feedbackLanguages are the languages a feedback email can be written in.
var feedbackLanguages = []languageOption{
	{"en", "English"}, {"zh-CN", "中文（简体）"}, {"es", "Español"}, {"de", "Deutsch"}, {"fr", "Français"}, {"ru", "Русский"},
}

type settingsData struct {
	Form      *model.CustomerService // what the form shows
	Saved     *model.CustomerService // what is stored
	Languages []languageOption
	Filter    model.FeedbackFilter
	List      model.List[*model.Feedback]
	Pager     Pager
	Export    string
}

// Settings is the sub-distributor's Setting module.
func (w *Web) Settings(rw http.ResponseWriter, r *http.Request) error {
	return w.settingsPage(rw, r, nil, nil)
}

// SaveCustomerService saves the contacts and the Receive Feedback switch;
// bad input shows the form again with the values kept.
func (w *Web) SaveCustomerService(rw http.ResponseWriter, r *http.Request) error {
	cs := &model.CustomerService{Email: r.PostFormValue("email"), Phone: r.PostFormValue("phone"), Other: r.PostFormValue("other"),
		ReceiveFeedback: r.PostFormValue("receive_feedback") == "on", FeedbackEmail: r.PostFormValue("feedback_email"),
		Language: r.PostFormValue("language")}
	err := w.cases.SaveCustomerService(r.Context(), cs)
	if model.ErrorCode(err) == model.EINVALID {
		return w.settingsPage(rw, r, cs, err)
	} else if err != nil {
		return err
	}
	notice := tr(r, "Customer service settings saved. Receive Feedback is off: installers see that feedback is not being received.")
	if cs.ReceiveFeedback {
		notice = tr(r, "Customer service settings saved. Feedback from your installers goes to %s.", cs.FeedbackEmail)
	}
	return redirect(rw, r, "/settings", notice)
}

func (w *Web) settingsPage(rw http.ResponseWriter, r *http.Request, form *model.CustomerService, formErr error) error {
	ctx := r.Context()
	saved, err := w.store.GetCustomerService(ctx, model.ActorFrom(ctx).AccountID)
	if err != nil {
		return err
	}
	if form == nil {
		form = saved
	}
	p := w.page(r, tr(r, "Setting"), "settings", nil)
	status := http.StatusOK
	var v model.Validator
	f := listquery.Feedback(r.URL.Query(), &v)
	d := settingsData{Form: form, Saved: saved, Languages: feedbackLanguages, Filter: f}
	if formErr != nil {
		status = http.StatusBadRequest
		p.Fail(formErr)
	} else if err := v.Err(); err != nil {
		status = http.StatusBadRequest
		p.Fail(err)
	}
	if status == http.StatusBadRequest && formErr == nil {
		d.Pager = newPager(r, 1, f.PerPage, 0)
		p.Data = d // a bad search: the form and an empty list
		return w.render(rw, status, "settings_index", p)
	}
	d.List, err = w.store.ListFeedback(ctx, f)
	if err != nil {
		return err
	}
	d.Pager = newPager(r, f.Page.Page, f.PerPage, d.List.Total)
	d.Export = exportURL(r, "/api/v1/feedback")
	p.Data = d
	return w.render(rw, status, "settings_index", p)
}

type feedbackForm struct{ Subject, Message, ContactEmail string }

type supportData struct {
	CS     *model.CustomerService
	HasSub bool
	Form   feedbackForm
}

// Support is the installer's page: its sub-distributor's customer service
// contacts and the feedback form (or the plain statement that feedback is
// not being received).
func (w *Web) Support(rw http.ResponseWriter, r *http.Request) error {
	return w.supportPage(rw, r, http.StatusOK, feedbackForm{ContactEmail: identity(r).Effective().Email}, nil)
}

// SendFeedback stores and mails the installer's feedback.
func (w *Web) SendFeedback(rw http.ResponseWriter, r *http.Request) error {
	form := feedbackForm{Subject: r.PostFormValue("subject"), Message: r.PostFormValue("message"), ContactEmail: r.PostFormValue("contact_email")}
	f := &model.Feedback{Subject: form.Subject, Message: form.Message, ContactEmail: form.ContactEmail}
	err := w.cases.SubmitFeedback(r.Context(), f)
	switch model.ErrorCode(err) {
	case "":
	case model.EINVALID:
		return w.supportPage(rw, r, http.StatusBadRequest, form, err)
	case model.ECONFLICT:
		return w.supportPage(rw, r, http.StatusConflict, form, err)
	default:
		return err
	}
	return redirect(rw, r, "/installer/support", tr(r, "Thank you: your feedback was sent to your sub-distributor."))
}

func (w *Web) supportPage(rw http.ResponseWriter, r *http.Request, status int, form feedbackForm, formErr error) error {
	cs, err := w.cases.CallerCustomerService(r.Context())
	if err != nil {
		return err
	}
	p := w.page(r, tr(r, "Support"), "installer-support", supportData{CS: cs, HasSub: cs.SubdistributorID != 0, Form: form})
	if formErr != nil {
		p.Fail(formErr)
	}
	return w.render(rw, status, "support_index", p)
}
