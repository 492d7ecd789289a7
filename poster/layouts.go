package poster

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"math"
	"strings"

	"github.com/referrald/referrald/poster/glyphs"
)

// Sizes every layout keeps to, in millimetres.
const (
	pageMargin = 8.0 // printers leave about 4 mm of each edge blank; this is well inside
	// minStickerSymbol and minTabSymbol are the smallest QR codes, quiet
	// zone left out, that phones read from a sticker at arm's length and
	// from a tab held in the hand.
	minStickerSymbol = 25.0
	minTabSymbol     = 18.0
	minSymbol        = 30.0 // on posters and flyers, read from a step or two away
	cutWidth         = 0.25
	cutDash          = 2.0
)

// job is a Job made ready to lay out: text normalized, colours chosen,
// logo decoded, QR codes encoded once each.
type job struct {
	Job
	w, h       float64
	accent     color.RGBA // fills: the band, the brackets round the QR code
	onAccent   color.RGBA // text on the band
	accentText color.RGBA // accent-coloured text on white, or ink when the accent is too light for text
	logo       *logo
	cta        string
	incentive  string
	ts         *typesetter
	symbols    map[symbolKey]*qrOp
}

type symbolKey struct {
	url      string
	withLogo bool
}

// prepare checks j and makes it ready to lay out.
func prepare(j Job) (*job, error) {
	if err := j.Check(); err != nil {
		return nil, err
	}
	if j.Layout == "" {
		j.Layout = LayoutPoster
	}
	if j.Paper == "" {
		j.Paper = "a4"
	}
	size := paperSizes[j.Paper]
	accent, _ := parseAccent(j.Design.Accent)
	p := &job{Job: j, w: size[0], h: size[1], accent: accent, onAccent: readableOn(white, accent),
		accentText: readableOn(accent, white), ts: newTypesetter(), symbols: map[symbolKey]*qrOp{}}
	p.cta = strings.TrimSpace(j.Design.CallToAction)
	if p.cta == "" {
		p.cta = DefaultCallToAction
	}
	p.incentive = strings.TrimSpace(j.Design.Incentive)
	if j.Design.Logo != nil {
		img, err := png.Decode(bytes.NewReader(j.Design.Logo))
		if err != nil {
			return nil, &CheckError{Field: "logo", Sheet: -1, Problem: strings.TrimPrefix(ErrLogoNotImage.Error(), "logo "), Err: ErrLogoNotImage}
		}
		p.logo, err = newLogo(img)
		if err != nil {
			return nil, err
		}
	}
	return p, nil
}

// newLogo keeps img and a PNG of it the PDF library reads: 8 bits a
// channel, not interlaced, whatever the PNG it came from.
func newLogo(img image.Image) (*logo, error) {
	var buf bytes.Buffer
	if err := png.Encode(&buf, toNRGBA(img)); err != nil {
		return nil, fmt.Errorf("poster: encode logo: %w", err)
	}
	return &logo{img: img, png: buf.Bytes()}, nil
}

// qr returns the QR code of url, to be placed, with the design's logo in
// its middle when withLogo and the design asks for it: then it is encoded
// at level H, and the logo covers at most a fifth of the code, less if the
// code would not read with a ring of modules more covered. Each code is
// encoded once a job.
func (j *job) qr(url string, withLogo bool) (*qrOp, error) {
	withLogo = withLogo && j.logo != nil && j.Design.LogoInQR
	key := symbolKey{url, withLogo}
	if q, ok := j.symbols[key]; ok {
		return q, nil
	}
	level := "M"
	if withLogo {
		level = "H"
	}
	sym, err := encode(url, Options{Level: level})
	if err != nil {
		return nil, err
	}
	q := &qrOp{Sym: sym}
	if withLogo {
		b := j.logo.img.Bounds()
		q.PadW, q.PadH = logoPad(sym, url, float64(b.Dx())/float64(b.Dy()))
		if q.PadW > 0 {
			q.Logo = j.logo
		}
	}
	j.symbols[key] = q
	return q, nil
}

