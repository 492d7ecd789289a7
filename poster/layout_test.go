package poster

import (
	"fmt"
	"slices"
	"strings"
	"testing"
)

// box is what an op covers on its page, in millimetres.
type box struct {
	what           string
	x0, y0, x1, y1 float64
}

func (a box) overlaps(b box) bool {
	const touch = 0.05 // boxes that only meet do not overlap
	return a.x0 < b.x1-touch && b.x0 < a.x1-touch && a.y0 < b.y1-touch && b.y0 < a.y1-touch
}

func (a box) String() string {
	return fmt.Sprintf("%s [%.1f, %.1f]-[%.1f, %.1f]", a.what, a.x0, a.y0, a.x1, a.y1)
}

// boxes sorts a page's ops into what they cover: text lines (from the top
// of their capitals to the bottom of their descenders), QR codes, logos,
// bands and other fills, solid lines, and cut lines.
func boxes(p *page) (texts, codes, logos, fills, lines, cuts []box) {
	ts := newTypesetter()
	var scissors []box // on the tear line, on a patch of paper: cut marks themselves
	for _, op := range p.ops {
		if op, ok := op.(textOp); ok && op.Text == "✂" {
			em := op.Size * ptMM
			scissors = append(scissors, box{"scissors", op.X, op.Y - em, op.X + ts.width(op.Face, op.Size, op.Text), op.Y + em})
		}
	}
	for _, op := range p.ops {
		switch op := op.(type) {
		case textOp:
			if op.Text == "✂" {
				continue
			}
			em := op.Size * ptMM
			texts = append(texts, box{"text " + op.Text, op.X, op.Y - 0.73*em, op.X + ts.width(op.Face, op.Size, op.Text), op.Y + 0.24*em})
		case qrOp:
			codes = append(codes, box{"QR code", op.X, op.Y, op.X + op.Side, op.Y + op.Side})
		case imageOp:
			logos = append(logos, box{"logo", op.X, op.Y, op.X + op.W, op.Y + op.H})
		case fillOp:
			b := box{"fill", op.X, op.Y, op.X + op.W, op.Y + op.H}
			if !slices.ContainsFunc(scissors, b.overlaps) {
				fills = append(fills, b)
			}
		case lineOp:
			b := box{"line", min(op.X1, op.X2) - op.Width/2, min(op.Y1, op.Y2) - op.Width/2, max(op.X1, op.X2) + op.Width/2, max(op.Y1, op.Y2) + op.Width/2}
			if op.Dash > 0 {
				b.what = "cut line"
				cuts = append(cuts, b)
			} else {
				lines = append(lines, b)
			}
		}
	}
	return
}

// extremeJob is a job with every text as long as it may be, long words,
// a long scan URL and a logo of an awkward shape.
func extremeJob(t *testing.T, l Layout, paper string, logoW, logoH int) Job {
	long := func(word string, n int) string {
		s := strings.Repeat(word+" ", n)
		return strings.TrimSpace(string([]rune(s)[:min(len([]rune(s)), MaxTextLen)]))
	}
	j := Job{Layout: l, Paper: paper, Design: Design{
		Logo: testLogo(t, logoW, logoH), LogoInQR: true,
		Headline:     long("Ünïversity-wide", 20),
		Incentive:    long("Supercalifragilisticexpialidocious", 10),
		CallToAction: long("Scan", 60),
		ShowName:     true,
	}}
	for i, s := range testSheets(l.PerPage(), long("Nguyễn Thị Minh Khai hall", 10)) {
		s.Ambassador = strings.Repeat("Wolfeschlegelsteinhausenberger", 3)
		s.ScanURL = "https://referrals.an-unusually-long-university-domain-name.example.edu/s/" + s.Code
		s.Program = fmt.Sprint("Program ", i)
		j.Sheets = append(j.Sheets, s)
	}
	return j
}

