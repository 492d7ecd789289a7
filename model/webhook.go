package model

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"net/url"
	"slices"
	"strings"
	"time"
)

// Webhooks: endpoints that referrald POSTs each event to, signed as the
// Standard Webhooks specification (v1) says. Each endpoint reads the
// outbox as a consumer of its own (WebhookConsumer), in order.

// Prefixes of webhook records.
const (
	PrefixWebhookEndpoint = "whe"
	PrefixWebhookAttempt  = "wha"
)

// WebhookEventAll subscribes to every webhook event type but
// impression.created, of which there is one per scan: that one is
// opt-in only.
const WebhookEventAll = "*"

// WebhookEventTypes are the event types an endpoint can subscribe to.
var WebhookEventTypes = []string{EventAmbassadorCreated, EventImpressionCreated, EventReferralCreated,
	EventReferralStatusChanged, EventReferralErased, EventEarningCreated, EventEarningRefunded,
	EventCommissionCreated, EventCommissionApproved, EventCommissionPaid, EventPayoutCreated}

// Why an endpoint is disabled.
const (
	// WebhookDisabledManually: someone set disabled.
	WebhookDisabledManually = "manual"
	// WebhookDisabledGone: the endpoint answered 410 Gone.
	WebhookDisabledGone = "gone"
	// WebhookDisabledFailing: every attempt failed for WebhookFailingFor.
	WebhookDisabledFailing = "failing"
)

// WebhookFailingFor is how long an endpoint may fail without a success
// before it is disabled.
const WebhookFailingFor = 5 * 24 * time.Hour

// WebhookSecretOverlap is how long a rotated-out secret still signs,
// beside the new one, so a receiver can switch without losing a message.
const WebhookSecretOverlap = 24 * time.Hour

// Bounds of an endpoint's fields.
const (
	MaxWebhookDescriptionLen = 500
	MaxWebhookEndpoints      = 100
)

// WebhookEndpoint is where events are delivered.
type WebhookEndpoint struct {
	ID          string   `json:"id"`
	URL         string   `json:"url"`
	Events      []string `json:"events"`
	Description string   `json:"description"`
	Metadata    Metadata `json:"metadata"`
	Disabled    bool     `json:"disabled"`
	// DisabledReason is manual, gone or failing while Disabled.
	DisabledReason *string `json:"disabled_reason"`
	DisabledAt     *Time   `json:"disabled_at"`
	// FailingSince is when the current run of failed attempts began;
	// null once an attempt succeeds.
	FailingSince *Time `json:"failing_since"`
	CreatedAt    Time  `json:"created_at"`
	UpdatedAt    Time  `json:"updated_at"`
}

// Wants reports whether the endpoint is sent events of type typ.
func (e *WebhookEndpoint) Wants(typ string) bool {
	if slices.Contains(e.Events, typ) {
		return true
	}
	return typ != EventImpressionCreated && !InternalEvent(typ) && slices.Contains(e.Events, WebhookEventAll)
}

// WebhookConsumer is the outbox consumer name of an endpoint: no plugin
// name can hold a colon.
func WebhookConsumer(endpointID string) string { return "@webhook:" + endpointID }

// WebhookEndpointCreate is the body of POST /v1/webhook_endpoints.
type WebhookEndpointCreate struct {
	URL         string
	Events      []string
	Description string
	Metadata    Metadata
}

// Validate normalizes c in place and returns its problems; allowHTTP
// lets a URL be http (on-prem receivers), else it must be https.
func (c *WebhookEndpointCreate) Validate(allowHTTP bool) FieldErrors {
	var fe FieldErrors
	checkWebhookURL(&fe, &c.URL, allowHTTP)
	c.Events = checkWebhookEvents(&fe, c.Events)
	CheckText(&fe, "description", &c.Description, MaxWebhookDescriptionLen, false)
	checkMetadata(&fe, "metadata", c.Metadata)
	return fe
}