// maxLogoShare is the largest share of a QR code's area a logo may take:
// level H restores about 30 % of a code, and the rest is kept for wear.
const maxLogoShare = 0.2

// logoPad is the size in modules of the light rectangle for a logo of
// aspect (width / height) in the middle of sym: the largest within
// maxLogoShare, clear of the finder patterns, the timing lines and the
// alignment pattern by the fourth corner (the one readers use), odd both
// ways (to centre on the middle module), with which the code still
// reads even with one more ring of modules lost; 0, 0 when even a small
// one would not.
func logoPad(sym *symbol, url string, aspect float64) (int, int) {
	aspect = min(max(aspect, 0.4), 2.5)
	limit := float64(sym.Size - 18)
	h0 := math.Sqrt(maxLogoShare * float64(sym.Size*sym.Size) / aspect)
	odd := func(v float64) int {
		n := int(min(v, limit))
		if n%2 == 0 {
			n--
		}
		return n
	}
	for k := 1.0; k > 0; k -= 0.1 {
		w, h := odd(h0*aspect*k), odd(h0*k)
		if w < 3 || h < 3 {
			break
		}
		if sym.decodes(url, w+2, h+2) {
			return w, h
		}
	}
	return 0, 0
}

// place puts a QR code of side mm (quiet zone included) at (x, y).
func place(p *page, q *qrOp, x, y, side float64, url string) {
	op := *q
	op.X, op.Y, op.Side = x, y, side
	p.ops = append(p.ops, op)
	p.codes = append(p.codes, url)
}

// sideFor is the side a QR code needs, quiet zone included, for its
// symbol to be at least symbolMM across.
func sideFor(q *qrOp, symbolMM float64) float64 {
	return symbolMM * float64(q.modules()) / float64(q.Sym.Size)
}

// sheetText is what a sheet prints, normalized.
type sheetText struct {
	headline, label, code, url, shownURL, ask string
	// codeFace is the monospaced font, unless the code has a letter it
	// lacks (codes are ASCII, but a caller may print anything).
	codeFace face
}

func (j *job) text(s Sheet) sheetText {
	n := func(v string) string { return glyphs.Normalize(strings.Join(strings.Fields(v), " ")) }
	t := sheetText{headline: n(j.Design.Headline), label: n(s.Label), code: strings.TrimSpace(s.Code),
		url: strings.TrimSpace(s.ScanURL)}
	if t.headline == "" {
		t.headline = n(s.Program)
	}
	t.codeFace = mono
	for _, r := range t.code {
		if !j.ts.has(mono, r) {
			t.codeFace = bold
		}
	}
	// A phone's browser adds https:// by itself; plain http must be said.
	t.shownURL = strings.TrimPrefix(t.url, "https://")
	if name := n(s.Ambassador); j.Design.ShowName && name != "" {
		t.ask = "Ask " + name + " about it"
	}
	return t
}

// pages lays out the whole job.
func (j *job) pages() ([]*page, error) {
	per := j.Layout.PerPage()
	var pages []*page
	for first := 0; first < len(j.Sheets); first += per {
		p, err := j.page(j.Sheets[first:min(first+per, len(j.Sheets))])
		if err != nil {
			return nil, err
		}
		pages = append(pages, p)
	}
	return pages, nil
}

// page lays out one page holding sheets.
func (j *job) page(sheets []Sheet) (*page, error) {
	p := &page{W: j.w, H: j.h}
	var err error
	switch j.Layout {
	case LayoutPoster:
		err = j.card(p, rect{0, 0, j.w, j.h}.inset(pageMargin, pageMargin), sheets[0])
	case LayoutTearoff:
		err = j.tearoff(p, sheets[0])
	case LayoutFlyer4:
		err = j.grid(p, sheets, 2, 2, 0, 6, j.card)
	case LayoutStickers8:
		err = j.grid(p, sheets, 2, 4, pageMargin, 4, j.sticker)
	case LayoutStickers12:
		err = j.grid(p, sheets, 3, 4, pageMargin, 3, j.smallSticker)
	}
	return p, err
}

