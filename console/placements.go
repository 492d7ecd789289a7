package console

import (
	"bytes"
	"context"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/referrald/referrald/model"
	"github.com/referrald/referrald/poster"
)

// Placements, which the pages call posters: the list, the form that
// makes one for an ambassador, a poster's page with its QR code and
// downloads, and taking one down. The QR code and the PDF are drawn by
// package poster, as the API draws them. Printing many at once is in
// posters.go.

var placementFields = []*field{
	{Name: "program_id", Label: "Program"},
	{Name: "label", Label: "Label", Hint: "Optional. Where it hangs, such as Library, 2nd floor: printed small at the foot of the poster.",
		Attrs: map[string]string{"maxlength": strconv.Itoa(model.MaxLabelLen)}},
	{Name: "location.address", Label: "Address", Hint: "Optional.",
		Attrs: map[string]string{"maxlength": strconv.Itoa(model.MaxLabelLen)}},
	{Name: "location.latitude", Label: "Latitude", Hint: "Optional, such as 51.5072.", Attrs: map[string]string{"inputmode": "decimal"}},
	{Name: "location.longitude", Label: "Longitude", Hint: "Optional, such as -0.1276.", Attrs: map[string]string{"inputmode": "decimal"}},
	{Name: "idempotency_key", Label: "Form"},
}

// placementPageSize is how many posters a page of the list shows; each
// costs a read of its counters.
const placementPageSize = 50

type placementListView struct {
	Programs []*model.Program
	// Program and Ambassador narrow the list when set.
	Program    *model.Program
	Ambassador *model.Ambassador
	Placements []placementRow
	Next       string
	Later      bool
}

// handlePlacementList serves GET
// /console/placements?program_id=&ambassador_id=&cursor=: posters newest
// first, of a program or of an ambassador.
func (s *Server) handlePlacementList(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	q := r.URL.Query()
	var v placementListView
	var err error
	if v.Programs, err = s.programChoices(ctx); err != nil {
		return err
	}
	f := model.PlacementFilter{ListOptions: model.ListOptions{Limit: placementPageSize, Cursor: q.Get("cursor")}}
	next := url.Values{}
	if id := q.Get("program_id"); id != "" {
		if v.Program, err = s.svc.Programs.FindProgramByID(ctx, id); err != nil {
			return err
		}
		f.ProgramID = v.Program.ID
		next.Set("program_id", f.ProgramID)
	}
	if id := q.Get("ambassador_id"); id != "" {
		if v.Ambassador, err = s.svc.Ambassadors.FindAmbassadorByID(ctx, id); err != nil {
			return err
		}
		f.AmbassadorID = v.Ambassador.ID
		next.Set("ambassador_id", f.AmbassadorID)
	}
	page, err := s.svc.Placements.FindPlacements(ctx, f)
	if model.ErrorCode(err) == model.EValidation { // a cursor from elsewhere
		f.Cursor = ""
		page, err = s.svc.Placements.FindPlacements(ctx, f)
	}
	if err != nil {
		return err
	}
	if v.Placements, err = s.placementRows(ctx, page.Data, s.programNames(), map[string]string{}); err != nil {
		return err
	}
	v.Later = f.Cursor != ""
	if page.HasMore && page.NextCursor != nil {
		next.Set("cursor", *page.NextCursor)
		v.Next = "/console/placements?" + next.Encode()
	}
	return s.render(w, r, http.StatusOK, "placements", v)
}

type placementFormView struct {
	Form       *form
	Ambassador *model.Ambassador
	// Programs are the active programs, which take new posters.
	Programs []*model.Program
}

// activePrograms are the programs that take new posters, newest first;
// a hundred at most, more than a school runs at once.
func (s *Server) activePrograms(ctx context.Context) ([]*model.Program, error) {
	page, err := s.svc.Programs.FindPrograms(ctx, model.ProgramFilter{ListOptions: model.ListOptions{Limit: model.MaxListLimit},
		Status: model.ProgramActive})
	return page.Data, err
}

// handlePlacementNew serves GET
// /console/ambassadors/{id}/placements/new?program_id=.
func (s *Server) handlePlacementNew(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	a, err := s.svc.Ambassadors.FindAmbassadorByID(ctx, r.PathValue("id"))
	if err != nil {
		return err
	}
	v := placementFormView{Form: newForm(placementFields...), Ambassador: a}
	if v.Programs, err = s.activePrograms(ctx); err != nil {
		return err
	}
	v.Form.Set("program_id", r.URL.Query().Get("program_id"))
	v.Form.Set("idempotency_key", newFormKey())
	return s.render(w, r, http.StatusOK, "placement_form", v)
}

