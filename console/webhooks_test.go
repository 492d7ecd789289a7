package console

import (
	"context"
	"html"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/referrald/referrald/model"
)

// webhookSamples are views of the webhook pages, for samplePages.
func webhookSamples() map[string]any {
	now := model.NewTime(time.Date(2026, 11, 20, 14, 5, 0, 0, time.UTC))
	gone := model.WebhookDisabledGone
	active := &model.WebhookEndpoint{ID: "whe_01m8yqk4a5mstqtdtptfpvmbxh", URL: "https://crm.uni.example/hooks/referrald",
		Events: []string{model.WebhookEventAll, model.EventImpressionCreated}, Description: "CRM: new signups", CreatedAt: now, UpdatedAt: now}
	failing := &model.WebhookEndpoint{ID: "whe_01m8yqk4a5mstqtdtptfpvmbxj", URL: "https://app.uni.example/referrald",
		Events: []string{model.EventReferralCreated, model.EventCommissionApproved}, FailingSince: &now, CreatedAt: now, UpdatedAt: now}
	disabled := &model.WebhookEndpoint{ID: "whe_01m8yqk4a5mstqtdtptfpvmbxk", URL: "https://old.uni.example/hook", Events: []string{model.WebhookEventAll},
		Disabled: true, DisabledReason: &gone, DisabledAt: &now, CreatedAt: now, UpdatedAt: now}
	bad := newForm(webhookFields(false)...)
	bad.Set("url", "http://crm.uni.example/hook")
	bad.Set("form_key", "console-0123")
	bad.AddError("url", "must be https (http only where webhooks.allow_http is set)")
	bad.AddError("events", "needs at least one type chosen, or All events")
	s := &Server{}
	attempts := []attemptRow{
		newAttemptRow(&model.WebhookAttempt{ID: "wha_1", EndpointID: disabled.ID, EventID: "evt_01m8yqk4a5mstqtdtptfpvmbxh", EventType: model.EventReferralCreated,
			Attempt: 3, At: now, Status: 410, DurationMS: 85, Response: `{"error": "this endpoint is gone, use https://new.uni.example/hook from now on"}`}),
		newAttemptRow(&model.WebhookAttempt{ID: "wha_2", EndpointID: disabled.ID, EventID: "evt_01m8yqk4a5mstqtdtptfpvmbxh", EventType: model.EventReferralCreated,
			Attempt: 2, At: now, DurationMS: 15000, Error: "timeout after 15s"}),
		newAttemptRow(&model.WebhookAttempt{ID: "wha_3", EndpointID: disabled.ID, EventID: "evt_01m8yqk4a5mstqtdtptfpvmbxj", EventType: model.EventAmbassadorCreated,
			Attempt: 1, At: now, Status: 204, DurationMS: 1240, Succeeded: true}),
	}
	failed := []*model.DeadLetter{{Plugin: model.WebhookConsumer(disabled.ID), EventID: "evt_01m8yqk4a5mstqtdtptfpvmbxk", EventType: model.EventCommissionApproved,
		Attempts: 11, LastError: "503 Service Unavailable", FailedAt: now}}
	return map[string]any{
		"webhooks": webhookListView{Docs: webhooksDocs, Next: "/console/webhooks?cursor=" + disabled.ID,
			Endpoints: []endpointView{newEndpointView(active), newEndpointView(failing), newEndpointView(disabled)}},
		"webhook_form":   s.webhookFormView(bad),
		"webhook_secret": webhookSecretView{Endpoint: active, Secret: "whsec_c2FtcGxlc2FtcGxlc2FtcGxlc2FtcGxlc2FtcGw=", Rotated: true, Until: now, Docs: webhooksDocs},
		"webhook": webhookView{Endpoint: newEndpointView(disabled), Attempts: attempts, Failed: failed, AttemptsFirst: true, FailedFirst: true,
			AttemptsNext: "/console/webhooks/" + disabled.ID + "?attempts=wha_3", Since: "2026-11-20", Docs: webhooksDocs},
	}
}

