package browsertest

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// The console's framework and first pages, as people use them: the
// first run's setup link, signing in and out, programs, the overview,
// and what a viewer may not do.

var (
	owner  = user{Email: "owner@uni.example", Password: "a long and lovely passphrase", Role: "owner"}
	viewer = user{Email: "viewer@uni.example", Password: "another long passphrase", Role: "viewer"}
)

// The link serve prints on a store without users makes the first owner,
// who lands on the overview signed in.
func TestConsoleFirstRun(t *testing.T) {
	srv := startServer(t)
	link := srv.setupLink(t)
	b := newBrowser(t)
	if status := b.open(link); status != http.StatusOK {
		t.Fatalf("the setup link: got %d", status)
	}
	b.screenshot("setup")
	b.fill("#f-email", "ann@uni.example")
	b.fill("#f-password", "a long and lovely passphrase")
	b.fill("#f-confirm", "a long and lovely passphrase")
	if status := b.submit("form[action='/console/setup'] button[type=submit]"); status != http.StatusOK {
		t.Fatalf("setup: got %d at %s", status, b.location())
	}
	if got := b.text(".flash"); !strings.Contains(got, "Welcome to referrald") {
		t.Errorf("after setup: flash %q", got)
	}
	if got := b.text(".empty-state"); !strings.Contains(got, "No programs yet") || !strings.Contains(got, "Create a program") {
		t.Errorf("the overview of a new store: %q, want an empty state that says what to do", got)
	}
	b.screenshot("overview-empty")
	// The link works once.
	if status := b.open(link); status != http.StatusConflict {
		t.Errorf("the setup link a second time: got %d, want 409", status)
	}
}

// An owner signs in (after a wrong password, which gives no session),
// creates a program, edits it, sees the overview, archives the program
// and signs out.
func TestConsolePrograms(t *testing.T) {
	srv := startServer(t, withUser(owner))
	b := newBrowser(t)
	if status := b.open(srv.URL + "/"); status != http.StatusOK || !strings.Contains(b.location(), "/console/login") {
		t.Fatalf("/ signed out: got %d at %s, want the sign-in page", status, b.location())
	}
	b.screenshot("login")

	b.fill("#f-email", owner.Email)
	b.fill("#f-password", "not the password at all")
	if status := b.submit("form[action='/console/login'] button[type=submit]"); status != http.StatusUnauthorized {
		t.Fatalf("a wrong password: got %d, want 401", status)
	}
	if got := b.text(".error-summary"); !strings.Contains(got, "not right") {
		t.Errorf("a wrong password: summary %q", got)
	}
	for _, c := range b.cookies(srv.URL + "/console/") {
		if c.Name == "referrald_session" {
			t.Fatalf("a wrong password gave a session cookie")
		}
	}
	b.screenshot("login-error")

	b.signIn(srv, owner)
	b.open(srv.URL + "/console/programs")
	if got := b.text(".empty-state"); !strings.Contains(got, "No programs yet") {
		t.Errorf("no programs: %q", got)
	}
	b.submit("a[href='/console/programs/new']")
	if status := b.submit("main form button[type=submit]"); status != http.StatusUnprocessableEntity {
		t.Fatalf("an empty program form: got %d, want 422", status)
	}
	// A landing page may be left out (the hosted signup page); a name may not.
	if got := b.text(".error-summary"); !strings.Contains(got, "Name is required") || strings.Contains(got, "Landing page URL") {
		t.Errorf("an empty program form: summary %q", got)
	}
	b.click("#ct-flat")
	b.screenshot("program-new-errors")

	b.fill("#f-name", "Spring 2027")
	b.fill("#f-landing_url", "https://example.com/join")
	b.fill("#f-commission-currency", "usd")
	b.fill("#f-commission-amount", "5.00")
	if status := b.submit("main form button[type=submit]"); status != http.StatusOK {
		t.Fatalf("create the program: got %d at %s", status, b.location())
	}
	if got := b.text(".flash"); !strings.Contains(got, "Program created") {
		t.Errorf("after create: flash %q", got)
	}
	programURL := b.location()
	programID := programURL[strings.LastIndex(programURL, "/")+1:]

	b.submit("a[href$='/edit']")
	b.fill("#f-name", "Spring 2027 campus launch")
	b.click("#ct-percent")
	b.fill("#f-commission-percent", "12.5")
	b.fill("#f-commission-caps", "USD 20.00, EUR 15")
	if status := b.submit("main form button[type=submit]"); status != http.StatusOK {
		t.Fatalf("edit the program: got %d at %s", status, b.location())
	}
	if got := b.text(".flash"); !strings.Contains(got, "Changes saved") {
		t.Errorf("after edit: flash %q", got)
	}
	if got := b.text("h1"); !strings.Contains(got, "Spring 2027 campus launch") {
		t.Errorf("after edit: heading %q", got)
	}
	if got := b.text(".details"); !strings.Contains(got, "12.5% of each purchase, at most EUR 15.00, USD 20.00") {
		t.Errorf("after edit: settings %q", got)
	}
	b.screenshot("program")

	// Scans, signups and purchases through the API, for the overview.
	fillProgram(t, srv, programID)
	b.open(srv.URL + "/console/")
	if got := b.text(".stats"); !strings.Contains(got, "12") || !strings.Contains(got, "Purchases") {
		t.Errorf("the overview's funnel: %q", got)
	}
	if got := b.text("#leaders-title + .table-wrap"); !strings.Contains(got, "Ada Lovelace") {
		t.Errorf("the overview's leaders: %q", got)
	}
	if n := b.count("svg.chart[role=img] title"); n < 3 {
		t.Errorf("the overview has %d chart titles, want one per chart", n)
	}
	b.screenshot("overview")

	b.open(srv.URL + "/console/programs/new")
	b.fill("#f-name", "Fall 2026")
	b.fill("#f-landing_url", "https://example.com/fall")
	b.submit("main form button[type=submit]")
	b.open(srv.URL + "/console/programs")
	b.screenshot("programs")

	b.open(programURL)
	b.submit("form[action$='/archive'] button")
	if got := b.text(".flash"); !strings.Contains(got, "is archived") {
		t.Errorf("after archive: flash %q", got)
	}
	b.open(srv.URL + "/console/programs")
	if got := b.text("main"); strings.Contains(got, "Spring 2027 campus launch") || !strings.Contains(got, "Fall 2026") {
		t.Errorf("active programs after archiving Spring: %q", got)
	}
	b.submit("a[href='/console/programs?status=archived']")
	if got := b.text("table"); !strings.Contains(got, "Spring 2027 campus launch") {
		t.Errorf("archived programs: %q", got)
	}

	b.open(srv.URL + "/console/account")
	b.screenshot("account")
	b.submit("form[action='/console/logout'] button")
	if got := b.text(".flash"); !strings.Contains(got, "signed out") {
		t.Errorf("after signing out: flash %q", got)
	}
	b.open(srv.URL + "/console/programs")
	if loc := b.location(); !strings.Contains(loc, "/console/login?next=") {
		t.Errorf("after signing out, /console/programs shows %s, want the sign-in page", loc)
	}
}