// grid lays sheets out in cols × rows cells filling the page less margin,
// each drawn by draw inside its cell less inset, with cut lines along the
// cells that hold a sheet.
func (j *job) grid(p *page, sheets []Sheet, cols, rows int, margin, inset float64, draw func(*page, rect, Sheet) error) error {
	cw, ch := (j.w-2*margin)/float64(cols), (j.h-2*margin)/float64(rows)
	for i, s := range sheets {
		cell := rect{margin + float64(i%cols)*cw, margin + float64(i/cols)*ch, cw, ch}
		if err := draw(p, cell.inset(inset, inset), s); err != nil {
			return err
		}
	}
	// Cut lines run edge to edge, so a guillotine lines up with them, but
	// only as far down as there are sheets: the rest of a page is blank.
	usedRows := (len(sheets) + cols - 1) / cols
	bottom := j.h
	if usedRows < rows {
		bottom = margin + float64(usedRows)*ch + margin
	}
	for c := range cols + 1 {
		x := margin + float64(c)*cw
		if (c == 0 || c == cols) && margin == 0 {
			continue // the page's own edge
		}
		p.line(x, 0, x, bottom, cutWidth, cutDash, cut)
	}
	for r := range usedRows + 1 {
		y := margin + float64(r)*ch
		if (r == 0 || r == rows) && margin == 0 {
			continue
		}
		p.line(0, y, j.w, y, cutWidth, cutDash, cut)
	}
	return nil
}

// pt scales a size in points by u, keeping it at least floor.
func pt(size, u, floor float64) float64 { return math.Max(floor, size*u) }

// card is a portrait poster in r: a header band in the accent colour with
// the logo, the headline and the incentive; then the call to action, the
// QR code, the code and URL in letters, "ask …" and the label. It is the
// poster, each flyer and the top of the tear-off poster, scaled by how
// its box compares with an A4 page.
func (j *job) card(p *page, r rect, s Sheet) error {
	t, ts := j.text(s), j.ts
	u := math.Min(r.W/194, r.H/281)
	textW := r.W - 2*16*u

	// The band.
	var tileW, tileH float64
	pad := 3 * u
	if j.logo != nil {
		tileW, tileH = j.logo.fitIn(74*u, 20*u)
		tileW, tileH = tileW+2*pad, tileH+2*pad
	}
	headline := ts.fit(t.headline, textW, style{Face: bold, Max: pt(44, u, 12), Min: pt(22, u, 9), Lines: 3,
		Leading: 1.12, Color: j.onAccent, Balance: true})
	incentive := ts.fit(j.incentive, textW, style{Face: regular, Max: pt(21, u, 8), Min: pt(13, u, 7), Lines: 2,
		Color: j.onAccent, Balance: true})
	content := headline.Height()
	if tileH > 0 {
		content += tileH + 7*u
	}
	if j.incentive != "" {
		content += 4*u + incentive.Height()
	}
	// A short headline still gets a band of some presence.
	bandH := math.Max(content+2*11*u, 0.24*r.H)
	p.fill(r.X, r.Y, r.W, bandH, j.accent)
	y := r.Y + (bandH-content)/2
	if tileH > 0 {
		x := r.X + (r.W-tileW)/2
		p.fill(x, y, tileW, tileH, white)
		p.ops = append(p.ops, imageOp{X: x + pad, Y: y + pad, W: tileW - 2*pad, H: tileH - 2*pad, Logo: j.logo})
		y += tileH + 7*u
	}
	y += headline.draw(p, ts, r.X+16*u, y, textW)
	if j.incentive != "" {
		incentive.draw(p, ts, r.X+16*u, y+4*u, textW)
	}

	// Below the band, top to bottom; the QR code takes what room is left.
	q, err := j.qr(t.url, true)
	if err != nil {
		return err
	}
	cta := ts.fit(j.cta, textW, style{Face: bold, Max: pt(27, u, 11), Min: pt(16, u, 8), Lines: 2, Color: j.accentText, Balance: true})
	code := ts.fit(t.code, textW, style{Face: t.codeFace, Max: pt(30, u, 12), Min: pt(14, u, 9), Color: ink})
	url := ts.fit("or visit "+t.shownURL, textW, style{Face: regular, Max: pt(14, u, 7.5), Min: pt(8, u, 6), Lines: 2,
		Color: soft, BreakAfterSlash: true})
	ask := ts.fit(t.ask, textW, style{Face: bold, Max: pt(16, u, 8), Min: pt(11, u, 7), Lines: 2, Color: j.accentText, Balance: true})
	label := ts.fit(t.label, textW, style{Face: regular, Max: pt(10.5, u, 7), Min: pt(8, u, 6), Lines: 2, Color: faint, Balance: true})

	// The call to action, the code and the words under it are one group,
	// centred between the band and the label at the foot.
	gap := 3 * u
	group := cta.Height() + gap + gap + code.Height() + 1.5*u + url.Height()
	if t.ask != "" {
		group += 5*u + ask.Height()
	}
	foot := 0.0
	if t.label != "" {
		foot = label.Height()
	}
	room := r.H - bandH - foot - 2*5*u
	side := math.Min(math.Min(room-group, 135*u), r.W-2*12*u)
	side = math.Max(side, sideFor(q, minSymbol))
	spare := math.Max(0, room-group-side)

	y = r.Y + bandH + 5*u + spare/2
	y += cta.draw(p, ts, r.X, y, r.W) + gap
	qx := r.X + (r.W-side)/2
	j.brackets(p, qx, y, side, u)
	place(p, q, qx, y, side, t.url)
	y += side + gap
	y += code.draw(p, ts, r.X, y, r.W) + 1.5*u
	y += url.draw(p, ts, r.X, y, r.W)
	if t.ask != "" {
		ask.draw(p, ts, r.X, y+5*u, r.W)
	}
	if t.label != "" {
		label.draw(p, ts, r.X, r.Y+r.H-label.Height(), r.W)
	}
	return nil
}