// secretRe finds a signing secret on a page.
var secretRe = regexp.MustCompile(`whsec_[A-Za-z0-9+/=]+`)

// secretOf is the signing secret a page shows, or "".
func secretOf(body string) string { return secretRe.FindString(html.UnescapeString(body)) }

// newEndpoint adds an endpoint through the console's form as the owner
// and returns it with the secret its page showed.
func (e *testEnv) newEndpoint(events ...string) (*model.WebhookEndpoint, string) {
	e.t.Helper()
	form := formOf("url", "https://crm.uni.example/hooks/referrald", "description", "CRM", "form_key", newFormKey())
	form["events"] = events
	res := e.post("/console/webhooks/new", e.owner, form)
	wantStatus(e.t, res, http.StatusOK)
	secret := secretOf(res.Body)
	page, err := e.st.FindWebhookEndpoints(context.Background(), model.ListOptions{})
	if err != nil || len(page.Data) == 0 || secret == "" {
		e.t.Fatalf("no endpoint or no secret after the form: %v\n%s", err, res.Body)
	}
	return page.Data[0], secret
}

// wantAudit fails the test unless the audit log of subject holds
// actions, newest first, each by the owner.
func (e *testEnv) wantAudit(subject string, actions ...string) {
	e.t.Helper()
	audit, err := e.st.FindAudit(context.Background(), model.AuditFilter{Subject: subject})
	if err != nil {
		e.t.Fatal(err)
	}
	var got []string
	for _, a := range audit.Data {
		if a.Actor.ID != e.owner.ID || a.Actor.Kind != model.ActorUser {
			e.t.Errorf("%s by %+v, want by the owner", a.Action, a.Actor)
		}
		got = append(got, a.Action)
	}
	if strings.Join(got, " ") != strings.Join(actions, " ") {
		e.t.Errorf("audit of %s: got %v, want %v", subject, got, actions)
	}
}

// An owner adds an endpoint and sees its secret once, on the answer to
// the form; the endpoint's page and the list do not show it, and the
// same form sent again makes nothing.
func TestWebhookCreate(t *testing.T) {
	e := newTestEnv(t)
	ctx := context.Background()
	res := e.get("/console/webhooks", e.owner)
	wantStatus(t, res, http.StatusOK)
	wantBody(t, res, "No webhook endpoints yet", `href="/console/webhooks/new"`, "docs/webhooks.md")
	res = e.get("/console/webhooks/new", e.owner)
	wantStatus(t, res, http.StatusOK)
	wantBody(t, res, "<legend>Events</legend>", `value="*"`, "All events (not scans)", `value="referral.created"`, `value="impression.created"`, "an https address")
	key := regexp.MustCompile(`name="form_key" value="([^"]+)"`).FindStringSubmatch(res.Body)
	if key == nil {
		t.Fatal("the form has no key")
	}

	form := formOf("url", " https://crm.uni.example/hooks/referrald ", "description", "CRM: new signups", "form_key", key[1],
		"events", "referral.created", "events", "commission.approved")
	res = e.post("/console/webhooks/new", e.owner, form)
	wantStatus(t, res, http.StatusOK)
	if cc := res.Header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("the secret's page: Cache-Control %q, want no-store", cc)
	}
	if loc := res.location(); loc != "" {
		t.Errorf("the secret's page redirects to %q", loc)
	}
	secret := secretOf(res.Body)
	wantBody(t, res, "only time it is shown", "webhook-signature", "docs/webhooks.md", `data-copy="secret"`)
	page, err := e.st.FindWebhookEndpoints(ctx, model.ListOptions{})
	if err != nil || len(page.Data) != 1 {
		t.Fatalf("endpoints after the form: %+v %v", page.Data, err)
	}
	ep := page.Data[0]
	if ep.URL != "https://crm.uni.example/hooks/referrald" || strings.Join(ep.Events, " ") != "referral.created commission.approved" ||
		ep.Description != "CRM: new signups" {
		t.Errorf("endpoint %+v", ep)
	}
	if secrets, _ := e.st.WebhookSecrets(ctx, ep.ID); len(secrets) != 1 || secrets[0] != secret {
		t.Fatalf("the page showed %q, the store signs with %v", secret, secrets)
	}

	// The page after shows no secret.
	for _, path := range []string{"/console/webhooks/" + ep.ID, "/console/webhooks"} {
		res = e.get(path, e.owner)
		wantStatus(t, res, http.StatusOK)
		wantBody(t, res, "https://crm.uni.example/hooks/referrald", "Active", "<code>referral.created</code>")
		noBody(t, res, secret, "whsec_")
	}
	wantBody(t, e.get("/console/webhooks", e.owner), `href="/console/webhooks/`+ep.ID+`"`, "CRM: new signups")

	// The same form again (a reload) makes nothing and shows no secret.
	res = e.post("/console/webhooks/new", e.owner, form)
	wantStatus(t, res, http.StatusOK)
	wantBody(t, res, "This form was sent already")
	noBody(t, res, "whsec_")
	if page, _ := e.st.FindWebhookEndpoints(ctx, model.ListOptions{}); len(page.Data) != 1 {
		t.Errorf("a reload made %d endpoints", len(page.Data))
	}
	e.wantAudit(ep.ID, "webhook_endpoint.created")

	// All events, with scans named too.
	all, _ := e.newEndpoint("*", "impression.created")
	wantBody(t, e.get("/console/webhooks/"+all.ID, e.owner), "All events, and <code>impression.created</code>")
}

