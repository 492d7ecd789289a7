package console

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/referrald/referrald/model"
)

// printRunSamples are views of the print run pages, for TestPagesRender.
func printRunSamples() map[string]any {
	now := model.NewTime(time.Date(2026, 11, 20, 14, 5, 0, 0, time.UTC))
	prg := &model.Program{ID: "prg_01m8yqk4a5mstqtdtptfpvmbxh", Name: "Spring 2027", Status: model.ProgramActive, CreatedAt: now}
	school := "Trinity College"
	ada := &model.Ambassador{ID: "amb_01m8yqk4a5mstqtdtptfpvmbxh", FirstName: "Ada", LastName: "Lovelace", Email: "ada@uni.example",
		School: &school, Status: model.AmbassadorActive}
	run := &model.PrintRun{ID: "prn_01m8yqk4a5mstqtdtptfpvmbxh", ProgramID: prg.ID, Layout: "flyer4", Paper: "a4", Count: 2,
		AmbassadorIDs: []string{ada.ID}, School: school, Label: "Freshers’ week", PlacementIDs: []string{"plc_1", "plc_2"}, Placements: 2, CreatedAt: now}
	label := "Freshers’ week"
	plc := &model.Placement{ID: "plc_01m8yqk4a5mstqtdtptfpvmbxh", ProgramID: prg.ID, AmbassadorID: ada.ID, Label: &label, Code: "k7m2p9x4qa",
		Active: true, CreatedAt: now}
	off := *plc
	off.Active, off.Code = false, "x4qak7m2p9"
	form := newForm(printRunFields...)
	form.Set("who", whoSchool)
	form.Set("layout", "flyer4")
	form.Set("paper", "a4")
	form.AddError("who", "cannot all be printed for: ambassador amb_1 (Pat Paused) is paused")
	return map[string]any{
		"printruns": printRunListView{Programs: []*model.Program{prg}, Program: prg, Later: true, Next: "/console/print-runs?cursor=x",
			Runs: []printRunListRow{{PrintRun: run, ProgramName: prg.Name, LayoutName: "Flyers", Who: printRunWho(run), Sheets: "2"}}},
		"printrun_form": printRunFormView{Form: form, Programs: []*model.Program{prg}, Choices: []*model.Ambassador{ada}, Chosen: map[string]bool{ada.ID: true},
			MoreChoices: true, Schools: []model.School{{Name: school, Ambassadors: 12}}, Layouts: layouts, Papers: papers},
		"printrun": printRunView{Run: run, Program: prg, Layout: "Flyers", Paper: "A4", Sheets: "2 sheets", Ambassadors: "1 ambassador",
			Rows:  []placementRow{{Placement: plc, AmbassadorName: "Ada Lovelace", Scans: 120, Signups: 12}, {Placement: &off, AmbassadorName: "Ada Lovelace"}},
			First: 101, Last: 102, Prev: "/console/print-runs/prn_1?page=1"},
	}
}

// newPrintRunEnv is newTestEnv with print runs served, as the app
// serves them.
func newPrintRunEnv(t *testing.T) *testEnv {
	t.Helper()
	e := newTestEnv(t, Config{PublicBaseURL: "https://go.example.edu"})
	e.srv.svc.PrintRuns = e.st
	return e
}

// printRunForm is the new run's form with kv over sensible defaults.
func printRunForm(kv ...string) url.Values {
	v := formOf("who", whoChosen, "count", "1", "paper", "a4", "layout", "poster", "idempotency_key", newFormKey())
	for i := 0; i+1 < len(kv); i += 2 {
		v.Del(kv[i])
	}
	for i := 0; i+1 < len(kv); i += 2 {
		v.Add(kv[i], kv[i+1])
	}
	return v
}

// runOf is the run a create redirected to.
func (e *testEnv) runOf(res response) *model.PrintRun {
	e.t.Helper()
	wantStatus(e.t, res, http.StatusSeeOther)
	id, ok := strings.CutPrefix(res.location(), "/console/print-runs/")
	if !ok {
		e.t.Fatalf("redirected to %q, want a run's page", res.location())
	}
	run, err := e.st.FindPrintRunByID(context.Background(), id)
	if err != nil {
		e.t.Fatal(err)
	}
	return run
}

// The layouts the form describes are the model's.
func TestLayoutChoicesAreTheModels(t *testing.T) {
	var got []string
	for _, c := range layouts {
		got = append(got, string(c.Value))
	}
	if !slices.Equal(got, model.PrintLayouts) {
		t.Errorf("the form offers %v, the model takes %v", got, model.PrintLayouts)
	}
}

