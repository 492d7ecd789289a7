package model

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestCheckIJSON(t *testing.T) {
	for _, c := range []struct {
		in   string
		want string // the field errors, as field:message-start
	}{
		{`{"a":1,"b":"x","c":[true,false,null,{"d":-0.5e-3}]}`, ""},
		{`{"big":1.7976931348623157e308,"tiny":1e-999,"long":123456789012345678901234567890}`, ""},
		{`{"pair":"\ud83d\ude00","raw":"😀","ctl":"\u0000\n","bom":"\ufeff","fffd":"\ufffd"}`, ""},
		{`{"n":1e999}`, "m.n:number"},
		{`{"n":-1.8e308}`, "m.n:number"},
		{`{"a":[0,{"b":[1E400]}]}`, "m.a[1].b[0]:number"},
		{"{\"s\":\"\xff\"}", "m.s:string"},
		{"{\"s\":\"\xc0\xaf\"}", "m.s:string"},     // an overlong "/"
		{"{\"s\":\"\xed\xa0\x80\"}", "m.s:string"}, // a surrogate written as UTF-8
		{`{"s":"\ud800"}`, "m.s:string"},
		{`{"s":"\ud800\u0041"}`, "m.s:string"},
		{`{"s":"\udc00\ud800"}`, "m.s:string"},
		{`{"s":"x\ud83d"}`, "m.s:string"},
		{`{"s":"\uFDD0"}`, "m.s:string"},
		{`{"s":"\ud83f\udffe"}`, "m.s:string"},     // U+1FFFE
		{"{\"s\":\"\xef\xbf\xbf\"}", "m.s:string"}, // U+FFFF
		{`{"a":["ok","\udfff"]}`, "m.a[1]:string"},
		{"{\"\xff\":1}", `m."�":name`},
		{`{"\ud800":1}`, `m."�":name`},
		{`{"a.b":{"c":1,"c":2}}`, `m."a.b".c:twice`},
		{`{"a":1,"\u0061":2}`, "m.a:twice"},
		{`{"a[0]":1e999,"a":[1e999]}`, `m."a[0]":number m.a[0]:number`},
		{`{"s":"\ud800","n":1e999,"s":1}`, "m.n:number m.s:string"}, // one complaint per field
	} {
		var fe FieldErrors
		checkIJSON(&fe, "m", []byte(c.in))
		if got := summary(fe); got != c.want {
			t.Errorf("checkIJSON(%s): got %q, want %q", c.in, got, c.want)
		}
	}
}

// Request bodies are checked for their strings only: names are fields
// there, and typed fields refuse numbers of their own.
func TestCheckJSONStrings(t *testing.T) {
	var fe FieldErrors
	CheckJSONStrings(&fe, "", []byte(`{"first_name":"\ud800","amount":1e999,"\ud800":1,"commission":{"currency":"\uffff"},"a":1,"a":2}`))
	if got, want := summary(fe), "commission.currency:string first_name:string"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

// The walk expects valid JSON, but must not panic on anything else.
func TestCheckIJSONOnBrokenText(t *testing.T) {
	for _, in := range []string{``, `{`, `"`, `"abc`, `{"a`, `{"a":`, `[1,`, `{"a":"\u12`, `{"a":"\ud800\u`, `]`, `}`, `x`, `{"a" 1}`, `[[[`} {
		var fe FieldErrors
		checkIJSON(&fe, "m", []byte(in))
		CheckJSONStrings(&fe, "", []byte(in))
	}
}

// FuzzCheckIJSON: any bytes, no panic; valid JSON it passes is valid
// UTF-8 that encoding/json decodes, numbers and all, without replacing
// anything with U+FFFD.
func FuzzCheckIJSON(f *testing.F) {
	for _, s := range []string{`{"a":[1,"b",{"c":null}]}`, `{"n":1e999}`, `{"s":"\ud800"}`, "{\"s\":\"\xff\"}", `{"a":1,"a":2}`,
		`{"s":"\ud83d\ude00"}`, `{"s":"\uffff"}`, `[1,{"\u0061":2,"a":3}]`, `"x"`, `{"a":"\u12`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var fe FieldErrors
		checkIJSON(&fe, "m", b)
		CheckJSONStrings(&fe, "m", b)
		if len(fe) > 0 || !json.Valid(b) {
			return
		}
		var v any
		if !utf8.Valid(b) || json.Unmarshal(b, &v) != nil {
			t.Fatalf("passed %q", b)
		}
		if strings.ContainsRune(fmt.Sprint(v), utf8.RuneError) && !strings.Contains(strings.ToLower(string(b)), `\ufffd`) &&
			!strings.ContainsRune(string(b), utf8.RuneError) {
			t.Fatalf("passed %q, which decodes with a replacement character", b)
		}
	})
}

func TestCheckMetadataIsIJSON(t *testing.T) {
	var fe FieldErrors
	checkMetadata(&fe, "metadata", Metadata(`{"n":1e999}`))
	if len(fe) != 1 || fe[0].Field != "metadata.n" || fe[0].Code != FInvalidValue {
		t.Errorf("got %+v, want metadata.n invalid_value", fe)
	}
}

// summary lists field errors as field:kind, kind being which I-JSON rule
// they broke.
func summary(fe FieldErrors) string {
	if len(fe) == 0 {
		return ""
	}
	kinds := map[string]string{msgIJSONString: "string", msgIJSONName: "name", msgIJSONNumber: "number", msgIJSONTwice: "twice"}
	out := ""
	for _, f := range fe.Err().(*Error).Fields {
		if out != "" {
			out += " "
		}
		out += fmt.Sprintf("%s:%s", f.Field, kinds[f.Message])
		if f.Code != FInvalidValue {
			out += "(" + f.Code + ")"
		}
	}
	return out
}

// What a hook plugin adds to a signup's metadata is stored with it, so it
// must be I-JSON too: a pair that is not is left out, as one that does
// not fit is.
func TestVerdictMetadataIsIJSON(t *testing.T) {
	in := ReferralCreate{Metadata: Metadata(`{"client":1}`)}
	ReferralVerdict{Metadata: map[string]string{"ok": "fine", "nonchar": "\uffff", "\ufdd0": "key", "raw": "\xff", "\xfe": "key"}}.Apply(&in)
	var fe FieldErrors
	checkMetadata(&fe, "metadata", in.Metadata)
	if string(in.Metadata) != `{"client":1,"ok":"fine"}` || len(fe) > 0 {
		t.Errorf("got %s %v, want only the I-JSON pair added", in.Metadata, fe)
	}
}
