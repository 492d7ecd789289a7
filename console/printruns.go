package console

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/referrald/referrald/model"
	"github.com/referrald/referrald/poster"
)

// Print runs: the list, the form that makes one (a program, the
// ambassadors ticked or everyone active at a school, a layout, paper and
// a count each), and a run's page with its PDF and how each of its
// sheets does. A run is made in one transaction (CreatePrintRun), and
// the form's idempotency key makes sending it again show the same run.

// Sizes of the print run pages: runs a page of the list, and sheets a
// page of a run, each of which costs a read of its counters.
const (
	printRunPageSize   = 50
	printRunSheetsPage = 100
)

// layoutLabel is the name the pages give layout.
func layoutLabel(layout string) string {
	for _, c := range layouts {
		if string(c.Value) == layout {
			return c.Label
		}
	}
	return layout
}

// paperLabel is the name the pages give paper.
func paperLabel(paper string) string {
	for _, p := range papers {
		if p.Value == paper {
			return p.Label
		}
	}
	return paper
}

var printRunFields = []*field{
	{Name: "program_id", Label: "Program"},
	{Name: "who", Label: "Ambassadors", Model: []string{"ambassador_ids"}},
	{Name: "ambassador_id", Label: "Ambassadors"},
	{Name: "school", Label: "School"},
	{Name: "layout", Label: "Layout"},
	{Name: "paper", Label: "Paper"},
	{Name: "count", Label: "For each ambassador", Type: "number", Required: true,
		Hint: "How many each ambassador gets, from 1 to " + strconv.Itoa(model.MaxPrintRunCount) + ": at most " +
			strconv.Itoa(model.MaxPrintRunPlacements) + " in one run. Each has a code of its own, so you can tell which spot works.",
		Attrs: map[string]string{"min": "1", "max": strconv.Itoa(model.MaxPrintRunCount), "inputmode": "numeric"}},
	{Name: "label", Label: "Label", Hint: "Optional. Printed small on every sheet, such as Freshers’ week.",
		Attrs: map[string]string{"maxlength": strconv.Itoa(model.MaxLabelLen)}},
	{Name: "idempotency_key", Label: "Form"},
	{Name: "q", Label: "Find ambassadors", Type: "search", Hint: "A name, an email or a school.",
		Attrs: map[string]string{"maxlength": strconv.Itoa(maxSearchLen), "autocomplete": "off", "spellcheck": "false"}},
}

func (s *Server) printRuns() (model.PrintRunService, error) {
	if s.svc.PrintRuns == nil {
		return nil, model.Errorf(model.ENotFound, "Print runs are not served here.")
	}
	return s.svc.PrintRuns, nil
}

type printRunListView struct {
	Programs []*model.Program
	// Program narrows the list when set.
	Program *model.Program
	Runs    []printRunListRow
	Next    string
	Later   bool
}

type printRunListRow struct {
	*model.PrintRun
	ProgramName, LayoutName string
	// Who says whom the run was for; Sheets how many it made.
	Who, Sheets string
}

// printRunWho says whom run was for: "Everyone at Yale (12)", "3".
func printRunWho(run *model.PrintRun) string {
	n := formatCount(int64(len(run.AmbassadorIDs)))
	if run.School != "" {
		return "Everyone at " + run.School + " (" + n + ")"
	}
	return n
}

// handlePrintRunList serves GET /console/print-runs?program_id=&cursor=:
// runs newest first, of every program or one.
func (s *Server) handlePrintRunList(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	svc, err := s.printRuns()
	if err != nil {
		return err
	}
	q := r.URL.Query()
	var v printRunListView
	if v.Programs, err = s.programChoices(ctx); err != nil {
		return err
	}
	f := model.PrintRunFilter{ListOptions: model.ListOptions{Limit: printRunPageSize, Cursor: q.Get("cursor")}}
	next := url.Values{}
	if id := q.Get("program_id"); id != "" {
		if v.Program, err = s.svc.Programs.FindProgramByID(ctx, id); err != nil {
			return err
		}
		f.ProgramID = v.Program.ID
		next.Set("program_id", f.ProgramID)
	}
	page, err := svc.FindPrintRuns(ctx, f)
	if model.ErrorCode(err) == model.EValidation { // a cursor from elsewhere
		f.Cursor = ""
		page, err = svc.FindPrintRuns(ctx, f)
	}
	if err != nil {
		return err
	}
	names := s.programNames()
	for _, run := range page.Data {
		name, err := names.of(ctx, run.ProgramID)
		if err != nil {
			return err
		}
		v.Runs = append(v.Runs, printRunListRow{PrintRun: run, ProgramName: name, LayoutName: layoutLabel(run.Layout), Who: printRunWho(run),
			Sheets: formatCount(int64(run.Placements))})
	}
	v.Later = f.Cursor != ""
	if page.HasMore && page.NextCursor != nil {
		next.Set("cursor", *page.NextCursor)
		v.Next = "/console/print-runs?" + next.Encode()
	}
	return s.render(w, r, http.StatusOK, "printruns", v)
}

