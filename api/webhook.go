package api

import (
	"net/http"
	"time"

	"github.com/julienschmidt/httprouter"

	"github.com/referrald/referrald/model"
)

// Webhook endpoints (admin). Their deliveries are made by the webhooks
// package from the outbox; here they are managed and inspected.

// createdEndpoint is an endpoint with its signing secret, shown at
// creation and at rotation only.
type createdEndpoint struct {
	*model.WebhookEndpoint
	Secret string `json:"secret"`
}

func (s *Server) webhooks() (model.WebhookService, error) {
	if s.svc.Webhooks == nil {
		return nil, model.Errorf(model.ENotFound, "webhooks are not served here")
	}
	return s.svc.Webhooks, nil
}

// handleWebhookCreate serves POST /v1/webhook_endpoints. Like key
// creation it takes no idempotency key: a replay would have to keep a
// copy of the secret in the idempotency entry.
func (s *Server) handleWebhookCreate(w http.ResponseWriter, r *http.Request, _ httprouter.Params) error {
	svc, err := s.webhooks()
	if err != nil {
		return err
	}
	o, err := s.readObject(w, r)
	if err != nil {
		return err
	}
	var in model.WebhookEndpointCreate
	in.URL = o.str("url")
	if ev := o.stringsPtr("events"); ev != nil {
		in.Events = *ev
	}
	in.Description = o.str("description")
	in.Metadata = o.metadata("metadata")
	if _, given := r.Header["Idempotency-Key"]; given {
		o.errs.Add("Idempotency-Key", model.FInvalidValue, "webhook endpoint creation is not idempotent: its secret is shown once")
	}
	fe := o.finish()
	fe.Merge(in.Validate(s.webhooksHTTP))
	if err := fe.Err(); err != nil {
		return err
	}
	e, secret, err := svc.CreateWebhookEndpoint(r.Context(), in)
	if err != nil {
		return err
	}
	w.Header().Set("Cache-Control", "no-store")
	return s.writeCreated(w, r, "/v1/webhook_endpoints/"+e.ID, createdEndpoint{e, secret}, false)
}

// handleWebhookList serves GET /v1/webhook_endpoints.
func (s *Server) handleWebhookList(w http.ResponseWriter, r *http.Request, _ httprouter.Params) error {
	svc, err := s.webhooks()
	if err != nil {
		return err
	}
	q := newQuery(r)
	opt := q.list(model.PrefixWebhookEndpoint)
	if err := q.finish(); err != nil {
		return err
	}
	page, err := svc.FindWebhookEndpoints(r.Context(), opt)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, page)
	return nil
}