// The form shows the model's problems beside their inputs, with 422 and
// the values kept: an http URL where only https is allowed, no events.
func TestWebhookFormErrors(t *testing.T) {
	e := newTestEnv(t)
	res := e.post("/console/webhooks/new", e.owner, formOf("url", "http://crm.uni.example/hook", "description", "Kept", "form_key", newFormKey()))
	wantStatus(t, res, http.StatusUnprocessableEntity)
	wantBody(t, res, `id="f-url-error"`, "URL must be https", `id="f-events-error"`, "Events needs at least one type chosen",
		`href="#f-events"`, `id="f-events"`, "http://crm.uni.example/hook", ">Kept</textarea>")
	res = e.post("/console/webhooks/new", e.owner, formOf("url", "not a url", "events", "referral.created", "events", "nonsense", "form_key", newFormKey()))
	wantStatus(t, res, http.StatusUnprocessableEntity)
	wantBody(t, res, `id="f-url-error"`, `id="f-events-error"`, `value="referral.created" checked`)
	if page, _ := e.st.FindWebhookEndpoints(context.Background(), model.ListOptions{}); len(page.Data) != 0 {
		t.Fatalf("a bad form made %d endpoints", len(page.Data))
	}

	// Where webhooks.allow_http is set, an http URL is fine.
	e = newTestEnv(t, Config{WebhooksAllowHTTP: true})
	res = e.post("/console/webhooks/new", e.owner, formOf("url", "http://crm.internal/hook", "events", "*", "form_key", newFormKey()))
	wantStatus(t, res, http.StatusOK)
	wantBody(t, res, "whsec_")
	wantBody(t, e.get("/console/webhooks/new", e.owner), "an https or http address")
}

// Only owners see webhooks: the nav entry, the list, the form.
func TestWebhooksAreTheOwners(t *testing.T) {
	e := newTestEnv(t)
	wantBody(t, e.get("/console/", e.owner), `href="/console/webhooks"`)
	for _, u := range []*testUser{e.manager, e.viewer} {
		noBody(t, e.get("/console/", u), `href="/console/webhooks"`)
		wantStatus(t, e.get("/console/webhooks", u), http.StatusForbidden)
		wantStatus(t, e.post("/console/webhooks/new", u, formOf("url", "https://x.example", "events", "*")), http.StatusForbidden)
	}
	if page, _ := e.st.FindWebhookEndpoints(context.Background(), model.ListOptions{}); len(page.Data) != 0 {
		t.Fatalf("a manager or viewer made %d endpoints", len(page.Data))
	}
}

