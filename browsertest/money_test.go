package browsertest

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	cdpbrowser "github.com/chromedp/cdproto/browser"
	"github.com/chromedp/chromedp"
)

// The referral and money pages, as a manager uses them: finding a
// flagged signup and rejecting it, approving a commission from the
// queue, recording a payout, downloading an export, and the leaderboard.

var moneyManager = user{Email: "manager@uni.example", Password: "a manager's long passphrase", Role: "manager"}

// moneyWorld is what setUpMoney made through the API.
type moneyWorld struct {
	program, ada, grace string
	// flagged is Grace's second signup of an email already referred.
	flagged string
}

// apiID is the id of the record an API answer holds.
func apiID(t *testing.T, b []byte) string {
	t.Helper()
	var v struct{ ID string }
	if err := json.Unmarshal(b, &v); err != nil || v.ID == "" {
		t.Fatalf("no id in %s", b)
	}
	return v.ID
}

// setUpMoney makes, through the server's API, a program that pays 5.00
// USD a purchase after a week's hold, two ambassadors with a poster
// each, their signups (one flagged) and purchases.
func setUpMoney(t *testing.T, srv *server) moneyWorld {
	t.Helper()
	var w moneyWorld
	w.program = apiID(t, srv.api(t, 201, "POST", "/v1/programs", `{"name": "Spring 2027 campus launch", "landing_url": "https://example.com/join",
		"hold_days": 7, "commission": {"type": "flat", "amount": 500, "currency": "USD"}}`))
	signup := func(amb, email string) string {
		imp := apiID(t, srv.api(t, 201, "POST", "/v1/impressions", fmt.Sprintf(`{"program_id": %q, "ambassador_id": %q}`, w.program, amb)))
		first, _, _ := strings.Cut(email, "@")
		return apiID(t, srv.api(t, 201, "POST", "/v1/referrals", fmt.Sprintf(`{"impression_id": %q, "first_name": %q, "last_name": "Student", "email": %q}`,
			imp, strings.ToUpper(first[:1])+first[1:], email)))
	}
	purchase := func(ref string, amount int) {
		srv.api(t, 201, "POST", "/v1/earnings", fmt.Sprintf(`{"referral_id": %q, "amount": %d, "currency": "USD"}`, ref, amount))
	}
	w.ada = apiID(t, srv.api(t, 201, "POST", "/v1/ambassadors", `{"first_name": "Ada", "last_name": "Lovelace", "email": "ada@uni.example", "school": "North campus"}`))
	w.grace = apiID(t, srv.api(t, 201, "POST", "/v1/ambassadors", `{"first_name": "Grace", "last_name": "Hopper", "email": "grace@uni.example"}`))
	for _, a := range []string{w.ada, w.grace} {
		srv.api(t, 201, "POST", "/v1/placements", fmt.Sprintf(`{"program_id": %q, "ambassador_id": %q, "label": "Library, 2nd floor"}`, w.program, a))
	}
	purchase(signup(w.ada, "maria@mail.example"), 2999)
	purchase(signup(w.ada, "jonas@mail.example"), 4500)
	signup(w.ada, "li@mail.example")
	purchase(signup(w.grace, "amira@mail.example"), 1999)
	w.flagged = signup(w.grace, "maria@mail.example")
	return w
}

