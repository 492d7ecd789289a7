package portal

import (
	"bytes"
	"context"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/referrald/referrald/model"
	"github.com/referrald/referrald/poster"
)

// An ambassador's posters: each with its numbers, and one poster's QR
// code, its printable PDF and its numbers by day. Nothing here makes a
// poster: printing one again prints the same code.

type posterRow struct {
	*model.Placement
	Program string
	Name    string
	Numbers numbers
}

type posterListView struct {
	Posters []posterRow
	Next    string
}

// withScanURL fills in what p's QR code carries.
func (s *Server) withScanURL(p *model.Placement) *model.Placement {
	p.ScanURL = poster.ScanURL(s.cfg.PublicBaseURL, p.Code)
	return p
}

// handlePosterList serves GET /portal/posters: the ambassador's posters,
// newest first, with their numbers.
func (s *Server) handlePosterList(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	opt, err := listOptions(r)
	if err != nil {
		return err
	}
	page, err := s.svc.Placements.FindPlacements(ctx, model.PlacementFilter{AmbassadorID: ambOf(r).ID, ListOptions: opt})
	if err != nil {
		return err
	}
	v := posterListView{Next: nextLink("/portal/posters", page)}
	n := s.names(ctx)
	for _, p := range page.Data {
		row := posterRow{Placement: s.withScanURL(p), Name: posterName(p)}
		if row.Program, err = n.program(p.ProgramID); err != nil {
			return err
		}
		f, err := s.svc.Stats.Funnel(ctx, model.StatsFilter{PlacementID: p.ID})
		if err != nil {
			return err
		}
		row.Numbers = numbersOf(f)
		v.Posters = append(v.Posters, row)
	}
	return s.render(w, r, http.StatusOK, "posters", v)
}

// chartDays is how many days a poster's page shows its numbers for.
const chartDays = 30

type posterView struct {
	posterRow
	// NameProblem, when set, is why the poster cannot be printed: its
	// design shows a name its fonts cannot print.
	NameProblem string
	Chart       chart
	// Days are the days with any count, newest first.
	Days []dayRow
}

// handlePosterGet serves GET /portal/posters/{id}: one poster, its QR
// code, its downloads and its numbers over the last chartDays days.
func (s *Server) handlePosterGet(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	p, err := s.myPlacement(r)
	if err != nil {
		return err
	}
	v := posterView{posterRow: posterRow{Placement: s.withScanURL(p), Name: posterName(p)}}
	if v.Program, err = s.names(ctx).program(p.ProgramID); err != nil {
		return err
	}
	design, _, err := s.designOf(ctx, p.ProgramID)
	if err != nil && model.ErrorCode(err) != model.ENotFound {
		return err
	} else if err == nil {
		v.NameProblem = nameProblem(design, ambOf(r))
	}
	f, err := s.svc.Stats.Funnel(ctx, model.StatsFilter{PlacementID: p.ID})
	if err != nil {
		return err
	}
	v.Numbers = numbersOf(f)
	today := s.now().UTC().Truncate(24 * time.Hour)
	from := today.AddDate(0, 0, -(chartDays - 1))
	byDay, err := s.svc.Stats.FunnelByDay(ctx, model.StatsFilter{PlacementID: p.ID, From: model.NewTime(from),
		To: model.NewTime(today.Add(24 * time.Hour))})
	if err != nil {
		return err
	}
	days := fillDays(from, chartDays, byDay)
	v.Chart = scanChart(days)
	for i := len(days) - 1; i >= 0; i-- {
		if d := days[i]; d.Scans+d.Signups+d.Purchases > 0 {
			v.Days = append(v.Days, d)
		}
	}
	return s.render(w, r, http.StatusOK, "poster", v)
}

// qrOptions are how the portal draws a QR code: the API's defaults, as
// the console draws them.
var qrOptions = poster.Options{Size: poster.DefaultSize, Margin: poster.DefaultMargin, Level: poster.DefaultLevel}

// handlePosterQR serves GET /portal/posters/{id}/qr.png and qr.svg
// (?download=1 to save it as a file): the QR code the poster prints.
func (s *Server) handlePosterQR(format string) handler {
	return func(w http.ResponseWriter, r *http.Request) error {
		p, err := s.myPlacement(r)
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

// posterLayouts are the layouts an ambassador prints a poster of theirs
// in: those of one placement a page, since on a sheet of many each cell
// is a placement of its own, which only the console and the API make.
var posterLayouts = []poster.Layout{poster.LayoutPoster, poster.LayoutTearoff}

// designOf is the design program's posters print with, and its logo
// (nil without one); the defaults when the portal keeps no designs.
func (s *Server) designOf(ctx context.Context, programID string) (*model.PosterDesign, []byte, error) {
	if s.svc.Designs == nil {
		return model.DefaultPosterDesign(programID), nil, nil
	}
	d, err := s.svc.Designs.FindPosterDesign(ctx, programID)
	if err != nil || d.Logo == nil {
		return d, nil, err
	}
	logo, err := s.svc.Designs.FindPosterLogo(ctx, programID)
	if model.ErrorCode(err) == model.ENotFound {
		return d, nil, nil // removed since the design was read: print without it
	}
	return d, logo, err
}

// nameProblem says why posters of design d cannot print the signed-in
// ambassador's first name, and what to do; "" when they can.
func nameProblem(d *model.PosterDesign, a *model.Ambassador) string {
	if err := d.CheckName(a.FirstName); err != nil {
		return "Your posters show your first name, and as your profile spells it, it " + err.Error() +
			". Change it on your profile page, in letters of the Latin, Greek or Cyrillic alphabet, or ask your program manager."
	}
	return ""
}

// handlePosterPDF serves GET
// /portal/posters/{id}/poster.pdf?paper=a4|letter&layout=poster|tearoff:
// the printable poster of this placement, with its program's design, to
// print again.
func (s *Server) handlePosterPDF(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	p, err := s.myPlacement(r)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	paper := q.Get("paper")
	if paper == "" {
		paper = "a4"
	}
	if _, ok := poster.Papers[paper]; !ok {
		return model.Errorf(model.EValidation, "paper must be a4 or letter")
	}
	layout := poster.Layout(q.Get("layout"))
	if layout == "" {
		layout = poster.LayoutPoster
	}
	if !slices.Contains(posterLayouts, layout) {
		return model.Errorf(model.EValidation, "layout must be poster or tearoff")
	}
	prg, err := s.svc.Programs.FindProgramByID(ctx, p.ProgramID)
	if err != nil {
		return lookup(err)
	}
	design, logo, err := s.designOf(ctx, prg.ID)
	if err != nil {
		return err
	}
	amb := ambOf(r)
	if msg := nameProblem(design, amb); msg != "" {
		return model.Errorf(model.EConflict, "%s", msg)
	}
	job := poster.Print{Program: prg, Design: design, Logo: logo, Ambassadors: map[string]*model.Ambassador{amb.ID: amb},
		Placements: []*model.Placement{p}, ScanBase: s.cfg.PublicBaseURL, Layout: layout, Paper: paper}.Job()
	var buf bytes.Buffer
	if err := poster.PDF(&buf, job); err != nil {
		return err
	}
	h := w.Header()
	h.Set("Content-Type", "application/pdf")
	h.Set("Content-Length", strconv.Itoa(buf.Len()))
	h.Set("Content-Disposition", `attachment; filename="poster-`+p.Code+`.pdf"`)
	h.Set("Cache-Control", "no-store")
	w.Write(buf.Bytes())
	return nil
}
