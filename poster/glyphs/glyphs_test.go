package glyphs

import (
	"errors"
	"strings"
	"testing"

	"golang.org/x/text/unicode/norm"
)

func TestCheckAcceptsLatinGreekCyrillic(t *testing.T) {
	for _, s := range []string{
		"Łukasz Żółć", "Nguyễn Thị Minh Khai", norm.NFD.String("Nguyễn Thị Minh Khai"), "Ольга",
		"Καλή αρχή", "Zoë's café – 20 % off", "Şükrü Ağaoğlu", "", "  spaced  out  ", "Ærøskøbing",
	} {
		if err := Check(s); err != nil {
			t.Errorf("Check(%q): %v", s, err)
		}
	}
}

func TestCheckRefusesWithAReason(t *testing.T) {
	for s, want := range map[string]string{
		"王":         "uses characters posters cannot print (Han: 王)",
		"Ada 王小明":   "uses characters posters cannot print (Han: 王小明)",
		"שלום":      "uses right-to-left script (Hebrew: שלום), which posters cannot print yet",
		"مرحبا":     "uses right-to-left script (Arabic: مرحبا), which posters cannot print yet",
		"Ada ܫܠܡܐ":  "uses right-to-left script (Syriac: ܫܠܡܐ), which posters cannot print yet",
		"tab\there": "uses a control character (U+0009), which posters cannot print",
		"a\u202eb":  "uses a control character (U+202E), which posters cannot print",
		"สวัสดี":    "uses characters posters cannot print (Thai: สวัดี)", // each character once
		"hi 😀":      "uses characters posters cannot print (😀)",
		"こんにち 안녕 王": "uses characters posters cannot print (Hiragana: こんにち; Hangul: 안)", // the first five,
	} {
		err := Check(s)
		var ue *UnprintableError
		if !errors.As(err, &ue) {
			t.Errorf("Check(%q): got %v, want an *UnprintableError", s, err)
			continue
		}
		if err.Error() != want {
			t.Errorf("Check(%q):\n got %q\nwant %q", s, err, want)
		}
	}
}

// The fonts print what Check accepts: every letter of the scripts posters
// promise has a glyph in both weights.
func TestPrintableCoversThePromisedScripts(t *testing.T) {
	for _, s := range []string{
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789",
		"ăâđêôơưàảãáạằẳẵắặầẩẫấậèẻẽéẹềểễếệìỉĩíịòỏõóọồổỗốộờởỡớợùủũúụừửữứựỳỷỹýỵ",
		"αβγδεζηθικλμνξοπρστυφχψωάέήίόύώΑΒΓΔΩ",
		"абвгдеёжзийклмнопрстуфхцчшщъыьэюяЁЖЩЇЄІЎ",
		"ąćęłńóśźżĄĆĘŁŃÓŚŹŻčďěňřšťůžß€–—‘’“”…",
	} {
		for _, r := range s {
			if !Printable(r) {
				t.Errorf("%q (U+%04X) is not printable", r, r)
			}
		}
	}
	if Printable('王') || Printable('\n') || Printable(0x1f600) {
		t.Error("a character the fonts lack is printable")
	}
}

func TestNormalizeComposes(t *testing.T) {
	decomposed := norm.NFD.String("Nguyễn")
	if got := Normalize(decomposed); got != "Nguyễn" || len(decomposed) == len(got) {
		t.Errorf("got %q (%d bytes), want the precomposed form", got, len(got))
	}
	if !strings.HasPrefix(string(Regular[:4]), "\x00\x01\x00\x00") || len(Bold) == 0 || len(MonoBold) == 0 {
		t.Error("the fonts are not TrueType")
	}
}
