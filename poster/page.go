package poster

import (
	"image"
	"image/color"
	"math"
	"strings"

	"golang.org/x/image/font"
	"golang.org/x/image/font/sfnt"
	"golang.org/x/image/math/fixed"

	"github.com/referrald/referrald/poster/glyphs"
)

// A page is one side of paper described once, as drawing operations in
// millimetres from its top-left corner, in painting order. pdf.go renders
// it with fpdf and preview.go into an image, so the preview cannot drift
// from the PDF.
type page struct {
	W, H float64
	ops  []any // fillOp, lineOp, textOp, imageOp or qrOp
	// codes are the scan URLs of the QR codes on the page, in the order
	// drawn.
	codes []string
}

// fillOp fills a rectangle.
type fillOp struct {
	X, Y, W, H float64
	Color      color.RGBA
}

// lineOp draws a horizontal or vertical line, dashed when Dash > 0 (dash
// and gap both Dash long).
type lineOp struct {
	X1, Y1, X2, Y2 float64
	Width, Dash    float64
	Color          color.RGBA
}

// textOp sets one line of text with its baseline's left end at (X, Y).
// Lines are broken, sized and aligned by the typesetter before they
// become ops, with the same metrics both renderers use.
type textOp struct {
	X, Y  float64
	Face  face
	Size  float64 // points
	Color color.RGBA
	Text  string
}

// imageOp draws the logo into a rectangle of the same aspect.
type imageOp struct {
	X, Y, W, H float64
	Logo       *logo
}

// qrOp draws a QR code, quiet zone included, as a square of side Side.
type qrOp struct {
	X, Y, Side float64
	Sym        *symbol
	// PadW and PadH are the size, in modules, of the light rectangle in
	// the middle that holds Logo; 0 for none.
	PadW, PadH int
	Logo       *logo
}

// modules is the side of the code in modules, quiet zone included.
func (q qrOp) modules() int { return q.Sym.Size + 2*quietZone }

// quietZone is the light margin around every QR code, in modules, as the
// standard asks.
const quietZone = 4

func (p *page) fill(x, y, w, h float64, c color.RGBA) {
	p.ops = append(p.ops, fillOp{x, y, w, h, c})
}

func (p *page) line(x1, y1, x2, y2, width, dash float64, c color.RGBA) {
	p.ops = append(p.ops, lineOp{x1, y1, x2, y2, width, dash, c})
}

// rect is an area of a page, in millimetres.
type rect struct{ X, Y, W, H float64 }

func (r rect) inset(dx, dy float64) rect { return rect{r.X + dx, r.Y + dy, r.W - 2*dx, r.H - 2*dy} }

// face is one of the poster fonts.
type face int

const (
	regular face = iota
	bold
	mono
)

func (f face) font() *sfnt.Font {
	fonts := glyphs.Parsed()
	switch f {
	case bold:
		return fonts.Bold
	case mono:
		return fonts.MonoBold
	}
	return fonts.Regular
}

// ptMM is a point in millimetres.
const ptMM = 25.4 / 72

// Vertical metrics of DejaVu Sans, in ems: the room above the baseline
// that the tallest accented capitals need, and below it for descenders.
const (
	ascent  = 0.93
	descent = 0.24
)

// typesetter measures, breaks and fits text in the poster fonts. Widths
// are the fonts' own advances, unhinted and without kerning, as the PDF
// sets them. A typesetter is not safe for concurrent use.
type typesetter struct {
	buf      sfnt.Buffer
	advances map[face]map[rune]float64 // in ems
}

func newTypesetter() *typesetter {
	return &typesetter{advances: map[face]map[rune]float64{}}
}

// advance is r's width in ems.
func (t *typesetter) advance(f face, r rune) float64 {
	m := t.advances[f]
	if m == nil {
		m = map[rune]float64{}
		t.advances[f] = m
	}
	if a, ok := m[r]; ok {
		return a
	}
	fnt := f.font()
	upem := fnt.UnitsPerEm()
	i, err := fnt.GlyphIndex(&t.buf, r)
	var a float64
	if err == nil {
		adv, err := fnt.GlyphAdvance(&t.buf, i, fixed.I(int(upem)), font.HintingNone)
		if err == nil {
			a = float64(adv) / 64 / float64(upem)
		}
	}
	m[r] = a
	return a
}