// WebhookEndpointUpdate is the body of PATCH /v1/webhook_endpoints/{id};
// nil fields stay as they are.
type WebhookEndpointUpdate struct {
	URL         *string
	Events      *[]string
	Disabled    *bool
	Description *string
	Metadata    *Metadata
}

// Validate normalizes u in place and returns its problems.
func (u *WebhookEndpointUpdate) Validate(allowHTTP bool) FieldErrors {
	var fe FieldErrors
	if u.URL != nil {
		checkWebhookURL(&fe, u.URL, allowHTTP)
	}
	if u.Events != nil {
		*u.Events = checkWebhookEvents(&fe, *u.Events)
	}
	if u.Description != nil {
		CheckText(&fe, "description", u.Description, MaxWebhookDescriptionLen, false)
	}
	if u.Metadata != nil {
		checkMetadata(&fe, "metadata", *u.Metadata)
	}
	return fe
}

// Apply changes e as u says at now. Enabling an endpoint clears its
// failures, so it gets a fresh WebhookFailingFor.
func (u *WebhookEndpointUpdate) Apply(e *WebhookEndpoint, now time.Time) {
	if u.URL != nil {
		e.URL = *u.URL
	}
	if u.Events != nil {
		e.Events = *u.Events
	}
	if u.Description != nil {
		e.Description = *u.Description
	}
	if u.Metadata != nil {
		e.Metadata = *u.Metadata
	}
	if u.Disabled != nil && *u.Disabled != e.Disabled {
		if *u.Disabled {
			e.Disable(WebhookDisabledManually, now)
		} else {
			e.Disabled, e.DisabledReason, e.DisabledAt, e.FailingSince = false, nil, nil, nil
		}
	}
	e.UpdatedAt = NewTime(now)
}

// Disable disables e at now for reason.
func (e *WebhookEndpoint) Disable(reason string, now time.Time) {
	t := NewTime(now)
	e.Disabled, e.DisabledReason, e.DisabledAt = true, &reason, &t
}

func checkWebhookURL(fe *FieldErrors, s *string, allowHTTP bool) {
	checkURL(fe, "url", s, true)
	if fe.Has("url") {
		return
	}
	u, _ := url.Parse(*s)
	switch {
	case u.Scheme != "https" && !allowHTTP:
		fe.Add("url", FInvalidURL, "must be https (http only where webhooks.allow_http is set)")
	case u.Fragment != "":
		fe.Add("url", FInvalidURL, "must not have a #fragment")
	}
}

// checkWebhookEvents checks a list of event types and returns it without
// repeats, in the order given.
func checkWebhookEvents(fe *FieldErrors, events []string) []string {
	if len(events) == 0 {
		fe.Add("events", FRequired, `must list at least one event type, or "*" for all`)
		return events
	}
	var out []string
	for _, e := range events {
		e = strings.TrimSpace(e)
		if e != WebhookEventAll && !slices.Contains(WebhookEventTypes, e) {
			fe.Add("events", FInvalidValue, "%q is not an event type; use one of %s, or %q", clip(e),
				strings.Join(WebhookEventTypes, ", "), WebhookEventAll)
			continue
		}
		if !slices.Contains(out, e) {
			out = append(out, e)
		}
	}
	return out
}

// NewWebhookSecret makes a signing secret: "whsec_" and the base64 of 32
// random bytes, as the specification shapes it.
func NewWebhookSecret() string {
	b := make([]byte, 32)
	rand.Read(b) // never fails (crypto/rand)
	return "whsec_" + base64.StdEncoding.EncodeToString(b)
}

// WebhookSecretKey is the HMAC key of a secret: its base64 decoded.
func WebhookSecretKey(secret string) ([]byte, bool) {
	b, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
	return b, err == nil && len(b) >= 24 && len(b) <= 64
}

