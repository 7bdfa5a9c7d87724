package web

import (
	"net/http"
	"net/url"
	"strconv"

	"github.com/gatehouse-dev/gatehouse/internal/i18n"
	"github.com/gatehouse-dev/gatehouse/internal/model"
	"github.com/gatehouse-dev/gatehouse/internal/usecase"
)

// Webhooks in the portal (issue 16): the account's endpoints (list, add,
// edit, turn off, delete, rotate the secret, send a test event) and each
// endpoint's delivery log with its "Redeliver" button. Linked from the top
// bar of every role; the store hands each account only its own endpoints.

type webhookForm struct {
	URL         string
	Description string
	Events      map[string]bool
	Enabled     bool
}

type webhooksData struct {
	Endpoints []*model.WebhookEndpoint
	Types     []string
	Form      webhookForm
	Secret    string // shown once, after create or rotate
	Max       int
}

type webhookData struct {
	Endpoint   *model.WebhookEndpoint
	Types      []string
	Form       webhookForm
	Secret     string
	Deliveries model.List[*model.WebhookDelivery]
}

func webhookFormOf(e *model.WebhookEndpoint) webhookForm {
	f := webhookForm{URL: e.URL, Description: e.Description, Enabled: e.Enabled, Events: map[string]bool{}}
	for _, t := range e.Events {
		f.Events[t] = true
	}
	return f
}

func readWebhookForm(r *http.Request) (webhookForm, []string) {
	r.ParseForm()
	f := webhookForm{URL: r.PostFormValue("url"), Description: r.PostFormValue("description"), Events: map[string]bool{},
		Enabled: r.PostFormValue("enabled") == "on"}
	events := r.PostForm["events"]
	if len(events) > 64 {
		events = events[:64]
	}
	for _, t := range events {
		f.Events[t] = true
	}
	return f, events
}

func (w *Web) webhooksPage(rw http.ResponseWriter, r *http.Request, status int, p *Page, d webhooksData) error {
	l, err := w.store.ListWebhookEndpoints(r.Context())
	if err != nil {
		return err
	}
	d.Endpoints, d.Types, d.Max = l, model.WebhookEventTypes, model.MaxWebhookEndpoints
	if d.Form.Events == nil {
		d.Form.Events = map[string]bool{}
	}
	if p == nil {
		p = w.page(r, tr(r, "Webhooks"), "", nil)
	}
	p.Data = d
	return w.render(rw, status, "webhooks", p)
}

// Webhooks lists the account's endpoints with a form to add one.
func (w *Web) Webhooks(rw http.ResponseWriter, r *http.Request) error {
	return w.webhooksPage(rw, r, http.StatusOK, nil, webhooksData{Form: webhookForm{Enabled: true}})
}

// CreateWebhook adds an endpoint and shows its secret once.
func (w *Web) CreateWebhook(rw http.ResponseWriter, r *http.Request) error {
	f, events := readWebhookForm(r)
	f.Enabled = true
	e, err := w.cases.CreateWebhookEndpoint(r.Context(), model.WebhookEndpointInput{URL: f.URL, Description: f.Description, Events: events})
	if c := model.ErrorCode(err); c == model.EINVALID || c == model.ECONFLICT {
		p := w.page(r, tr(r, "Webhooks"), "", nil)
		p.Fail(err)
		return w.webhooksPage(rw, r, http.StatusBadRequest, p, webhooksData{Form: f})
	} else if err != nil {
		return err
	}
	p := w.page(r, tr(r, "Webhook endpoint"), "", nil)
	p.Notice = tr(r, "Endpoint added. Copy its signing secret now: it is shown only this once.")
	return w.webhookPage(rw, r, http.StatusOK, p, e, e.Secret)
}

func webhookID(r *http.Request) (int64, error) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		return 0, model.NotFound("webhook endpoint")
	}
	return id, nil
}

func (w *Web) webhookPage(rw http.ResponseWriter, r *http.Request, status int, p *Page, e *model.WebhookEndpoint, secret string) error {
	var v model.Validator
	pg := model.ParsePage(r.URL.Query(), &v)
	if err := v.Err(); err != nil {
		return err
	}
	dl, err := w.store.ListWebhookDeliveries(r.Context(), e.ID, pg)
	if err != nil {
		return err
	}
	if p == nil {
		p = w.page(r, tr(r, "Webhook endpoint"), "", nil)
	}
	d := webhookData{Endpoint: e, Types: model.WebhookEventTypes, Secret: secret, Deliveries: dl}
	if p.Error == "" {
		d.Form = webhookFormOf(e)
	} else {
		d.Form, _ = readWebhookForm(r)
	}
	p.Data = d
	return w.render(rw, status, "webhook", p)
}

