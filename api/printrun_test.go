package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/referrald/referrald/api"
	"github.com/referrald/referrald/metrics"
	"github.com/referrald/referrald/model"
	// Aliased: scan_test.go has a fixture named poster.
	posterpdf "github.com/referrald/referrald/poster"
)

// The model keeps the layouts and papers a run may name apart from the
// renderer that draws them (model imports nothing of ours): they must
// stay the same lists.
func TestPrintLayoutsAreThePosters(t *testing.T) {
	var layouts []string
	for _, l := range posterpdf.Layouts {
		layouts = append(layouts, string(l))
	}
	if !slices.Equal(layouts, model.PrintLayouts) {
		t.Errorf("model.PrintLayouts %v, posterpdf.Layouts %v", model.PrintLayouts, layouts)
	}
	if papers := slices.Sorted(maps.Keys(posterpdf.Papers)); !slices.Equal(papers, slices.Sorted(slices.Values(model.PrintPapers))) {
		t.Errorf("model.PrintPapers %v, posterpdf.Papers %v", model.PrintPapers, papers)
	}
}

// newPrintRunEnv is newEnv with print runs served.
func newPrintRunEnv(t *testing.T) *env {
	t.Helper()
	e := newEnv(t)
	st := e.st
	e.srv = api.New(api.Services{Programs: st, Ambassadors: st, Impressions: st, Placements: st, Referrals: st, Keys: st, Earnings: st,
		Stats: st, Backup: st, Users: st, Audit: st, Portal: st, Webhooks: st, Mail: st, PrintRuns: st},
		api.Config{AdminToken: adminToken, Metrics: metrics.New(func() float64 { return 0 }), Now: e.clock.Now, PublicBaseURL: publicBaseURL})
	e.srv.SetReady(true)
	return e
}

// printRun is a run's answer.
type printRun struct {
	ID            string   `json:"id"`
	ProgramID     string   `json:"program_id"`
	Layout        string   `json:"layout"`
	Paper         string   `json:"paper"`
	Count         int      `json:"count"`
	AmbassadorIDs []string `json:"ambassador_ids"`
	School        string   `json:"school"`
	Label         string   `json:"label"`
	PlacementIDs  []string `json:"placement_ids"`
	Placements    int      `json:"placements"`
	PDFURL        string   `json:"pdf_url"`
	Sheets        []struct {
		PlacementID  string `json:"placement_id"`
		AmbassadorID string `json:"ambassador_id"`
		Code         string `json:"code"`
		ScanURL      string `json:"scan_url"`
	} `json:"sheets"`
}

func decodeRun(t *testing.T, res response) printRun {
	t.Helper()
	var r printRun
	if err := json.Unmarshal(res.Body, &r); err != nil {
		t.Fatalf("%s: %v", res.Body, err)
	}
	return r
}

// ambassador makes one over the API and returns its ID.
func (e *env) ambassador(first, last, school string) string {
	e.t.Helper()
	body := map[string]any{"first_name": first, "last_name": last, "email": fmt.Sprintf("%s.%s@uni.example", strings.ToLower(last), e.clock.Now().Format("150405.000000000"))}
	if school != "" {
		body["school"] = school
	}
	e.clock.Add(1000)
	return e.post("/v1/ambassadors", body)["id"].(string)
}

// pdfPages counts a PDF's pages.
func pdfPages(pdf []byte) int {
	pages := 0
	for _, line := range strings.Split(string(pdf), "\n") {
		if strings.Contains(line, "/Type /Page") && !strings.Contains(line, "/Type /Pages") {
			pages++
		}
	}
	return pages
}

