package poster

import (
	"bytes"
	"errors"
	"fmt"
	"image/color"
	"image/png"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/referrald/referrald/model"
	"github.com/referrald/referrald/poster/glyphs"
)

// Layout is how placements are laid out on paper.
type Layout string

// The layouts. Every one prints each placement's own QR code, its short
// code and its URL in letters, and fits both paper sizes.
const (
	// LayoutPoster is one poster per page (the default).
	LayoutPoster Layout = "poster"
	// LayoutFlyer4 is four A6-sized flyers per page, each its own
	// placement, with cut lines between them.
	LayoutFlyer4 Layout = "flyer4"
	// LayoutStickers8 is a sticker sheet of 8 (2 × 4), each its own
	// placement.
	LayoutStickers8 Layout = "stickers8"
	// LayoutStickers12 is a sticker sheet of 12 (3 × 4).
	LayoutStickers12 Layout = "stickers12"
	// LayoutTearoff is a poster with a strip of tear-off tabs along its
	// foot, each carrying the placement's QR code and short code, with cut
	// lines between the tabs.
	LayoutTearoff Layout = "tearoff"
)

// Layouts are all the layouts, in the order forms offer them.
var Layouts = []Layout{LayoutPoster, LayoutFlyer4, LayoutStickers8, LayoutStickers12, LayoutTearoff}

// Valid reports whether l is one of Layouts.
func (l Layout) Valid() bool { return l.PerPage() > 0 }

// PerPage is how many placements a page of l holds: 0 when l is not a
// layout.
func (l Layout) PerPage() int {
	switch l {
	case LayoutPoster, LayoutTearoff:
		return 1
	case LayoutFlyer4:
		return 4
	case LayoutStickers8:
		return 8
	case LayoutStickers12:
		return 12
	}
	return 0
}

// Design is how a program's posters look, whatever their layout.
type Design struct {
	// Accent is the colour of the header band and accents, "#rrggbb";
	// "" means DefaultAccent. Text is set in it only where it reads well
	// on white, and in black otherwise.
	Accent string
	// Logo is a PNG made by NormalizeLogo, printed at the top; nil for
	// none.
	Logo []byte
	// LogoInQR also puts the logo in the middle of each QR code, which is
	// then encoded with the highest error correction (H).
	LogoInQR bool
	// Headline is the largest text; "" means the program's name.
	Headline string
	// Incentive is an optional line under the headline, such as "Get 20 %
	// off your first box".
	Incentive string
	// CallToAction is printed over the QR code; "" means
	// DefaultCallToAction.
	CallToAction string
	// ShowName prints "Ask {ambassador} about it" on each placement.
	ShowName bool
}

// DefaultAccent is the accent colour of a design that has none (model's
// DefaultAccentColor too): a deep blue, 6.4:1 on white, which prints well
// on office printers and reads as dark grey in black and white.
const DefaultAccent = "#1a56db"

// DefaultCallToAction is what a poster says above its QR code when
// nobody chose words of their own.
const DefaultCallToAction = "Scan to join"

// Sheet is one placement's part of a print job.
type Sheet struct {
	// Program is the program's name.
	Program string
	// Ambassador is the ambassador's first name, printed when the
	// design's ShowName is set.
	Ambassador string
	// Label is where the placement hangs, printed small; may be "".
	Label string
	// Code is the placement's short code.
	Code string
	// ScanURL is what the QR code carries.
	ScanURL string
}

// Job is one print job: a layout, a paper size, a design and the
// placements to print.
type Job struct {
	// Layout is "" for LayoutPoster.
	Layout Layout
	// Paper is "a4" or "letter"; "" means "a4".
	Paper  string
	Design Design
	// Sheets are the placements, one each. Pages hold Layout.PerPage() of
	// them; a last page that is not full leaves the rest blank.
	Sheets []Sheet
}

// Papers are the page sizes jobs print on, by name.
var Papers = map[string]string{"a4": "A4", "letter": "Letter"}

// paperSizes are the papers' width and height in millimetres.
var paperSizes = map[string][2]float64{"a4": {210, 297}, "letter": {215.9, 279.4}}

// Limits of a Job.
const (
	// MaxTextLen bounds every text of a design or sheet, in characters.
	MaxTextLen = 200
	// MaxSheets bounds the placements of one job.
	MaxSheets = 1200
)

// CheckError says which part of a Job cannot be printed, and why. Field
// is a design field ("headline", "incentive", "call_to_action", "accent",
// "logo"), a sheet field ("program", "ambassador", "label", "code",
// "scan_url") or "layout", "paper" or "sheets".
type CheckError struct {
	Field string
	// Sheet is the index of the sheet at fault, or -1.
	Sheet int
	// Problem reads after the field's name: "must be a4 or letter".
	Problem string
	// Err is the cause, such as a *model.UnprintableError, if any.
	Err error
}