// fillProgram records, through the API, two ambassadors' scans, signups
// and purchases in the program.
func fillProgram(t *testing.T, srv *server, programID string) {
	t.Helper()
	id := func(b []byte) string {
		var v struct{ ID string }
		if err := json.Unmarshal(b, &v); err != nil || v.ID == "" {
			t.Fatalf("no id in %s", b)
		}
		return v.ID
	}
	for a, name := range [][2]string{{"Ada", "Lovelace"}, {"Grace", "Hopper"}} {
		amb := id(srv.api(t, 201, "POST", "/v1/ambassadors", fmt.Sprintf(`{"first_name": %q, "last_name": %q, "email": "%s@uni.example"}`,
			name[0], name[1], strings.ToLower(name[0]))))
		for i := range 8 - 4*a {
			imp := id(srv.api(t, 201, "POST", "/v1/impressions", fmt.Sprintf(`{"program_id": %q, "ambassador_id": %q}`, programID, amb)))
			if i%2 == 1 {
				continue
			}
			ref := id(srv.api(t, 201, "POST", "/v1/referrals", fmt.Sprintf(`{"impression_id": %q, "first_name": "R", "last_name": "S", "email": "r%d%d@example.com"}`,
				imp, a, i)))
			if i%4 == 0 {
				srv.api(t, 201, "POST", "/v1/earnings", fmt.Sprintf(`{"referral_id": %q, "amount": 4999, "currency": "USD"}`, ref))
			}
		}
	}
}

// A viewer sees the console (with the session timeout serve was given)
// but no way to change it, and a change they try anyway is refused; a form posted from another site is refused; on
// a phone the nav folds behind a menu button.
func TestConsoleViewer(t *testing.T) {
	srv := startServer(t, withUser(owner), withUser(viewer), withEnv("REFERRALD_CONSOLE_SESSION_IDLE=90m"))
	b := newBrowser(t)
	b.signIn(srv, viewer)
	b.open(srv.URL + "/console/account")
	if got := b.text("#sessions + p"); !strings.Contains(got, "after 90 minutes without use") {
		t.Errorf("console.session_idle of 90m: the account page says %q", got)
	}
	b.open(srv.URL + "/console/programs")
	if n := b.count("a[href='/console/programs/new']"); n != 0 {
		t.Errorf("a viewer sees %d links to a new program", n)
	}
	if status := b.open(srv.URL + "/console/programs/new"); status != http.StatusForbidden {
		t.Errorf("a viewer at the new program form: got %d, want 403", status)
	}
	b.screenshot("forbidden")

	// Another site's page that posts to the console, as a browser sends it.
	ln, err := net.Listen("tcp", "localhost:0")
	if err != nil {
		t.Fatal(err)
	}
	evil := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		fmt.Fprintf(w, `<form method="post" action="%s/console/logout"><button id="go">Win a prize</button></form>`, srv.URL)
	}))
	evil.Listener.Close()
	evil.Listener = ln
	evil.Start()
	defer evil.Close()
	b.open(evil.URL)
	if status := b.submit("#go"); status != http.StatusForbidden {
		t.Errorf("a form from another site: got %d, want 403", status)
	}
	if got := b.text("main"); !strings.Contains(got, "another site") {
		t.Errorf("a form from another site: %q", got)
	}

	b.open(srv.URL + "/console/")
	b.do("narrow the window", chromedp.EmulateViewport(phoneWidth, phoneHeight, chromedp.EmulateMobile))
	display := func() string {
		return run(b, "read the nav's display", chromedp.Evaluate[string](`getComputedStyle(document.getElementById("site-nav")).display`))
	}
	if got := display(); got != "none" {
		t.Errorf("on a phone, the nav shows (%s) before the menu button is pressed", got)
	}
	b.click(".menu-button")
	if got := display(); got == "none" {
		t.Error("on a phone, the menu button does not show the nav")
	}
	if got := run(b, "read aria-expanded", chromedp.Evaluate[string](`document.querySelector(".menu-button").getAttribute("aria-expanded")`)); got != "true" {
		t.Errorf("the menu button's aria-expanded is %q once pressed", got)
	}
}