// The form offers the active programs, the active ambassadors to tick,
// the schools with how many each, and the layouts described; it is a
// manager's.
func TestPrintRunForm(t *testing.T) {
	e := newPrintRunEnv(t)
	prg := e.program("Spring")
	ada := e.ambassador("Ada", "Lovelace", "ada@uni.example", "Trinity College")
	grace := e.ambassador("Grace", "Hopper", "grace@navy.example", "trinity college")
	e.ambassador("Alan", "Turing", "alan@uni.example", "Yale")
	paused := e.ambassador("Pat", "Paused", "pat@uni.example", "Harvard")
	st := model.AmbassadorPaused
	if _, err := e.st.UpdateAmbassador(context.Background(), paused.ID, model.AmbassadorUpdate{Status: &st}); err != nil {
		t.Fatal(err)
	}
	wantStatus(t, e.get("/console/print-runs/new", e.viewer), http.StatusForbidden)

	res := e.get("/console/print-runs/new?program_id="+prg.ID+"&ambassador_id="+grace.ID, e.manager)
	wantStatus(t, res, http.StatusOK)
	wantBody(t, res, `value="`+prg.ID+`" selected`, `id="amb-`+grace.ID+`" name="ambassador_id" value="`+grace.ID+`" checked`,
		`id="amb-`+ada.ID+`" name="ambassador_id" value="`+ada.ID+`">`, `<option value="Trinity College">Trinity College (2 active)</option>`,
		`<option value="Yale">Yale (1 active)</option>`, `id="layout-poster" name="layout" value="poster" aria-describedby="layout-poster-hint" checked`,
		"Four flyers a page", "Twelve stickers a page", `id="paper-a4" name="paper" value="a4" checked`, `name="idempotency_key" value="console-`)
	noBody(t, res, paused.ID, "Harvard")

	// Find keeps what was chosen, the ticked first.
	res = e.get("/console/print-runs/new?q=yale&ambassador_id="+grace.ID+"&count=3&layout=stickers8&who=school&school=Yale", e.manager)
	wantStatus(t, res, http.StatusOK)
	wantBody(t, res, `value="`+grace.ID+`" checked`, "Alan Turing", `value="3"`, `value="stickers8" aria-describedby="layout-stickers8-hint" checked`,
		`id="who-school" name="who" value="school" aria-controls="who-school-part" checked`, `<option value="Yale" selected>`)
	noBody(t, res, `value="`+ada.ID+`"`)
}

