package portal

import (
	"bytes"
	"net/http"
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
	Chart chart
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

// handlePosterPDF serves GET /portal/posters/{id}/poster.pdf?paper=a4|letter:
// the printable poster of this placement, to print again.
func (s *Server) handlePosterPDF(w http.ResponseWriter, r *http.Request) error {
	p, err := s.myPlacement(r)
	if err != nil {
		return err
	}
	paper := r.URL.Query().Get("paper")
	if paper == "" {
		paper = "a4"
	}
	if _, ok := poster.Papers[paper]; !ok {
		return model.Errorf(model.EValidation, "paper must be a4 or letter")
	}
	program, err := s.names(r.Context()).program(p.ProgramID)
	if err != nil {
		return err
	}
	label := ""
	if p.Label != nil {
		label = *p.Label
	}
	var buf bytes.Buffer
	err = poster.PDFPosters(&buf, paper, []poster.Poster{{Program: program, CallToAction: poster.DefaultCallToAction, Label: label,
		Code: p.Code, ScanURL: s.withScanURL(p).ScanURL}})
	if err != nil {
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
