package console

import (
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/referrald/referrald/model"
)

// Webhook endpoints: the URLs referrald POSTs its events to, as the
// API's /v1/webhook_endpoints routes manage them. The list, the form
// that adds one, its page (state, recent attempts, failed messages and
// sending them again), and disabling, enabling, rotating the secret and
// deleting. Owners only: an endpoint receives every ambassador's and
// referral's data, so adding one is as much as an admin API key.
//
// A signing secret is shown as a key's token is (keys.go): once, in the
// answer to the POST that made it, never in a URL, a flash or a log
// line. The form's key, taken once, keeps a reload of that answer from
// making a second endpoint or rotating the secret again, which would
// end the old secret's 24 hours at once.

// webhooksDocs is where the users' guide to webhooks is; the console
// names it in words, as it cannot link to a file of the repository.
const webhooksDocs = "docs/webhooks.md"

// webhookFields are the endpoint form's inputs; the URL's hint says
// whether it must be https, as webhooks.allow_http decides.
func webhookFields(allowHTTP bool) []*field {
	hint := "Where referrald POSTs each event: an https address of your CRM or app that takes them."
	if allowHTTP {
		hint = "Where referrald POSTs each event: an https or http address of your CRM or app that takes them."
	}
	return []*field{
		{Name: "url", Label: "URL", Type: "url", Required: true, Hint: hint,
			Attrs: map[string]string{"spellcheck": "false", "autocapitalize": "off", "inputmode": "url"}},
		{Name: "events", Label: "Events",
			Messages: map[string]string{model.FRequired: "needs at least one type chosen, or All events"}},
		{Name: "description", Label: "Description", Type: "textarea",
			Hint:  "Optional: what receives the events, so the next person knows, such as “CRM: new signups”.",
			Attrs: map[string]string{"maxlength": strconv.Itoa(model.MaxWebhookDescriptionLen)}},
		{Name: "form_key", Label: "Form"},
	}
}

// webhookEvent is one event type the form offers.
type webhookEvent struct {
	Type, Hint string
}

// webhookEventHints say in words when each event type happens.
var webhookEventHints = map[string]string{
	model.EventAmbassadorCreated:     "an ambassador is added",
	model.EventImpressionCreated:     "a poster or link is scanned: one per scan, so many",
	model.EventReferralCreated:       "someone signs up through an ambassador",
	model.EventReferralStatusChanged: "a referral converts or is rejected",
	model.EventReferralErased:        "a referral’s personal data is erased",
	model.EventEarningCreated:        "a purchase is recorded",
	model.EventEarningRefunded:       "a purchase is refunded",
	model.EventCommissionCreated:     "a commission is earned",
	model.EventCommissionApproved:    "a commission is approved for payment",
	model.EventCommissionPaid:        "a commission is paid out",
	model.EventPayoutCreated:         "a payout is recorded",
}

// webhookEvents are the types the form offers, in the model's order.
func webhookEvents() []webhookEvent {
	out := make([]webhookEvent, 0, len(model.WebhookEventTypes))
	for _, t := range model.WebhookEventTypes {
		out = append(out, webhookEvent{Type: t, Hint: webhookEventHints[t]})
	}
	return out
}

// webhookService is the service, or not_found where webhooks are not
// served (a console built without them).
func (s *Server) webhookService() (model.WebhookService, error) {
	if s.svc.Webhooks == nil {
		return nil, model.Errorf(model.ENotFound, "Webhooks are not served here.")
	}
	return s.svc.Webhooks, nil
}

// endpointView is an endpoint as the pages show it: its state in words.
type endpointView struct {
	*model.WebhookEndpoint
	// All is set when it subscribes to every type but scans; Named are
	// the types it names, besides.
	All   bool
	Named []string
	// Reason says why it is disabled, Advice what to do about it.
	Reason, Advice string
	// Badge is the class of its state's badge, Notice of the notice
	// that says why it is disabled.
	Badge, Notice string
}