// Disable, enable, rotate the secret and delete: each changes the store,
// says so with a flash, and is in the audit log as the owner's.
func TestWebhookLifecycle(t *testing.T) {
	e := newTestEnv(t)
	ctx := context.Background()
	ep, secret := e.newEndpoint("*")
	page := "/console/webhooks/" + ep.ID

	res := e.post(page+"/disable", e.owner, nil)
	wantStatus(t, res, http.StatusSeeOther)
	res = e.follow(res, e.owner)
	wantBody(t, res, "The endpoint is disabled", "disabled by hand", page+"/enable")
	noBody(t, res, page+"/disable")
	if got, _ := e.st.FindWebhookEndpointByID(ctx, ep.ID); !got.Disabled || *got.DisabledReason != model.WebhookDisabledManually {
		t.Fatalf("after disable: %+v", got)
	}
	// A second click says it is done.
	wantBody(t, e.follow(e.post(page+"/disable", e.owner, nil), e.owner), "disabled already")
	res = e.follow(e.post(page+"/enable", e.owner, nil), e.owner)
	wantBody(t, res, "The endpoint is enabled", "Active", page+"/disable")
	if got, _ := e.st.FindWebhookEndpointByID(ctx, ep.ID); got.Disabled {
		t.Fatalf("after enable: %+v", got)
	}

	// Rotating asks first, then shows the new secret once; the old one
	// signs too for a day. The confirm page sent again rotates nothing.
	res = e.get(page+"/rotate", e.owner)
	wantStatus(t, res, http.StatusOK)
	wantBody(t, res, "Rotate the signing secret?", "24 hours")
	key := regexp.MustCompile(`name="form_key" value="([^"]+)"`).FindStringSubmatch(res.Body)
	if key == nil {
		t.Fatal("the rotate page has no form key")
	}
	res = e.post(page+"/rotate", e.owner, formOf("form_key", key[1]))
	wantStatus(t, res, http.StatusOK)
	if cc := res.Header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("the new secret's page: Cache-Control %q", cc)
	}
	rotated := secretOf(res.Body)
	wantBody(t, res, "New signing secret", "The old secret signs too until 21 Nov 2026, 15:00 UTC")
	if secrets, _ := e.st.WebhookSecrets(ctx, ep.ID); len(secrets) != 2 || secrets[0] != rotated || secrets[1] != secret {
		t.Fatalf("after rotation the page showed %q, the store signs with %v", rotated, secrets)
	}
	res = e.post(page+"/rotate", e.owner, formOf("form_key", key[1]))
	wantBody(t, res, "This form was sent already")
	noBody(t, res, "whsec_")
	if secrets, _ := e.st.WebhookSecrets(ctx, ep.ID); len(secrets) != 2 || secrets[0] != rotated || secrets[1] != secret {
		t.Fatalf("a reload rotated again: %v", secrets)
	}
	wantStatus(t, e.post(page+"/rotate", e.owner, nil), http.StatusBadRequest)

	// Deleting asks first.
	res = e.get(page+"/delete", e.owner)
	wantStatus(t, res, http.StatusOK)
	wantBody(t, res, "Delete the endpoint https://crm.uni.example/hooks/referrald?", "cannot be undone")
	res = e.post(page+"/delete", e.owner, nil)
	wantStatus(t, res, http.StatusSeeOther)
	if res.location() != "/console/webhooks" {
		t.Errorf("after delete: to %q", res.location())
	}
	wantBody(t, e.follow(res, e.owner), "is deleted", "No webhook endpoints yet")
	if _, err := e.st.FindWebhookEndpointByID(ctx, ep.ID); model.ErrorCode(err) != model.ENotFound {
		t.Fatalf("after delete: %v", err)
	}
	wantStatus(t, e.get(page, e.owner), http.StatusNotFound)
	wantStatus(t, e.post(page+"/disable", e.owner, nil), http.StatusNotFound)

	e.wantAudit(ep.ID, "webhook_endpoint.deleted", "webhook_endpoint.secret_rotated", "webhook_endpoint.updated",
		"webhook_endpoint.updated", "webhook_endpoint.created")
	// The audit log links its entries to the endpoint's page.
	wantBody(t, e.get("/console/audit?subject="+ep.ID, e.owner), `href="/console/webhooks/`+ep.ID+`"`)
}

