package model

import (
	"errors"
	"testing"
)

func TestCheckPosterTextAcceptsLatinGreekCyrillic(t *testing.T) {
	for _, s := range []string{
		"Łukasz Żółć", "Nguyễn Thị Minh Khai", "Nguye\u0302\u0303n Thi\u0323", "Ольга",
		"Καλή αρχή", "Zoë's café – 20 % off", "Şükrü Ağaoğlu", "", "  spaced  out  ", "Ærøskøbing",
	} {
		if err := CheckPosterText(s); err != nil {
			t.Errorf("CheckPosterText(%q): %v", s, err)
		}
	}
}

func TestCheckPosterTextRefusesWithAReason(t *testing.T) {
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
		"こんにち 안녕 王": "uses characters posters cannot print (Hiragana: こんにち; Hangul: 안)", // the first five
	} {
		err := CheckPosterText(s)
		var ue *UnprintableError
		if !errors.As(err, &ue) {
			t.Errorf("CheckPosterText(%q): got %v, want an *UnprintableError", s, err)
			continue
		}
		if err.Error() != want {
			t.Errorf("CheckPosterText(%q):\n got %q\nwant %q", s, err, want)
		}
	}
}
