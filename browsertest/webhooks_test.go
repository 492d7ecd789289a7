package browsertest

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// The console's webhook pages, as an owner uses them: adding an endpoint
// and copying its signing secret from the one page that shows it, the
// endpoint's page, disabling it; and the list and an endpoint's page
// once an event it wants has happened.

var webhookOwner = user{Email: "webhook-owner@uni.example", Password: "a long and lovely passphrase", Role: "owner"}

func TestConsoleWebhooks(t *testing.T) {
	srv := startServer(t, withUser(webhookOwner))
	b := newBrowser(t)
	b.signIn(srv, webhookOwner)

	b.open(srv.URL + "/console/webhooks")
	if got := b.text(".empty-state"); !strings.Contains(got, "No webhook endpoints yet") {
		t.Errorf("no endpoints: %q", got)
	}
	b.screenshot("webhooks-empty")
	b.submit("a[href='/console/webhooks/new']")
	// An http URL, no events: both said beside their inputs.
	b.fill("#f-url", "http://crm.uni.example/hooks/referrald")
	if status := b.submit("main form button[type=submit]"); status != http.StatusUnprocessableEntity {
		t.Fatalf("a bad endpoint form: got %d, want 422", status)
	}
	if got := b.text("#f-url-error"); !strings.Contains(got, "must be https") {
		t.Errorf("the URL's error: %q", got)
	}
	if got := b.text("#f-events-error"); !strings.Contains(got, "at least one") {
		t.Errorf("the events' error: %q", got)
	}
	b.screenshot("webhook-form-errors")

	b.fill("#f-url", "https://crm.uni.example/hooks/referrald")
	b.click("#event-referral\\.created")
	b.click("#event-commission\\.approved")
	b.fill("#f-description", "CRM: new signups and approved commissions")
	if status := b.submit("main form button[type=submit]"); status != http.StatusOK {
		t.Fatalf("add the endpoint: got %d at %s", status, b.location())
	}
	if loc := b.location(); loc != srv.URL+"/console/webhooks/new" {
		t.Errorf("the secret's page is at %s, want the form's own address", loc)
	}
	secret := b.value("#secret")
	if !strings.HasPrefix(secret, "whsec_") {
		t.Fatalf("the secret's page shows %q", secret)
	}
	if got := b.text(".notice-warning"); !strings.Contains(got, "only time it is shown") {
		t.Errorf("the secret's warning: %q", got)
	}
	b.click("button[data-copy=secret]")
	run(b, "wait for the copy's answer", chromedp.Poll[bool](`document.querySelector("[data-copy-status]").textContent !== ""`))
	b.screenshot("webhook-secret")

	b.submit("main a.button-primary")
	if got := b.text("h1"); got != "https://crm.uni.example/hooks/referrald" {
		t.Errorf("the endpoint's page is headed %q", got)
	}
	if got := b.text("main"); strings.Contains(got, secret) || !strings.Contains(got, "Active") {
		t.Errorf("the endpoint's page: %q", got)
	}
	b.screenshot("webhook")
	if status := b.submit("form[action$='/disable'] button"); status != http.StatusOK {
		t.Fatalf("disable: got %d at %s", status, b.location())
	}
	if got := b.text(".flash"); !strings.Contains(got, "disabled") {
		t.Errorf("after disabling: flash %q", got)
	}
	if got := b.text(".page-header"); !strings.Contains(got, "disabled by hand") {
		t.Errorf("after disabling: %q", got)
	}
	if b.count("form[action$='/enable'] button") != 1 {
		t.Error("a disabled endpoint has no Enable button")
	}

	// A second endpoint, through the API, for every event; then a
	// referral. Until a delivery engine runs, no attempt is recorded:
	// the page shows what there is.
	other := apiID(t, srv.api(t, http.StatusCreated, "POST", "/v1/webhook_endpoints",
		`{"url": "https://app.uni.example/referrald/webhooks/receive", "events": ["*"], "description": "Our app"}`))
	prg := apiID(t, srv.api(t, http.StatusCreated, "POST", "/v1/programs", `{"name": "Spring", "landing_url": "https://example.com/join"}`))
	amb := apiID(t, srv.api(t, http.StatusCreated, "POST", "/v1/ambassadors", `{"first_name": "Ada", "last_name": "Lovelace", "email": "ada@uni.example"}`))
	imp := apiID(t, srv.api(t, http.StatusCreated, "POST", "/v1/impressions", fmt.Sprintf(`{"program_id": %q, "ambassador_id": %q}`, prg, amb)))
	srv.api(t, http.StatusCreated, "POST", "/v1/referrals", fmt.Sprintf(`{"impression_id": %q, "first_name": "Sam", "last_name": "Student", "email": "sam@example.com"}`, imp))

	b.open(srv.URL + "/console/webhooks")
	if got := b.count("table.webhooks tbody tr"); got != 2 {
		t.Errorf("the list shows %d endpoints, want 2", got)
	}
	if got := b.text("table.webhooks"); !strings.Contains(got, "All events") || !strings.Contains(got, "disabled by hand") {
		t.Errorf("the list: %q", got)
	}
	b.screenshot("webhooks")
	if status := b.open(srv.URL + "/console/webhooks/" + other); status != http.StatusOK {
		t.Fatalf("the API's endpoint: got %d", status)
	}
	b.screenshot("webhook-attempts")
}
