package poster

import (
	"bytes"
	"fmt"
	"image/color"
	"io"
	"strings"

	"github.com/go-pdf/fpdf"

	"github.com/referrald/referrald/poster/glyphs"
)

// PDF writes job as a print-ready PDF: Layout.PerPage() placements a
// page, each with its own QR code, set in the poster fonts (so every
// script model.CheckPosterText accepts prints as typed). It returns job.Check's
// error, a *CheckError, for a job that cannot be printed.
func PDF(w io.Writer, job Job) error {
	j, err := prepare(job)
	if err != nil {
		return err
	}
	pages, err := j.pages()
	if err != nil {
		return err
	}
	title := strings.TrimSpace(job.Design.Headline)
	if title == "" {
		title = strings.TrimSpace(job.Sheets[0].Program)
	}
	return writePDF(w, j, pages, title)
}

// Font families in the PDF.
var pdfFamilies = map[face][2]string{regular: {"DejaVuSans", ""}, bold: {"DejaVuSans", "B"}, mono: {"DejaVuSansMono", "B"}}

func writePDF(w io.Writer, j *job, pages []*page, title string) error {
	pdf := fpdf.New("P", "mm", Papers[j.Paper], "")
	pdf.SetAutoPageBreak(false, 0)
	pdf.SetMargins(0, 0, 0)
	pdf.SetTitle(glyphs.Normalize(title), true)
	pdf.SetCreator("referrald", true)
	// Each PDF gets its own copy of the fonts: fpdf writes into the font
	// bytes it is given while subsetting them (an append onto a slice of
	// them), which would race with other PDFs and corrupt the shared fonts.
	pdf.AddUTF8FontFromBytes("DejaVuSans", "", bytes.Clone(glyphs.Regular))
	pdf.AddUTF8FontFromBytes("DejaVuSans", "B", bytes.Clone(glyphs.Bold))
	pdf.AddUTF8FontFromBytes("DejaVuSansMono", "B", bytes.Clone(glyphs.MonoBold))
	if j.logo != nil {
		pdf.RegisterImageOptionsReader("logo", fpdf.ImageOptions{ImageType: "PNG"}, bytes.NewReader(j.logo.png))
	}
	for _, p := range pages {
		pdf.AddPage()
		for _, op := range p.ops {
			pdfOp(pdf, op)
		}
	}
	if err := pdf.Error(); err != nil {
		return fmt.Errorf("poster: make PDF: %w", err)
	}
	return pdf.Output(w)
}

func pdfOp(pdf *fpdf.Fpdf, op any) {
	switch op := op.(type) {
	case fillOp:
		setFill(pdf, op.Color)
		pdf.Rect(op.X, op.Y, op.W, op.H, "F")
	case lineOp:
		pdf.SetDrawColor(int(op.Color.R), int(op.Color.G), int(op.Color.B))
		pdf.SetLineWidth(op.Width)
		if op.Dash > 0 {
			pdf.SetDashPattern([]float64{op.Dash, op.Dash * dashGap}, 0)
		} else {
			pdf.SetDashPattern(nil, 0)
		}
		pdf.Line(op.X1, op.Y1, op.X2, op.Y2)
	case textOp:
		family := pdfFamilies[op.Face]
		pdf.SetFont(family[0], family[1], op.Size)
		pdf.SetTextColor(int(op.Color.R), int(op.Color.G), int(op.Color.B))
		pdf.Text(op.X, op.Y, op.Text)
	case imageOp:
		pdf.ImageOptions("logo", op.X, op.Y, op.W, op.H, false, fpdf.ImageOptions{ImageType: "PNG"}, 0, "")
	case qrOp:
		setFill(pdf, white)
		pdf.Rect(op.X, op.Y, op.Side, op.Side, "F")
		// One path of all dark modules, a rectangle a run, filled at once:
		// separate rectangles would show hairline seams where they meet.
		m := op.Side / float64(op.modules())
		op.runs(func(x, y, n int) {
			x0, y0 := op.X+float64(x+quietZone)*m, op.Y+float64(y+quietZone)*m
			pdf.MoveTo(x0, y0)
			pdf.LineTo(x0+float64(n)*m, y0)
			pdf.LineTo(x0+float64(n)*m, y0+m)
			pdf.LineTo(x0, y0+m)
			pdf.ClosePath()
		})
		setFill(pdf, black)
		pdf.DrawPath("f")
		if op.Logo != nil {
			x, y, w, h := op.logoBox()
			pdf.ImageOptions("logo", x, y, w, h, false, fpdf.ImageOptions{ImageType: "PNG"}, 0, "")
		}
	}
}

func setFill(pdf *fpdf.Fpdf, c color.RGBA) { pdf.SetFillColor(int(c.R), int(c.G), int(c.B)) }

// dashGap is a dash's gap, as a share of its length.
const dashGap = 0.75

// runs calls f for each horizontal run of n dark modules starting at
// module (x, y) of the symbol, leaving out the logo's pad.
func (q qrOp) runs(f func(x, y, n int)) {
	px, py := (q.Sym.Size-q.PadW)/2, (q.Sym.Size-q.PadH)/2
	dark := func(x, y int) bool {
		return q.Sym.Black(x, y) && !(x >= px && x < px+q.PadW && y >= py && y < py+q.PadH)
	}
	for y := range q.Sym.Size {
		for x := 0; x < q.Sym.Size; {
			if !dark(x, y) {
				x++
				continue
			}
			n := 1
			for x+n < q.Sym.Size && dark(x+n, y) {
				n++
			}
			f(x, y, n)
			x += n
		}
	}
}

// logoBox is where the logo goes in the code's pad, in millimetres, with
// half a module of light around it.
func (q qrOp) logoBox() (x, y, w, h float64) {
	m := q.Side / float64(q.modules())
	w, h = q.Logo.fitIn(float64(q.PadW-1)*m, float64(q.PadH-1)*m)
	x = q.X + (float64(q.modules())*m-w)/2
	y = q.Y + (float64(q.modules())*m-h)/2
	return x, y, w, h
}
