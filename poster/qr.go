// Package poster draws what goes on paper: a placement's QR code as PNG
// or SVG, and printable PDF posters. Its Cache of drawn QR images serves
// both the API's QR routes and the web console's, so the two draw and tag
// an image the same way.
package poster

import (
	"fmt"
	"io"
	"strings"

	"rsc.io/qr"
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

var levels = map[string]qr.Level{"L": qr.L, "M": qr.M, "Q": qr.Q, "H": qr.H}

// Check fills defaults and reports the first option out of bounds.
func (o *Options) Check() error {
	if o.Size == 0 {
		o.Size = DefaultSize
	}
	if o.Level == "" {
		o.Level = DefaultLevel
	}
	switch {
	case o.Size < MinSize || o.Size > MaxSize:
		return fmt.Errorf("size must be from %d to %d", MinSize, MaxSize)
	case o.Margin < 0 || o.Margin > MaxMargin:
		return fmt.Errorf("margin must be from 0 to %d", MaxMargin)
	case levels[o.Level] == 0 && o.Level != "L":
		return fmt.Errorf("ecc must be L, M, Q or H")
	}
	return nil
}

// encode makes the code of text.
func encode(text string, o Options) (*qr.Code, error) {
	return qr.Encode(text, levels[o.Level])
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
