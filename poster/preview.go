package poster

import (
	"image"
	"image/color"
	"image/draw"
	"image/png"
	"io"
	"math"

	"golang.org/x/image/font"
	"golang.org/x/image/font/opentype"
	"golang.org/x/image/math/fixed"

	xdraw "golang.org/x/image/draw"
)

// Widths of a preview, in pixels.
const (
	MinPreviewWidth = 200
	MaxPreviewWidth = 2000
)

// PreviewPNG writes a picture of the first page of job, width pixels wide
// (held to MinPreviewWidth..MaxPreviewWidth), drawn from the same page
// description as the PDF, so what it shows is what prints; from about
// 1000 pixels wide its QR codes read as the printed ones do. It returns
// job.Check's error for a job that cannot be printed.
func PreviewPNG(w io.Writer, job Job, width int) error {
	j, err := prepare(job)
	if err != nil {
		return err
	}
	p, err := j.page(j.Sheets[:min(len(j.Sheets), j.Layout.PerPage())])
	if err != nil {
		return err
	}
	width = min(max(width, MinPreviewWidth), MaxPreviewWidth)
	enc := png.Encoder{CompressionLevel: png.BestSpeed}
	return enc.Encode(w, rasterize(p, j.ts, width))
}

// rasterize draws p width pixels wide.
func rasterize(p *page, ts *typesetter, width int) *image.RGBA {
	s := float64(width) / p.W
	img := image.NewRGBA(image.Rect(0, 0, width, int(math.Round(p.H*s))))
	draw.Draw(img, img.Bounds(), image.NewUniform(white), image.Point{}, draw.Src)
	faces := map[[2]float64]font.Face{}
	for _, op := range p.ops {
		switch op := op.(type) {
		case fillOp:
			fillAA(img, op.X*s, op.Y*s, (op.X+op.W)*s, (op.Y+op.H)*s, op.Color)
		case lineOp:
			lineAA(img, op, s)
		case textOp:
			key := [2]float64{float64(op.Face), op.Size}
			f := faces[key]
			if f == nil {
				var err error
				f, err = opentype.NewFace(op.Face.font(), &opentype.FaceOptions{Size: op.Size * ptMM * s, DPI: 72, Hinting: font.HintingNone})
				if err != nil {
					continue // the built-in fonts at a positive size: cannot happen
				}
				faces[key] = f
			}
			src := image.NewUniform(op.Color)
			x := op.X
			for _, r := range op.Text {
				dot := fixed.Point26_6{X: fixed.Int26_6(math.Round(x * s * 64)), Y: fixed.Int26_6(math.Round(op.Y * s * 64))}
				if dr, mask, mp, _, ok := f.Glyph(dot, r); ok {
					draw.DrawMask(img, dr, src, image.Point{}, mask, mp, draw.Over)
				}
				x += ts.advance(op.Face, r) * op.Size * ptMM
			}
		case imageOp:
			drawLogo(img, op.Logo, op.X, op.Y, op.W, op.H, s)
		case qrOp:
			drawQR(img, op, s)
		}
	}
	return img
}

// drawQR draws q with each module's edges on whole pixels, as a camera
// wants them: crisp, and all modules within a pixel of one size.
func drawQR(img *image.RGBA, q qrOp, s float64) {
	n := q.modules()
	edge := func(origin float64, i int) int {
		return int(math.Round((origin + float64(i)*q.Side/float64(n)) * s))
	}
	draw.Draw(img, image.Rect(edge(q.X, 0), edge(q.Y, 0), edge(q.X, n), edge(q.Y, n)), image.NewUniform(white), image.Point{}, draw.Src)
	ink := image.NewUniform(black)
	q.runs(func(x, y, run int) {
		r := image.Rect(edge(q.X, x+quietZone), edge(q.Y, y+quietZone), edge(q.X, x+quietZone+run), edge(q.Y, y+quietZone+1))
		draw.Draw(img, r, ink, image.Point{}, draw.Src)
	})
	if q.Logo != nil {
		x, y, w, h := q.logoBox()
		drawLogo(img, q.Logo, x, y, w, h, s)
	}
}

func drawLogo(img *image.RGBA, l *logo, x, y, w, h, s float64) {
	r := image.Rect(int(math.Round(x*s)), int(math.Round(y*s)), int(math.Round((x+w)*s)), int(math.Round((y+h)*s)))
	xdraw.CatmullRom.Scale(img, r, l.img, l.img.Bounds(), draw.Over, nil)
}

// lineAA draws a horizontal or vertical line, dashed as the PDF dashes
// it, as thin rectangles.
func lineAA(img *image.RGBA, l lineOp, s float64) {
	horizontal := l.Y1 == l.Y2
	from, to := l.Y1, l.Y2
	if horizontal {
		from, to = l.X1, l.X2
	}
	if from > to {
		from, to = to, from
	}
	seg := func(a, b float64) {
		half := l.Width / 2
		if horizontal {
			fillAA(img, a*s, (l.Y1-half)*s, b*s, (l.Y1+half)*s, l.Color)
		} else {
			fillAA(img, (l.X1-half)*s, a*s, (l.X1+half)*s, b*s, l.Color)
		}
	}
	if l.Dash <= 0 {
		seg(from, to)
		return
	}
	for a := from; a < to; a += l.Dash * (1 + dashGap) {
		seg(a, math.Min(a+l.Dash, to))
	}
}

// fillAA fills the rectangle from (x0, y0) to (x1, y1), in pixels, with
// its edges anti-aliased: each pixel is covered by the share of its area
// inside.
func fillAA(img *image.RGBA, x0, y0, x1, y1 float64, c color.RGBA) {
	b := img.Bounds()
	ix0, iy0 := max(b.Min.X, int(math.Floor(x0))), max(b.Min.Y, int(math.Floor(y0)))
	ix1, iy1 := min(b.Max.X, int(math.Ceil(x1))), min(b.Max.Y, int(math.Ceil(y1)))
	cover := func(lo, hi float64, i int) float64 {
		return math.Max(0, math.Min(hi, float64(i+1))-math.Max(lo, float64(i)))
	}
	for y := iy0; y < iy1; y++ {
		cy := cover(y0, y1, y)
		for x := ix0; x < ix1; x++ {
			a := cy * cover(x0, x1, x)
			if a <= 0 {
				continue
			}
			i := img.PixOffset(x, y)
			px := img.Pix[i : i+4 : i+4]
			px[0] = uint8(float64(px[0])*(1-a) + float64(c.R)*a + 0.5)
			px[1] = uint8(float64(px[1])*(1-a) + float64(c.G)*a + 0.5)
			px[2] = uint8(float64(px[2])*(1-a) + float64(c.B)*a + 0.5)
			px[3] = 0xff
		}
	}
}