// A run of two ambassadors, two flyers each, makes four placements in
// the order asked, answers them with their codes, and its PDF draws
// them as the renderer draws those sheets; its key replays it.
func TestPrintRunCreateAndPDF(t *testing.T) {
	e := newPrintRunEnv(t)
	prg := e.post("/v1/programs", map[string]any{"name": "Spring 2027", "landing_url": "https://example.com/join"})["id"].(string)
	ada, grace := e.ambassador("Ada", "Lovelace", ""), e.ambassador("Grace", "Hopper", "")

	body := map[string]any{"program_id": prg, "ambassador_ids": []string{grace, ada}, "layout": "flyer4", "paper": "letter", "count": 2,
		"label": "Freshers' week"}
	key := map[string]string{"Idempotency-Key": "run-1"}
	res := e.call(request{Method: "POST", Path: "/v1/print_runs", Token: adminToken, Body: body, Header: key})
	if res.Status != 201 {
		t.Fatalf("create: %d %s", res.Status, res.Body)
	}
	run := decodeRun(t, res)
	if !strings.HasPrefix(run.ID, "prn_") || res.Header.Get("Location") != "/v1/print_runs/"+run.ID || run.PDFURL != "/v1/print_runs/"+run.ID+"/posters.pdf" ||
		run.Placements != 4 || len(run.PlacementIDs) != 4 || len(run.Sheets) != 4 || run.Layout != "flyer4" || run.Paper != "letter" ||
		run.Count != 2 || run.Label != "Freshers' week" || run.School != "" || !slices.Equal(run.AmbassadorIDs, []string{grace, ada}) {
		t.Fatalf("got %s", res.Body)
	}
	codes := map[string]bool{}
	for i, s := range run.Sheets {
		want := grace
		if i >= 2 {
			want = ada
		}
		codes[s.Code] = true
		if s.PlacementID != run.PlacementIDs[i] || s.AmbassadorID != want || s.ScanURL != publicBaseURL+"/s/"+s.Code {
			t.Errorf("sheet %d: %+v, want placement %s of %s", i, s, run.PlacementIDs[i], want)
		}
		pl := e.call(request{Method: "GET", Path: "/v1/placements/" + s.PlacementID, Token: e.readToken}).JSON(t)
		if pl["code"] != s.Code || pl["label"] != "Freshers' week" || pl["program_id"] != prg {
			t.Errorf("placement %s: %v", s.PlacementID, pl)
		}
	}
	if len(codes) != 4 {
		t.Errorf("got %d codes for 4 sheets", len(codes))
	}

	pdf := e.call(request{Method: "GET", Path: run.PDFURL, Token: e.readToken})
	if pdf.Status != 200 || pdf.Header.Get("Content-Type") != "application/pdf" || !bytes.HasPrefix(pdf.Body, []byte("%PDF-")) ||
		pdf.Header.Get("Content-Disposition") != `attachment; filename="print-run-`+run.ID+`.pdf"` {
		t.Fatalf("PDF: %d %v", pdf.Status, pdf.Header)
	}
	// The same four sheets, laid out by the renderer itself.
	job := posterpdf.Job{Layout: posterpdf.LayoutFlyer4, Paper: "letter"}
	for _, s := range run.Sheets {
		job.Sheets = append(job.Sheets, posterpdf.Sheet{Program: "Spring 2027", Code: s.Code, ScanURL: s.ScanURL, Label: run.Label})
	}
	var want bytes.Buffer
	if err := posterpdf.PDF(&want, job); err != nil {
		t.Fatal(err)
	}
	if got, want := pdfPages(pdf.Body), pdfPages(want.Bytes()); got != want || got == 0 {
		t.Errorf("the run's PDF has %d pages; its four sheets laid out as flyer4 make %d", got, want)
	}

	got := decodeRun(t, e.call(request{Method: "GET", Path: "/v1/print_runs/" + run.ID, Token: e.readToken}))
	if fmt.Sprint(got) != fmt.Sprint(run) {
		t.Errorf("GET: got %+v, want %+v", got, run)
	}
	again := e.call(request{Method: "POST", Path: "/v1/print_runs", Token: adminToken, Body: body, Header: key})
	if again.Status != 201 || again.Header.Get("Idempotent-Replayed") != "true" || decodeRun(t, again).ID != run.ID {
		t.Fatalf("replay: %d %v %s", again.Status, again.Header, again.Body)
	}
	if n := len(e.call(request{Method: "GET", Path: "/v1/placements?program_id=" + prg, Token: e.readToken}).JSON(t)["data"].([]any)); n != 4 {
		t.Errorf("after a replay the program has %d placements, want 4", n)
	}
	body["count"] = 3
	wantProblem(t, e.call(request{Method: "POST", Path: "/v1/print_runs", Token: adminToken, Body: body, Header: key}), 422, "idempotency_key_reused")
	wantProblem(t, e.call(request{Method: "POST", Path: "/v1/print_runs", Token: e.writeToken, Body: body}), 403, "forbidden")
	wantProblem(t, e.call(request{Method: "GET", Path: "/v1/print_runs/prn_01jdq3f7k8m2n4p6r8t0v2x4z6/posters.pdf", Token: e.readToken}), 404, "not_found")
	wantProblem(t, e.call(request{Method: "GET", Path: "/v1/print_runs/nonsense", Token: e.readToken}), 404, "not_found")
}

