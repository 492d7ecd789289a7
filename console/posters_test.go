package console

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/referrald/referrald/model"
)

// batchForm is the print form with kv over sensible defaults.
func batchForm(kv ...string) url.Values {
	v := formOf("who", whoChosen, "count", "1", "paper", "a4", "idempotency_key", newFormKey())
	for i := 0; i+1 < len(kv); i += 2 {
		v.Del(kv[i])
	}
	for i := 0; i+1 < len(kv); i += 2 {
		v.Add(kv[i], kv[i+1])
	}
	return v
}

// wantPDF fails the test unless res is a PDF to download.
func wantPDF(t *testing.T, res response) {
	t.Helper()
	wantStatus(t, res, http.StatusOK)
	if !strings.HasPrefix(res.Body, "%PDF") || res.Header.Get("Content-Type") != "application/pdf" ||
		!strings.Contains(res.Header.Get("Content-Disposition"), "attachment") {
		t.Fatalf("got %v, starting %q; want a PDF to download", res.Header, res.Body[:min(40, len(res.Body))])
	}
}

// The form lists active ambassadors to tick, with those a link names
// ticked, and finds others; it is a manager's.
func TestPosterBatchForm(t *testing.T) {
	e := newTestEnv(t)
	prg := e.program("Spring")
	ada := e.ambassador("Ada", "Lovelace", "ada@uni.example", "Trinity College")
	grace := e.ambassador("Grace", "Hopper", "grace@navy.example", "Yale")
	paused := e.ambassador("Pat", "Paused", "pat@uni.example", "")
	st := model.AmbassadorPaused
	if _, err := e.st.UpdateAmbassador(context.Background(), paused.ID, model.AmbassadorUpdate{Status: &st}); err != nil {
		t.Fatal(err)
	}
	wantStatus(t, e.get("/console/placements/print", e.viewer), http.StatusForbidden)

	res := e.get("/console/placements/print?program_id="+prg.ID+"&ambassador_id="+grace.ID, e.manager)
	wantStatus(t, res, http.StatusOK)
	wantBody(t, res, `value="`+prg.ID+`" selected`, `id="amb-`+grace.ID+`" name="ambassador_id" value="`+grace.ID+`" checked`,
		`id="amb-`+ada.ID+`" name="ambassador_id" value="`+ada.ID+`">`, `formmethod="get"`)
	noBody(t, res, paused.ID)

	// Find keeps what was chosen: the ticked stay, listed first.
	res = e.get("/console/placements/print?q=trinity&ambassador_id="+grace.ID+"&count=3&paper=letter", e.manager)
	wantStatus(t, res, http.StatusOK)
	wantBody(t, res, `value="`+grace.ID+`" checked`, `value="`+ada.ID+`">`, `value="3"`, `id="paper-letter" name="paper" value="letter" checked`)
	res = e.get("/console/placements/print?q=nobody", e.manager)
	wantBody(t, res, "No active ambassador matches")
}

// A printout makes a poster for each ambassador chosen, count each, in
// one PDF; pressing Print again downloads the same posters.
func TestPosterBatchPrints(t *testing.T) {
	e := newTestEnv(t, Config{PublicBaseURL: "https://go.example.edu"})
	prg := e.program("Spring")
	ada := e.ambassador("Ada", "Lovelace", "ada@uni.example", "Trinity College")
	grace := e.ambassador("Grace", "Hopper", "grace@navy.example", "trinity college ")
	alan := e.ambassador("Alan", "Turing", "alan@uni.example", "King's")

	form := batchForm("program_id", prg.ID, "ambassador_id", ada.ID, "ambassador_id", grace.ID, "ambassador_id", ada.ID,
		"count", "2", "paper", "letter", "label", "Freshers", "cta", "Scan me")
	res := e.post("/console/placements/print", e.manager, form)
	wantPDF(t, res)
	if n := strings.Count(res.Body, "/Type /Page\n"); n != 4 {
		t.Errorf("the PDF has %d pages, want 4", n)
	}
	for _, a := range []*model.Ambassador{ada, grace} {
		if n := e.placementCount(model.PlacementFilter{AmbassadorID: a.ID}); n != 2 {
			t.Errorf("%s has %d posters, want 2", a.FirstName, n)
		}
	}
	if n := e.placementCount(model.PlacementFilter{AmbassadorID: alan.ID}); n != 0 {
		t.Errorf("Alan, not ticked, has %d posters", n)
	}
	wantPDF(t, e.post("/console/placements/print", e.manager, form))
	if n := e.placementCount(model.PlacementFilter{}); n != 4 {
		t.Errorf("after pressing Print twice there are %d placements, want 4", n)
	}
	// The same form with other choices asks to press again.
	changed := batchForm("program_id", prg.ID, "ambassador_id", alan.ID, "idempotency_key", form.Get("idempotency_key"))
	res = e.post("/console/placements/print", e.manager, changed)
	wantStatus(t, res, http.StatusUnprocessableEntity)
	wantBody(t, res, "already printed other posters")

	// Everyone active at a school, whatever the case of its name.
	res = e.post("/console/placements/print", e.manager, batchForm("program_id", prg.ID, "who", whoSchool, "school", "Trinity College"))
	wantPDF(t, res)
	if n := e.placementCount(model.PlacementFilter{}); n != 6 {
		t.Errorf("after printing for Trinity College there are %d placements, want 6", n)
	}
	wantStatus(t, e.post("/console/placements/print", e.viewer, batchForm("program_id", prg.ID, "ambassador_id", ada.ID)), http.StatusForbidden)
}

