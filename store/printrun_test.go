package store_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/referrald/referrald/model"
	"github.com/referrald/referrald/store"
)

// printRunEnv is a store with a program and a way to add ambassadors,
// written by an audited user.
type printRunEnv struct {
	t   *testing.T
	s   *store.Store
	ctx context.Context
	prg *model.Program
	// made counts the ambassadors added, for their emails.
	made int
}

func newPrintRunEnv(t *testing.T) *printRunEnv {
	t.Helper()
	s := MustOpenStore(t, store.Options{})
	ctx := model.WithActor(context.Background(), model.Actor{Kind: model.ActorUser, ID: "usr_01jdq3f7k8m2n4p6r8t0v2x4z6",
		Label: "ann@example.com", Audited: true})
	prg, _, err := s.CreateProgram(ctx, model.ProgramCreate{Name: "Spring", LandingURL: "https://example.com"}, model.Idempotency{})
	if err != nil {
		t.Fatal(err)
	}
	return &printRunEnv{t: t, s: s, ctx: ctx, prg: prg}
}

// ambassador adds one; status "" is active.
func (e *printRunEnv) ambassador(first, last, school string, status model.AmbassadorStatus) *model.Ambassador {
	e.t.Helper()
	e.made++
	in := model.AmbassadorCreate{FirstName: first, LastName: last, School: school, Status: status, Email: fmt.Sprintf("amb%d@uni.example", e.made)}
	if fe := in.Validate(); len(fe) > 0 {
		e.t.Fatal(fe)
	}
	a, _, err := e.s.CreateAmbassador(e.ctx, in, model.Idempotency{})
	if err != nil {
		e.t.Fatal(err)
	}
	return a
}

// placements are the program's placements, oldest first.
func (e *printRunEnv) placements() []*model.Placement {
	e.t.Helper()
	page, err := e.s.FindPlacements(e.ctx, model.PlacementFilter{ProgramID: e.prg.ID, ListOptions: model.ListOptions{Limit: model.MaxListLimit}})
	if err != nil {
		e.t.Fatal(err)
	}
	slices.Reverse(page.Data)
	return page.Data
}

// audited are the audit log's actions, oldest first.
func (e *printRunEnv) audited() []string {
	out := actions(allAudit(e.t, e.s, model.AuditFilter{}))
	slices.Reverse(out)
	return out
}

// A run makes count placements for each ambassador, in their order, and
// the run that holds them, in one write with its audit entries.
func TestCreatePrintRun(t *testing.T) {
	e := newPrintRunEnv(t)
	ada := e.ambassador("Ada", "Lovelace", "", "")
	grace := e.ambassador("Grace", "Hopper", "", "")
	before := len(e.audited())

	run, replayed, err := e.s.CreatePrintRun(e.ctx, model.PrintRunCreate{ProgramID: e.prg.ID, AmbassadorIDs: []string{grace.ID, ada.ID},
		Layout: "flyer4", Paper: "letter", Count: 3, Label: " Week 1 "}, model.Idempotency{})
	if err != nil || replayed {
		t.Fatalf("got %v, replayed %v", err, replayed)
	}
	if !strings.HasPrefix(run.ID, "prn_") || run.ProgramID != e.prg.ID || run.Layout != "flyer4" || run.Paper != "letter" || run.Count != 3 ||
		run.Label != "Week 1" || run.School != "" || run.Placements != 6 || !slices.Equal(run.AmbassadorIDs, []string{grace.ID, ada.ID}) {
		t.Fatalf("got %+v", run)
	}
	made := e.placements()
	if len(made) != 6 {
		t.Fatalf("the program has %d placements, want 6", len(made))
	}
	codes := map[string]bool{}
	for i, p := range made {
		codes[p.Code] = true
		want := grace.ID
		if i >= 3 {
			want = ada.ID
		}
		if p.ID != run.PlacementIDs[i] || p.AmbassadorID != want || p.Label == nil || *p.Label != "Week 1" || !p.Active {
			t.Errorf("placement %d: %+v, want %s, the run's %dth, labelled Week 1", i, p, want, i)
		}
	}
	if len(codes) != 6 {
		t.Errorf("got %d codes for 6 placements", len(codes))
	}
	got, err := e.s.FindPrintRunByID(e.ctx, run.ID)
	if err != nil || fmt.Sprint(got) != fmt.Sprint(run) {
		t.Fatalf("read back: got %+v, %v; want %+v", got, err, run)
	}
	// Each placement and the run are audited, the run last.
	audit := e.audited()[before:]
	if len(audit) != 7 || audit[6] != "print_run.created" || audit[0] != "placement.created" {
		t.Errorf("got audit entries %v, want 6 placement.created and print_run.created", audit)
	}

	rec, err := e.s.FindPrintRunRecords(e.ctx, run.ID, true)
	if err != nil {
		t.Fatal(err)
	}
	if rec.Program.ID != e.prg.ID || rec.Design == nil || rec.Logo != nil || len(rec.Placements) != 6 || rec.Placements[5].ID != run.PlacementIDs[5] ||
		rec.Ambassadors[ada.ID].FirstName != "Ada" || rec.Ambassadors[grace.ID].FirstName != "Grace" {
		t.Fatalf("records: got %+v", rec)
	}
	if _, err := e.s.FindPrintRunByID(e.ctx, "prn_01jdq3f7k8m2n4p6r8t0v2x4z6"); model.ErrorCode(err) != model.ENotFound {
		t.Errorf("an unknown run: got %v, want not_found", err)
	}
	if _, err := e.s.FindPrintRunRecords(e.ctx, "nonsense", false); model.ErrorCode(err) != model.ENotFound {
		t.Errorf("a malformed run ID: got %v, want not_found", err)
	}
}