func newEndpointView(e *model.WebhookEndpoint) endpointView {
	v := endpointView{WebhookEndpoint: e}
	for _, t := range e.Events {
		if t == model.WebhookEventAll {
			v.All = true
		} else {
			v.Named = append(v.Named, t)
		}
	}
	switch {
	case e.Disabled:
		v.Badge, v.Notice = "badge-danger", "notice-danger"
	case e.FailingSince != nil:
		v.Badge = "badge-warning"
		return v
	default:
		v.Badge = "badge-success"
		return v
	}
	reason := model.WebhookDisabledManually
	if e.DisabledReason != nil {
		reason = *e.DisabledReason
	}
	switch reason {
	case model.WebhookDisabledGone:
		v.Reason = "answered 410 Gone"
		v.Advice = "The receiver answered 410 Gone, which says the endpoint no longer exists, so referrald stopped at once. " +
			"If it does exist, fix the receiver and enable the endpoint; if it moved, add the new URL and delete this one."
	case model.WebhookDisabledFailing:
		v.Reason = "failing for 5 days"
		v.Advice = "Every attempt failed for 5 days, so referrald stopped sending. The attempts below say what went wrong. " +
			"Fix the receiver, then enable the endpoint: within 7 days of stopping, delivery resumes where it stopped."
	default:
		v.Badge, v.Notice = "badge-muted", "notice-warning"
		v.Reason = "disabled by hand"
		v.Advice = "Someone disabled it. Enable it to send events again: within 7 days, delivery resumes where it stopped."
	}
	return v
}

type webhookListView struct {
	Endpoints []endpointView
	Next      string
	Docs      string
}

// handleWebhookList serves GET /console/webhooks?cursor=: every
// endpoint, newest first.
func (s *Server) handleWebhookList(w http.ResponseWriter, r *http.Request) error {
	svc, err := s.webhookService()
	if err != nil {
		return err
	}
	opt := model.ListOptions{Limit: 50, Cursor: r.URL.Query().Get("cursor")}
	page, err := svc.FindWebhookEndpoints(r.Context(), opt)
	if model.ErrorCode(err) == model.EValidation { // a cursor from elsewhere
		opt.Cursor = ""
		page, err = svc.FindWebhookEndpoints(r.Context(), opt)
	}
	if err != nil {
		return err
	}
	v := webhookListView{Docs: webhooksDocs}
	for _, e := range page.Data {
		v.Endpoints = append(v.Endpoints, newEndpointView(e))
	}
	if page.HasMore && page.NextCursor != nil {
		v.Next = "/console/webhooks?cursor=" + *page.NextCursor
	}
	return s.render(w, r, http.StatusOK, "webhooks", v)
}

type webhookFormView struct {
	Form   *form
	Events []webhookEvent
	// Chosen are the event types checked, "*" among them.
	Chosen    map[string]bool
	AllowHTTP bool
	Docs      string
}

func (s *Server) webhookFormView(f *form) webhookFormView {
	chosen := map[string]bool{}
	for _, t := range f.values["events"] {
		chosen[t] = true
	}
	return webhookFormView{Form: f, Events: webhookEvents(), Chosen: chosen, AllowHTTP: s.cfg.WebhooksAllowHTTP, Docs: webhooksDocs}
}

// handleWebhookNew serves GET /console/webhooks/new.
func (s *Server) handleWebhookNew(w http.ResponseWriter, r *http.Request) error {
	if _, err := s.webhookService(); err != nil {
		return err
	}
	f := newForm(webhookFields(s.cfg.WebhooksAllowHTTP)...)
	f.Set("form_key", newFormKey())
	return s.render(w, r, http.StatusOK, "webhook_form", s.webhookFormView(f))
}

type webhookSecretView struct {
	Endpoint *model.WebhookEndpoint
	Secret   string
	// Rotated is set for a new secret of an endpoint that had one:
	// Until is when the old one stops signing.
	Rotated bool
	Until   model.Time
	// Again is set when the form had been sent already: the secret is
	// not shown again.
	Again bool
	Docs  string
}