// WebhookPage shows an endpoint: its settings, actions and delivery log.
func (w *Web) WebhookPage(rw http.ResponseWriter, r *http.Request) error {
	id, err := webhookID(r)
	if err != nil {
		return err
	}
	e, err := w.store.GetWebhookEndpoint(r.Context(), id)
	if err != nil {
		return err
	}
	return w.webhookPage(rw, r, http.StatusOK, nil, e, "")
}

// SaveWebhook saves an endpoint's URL, description, events and switch.
func (w *Web) SaveWebhook(rw http.ResponseWriter, r *http.Request) error {
	id, err := webhookID(r)
	if err != nil {
		return err
	}
	f, events := readWebhookForm(r)
	e, err := w.cases.UpdateWebhookEndpoint(r.Context(), id, usecase.WebhookEndpointPatch{URL: &f.URL, Description: &f.Description,
		Events: &events, Enabled: &f.Enabled})
	if model.ErrorCode(err) == model.EINVALID {
		cur, gerr := w.store.GetWebhookEndpoint(r.Context(), id)
		if gerr != nil {
			return gerr
		}
		p := w.page(r, tr(r, "Webhook endpoint"), "", nil)
		p.Fail(err)
		return w.webhookPage(rw, r, http.StatusBadRequest, p, cur, "")
	} else if err != nil {
		return err
	}
	http.Redirect(rw, r, "/webhooks/"+strconv.FormatInt(e.ID, 10)+"?notice="+url.QueryEscape(tr(r, "Endpoint saved.")), http.StatusSeeOther)
	return nil
}

// DeleteWebhook deletes an endpoint.
func (w *Web) DeleteWebhook(rw http.ResponseWriter, r *http.Request) error {
	id, err := webhookID(r)
	if err != nil {
		return err
	}
	if err := w.cases.DeleteWebhookEndpoint(r.Context(), id); err != nil {
		return err
	}
	http.Redirect(rw, r, "/webhooks?notice="+url.QueryEscape(tr(r, "Endpoint deleted.")), http.StatusSeeOther)
	return nil
}

// RotateWebhook makes a new secret and shows it once.
func (w *Web) RotateWebhook(rw http.ResponseWriter, r *http.Request) error {
	id, err := webhookID(r)
	if err != nil {
		return err
	}
	e, err := w.cases.RotateWebhookSecret(r.Context(), id)
	if err != nil {
		return err
	}
	p := w.page(r, tr(r, "Webhook endpoint"), "", nil)
	p.Notice = tr(r, "New signing secret made: copy it now, it is shown only this once. Deliveries are signed with it from now on.")
	return w.webhookPage(rw, r, http.StatusOK, p, e, e.Secret)
}

// TestWebhook sends a test event.
func (w *Web) TestWebhook(rw http.ResponseWriter, r *http.Request) error {
	id, err := webhookID(r)
	if err != nil {
		return err
	}
	msg := tr(r, "Test event queued: its delivery shows below within seconds (reload).")
	if _, err := w.cases.SendTestWebhook(r.Context(), id); model.ErrorCode(err) == model.ECONFLICT {
		msg = localized(locale(r), err, model.ErrorMessage(err))
	} else if err != nil {
		return err
	}
	http.Redirect(rw, r, "/webhooks/"+strconv.FormatInt(id, 10)+"?notice="+url.QueryEscape(msg), http.StatusSeeOther)
	return nil
}

// RedeliverWebhook attempts a delivery once more.
func (w *Web) RedeliverWebhook(rw http.ResponseWriter, r *http.Request) error {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		return model.NotFound("webhook delivery")
	}
	d, err := w.store.GetWebhookDelivery(r.Context(), id)
	if err != nil {
		return err
	}
	msg := tr(r, "Redelivery queued: it shows below within seconds (reload).")
	if _, err := w.cases.RedeliverWebhook(r.Context(), id); model.ErrorCode(err) == model.ECONFLICT {
		msg = localized(locale(r), err, model.ErrorMessage(err))
	} else if err != nil {
		return err
	}
	http.Redirect(rw, r, "/webhooks/"+strconv.FormatInt(d.EndpointID, 10)+"?notice="+url.QueryEscape(msg)+"#deliveries", http.StatusSeeOther)
	return nil
}

// webhookStates are the delivery states as the log shows them.
var webhookStates = map[string]string{model.WebhookPending: i18n.N("pending"), model.WebhookSucceeded: i18n.N("succeeded"),
	model.WebhookFailed: i18n.N("failed")}

func init() {
	localeFuncs["webhookState"] = func(l *i18n.Locale) any {
		return func(s string) string {
			if k, ok := webhookStates[s]; ok {
				return l.T(k)
			}
			return s
		}
	}
}