// has reports whether f has a glyph for r.
func (t *typesetter) has(f face, r rune) bool {
	i, err := f.font().GlyphIndex(&t.buf, r)
	return err == nil && i != 0
}

// width is s's width in millimetres at size points.
func (t *typesetter) width(f face, size float64, s string) float64 {
	var em float64
	for _, r := range s {
		em += t.advance(f, r)
	}
	return em * size * ptMM
}

// align is where lines sit in their box.
type align int

const (
	alignCenter align = iota
	alignLeft
)

// style is how a block of text is set: its font, largest and smallest
// size in points, most lines, line height in ems and colour. Text that
// will not fit at its largest size is made smaller, down to its smallest,
// then wrapped onto more lines; what is still left over is cut short
// with an ellipsis, so text never leaves its box.
type style struct {
	Face            face
	Max, Min        float64
	Lines           int
	Leading         float64
	Color           color.RGBA
	Align           align
	Balance         bool // even out the lengths of wrapped lines, for headlines
	BreakAfterSlash bool // let URLs break after '/' and '.'
}

// block is text fitted into a width: its lines at one size.
type block struct {
	Lines []string
	Size  float64
	style style
}

// Height is the block's height in millimetres, from the top of its
// tallest accents to the bottom of its descenders.
func (b block) Height() float64 {
	if len(b.Lines) == 0 {
		return 0
	}
	mm := b.Size * ptMM
	return (ascent + descent + float64(len(b.Lines)-1)*b.style.Leading) * mm
}

// token is a piece of text that stays on one line, with what separates
// it from the token before when both are on the same line.
type token struct{ sep, text string }

// tokenize splits s into words, and URLs also after '/' and '.', so that
// a long address wraps where a reader expects it.
func tokenize(s string, slash bool) []token {
	var out []token
	for _, w := range strings.Fields(s) {
		sep := " "
		if !slash || !strings.Contains(w, "/") {
			out = append(out, token{sep, w})
			continue
		}
		for w != "" {
			i := strings.IndexAny(w, "/.")
			if i < 0 || i == len(w)-1 {
				out = append(out, token{sep, w})
				break
			}
			out = append(out, token{sep, w[:i+1]})
			w, sep = w[i+1:], ""
		}
	}
	return out
}

// fit sets s in width millimetres with st.
func (t *typesetter) fit(s string, width float64, st style) block {
	s = glyphs.Normalize(strings.TrimSpace(s))
	if st.Leading == 0 {
		st.Leading = 1.2
	}
	if st.Lines == 0 {
		st.Lines = 1
	}
	if s == "" {
		return block{style: st, Size: st.Max}
	}
	toks := tokenize(s, st.BreakAfterSlash)
	size := st.Max
	for {
		lines := t.wrap(toks, st.Face, size, width)
		if len(lines) <= st.Lines {
			if st.Balance && len(lines) > 1 {
				lines = t.balance(toks, st.Face, size, width, len(lines))
			}
			return block{Lines: lines, Size: size, style: st}
		}
		if size <= st.Min {
			break
		}
		size = math.Max(st.Min, size-0.5)
	}
	lines := t.wrap(toks, st.Face, size, width)[:st.Lines]
	last := []rune(lines[len(lines)-1])
	for len(last) > 0 && t.width(st.Face, size, string(last)+"…") > width {
		last = last[:len(last)-1]
	}
	lines[len(lines)-1] = strings.TrimRight(string(last), " ") + "…"
	return block{Lines: lines, Size: size, style: st}
}

