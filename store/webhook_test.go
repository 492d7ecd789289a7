package store_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/referrald/referrald/model"
	"github.com/referrald/referrald/store"
)

func mustEndpoint(t *testing.T, s *store.Store, events ...string) (*model.WebhookEndpoint, string) {
	t.Helper()
	in := model.WebhookEndpointCreate{URL: "https://hooks.example.com/referrald", Events: events, Description: "CRM"}
	if fe := in.Validate(false); len(fe) > 0 {
		t.Fatal(fe.Err())
	}
	e, secret, err := s.CreateWebhookEndpoint(context.Background(), in)
	if err != nil {
		t.Fatal(err)
	}
	return e, secret
}

// An endpoint is made with a secret shown once, starts after the newest
// event, rotates its secret keeping the old one a day, records its
// attempts and progress, and takes everything of it when deleted.
func TestWebhookEndpoints(t *testing.T) {
	clk := &store.TestClock{T: time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)}
	s := MustOpenStore(t, store.Options{Now: clk.Now, SweepInterval: -1})
	ctx := context.Background()
	mustFixture(t, s, "ada@example.com")
	e, secret := mustEndpoint(t, s, model.WebhookEventAll)
	if key, ok := model.WebhookSecretKey(secret); !ok || !strings.HasPrefix(secret, "whsec_") || len(key) != 32 {
		t.Fatalf("secret %q", secret)
	}
	consumer := model.WebhookConsumer(e.ID)
	all, _ := s.FindEvents(ctx, "", 100)
	if cur, err := s.HookCursor(ctx, consumer); err != nil || cur != all[len(all)-1].ID {
		t.Fatalf("cursor %q %v; want after the newest event %s", cur, err, all[len(all)-1].ID)
	}
	if got, err := s.WebhookSecrets(ctx, e.ID); err != nil || len(got) != 1 || got[0] != secret {
		t.Fatalf("secrets %v %v", got, err)
	}
	rotated, err := s.RotateWebhookSecret(ctx, e.ID)
	if err != nil || rotated == secret {
		t.Fatalf("rotate: %q %v", rotated, err)
	}
	if got, _ := s.WebhookSecrets(ctx, e.ID); len(got) != 2 || got[0] != rotated || got[1] != secret {
		t.Fatalf("secrets after rotation %v", got)
	}
	clk.Add(model.WebhookSecretOverlap)
	if got, _ := s.WebhookSecrets(ctx, e.ID); len(got) != 1 || got[0] != rotated {
		t.Fatalf("secrets a day after rotation %v", got)
	}

	// Attempts, health and progress.
	failing := model.NewTime(clk.Now())
	health := *e
	health.FailingSince = &failing
	a := model.WebhookAttempt{EndpointID: e.ID, EventID: all[0].ID, EventType: all[0].Type, Attempt: 1, At: failing, Status: 500, Response: "oops"}
	next := &model.WebhookProgress{EventID: all[0].ID, Attempts: 1, NextAt: clk.Now().Add(5 * time.Second)}
	if err := s.RecordWebhookAttempt(ctx, a, &health, next); err != nil {
		t.Fatal(err)
	}
	got, _ := s.FindWebhookEndpointByID(ctx, e.ID)
	if got.FailingSince == nil || !got.FailingSince.Equal(failing.Time) || got.Disabled {
		t.Fatalf("health %+v", got)
	}
	if p, err := s.WebhookProgressOf(ctx, e.ID); err != nil || p == nil || p.EventID != all[0].ID || p.Attempts != 1 || !p.NextAt.Equal(next.NextAt) {
		t.Fatalf("progress %+v %v", p, err)
	}
	// A second failure keeps when the run began; one made while the
	// endpoint was enabled again (which clears it) starts a new run.
	clk.Add(time.Second)
	a.Attempt, a.At = 2, model.NewTime(clk.Now())
	if err := s.RecordWebhookAttempt(ctx, a, &health, next); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.FindWebhookEndpointByID(ctx, e.ID); got.FailingSince == nil || !got.FailingSince.Equal(failing.Time) {
		t.Fatalf("failing since %v after a second failure, want %v", got.FailingSince, failing)
	}
	off, on := true, false
	for _, d := range []*bool{&off, &on} {
		if _, err := s.UpdateWebhookEndpoint(ctx, e.ID, model.WebhookEndpointUpdate{Disabled: d}); err != nil {
			t.Fatal(err)
		}
	}
	clk.Add(time.Second)
	a.Attempt, a.At = 3, model.NewTime(clk.Now())
	if err := s.RecordWebhookAttempt(ctx, a, &health, next); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.FindWebhookEndpointByID(ctx, e.ID); got.FailingSince == nil || !got.FailingSince.Equal(a.At.Time) {
		t.Fatalf("failing since %v after a re-enable, want %v", got.FailingSince, a.At)
	}
	clk.Add(time.Second)
	a.Attempt, a.Status, a.Succeeded, a.At = 4, 204, true, model.NewTime(clk.Now())
	health.FailingSince = nil
	if err := s.RecordWebhookAttempt(ctx, a, &health, nil); err != nil {
		t.Fatal(err)
	}
	if p, _ := s.WebhookProgressOf(ctx, e.ID); p != nil {
		t.Fatalf("progress after success %+v", p)
	}
	page, err := s.FindWebhookAttempts(ctx, e.ID, "", model.ListOptions{})
	if err != nil || len(page.Data) != 4 || page.Data[0].Status != 204 || page.Data[1].Status != 500 ||
		!strings.HasPrefix(page.Data[0].ID, "wha_") {
		t.Fatalf("attempts %+v %v", page.Data, err)
	}
	if page, _ := s.FindWebhookAttempts(ctx, e.ID, all[1].ID, model.ListOptions{}); len(page.Data) != 0 {
		t.Fatalf("attempts of another event: %+v", page.Data)
	}

	// Disabled by the delivery (410), enabled again by hand.
	gone := health
	gone.Disable(model.WebhookDisabledGone, clk.Now())
	if err := s.RecordWebhookAttempt(ctx, model.WebhookAttempt{EndpointID: e.ID, EventID: all[1].ID, Status: 410}, &gone, nil); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.FindWebhookEndpointByID(ctx, e.ID); !got.Disabled || *got.DisabledReason != model.WebhookDisabledGone {
		t.Fatalf("after 410: %+v", got)
	}
	if got, err := s.UpdateWebhookEndpoint(ctx, e.ID, model.WebhookEndpointUpdate{Disabled: &on}); err != nil || got.Disabled || got.DisabledReason != nil {
		t.Fatalf("enable: %+v %v", got, err)
	}

	// Failed messages sent again: those since a time.
	for i, at := range []time.Time{clk.Now().Add(-time.Hour), clk.Now()} {
		if err := s.DeadLetterHookEvent(ctx, model.DeadLetter{Plugin: consumer, EventID: all[i].ID, EventType: all[i].Type,
			Attempts: 10, FailedAt: model.NewTime(at)}); err != nil {
			t.Fatal(err)
		}
	}
	if n, err := s.RetryWebhookMessages(ctx, e.ID, clk.Now().Add(-time.Minute)); err != nil || n != 1 {
		t.Fatalf("recover: %d %v, want 1", n, err)
	}
	if ev, err := s.NextHookRetry(ctx, consumer); err != nil || ev == nil || ev.ID != all[1].ID {
		t.Fatalf("next retry %+v %v", ev, err)
	}

	if err := s.DeleteWebhookEndpoint(ctx, e.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.FindWebhookEndpointByID(ctx, e.ID); model.ErrorCode(err) != model.ENotFound {
		t.Fatalf("after delete: %v", err)
	}
	if cur, _ := s.HookCursor(ctx, consumer); cur != "" {
		t.Fatalf("cursor %q left after delete", cur)
	}
	if ev, _ := s.NextHookRetry(ctx, consumer); ev != nil {
		t.Fatal("a retry left after delete")
	}
	if dl, _ := s.FindDeadLetters(ctx, consumer, model.ListOptions{}); len(dl.Data) != 0 {
		t.Fatal("dead letters left after delete")
	}
}