// handleWebhookCreate serves POST /console/webhooks/new: it adds the
// endpoint and answers with its signing secret, the only time anyone
// sees it.
func (s *Server) handleWebhookCreate(w http.ResponseWriter, r *http.Request) error {
	svc, err := s.webhookService()
	if err != nil {
		return err
	}
	f := newForm(webhookFields(s.cfg.WebhooksAllowHTTP)...).read(r)
	in := model.WebhookEndpointCreate{URL: f.Get("url"), Events: f.values["events"], Description: f.Get("description")}
	f.fromError(in.Validate(s.cfg.WebhooksAllowHTTP).Err())
	if f.HasErrors() {
		return s.renderForm(w, r, "webhook_form", s.webhookFormView(f))
	}
	once := userOf(r).ID + " " + f.Get("form_key")
	if model.ValidIdempotencyKey(f.Get("form_key")) && !s.webhookForms.take(once, s.now()) {
		return s.render(w, r, http.StatusOK, "webhook_secret", webhookSecretView{Again: true, Docs: webhooksDocs})
	}
	e, secret, err := svc.CreateWebhookEndpoint(r.Context(), in)
	if f.fromError(err) {
		s.webhookForms.forget(once)
		return s.renderForm(w, r, "webhook_form", s.webhookFormView(f))
	} else if err != nil {
		s.webhookForms.forget(once)
		return err
	}
	// render sets Cache-Control: no-store, so neither the browser nor a
	// proxy keeps this page.
	return s.render(w, r, http.StatusOK, "webhook_secret", webhookSecretView{Endpoint: e, Secret: secret, Docs: webhooksDocs})
}

// attemptsShown is how many attempts, and failed messages, a page of an
// endpoint lists.
const attemptsShown = 50

// attemptRow is one attempt as the page shows it.
type attemptRow struct {
	*model.WebhookAttempt
	// Took is its duration in words; Preview the answer's first
	// characters, for the summary of the whole of what was kept.
	Took, Preview string
}

// previewRunes is how many characters of an answer the summary shows.
const previewRunes = 40

func newAttemptRow(a *model.WebhookAttempt) attemptRow {
	row := attemptRow{WebhookAttempt: a, Took: formatMS(a.DurationMS)}
	p := strings.Join(strings.Fields(a.Response), " ")
	if utf8.RuneCountInString(p) > previewRunes {
		p = string([]rune(p)[:previewRunes]) + "…"
	}
	row.Preview = p
	return row
}

// formatMS shows a duration of ms milliseconds: "85 ms", "2.4 s".
func formatMS(ms int64) string {
	if ms < 1000 {
		return strconv.FormatInt(ms, 10) + " ms"
	}
	return strconv.FormatFloat(float64(ms)/1000, 'f', 1, 64) + " s"
}

type webhookView struct {
	Endpoint endpointView
	Attempts []attemptRow
	// AttemptsNext and FailedNext are the next pages of each list;
	// AttemptsFirst and FailedFirst are false on a later page.
	AttemptsNext, FailedNext   string
	AttemptsFirst, FailedFirst bool
	Failed                     []*model.DeadLetter
	// Since is the recover form's date: the day of the oldest failed
	// message listed.
	Since string
	Docs  string
}