// brackets frames a QR code's box with corner marks in the accent
// colour, just outside its quiet zone: they say "scan me" and leave the
// zone clear.
func (j *job) brackets(p *page, x, y, side, u float64) {
	w := math.Max(0.5, 1.1*u)
	arm := side * 0.1
	o := w / 2 // the marks' inner edge on the box
	for _, c := range [][4]float64{{x, y, 1, 1}, {x + side, y, -1, 1}, {x, y + side, 1, -1}, {x + side, y + side, -1, -1}} {
		cx, cy, dx, dy := c[0]-c[2]*o, c[1]-c[3]*o, c[2], c[3]
		p.line(cx-dx*o, cy, cx+dx*arm, cy, w, 0, j.accent)
		p.line(cx, cy-dy*o, cx, cy+dy*arm, w, 0, j.accent)
	}
}

// tearoff is a card above a strip of tabs, each with the placement's
// QR code and short code, to be cut apart and torn off.
func (j *job) tearoff(p *page, s Sheet) error {
	t, ts := j.text(s), j.ts
	q, err := j.qr(t.url, false) // a logo would leave too little of a code this small
	if err != nil {
		return err
	}
	inner := j.w - 2*pageMargin
	n := int(inner / 28)
	tabW := inner / float64(n)
	side := math.Max(sideFor(q, minTabSymbol), math.Min(tabW-4, 26))
	ctaStyle := style{Face: bold, Max: 6.5, Min: 5.5, Color: j.accentText}
	codeStyle := style{Face: t.codeFace, Max: 8.5, Min: 6.5, Color: ink}
	cta := ts.fit(j.cta, tabW-2, ctaStyle)
	code := ts.fit(t.code, tabW-2, codeStyle)
	tabH := 3 + cta.Height() + side + code.Height() + 3
	top := j.h - pageMargin - tabH

	if err := j.card(p, rect{pageMargin, pageMargin, inner, top - 7 - pageMargin}, s); err != nil {
		return err
	}
	for i := range n {
		x := pageMargin + float64(i)*tabW
		y := top + 3
		y += cta.draw(p, ts, x, y, tabW)
		place(p, q, x+(tabW-side)/2, y, side, t.url)
		code.draw(p, ts, x, y+side, tabW)
		if i > 0 {
			p.line(x, top, x, j.h, cutWidth, cutDash, cut)
		}
	}
	p.line(0, top, j.w, top, cutWidth, cutDash, cut)
	// Scissors on the tear line, on a patch of paper so the dashes stop
	// short of them.
	sc := ts.fit("✂", 20, style{Face: regular, Max: 15, Min: 15, Align: alignLeft, Color: faint})
	scW := ts.width(regular, sc.Size, "✂")
	p.fill(pageMargin-1, top-sc.Height()/2, scW+2, sc.Height(), white)
	sc.draw(p, ts, pageMargin, top-sc.Height()/2, scW)
	return nil
}