// An enabled endpoint holds the outbox back until it has passed events;
// a disabled one does not, but for its failed messages.
func TestPruneOutboxWaitsForWebhookEndpoints(t *testing.T) {
	clk := &store.TestClock{T: time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)}
	s := MustOpenStore(t, store.Options{Now: clk.Now, SweepInterval: -1, IdempotencyWindow: time.Hour, OutboxRetention: time.Hour})
	ctx := context.Background()
	e, _ := mustEndpoint(t, s, model.WebhookEventAll)
	mustFixture(t, s, "ada@example.com")
	all, _ := s.FindEvents(ctx, "", 100)
	clk.Add(3 * time.Hour)
	if n, err := s.PruneOutbox(ctx, clk.Now()); err != nil || n != 0 {
		t.Fatalf("pruned %d %v while the endpoint has passed nothing", n, err)
	}
	if err := s.AckHookEvent(ctx, model.WebhookConsumer(e.ID), all[0].ID, nil); err != nil {
		t.Fatal(err)
	}
	if n, err := s.PruneOutbox(ctx, clk.Now()); err != nil || n != 1 {
		t.Fatalf("pruned %d %v, want the one it passed", n, err)
	}
	// Its failed message stays while it is disabled: it can be sent again.
	if err := s.DeadLetterHookEvent(ctx, model.DeadLetter{Plugin: model.WebhookConsumer(e.ID), EventID: all[1].ID, EventType: all[1].Type}); err != nil {
		t.Fatal(err)
	}
	off := true
	if _, err := s.UpdateWebhookEndpoint(ctx, e.ID, model.WebhookEndpointUpdate{Disabled: &off}); err != nil {
		t.Fatal(err)
	}
	if n, err := s.PruneOutbox(ctx, clk.Now()); err != nil || n != len(all)-2 {
		t.Fatalf("pruned %d %v with the endpoint disabled, want %d", n, err, len(all)-2)
	}
	if n, err := s.RetryWebhookMessages(ctx, e.ID, time.Time{}); err != nil || n != 1 {
		t.Fatalf("recover: %d %v", n, err)
	}
	if ev, err := s.NextHookRetry(ctx, model.WebhookConsumer(e.ID)); err != nil || ev == nil || ev.ID != all[1].ID {
		t.Fatalf("the failed message must still be there: %+v %v", ev, err)
	}
}