func (e *CheckError) Error() string {
	if e.Sheet >= 0 {
		return fmt.Sprintf("sheet %d: %s %s", e.Sheet+1, e.Field, e.Problem)
	}
	return e.Field + " " + e.Problem
}

func (e *CheckError) Unwrap() error { return e.Err }

// Check reports the first thing about j that cannot be printed, as a
// *CheckError: an unknown layout or paper, no sheets or too many, a bad
// accent or logo, or text too long or in characters the fonts cannot
// print (model.CheckPosterText).
func (j Job) Check() error {
	designErr := func(field, problem string, err error) error {
		return &CheckError{Field: field, Sheet: -1, Problem: problem, Err: err}
	}
	if j.Layout != "" && !j.Layout.Valid() {
		names := make([]string, len(Layouts))
		for i, l := range Layouts {
			names[i] = string(l)
		}
		return designErr("layout", "must be one of "+strings.Join(names, ", "), nil)
	}
	if _, ok := paperSizes[j.Paper]; !ok && j.Paper != "" {
		return designErr("paper", "must be a4 or letter", nil)
	}
	if len(j.Sheets) == 0 {
		return designErr("sheets", "must hold at least one placement", nil)
	}
	if len(j.Sheets) > MaxSheets {
		return designErr("sheets", fmt.Sprintf("must hold at most %d placements", MaxSheets), nil)
	}
	d := j.Design
	if _, err := parseAccent(d.Accent); err != nil {
		return designErr("accent", err.Error(), nil)
	}
	if d.Logo != nil {
		if err := checkLogoPNG(d.Logo); err != nil {
			return designErr("logo", strings.TrimPrefix(err.Error(), "logo "), err)
		}
	}
	for _, f := range []struct{ name, text string }{
		{"headline", d.Headline}, {"incentive", d.Incentive}, {"call_to_action", d.CallToAction},
	} {
		if problem, err := checkText(f.text); problem != "" {
			return designErr(f.name, problem, err)
		}
	}
	for i, s := range j.Sheets {
		if strings.TrimSpace(s.ScanURL) == "" {
			return &CheckError{Field: "scan_url", Sheet: i, Problem: "is required"}
		}
		if strings.TrimSpace(s.Code) == "" {
			return &CheckError{Field: "code", Sheet: i, Problem: "is required"}
		}
		fields := []struct{ name, text string }{
			{"program", s.Program}, {"label", s.Label}, {"code", s.Code}, {"scan_url", s.ScanURL},
		}
		if d.ShowName {
			fields = append(fields, struct{ name, text string }{"ambassador", s.Ambassador})
		}
		for _, f := range fields {
			if problem, err := checkText(f.text); problem != "" {
				return &CheckError{Field: f.name, Sheet: i, Problem: problem, Err: err}
			}
		}
	}
	return nil
}

// checkText says what is wrong with s as poster text, or "".
func checkText(s string) (string, error) {
	if utf8.RuneCountInString(s) > MaxTextLen {
		return fmt.Sprintf("must be at most %d characters", MaxTextLen), nil
	}
	// Composed first, as it prints: a letter and its accents are one glyph.
	if err := model.CheckPosterText(glyphs.Normalize(s)); err != nil {
		return err.Error(), err
	}
	return "", nil
}

// checkLogoPNG checks that b is a logo NormalizeLogo could have made.
func checkLogoPNG(b []byte) error {
	if len(b) > MaxLogoBytes {
		return ErrLogoTooBig
	}
	cfg, err := png.DecodeConfig(bytes.NewReader(b))
	if err != nil {
		return ErrLogoNotImage
	}
	if cfg.Width > logoKeptSide || cfg.Height > logoKeptSide || cfg.Width < 1 || cfg.Height < 1 {
		return fmt.Errorf("logo must be at most %d pixels a side, as NormalizeLogo makes it", logoKeptSide)
	}
	return nil
}

// parseAccent reads "#rrggbb" ("" is DefaultAccent).
func parseAccent(s string) (color.RGBA, error) {
	if s == "" {
		s = DefaultAccent
	}
	bad := errors.New(`must be a colour written "#rrggbb"`)
	if len(s) != 7 || s[0] != '#' || strings.Trim(s[1:], "0123456789abcdefABCDEF") != "" {
		return color.RGBA{}, bad
	}
	v, err := strconv.ParseUint(s[1:], 16, 32)
	if err != nil {
		return color.RGBA{}, bad
	}
	return color.RGBA{R: uint8(v >> 16), G: uint8(v >> 8), B: uint8(v), A: 0xff}, nil
}