func TestConsoleMoney(t *testing.T) {
	srv := startServer(t, withUser(moneyManager))
	w := setUpMoney(t, srv)
	b := newBrowser(t)
	b.signIn(srv, moneyManager)

	// Referrals: the flagged pending ones, then the one to reject.
	b.submit("#site-nav a[href='/console/referrals']")
	if n := b.count("main table tbody tr"); n != 5 {
		t.Errorf("the referral list shows %d rows, want 5", n)
	}
	b.screenshot("referrals")
	b.fill("#f-status", "pending")
	b.click("#f-flagged")
	if status := b.submit("form[aria-label='Filter referrals'] button[type=submit]"); status != http.StatusOK {
		t.Fatalf("filter: got %d", status)
	}
	if n := b.count("main table tbody tr"); n != 1 {
		t.Fatalf("pending and flagged: %d rows, want 1 at %s", n, b.location())
	}
	if got := b.text("main table tbody"); !strings.Contains(got, "Email already referred") || !strings.Contains(got, "Grace Hopper") {
		t.Errorf("the flagged row: %q", got)
	}
	b.submit("main table tbody th a")
	if loc := b.location(); !strings.HasSuffix(loc, "/console/referrals/"+w.flagged) {
		t.Fatalf("opened %s, want the flagged referral", loc)
	}
	if got := b.text("#flags-title + .flag-list"); !strings.Contains(got, "Someone with this email address had already signed up in this program.") {
		t.Errorf("why it was flagged: %q", got)
	}
	b.screenshot("referral")
	if status := b.submit("form[action$='/status'] button.button-danger-quiet"); status != http.StatusOK {
		t.Fatalf("reject: got %d at %s", status, b.location())
	}
	if got := b.text(".flash"); !strings.Contains(got, "Referral rejected") {
		t.Errorf("after rejecting: flash %q", got)
	}
	if got := b.text("h1"); !strings.Contains(got, "Rejected") {
		t.Errorf("after rejecting: heading %q", got)
	}

	// The queue: approve one commission early.
	b.submit("#site-nav a[href='/console/money/commissions']")
	if n := b.count("main table tbody tr"); n != 3 {
		t.Fatalf("the queue shows %d commissions, want 3", n)
	}
	b.screenshot("commission-queue")
	b.click("main table tbody tr:first-child input[type=checkbox]")
	if status := b.submit(".select-actions button[type=submit]"); status != http.StatusOK {
		t.Fatalf("approve: got %d at %s", status, b.location())
	}
	if got := b.text(".flash"); !strings.Contains(got, "1 commission approved") {
		t.Errorf("after approving: flash %q", got)
	}
	if n := b.count("main table tbody tr"); n != 2 {
		t.Errorf("the queue after approving: %d rows, want 2", n)
	}
	b.open(srv.URL + "/console/money/commissions?view=all&status=approved")
	b.submit("main table tbody th a")
	if got := b.text("#basis-title + .details"); !strings.Contains(got, "The program’s commission rule") || !strings.Contains(got, "USD 5.00 per purchase") {
		t.Errorf("how the commission was computed: %q", got)
	}
	b.screenshot("commission")

	// Balances, then a payout of what is approved, with a reference.
	b.submit("a[href='/console/money/commissions']")
	b.submit("nav.tabs a[href='/console/money/balances']")
	b.screenshot("balances")
	b.submit("main table a.button[href*='/console/money/payouts/new']")
	if got := b.text("#owed-title"); !strings.Contains(got, "Ada Lovelace") {
		t.Fatalf("the payout form is for %q, want Ada", got)
	}
	b.fill("#f-external_reference", "SEPA 2026-12-03 #4471")
	if status := b.submit("form[action='/console/money/payouts/new'] button[type=submit]"); status != http.StatusOK {
		t.Fatalf("record the payout: got %d at %s", status, b.location())
	}
	if got := b.text(".flash"); !strings.Contains(got, "Payout recorded: USD 5.00 for 1 commission") {
		t.Errorf("after the payout: flash %q", got)
	}
	b.screenshot("payout")
	b.submit("nav.breadcrumbs a[href='/console/money/payouts']")
	if got := b.text("main table"); !strings.Contains(got, "SEPA 2026-12-03 #4471") {
		t.Errorf("the payout list: %q", got)
	}
	b.screenshot("payouts")

	// An export, with the list's filters, downloaded in the session.
	b.open(srv.URL + "/console/referrals?status=rejected")
	href := run(b, "read the export link", chromedp.Evaluate[string](`document.querySelector("a[download]").href`))
	if !strings.HasSuffix(href, "/console/exports/referrals.csv?status=rejected") {
		t.Fatalf("the export link is %s", href)
	}
	csv := string(b.downloadLink("a[download]"))
	if lines := strings.Split(strings.TrimSpace(csv), "\n"); len(lines) != 2 || !strings.HasPrefix(lines[0], "id,created_at,status") ||
		!strings.HasPrefix(lines[1], w.flagged+",") || !strings.Contains(lines[1], "rejected") {
		t.Errorf("the export: %q", csv)
	}

	b.submit("#site-nav a[href='/console/leaderboard']")
	if got := b.text("main table tbody tr:first-child"); !strings.Contains(got, "Ada Lovelace") {
		t.Errorf("the leaderboard's first row: %q", got)
	}
	b.screenshot("leaderboard")
	b.open(srv.URL + "/console/money/earnings")
	b.screenshot("earnings")
}

// downloadLink clicks the link sel, which the browser saves as a file,
// and returns what it saved.
func (b *browser) downloadLink(sel string) []byte {
	b.t.Helper()
	dir := b.t.TempDir()
	ctx, cancel := context.WithTimeout(b.ctx, stepTimeout)
	defer cancel()
	progress := chromedp.Events(ctx, cdpbrowser.DownloadProgress)
	events := true
	err := chromedp.Do(ctx, chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
		_, err := chromedp.Call(ctx, cdpbrowser.SetDownloadBehavior, cdpbrowser.SetDownloadBehaviorParams{
			Behavior: cdpbrowser.SetDownloadBehaviorBehaviorAllowAndName, DownloadPath: dir, EventsEnabled: &events})
		return err
	}), chromedp.Click(chromedp.CSS(sel), chromedp.NodeVisible))
	if err != nil {
		b.t.Fatalf("download %s: %v (at %s)", sel, err, b.location())
	}
	for ev, err := range progress {
		if err != nil {
			b.t.Fatalf("download %s: %v", sel, err)
		}
		if ev.State == cdpbrowser.DownloadProgressStateCanceled {
			b.t.Fatalf("download %s: the browser cancelled it", sel)
		}
		if ev.State != cdpbrowser.DownloadProgressStateCompleted {
			continue
		}
		data, err := os.ReadFile(filepath.Join(dir, ev.GUID))
		if err != nil {
			b.t.Fatalf("download %s: %v", sel, err)
		}
		return data
	}
	b.t.Fatalf("download %s: no download completed", sel)
	return nil
}
