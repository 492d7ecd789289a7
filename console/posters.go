package console

import (
	"context"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/referrald/referrald/model"
	"github.com/referrald/referrald/poster"
)

// Printing posters for many ambassadors at once: choose a program, the
// ambassadors (ticked in a list, or everyone active at one school), how
// many posters each, the layout and the paper, and get one PDF with every
// poster, printed with the program's design.
// Each poster is a new placement; all of them are made in one
// transaction (CreatePlacementBatch), and the form's idempotency key
// makes pressing Print again download the same posters, not new ones.

// Bounds of a printout: pages in the PDF, posters per ambassador, and
// how many ambassadors the chooser lists.
const (
	maxBatchPosters = 200
	maxPostersEach  = 10
	chooserSize     = model.MaxListLimit
	// schoolPages bounds the walk that finds everyone at a school: so
	// many pages of the ambassadors list, each examining at most
	// scanBudget of them.
	schoolPages = 100
)

// Who a printout is for, as the form's "who" input names it.
const (
	whoChosen = "chosen"
	whoSchool = "school"
)

var posterBatchFields = []*field{
	{Name: "program_id", Label: "Program"},
	{Name: "who", Label: "Ambassadors"},
	{Name: "ambassador_id", Label: "Ambassadors"},
	{Name: "school", Label: "School", Hint: "As their records spell it; case does not matter.",
		Attrs: map[string]string{"maxlength": strconv.Itoa(model.MaxLabelLen)}},
	{Name: "count", Label: "Posters for each ambassador", Type: "number", Required: true,
		Hint:  "From 1 to " + strconv.Itoa(maxPostersEach) + ". Each poster, flyer or sticker has a code of its own, so you can tell which spot works.",
		Attrs: map[string]string{"min": "1", "max": strconv.Itoa(maxPostersEach), "inputmode": "numeric"}},
	{Name: "layout", Label: "Layout"},
	{Name: "paper", Label: "Paper"},
	{Name: "label", Label: "Label", Hint: "Optional. Printed small on every poster, such as Freshers’ week.",
		Attrs: map[string]string{"maxlength": strconv.Itoa(model.MaxLabelLen)}},
	{Name: "cta", Label: "Call to action", Hint: "Optional. Printed with the QR code, instead of the poster design’s.",
		Attrs: map[string]string{"maxlength": strconv.Itoa(model.MaxCallToActionLen)}},
	{Name: "idempotency_key", Label: "Form"},
	{Name: "q", Label: "Find ambassadors", Type: "search", Hint: "A name, an email or a school.",
		Attrs: map[string]string{"maxlength": strconv.Itoa(maxSearchLen), "autocomplete": "off", "spellcheck": "false"}},
}

type posterBatchView struct {
	Form     *form
	Programs []*model.Program
	// Search narrows Choices, the active ambassadors listed to tick;
	// MoreChoices says there are more than the list shows.
	Search      string
	Choices     []*model.Ambassador
	MoreChoices bool
	Chosen      map[string]bool
	Papers      []paperChoice
	Layouts     []layoutChoice
	MaxPosters  int
}

// handlePosterBatchForm serves GET /console/placements/print with the
// form's inputs in the query: the form, as a link (?ambassador_id=) or
// its Find button (which sends every input here, so a search keeps what
// was chosen) left it, with a fresh key: each showing prints anew.
func (s *Server) handlePosterBatchForm(w http.ResponseWriter, r *http.Request) error {
	f := newForm(posterBatchFields...).read(r)
	for name, value := range map[string]string{"who": whoChosen, "count": "1", "paper": "a4", "layout": string(poster.LayoutPoster)} {
		if f.Get(name) == "" {
			f.Set(name, value)
		}
	}
	f.Set("idempotency_key", newFormKey())
	f.Set("q", clipRunes(f.Get("q"), maxSearchLen))
	if ids := f.values["ambassador_id"]; len(ids) > chooserSize {
		f.values["ambassador_id"] = ids[:chooserSize]
	}
	v, err := s.posterBatchView(r.Context(), f, f.Get("q"))
	if err != nil {
		return err
	}
	return s.render(w, r, http.StatusOK, "posters", v)
}