// handleWebhookGet serves GET
// /console/webhooks/{id}?attempts=&failed=: the endpoint, its newest
// attempts and its failed messages, each list with a cursor of its own.
func (s *Server) handleWebhookGet(w http.ResponseWriter, r *http.Request) error {
	svc, err := s.webhookService()
	if err != nil {
		return err
	}
	e, err := svc.FindWebhookEndpointByID(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	q := r.URL.Query()
	aopt := model.ListOptions{Limit: attemptsShown, Cursor: q.Get("attempts")}
	attempts, err := svc.FindWebhookAttempts(r.Context(), e.ID, "", aopt)
	if model.ErrorCode(err) == model.EValidation { // a cursor from elsewhere
		aopt.Cursor = ""
		attempts, err = svc.FindWebhookAttempts(r.Context(), e.ID, "", aopt)
	}
	if err != nil {
		return err
	}
	fopt := model.ListOptions{Limit: attemptsShown, Cursor: q.Get("failed")}
	failed, err := svc.FindFailedWebhookMessages(r.Context(), e.ID, fopt)
	if model.ErrorCode(err) == model.EValidation {
		fopt.Cursor = ""
		failed, err = svc.FindFailedWebhookMessages(r.Context(), e.ID, fopt)
	}
	if err != nil {
		return err
	}
	v := webhookView{Endpoint: newEndpointView(e), Failed: failed.Data, Docs: webhooksDocs,
		AttemptsFirst: aopt.Cursor == "", FailedFirst: fopt.Cursor == ""}
	for _, a := range attempts.Data {
		v.Attempts = append(v.Attempts, newAttemptRow(a))
	}
	base := "/console/webhooks/" + e.ID
	if attempts.HasMore && attempts.NextCursor != nil {
		v.AttemptsNext = base + "?attempts=" + *attempts.NextCursor + "#attempts-title"
	}
	if failed.HasMore && failed.NextCursor != nil {
		v.FailedNext = base + "?failed=" + *failed.NextCursor + "#failed-title"
	}
	if len(failed.Data) > 0 {
		oldest := slices.MinFunc(failed.Data, func(a, b *model.DeadLetter) int { return a.FailedAt.Compare(b.FailedAt.Time) })
		v.Since = dateValue(oldest.FailedAt.Time)
	}
	return s.render(w, r, http.StatusOK, "webhook", v)
}

// setDisabled serves the disable and enable buttons.
func (s *Server) setDisabled(w http.ResponseWriter, r *http.Request, disabled bool) error {
	svc, err := s.webhookService()
	if err != nil {
		return err
	}
	e, err := svc.FindWebhookEndpointByID(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	back := "/console/webhooks/" + e.ID
	if e.Disabled == disabled {
		s.setFlash(w, r, flashInfo, "The endpoint is "+map[bool]string{true: "disabled", false: "enabled"}[disabled]+" already.")
		return s.redirect(w, r, back, "")
	}
	if _, err := svc.UpdateWebhookEndpoint(r.Context(), e.ID, model.WebhookEndpointUpdate{Disabled: &disabled}); err != nil {
		return err
	}
	if disabled {
		return s.redirect(w, r, back, "The endpoint is disabled: nothing is sent to it until it is enabled again.")
	}
	return s.redirect(w, r, back, "The endpoint is enabled: delivery resumes where it stopped.")
}

// handleWebhookDisable serves POST /console/webhooks/{id}/disable.
func (s *Server) handleWebhookDisable(w http.ResponseWriter, r *http.Request) error {
	return s.setDisabled(w, r, true)
}

// handleWebhookEnable serves POST /console/webhooks/{id}/enable.
func (s *Server) handleWebhookEnable(w http.ResponseWriter, r *http.Request) error {
	return s.setDisabled(w, r, false)
}

// handleWebhookRotateConfirm serves GET /console/webhooks/{id}/rotate:
// what rotating does, and the button that does it, with the key that
// makes the rotation happen once.
func (s *Server) handleWebhookRotateConfirm(w http.ResponseWriter, r *http.Request) error {
	svc, err := s.webhookService()
	if err != nil {
		return err
	}
	e, err := svc.FindWebhookEndpointByID(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	return s.render(w, r, http.StatusOK, "ops_confirm", confirmView{
		Title:  "Rotate the signing secret?",
		Back:   "/console/webhooks/" + e.ID,
		Action: "/console/webhooks/" + e.ID + "/rotate", Button: "Make a new secret",
		Fields: map[string]string{"form_key": newFormKey()},
		Lines: []string{
			"referrald makes a new secret for " + e.URL + " and shows it once, on the next page.",
			"For 24 hours each message is signed with both the new and the old secret, so your receiver goes on working while you give it the new one. After that, only the new one signs.",
		},
	})
}

// handleWebhookRotate serves POST /console/webhooks/{id}/rotate: it
// answers with the new secret, the only time anyone sees it.
func (s *Server) handleWebhookRotate(w http.ResponseWriter, r *http.Request) error {
	svc, err := s.webhookService()
	if err != nil {
		return err
	}
	e, err := svc.FindWebhookEndpointByID(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	if err := r.ParseForm(); err != nil {
		return model.Errorf(model.EValidation, "The form could not be read. Reload the page and try again.")
	}
	key := r.PostForm.Get("form_key")
	if !model.ValidIdempotencyKey(key) {
		// Without the confirm page's key a reload could rotate twice.
		return model.Errorf(model.EValidation, "Rotate the secret with the button of the endpoint's page.")
	}
	once := userOf(r).ID + " " + key
	if !s.webhookForms.take(once, s.now()) {
		return s.render(w, r, http.StatusOK, "webhook_secret", webhookSecretView{Endpoint: e, Rotated: true, Again: true, Docs: webhooksDocs})
	}
	secret, err := svc.RotateWebhookSecret(r.Context(), e.ID)
	if err != nil {
		s.webhookForms.forget(once)
		return err
	}
	return s.render(w, r, http.StatusOK, "webhook_secret", webhookSecretView{Endpoint: e, Secret: secret, Rotated: true,
		Until: model.NewTime(s.now().Add(model.WebhookSecretOverlap)), Docs: webhooksDocs})
}

// handleWebhookDeleteConfirm serves GET /console/webhooks/{id}/delete.
func (s *Server) handleWebhookDeleteConfirm(w http.ResponseWriter, r *http.Request) error {
	svc, err := s.webhookService()
	if err != nil {
		return err
	}
	e, err := svc.FindWebhookEndpointByID(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	return s.render(w, r, http.StatusOK, "ops_confirm", confirmView{
		Title:  "Delete the endpoint " + e.URL + "?",
		Back:   "/console/webhooks/" + e.ID,
		Action: "/console/webhooks/" + e.ID + "/delete", Button: "Delete the endpoint", Danger: true,
		Lines: []string{
			"referrald stops sending events to it, and forgets its secret, its attempts and its failed messages.",
			"This cannot be undone. To only stop deliveries for a while, disable it instead.",
		},
	})
}

// handleWebhookDelete serves POST /console/webhooks/{id}/delete.
func (s *Server) handleWebhookDelete(w http.ResponseWriter, r *http.Request) error {
	svc, err := s.webhookService()
	if err != nil {
		return err
	}
	e, err := svc.FindWebhookEndpointByID(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	if err := svc.DeleteWebhookEndpoint(r.Context(), e.ID); err != nil {
		return err
	}
	return s.redirect(w, r, "/console/webhooks", "The endpoint "+e.URL+" is deleted: nothing more is sent to it.")
}

// handleWebhookRetry serves POST /console/webhooks/{id}/retry: the
// failed message event_id is queued for delivery again, ahead of new
// events.
func (s *Server) handleWebhookRetry(w http.ResponseWriter, r *http.Request) error {
	svc, err := s.webhookService()
	if err != nil {
		return err
	}
	e, err := svc.FindWebhookEndpointByID(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	if err := r.ParseForm(); err != nil {
		return model.Errorf(model.EValidation, "The form could not be read. Reload the page and try again.")
	}
	key, ok := model.ParseID(model.PrefixEvent, strings.ToLower(r.PostForm.Get("event_id")))
	if !ok {
		return model.Errorf(model.EValidation, "That is not the ID of an event. Use the buttons of the failed messages list.")
	}
	back := "/console/webhooks/" + e.ID
	err = svc.RetryWebhookMessage(r.Context(), e.ID, model.FormatID(model.PrefixEvent, key))
	switch {
	case model.ErrorCode(err) == model.ENotFound:
		// Sent again already, by a second click or another owner.
		s.setFlash(w, r, flashInfo, "That message is no longer failed: it has been sent again already.")
		return s.redirect(w, r, back, "")
	case err != nil:
		return err
	}
	return s.redirect(w, r, back, "The message is queued to be sent again, ahead of new events. If it fails again, it comes back to this list.")
}

// handleWebhookRecover serves POST /console/webhooks/{id}/recover: every
// message that failed on or after the date since (UTC) is queued for
// delivery again.
func (s *Server) handleWebhookRecover(w http.ResponseWriter, r *http.Request) error {
	svc, err := s.webhookService()
	if err != nil {
		return err
	}
	e, err := svc.FindWebhookEndpointByID(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	if err := r.ParseForm(); err != nil {
		return model.Errorf(model.EValidation, "The form could not be read. Reload the page and try again.")
	}
	since, err := time.Parse(time.DateOnly, r.PostForm.Get("since"))
	if err != nil {
		// An empty date sending everything again would be a nasty
		// surprise.
		return model.Errorf(model.EValidation, "Give the date from which failed messages are sent again, such as 2026-11-01.")
	}
	back := "/console/webhooks/" + e.ID
	n, err := svc.RetryWebhookMessages(r.Context(), e.ID, since)
	if err != nil {
		return err
	}
	day := formatDate(model.NewTime(since))
	if n == 0 {
		s.setFlash(w, r, flashInfo, "No message has failed since "+day+": nothing to send again.")
		return s.redirect(w, r, back, "")
	}
	what := "1 message is"
	if n != 1 {
		what = strconv.Itoa(n) + " messages are"
	}
	return s.redirect(w, r, back, what+" queued to be sent again, ahead of new events. One that fails again comes back to this list.")
}
