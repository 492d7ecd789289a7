package poster

// A stand-in for the layout renderer that is being built: it fixes the
// interface the API, console and portal call, and draws every layout as
// plain posters, one placement a page, until the renderer replaces it.

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	_ "image/jpeg" // logos may be JPEG
	"image/png"
	"io"

	"github.com/referrald/referrald/poster/glyphs"
)

// Layout is how placements are laid out on pages.
type Layout string

// Layouts.
const (
	LayoutPoster     Layout = "poster"
	LayoutFlyer4     Layout = "flyer4"
	LayoutStickers8  Layout = "stickers8"
	LayoutStickers12 Layout = "stickers12"
	LayoutTearoff    Layout = "tearoff"
)

// Layouts lists every layout.
var Layouts = []Layout{LayoutPoster, LayoutFlyer4, LayoutStickers8, LayoutStickers12, LayoutTearoff}

// Valid reports whether l is a known layout.
func (l Layout) Valid() bool { return l.PerPage() > 0 }

// PerPage is how many placements one page of l holds.
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

// Design is how a program's posters look.
type Design struct {
	Accent       string
	Logo         []byte
	LogoInQR     bool
	Headline     string
	Incentive    string
	CallToAction string
	ShowName     bool
}

// DefaultAccent is the accent of a design that names none.
const DefaultAccent = "#1a56db"

// Sheet is what is printed for one placement.
type Sheet struct {
	Program    string
	Ambassador string
	Label      string
	Code       string
	ScanURL    string
}

// Job is a print job: sheets laid out on paper.
type Job struct {
	Layout Layout
	Paper  string
	Design Design
	Sheets []Sheet
}

// Check reports the first thing wrong with j.
func (j Job) Check() error {
	if j.Layout != "" && !j.Layout.Valid() {
		return fmt.Errorf("layout must be one of poster, flyer4, stickers8, stickers12, tearoff")
	}
	if _, ok := Papers[j.Paper]; j.Paper != "" && !ok {
		return fmt.Errorf("paper must be a4 or letter")
	}
	if len(j.Sheets) == 0 {
		return fmt.Errorf("nothing to print")
	}
	for _, s := range j.Sheets {
		if err := glyphs.Check(s.Ambassador); j.Design.ShowName && err != nil {
			return fmt.Errorf("the ambassador's name %s", err)
		}
	}
	return nil
}

// PDF writes the job's pages.
func PDF(w io.Writer, job Job) error {
	if err := job.Check(); err != nil {
		return err
	}
	paper := job.Paper
	if paper == "" {
		paper = "a4"
	}
	cta := job.Design.CallToAction
	if cta == "" {
		cta = DefaultCallToAction
	}
	posters := make([]Poster, len(job.Sheets))
	for i, s := range job.Sheets {
		headline := job.Design.Headline
		if headline == "" {
			headline = s.Program
		}
		posters[i] = Poster{Program: headline, CallToAction: cta, Label: s.Label, Code: s.Code, ScanURL: s.ScanURL}
	}
	return pdfPosters(w, paper, posters)
}

// PreviewPNG writes a picture of the job's first page, width pixels wide.
func PreviewPNG(w io.Writer, job Job, width int) error {
	if err := job.Check(); err != nil {
		return err
	}
	return PNG(w, job.Sheets[0].ScanURL, Options{Size: min(max(width, MinSize), MaxSize), Margin: DefaultMargin, Level: DefaultLevel})
}

// Logo limits.
const (
	MaxLogoBytes  = 1 << 20
	MaxLogoSide   = 4096
	logoKeptSide  = 1024
	maxLogoPixels = MaxLogoSide * MaxLogoSide
)

// Logo errors.
var (
	ErrLogoNotImage      = errors.New("logo must be a PNG or JPEG image")
	ErrLogoTooBig        = errors.New("logo must be at most 1 MiB")
	ErrLogoTooManyPixels = fmt.Errorf("logo is too large: at most %d × %d pixels", MaxLogoSide, MaxLogoSide)
)

// NormalizeLogo checks an uploaded logo and re-encodes its pixels alone
// as a PNG.
func NormalizeLogo(data []byte) ([]byte, error) {
	if len(data) > MaxLogoBytes {
		return nil, ErrLogoTooBig
	}
	cfg, format, err := image.DecodeConfig(bytes.NewReader(data))
	if err != nil || (format != "png" && format != "jpeg") {
		return nil, ErrLogoNotImage
	}
	if cfg.Width > MaxLogoSide || cfg.Height > MaxLogoSide || cfg.Width*cfg.Height > maxLogoPixels {
		return nil, ErrLogoTooManyPixels
	}
	img, _, err := image.Decode(bytes.NewReader(data))
	if err != nil {
		return nil, ErrLogoNotImage
	}
	var out bytes.Buffer
	if err := png.Encode(&out, img); err != nil {
		return nil, err
	}
	return out.Bytes(), nil
}
