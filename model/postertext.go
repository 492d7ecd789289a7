package model

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"unicode"
)

// What posters can print. The fonts live with the renderer (poster/glyphs);
// the table of the characters they have is generated into this package
// (poster_glyphs.go) so that text is judged where it is typed, with no
// font code in model. A test in poster/glyphs keeps the two in step.

// rightToLeft are the scripts written right to left. They are refused even
// where the fonts have their letters: the renderer neither reorders nor
// shapes them, so they would print backwards and unjoined.
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
	return "uses characters posters cannot print (" + describeRunes(e.Runes) + ")"
}

// describeRunes names runes by script, "Han: 王明; Hiragana: の", leaving
// out the name of the scripts shared by many (symbols, emoji).
func describeRunes(runes []rune) string {
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

// CheckPosterText reports whether every character of s can be printed on
// a poster: nil, or an *UnprintableError. Spaces are fine; control
// characters, right-to-left scripts and characters the fonts lack
// (Chinese, Japanese, Korean, Thai, emoji, ...) are not. A letter typed as
// a base and combining accents passes when the fonts have each part; the
// renderer composes it before printing.
func CheckPosterText(s string) error {
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
		if !PosterPrints(r) && !slices.Contains(missing, r) && len(missing) < maxReported {
			missing = append(missing, r)
		}
	}
	if len(missing) > 0 {
		return &UnprintableError{Runes: missing}
	}
	return nil
}

// PosterPrints reports whether the posters' fonts, regular and bold, both
// have a glyph for r.
func PosterPrints(r rune) bool {
	return r == ' ' || unicode.Is(posterGlyphs, r)
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