type printRunFormView struct {
	Form *form
	// Programs are the active programs, which take new posters.
	Programs []*model.Program
	// Search narrows Choices, the active ambassadors listed to tick,
	// those ticked first; MoreChoices says there are more than listed.
	Search      string
	Choices     []*model.Ambassador
	MoreChoices bool
	Chosen      map[string]bool
	// Schools are those of active ambassadors; SchoolsProblem says why
	// they could not be listed.
	Schools        []model.School
	SchoolsProblem string
	Layouts        []layoutChoice
	Papers         []paperChoice
}

// handlePrintRunNew serves GET /console/print-runs/new with the form's
// inputs in the query: the form as a link (?program_id=) or its Find
// button (which sends every input here, so a search keeps what was
// chosen) left it, with a fresh key, since each showing makes a new run.
func (s *Server) handlePrintRunNew(w http.ResponseWriter, r *http.Request) error {
	f := newForm(printRunFields...).read(r)
	for name, value := range map[string]string{"who": whoChosen, "count": "1", "paper": model.DefaultPrintPaper, "layout": model.DefaultPrintLayout} {
		if f.Get(name) == "" {
			f.Set(name, value)
		}
	}
	f.Set("idempotency_key", newFormKey())
	f.Set("q", clipRunes(f.Get("q"), maxSearchLen))
	if ids := f.values["ambassador_id"]; len(ids) > model.MaxPrintRunAmbassadors {
		f.values["ambassador_id"] = ids[:model.MaxPrintRunAmbassadors]
	}
	v, err := s.printRunFormView(r.Context(), f)
	if err != nil {
		return err
	}
	return s.render(w, r, http.StatusOK, "printrun_form", v)
}

// printRunFormView fills the form's choices: the active programs, the
// schools, and the active ambassadors the search finds, with those the
// form ticks first.
func (s *Server) printRunFormView(ctx context.Context, f *form) (printRunFormView, error) {
	v := printRunFormView{Form: f, Search: clipRunes(f.Get("q"), maxSearchLen), Chosen: map[string]bool{}, Layouts: layouts, Papers: papers}
	svc, err := s.printRuns()
	if err != nil {
		return v, err
	}
	if v.Programs, err = s.activePrograms(ctx); err != nil {
		return v, err
	}
	v.Schools, err = svc.Schools(ctx)
	var me *model.Error
	if errors.As(err, &me) && me.Code == model.EValidation {
		v.SchoolsProblem = "There are too many active ambassadors to list their schools: tick the ambassadors instead."
	} else if err != nil {
		return v, err
	}
	for _, id := range f.values["ambassador_id"] {
		if v.Chosen[id] {
			continue
		}
		a, err := s.svc.Ambassadors.FindAmbassadorByID(ctx, id)
		if model.ErrorCode(err) == model.ENotFound {
			continue
		} else if err != nil {
			return v, err
		}
		v.Chosen[a.ID] = true
		v.Choices = append(v.Choices, a)
	}
	page, err := s.svc.Ambassadors.FindAmbassadors(ctx, model.AmbassadorFilter{ListOptions: model.ListOptions{Limit: chooserSize},
		Status: model.AmbassadorActive, Search: v.Search})
	if err != nil {
		return v, err
	}
	for _, a := range page.Data {
		if !v.Chosen[a.ID] {
			v.Choices = append(v.Choices, a)
		}
	}
	v.MoreChoices = page.HasMore
	return v, nil
}

// handlePrintRunCreate serves POST /console/print-runs/new: it makes the
// run and shows its page, with the PDF to download; on a problem, the
// form again with it.
func (s *Server) handlePrintRunCreate(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	svc, err := s.printRuns()
	if err != nil {
		return err
	}
	f := newForm(printRunFields...).read(r)
	render := func() error {
		v, err := s.printRunFormView(ctx, f)
		if err != nil {
			return err
		}
		return s.renderForm(w, r, "printrun_form", v)
	}
	in := model.PrintRunCreate{ProgramID: f.Get("program_id"), Layout: f.Get("layout"), Paper: f.Get("paper"), Label: f.Get("label")}
	switch f.Get("who") {
	case whoSchool:
		if in.School = f.Get("school"); strings.TrimSpace(in.School) == "" {
			f.AddError("school", "is required: choose the school whose active ambassadors get the posters")
		}
	case whoChosen:
		if in.AmbassadorIDs = f.values["ambassador_id"]; len(in.AmbassadorIDs) == 0 {
			f.AddError("who", "are required: tick at least one, or choose a school")
		}
	default:
		f.AddError("who", "must be the ones ticked, or everyone at a school")
	}
	if in.ProgramID == "" {
		f.AddError("program_id", "is required: choose the program the posters are for")
	}
	if in.Count, err = strconv.Atoi(strings.TrimSpace(f.Get("count"))); err != nil {
		f.AddError("count", "must be a whole number from 1 to "+strconv.Itoa(model.MaxPrintRunCount))
		in.Count = 1
	}
	showPrintRunProblems(f, in.Validate().Err())
	if f.HasErrors() {
		return render()
	}
	idem := formIdempotency(r, "POST /console/print-runs/new", f.Get("idempotency_key"), in)
	run, _, err := svc.CreatePrintRun(ctx, in, idem)
	if model.ErrorCode(err) == model.EIdempotencyKeyReused {
		f.Set("idempotency_key", newFormKey())
		f.Fail("This form already made another print run. Check the choices and send it again to make this one too.")
		return render()
	}
	if showPrintRunProblems(f, err) {
		return render()
	} else if err != nil {
		return err
	}
	return s.redirect(w, r, "/console/print-runs/"+run.ID, "Print run made: "+plural(run.Placements, "new sheet", "new sheets")+
		" for "+plural(len(run.AmbassadorIDs), "ambassador", "ambassadors")+". Download the PDF and print it.")
}