// A run made from the form shows its page, with the PDF and its sheets;
// sending the form again shows the same run.
func TestPrintRunCreateFromForm(t *testing.T) {
	e := newPrintRunEnv(t)
	prg := e.program("Spring")
	ada := e.ambassador("Ada", "Lovelace", "ada@uni.example", "Trinity College")
	grace := e.ambassador("Grace", "Hopper", "grace@navy.example", " TRINITY college")
	alan := e.ambassador("Alan", "Turing", "alan@uni.example", "Yale")

	form := printRunForm("program_id", prg.ID, "ambassador_id", grace.ID, "ambassador_id", ada.ID, "count", "2", "layout", "flyer4",
		"paper", "letter", "label", "Freshers")
	res := e.post("/console/print-runs/new", e.manager, form)
	run := e.runOf(res)
	if run.Placements != 4 || run.Layout != "flyer4" || run.Paper != "letter" || run.Label != "Freshers" || !slices.Equal(run.AmbassadorIDs, []string{grace.ID, ada.ID}) {
		t.Fatalf("got %+v", run)
	}
	page := e.follow(res, e.manager)
	wantStatus(t, page, http.StatusOK)
	wantBody(t, page, "Print run made: 4 new sheets for 2 ambassadors", `href="/console/print-runs/`+run.ID+`/posters.pdf" download>Download PDF`,
		"Sheets 1–4 of 4", "Flyers", "US Letter", "Grace Hopper", "Ada Lovelace")
	for _, id := range run.PlacementIDs {
		p, err := e.st.FindPlacementByID(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		wantBody(t, page, `href="/console/placements/`+p.ID+`">`+p.Code+`</a>`)
	}
	if n := e.placementCount(model.PlacementFilter{AmbassadorID: alan.ID}); n != 0 {
		t.Errorf("Alan, not ticked, has %d posters", n)
	}

	// Sending it again shows the same run; other choices with the same
	// key ask to send it once more.
	if again := e.runOf(e.post("/console/print-runs/new", e.manager, form)); again.ID != run.ID {
		t.Errorf("sent again: run %s, want %s", again.ID, run.ID)
	}
	changed := printRunForm("program_id", prg.ID, "ambassador_id", alan.ID, "idempotency_key", form.Get("idempotency_key"))
	res = e.post("/console/print-runs/new", e.manager, changed)
	wantStatus(t, res, http.StatusUnprocessableEntity)
	wantBody(t, res, "already made another print run")
	if n := e.placementCount(model.PlacementFilter{}); n != 4 {
		t.Errorf("after sending the form twice there are %d placements, want 4", n)
	}

	// The audit log has the run, linked to its page.
	res = e.get("/console/audit?action=print_run.created", e.manager)
	wantStatus(t, res, http.StatusOK)
	wantBody(t, res, `href="/console/print-runs/`+run.ID+`"`, "4 placements in program "+prg.ID)

	res = e.get("/console/print-runs/"+run.ID+"/posters.pdf", e.viewer)
	wantPDF(t, res)
	if cd := res.Header.Get("Content-Disposition"); cd != `attachment; filename="print-run-`+run.ID+`.pdf"` {
		t.Errorf("got Content-Disposition %q", cd)
	}

	// Everyone active at a school, however their records spell it.
	bySchool := e.runOf(e.post("/console/print-runs/new", e.manager, printRunForm("program_id", prg.ID, "who", whoSchool, "school", "Trinity College")))
	if !slices.Equal(bySchool.AmbassadorIDs, []string{grace.ID, ada.ID}) || bySchool.School != "Trinity College" || bySchool.Placements != 2 {
		t.Errorf("by school: got %+v, want Hopper and Lovelace", bySchool)
	}
	wantStatus(t, e.post("/console/print-runs/new", e.viewer, printRunForm("program_id", prg.ID, "ambassador_id", ada.ID)), http.StatusForbidden)
}

// A run with a problem shows the form again with it, the paused
// ambassadors named, and makes nothing; so does a form from another site.
func TestPrintRunProblems(t *testing.T) {
	e := newPrintRunEnv(t)
	prg := e.program("Spring")
	ada := e.ambassador("Ada", "Lovelace", "ada@uni.example", "")
	pat := e.ambassador("Pat", "Paused", "pat@uni.example", "")
	sam := e.ambassador("Sam", "Stopped", "sam@uni.example", "")
	st := model.AmbassadorPaused
	for _, a := range []*model.Ambassador{pat, sam} {
		if _, err := e.st.UpdateAmbassador(context.Background(), a.ID, model.AmbassadorUpdate{Status: &st}); err != nil {
			t.Fatal(err)
		}
	}
	var many []model.AmbassadorCreate
	for i := range 21 {
		many = append(many, model.AmbassadorCreate{FirstName: "A", LastName: fmt.Sprint(i), Email: fmt.Sprintf("a%d@big.example", i)})
	}
	made, _, err := e.st.ImportAmbassadors(context.Background(), many, model.Idempotency{})
	if err != nil {
		t.Fatal(err)
	}
	var ticked []string
	for _, a := range made {
		ticked = append(ticked, "ambassador_id", a.ID)
	}
	for _, tt := range []struct {
		name string
		form url.Values
		want []string
	}{
		{"paused ones", printRunForm("program_id", prg.ID, "ambassador_id", ada.ID, "ambassador_id", pat.ID, "ambassador_id", sam.ID),
			[]string{`id="f-who-error"`, pat.ID + " (Pat Paused) is paused", sam.ID + " (Sam Stopped) is paused"}},
		{"no program", printRunForm("ambassador_id", ada.ID), []string{`id="f-program_id-error"`, "Program is required"}},
		{"an unknown program", printRunForm("program_id", "prg_01m8yqk4a5mstqtdtptfpvmbxh", "ambassador_id", ada.ID), []string{"does not exist"}},
		{"nobody ticked", printRunForm("program_id", prg.ID), []string{"tick at least one"}},
		{"no school", printRunForm("program_id", prg.ID, "who", whoSchool), []string{`id="f-school-error"`, "School is required"}},
		{"no such school", printRunForm("program_id", prg.ID, "who", whoSchool, "school", "Nowhere"), []string{"has no active ambassador"}},
		{"not a count", printRunForm("program_id", prg.ID, "ambassador_id", ada.ID, "count", "two"), []string{`id="f-count-error"`, "from 1 to 50"}},
		{"too many in all", printRunForm(append([]string{"program_id", prg.ID, "count", "48"}, ticked...)...), []string{"would make 1008 placements"}},
		{"a bad layout", printRunForm("program_id", prg.ID, "ambassador_id", ada.ID, "layout", "banner"), []string{`id="f-layout-error"`}},
		{"who is neither", printRunForm("program_id", prg.ID, "who", "everyone"), []string{"the ones ticked, or everyone at a school"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			res := e.post("/console/print-runs/new", e.manager, tt.form)
			wantStatus(t, res, http.StatusUnprocessableEntity)
			wantBody(t, res, tt.want...)
		})
	}

	req := httptest.NewRequest("POST", "/console/print-runs/new", strings.NewReader(printRunForm("program_id", prg.ID, "ambassador_id", ada.ID).Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	wantStatus(t, e.do(req, e.manager.Cookie), http.StatusForbidden)

	if n := e.placementCount(model.PlacementFilter{}); n != 0 {
		t.Errorf("refused runs made %d placements", n)
	}
	if page, _ := e.st.FindPrintRuns(context.Background(), model.PrintRunFilter{}); len(page.Data) != 0 {
		t.Errorf("refused runs made %d runs", len(page.Data))
	}
}

// The list shows every run, or a program's, with whom each was for; a
// run's page shows its sheets a hundred at a time, each with its scans.
func TestPrintRunListAndPage(t *testing.T) {
	e := newPrintRunEnv(t)
	ctx := context.Background()
	prg, other := e.program("Spring"), e.program("Fall")
	var ids []string
	for i := range 3 {
		ids = append(ids, e.ambassador("A", fmt.Sprint("Number", i), fmt.Sprintf("a%d@uni.example", i), "Yale").ID)
	}
	big, _, err := e.st.CreatePrintRun(ctx, model.PrintRunCreate{ProgramID: prg.ID, AmbassadorIDs: ids, Count: 34, Layout: "stickers12"}, model.Idempotency{})
	if err != nil {
		t.Fatal(err)
	}
	yale, _, err := e.st.CreatePrintRun(ctx, model.PrintRunCreate{ProgramID: other.ID, School: "Yale", Count: 1}, model.Idempotency{})
	if err != nil {
		t.Fatal(err)
	}
	first, err := e.st.FindPlacementByID(ctx, big.PlacementIDs[0])
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if _, err := e.st.RecordScan(ctx, model.Scan{Code: first.Code, UserAgent: "Mozilla/5.0 (iPhone)"}, 0); err != nil {
			t.Fatal(err)
		}
	}

	res := e.get("/console/print-runs", e.viewer)
	wantStatus(t, res, http.StatusOK)
	wantBody(t, res, `href="/console/print-runs/`+big.ID+`"`, `href="/console/print-runs/`+yale.ID+`"`, "Stickers, twelve a page", "Everyone at Yale (3)", "<td class=\"num\">102</td>")
	noBody(t, res, "New print run")
	res = e.get("/console/print-runs?program_id="+other.ID, e.manager)
	wantBody(t, res, yale.ID, "New print run")
	noBody(t, res, big.ID)

	res = e.get("/console/print-runs/"+big.ID, e.viewer)
	wantStatus(t, res, http.StatusOK)
	wantBody(t, res, "Sheets 1–100 of 102", `href="/console/print-runs/`+big.ID+`?page=2">Next sheets`)
	if n := strings.Count(res.Body, `<a class="code" href="/console/placements/`); n != 100 {
		t.Errorf("the first page lists %d sheets, want 100", n)
	}
	if !strings.Contains(res.Body, first.Code+"</a></th>\n      <td><span class=\"muted\">–</span></td>\n      <td class=\"num\">2</td>") {
		t.Errorf("the first sheet does not show its 2 scans:\n%s", res.Body)
	}
	res = e.get("/console/print-runs/"+big.ID+"?page=2", e.viewer)
	wantBody(t, res, "Sheets 101–102 of 102", "Previous sheets")
	if n := strings.Count(res.Body, `<a class="code" href="/console/placements/`); n != 2 {
		t.Errorf("the second page lists %d sheets, want 2", n)
	}
	wantStatus(t, e.get("/console/print-runs/prn_01m8yqk4a5mstqtdtptfpvmbxh", e.viewer), http.StatusNotFound)
}
