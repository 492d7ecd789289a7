package api_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/referrald/referrald/model"
)

// An admin adds an endpoint and gets its secret once; reads, changes,
// disables and deletes it; rotates its secret; and sees its attempts and
// failed messages, sending them again one by one or since a time.
func TestWebhookEndpointsAPI(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	res := e.call(request{Method: "POST", Path: "/v1/webhook_endpoints", Token: adminToken, Body: map[string]any{
		"url": "https://hooks.example.com/in", "events": []string{"referral.created", "commission.approved"},
		"description": "CRM", "metadata": map[string]any{"team": "growth"}}})
	if res.Status != http.StatusCreated {
		t.Fatalf("create: %d %s", res.Status, res.Body)
	}
	m := res.JSON(t)
	id, secret := m["id"].(string), m["secret"].(string)
	if !strings.HasPrefix(id, "whe_") || !strings.HasPrefix(secret, "whsec_") || res.Header.Get("Location") != "/v1/webhook_endpoints/"+id ||
		res.Header.Get("Cache-Control") != "no-store" || m["disabled"] != false {
		t.Fatalf("create: %v %v", res.Header, m)
	}
	got := e.call(request{Method: "GET", Path: "/v1/webhook_endpoints/" + id, Token: adminToken})
	if got.Status != 200 || strings.Contains(string(got.Body), secret) || got.JSON(t)["description"] != "CRM" {
		t.Fatalf("get: %d %s", got.Status, got.Body)
	}
	if list := e.call(request{Method: "GET", Path: "/v1/webhook_endpoints", Token: adminToken}); list.Status != 200 ||
		len(list.JSON(t)["data"].([]any)) != 1 || strings.Contains(string(list.Body), secret) {
		t.Fatalf("list: %d %s", list.Status, list.Body)
	}

	// Bad input, each with its field.
	for _, tc := range []struct {
		body  map[string]any
		field string
	}{
		{map[string]any{"url": "http://hooks.example.com/in", "events": []string{"*"}}, "url"},
		{map[string]any{"url": "https://hooks.example.com/in", "events": []string{"referral.made"}}, "events"},
		{map[string]any{"url": "https://hooks.example.com/in"}, "events"},
		{map[string]any{"url": "https://hooks.example.com/in", "events": "referral.created"}, "events"},
		{map[string]any{"url": "https://hooks.example.com/in", "events": []string{"*"}, "secret": "mine"}, "secret"},
	} {
		fe := wantProblem(t, e.call(request{Method: "POST", Path: "/v1/webhook_endpoints", Token: adminToken, Body: tc.body}),
			http.StatusBadRequest, "validation_failed")
		if _, ok := fe[tc.field]; !ok {
			t.Errorf("%v: field errors %v, want one for %s", tc.body, fe, tc.field)
		}
	}
	fe := wantProblem(t, e.call(request{Method: "POST", Path: "/v1/webhook_endpoints", Token: adminToken,
		Body: map[string]any{"url": "https://hooks.example.com/in", "events": []string{"*"}}, Header: map[string]string{"Idempotency-Key": "k1"}}),
		http.StatusBadRequest, "validation_failed")
	if _, ok := fe["Idempotency-Key"]; !ok {
		t.Errorf("an idempotency key was taken: %v", fe)
	}
	wantProblem(t, e.call(request{Method: "GET", Path: "/v1/webhook_endpoints", Token: e.readToken}), http.StatusForbidden, "forbidden")

	// Disable, and say so; enable again.
	res = e.call(request{Method: "PATCH", Path: "/v1/webhook_endpoints/" + id, Token: adminToken, Body: map[string]any{"disabled": true, "events": []string{"*"}}})
	if m := res.JSON(t); res.Status != 200 || m["disabled"] != true || m["disabled_reason"] != "manual" || m["events"].([]any)[0] != "*" {
		t.Fatalf("disable: %d %s", res.Status, res.Body)
	}
	res = e.call(request{Method: "PATCH", Path: "/v1/webhook_endpoints/" + id, Token: adminToken, Body: map[string]any{"disabled": false}})
	if m := res.JSON(t); res.Status != 200 || m["disabled"] != false || m["disabled_reason"] != nil {
		t.Fatalf("enable: %d %s", res.Status, res.Body)
	}

	// Rotation answers the new secret; both sign for a day.
	res = e.call(request{Method: "POST", Path: "/v1/webhook_endpoints/" + id + "/rotate_secret", Token: adminToken})
	rotated, _ := res.JSON(t)["secret"].(string)
	if res.Status != 200 || rotated == secret || !strings.HasPrefix(rotated, "whsec_") {
		t.Fatalf("rotate: %d %s", res.Status, res.Body)
	}
	if secrets, _ := e.st.WebhookSecrets(ctx, id); len(secrets) != 2 || secrets[0] != rotated || secrets[1] != secret {
		t.Fatalf("secrets after rotation: %v", secrets)
	}

	// Attempts and failed messages, as the delivery records them.
	e.impression()
	events, _ := e.st.FindEvents(ctx, "", 10)
	ev := events[len(events)-1]
	if err := e.st.RecordWebhookAttempt(ctx, model.WebhookAttempt{EndpointID: id, EventID: ev.ID, EventType: ev.Type, Attempt: 1,
		At: model.NewTime(e.clock.Now()), Status: 500, DurationMS: 12, Response: "down"}, nil, nil); err != nil {
		t.Fatal(err)
	}
	res = e.call(request{Method: "GET", Path: "/v1/webhook_endpoints/" + id + "/attempts?event_id=" + ev.ID, Token: adminToken})
	if data := res.JSON(t)["data"].([]any); res.Status != 200 || len(data) != 1 || data[0].(map[string]any)["status"] != 500.0 {
		t.Fatalf("attempts: %d %s", res.Status, res.Body)
	}
	if err := e.st.DeadLetterHookEvent(ctx, model.DeadLetter{Plugin: model.WebhookConsumer(id), EventID: ev.ID, EventType: ev.Type,
		Attempts: 10, LastError: "HTTP 500", FailedAt: model.NewTime(e.clock.Now())}); err != nil {
		t.Fatal(err)
	}
	res = e.call(request{Method: "GET", Path: "/v1/webhook_endpoints/" + id + "/failed_messages", Token: adminToken})
	if data := res.JSON(t)["data"].([]any); res.Status != 200 || len(data) != 1 || data[0].(map[string]any)["event_id"] != ev.ID {
		t.Fatalf("failed messages: %d %s", res.Status, res.Body)
	}
	res = e.call(request{Method: "POST", Path: "/v1/webhook_endpoints/" + id + "/messages/" + ev.ID + "/retry", Token: adminToken})
	if res.Status != http.StatusAccepted || res.JSON(t)["queued"] != 1.0 {
		t.Fatalf("retry: %d %s", res.Status, res.Body)
	}
	wantProblem(t, e.call(request{Method: "POST", Path: "/v1/webhook_endpoints/" + id + "/messages/" + ev.ID + "/retry", Token: adminToken}),
		http.StatusNotFound, "not_found")
	if next, _ := e.st.NextHookRetry(ctx, model.WebhookConsumer(id)); next == nil || next.ID != ev.ID {
		t.Fatalf("queued retry: %+v", next)
	}
	since := e.clock.Now().Add(-time.Hour).UTC().Format(time.RFC3339)
	res = e.call(request{Method: "POST", Path: "/v1/webhook_endpoints/" + id + "/recover?since=" + since, Token: adminToken})
	if res.Status != http.StatusAccepted || res.JSON(t)["queued"] != 0.0 {
		t.Fatalf("recover: %d %s", res.Status, res.Body)
	}
	wantProblem(t, e.call(request{Method: "POST", Path: "/v1/webhook_endpoints/" + id + "/recover", Token: adminToken}),
		http.StatusBadRequest, "validation_failed")
	wantProblem(t, e.call(request{Method: "POST", Path: "/v1/webhook_endpoints/" + id + "/recover?since=yesterday", Token: adminToken}),
		http.StatusBadRequest, "validation_failed")

	if res := e.call(request{Method: "DELETE", Path: "/v1/webhook_endpoints/" + id, Token: adminToken}); res.Status != http.StatusNoContent {
		t.Fatalf("delete: %d %s", res.Status, res.Body)
	}
	for _, path := range []string{"/v1/webhook_endpoints/" + id, "/v1/webhook_endpoints/" + id + "/attempts"} {
		wantProblem(t, e.call(request{Method: "GET", Path: path, Token: adminToken}), http.StatusNotFound, "not_found")
	}
	wantProblem(t, e.call(request{Method: "DELETE", Path: "/v1/webhook_endpoints/" + id, Token: adminToken}), http.StatusNotFound, "not_found")
}