// showPrintRunProblems shows err on the form as fromError does, with
// the problems of single ambassadors (ambassador_ids[i]) together on
// the ambassadors' input, so every paused or unprintable one is named.
func showPrintRunProblems(f *form, err error) bool {
	var e *model.Error
	if !errors.As(err, &e) || e.Code != model.EValidation {
		return f.fromError(err)
	}
	var each []string
	for _, fe := range e.Fields {
		if strings.HasPrefix(fe.Field, "ambassador_ids[") {
			each = append(each, fe.Message)
			continue
		}
		f.addFieldError(fe)
	}
	if len(each) > 0 {
		f.AddError("who", "cannot all be printed for: "+strings.Join(each, "; "))
	}
	return true
}

type printRunView struct {
	Run     *model.PrintRun
	Program *model.Program
	Layout  string
	Paper   string
	// Sheets and Ambassadors say how many: "4 sheets", "2 ambassadors".
	Sheets, Ambassadors string
	// Rows are the page of the run's sheets shown, from the First'th
	// (from 1) to the Last'th; Prev and Next link to the pages beside.
	Rows        []placementRow
	First, Last int
	Prev, Next  string
}

// handlePrintRunGet serves GET /console/print-runs/{id}?page=: the run,
// its PDF, and its sheets a page at a time, with each one's scans and
// signups.
func (s *Server) handlePrintRunGet(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	svc, err := s.printRuns()
	if err != nil {
		return err
	}
	rec, err := svc.FindPrintRunRecords(ctx, r.PathValue("id"), false)
	if err != nil {
		return err
	}
	run := rec.Run
	v := printRunView{Run: run, Program: rec.Program, Layout: layoutLabel(run.Layout), Paper: paperLabel(run.Paper),
		Sheets: plural(run.Placements, "sheet", "sheets"), Ambassadors: plural(len(run.AmbassadorIDs), "ambassador", "ambassadors")}
	pages := max(1, (len(rec.Placements)+printRunSheetsPage-1)/printRunSheetsPage)
	page, err := strconv.Atoi(r.URL.Query().Get("page"))
	if err != nil || page < 1 || page > pages {
		page = 1
	}
	from, to := (page-1)*printRunSheetsPage, min(page*printRunSheetsPage, len(rec.Placements))
	names := map[string]string{}
	for id, a := range rec.Ambassadors {
		names[id] = a.FirstName + " " + a.LastName
	}
	if v.Rows, err = s.placementRows(ctx, rec.Placements[from:to], s.programNames(), names); err != nil {
		return err
	}
	v.First, v.Last = from+1, to
	pageURL := func(n int) string { return "/console/print-runs/" + run.ID + "?page=" + strconv.Itoa(n) }
	if page > 1 {
		v.Prev = pageURL(page - 1)
	}
	if page < pages {
		v.Next = pageURL(page + 1)
	}
	return s.render(w, r, http.StatusOK, "printrun", v)
}

// handlePrintRunPDF serves GET /console/print-runs/{id}/posters.pdf:
// every sheet of the run, drawn from its placements with the program's
// design as it is now, as the API's posters.pdf draws it.
func (s *Server) handlePrintRunPDF(w http.ResponseWriter, r *http.Request) error {
	svc, err := s.printRuns()
	if err != nil {
		return err
	}
	rec, err := svc.FindPrintRunRecords(r.Context(), r.PathValue("id"), true)
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	if err := poster.PrintRunPDF(&buf, rec, s.cfg.PublicBaseURL); err != nil {
		return err
	}
	h := w.Header()
	h.Set("Content-Type", "application/pdf")
	h.Set("Content-Length", strconv.Itoa(buf.Len()))
	h.Set("Content-Disposition", `attachment; filename="print-run-`+rec.Run.ID+`.pdf"`)
	h.Set("Cache-Control", "no-store")
	w.Write(buf.Bytes())
	return nil
}