// Endpoints take https URLs (http when allowed), known event types, and
// "*" leaves out impression.created and internal events.
func TestWebhookEndpointValidation(t *testing.T) {
	for _, tc := range []struct {
		in        model.WebhookEndpointCreate
		allowHTTP bool
		field     string
	}{
		{model.WebhookEndpointCreate{URL: "http://x.example/h", Events: []string{"*"}}, false, "url"},
		{model.WebhookEndpointCreate{URL: "ftp://x.example/h", Events: []string{"*"}}, true, "url"},
		{model.WebhookEndpointCreate{URL: "https://x.example/h"}, false, "events"},
		{model.WebhookEndpointCreate{URL: "https://x.example/h", Events: []string{"referral.made"}}, false, "events"},
		{model.WebhookEndpointCreate{URL: "https://x.example/h", Events: []string{"*"}, Description: strings.Repeat("x", 501)}, false, "description"},
	} {
		if fe := tc.in.Validate(tc.allowHTTP); !fe.Has(tc.field) {
			t.Errorf("%+v: got %v, want a problem with %s", tc.in, fe, tc.field)
		}
	}
	ok := model.WebhookEndpointCreate{URL: "http://10.0.0.5/h", Events: []string{"referral.created", "referral.created", "*"}}
	if fe := ok.Validate(true); len(fe) > 0 || len(ok.Events) != 2 {
		t.Fatalf("%v %v", fe, ok.Events)
	}
	e := model.WebhookEndpoint{Events: []string{"*"}}
	if !e.Wants(model.EventReferralCreated) || e.Wants(model.EventImpressionCreated) || e.Wants(model.EventPortalLinkRequested) {
		t.Fatal(`"*" must cover every event but impression.created and internal ones`)
	}
	e.Events = append(e.Events, model.EventImpressionCreated)
	if !e.Wants(model.EventImpressionCreated) {
		t.Fatal("impression.created when asked for")
	}
}
