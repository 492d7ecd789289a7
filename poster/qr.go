// Package poster draws what goes on paper: a placement's QR code as PNG
// or SVG, and print-ready posters, flyers, sticker sheets and tear-off
// posters as PDF, with a PNG preview of the first page drawn from the same
// description. Its Cache of drawn QR images serves both the API's QR
// routes and the web console's, so the two draw and tag an image the same
// way.
//
// QR codes are encoded by ZXing's encoder (gozxing), which tries all eight
// mask patterns and keeps the one the standard's penalty rules score best,
// so no code is hard for a camera because of an unlucky mask.
package poster

import (
	"fmt"
	"io"
	"strings"

	"github.com/makiuchi-d/gozxing/qrcode/decoder"
	"github.com/makiuchi-d/gozxing/qrcode/encoder"
)

// Options shape a QR image.
type Options struct {
	// Size is the image's side in pixels (PNG) or user units (SVG); the
	// PNG is the nearest whole multiple of the module count at or below.
	Size int
	// Margin is the quiet zone around the code, in modules; scanners need
	// about 4.
	Margin int
	// Level is the error correction: L, M, Q or H. M survives a smudged
	// or partly torn poster at a modest size.
	Level string
}

// Limits of Options.
const (
	DefaultSize   = 512
	MinSize       = 64
	MaxSize       = 2048
	DefaultMargin = 4
	MaxMargin     = 16
	DefaultLevel  = "M"
)

var levels = map[string]decoder.ErrorCorrectionLevel{
	"L": decoder.ErrorCorrectionLevel_L, "M": decoder.ErrorCorrectionLevel_M,
	"Q": decoder.ErrorCorrectionLevel_Q, "H": decoder.ErrorCorrectionLevel_H,
}

// Check fills defaults and reports the first option out of bounds.
func (o *Options) Check() error {
	if o.Size == 0 {
		o.Size = DefaultSize
	}
	if o.Level == "" {
		o.Level = DefaultLevel
	}
	_, known := levels[o.Level]
	switch {
	case o.Size < MinSize || o.Size > MaxSize:
		return fmt.Errorf("size must be from %d to %d", MinSize, MaxSize)
	case o.Margin < 0 || o.Margin > MaxMargin:
		return fmt.Errorf("margin must be from 0 to %d", MaxMargin)
	case !known:
		return fmt.Errorf("ecc must be L, M, Q or H")
	}
	return nil
}

// symbol is an encoded QR code: Size modules square, without its quiet
// zone.
type symbol struct {
	Size int
	// Mask is the mask pattern (0 to 7) the encoder chose.
	Mask int
	dark []bool
}

// Black reports whether the module at (x, y) is dark; outside the symbol
// (in the quiet zone) none is.
func (s *symbol) Black(x, y int) bool {
	return x >= 0 && y >= 0 && x < s.Size && y < s.Size && s.dark[y*s.Size+x]
}

// encode makes the symbol of text at o's error correction level (M when
// o has none).
func encode(text string, o Options) (*symbol, error) {
	level, ok := levels[o.Level]
	if !ok {
		level = levels[DefaultLevel]
	}
	code, err := encoder.Encoder_encode(text, level, nil)
	if err != nil {
		return nil, fmt.Errorf("poster: encode QR code: %w", err)
	}
	m := code.GetMatrix()
	s := &symbol{Size: m.GetWidth(), Mask: code.GetMaskPattern()}
	s.dark = make([]bool, s.Size*s.Size)
	for y := range s.Size {
		for x := range s.Size {
			s.dark[y*s.Size+x] = m.Get(x, y) == 1
		}
	}
	return s, nil
}

// decodes reports whether s, with a rectangle of w × h modules in its
// middle made light, still reads as text: what a logo over the code costs.
func (s *symbol) decodes(text string, w, h int) bool {
	x0, y0 := (s.Size-w)/2, (s.Size-h)/2
	bits := make([][]bool, s.Size)
	for y := range bits {
		bits[y] = make([]bool, s.Size)
		for x := range bits[y] {
			covered := x >= x0 && x < x0+w && y >= y0 && y < y0+h
			bits[y][x] = s.Black(x, y) && !covered
		}
	}
	res, err := decoder.NewDecoder().DecodeBoolMap(bits, nil)
	return err == nil && res.GetText() == text
}

// PNG writes the QR code of text as a two-colour PNG.
func PNG(w io.Writer, text string, o Options) error {
	code, err := encode(text, o)
	if err != nil {
		return err
	}
	modules := code.Size + 2*o.Margin
	return writePNG(w, code, o.Margin, max(1, o.Size/modules))
}

// SVG writes the QR code of text as an SVG with one path: a run of dark
// modules per row segment, crisp at any print size.
func SVG(w io.Writer, text string, o Options) error {
	code, err := encode(text, o)
	if err != nil {
		return err
	}
	modules := code.Size + 2*o.Margin
	var path strings.Builder
	for y := 0; y < code.Size; y++ {
		for x := 0; x < code.Size; {
			if !code.Black(x, y) {
				x++
				continue
			}
			run := 1
			for x+run < code.Size && code.Black(x+run, y) {
				run++
			}
			fmt.Fprintf(&path, "M%d %dh%dv1h-%dz", x+o.Margin, y+o.Margin, run, run)
			x += run
		}
	}
	_, err = fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?>
<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" shape-rendering="crispEdges">
<rect width="%d" height="%d" fill="#fff"/>
<path fill="#000" d="%s"/>
</svg>
`, o.Size, o.Size, modules, modules, modules, modules, path.String())
	return err
}
