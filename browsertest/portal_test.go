package browsertest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
)

// An ambassador opens the sign-in link their program manager made, is
// greeted by name, walks through their posters, sign-ups, earnings and
// payouts, and changes their school, all on a phone-sized page as on a
// desktop one.
func TestPortalAmbassadorJourney(t *testing.T) {
	// Email is configured (nothing listens there: no email is sent in
	// this test), so the login page asks for an address.
	srv := startServer(t, withEnv("REFERRALD_EMAIL_SMTP_HOST=127.0.0.1", "REFERRALD_EMAIL_SMTP_FROM=ambassadors@uni.example"))

	program := apiID(t, srv.api(t, 201, "POST", "/v1/programs", `{"name": "Spring 2027 campus launch", "landing_url": "https://example.com/join",
		"commission": {"type": "percent", "basis_points": 1000}, "hold_days": 14}`))
	ada := apiID(t, srv.api(t, 201, "POST", "/v1/ambassadors", `{"first_name": "Ada", "last_name": "Lovelace", "email": "ada@uni.example", "school": "North campus"}`))
	grace := apiID(t, srv.api(t, 201, "POST", "/v1/ambassadors", `{"first_name": "Grace", "last_name": "Hopper", "email": "grace@uni.example"}`))
	library := apiID(t, srv.api(t, 201, "POST", "/v1/placements", fmt.Sprintf(`{"program_id": %q, "ambassador_id": %q, "label": "Library, 2nd floor"}`, program, ada)))
	apiID(t, srv.api(t, 201, "POST", "/v1/placements", fmt.Sprintf(`{"program_id": %q, "ambassador_id": %q, "label": "Cafeteria door"}`, program, ada)))
	gym := apiID(t, srv.api(t, 201, "POST", "/v1/placements", fmt.Sprintf(`{"program_id": %q, "ambassador_id": %q, "label": "Gym noticeboard"}`, program, grace)))

	// Scans of Ada's library poster, three sign-ups, two purchases; one
	// commission approved and paid, one still pending.
	signup := func(placement, first, last string) string {
		imp := apiID(t, srv.api(t, 201, "POST", "/v1/impressions", fmt.Sprintf(`{"placement_id": %q, "user_agent": "Mozilla/5.0 (iPhone)"}`, placement)))
		return apiID(t, srv.api(t, 201, "POST", "/v1/referrals", fmt.Sprintf(`{"impression_id": %q, "first_name": %q, "last_name": %q, "email": "%s.%s@mail.example"}`,
			imp, first, last, strings.ToLower(first), strings.ToLower(last))))
	}
	for range 4 {
		srv.api(t, 201, "POST", "/v1/impressions", fmt.Sprintf(`{"placement_id": %q, "user_agent": "Mozilla/5.0 (Android)"}`, library))
	}
	jonah := signup(library, "Jonah", "Doerrington")
	mia := signup(library, "Mia", "Castellanos")
	signup(library, "Sam", "Okafor")
	signup(gym, "Priya", "Ramaswamy")
	buy := func(ref string, amount int) string {
		earning := apiID(t, srv.api(t, 201, "POST", "/v1/earnings", fmt.Sprintf(`{"referral_id": %q, "amount": %d, "currency": "EUR"}`, ref, amount)))
		var coms struct{ Data []struct{ ID string } }
		json.Unmarshal(srv.api(t, 200, "GET", "/v1/commissions?earning_id="+earning, ""), &coms)
		if len(coms.Data) != 1 {
			t.Fatalf("the earning has %d commissions, want 1", len(coms.Data))
		}
		return coms.Data[0].ID
	}
	paid := buy(jonah, 4900)
	srv.api(t, 200, "POST", "/v1/commissions/"+paid+"/approve", "")
	srv.api(t, 201, "POST", "/v1/payouts", fmt.Sprintf(`{"ambassador_id": %q, "currency": "EUR", "external_reference": "Bank transfer 0042"}`, ada))
	buy(mia, 2500)

	var link struct{ URL string }
	json.Unmarshal(srv.api(t, 201, "POST", "/v1/ambassadors/"+ada+"/portal_links", ""), &link)
	// The link is made on the public base URL, which here is the listen
	// address as configured (port 0): open its path on the real one.
	_, path, ok := strings.Cut(link.URL, "/portal/signin?token=")
	if !ok {
		t.Fatalf("portal link %q", link.URL)
	}
	link.URL = srv.URL + "/portal/signin?token=" + path

	b := newBrowser(t)
	b.open(srv.URL + "/portal/login")
	b.screenshot("portal-login")
	b.fill("#f-email", "someone@uni.example")
	if status := b.submit("form[action='/portal/login'] button[type=submit]"); status != http.StatusOK {
		t.Fatalf("ask for a link: got %d", status)
	}
	if got := b.text("main"); !strings.Contains(got, "If this address belongs to an ambassador, a sign-in link is on its way") {
		t.Errorf("after asking for a link: %q", got)
	}
	b.screenshot("portal-login-sent")

	if status := b.open(link.URL); status != http.StatusOK {
		t.Fatalf("open the sign-in link: got %d at %s", status, b.location())
	}
	if loc := b.location(); loc != srv.URL+"/portal/" {
		t.Fatalf("the sign-in link landed on %s, want the portal's home", loc)
	}
	if got := b.text("h1"); got != "Hi Ada" {
		t.Errorf("home greets %q, want Hi Ada", got)
	}
	home := b.text("main")
	for _, want := range []string{"Spring 2027 campus launch", "Scans", "4.90 EUR", "2.50 EUR"} {
		if !strings.Contains(home, want) {
			t.Errorf("home does not say %q: %q", want, home)
		}
	}
	b.screenshot("portal-home")
	// The keyboard: the first Tab reaches the skip link, which shows.
	b.do("press Tab", chromedp.KeyEvent(kb.Tab))
	if got := b.focusedText(); got != "Skip to content" {
		t.Errorf("the first Tab focuses %q, want the skip link", got)
	}
	if outline := b.focusedOutline(); outline == "" || strings.HasPrefix(outline, "none") || strings.Contains(outline, " 0px") {
		t.Errorf("the focused skip link's outline is %q, want a visible one", outline)
	}
	b.screenshot("portal-home-focus")

	b.submit("nav a[href='/portal/posters']")
	if n := b.count("main .list > li"); n != 2 {
		t.Errorf("the posters page lists %d posters, want 2", n)
	}
	b.submit("main a[href='/portal/posters/" + library + "']")
	for _, sel := range []string{"a[href$='/qr.png?download=1']", "a[href$='/qr.svg?download=1']", "a[href$='/poster.pdf?paper=a4']", "img[src$='/qr.svg']", "svg.chart"} {
		if b.count(sel) != 1 {
			t.Errorf("the poster page has no %s", sel)
		}
	}
	b.screenshot("portal-poster")
	b.open(srv.URL + "/portal/posters")
	b.screenshot("portal-posters")

	b.submit("nav a[href='/portal/referrals']")
	referrals := b.text("main")
	for _, want := range []string{"Jonah D.", "Mia C.", "Sam O."} {
		if !strings.Contains(referrals, want) {
			t.Errorf("the sign-ups page does not say %q", want)
		}
	}
	for _, never := range []string{"Doerrington", "@mail.example", "Priya"} {
		if strings.Contains(referrals, never) {
			t.Errorf("the sign-ups page says %q", never)
		}
	}
	b.screenshot("portal-referrals")
	b.submit("main a[href='/portal/referrals/" + jonah + "']")
	b.screenshot("portal-referral")

	b.submit("nav a[href='/portal/commissions']")
	if got := b.text("main"); !strings.Contains(got, "10 % of a 49.00 EUR purchase") || !strings.Contains(got, "pending") || !strings.Contains(got, "paid") {
		t.Errorf("the earnings page: %q", got)
	}
	b.screenshot("portal-commissions")
	b.submit("main a[href='/portal/commissions/" + paid + "']")
	b.screenshot("portal-commission")

	b.submit("nav a[href='/portal/payouts']")
	if got := b.text("main"); !strings.Contains(got, "Bank transfer 0042") || !strings.Contains(got, "4.90 EUR") {
		t.Errorf("the payouts page: %q", got)
	}
	b.screenshot("portal-payouts")
	b.submit("main .list a")
	b.screenshot("portal-payout")

	// Grace's poster is not Ada's to see.
	if status := b.open(srv.URL + "/portal/posters/" + gym); status != http.StatusNotFound {
		t.Errorf("Grace's poster: got %d, want 404", status)
	}
	b.screenshot("portal-not-found")

	b.open(srv.URL + "/portal/profile")
	b.fill("#f-first_name", "")
	if status := b.submit("main form button[type=submit]"); status != http.StatusUnprocessableEntity {
		t.Errorf("an empty first name: got %d, want 422", status)
	}
	if got := b.text("#f-first_name-error"); !strings.Contains(got, "First name is required") {
		t.Errorf("the first name's error: %q", got)
	}
	b.screenshot("portal-profile-error")
	b.fill("#f-first_name", "Ada")
	b.fill("#f-school", "South campus")
	if status := b.submit("main form button[type=submit]"); status != http.StatusOK {
		t.Fatalf("save the profile: got %d", status)
	}
	if got := b.text(".flash"); !strings.Contains(got, "Your profile is saved") {
		t.Errorf("after saving: flash %q", got)
	}
	var amb struct{ School string }
	json.Unmarshal(srv.api(t, 200, "GET", "/v1/ambassadors/"+ada, ""), &amb)
	if amb.School != "South campus" {
		t.Errorf("the ambassador's school is %q, want South campus", amb.School)
	}
	b.screenshot("portal-profile")

	// Signing out; the link, used once, does not sign in again.
	if status := b.submit("form[action='/portal/logout'] button"); status != http.StatusOK {
		t.Errorf("sign out: got %d", status)
	}
	if loc := b.location(); loc != srv.URL+"/portal/login" {
		t.Errorf("signing out landed on %s", loc)
	}
	if status := b.open(link.URL); status != http.StatusUnauthorized {
		t.Errorf("the used link: got %d, want 401", status)
	}
	if got := b.text("h1"); got != "This sign-in link does not work" {
		t.Errorf("the used link's page says %q", got)
	}
	b.screenshot("portal-link-expired")
}

// focusedText is the text of the element that has the keyboard's focus.
func (b *browser) focusedText() string {
	b.t.Helper()
	return run(b, "read the focused element", chromedp.Evaluate[string](`document.activeElement?.textContent?.trim() ?? ""`))
}

// focusedOutline is the computed outline of the focused element: what
// shows a keyboard user where they are.
func (b *browser) focusedOutline() string {
	b.t.Helper()
	return run(b, "read the focus outline", chromedp.Evaluate[string](`getComputedStyle(document.activeElement).outline`))
}