// A run for a school is for everyone active there, by name; runs are
// listed newest first, by program.
func TestPrintRunBySchoolAndList(t *testing.T) {
	e := newPrintRunEnv(t)
	prg := e.post("/v1/programs", map[string]any{"name": "Spring", "landing_url": "https://example.com/join"})["id"].(string)
	other := e.post("/v1/programs", map[string]any{"name": "Fall", "landing_url": "https://example.com/join"})["id"].(string)
	turing := e.ambassador("Alan", "Turing", "Trinity College")
	hopper := e.ambassador("Grace", "Hopper", "trinity college ")
	e.ambassador("Ada", "Lovelace", "Yale")
	paused := e.ambassador("Pat", "Paused", "Trinity College")
	e.call(request{Method: "PATCH", Path: "/v1/ambassadors/" + paused, Token: adminToken, Body: map[string]any{"status": "paused"}})

	res := e.call(request{Method: "POST", Path: "/v1/print_runs", Token: adminToken, Body: map[string]any{"program_id": prg, "school": "TRINITY College",
		"layout": "stickers12"}})
	if res.Status != 201 {
		t.Fatalf("create: %d %s", res.Status, res.Body)
	}
	bySchool := decodeRun(t, res)
	if !slices.Equal(bySchool.AmbassadorIDs, []string{hopper, turing}) || bySchool.School != "TRINITY College" || bySchool.Count != 1 ||
		bySchool.Paper != "a4" || bySchool.Placements != 2 {
		t.Fatalf("got %s, want Hopper and Turing, one each", res.Body)
	}
	otherRun := decodeRun(t, e.call(request{Method: "POST", Path: "/v1/print_runs", Token: adminToken,
		Body: map[string]any{"program_id": other, "ambassador_ids": []string{turing}}}))
	latest := decodeRun(t, e.call(request{Method: "POST", Path: "/v1/print_runs", Token: adminToken,
		Body: map[string]any{"program_id": prg, "ambassador_ids": []string{turing}, "count": 5}}))

	list := e.call(request{Method: "GET", Path: "/v1/print_runs?program_id=" + prg + "&limit=1", Token: e.readToken})
	var page struct {
		Data       []printRun `json:"data"`
		HasMore    bool       `json:"has_more"`
		NextCursor string     `json:"next_cursor"`
	}
	json.Unmarshal(list.Body, &page)
	if list.Status != 200 || len(page.Data) != 1 || page.Data[0].ID != latest.ID || !page.HasMore || page.Data[0].Sheets != nil ||
		len(page.Data[0].PlacementIDs) != 5 {
		t.Fatalf("first page: %d %s", list.Status, list.Body)
	}
	json.Unmarshal(e.call(request{Method: "GET", Path: "/v1/print_runs?program_id=" + prg + "&cursor=" + page.NextCursor, Token: e.readToken}).Body, &page)
	if len(page.Data) != 1 || page.Data[0].ID != bySchool.ID || page.HasMore {
		t.Fatalf("second page: %+v", page)
	}
	json.Unmarshal(e.call(request{Method: "GET", Path: "/v1/print_runs", Token: e.readToken}).Body, &page)
	if len(page.Data) != 3 || page.Data[1].ID != otherRun.ID {
		t.Errorf("every run: %+v", page)
	}
	for _, q := range []string{"program_id=amb_x", "cursor=prg_01jdq3f7k8m2n4p6r8t0v2x4z6", "limit=101", "school=Yale"} {
		wantProblem(t, e.call(request{Method: "GET", Path: "/v1/print_runs?" + q, Token: e.readToken}), 400, "validation_failed")
	}
}