// Failed messages are listed with a button each that queues one for
// delivery again, and a form that queues every one since a day.
func TestWebhookRetry(t *testing.T) {
	e := newTestEnv(t)
	ctx := context.Background()
	ep, _ := e.newEndpoint("*")
	consumer := model.WebhookConsumer(ep.ID)
	e.ambassador("Ada", "Lovelace", "ada@uni.example", "")
	e.ambassador("Grace", "Hopper", "grace@uni.example", "")
	events, err := e.st.FindEvents(ctx, "", 100)
	if err != nil || len(events) < 2 {
		t.Fatalf("events %v %v", events, err)
	}
	old, recent := events[len(events)-2], events[len(events)-1]
	for _, dl := range []model.DeadLetter{
		{Plugin: consumer, EventID: old.ID, EventType: old.Type, Attempts: 11, LastError: "503 Service Unavailable", FailedAt: model.NewTime(e.clock.Now().Add(-48 * time.Hour))},
		{Plugin: consumer, EventID: recent.ID, EventType: recent.Type, Attempts: 11, LastError: "connection refused", FailedAt: model.NewTime(e.clock.Now())},
	} {
		if err := e.st.DeadLetterHookEvent(ctx, dl); err != nil {
			t.Fatal(err)
		}
	}
	page := "/console/webhooks/" + ep.ID
	res := e.get(page, e.owner)
	wantStatus(t, res, http.StatusOK)
	wantBody(t, res, "Failed messages", old.ID, recent.ID, "503 Service Unavailable", "connection refused",
		`aria-label="Send `+old.Type+` `+old.ID+` again"`, `name="since" type="date" value="2026-11-18"`)

	res = e.post(page+"/retry", e.owner, formOf("event_id", strings.ToUpper(old.ID)))
	wantStatus(t, res, http.StatusSeeOther)
	wantBody(t, e.follow(res, e.owner), "queued to be sent again")
	if ev, err := e.st.NextHookRetry(ctx, consumer); err != nil || ev == nil || ev.ID != old.ID {
		t.Fatalf("next retry %+v %v, want %s", ev, err, old.ID)
	}
	wantBody(t, e.follow(e.post(page+"/retry", e.owner, formOf("event_id", old.ID)), e.owner), "no longer failed")
	wantStatus(t, e.post(page+"/retry", e.owner, formOf("event_id", "nonsense")), http.StatusBadRequest)

	// Since a day: none since tomorrow, the recent one since today.
	wantBody(t, e.follow(e.post(page+"/recover", e.owner, formOf("since", "2026-11-21")), e.owner), "No message has failed since 21 Nov 2026")
	wantStatus(t, e.post(page+"/recover", e.owner, formOf("since", "")), http.StatusBadRequest)
	res = e.post(page+"/recover", e.owner, formOf("since", "2026-11-20"))
	wantStatus(t, res, http.StatusSeeOther)
	res = e.follow(res, e.owner)
	wantBody(t, res, "1 message is queued to be sent again", "None: every message has been taken")
	if dl, _ := e.st.FindFailedWebhookMessages(ctx, ep.ID, model.ListOptions{}); len(dl.Data) != 0 {
		t.Errorf("failed messages left: %+v", dl.Data)
	}
	e.wantAudit(ep.ID, "webhook_endpoint.recovered", "webhook_endpoint.created")
	audit, _ := e.st.FindAudit(ctx, model.AuditFilter{Subject: consumer})
	if len(audit.Data) != 1 || audit.Data[0].Action != "hook.retried" || audit.Data[0].Actor.ID != e.owner.ID {
		t.Errorf("audit of the single retry: %+v", audit.Data)
	}
	// Its entry links to the endpoint, not to a hook plugin.
	if got := subjectPath(audit.Data[0], true); got != page {
		t.Errorf("the retry's entry links to %q, want %q", got, page)
	}
}

