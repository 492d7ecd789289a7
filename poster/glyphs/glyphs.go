// Package glyphs holds the fonts posters are set in and tells which text
// they can print. It imports nothing of referrald, so that model can check
// a name when it is entered rather than when a poster is printed.
//
// Posters are set in DejaVu Sans, which covers the Latin script (with
// Vietnamese), Greek and Cyrillic. Text in a right-to-left script is
// refused even where the fonts have its letters: the PDF library neither
// reorders nor shapes it, so it would print backwards and unjoined.
package glyphs

import (
	"fmt"
	"slices"
	"strings"
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

// rightToLeft are the scripts written right to left.
var rightToLeft = []struct {
	name  string
	table *unicode.RangeTable
}{
	{"Arabic", unicode.Arabic}, {"Hebrew", unicode.Hebrew}, {"Syriac", unicode.Syriac},
	{"Thaana", unicode.Thaana}, {"NKo", unicode.Nko}, {"Samaritan", unicode.Samaritan},
	{"Mandaic", unicode.Mandaic}, {"Adlam", unicode.Adlam}, {"Hanifi Rohingya", unicode.Hanifi_Rohingya},
	{"Mende Kikakui", unicode.Mende_Kikakui}, {"Imperial Aramaic", unicode.Imperial_Aramaic},
	{"Phoenician", unicode.Phoenician}, {"Old South Arabian", unicode.Old_South_Arabian},
	{"Avestan", unicode.Avestan}, {"Yezidi", unicode.Yezidi},
}

// bidiControls are the invisible marks that reorder text around them.
var bidiControls = &unicode.RangeTable{R16: []unicode.Range16{
	{Lo: 0x061c, Hi: 0x061c, Stride: 1},
	{Lo: 0x200e, Hi: 0x200f, Stride: 1},
	{Lo: 0x202a, Hi: 0x202e, Stride: 1},
	{Lo: 0x2066, Hi: 0x2069, Stride: 1},
}}

// UnprintableError says why text cannot be printed on a poster. Its
// message reads well after a field name: "headline uses …".
type UnprintableError struct {
	// Script names the right-to-left script found, if that is the reason.
	Script string
	// Runes are a few of the characters that cannot be printed, in the
	// order they appear.
	Runes []rune
	// Control is set when the reason is a control character.
	Control bool
}

func (e *UnprintableError) Error() string {
	switch {
	case e.Control:
		return fmt.Sprintf("uses a control character (U+%04X), which posters cannot print", e.Runes[0])
	case e.Script != "":
		return fmt.Sprintf("uses right-to-left script (%s: %s), which posters cannot print yet", e.Script, string(e.Runes))
	}
	return "uses characters posters cannot print (" + describe(e.Runes) + ")"
}

// describe names runes by script, "Han: 王明; Hiragana: の", leaving out
// the name of the scripts shared by many (symbols, emoji).
func describe(runes []rune) string {
	var groups []string
	var names []string
	byScript := map[string][]rune{}
	for _, r := range runes {
		name := scriptOf(r)
		if _, ok := byScript[name]; !ok {
			names = append(names, name)
		}
		byScript[name] = append(byScript[name], r)
	}
	for _, name := range names {
		if name == "" || name == "Common" || name == "Inherited" {
			groups = append(groups, string(byScript[name]))
			continue
		}
		groups = append(groups, name+": "+string(byScript[name]))
	}
	return strings.Join(groups, "; ")
}

// scriptNames are the names of unicode.Scripts, sorted so that a rune in
// two tables is always named the same.
var scriptNames = sync.OnceValue(func() []string {
	names := make([]string, 0, len(unicode.Scripts))
	for name := range unicode.Scripts {
		names = append(names, name)
	}
	slices.Sort(names)
	return names
})

// scriptOf names the script of r, or "" if it has none.
func scriptOf(r rune) string {
	for _, name := range scriptNames() {
		if unicode.Is(unicode.Scripts[name], r) {
			return strings.ReplaceAll(name, "_", " ")
		}
	}
	return ""
}

// maxReported bounds how many characters an error names.
const maxReported = 5

// Check reports whether every character of Normalize(s) can be printed on
// a poster: nil, or an *UnprintableError. Spaces are fine; control
// characters, right-to-left scripts and characters the fonts lack (Chinese,
// Japanese, Korean, Thai, emoji, ...) are not.
func Check(s string) error {
	s = Normalize(s)
	var missing []rune
	for _, r := range s {
		if unicode.IsControl(r) || unicode.Is(bidiControls, r) {
			return &UnprintableError{Control: true, Runes: []rune{r}}
		}
		for _, script := range rightToLeft {
			if unicode.Is(script.table, r) {
				return &UnprintableError{Script: script.name, Runes: firstOf(s, script.table)}
			}
		}
		if !Printable(r) && !slices.Contains(missing, r) && len(missing) < maxReported {
			missing = append(missing, r)
		}
	}
	if len(missing) > 0 {
		return &UnprintableError{Runes: missing}
	}
	return nil
}

// firstOf returns the first few distinct characters of s in table.
func firstOf(s string, table *unicode.RangeTable) []rune {
	var found []rune
	for _, r := range s {
		if unicode.Is(table, r) && !slices.Contains(found, r) && len(found) < maxReported {
			found = append(found, r)
		}
	}
	return found
}

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
