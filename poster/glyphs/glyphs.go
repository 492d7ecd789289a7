// Package glyphs holds the fonts posters are set in. Which text they can
// print is model's rule (model.CheckPosterText), judged from a table of
// these fonts' characters that this package's tests generate and check.
//
// Posters are set in DejaVu Sans, which covers the Latin script (with
// Vietnamese), Greek and Cyrillic.
package glyphs

import (
	"sync"
	"unicode"

	"github.com/go-fonts/dejavu/dejavusans"
	"github.com/go-fonts/dejavu/dejavusansbold"
	"github.com/go-fonts/dejavu/dejavusansmonobold"
	"golang.org/x/image/font/sfnt"
	"golang.org/x/text/unicode/norm"
)

// Regular, Bold and MonoBold are the TrueType fonts posters are set in:
// DejaVu Sans, DejaVu Sans Bold, and DejaVu Sans Mono Bold for placement
// codes, whose letters must not be mistaken for one another.
var (
	Regular  = dejavusans.TTF
	Bold     = dejavusansbold.TTF
	MonoBold = dejavusansmonobold.TTF
)

// Normalize returns s in Unicode normalization form C, so a letter typed
// as a base and a combining accent (as some keyboards send Vietnamese)
// prints as the one precomposed glyph the fonts have.
func Normalize(s string) string { return norm.NFC.String(s) }

// Printable reports whether both the regular and the bold font have a
// glyph for r. Only the Basic Multilingual Plane counts: the PDF library
// keeps the widths of no character beyond it.
func Printable(r rune) bool {
	if r > 0xffff || unicode.IsControl(r) {
		return false
	}
	if r == ' ' {
		return true
	}
	fonts := parsed()
	var buf sfnt.Buffer
	for _, f := range []*sfnt.Font{fonts.Regular, fonts.Bold} {
		if i, err := f.GlyphIndex(&buf, r); err != nil || i == 0 {
			return false
		}
	}
	return true
}

// Fonts are the poster fonts, parsed.
type Fonts struct {
	Regular, Bold, MonoBold *sfnt.Font
}

// parsed parses the fonts once: they are built in, so a failure is a
// broken build, not a condition to handle.
var parsed = sync.OnceValue(func() Fonts {
	parse := func(b []byte) *sfnt.Font {
		f, err := sfnt.Parse(b)
		if err != nil {
			panic("glyphs: built-in font: " + err.Error())
		}
		return f
	}
	return Fonts{Regular: parse(Regular), Bold: parse(Bold), MonoBold: parse(MonoBold)}
})

// Parsed returns the poster fonts, parsed once and shared: an sfnt.Font
// is safe for concurrent use as long as each caller brings its own
// sfnt.Buffer.
func Parsed() Fonts { return parsed() }