// handlePlacementCreate serves POST /console/ambassadors/{id}/placements/new.
func (s *Server) handlePlacementCreate(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	a, err := s.svc.Ambassadors.FindAmbassadorByID(ctx, r.PathValue("id"))
	if err != nil {
		return err
	}
	f := newForm(placementFields...).read(r)
	v := placementFormView{Form: f, Ambassador: a}
	if v.Programs, err = s.activePrograms(ctx); err != nil {
		return err
	}
	in := model.PlacementCreate{ProgramID: f.Get("program_id"), AmbassadorID: a.ID, Label: f.Get("label")}
	in.Location = readLocation(f)
	f.fromError(in.Validate().Err())
	if f.HasErrors() {
		return s.renderForm(w, r, "placement_form", v)
	}
	idem := formIdempotency(r, "POST /console/ambassadors/{id}/placements/new", f.Get("idempotency_key"), in)
	p, _, err := s.svc.Placements.CreatePlacement(ctx, in, idem)
	if model.ErrorCode(err) == model.EIdempotencyKeyReused {
		f.Set("idempotency_key", newFormKey())
		f.Fail("This form was already sent with other values, which made a poster. Check the values and send it again to make another.")
		return s.renderForm(w, r, "placement_form", v)
	}
	if f.fromError(err) {
		return s.renderForm(w, r, "placement_form", v)
	} else if err != nil {
		return err
	}
	return s.redirect(w, r, "/console/placements/"+p.ID, "Poster created. Download it below, print it and put it up.")
}

// readLocation reads the location inputs; nil when all are empty. What
// is not a number is recorded on the form; the bounds are the model's.
func readLocation(f *form) *model.Location {
	l := &model.Location{Address: f.Get("location.address")}
	for name, dst := range map[string]**float64{"location.latitude": &l.Latitude, "location.longitude": &l.Longitude} {
		text := strings.TrimSpace(f.Get(name))
		if text == "" {
			continue
		}
		n, err := strconv.ParseFloat(text, 64)
		if err != nil {
			f.AddError(name, "must be a number of degrees, such as 51.5072")
			continue
		}
		*dst = &n
	}
	if strings.TrimSpace(l.Address) == "" && l.Latitude == nil && l.Longitude == nil {
		return nil
	}
	return l
}

type placementView struct {
	Placement  *model.Placement
	Program    *model.Program
	Ambassador *model.Ambassador
	Funnel     model.Funnel
	Papers     []paperChoice
}

// paperChoice is a paper size a poster downloads on.
type paperChoice struct{ Value, Label string }

// papers are the sizes of poster.Papers, as the pages offer them.
var papers = []paperChoice{{"a4", "A4"}, {"letter", "US Letter"}}

// handlePlacementGet serves GET /console/placements/{id}.
func (s *Server) handlePlacementGet(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	p, err := s.svc.Placements.FindPlacementByID(ctx, r.PathValue("id"))
	if err != nil {
		return err
	}
	s.withScanURL(p)
	v := placementView{Placement: p, Papers: papers}
	if v.Program, err = s.programNames().program(ctx, p.ProgramID); err != nil {
		return err
	}
	if v.Ambassador, err = s.svc.Ambassadors.FindAmbassadorByID(ctx, p.AmbassadorID); err != nil {
		return err
	}
	if v.Funnel, err = s.svc.Stats.Funnel(ctx, model.StatsFilter{PlacementID: p.ID}); err != nil {
		return err
	}
	return s.render(w, r, http.StatusOK, "placement", v)
}

// withScanURL fills in what p's QR code carries.
func (s *Server) withScanURL(p *model.Placement) *model.Placement {
	p.ScanURL = poster.ScanURL(s.cfg.PublicBaseURL, p.Code)
	return p
}

// qrOptions are how the console draws a QR code: the API's defaults, a
// size that prints sharp at poster size, and a margin scanners like.
var qrOptions = poster.Options{Size: poster.DefaultSize, Margin: poster.DefaultMargin, Level: poster.DefaultLevel}