// handleWebhookGet serves GET /v1/webhook_endpoints/:id.
func (s *Server) handleWebhookGet(w http.ResponseWriter, r *http.Request, p httprouter.Params) error {
	svc, err := s.webhooks()
	if err != nil {
		return err
	}
	e, err := svc.FindWebhookEndpointByID(r.Context(), p.ByName("id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, e)
	return nil
}

// handleWebhookUpdate serves PATCH /v1/webhook_endpoints/:id.
func (s *Server) handleWebhookUpdate(w http.ResponseWriter, r *http.Request, p httprouter.Params) error {
	svc, err := s.webhooks()
	if err != nil {
		return err
	}
	o, err := s.readObject(w, r)
	if err != nil {
		return err
	}
	var u model.WebhookEndpointUpdate
	u.URL = o.strPtr("url")
	u.Events = o.stringsPtr("events")
	u.Disabled = o.boolPtr("disabled")
	u.Description = o.strPtr("description")
	u.Metadata = o.metadataPtr("metadata")
	fe := o.finish()
	fe.Merge(u.Validate(s.webhooksHTTP))
	if err := fe.Err(); err != nil {
		return err
	}
	e, err := svc.UpdateWebhookEndpoint(r.Context(), p.ByName("id"), u)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, e)
	return nil
}

// handleWebhookDelete serves DELETE /v1/webhook_endpoints/:id.
func (s *Server) handleWebhookDelete(w http.ResponseWriter, r *http.Request, p httprouter.Params) error {
	svc, err := s.webhooks()
	if err != nil {
		return err
	}
	if err := svc.DeleteWebhookEndpoint(r.Context(), p.ByName("id")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// handleWebhookRotate serves POST /v1/webhook_endpoints/:id/rotate_secret:
// a new secret, with the old one signing too for a day.
func (s *Server) handleWebhookRotate(w http.ResponseWriter, r *http.Request, p httprouter.Params) error {
	svc, err := s.webhooks()
	if err != nil {
		return err
	}
	secret, err := svc.RotateWebhookSecret(r.Context(), p.ByName("id"))
	if err != nil {
		return err
	}
	e, err := svc.FindWebhookEndpointByID(r.Context(), p.ByName("id"))
	if err != nil {
		return err
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, createdEndpoint{e, secret})
	return nil
}

// handleWebhookAttempts serves GET /v1/webhook_endpoints/:id/attempts
// (?event_id= narrows to one event's).
func (s *Server) handleWebhookAttempts(w http.ResponseWriter, r *http.Request, p httprouter.Params) error {
	svc, err := s.webhooks()
	if err != nil {
		return err
	}
	q := newQuery(r)
	eventID := q.id("event_id", model.PrefixEvent)
	opt := q.list(model.PrefixWebhookAttempt)
	if err := q.finish(); err != nil {
		return err
	}
	page, err := svc.FindWebhookAttempts(r.Context(), p.ByName("id"), eventID, opt)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, page)
	return nil
}

// handleWebhookFailed serves GET
// /v1/webhook_endpoints/:id/failed_messages: the events whose every
// attempt failed, newest first.
func (s *Server) handleWebhookFailed(w http.ResponseWriter, r *http.Request, p httprouter.Params) error {
	svc, err := s.webhooks()
	if err != nil {
		return err
	}
	q := newQuery(r)
	opt := q.list(model.PrefixEvent)
	if err := q.finish(); err != nil {
		return err
	}
	page, err := svc.FindFailedWebhookMessages(r.Context(), p.ByName("id"), opt)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, page)
	return nil
}

type queued struct {
	Queued int `json:"queued"`
}

// handleWebhookRetry serves POST
// /v1/webhook_endpoints/:id/messages/:event_id/retry: a failed message
// is sent again.
func (s *Server) handleWebhookRetry(w http.ResponseWriter, r *http.Request, p httprouter.Params) error {
	svc, err := s.webhooks()
	if err != nil {
		return err
	}
	if err := svc.RetryWebhookMessage(r.Context(), p.ByName("id"), p.ByName("event_id")); err != nil {
		return err
	}
	writeJSON(w, http.StatusAccepted, queued{1})
	return nil
}

// handleWebhookRecover serves POST
// /v1/webhook_endpoints/:id/recover?since=: every message that failed
// since then is sent again.
func (s *Server) handleWebhookRecover(w http.ResponseWriter, r *http.Request, p httprouter.Params) error {
	svc, err := s.webhooks()
	if err != nil {
		return err
	}
	q := newQuery(r)
	since := q.time("since")
	if since.IsZero() && !q.errs.Has("since") {
		q.errs.Add("since", model.FRequired, "is required: the time from which failed messages are sent again, e.g. 2026-11-01T00:00:00Z")
	}
	if err := q.finish(); err != nil {
		return err
	}
	if since.After(time.Now().Add(time.Minute)) {
		var fe model.FieldErrors
		fe.Add("since", model.FInvalidValue, "must not be in the future")
		return fe.Err()
	}
	n, err := svc.RetryWebhookMessages(r.Context(), p.ByName("id"), since.Time)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusAccepted, queued{n})
	return nil
}