// posterBatchView fills the form's choices: the active programs, and the
// active ambassadors search finds, with those the form ticks first.
func (s *Server) posterBatchView(ctx context.Context, f *form, search string) (posterBatchView, error) {
	v := posterBatchView{Form: f, Search: search, Chosen: map[string]bool{}, Papers: papers, Layouts: layouts, MaxPosters: maxBatchPosters}
	var err error
	if v.Programs, err = s.activePrograms(ctx); err != nil {
		return v, err
	}
	listed := map[string]bool{}
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
		v.Chosen[a.ID], listed[a.ID] = true, true
		v.Choices = append(v.Choices, a)
	}
	page, err := s.svc.Ambassadors.FindAmbassadors(ctx, model.AmbassadorFilter{ListOptions: model.ListOptions{Limit: chooserSize},
		Status: model.AmbassadorActive, Search: search})
	if err != nil {
		return v, err
	}
	for _, a := range page.Data {
		if !listed[a.ID] {
			v.Choices = append(v.Choices, a)
		}
	}
	v.MoreChoices = page.HasMore
	return v, nil
}

// handlePosterBatch serves POST /console/placements/print: it makes the
// placements and answers with the PDF of their posters, to download; on
// a problem, the form again.
func (s *Server) handlePosterBatch(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	f := newForm(posterBatchFields...).read(r)
	render := func() error {
		v, err := s.posterBatchView(ctx, f, clipRunes(f.Get("q"), maxSearchLen))
		if err != nil {
			return err
		}
		return s.renderForm(w, r, "posters", v)
	}
	prg := s.batchProgram(ctx, f)
	count, err := strconv.Atoi(strings.TrimSpace(f.Get("count")))
	if err != nil || count < 1 || count > maxPostersEach {
		f.AddError("count", "must be a whole number from 1 to "+strconv.Itoa(maxPostersEach))
		count = 1
	}
	paper := f.Get("paper")
	if _, ok := poster.Papers[paper]; !ok {
		f.AddError("paper", "must be A4 or US Letter")
	}
	layout := poster.Layout(f.Get("layout"))
	if layout == "" {
		layout = poster.LayoutPoster // a page from before layouts
	} else if !layout.Valid() {
		f.AddError("layout", "must be one of those listed")
	}
	var fe model.FieldErrors
	label, cta := f.Get("label"), f.Get("cta")
	model.CheckPrintable(&fe, "label", &label, model.MaxLabelLen)
	model.CheckPrintable(&fe, "cta", &cta, model.MaxCallToActionLen)
	f.fromError(fe.Err())
	ambassadors, err := s.batchAmbassadors(ctx, f, count)
	if err != nil {
		return err
	}
	if f.HasErrors() || prg == nil {
		return render()
	}
	design, logo, err := s.designOf(ctx, prg.ID)
	if err != nil {
		return err
	}
	// Checked before anything is made: a poster that cannot print the
	// name its design shows is a placement nobody can print.
	for _, a := range ambassadors {
		if err := design.CheckName(a.FirstName); err != nil {
			msg := "include one whose name cannot be printed. " + nameProblem(a, err)
			if f.Get("who") == whoChosen {
				msg += ", or untick them"
			}
			f.AddError("who", msg)
			return render()
		}
	}
	// Sorted by name, so the printed pile is handed out in order.
	slices.SortStableFunc(ambassadors, func(a, b *model.Ambassador) int {
		return strings.Compare(strings.ToLower(a.LastName+" "+a.FirstName), strings.ToLower(b.LastName+" "+b.FirstName))
	})
	ins := make([]model.PlacementCreate, 0, len(ambassadors)*count)
	for _, a := range ambassadors {
		for range count {
			ins = append(ins, model.PlacementCreate{ProgramID: prg.ID, AmbassadorID: a.ID, Label: label})
		}
	}
	idem := formIdempotency(r, "POST /console/placements/print", f.Get("idempotency_key"), struct {
		Placements         []model.PlacementCreate
		Paper, CTA, Layout string
	}{ins, paper, cta, string(layout)})
	made, _, err := s.svc.Placements.CreatePlacementBatch(ctx, ins, idem)
	if model.ErrorCode(err) == model.EIdempotencyKeyReused {
		f.Set("idempotency_key", newFormKey())
		f.Fail("This form already printed other posters. Check the choices and press Print again to print these too.")
		return render()
	}
	if f.fromError(err) {
		return render()
	} else if err != nil {
		return err
	}
	byID := make(map[string]*model.Ambassador, len(ambassadors))
	for _, a := range ambassadors {
		byID[a.ID] = a
	}
	job := poster.Print{Program: prg, Design: design, Logo: logo, Ambassadors: byID, Placements: made,
		ScanBase: s.cfg.PublicBaseURL, Layout: layout, Paper: paper}.Job()
	if cta != "" {
		job.Design.CallToAction = cta
	}
	return writePDF(w, "posters-"+strconv.Itoa(len(made))+".pdf", job)
}

