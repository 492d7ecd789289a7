package poster

import (
	"io"

	"github.com/referrald/referrald/model"
)

// Print is what a print job is made from: a program's records, as every
// place that prints posters (the API, the console, the portal, print
// runs) has them.
type Print struct {
	Program *model.Program
	Design  *model.PosterDesign
	// Logo is the design's logo PNG, nil without one.
	Logo []byte
	// Ambassadors holds the placements' ambassadors by ID; one missing
	// prints no name.
	Ambassadors map[string]*model.Ambassador
	Placements  []*model.Placement
	// ScanBase is the public base URL the QR codes point at.
	ScanBase string
	Layout   Layout
	Paper    string
}

// Job makes the print job of p: the design as the poster draws it and a
// sheet per placement.
func (p Print) Job() Job {
	d := p.Design
	if d == nil {
		d = model.DefaultPosterDesign(p.Program.ID)
	}
	job := Job{Layout: p.Layout, Paper: p.Paper, Design: Design{
		Accent: d.AccentColor, Headline: d.HeadlineFor(p.Program), Incentive: d.Incentive,
		CallToAction: d.CallToAction, ShowName: d.ShowAmbassadorName,
	}}
	if d.Logo != nil && len(p.Logo) > 0 {
		job.Design.Logo, job.Design.LogoInQR = p.Logo, d.LogoInQR
	}
	for _, pl := range p.Placements {
		s := Sheet{Program: p.Program.Name, Code: pl.Code, ScanURL: ScanURL(p.ScanBase, pl.Code)}
		if pl.Label != nil {
			s.Label = *pl.Label
		}
		if a := p.Ambassadors[pl.AmbassadorID]; a != nil {
			s.Ambassador = a.FirstName
		}
		job.Sheets = append(job.Sheets, s)
	}
	return job
}

// PrintRunPDF writes the PDF of a print run from its records, with the
// program's design as it is now: the same codes print again. A design
// that has since started to print names, or a name changed since, that
// the posters cannot print is a conflict (model.CheckPrintableName).
func PrintRunPDF(w io.Writer, rec *model.PrintRunRecords, scanBase string) error {
	for _, id := range rec.Run.AmbassadorIDs {
		if err := model.CheckPrintableName(rec.Design, rec.Ambassadors[id]); err != nil {
			return err
		}
	}
	return PDF(w, Print{Program: rec.Program, Design: rec.Design, Logo: rec.Logo, Ambassadors: rec.Ambassadors,
		Placements: rec.Placements, ScanBase: scanBase, Layout: Layout(rec.Run.Layout), Paper: rec.Run.Paper}.Job())
}
