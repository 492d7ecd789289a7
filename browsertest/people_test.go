package browsertest

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	cdpbrowser "github.com/chromedp/cdproto/browser"
	"github.com/chromedp/chromedp"
)

// Ambassadors and their posters, as a manager uses them: adding one,
// importing many from a CSV file (a bad row first), an ambassador's
// page, a poster with its QR code and PDF, and a printout for several.

var peopleManager = user{Email: "manager@uni.example", Password: "a manager's long passphrase", Role: "manager"}

// download clicks sel, a link or button whose answer is a file, and
// returns the file once Chromium has saved it.
func (b *browser) download(sel string) []byte {
	b.t.Helper()
	dir := b.t.TempDir()
	ctx, cancel := context.WithTimeout(b.ctx, stepTimeout)
	defer cancel()
	progress := chromedp.Events(ctx, cdpbrowser.DownloadProgress)
	events := true
	if _, err := chromedp.Call(ctx, cdpbrowser.SetDownloadBehavior, cdpbrowser.SetDownloadBehaviorParams{
		Behavior: cdpbrowser.SetDownloadBehaviorBehaviorAllowAndName, DownloadPath: dir, EventsEnabled: &events}); err != nil {
		b.t.Fatalf("allow downloads: %v", err)
	}
	b.do("click "+sel, chromedp.Click(chromedp.CSS(sel), chromedp.NodeVisible))
	for ev, err := range progress {
		if err != nil {
			b.t.Fatalf("download from %s: %v", sel, err)
		}
		switch ev.State {
		case cdpbrowser.DownloadProgressStateCompleted:
			data, err := os.ReadFile(filepath.Join(dir, ev.GUID))
			if err != nil {
				b.t.Fatal(err)
			}
			return data
		case cdpbrowser.DownloadProgressStateCanceled:
			b.t.Fatalf("the download from %s was cancelled", sel)
		}
	}
	b.t.Fatalf("no download from %s", sel)
	return nil
}

// upload chooses the file at path in the file input sel.
func (b *browser) upload(sel, path string) {
	b.t.Helper()
	b.do("choose "+path+" in "+sel, chromedp.SetUploadFiles(chromedp.CSS(sel), []string{path}))
}

// eval runs a script that answers true or false.
func (b *browser) eval(script string) bool {
	b.t.Helper()
	return run(b, "evaluate "+script, chromedp.Evaluate[bool](script))
}

// listAPI reads a list of the API and returns its records' fields.
func listAPI(t *testing.T, srv *server, path string) []map[string]any {
	t.Helper()
	var page struct{ Data []map[string]any }
	if err := json.Unmarshal(srv.api(t, http.StatusOK, "GET", path, ""), &page); err != nil {
		t.Fatal(err)
	}
	return page.Data
}

// idWhere finds the record whose field is value.
func idWhere(t *testing.T, records []map[string]any, field, value string) string {
	t.Helper()
	for _, r := range records {
		if r[field] == value {
			return r["id"].(string)
		}
	}
	t.Fatalf("no record with %s %s in %v", field, value, records)
	return ""
}