// A printout with a problem shows the form again with it, and makes
// nothing.
func TestPosterBatchProblems(t *testing.T) {
	e := newTestEnv(t)
	prg := e.program("Spring")
	archived := e.program("Fall")
	st := model.ProgramArchived
	if _, err := e.st.UpdateProgram(context.Background(), archived.ID, model.ProgramUpdate{Status: &st}); err != nil {
		t.Fatal(err)
	}
	ada := e.ambassador("Ada", "Lovelace", "ada@uni.example", "Trinity College")
	var many []model.AmbassadorCreate
	for i := range 25 {
		many = append(many, model.AmbassadorCreate{FirstName: "A", LastName: fmt.Sprint(i), Email: fmt.Sprintf("a%d@big.example", i), School: "Big"})
	}
	made, _, err := e.st.ImportAmbassadors(context.Background(), many, model.Idempotency{})
	if err != nil {
		t.Fatal(err)
	}
	var ticked []string
	for _, a := range made {
		ticked = append(ticked, "ambassador_id", a.ID)
	}
	tests := []struct {
		name string
		form url.Values
		want []string
	}{
		{"no program", batchForm("ambassador_id", ada.ID), []string{`id="f-program_id-error"`, "Program is required"}},
		{"an archived program", batchForm("program_id", archived.ID, "ambassador_id", ada.ID), []string{"is archived"}},
		{"an unknown program", batchForm("program_id", "prg_01m8yqk4a5mstqtdtptfpvmbxh", "ambassador_id", ada.ID), []string{"not a program"}},
		{"nobody ticked", batchForm("program_id", prg.ID), []string{`id="f-who-error"`, "tick at least one"}},
		{"an unknown ambassador", batchForm("program_id", prg.ID, "ambassador_id", "amb_01m8yqk4a5mstqtdtptfpvmbxh"), []string{"does not exist"}},
		{"too many each", batchForm("program_id", prg.ID, "ambassador_id", ada.ID, "count", "11"), []string{`id="f-count-error"`, "from 1 to 10"}},
		{"not a count", batchForm("program_id", prg.ID, "ambassador_id", ada.ID, "count", "two"), []string{"from 1 to 10"}},
		{"too many in all", batchForm(append([]string{"program_id", prg.ID, "count", "10"}, ticked...)...), []string{"more than the 200"}},
		{"a school too big", batchForm("program_id", prg.ID, "who", whoSchool, "school", "big", "count", "10"), []string{"more than 20 at big"}},
		{"no such school", batchForm("program_id", prg.ID, "who", whoSchool, "school", "Nowhere"), []string{"has no active ambassador"}},
		{"no school", batchForm("program_id", prg.ID, "who", whoSchool), []string{"School is required"}},
		{"a bad paper", batchForm("program_id", prg.ID, "ambassador_id", ada.ID, "paper", "a3"), []string{"A4 or US Letter"}},
		{"a long label", batchForm("program_id", prg.ID, "ambassador_id", ada.ID, "label", strings.Repeat("x", 201)), []string{"at most 200"}},
		{"who is neither", batchForm("program_id", prg.ID, "who", "everyone"), []string{"the ones ticked, or everyone at a school"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := e.post("/console/placements/print", e.manager, tt.form)
			wantStatus(t, res, http.StatusUnprocessableEntity)
			wantBody(t, res, tt.want...)
		})
	}
	if n := e.placementCount(model.PlacementFilter{}); n != 0 {
		t.Errorf("refused printouts made %d placements", n)
	}
}
