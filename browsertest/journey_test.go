package browsertest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// The whole program, as a program manager runs it in the console, with
// only the poster's scan and the shop's signup and purchase coming from
// outside: each change shows where it should, and the audit log names
// the manager for each.

var journeyManager = user{Email: "lead@campus.example", Password: "the program lead's passphrase", Role: "manager"}

func TestConsoleJourney(t *testing.T) {
	srv := startServer(t, withUser(journeyManager))
	b := newBrowser(t)
	b.signIn(srv, journeyManager)

	// A program, an ambassador and a poster, made in the console.
	b.open(srv.URL + "/console/programs/new")
	b.fill("#f-name", "Autumn term")
	b.fill("#f-landing_url", "https://shop.example/join")
	b.click("#ct-flat")
	b.fill("#f-commission-currency", "EUR")
	b.fill("#f-commission-amount", "4.00")
	if status := b.submit("main form button[type=submit]"); status != http.StatusOK {
		t.Fatalf("create the program: got %d at %s", status, b.location())
	}
	program := lastSegment(b.location())

	b.open(srv.URL + "/console/ambassadors/new")
	b.fill("#f-first_name", "Noor")
	b.fill("#f-last_name", "Haddad")
	b.fill("#f-email", "noor@campus.example")
	if status := b.submit("main form button[type=submit]"); status != http.StatusOK {
		t.Fatalf("add the ambassador: got %d at %s", status, b.location())
	}
	ambassador := lastSegment(b.location())

	b.submit("a[href='/console/ambassadors/" + ambassador + "/placements/new']")
	b.fill("#f-program_id", program)
	b.fill("#f-label", "Student union noticeboard")
	if status := b.submit("main form button[type=submit]"); status != http.StatusOK {
		t.Fatalf("create the poster: got %d at %s", status, b.location())
	}
	placement := lastSegment(b.location())
	if pdf := b.download("a[href$='/poster.pdf?paper=a4']"); !bytes.HasPrefix(pdf, []byte("%PDF")) {
		t.Fatalf("the poster download starts %q, want %%PDF", pdf[:min(8, len(pdf))])
	}

	// A phone scans the poster; the shop signs the person up and, later,
	// records their purchase.
	var plc struct{ Code string }
	json.Unmarshal(srv.api(t, http.StatusOK, "GET", "/v1/placements/"+placement, ""), &plc)
	var shopKey struct{ Token string }
	json.Unmarshal(srv.api(t, http.StatusCreated, "POST", "/v1/keys", `{"name": "shop", "scope": "write"}`), &shopKey)
	impression := scan(t, srv.URL+"/s/"+plc.Code)
	referral := apiID(t, shop(t, srv, shopKey.Token, "/v1/referrals",
		fmt.Sprintf(`{"impression_id": %q, "first_name": "Sam", "last_name": "Okafor", "email": "sam@mail.example"}`, impression)))

	b.open(srv.URL + "/console/?program=" + program)
	if got := strings.Join(strings.Fields(b.text("#funnel-title + .stats")), " "); !strings.Contains(got, "Scans 1 ") || !strings.Contains(got, "Signups 1 ") {
		t.Errorf("the overview's funnel after a scan and a signup: %q", got)
	}
	b.screenshot("journey-overview")

	shop(t, srv, shopKey.Token, "/v1/earnings", fmt.Sprintf(`{"referral_id": %q, "amount": 3500, "currency": "EUR"}`, referral))

	// The commission, approved from the queue, then paid.
	b.open(srv.URL + "/console/money/commissions")
	if n := b.count("main table tbody tr"); n != 1 {
		t.Fatalf("the queue shows %d commissions, want 1", n)
	}
	b.click("main table tbody tr:first-child input[type=checkbox]")
	b.submit(".select-actions button[type=submit]")
	if got := b.text(".flash"); !strings.Contains(got, "1 commission approved") {
		t.Errorf("after approving: flash %q", got)
	}
	b.open(srv.URL + "/console/money/balances")
	b.submit("main table a.button[href*='/console/money/payouts/new']")
	b.fill("#f-external_reference", "Bank transfer 0042")
	if status := b.submit("form[action='/console/money/payouts/new'] button[type=submit]"); status != http.StatusOK {
		t.Fatalf("record the payout: got %d at %s", status, b.location())
	}
	if got := b.text(".flash"); !strings.Contains(got, "Payout recorded: EUR 4.00 for 1 commission") {
		t.Errorf("after the payout: flash %q", got)
	}
	var balance struct {
		Balances []struct {
			Currency       string
			Approved, Paid int64
		}
	}
	json.Unmarshal(srv.api(t, http.StatusOK, "GET", "/v1/ambassadors/"+ambassador+"/balance", ""), &balance)
	if bal := balance.Balances; len(bal) != 1 || bal[0].Currency != "EUR" || bal[0].Paid != 400 || bal[0].Approved != 0 {
		t.Errorf("the ambassador's balance after the payout: %+v, want EUR 400 paid and nothing approved left", bal)
	}

	// An export of the referrals, in the manager's session.
	b.open(srv.URL + "/console/referrals?program=" + program)
	if csv := string(b.downloadLink("a[download]")); !strings.Contains(csv, referral+",") {
		t.Errorf("the referrals export does not list %s: %q", referral, csv)
	}

	// The audit log names the manager for every change made in the
	// console, and has none of the shop's write-scope key.
	b.open(srv.URL + "/console/audit")
	log := b.text("main table tbody")
	for _, want := range []string{"program.created", "ambassador.created", "placement.created", "commission.approved", "payout.created"} {
		if !strings.Contains(log, want) {
			t.Errorf("the audit log lacks %s:\n%s", want, log)
		}
	}
	if n := strings.Count(log, journeyManager.Email); n < 5 {
		t.Errorf("the audit log names the manager %d times, want one for each of 5 changes:\n%s", n, log)
	}
	if strings.Contains(log, "referral.created") || strings.Contains(log, "earning.created") {
		t.Errorf("the shop's write-scope changes are in the audit log:\n%s", log)
	}
	b.screenshot("journey-audit")
}

// shop posts body to path with a write-scope key's token, as a shop's
// backend would, and returns the created record.
func shop(t *testing.T, srv *server, token, path, body string) []byte {
	t.Helper()
	req, _ := http.NewRequest("POST", srv.URL+path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if res.StatusCode != http.StatusCreated {
		t.Fatalf("POST %s: got %d %s, want 201", path, res.StatusCode, b)
	}
	return b
}

// scan opens a poster's scan URL as a phone would, without following
// the redirect, and returns the impression the landing page is given.
func scan(t *testing.T, scanURL string) string {
	t.Helper()
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	req, _ := http.NewRequest("GET", scanURL, nil)
	req.Header.Set("User-Agent", "Mozilla/5.0 (iPhone; CPU iPhone OS 18_0 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148")
	res, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	loc, err := url.Parse(res.Header.Get("Location"))
	if res.StatusCode != http.StatusFound && res.StatusCode != http.StatusSeeOther || err != nil || loc.Query().Get("imp") == "" {
		t.Fatalf("the scan answered %d, Location %q; want a redirect carrying imp=", res.StatusCode, res.Header.Get("Location"))
	}
	return loc.Query().Get("imp")
}

func lastSegment(u string) string { return u[strings.LastIndex(u, "/")+1:] }
