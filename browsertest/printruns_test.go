package browsertest

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// A print run, as a manager makes one: flyers for everyone active at a
// school, from the form (a first try without a program is sent back with
// the choices kept), then the run's page, its PDF and the list of runs.

var printRunManager = user{Email: "printer@uni.example", Password: "a printer's long passphrase", Role: "manager"}

func TestConsolePrintRunForSchool(t *testing.T) {
	srv := startServer(t, withUser(printRunManager))
	var prg struct{ ID string }
	json.Unmarshal(srv.api(t, http.StatusCreated, "POST", "/v1/programs",
		`{"name":"Spring 2027 campus launch","landing_url":"https://example.com/join"}`), &prg)
	for _, a := range []string{
		`{"first_name":"Ada","last_name":"Lovelace","email":"ada@uni.example","school":"Trinity College"}`,
		`{"first_name":"Katherine","last_name":"Johnson","email":"katherine@uni.example","school":"trinity college"}`,
		`{"first_name":"Pat","last_name":"Paused","email":"pat@uni.example","school":"Trinity College","status":"paused"}`,
		`{"first_name":"Grace","last_name":"Hopper","email":"grace@navy.example","school":"Yale"}`,
	} {
		srv.api(t, http.StatusCreated, "POST", "/v1/ambassadors", a)
	}
	ambassadors := listAPI(t, srv, "/v1/ambassadors?limit=100")
	ada, katherine := idWhere(t, ambassadors, "email", "ada@uni.example"), idWhere(t, ambassadors, "email", "katherine@uni.example")

	b := newBrowser(t)
	b.signIn(srv, printRunManager)
	b.open(srv.URL + "/console/print-runs")
	if got := b.text(".empty-state"); !strings.Contains(got, "No print runs yet") {
		t.Errorf("no runs: %q", got)
	}
	b.submit(".page-actions a[href='/console/print-runs/new']")
	// The school's part of the form is hidden until its choice is made.
	schools := run(b, "read the schools", chromedp.Evaluate[string](`document.querySelector("#f-school").textContent`))
	if got := schools; !strings.Contains(got, "Trinity College (2 active)") || !strings.Contains(got, "Yale (1 active)") {
		t.Errorf("the schools offered: %q", got)
	}

	// Everyone at Trinity College, two flyers each; the program is
	// forgotten at first.
	b.click("#who-school")
	b.fill("#f-school", "Trinity College")
	b.click("#layout-flyer4")
	b.fill("#f-count", "2")
	b.click("#paper-letter")
	b.fill("#f-label", "Freshers’ week")
	if status := b.submit("form[action='/console/print-runs/new'] button.button-primary"); status != http.StatusUnprocessableEntity {
		t.Fatalf("a run without a program: got %d, want 422", status)
	}
	if got := b.text(".error-summary"); !strings.Contains(got, "Program is required") {
		t.Errorf("without a program: summary %q", got)
	}
	kept := `document.querySelector("#who-school").checked && document.querySelector("#layout-flyer4").checked &&
		document.querySelector("#paper-letter").checked && document.querySelector("#f-school").value === "Trinity College" &&
		document.querySelector("#f-count").value === "2"`
	if !b.eval(kept) {
		t.Error("the form shown again lost the choices made")
	}
	b.fill("#f-program_id", prg.ID)
	b.do("scroll to the top", chromedp.Evaluate[chromedp.Void]("window.scrollTo(0, 0)"))
	b.screenshot("print-run-new")
	if status := b.submit("form[action='/console/print-runs/new'] button.button-primary"); status != http.StatusOK {
		t.Fatalf("make the run: got %d at %s", status, b.location())
	}
	if got := b.text(".flash"); !strings.Contains(got, "Print run made: 4 new sheets for 2 ambassadors") {
		t.Errorf("after making the run: flash %q", got)
	}
	if got := b.text("h1"); !strings.HasPrefix(got, "Print run of") {
		t.Errorf("the run's page: heading %q", got)
	}
	if n := b.count("main tbody tr"); n != 4 {
		t.Errorf("the run's page lists %d sheets, want 4", n)
	}
	sheets := b.text("main tbody")
	for _, name := range []string{"Ada Lovelace", "Katherine Johnson"} {
		if strings.Count(sheets, name) != 2 {
			t.Errorf("the sheets %q do not list %s twice", sheets, name)
		}
	}
	if strings.Contains(sheets, "Pat Paused") || strings.Contains(sheets, "Grace Hopper") {
		t.Errorf("the sheets list someone not active at Trinity College: %q", sheets)
	}
	b.screenshot("print-run")

	pdf := b.download("a[href$='/posters.pdf']")
	if !bytes.HasPrefix(pdf, []byte("%PDF")) {
		t.Errorf("the run's PDF starts %q, want %%PDF", pdf[:min(8, len(pdf))])
	}
	runs := listAPI(t, srv, "/v1/print_runs")
	if len(runs) != 1 || runs[0]["school"] != "Trinity College" || runs[0]["placements"] != float64(4) || runs[0]["layout"] != "flyer4" {
		t.Fatalf("the API lists %v, want the one run of 4 flyers", runs)
	}
	if ids := runs[0]["ambassador_ids"].([]any); len(ids) != 2 || ids[0] != katherine || ids[1] != ada {
		t.Errorf("the run is for %v, want Johnson, then Lovelace", ids)
	}

	b.submit(".breadcrumbs a[href='/console/print-runs']")
	if n := b.count("main tbody tr"); n != 1 {
		t.Errorf("the list has %d runs, want 1", n)
	}
	if got := b.text("main tbody"); !strings.Contains(got, "Everyone at Trinity College (2)") || !strings.Contains(got, "Flyers") {
		t.Errorf("the list's run: %q", got)
	}
	b.screenshot("print-runs")
}
