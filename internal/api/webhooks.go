package api

import (
	"net/http"

	"github.com/gatehouse-dev/gatehouse/internal/model"
	"github.com/gatehouse-dev/gatehouse/internal/usecase"
)

// Webhooks (issue 16): an account's endpoints, their delivery logs,
// redelivery, a test event and the secret's rotation. Every id is of the
// caller's own account's endpoints: another's is not found.

// ListWebhookEndpoints lists the caller's endpoints.
func (a *API) ListWebhookEndpoints(w http.ResponseWriter, r *http.Request) error {
	l, err := a.Store.ListWebhookEndpoints(r.Context())
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, map[string]any{"items": l, "event_types": model.WebhookEventTypes})
}

// CreateWebhookEndpoint registers an endpoint; the answer holds its secret,
// shown this once.
func (a *API) CreateWebhookEndpoint(w http.ResponseWriter, r *http.Request) error {
	var in model.WebhookEndpointInput
	if err := decodeJSON(w, r, &in); err != nil {
		return err
	}
	e, err := a.Cases.CreateWebhookEndpoint(r.Context(), in)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, e)
}

// GetWebhookEndpoint returns one of the caller's endpoints.
func (a *API) GetWebhookEndpoint(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id", "webhook endpoint")
	if err != nil {
		return err
	}
	e, err := a.Store.GetWebhookEndpoint(r.Context(), id)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, e)
}

// UpdateWebhookEndpoint changes the fields given.
func (a *API) UpdateWebhookEndpoint(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id", "webhook endpoint")
	if err != nil {
		return err
	}
	var p usecase.WebhookEndpointPatch
	if err := decodeJSON(w, r, &p); err != nil {
		return err
	}
	e, err := a.Cases.UpdateWebhookEndpoint(r.Context(), id, p)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, e)
}

// DeleteWebhookEndpoint deletes an endpoint and its delivery log.
func (a *API) DeleteWebhookEndpoint(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id", "webhook endpoint")
	if err != nil {
		return err
	}
	if err := a.Cases.DeleteWebhookEndpoint(r.Context(), id); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// RotateWebhookSecret gives an endpoint a new secret, in the answer.
func (a *API) RotateWebhookSecret(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id", "webhook endpoint")
	if err != nil {
		return err
	}
	e, err := a.Cases.RotateWebhookSecret(r.Context(), id)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, e)
}

// SendTestWebhook queues a webhook.test event to the endpoint.
func (a *API) SendTestWebhook(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id", "webhook endpoint")
	if err != nil {
		return err
	}
	d, err := a.Cases.SendTestWebhook(r.Context(), id)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusAccepted, d)
}

// ListWebhookDeliveries is an endpoint's delivery log, newest first.
func (a *API) ListWebhookDeliveries(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id", "webhook endpoint")
	if err != nil {
		return err
	}
	var v model.Validator
	p := model.ParsePage(r.URL.Query(), &v)
	if err := v.Err(); err != nil {
		return err
	}
	l, err := a.Store.ListWebhookDeliveries(r.Context(), id, p)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, l)
}

type deliveryWithPayload struct {
	*model.WebhookDelivery
	Payload string `json:"payload"`
}

// GetWebhookDelivery returns one delivery with the body it sends.
func (a *API) GetWebhookDelivery(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id", "webhook delivery")
	if err != nil {
		return err
	}
	d, err := a.Store.GetWebhookDelivery(r.Context(), id)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, deliveryWithPayload{d, d.Payload})
}

// RedeliverWebhook attempts a delivery once more, now.
func (a *API) RedeliverWebhook(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id", "webhook delivery")
	if err != nil {
		return err
	}
	d, err := a.Cases.RedeliverWebhook(r.Context(), id)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusAccepted, d)
}