// WebhookAttempt is one delivery attempt of an event to an endpoint.
type WebhookAttempt struct {
	ID         string `json:"id"`
	EndpointID string `json:"endpoint_id"`
	EventID    string `json:"event_id"`
	EventType  string `json:"event_type"`
	// Attempt counts from 1 for each event.
	Attempt int  `json:"attempt"`
	At      Time `json:"created_at"`
	// Status is the HTTP status of the answer; 0 when none came.
	Status     int   `json:"status"`
	DurationMS int64 `json:"duration_ms"`
	// Response is the first KiB of the answer's body.
	Response string `json:"response"`
	// Error says why an attempt without an answer failed.
	Error string `json:"error"`
	// Succeeded is set for a 2xx answer.
	Succeeded bool `json:"succeeded"`
}

// WebhookProgress is where an endpoint's delivery stands, kept so that a
// restart goes on with the same event at the same attempt.
type WebhookProgress struct {
	EventID  string
	Attempts int
	// NextAt is when the next attempt is due.
	NextAt time.Time
}

// WebhookService manages webhook endpoints and records their deliveries.
// Delivery itself goes through HookStore, with WebhookConsumer(id) as the
// consumer: its cursor, failed messages (dead letters) and retries.
type WebhookService interface {
	// CreateWebhookEndpoint makes an endpoint and its signing secret,
	// returned once; its delivery starts after the newest event.
	// Errors: validation_failed, conflict (MaxWebhookEndpoints reached).
	CreateWebhookEndpoint(ctx context.Context, in WebhookEndpointCreate) (*WebhookEndpoint, string, error)
	// FindWebhookEndpointByID errors: not_found.
	FindWebhookEndpointByID(ctx context.Context, id string) (*WebhookEndpoint, error)
	FindWebhookEndpoints(ctx context.Context, opt ListOptions) (Page[*WebhookEndpoint], error)
	// UpdateWebhookEndpoint errors: not_found.
	UpdateWebhookEndpoint(ctx context.Context, id string, u WebhookEndpointUpdate) (*WebhookEndpoint, error)
	// DeleteWebhookEndpoint deletes the endpoint and its delivery state.
	// Errors: not_found.
	DeleteWebhookEndpoint(ctx context.Context, id string) error
	// RotateWebhookSecret makes a new secret and keeps the old one
	// signing for WebhookSecretOverlap. Errors: not_found.
	RotateWebhookSecret(ctx context.Context, id string) (string, error)
	// WebhookSecrets are the secrets that sign a message now: the
	// current one first. Errors: not_found.
	WebhookSecrets(ctx context.Context, id string) ([]string, error)

	// RecordWebhookAttempt records an attempt, the endpoint's health
	// after it (FailingSince set or cleared, disabled for a reason) and
	// its progress (nil once the event is done with). Errors: not_found.
	RecordWebhookAttempt(ctx context.Context, a WebhookAttempt, health *WebhookEndpoint, progress *WebhookProgress) error
	// WebhookProgressOf is the endpoint's saved progress, or nil.
	WebhookProgressOf(ctx context.Context, id string) (*WebhookProgress, error)
	// FindWebhookAttempts lists an endpoint's attempts, newest first,
	// optionally of one event. Errors: not_found.
	FindWebhookAttempts(ctx context.Context, endpointID, eventID string, opt ListOptions) (Page[*WebhookAttempt], error)
	// FindFailedWebhookMessages lists the endpoint's failed messages (the
	// events whose every attempt failed), newest first. Errors: not_found.
	FindFailedWebhookMessages(ctx context.Context, endpointID string, opt ListOptions) (Page[*DeadLetter], error)
	// RetryWebhookMessage queues one failed message for one more round of
	// delivery. Errors: not_found (no such endpoint or failed message).
	RetryWebhookMessage(ctx context.Context, endpointID, eventID string) error
	// RetryWebhookMessages queues the endpoint's messages that failed at
	// or after since for one more round of delivery and returns how many.
	// Errors: not_found.
	RetryWebhookMessages(ctx context.Context, endpointID string, since time.Time) (int, error)
}