// A run that cannot be printed for everyone is refused whole, naming
// whom, and leaves nothing behind: no placement, no run, no audit entry.
func TestCreatePrintRunRefusesWithNothingWritten(t *testing.T) {
	e := newPrintRunEnv(t)
	ada := e.ambassador("Ada", "Lovelace", "", "")
	pat := e.ambassador("Pat", "Paused", "", model.AmbassadorPaused)
	wei := e.ambassador("王", "Wei", "", "")
	archived, _, err := e.s.CreateProgram(e.ctx, model.ProgramCreate{Name: "Fall", LandingURL: "https://example.com", Status: model.ProgramArchived},
		model.Idempotency{})
	if err != nil {
		t.Fatal(err)
	}
	before := len(e.audited())

	fieldError := func(err error, field string, parts ...string) {
		t.Helper()
		var me *model.Error
		if !asError(err, &me) || me.Code != model.EValidation {
			t.Fatalf("got %v, want validation_failed", err)
		}
		for _, f := range me.Fields {
			if f.Field != field {
				continue
			}
			for _, p := range parts {
				if !strings.Contains(f.Message, p) {
					t.Errorf("%s: got %q, want it to say %q", field, f.Message, p)
				}
			}
			return
		}
		t.Fatalf("got %v, want an error on %s", me.Fields, field)
	}
	in := model.PrintRunCreate{ProgramID: e.prg.ID, AmbassadorIDs: []string{ada.ID, pat.ID}, Count: 2}
	_, _, err = e.s.CreatePrintRun(e.ctx, in, model.Idempotency{})
	fieldError(err, "ambassador_ids[1]", pat.ID, "Pat Paused", "paused")

	in.AmbassadorIDs = []string{ada.ID, "amb_01jdq3f7k8m2n4p6r8t0v2x4z6"}
	_, _, err = e.s.CreatePrintRun(e.ctx, in, model.Idempotency{})
	fieldError(err, "ambassador_ids[1]", "does not exist")

	if n, audit := len(e.placements()), e.audited()[before:]; n != 0 || len(audit) != 0 {
		t.Fatalf("refused runs made %d placements and audit entries %v", n, audit)
	}

	in.AmbassadorIDs = []string{ada.ID, wei.ID}
	if _, _, err := e.s.CreatePrintRun(e.ctx, in, model.Idempotency{}); err != nil {
		t.Fatalf("a design without names prints Wei's posters: %v", err)
	}
	made := len(e.placements())
	if _, err := e.s.UpdatePosterDesign(e.ctx, e.prg.ID, model.PosterDesignUpdate{ShowAmbassadorName: ptr(true)}); err != nil {
		t.Fatal(err)
	}
	before = len(e.audited())
	_, _, err = e.s.CreatePrintRun(e.ctx, in, model.Idempotency{})
	fieldError(err, "ambassador_ids[1]", wei.ID, "王 Wei", "Han")

	_, _, err = e.s.CreatePrintRun(e.ctx, model.PrintRunCreate{ProgramID: archived.ID, AmbassadorIDs: []string{ada.ID}, Count: 1}, model.Idempotency{})
	if model.ErrorCode(err) != model.EConflict {
		t.Errorf("an archived program: got %v, want conflict", err)
	}
	_, _, err = e.s.CreatePrintRun(e.ctx, model.PrintRunCreate{ProgramID: "prg_01jdq3f7k8m2n4p6r8t0v2x4z6", AmbassadorIDs: []string{ada.ID}, Count: 1},
		model.Idempotency{})
	fieldError(err, "program_id", "does not exist")
	_, _, err = e.s.CreatePrintRun(e.ctx, model.PrintRunCreate{ProgramID: e.prg.ID, AmbassadorIDs: []string{ada.ID}, Count: 51}, model.Idempotency{})
	fieldError(err, "count", "from 1 to 50")

	if n := len(e.placements()); n != made {
		t.Errorf("refused runs made %d placements", n-made)
	}
	if page, _ := e.s.FindPrintRuns(e.ctx, model.PrintRunFilter{}); len(page.Data) != 1 {
		t.Errorf("got %d runs, want only the one that printed", len(page.Data))
	}
	if got := e.audited()[before:]; len(got) != 0 {
		t.Errorf("refused runs left audit entries %v", got)
	}
}