// batchProgram is the active program the form names, or nil with the
// problem recorded on the form.
func (s *Server) batchProgram(ctx context.Context, f *form) *model.Program {
	id := f.Get("program_id")
	if id == "" {
		f.AddError("program_id", "is required: choose the program the posters are for")
		return nil
	}
	p, err := s.svc.Programs.FindProgramByID(ctx, id)
	switch {
	case model.ErrorCode(err) == model.ENotFound:
		f.AddError("program_id", "is not a program of this referrald")
		return nil
	case err != nil:
		f.Fail("The program could not be read. Try again.")
		return nil
	case p.Status != model.ProgramActive:
		f.AddError("program_id", "is archived: an archived program takes no new posters")
		return nil
	}
	return p
}

// batchAmbassadors are the ambassadors the form chooses, as many as
// fit in a printout with count posters each, or none with the problem
// recorded on the form. Only the store's own failures are returned.
func (s *Server) batchAmbassadors(ctx context.Context, f *form, count int) ([]*model.Ambassador, error) {
	most := maxBatchPosters / count
	tooMany := func(n string) {
		f.AddError("who", "are "+n+": with "+strconv.Itoa(count)+" posters each, that is more than the "+strconv.Itoa(maxBatchPosters)+
			" one printout makes. Print them in parts")
	}
	switch f.Get("who") {
	case whoChosen:
		ids := f.values["ambassador_id"]
		if len(ids) == 0 {
			f.AddError("who", "are required: tick at least one")
			return nil, nil
		}
		if len(ids) > chooserSize {
			tooMany("more than " + strconv.Itoa(chooserSize))
			return nil, nil
		}
		var out []*model.Ambassador
		seen := map[string]bool{}
		for _, id := range ids {
			if seen[id] {
				continue
			}
			seen[id] = true
			a, err := s.svc.Ambassadors.FindAmbassadorByID(ctx, id)
			if model.ErrorCode(err) == model.ENotFound {
				f.AddError("who", "include one that does not exist, perhaps a link from elsewhere: tick them again")
				return nil, nil
			} else if err != nil {
				return nil, err
			}
			out = append(out, a)
		}
		if len(out) > most {
			tooMany(strconv.Itoa(len(out)))
			return nil, nil
		}
		return out, nil
	case whoSchool:
		var fe model.FieldErrors
		school := f.Get("school")
		model.CheckText(&fe, "school", &school, model.MaxLabelLen, true)
		if f.fromError(fe.Err()) {
			return nil, nil
		}
		// The school walk costs a read of every ambassador (see
		// AmbassadorFilter.School): bounded by schoolPages, and it stops
		// as soon as there are too many to print.
		filter := model.AmbassadorFilter{ListOptions: model.ListOptions{Limit: model.MaxListLimit}, Status: model.AmbassadorActive, School: school}
		var out []*model.Ambassador
		for range schoolPages {
			page, err := s.svc.Ambassadors.FindAmbassadors(ctx, filter)
			if err != nil {
				return nil, err
			}
			out = append(out, page.Data...)
			if len(out) > most {
				tooMany("more than " + strconv.Itoa(most) + " at " + school)
				return nil, nil
			}
			if !page.HasMore || page.NextCursor == nil {
				if len(out) == 0 {
					f.AddError("school", "has no active ambassador: check how their records spell it")
				}
				return out, nil
			}
			filter.Cursor = *page.NextCursor
		}
		f.AddError("school", "could not be looked for among every ambassador: there are too many. Tick them in the list instead")
		return nil, nil
	}
	f.AddError("who", "must be the ones ticked, or everyone at a school")
	return nil, nil
}