// wrap breaks toks into lines no wider than width, greedily; a token
// wider than a line on its own is broken between characters.
func (t *typesetter) wrap(toks []token, f face, size, width float64) []string {
	var lines []string
	var cur strings.Builder
	for _, tok := range toks {
		if cur.Len() > 0 && t.width(f, size, cur.String()+tok.sep+tok.text) <= width {
			cur.WriteString(tok.sep + tok.text)
			continue
		}
		if cur.Len() > 0 {
			lines = append(lines, cur.String())
			cur.Reset()
		}
		word := tok.text
		for t.width(f, size, word) > width {
			runes := []rune(word)
			n := len(runes) - 1
			for n > 1 && t.width(f, size, string(runes[:n])) > width {
				n--
			}
			lines = append(lines, string(runes[:n]))
			word = string(runes[n:])
		}
		cur.WriteString(word)
	}
	if cur.Len() > 0 {
		lines = append(lines, cur.String())
	}
	return lines
}

// balance wraps toks into n lines as narrow as they can be, so that a
// headline breaks into lines of about one length rather than a long line
// and a word.
func (t *typesetter) balance(toks []token, f face, size, width float64, n int) []string {
	lo, hi := width/float64(n)*0.8, width
	for range 16 {
		mid := (lo + hi) / 2
		if len(t.wrap(toks, f, size, mid)) <= n {
			hi = mid
		} else {
			lo = mid
		}
	}
	return t.wrap(toks, f, size, hi)
}

// draw puts b on p in the box of width w whose top is y, and returns the
// block's height.
func (b block) draw(p *page, t *typesetter, x, y, w float64) float64 {
	mm := b.Size * ptMM
	for i, line := range b.Lines {
		lx := x
		if b.style.Align == alignCenter {
			lx = x + (w-t.width(b.style.Face, b.Size, line))/2
		}
		p.ops = append(p.ops, textOp{X: lx, Y: y + (ascent+float64(i)*b.style.Leading)*mm,
			Face: b.style.Face, Size: b.Size, Color: b.style.Color, Text: line})
	}
	return b.Height()
}

// luminance is c's relative luminance, as WCAG defines it.
func luminance(c color.RGBA) float64 {
	lin := func(v uint8) float64 {
		s := float64(v) / 255
		if s <= 0.04045 {
			return s / 12.92
		}
		return math.Pow((s+0.055)/1.055, 2.4)
	}
	return 0.2126*lin(c.R) + 0.7152*lin(c.G) + 0.0722*lin(c.B)
}

// contrast is the WCAG contrast ratio of a and b, from 1 to 21.
func contrast(a, b color.RGBA) float64 {
	la, lb := luminance(a), luminance(b)
	if la < lb {
		la, lb = lb, la
	}
	return (la + 0.05) / (lb + 0.05)
}

// minContrast is the contrast text needs on its background: WCAG's AA
// for body text, which also survives a grey photocopy.
const minContrast = 4.5

// Colours every design shares.
var (
	white = color.RGBA{0xff, 0xff, 0xff, 0xff}
	black = color.RGBA{0x00, 0x00, 0x00, 0xff}
	ink   = color.RGBA{0x11, 0x11, 0x11, 0xff} // text
	soft  = color.RGBA{0x44, 0x44, 0x44, 0xff} // secondary text, 9.7:1 on white
	faint = color.RGBA{0x5c, 0x5c, 0x5c, 0xff} // small print, 6.7:1 on white
	cut   = color.RGBA{0x99, 0x99, 0x99, 0xff} // cut lines
)

// readableOn returns c if text in it reads on bg, else ink, white or
// black, the first that does: one of white and black always does.
func readableOn(c, bg color.RGBA) color.RGBA {
	for _, text := range []color.RGBA{c, ink, white} {
		if contrast(text, bg) >= minContrast {
			return text
		}
	}
	return black
}

// logo is a decoded logo: the image for the preview and a PNG the PDF
// library reads.
type logo struct {
	img image.Image
	png []byte
}

// fitIn returns the size of the logo scaled to fit w × h, aspect kept.
func (l *logo) fitIn(w, h float64) (float64, float64) {
	b := l.img.Bounds()
	iw, ih := float64(b.Dx()), float64(b.Dy())
	s := math.Min(w/iw, h/ih)
	return iw * s, ih * s
}