// What a run cannot be is refused with every problem, each on its
// field, and makes nothing; an archived program is a conflict.
func TestPrintRunProblems(t *testing.T) {
	e := newPrintRunEnv(t)
	prg := e.post("/v1/programs", map[string]any{"name": "Spring", "landing_url": "https://example.com/join"})["id"].(string)
	archived := e.post("/v1/programs", map[string]any{"name": "Fall", "landing_url": "https://example.com/join", "status": "archived"})["id"].(string)
	ada, wei := e.ambassador("Ada", "Lovelace", ""), e.ambassador("王", "Wei", "")
	pat := e.ambassador("Pat", "Paused", "")
	e.call(request{Method: "PATCH", Path: "/v1/ambassadors/" + pat, Token: adminToken, Body: map[string]any{"status": "paused"}})
	many := make([]string, 21)
	for i := range many {
		many[i] = e.ambassador("A", fmt.Sprint("Many", i), "")
	}
	create := func(body map[string]any) response {
		return e.call(request{Method: "POST", Path: "/v1/print_runs", Token: adminToken, Body: body})
	}
	problem := func(body map[string]any, field string, parts ...string) {
		t.Helper()
		res := create(body)
		wantProblem(t, res, 400, "validation_failed")
		var p struct{ Errors []model.FieldError }
		json.Unmarshal(res.Body, &p)
		for _, f := range p.Errors {
			if f.Field == field {
				for _, part := range parts {
					if !strings.Contains(f.Message, part) {
						t.Errorf("%v: %s says %q, want %q", body, field, f.Message, part)
					}
				}
				return
			}
		}
		t.Errorf("%v: got %s, want a problem with %s", body, res.Body, field)
	}
	problem(map[string]any{"program_id": prg}, "ambassador_ids", "or give a school")
	problem(map[string]any{"program_id": prg, "ambassador_ids": []string{ada}, "school": "Yale"}, "school", "cannot be given with")
	problem(map[string]any{"program_id": prg, "ambassador_ids": []string{ada, ada}}, "ambassador_ids[1]", "repeats")
	problem(map[string]any{"program_id": prg, "ambassador_ids": []string{ada}, "count": 0}, "count", "from 1 to 50")
	problem(map[string]any{"program_id": prg, "ambassador_ids": []string{ada}, "count": "2"}, "count", "an integer")
	problem(map[string]any{"program_id": prg, "ambassador_ids": []string{ada}, "layout": "banner"}, "layout", "stickers8")
	problem(map[string]any{"program_id": prg, "ambassador_ids": []string{ada}, "paper": "a3"}, "paper", "a4 or letter")
	problem(map[string]any{"program_id": prg, "ambassador_ids": ada}, "ambassador_ids", "a list of strings")
	problem(map[string]any{"program_id": prg, "ambassador_ids": []string{ada}, "colour": "red"}, "colour", "not a known field")
	problem(map[string]any{"program_id": prg, "ambassador_ids": many, "count": 48}, "count", "would make 1008 placements", "at most 1000")
	problem(map[string]any{"program_id": prg, "ambassador_ids": []string{ada, pat}}, "ambassador_ids[1]", pat, "Pat Paused", "paused")
	problem(map[string]any{"program_id": prg, "ambassador_ids": []string{ada, "amb_01jdq3f7k8m2n4p6r8t0v2x4z6"}}, "ambassador_ids[1]", "does not exist")
	problem(map[string]any{"program_id": "prg_01jdq3f7k8m2n4p6r8t0v2x4z6", "ambassador_ids": []string{ada}}, "program_id", "does not exist")
	problem(map[string]any{"program_id": prg, "school": "Harvard"}, "school", "no active ambassador")
	wantProblem(t, create(map[string]any{"program_id": archived, "ambassador_ids": []string{ada}}), 409, "conflict")

	// With a design that prints names, an unprintable one refuses the
	// run before anything is made.
	yes, no := true, false
	names, noNames := model.PosterDesignUpdate{ShowAmbassadorName: &yes}, model.PosterDesignUpdate{ShowAmbassadorName: &no}
	if _, err := e.st.UpdatePosterDesign(context.Background(), prg, names); err != nil {
		t.Fatal(err)
	}
	problem(map[string]any{"program_id": prg, "ambassador_ids": []string{ada, wei}}, "ambassador_ids[1]", wei, "王 Wei", "show_ambassador_name")
	if n := len(e.call(request{Method: "GET", Path: "/v1/placements?program_id=" + prg, Token: e.readToken}).JSON(t)["data"].([]any)); n != 0 {
		t.Fatalf("refused runs made %d placements", n)
	}

	// A run made before the design showed names cannot print Wei's name
	// now: a conflict to fix, not a broken PDF.
	if _, err := e.st.UpdatePosterDesign(context.Background(), prg, noNames); err != nil {
		t.Fatal(err)
	}
	res := create(map[string]any{"program_id": prg, "ambassador_ids": []string{ada, wei}})
	if res.Status != 201 {
		t.Fatalf("without names: %d %s", res.Status, res.Body)
	}
	run := decodeRun(t, res)
	if _, err := e.st.UpdatePosterDesign(context.Background(), prg, names); err != nil {
		t.Fatal(err)
	}
	pdf := e.call(request{Method: "GET", Path: run.PDFURL, Token: e.readToken})
	wantProblem(t, pdf, 409, "conflict")
	if !bytes.Contains(pdf.Body, []byte(wei)) {
		t.Errorf("the conflict does not name Wei: %s", pdf.Body)
	}
}

// A server without print runs says so.
func TestPrintRunsNotServed(t *testing.T) {
	e := newEnv(t)
	wantProblem(t, e.call(request{Method: "GET", Path: "/v1/print_runs", Token: e.readToken}), 404, "not_found")
}