// sticker is one of eight on a sheet: a band with the logo and headline,
// then the QR code on the left and the words on the right.
func (j *job) sticker(p *page, r rect, s Sheet) error {
	t, ts := j.text(s), j.ts
	q, err := j.qr(t.url, true)
	if err != nil {
		return err
	}
	bandH := j.stickerBand(p, r, t.headline, 13, 8, 2.5)
	below := rect{r.X, r.Y + bandH + 1.5, r.W, r.H - bandH - 1.5}
	side := math.Min(below.H, r.W*0.52)
	side = math.Max(side, sideFor(q, minStickerSymbol))
	place(p, q, below.X, below.Y+(below.H-side)/2, side, t.url)

	colX := below.X + side + 1
	colW := below.X + below.W - colX
	items := []stackItem{
		{b: ts.fit(j.cta, colW, style{Face: bold, Max: 11, Min: 8, Lines: 2, Color: j.accentText, Align: alignLeft}), gap: 1.5, drop: 3},
		{b: ts.fit(j.incentive, colW, style{Face: regular, Max: 8.5, Min: 7, Lines: 2, Color: ink, Align: alignLeft}), gap: 1.5, drop: 1},
		{b: ts.fit(t.code, colW, style{Face: t.codeFace, Max: 13, Min: 8, Color: ink, Align: alignLeft}), gap: 0.8},
		{b: ts.fit("or visit "+t.shownURL, colW, style{Face: regular, Max: 7, Min: 5.5, Lines: 3, Color: soft, Align: alignLeft, BreakAfterSlash: true}), gap: 1.5},
		{b: ts.fit(t.ask, colW, style{Face: bold, Max: 7.5, Min: 6, Lines: 2, Color: j.accentText, Align: alignLeft}), gap: 1.5, drop: 2},
		{b: ts.fit(t.label, colW, style{Face: regular, Max: 6.5, Min: 5.5, Lines: 2, Color: faint, Align: alignLeft}), drop: 4},
	}
	items = fitStack(items, below.H)
	y := below.Y + (below.H-stackHeight(items))/2
	for _, it := range items {
		y += it.b.draw(p, ts, colX, y, colW) + it.gap
	}
	return nil
}