// An endpoint that the delivery disabled says why and what to do; its
// attempts show status, error, duration and the answer.
func TestWebhookDisabledReason(t *testing.T) {
	e := newTestEnv(t)
	ctx := context.Background()
	ep, _ := e.newEndpoint("*")
	e.ambassador("Ada", "Lovelace", "ada@uni.example", "")
	events, _ := e.st.FindEvents(ctx, "", 100)
	ev := events[len(events)-1]

	failing := *ep
	since := model.NewTime(e.clock.Now())
	failing.FailingSince = &since
	if err := e.st.RecordWebhookAttempt(ctx, model.WebhookAttempt{EndpointID: ep.ID, EventID: ev.ID, EventType: ev.Type, Attempt: 1,
		At: since, DurationMS: 15000, Error: "timeout after 15s"}, &failing, &model.WebhookProgress{EventID: ev.ID, Attempts: 1}); err != nil {
		t.Fatal(err)
	}
	page := "/console/webhooks/" + ep.ID
	wantBody(t, e.get(page, e.owner), "Failing since 20 Nov 2026, 15:00 UTC", "timeout after 15s", "15.0 s", "No answer")
	wantBody(t, e.get("/console/webhooks", e.owner), "Failing since")

	gone := failing
	gone.Disable(model.WebhookDisabledGone, e.clock.Now())
	if err := e.st.RecordWebhookAttempt(ctx, model.WebhookAttempt{EndpointID: ep.ID, EventID: ev.ID, EventType: ev.Type, Attempt: 2,
		At: since, Status: 410, DurationMS: 85, Response: "<p>This hook is gone for good</p>"}, &gone, nil); err != nil {
		t.Fatal(err)
	}
	res := e.get(page, e.owner)
	wantBody(t, res, "answered 410 Gone", "no longer exists", ">410</span>", "85 ms",
		"<summary>&lt;p&gt;This hook is gone for good&lt;/p&gt;</summary>", page+"/enable")
	wantBody(t, e.get("/console/webhooks", e.owner), "Disabled", "answered 410 Gone")

	failed := *ep
	failed.Disable(model.WebhookDisabledFailing, e.clock.Now())
	if _, err := e.st.UpdateWebhookEndpoint(ctx, ep.ID, model.WebhookEndpointUpdate{Disabled: new(false)}); err != nil {
		t.Fatal(err)
	}
	if err := e.st.RecordWebhookAttempt(ctx, model.WebhookAttempt{EndpointID: ep.ID, EventID: ev.ID, EventType: ev.Type, Attempt: 3,
		At: since, Status: 500}, &failed, nil); err != nil {
		t.Fatal(err)
	}
	wantBody(t, e.get(page, e.owner), "failing for 5 days", "Fix the receiver")
}

// An answer's preview is its first characters, on one line.
func TestAttemptPreview(t *testing.T) {
	long := strings.Repeat("é", previewRunes+5)
	for _, c := range []struct{ response, want string }{
		{"", ""},
		{"ok", "ok"},
		{"{\n  \"a\": 1\n}", `{ "a": 1 }`},
		{long, strings.Repeat("é", previewRunes) + "…"},
	} {
		if got := newAttemptRow(&model.WebhookAttempt{Response: c.response}).Preview; got != c.want {
			t.Errorf("preview of %q: got %q, want %q", c.response, got, c.want)
		}
	}
	for ms, want := range map[int64]string{0: "0 ms", 999: "999 ms", 1000: "1.0 s", 15000: "15.0 s"} {
		if got := formatMS(ms); got != want {
			t.Errorf("formatMS(%d): got %q, want %q", ms, got, want)
		}
	}
}