// However long its texts, nothing leaves its place: every mark is inside
// the printable area, no text covers a QR code, a logo or other text, and
// nothing crosses a cut line.
func TestLongTextNeverOverflows(t *testing.T) {
	for _, l := range Layouts {
		for _, paper := range []string{"a4", "letter"} {
			for _, shape := range [][2]int{{600, 100}, {100, 400}} {
				t.Run(fmt.Sprintf("%s-%s-%dx%d", l, paper, shape[0], shape[1]), func(t *testing.T) {
					job := extremeJob(t, l, paper, shape[0], shape[1])
					for _, p := range layOut(t, job) {
						checkPlacement(t, p)
						checkCodeSizes(t, l, p)
					}
				})
			}
		}
	}
}

// The texts of the test jobs have room to spare: each layout and design
// passes the same checks.
func TestLayoutsKeepTheirPlaces(t *testing.T) {
	for _, l := range Layouts {
		for _, v := range variants {
			for _, paper := range []string{"a4", "letter"} {
				t.Run(fmt.Sprintf("%s-%s-%s", l, v, paper), func(t *testing.T) {
					for _, p := range layOut(t, testJob(t, l, paper, v)) {
						checkPlacement(t, p)
						checkCodeSizes(t, l, p)
					}
				})
			}
		}
	}
}

func checkPlacement(t *testing.T, p *page) {
	t.Helper()
	const printable = 4.0 // mm an office printer leaves blank at each edge
	texts, codes, logos, fills, lines, cuts := boxes(p)
	var content []box
	for _, group := range [][]box{texts, codes, logos, fills, lines} {
		content = append(content, group...)
	}
	for _, b := range content {
		if b.x0 < printable || b.y0 < printable || b.x1 > p.W-printable || b.y1 > p.H-printable {
			t.Errorf("%v leaves the printable area of %.1f × %.1f mm", b, p.W, p.H)
		}
		for _, c := range cuts {
			if b.overlaps(c) {
				t.Errorf("%v crosses %v", b, c)
			}
		}
	}
	for i, a := range texts {
		for _, b := range texts[i+1:] {
			if a.overlaps(b) {
				t.Errorf("%v overlaps %v", a, b)
			}
		}
		for _, b := range append(append(append([]box{}, codes...), logos...), lines...) {
			if a.overlaps(b) {
				t.Errorf("%v overlaps %v", a, b)
			}
		}
	}
	for _, a := range codes {
		for _, b := range append(append([]box{}, logos...), fills...) {
			if a.overlaps(b) {
				t.Errorf("%v overlaps %v", a, b)
			}
		}
	}
}

// checkCodeSizes checks that each QR code on p, quiet zone left out, is
// as large as phones need: 30 mm on posters and flyers, 25 mm on
// stickers, 18 mm on tear-off tabs.
func checkCodeSizes(t *testing.T, l Layout, p *page) {
	t.Helper()
	var sides []float64
	for _, op := range p.ops {
		if q, ok := op.(qrOp); ok {
			sides = append(sides, q.Side*float64(q.Sym.Size)/float64(q.modules()))
		}
	}
	want := map[Layout]float64{LayoutPoster: 30, LayoutFlyer4: 30, LayoutStickers8: 25, LayoutStickers12: 25, LayoutTearoff: 30}[l]
	for i, side := range sides {
		least := want
		if l == LayoutTearoff && i > 0 {
			least = 18 // the tabs, after the poster's own code
		}
		if side < least-0.01 {
			t.Errorf("code %d is %.1f mm across, want at least %.0f", i+1, side, least)
		}
	}
}

// A code is set in the monospaced font, which tells 0 from O and 1 from
// l, unless it has a letter that font lacks.
func TestCodeFace(t *testing.T) {
	j, err := prepare(Job{Sheets: testSheets(1, "")})
	if err != nil {
		t.Fatal(err)
	}
	for code, want := range map[string]face{"k7m2p9x4qa": mono, "K7M2-0OIl": mono, "Ωμέγα": mono, "ẞtraße": bold} {
		if got := j.text(Sheet{Code: code}).codeFace; got != want {
			t.Errorf("%q: got face %d, want %d", code, got, want)
		}
	}
}