// A retry with the run's idempotency key returns the same run and makes
// nothing; the key with another request is refused.
func TestCreatePrintRunIsIdempotent(t *testing.T) {
	e := newPrintRunEnv(t)
	ada := e.ambassador("Ada", "Lovelace", "", "")
	in := model.PrintRunCreate{ProgramID: e.prg.ID, AmbassadorIDs: []string{ada.ID}, Count: 4}
	key := idem("run-1", "ada, 4")
	run, replayed, err := e.s.CreatePrintRun(e.ctx, in, key)
	if err != nil || replayed {
		t.Fatalf("got %v, replayed %v", err, replayed)
	}
	again, replayed, err := e.s.CreatePrintRun(e.ctx, in, key)
	if err != nil || !replayed || again.ID != run.ID || !slices.Equal(again.PlacementIDs, run.PlacementIDs) {
		t.Fatalf("replay: got %+v, replayed %v, %v", again, replayed, err)
	}
	if n := len(e.placements()); n != 4 {
		t.Errorf("after a replay there are %d placements, want 4", n)
	}
	in.Count = 5
	if _, _, err := e.s.CreatePrintRun(e.ctx, in, model.Idempotency{Scope: key.Scope, Key: key.Key, Fingerprint: idem("", "ada, 5").Fingerprint}); model.ErrorCode(err) != model.EIdempotencyKeyReused {
		t.Errorf("the key with another count: got %v, want idempotency_key_reused", err)
	}
}