func TestConsoleAmbassadorsAndPosters(t *testing.T) {
	srv := startServer(t, withUser(peopleManager))
	var prg struct{ ID string }
	json.Unmarshal(srv.api(t, http.StatusCreated, "POST", "/v1/programs",
		`{"name":"Spring 2027 campus launch","landing_url":"https://example.com/join"}`), &prg)
	b := newBrowser(t)
	b.signIn(srv, peopleManager)

	// Add one.
	b.open(srv.URL + "/console/ambassadors")
	if got := b.text(".empty-state"); !strings.Contains(got, "No ambassadors yet") {
		t.Errorf("no ambassadors: %q", got)
	}
	b.submit("a[href='/console/ambassadors/new']")
	b.fill("#f-first_name", "Ada")
	b.fill("#f-last_name", "Lovelace")
	b.fill("#f-email", "ada@uni.example")
	b.fill("#f-school", "Trinity College")
	if status := b.submit("main form button[type=submit]"); status != http.StatusOK {
		t.Fatalf("add an ambassador: got %d at %s", status, b.location())
	}
	if got := b.text(".flash"); !strings.Contains(got, "Ada Lovelace is added") {
		t.Errorf("after adding: flash %q", got)
	}

	// Import a file with a bad row: the report names it, nothing is
	// imported; the fixed file imports every row.
	dir := t.TempDir()
	bad := filepath.Join(dir, "ambassadors.csv")
	os.WriteFile(bad, []byte("first_name,last_name,email,school\n"+
		"Grace,Hopper,grace@navy.example,Yale\n"+
		"Alan,Turing,alan-at-kings,King's College\n"+
		"Katherine,Johnson,katherine@uni.example,Trinity College\n"), 0o644)
	b.open(srv.URL + "/console/ambassadors")
	b.submit("a[href='/console/ambassadors/import']")
	b.upload("#f-file", bad)
	if status := b.submit("form[action='/console/ambassadors/import'] button[type=submit]"); status != http.StatusUnprocessableEntity {
		t.Fatalf("import a bad file: got %d, want 422", status)
	}
	if got := b.text(".error-summary"); !strings.Contains(got, "Nothing was imported") {
		t.Errorf("a bad file: summary %q", got)
	}
	if got := b.text(".report tbody"); !strings.Contains(got, "3") || !strings.Contains(got, "email") || !strings.Contains(got, "valid email") {
		t.Errorf("a bad file: report %q, want row 3's email", got)
	}
	if n := len(listAPI(t, srv, "/v1/ambassadors?limit=100")); n != 1 {
		t.Fatalf("after a refused import there are %d ambassadors, want 1", n)
	}
	b.screenshot("ambassador-import-report")

	good := filepath.Join(dir, "ambassadors-fixed.csv")
	os.WriteFile(good, []byte("first_name,last_name,email,school\n"+
		"Grace,Hopper,grace@navy.example,Yale\n"+
		"Alan,Turing,alan@kings.example,King's College\n"+
		"Katherine,Johnson,katherine@uni.example,Trinity College\n"), 0o644)
	b.upload("#f-file", good)
	if status := b.submit("form[action='/console/ambassadors/import'] button[type=submit]"); status != http.StatusOK {
		t.Fatalf("import the fixed file: got %d at %s", status, b.location())
	}
	if got := b.text(".flash"); !strings.Contains(got, "Imported 3 ambassadors") {
		t.Errorf("after the import: flash %q", got)
	}
	if n := b.count("main tbody tr"); n != 4 {
		t.Errorf("the list has %d rows, want 4", n)
	}
	b.screenshot("ambassadors")
	ambassadors := listAPI(t, srv, "/v1/ambassadors?limit=100")
	ada, grace := idWhere(t, ambassadors, "email", "ada@uni.example"), idWhere(t, ambassadors, "email", "grace@navy.example")
	katherine := idWhere(t, ambassadors, "email", "katherine@uni.example")

	// Search, then an ambassador's page and a poster for them.
	b.fill("#f-q", "hopper")
	b.submit("form[role=search] button[type=submit]")
	if n := b.count("main tbody tr"); n != 1 {
		t.Errorf("a search for hopper lists %d, want 1", n)
	}
	b.submit("main tbody a[href='/console/ambassadors/" + grace + "']")
	if got := b.text("h1"); !strings.Contains(got, "Grace Hopper") {
		t.Fatalf("the ambassador's page: heading %q", got)
	}
	b.submit("a[href='/console/ambassadors/" + grace + "/placements/new']")
	b.fill("#f-program_id", prg.ID)
	b.fill("#f-label", "Library, 2nd floor")
	if status := b.submit("main form button[type=submit]"); status != http.StatusOK {
		t.Fatalf("create a poster: got %d at %s", status, b.location())
	}
	if got := b.text(".flash"); !strings.Contains(got, "Poster created") {
		t.Errorf("after creating a poster: flash %q", got)
	}
	if !b.eval(`(() => { const i = document.querySelector("img.qr"); return !!i && i.complete && i.naturalWidth > 0 })()`) {
		t.Error("the poster's QR code did not load")
	}
	b.screenshot("placement")
	pdf := b.download("a[href$='/poster.pdf?paper=a4']")
	if !bytes.HasPrefix(pdf, []byte("%PDF")) {
		t.Errorf("the poster download starts %q, want %%PDF", pdf[:min(8, len(pdf))])
	}
	b.submit(".breadcrumbs a[href='/console/ambassadors/" + grace + "']")
	if n := b.count("main a[href^='/console/placements/plc_']"); n != 1 {
		t.Errorf("the ambassador's page lists %d posters, want 1", n)
	}
	b.screenshot("ambassador")

	// A printout for two, two posters each, on Letter.
	b.open(srv.URL + "/console/placements/print?ambassador_id=" + ada)
	b.fill("#f-program_id", prg.ID)
	b.click("#amb-" + katherine)
	b.fill("#f-count", "2")
	b.click("#paper-letter")
	// The clicks scrolled the page; the nav sticks where it was.
	b.do("scroll to the top", chromedp.Evaluate[chromedp.Void]("window.scrollTo(0, 0)"))
	b.screenshot("posters-print")
	sheet := b.download("form[action='/console/placements/print'] button.button-primary")
	if !bytes.HasPrefix(sheet, []byte("%PDF")) || bytes.Count(sheet, []byte("/Type /Page\n")) != 4 {
		t.Errorf("the printout: %d bytes, %d pages; want a PDF of 4", len(sheet), bytes.Count(sheet, []byte("/Type /Page\n")))
	}
	for _, id := range []string{ada, katherine} {
		if n := len(listAPI(t, srv, "/v1/placements?ambassador_id="+id)); n != 2 {
			t.Errorf("ambassador %s has %d posters, want 2", id, n)
		}
	}
}