// handlePlacementQR serves GET /console/placements/{id}/qr.png and
// qr.svg (?download=1 to save it as a file): the QR code the poster
// prints, from the same cache and with the same tags as the API's.
func (s *Server) handlePlacementQR(format string) handler {
	return func(w http.ResponseWriter, r *http.Request) error {
		p, err := s.svc.Placements.FindPlacementByID(r.Context(), r.PathValue("id"))
		if err != nil {
			return err
		}
		img, err := s.qrImages.Image(format, s.withScanURL(p).ScanURL, qrOptions)
		if err != nil {
			return err
		}
		if r.URL.Query().Get("download") != "" {
			w.Header().Set("Content-Disposition", `attachment; filename="qr-`+p.Code+`.`+format+`"`)
		}
		img.Serve(w, r)
		return nil
	}
}

// handlePlacementPoster serves GET /console/placements/{id}/poster.pdf
// ?paper=a4|letter&layout=poster|tearoff: the printable poster of an
// existing placement, with its program's design, as the API prints it.
// Nothing is made: printing it again prints the same code, so only the
// layouts of one placement a page are offered.
func (s *Server) handlePlacementPoster(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	p, err := s.svc.Placements.FindPlacementByID(ctx, r.PathValue("id"))
	if err != nil {
		return err
	}
	q := r.URL.Query()
	var fe model.FieldErrors
	paper := q.Get("paper")
	if paper == "" {
		paper = "a4"
	}
	if _, ok := poster.Papers[paper]; !ok {
		fe.Add("paper", model.FInvalidValue, "must be a4 or letter")
	}
	layout := poster.Layout(q.Get("layout"))
	if layout == "" {
		layout = poster.LayoutPoster
	}
	if !slices.ContainsFunc(singleLayouts, func(c layoutChoice) bool { return c.Value == layout }) {
		fe.Add("layout", model.FInvalidValue, "must be poster or tearoff: the other layouts print many placements a page")
	}
	if err := fe.Err(); err != nil {
		return err
	}
	prg, err := s.svc.Programs.FindProgramByID(ctx, p.ProgramID)
	if err != nil {
		return err
	}
	a, err := s.svc.Ambassadors.FindAmbassadorByID(ctx, p.AmbassadorID)
	if err != nil {
		return err
	}
	design, logo, err := s.designOf(ctx, prg.ID)
	if err != nil {
		return err
	}
	if err := design.CheckName(a.FirstName); err != nil {
		return model.Errorf(model.EConflict, "%s", nameProblem(a, err))
	}
	job := poster.Print{Program: prg, Design: design, Logo: logo, Ambassadors: map[string]*model.Ambassador{a.ID: a},
		Placements: []*model.Placement{p}, ScanBase: s.cfg.PublicBaseURL, Layout: layout, Paper: paper}.Job()
	return writePDF(w, "poster-"+p.Code+".pdf", job)
}

// writePDF answers with the PDF of job, to be saved as file.
func writePDF(w http.ResponseWriter, file string, job poster.Job) error {
	var buf bytes.Buffer
	if err := poster.PDF(&buf, job); err != nil {
		return err
	}
	h := w.Header()
	h.Set("Content-Type", "application/pdf")
	h.Set("Content-Length", strconv.Itoa(buf.Len()))
	h.Set("Content-Disposition", `attachment; filename="`+file+`"`)
	h.Set("Cache-Control", "no-store")
	w.Write(buf.Bytes())
	return nil
}

// handlePlacementDeactivate serves POST /console/placements/{id}/deactivate.
func (s *Server) handlePlacementDeactivate(w http.ResponseWriter, r *http.Request) error {
	p, err := s.setPlacementActive(r.Context(), r.PathValue("id"), false)
	if err != nil {
		return err
	}
	return s.redirect(w, r, "/console/placements/"+p.ID, "The poster is deactivated: its scans are no longer counted.")
}

// handlePlacementActivate serves POST /console/placements/{id}/activate.
func (s *Server) handlePlacementActivate(w http.ResponseWriter, r *http.Request) error {
	p, err := s.setPlacementActive(r.Context(), r.PathValue("id"), true)
	if err != nil {
		return err
	}
	return s.redirect(w, r, "/console/placements/"+p.ID, "The poster is active again: its scans count.")
}

func (s *Server) setPlacementActive(ctx context.Context, id string, active bool) (*model.Placement, error) {
	return s.svc.Placements.UpdatePlacement(ctx, id, model.PlacementUpdate{Active: &active})
}
