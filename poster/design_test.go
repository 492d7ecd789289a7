package poster

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	"image/color"
	"io"
	"os/exec"
	"strings"
	"testing"

	"golang.org/x/text/unicode/norm"

	"github.com/referrald/referrald/model"
	"github.com/referrald/referrald/poster/glyphs"
)

func TestLayouts(t *testing.T) {
	want := map[Layout]int{LayoutPoster: 1, LayoutFlyer4: 4, LayoutStickers8: 8, LayoutStickers12: 12, LayoutTearoff: 1}
	if len(Layouts) != len(want) {
		t.Fatalf("got %d layouts, want %d", len(Layouts), len(want))
	}
	for _, l := range Layouts {
		if !l.Valid() || l.PerPage() != want[l] {
			t.Errorf("%s: valid %v, %d a page; want %d", l, l.Valid(), l.PerPage(), want[l])
		}
	}
	for _, l := range []Layout{"", "Poster", "stickers16", "flyer"} {
		if l.Valid() || l.PerPage() != 0 {
			t.Errorf("%q is valid", l)
		}
	}
}

// Check says which field is wrong and why, in words a form can show.
func TestJobCheck(t *testing.T) {
	ok := Job{Sheets: testSheets(1, "Library")}
	if err := ok.Check(); err != nil {
		t.Fatalf("a plain job: %v", err)
	}
	with := func(f func(*Job)) Job {
		j := ok
		j.Sheets = append([]Sheet(nil), ok.Sheets...)
		f(&j)
		return j
	}
	for name, c := range map[string]struct {
		job        Job
		field      string
		sheet      int
		wantInText string
	}{
		"a layout":           {with(func(j *Job) { j.Layout = "poster3" }), "layout", -1, "must be one of poster, flyer4, stickers8, stickers12, tearoff"},
		"a paper":            {with(func(j *Job) { j.Paper = "a3" }), "paper", -1, "must be a4 or letter"},
		"no sheets":          {with(func(j *Job) { j.Sheets = nil }), "sheets", -1, "at least one"},
		"too many sheets":    {with(func(j *Job) { j.Sheets = testSheets(MaxSheets+1, "") }), "sheets", -1, "at most 1200"},
		"an accent":          {with(func(j *Job) { j.Design.Accent = "blue" }), "accent", -1, `"#rrggbb"`},
		"a short accent":     {with(func(j *Job) { j.Design.Accent = "#12345" }), "accent", -1, `"#rrggbb"`},
		"a signed accent":    {with(func(j *Job) { j.Design.Accent = "#-12345" }), "accent", -1, `"#rrggbb"`},
		"a logo":             {with(func(j *Job) { j.Design.Logo = []byte("GIF89a") }), "logo", -1, "logo must be a PNG or JPEG image"},
		"a big logo":         {with(func(j *Job) { j.Design.Logo = encodePNG(t, image.NewNRGBA(image.Rect(0, 0, 2000, 10))) }), "logo", -1, "logo must be at most 1024 pixels a side"},
		"a Hebrew headline":  {with(func(j *Job) { j.Design.Headline = "שלום" }), "headline", -1, "uses right-to-left script (Hebrew: שלום), which posters cannot print yet"},
		"an Arabic label":    {with(func(j *Job) { j.Sheets[0].Label = "مرحبا" }), "label", 0, "uses right-to-left script (Arabic: مرحبا)"},
		"a Chinese name":     {with(func(j *Job) { j.Design.ShowName = true; j.Sheets[0].Ambassador = "王" }), "ambassador", 0, "uses characters posters cannot print (Han: 王)"},
		"a long incentive":   {with(func(j *Job) { j.Design.Incentive = strings.Repeat("x", MaxTextLen+1) }), "incentive", -1, "at most 200 characters"},
		"a tab in the CTA":   {with(func(j *Job) { j.Design.CallToAction = "Scan\tnow" }), "call_to_action", -1, "control character"},
		"no scan URL":        {with(func(j *Job) { j.Sheets[0].ScanURL = " " }), "scan_url", 0, "is required"},
		"no code":            {with(func(j *Job) { j.Sheets[0].Code = "" }), "code", 0, "is required"},
		"an emoji programme": {with(func(j *Job) { j.Sheets[0].Program = "Eats 🍕" }), "program", 0, "cannot print (🍕)"},
	} {
		err := c.job.Check()
		var ce *CheckError
		if !errors.As(err, &ce) {
			t.Errorf("%s: got %v, want a *CheckError", name, err)
			continue
		}
		if ce.Field != c.field || ce.Sheet != c.sheet || !strings.Contains(err.Error(), c.wantInText) || strings.Contains(err.Error(), "logo logo") {
			t.Errorf("%s: got field %q, sheet %d, %q; want %q, %d, containing %q", name, ce.Field, ce.Sheet, err, c.field, c.sheet, c.wantInText)
		}
		if err := PDF(&bytes.Buffer{}, c.job); err == nil || err.Error() != ce.Error() {
			t.Errorf("%s: PDF says %v, want Check's error", name, err)
		}
	}
	// A name is only checked when it is printed.
	j := with(func(j *Job) { j.Sheets[0].Ambassador = "王" })
	if err := j.Check(); err != nil {
		t.Errorf("a name not shown: %v", err)
	}
	var ue *model.UnprintableError
	if err := with(func(j *Job) { j.Design.Headline = "王" }).Check(); !errors.As(err, &ue) {
		t.Errorf("got %v, want it to wrap the *model.UnprintableError", err)
	}
}

