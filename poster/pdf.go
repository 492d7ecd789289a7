package poster

import (
	"bytes"
	"fmt"
	"io"

	"github.com/go-pdf/fpdf"
)

// Poster is what one printed page says.
type Poster struct {
	Program      string
	CallToAction string
	Label        string
	Code         string
	ScanURL      string
}

// DefaultCallToAction is what a poster says above its QR code when
// nobody chose words of their own.
const DefaultCallToAction = "Scan to join"

// Papers are the page sizes posters print on.
var Papers = map[string]string{"a4": "A4", "letter": "Letter"}

// pdfPosters writes one print-ready page per poster on paper ("a4" or "letter"):
// the program's name, a call to action, the QR code, and the code and URL
// in letters for phones whose camera will not scan. Text is set in the
// PDF core fonts, which cover Western European scripts (Windows-1252);
// other characters print as '?'.
func pdfPosters(w io.Writer, paper string, posters []Poster) error {
	size, ok := Papers[paper]
	if !ok {
		return fmt.Errorf("paper must be a4 or letter")
	}
	pdf := fpdf.New("P", "mm", size, "")
	pdf.SetAutoPageBreak(false, 0)
	const margin = 18.0
	pdf.SetMargins(margin, margin, margin)
	latin := pdf.UnicodeTranslatorFromDescriptor("")
	pageW, pageH := pdf.GetPageSize()
	textW := pageW - 2*margin
	for i, p := range posters {
		pdf.AddPage()
		pdf.SetTextColor(20, 20, 20)
		pdf.SetY(margin + 6)
		pdf.SetFont("Helvetica", "B", 34)
		pdf.MultiCell(textW, 14, latin(p.Program), "", "C", false)
		pdf.Ln(4)
		pdf.SetFont("Helvetica", "", 22)
		pdf.MultiCell(textW, 10, latin(p.CallToAction), "", "C", false)

		var img bytes.Buffer
		o := Options{Size: 1024, Margin: 2, Level: "M"}
		if err := PNG(&img, p.ScanURL, o); err != nil {
			return err
		}
		name := fmt.Sprintf("qr%d", i)
		pdf.RegisterImageOptionsReader(name, fpdf.ImageOptions{ImageType: "PNG"}, &img)
		qrSide := min(textW, 130.0)
		qrTop := pdf.GetY() + 8
		pdf.ImageOptions(name, (pageW-qrSide)/2, qrTop, qrSide, qrSide, false, fpdf.ImageOptions{ImageType: "PNG"}, 0, "")

		pdf.SetY(qrTop + qrSide + 8)
		pdf.SetFont("Courier", "B", 26)
		pdf.CellFormat(textW, 12, p.Code, "", 1, "C", false, 0, "")
		pdf.SetFont("Helvetica", "", 11)
		pdf.CellFormat(textW, 7, latin(p.ScanURL), "", 1, "C", false, 0, "")
		if p.Label != "" {
			pdf.SetY(pageH - margin - 8)
			pdf.SetFont("Helvetica", "I", 9)
			pdf.SetTextColor(110, 110, 110)
			pdf.CellFormat(textW, 6, latin(p.Label), "", 1, "C", false, 0, "")
		}
	}
	if err := pdf.Error(); err != nil {
		return err
	}
	return pdf.Output(w)
}