// A run by school is for everyone active there, whatever the case and
// spaces of the school's name, by name; the schools are listed with
// how many each has.
func TestCreatePrintRunBySchool(t *testing.T) {
	e := newPrintRunEnv(t)
	turing := e.ambassador("Alan", "Turing", "Trinity College", "")
	lovelace := e.ambassador("Ada", "Lovelace", " trinity college", "")
	e.ambassador("Pat", "Paused", "Trinity College", model.AmbassadorPaused)
	e.ambassador("Grace", "Hopper", "Yale", "")
	e.ambassador("Nobody", "Anywhere", "", "")
	hopper := e.ambassador("Gail", "Hopper", "TRINITY COLLEGE", "")

	run, _, err := e.s.CreatePrintRun(e.ctx, model.PrintRunCreate{ProgramID: e.prg.ID, School: "  Trinity college ", Count: 2}, model.Idempotency{})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{hopper.ID, lovelace.ID, turing.ID}; !slices.Equal(run.AmbassadorIDs, want) || run.School != "Trinity college" || run.Placements != 6 {
		t.Fatalf("got %+v, want Hopper, Lovelace and Turing, 2 each", run)
	}
	schools, err := e.s.Schools(e.ctx)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(schools) != "[{Trinity College 3} {Yale 1}]" {
		t.Errorf("got schools %v, want Trinity College (3 active) and Yale (1)", schools)
	}

	// Problems only reading the school finds: none there, more than a
	// run is for, or more placements than a run makes.
	var more []model.AmbassadorCreate
	for i := range model.MaxPrintRunAmbassadors + 1 + 21 {
		school := "Big"
		if i < 21 {
			school = "Mid"
		}
		more = append(more, model.AmbassadorCreate{FirstName: "A", LastName: fmt.Sprint(i), Email: fmt.Sprintf("a%d@big.example", i), School: school})
	}
	if _, _, err := e.s.ImportAmbassadors(e.ctx, more, model.Idempotency{}); err != nil {
		t.Fatal(err)
	}
	made := len(e.placements())
	for _, tc := range []struct {
		school      string
		count       int
		field, want string
	}{
		{"Harvard", 1, "school", "has no active ambassador"},
		{"big", 1, "school", "has 201 active ambassadors"},
		{"mid", 48, "count", "would make 1008 placements"},
	} {
		_, _, err := e.s.CreatePrintRun(e.ctx, model.PrintRunCreate{ProgramID: e.prg.ID, School: tc.school, Count: tc.count}, model.Idempotency{})
		if me := new(model.Error); !asError(err, &me) || len(me.Fields) != 1 || me.Fields[0].Field != tc.field ||
			!strings.Contains(me.Fields[0].Message, tc.want) {
			t.Errorf("%s, %d each: got %v, want %s to say %q", tc.school, tc.count, err, tc.field, tc.want)
		}
	}
	if n := len(e.placements()); n != made {
		t.Errorf("refused runs made %d placements", n-made)
	}
}

// Runs are listed newest first, of one program or of all, a page at a
// time.
func TestFindPrintRuns(t *testing.T) {
	e := newPrintRunEnv(t)
	ada := e.ambassador("Ada", "Lovelace", "", "")
	other, _, err := e.s.CreateProgram(e.ctx, model.ProgramCreate{Name: "Fall", LandingURL: "https://example.com"}, model.Idempotency{})
	if err != nil {
		t.Fatal(err)
	}
	var mine []string
	for i, prg := range []string{e.prg.ID, other.ID, e.prg.ID, e.prg.ID} {
		run, _, err := e.s.CreatePrintRun(e.ctx, model.PrintRunCreate{ProgramID: prg, AmbassadorIDs: []string{ada.ID}, Count: i + 1}, model.Idempotency{})
		if err != nil {
			t.Fatal(err)
		}
		if prg == e.prg.ID {
			mine = append([]string{run.ID}, mine...)
		}
	}
	var got []string
	f := model.PrintRunFilter{ProgramID: e.prg.ID, ListOptions: model.ListOptions{Limit: 2}}
	for {
		page, err := e.s.FindPrintRuns(e.ctx, f)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range page.Data {
			got = append(got, r.ID)
		}
		if !page.HasMore {
			break
		}
		f.Cursor = *page.NextCursor
	}
	if !slices.Equal(got, mine) {
		t.Errorf("the program's runs: got %v, want %v", got, mine)
	}
	all, err := e.s.FindPrintRuns(e.ctx, model.PrintRunFilter{})
	if err != nil || len(all.Data) != 4 || all.Data[2].ProgramID != other.ID || all.Data[2].Count != 2 {
		t.Errorf("every run: got %d, %v", len(all.Data), err)
	}
	if _, err := e.s.FindPrintRuns(e.ctx, model.PrintRunFilter{ListOptions: model.ListOptions{Cursor: "plc_nope"}}); model.ErrorCode(err) != model.EValidation {
		t.Errorf("a bad cursor: got %v, want validation_failed", err)
	}
}