// pdfText is the text of each page of a PDF, as pdftotext reads it, with
// runs of white space made one space.
func pdfText(t *testing.T, pdf []byte) []string {
	t.Helper()
	cmd := exec.Command("pdftotext", "-enc", "UTF-8", "-", "-")
	cmd.Stdin = bytes.NewReader(pdf)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("pdftotext: %v", err)
	}
	pages := strings.Split(strings.TrimRight(string(out), "\f"), "\f")
	for i, p := range pages {
		pages[i] = strings.Join(strings.Fields(p), " ")
	}
	return pages
}

// Names print as typed in every script the fonts cover, decomposed
// Vietnamese included, where the old core-font PDF printed '?'.
func TestPDFPrintsEveryScript(t *testing.T) {
	names := []string{"Łukasz Żółć", "Nguyễn Thị Minh Khai", norm.NFD.String("Nguyễn Thị Minh Khai"), "Ольга"}
	const headline = "Καλή αρχή στο πανεπιστήμιο"
	job := Job{Design: Design{Headline: headline, Incentive: "Ζήτα έκπτωση 20 %", ShowName: true}}
	for i, name := range names {
		s := testSheets(len(names), "Thư viện, tầng 2")[i]
		s.Ambassador = name
		job.Sheets = append(job.Sheets, s)
	}
	var buf bytes.Buffer
	if err := PDF(&buf, job); err != nil {
		t.Fatal(err)
	}
	pages := pdfText(t, buf.Bytes())
	if len(pages) != len(names) {
		t.Fatalf("got %d pages of text, want %d", len(pages), len(names))
	}
	for i, name := range names {
		for _, want := range []string{norm.NFC.String(name), headline, "Ζήτα έκπτωση 20 %", "Thư viện, tầng 2", job.Sheets[i].Code} {
			if !strings.Contains(pages[i], want) {
				t.Errorf("page %d does not say %q: %q", i+1, want, pages[i])
			}
		}
		if strings.Contains(pages[i], "?") {
			t.Errorf("page %d has a '?': %q", i+1, pages[i])
		}
	}
}

func TestContrastPicksReadableText(t *testing.T) {
	for _, c := range []struct {
		accent         string
		onBand, onPage color.RGBA
	}{
		{DefaultAccent, white, color.RGBA{0x1a, 0x56, 0xdb, 0xff}},
		{"#ffd21f", ink, ink}, // yellow: too light for text on white, and white on it
		{"#0f766e", white, color.RGBA{0x0f, 0x76, 0x6e, 0xff}}, // a dark teal reads both ways
		{"#ff8c00", ink, ink},                                  // orange: white on it is 2.6:1
		{"#000000", white, color.RGBA{0, 0, 0, 0xff}},          // black
		{"#FFFFFF", ink, ink},                                  // white on white is no accent
		{"#767676", white, color.RGBA{0x76, 0x76, 0x76, 0xff}}, // the grey that just passes, 4.54:1
		{"#777777", black, ink},                                // and the one that just fails, 4.48:1, where ink fails too
	} {
		accent, err := parseAccent(c.accent)
		if err != nil {
			t.Fatal(err)
		}
		if got := readableOn(white, accent); got != c.onBand {
			t.Errorf("%s: text on the band is %v, want %v", c.accent, got, c.onBand)
		}
		if got := readableOn(accent, white); got != c.onPage {
			t.Errorf("%s: accent text on white is %v, want %v", c.accent, got, c.onPage)
		}
		for _, pair := range [][2]color.RGBA{{readableOn(white, accent), accent}, {readableOn(accent, white), white}} {
			if r := contrast(pair[0], pair[1]); r < minContrast {
				t.Errorf("%s: %v on %v is %.2f:1", c.accent, pair[0], pair[1], r)
			}
		}
	}
	if r := contrast(white, black); r < 20.9 || r > 21.1 {
		t.Errorf("black on white: %.2f:1, want 21:1", r)
	}
}

// Printing leaves the shared fonts as they were: fpdf writes into the
// font bytes it is handed, so each PDF must hand it a copy, or PDFs
// printed at once race and later ones print with corrupted metrics.
func TestPDFLeavesTheFontsUntouched(t *testing.T) {
	fonts := func() string {
		return string(glyphs.Regular) + string(glyphs.Bold) + string(glyphs.MonoBold)
	}
	before := fonts()
	job := Job{Layout: LayoutFlyer4, Paper: "a4", Design: Design{ShowName: true, Headline: "Καλή αρχή – Ольга", Incentive: "Nguyễn Thị Minh Khai"}}
	for i, name := range []string{"Łukasz", "Ольга", "Nguyễn", "Zoë"} {
		job.Sheets = append(job.Sheets, Sheet{Program: "Spring", Ambassador: name, Label: "Library", Code: fmt.Sprintf("k7m2p9x4q%d", i),
			ScanURL: fmt.Sprintf("https://go.example.edu/s/k7m2p9x4q%d", i)})
	}
	if err := PDF(io.Discard, job); err != nil {
		t.Fatal(err)
	}
	if fonts() != before {
		t.Fatal("printing a PDF changed the fonts' bytes")
	}
}
