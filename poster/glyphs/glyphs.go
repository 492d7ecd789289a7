// Package glyphs holds the fonts posters are set in and tells which text
// they can print, so that text is refused where it is typed rather than
// printed as boxes. It imports nothing of referrald, so the model can use
// it to validate.
package glyphs

import (
	"fmt"
	"unicode"

	"github.com/go-fonts/dejavu/dejavusans"
	"github.com/go-fonts/dejavu/dejavusansbold"
	"golang.org/x/image/font/sfnt"
	"golang.org/x/text/unicode/norm"
)

// Regular and Bold are the TrueType fonts posters are set in: DejaVu Sans,
// which covers Latin (Vietnamese too), Greek and Cyrillic.
var (
	Regular = dejavusans.TTF
	Bold    = dejavusansbold.TTF
)

var fonts = func() []*sfnt.Font {
	var out []*sfnt.Font
	for _, b := range [][]byte{Regular, Bold} {
		f, err := sfnt.Parse(b)
		if err != nil {
			panic("glyphs: embedded font: " + err.Error())
		}
		out = append(out, f)
	}
	return out
}()

// rightToLeft are scripts that need bidirectional layout and shaping,
// which the PDF writer does not do: their letters would print in the
// wrong order or unjoined.
var rightToLeft = map[string]*unicode.RangeTable{
	"Hebrew": unicode.Hebrew, "Arabic": unicode.Arabic, "Syriac": unicode.Syriac,
	"Thaana": unicode.Thaana, "NKo": unicode.Nko, "Samaritan": unicode.Samaritan,
	"Mandaic": unicode.Mandaic, "Adlam": unicode.Adlam,
}

// Normalize composes s (NFC), so letters typed as a base and combining
// marks print as the single glyphs the fonts hold.
func Normalize(s string) string { return norm.NFC.String(s) }

// Check reports whether every character of s, once normalized, can be
// printed; its error reads well after a field's name.
func Check(s string) error {
	var buf sfnt.Buffer
	for _, r := range Normalize(s) {
		if unicode.IsControl(r) {
			return fmt.Errorf("must not contain control characters")
		}
		for name, table := range rightToLeft {
			if unicode.Is(table, r) {
				return fmt.Errorf("uses right-to-left script (%s: %c), which posters cannot print yet", name, r)
			}
		}
		if unicode.IsSpace(r) {
			continue
		}
		if i, err := fonts[0].GlyphIndex(&buf, r); err != nil || i == 0 {
			return fmt.Errorf("uses characters posters cannot print (%s: %c)", scriptOf(r), r)
		}
	}
	return nil
}

// scriptOf names the script of r for an error message.
func scriptOf(r rune) string {
	for name, table := range unicode.Scripts {
		if name != "Common" && name != "Inherited" && unicode.Is(table, r) {
			return name
		}
	}
	return fmt.Sprintf("U+%04X", r)
}