// smallSticker is one of twelve on a sheet: a band with the logo and
// headline over the QR code, with the code, URL and label under it.
func (j *job) smallSticker(p *page, r rect, s Sheet) error {
	t, ts := j.text(s), j.ts
	q, err := j.qr(t.url, true)
	if err != nil {
		return err
	}
	bandH := j.stickerBand(p, r, t.headline, 10, 7, 2)
	w := r.W - 2
	top := []stackItem{
		{b: ts.fit(j.cta, w, style{Face: bold, Max: 8, Min: 6.5, Color: j.accentText}), gap: 0.5, drop: 3},
	}
	bottom := []stackItem{
		{b: ts.fit(t.code, w, style{Face: t.codeFace, Max: 10.5, Min: 8, Color: ink}), gap: 0.6},
		{b: ts.fit("or visit "+t.shownURL, w, style{Face: regular, Max: 6.5, Min: 5, Lines: 2, Color: soft, BreakAfterSlash: true}), gap: 0.8},
		{b: ts.fit(t.ask, w, style{Face: bold, Max: 6.5, Min: 5.5, Color: j.accentText}), gap: 0.6, drop: 1},
		{b: ts.fit(t.label, w, style{Face: regular, Max: 6, Min: 5, Color: faint}), drop: 2},
	}
	minSide := sideFor(q, minStickerSymbol)
	room := r.H - bandH - 1
	// Drop what is least needed until the QR code has room enough.
	for {
		side := room - stackHeight(top) - stackHeight(bottom)
		if side >= minSide {
			break
		}
		if !dropOne(&top, &bottom) {
			break
		}
	}
	side := math.Min(room-stackHeight(top)-stackHeight(bottom), math.Min(r.W, 40))
	side = math.Max(side, minSide)
	y := r.Y + bandH + 1 + (room-side-stackHeight(top)-stackHeight(bottom))/2
	for _, it := range top {
		y += it.b.draw(p, ts, r.X+1, y, w) + it.gap
	}
	place(p, q, r.X+(r.W-side)/2, y, side, t.url)
	y += side
	for _, it := range bottom {
		y += it.b.draw(p, ts, r.X+1, y, w) + it.gap
	}
	return nil
}

// stickerBand draws a sticker's band at the top of r, the logo on a white
// tile at its left and the headline beside it, and returns its height.
func (j *job) stickerBand(p *page, r rect, headline string, maxPt, minPt, pad float64) float64 {
	ts := j.ts
	x, w := r.X+pad, r.W-2*pad
	hl := ts.fit(headline, w, style{Face: bold, Max: maxPt, Min: minPt, Lines: 2, Leading: 1.1, Color: j.onAccent, Balance: true})
	var tileW, tileH float64
	if j.logo != nil {
		tileH = math.Max(hl.Height(), maxPt*ptMM*1.6)
		tileW, _ = j.logo.fitIn(r.W*0.3, tileH-2)
		tileW += 2
		x, w = x+tileW+pad, w-tileW-pad
		hl = ts.fit(headline, w, style{Face: bold, Max: maxPt, Min: minPt, Lines: 2, Leading: 1.1, Color: j.onAccent, Balance: true})
		tileH = math.Max(tileH, hl.Height())
	}
	inner := math.Max(hl.Height(), tileH)
	bandH := inner + 2*pad
	p.fill(r.X, r.Y, r.W, bandH, j.accent)
	if j.logo != nil {
		p.fill(r.X+pad, r.Y+pad, tileW, inner, white)
		lw, lh := j.logo.fitIn(tileW-2, inner-2)
		p.ops = append(p.ops, imageOp{X: r.X + pad + (tileW-lw)/2, Y: r.Y + pad + (inner-lh)/2, W: lw, H: lh, Logo: j.logo})
	}
	hl.draw(p, ts, x, r.Y+pad+(inner-hl.Height())/2, w)
	return bandH
}

// stackItem is a block in a column, the space after it, and when it may
// be left out for want of room: 0 never, else the lowest goes first.
type stackItem struct {
	b    block
	gap  float64
	drop int
}

func stackHeight(items []stackItem) float64 {
	var h float64
	for _, it := range items {
		if len(it.b.Lines) > 0 {
			h += it.b.Height() + it.gap
		}
	}
	return h
}

// fitStack leaves out items, lowest drop first, until the rest fit in h.
func fitStack(items []stackItem, h float64) []stackItem {
	for stackHeight(items) > h && dropOne(&items) {
	}
	return items
}

// dropOne removes the item with the lowest non-zero drop among lists,
// and reports whether there was one.
func dropOne(lists ...*[]stackItem) bool {
	best, bestList, bestIdx := 0, -1, -1
	for li, l := range lists {
		for i, it := range *l {
			if it.drop > 0 && len(it.b.Lines) > 0 && (bestList < 0 || it.drop < best) {
				best, bestList, bestIdx = it.drop, li, i
			}
		}
	}
	if bestList < 0 {
		return false
	}
	l := lists[bestList]
	*l = append((*l)[:bestIdx:bestIdx], (*l)[bestIdx+1:]...)
	return true
}
