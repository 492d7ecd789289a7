package model

import (
	"fmt"
	"slices"
	"strings"
	"testing"
)

// ambIDs are n well-formed ambassador IDs, all different.
func ambIDs(n int) []string {
	out := make([]string, n)
	for i := range out {
		var k [16]byte
		k[0], k[14], k[15] = 1, byte(i>>8), byte(i)
		out[i] = FormatID(PrefixAmbassador, k)
	}
	return out
}

var testProgramID = FormatID(PrefixProgram, [16]byte{1})

func TestPrintRunCreateValidate(t *testing.T) {
	two := ambIDs(2)
	for _, tc := range []struct {
		name  string
		in    PrintRunCreate
		field string // "" when valid
		msg   string // part of the field's message
	}{
		{"two ambassadors", PrintRunCreate{ProgramID: testProgramID, AmbassadorIDs: two, Layout: "flyer4", Paper: "letter", Count: 2}, "", ""},
		{"a school", PrintRunCreate{ProgramID: testProgramID, School: "Trinity College", Count: 50}, "", ""},
		{"no program", PrintRunCreate{AmbassadorIDs: two, Count: 1}, "program_id", "required"},
		{"a bad program", PrintRunCreate{ProgramID: "amb_nope", AmbassadorIDs: two, Count: 1}, "program_id", "does not exist"},
		{"nobody", PrintRunCreate{ProgramID: testProgramID, Count: 1}, "ambassador_ids", "or give a school"},
		{"an empty list", PrintRunCreate{ProgramID: testProgramID, AmbassadorIDs: []string{}, Count: 1}, "ambassador_ids", "required"},
		{"both", PrintRunCreate{ProgramID: testProgramID, AmbassadorIDs: two, School: "Yale", Count: 1}, "school", "cannot be given with"},
		{"a blank school", PrintRunCreate{ProgramID: testProgramID, School: "   ", Count: 1}, "ambassador_ids", "required"},
		{"a long school", PrintRunCreate{ProgramID: testProgramID, School: strings.Repeat("x", MaxLabelLen+1), Count: 1}, "school", "at most"},
		{"201 ambassadors", PrintRunCreate{ProgramID: testProgramID, AmbassadorIDs: ambIDs(201), Count: 1}, "ambassador_ids", "at most 200"},
		{"a bad ambassador", PrintRunCreate{ProgramID: testProgramID, AmbassadorIDs: []string{two[0], "amb_x"}, Count: 1}, "ambassador_ids[1]", "does not exist"},
		{"a repeat", PrintRunCreate{ProgramID: testProgramID, AmbassadorIDs: []string{two[0], two[1], two[0][:4] + strings.ToUpper(two[0][4:])}, Count: 1},
			"ambassador_ids[2]", "repeats ambassador_ids[0]"},
		{"an unknown layout", PrintRunCreate{ProgramID: testProgramID, AmbassadorIDs: two, Layout: "banner", Count: 1}, "layout", "flyer4"},
		{"an unknown paper", PrintRunCreate{ProgramID: testProgramID, AmbassadorIDs: two, Paper: "a3", Count: 1}, "paper", "a4 or letter"},
		{"no count", PrintRunCreate{ProgramID: testProgramID, AmbassadorIDs: two}, "count", "from 1 to 50"},
		{"51 each", PrintRunCreate{ProgramID: testProgramID, AmbassadorIDs: two, Count: 51}, "count", "from 1 to 50"},
		{"1000 placements", PrintRunCreate{ProgramID: testProgramID, AmbassadorIDs: ambIDs(20), Count: 50}, "", ""},
		{"1001 placements", PrintRunCreate{ProgramID: testProgramID, AmbassadorIDs: ambIDs(143), Count: 7}, "count", "would make 1001 placements"},
		{"an unprintable label", PrintRunCreate{ProgramID: testProgramID, AmbassadorIDs: two, Count: 1, Label: "שלום"}, "label", "right-to-left"},
		{"a long label", PrintRunCreate{ProgramID: testProgramID, AmbassadorIDs: two, Count: 1, Label: strings.Repeat("x", MaxLabelLen+1)}, "label", "at most"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := tc.in
			in.AmbassadorIDs = slices.Clone(tc.in.AmbassadorIDs)
			fe := in.Validate()
			if tc.field == "" {
				if len(fe) > 0 {
					t.Fatalf("refused: %v", fe)
				}
				return
			}
			for _, f := range fe {
				if f.Field == tc.field {
					if !strings.Contains(f.Message, tc.msg) {
						t.Errorf("%s: got %q, want it to say %q", f.Field, f.Message, tc.msg)
					}
					return
				}
			}
			t.Fatalf("accepted, want an error on %s: %v", tc.field, fe)
		})
	}
}

// Validate fills in the defaults and writes IDs and text as they are
// kept.
func TestPrintRunCreateNormalizes(t *testing.T) {
	ids := ambIDs(1)
	in := PrintRunCreate{ProgramID: testProgramID[:4] + strings.ToUpper(testProgramID[4:]), AmbassadorIDs: []string{strings.ToUpper(ids[0][4:])},
		Count: 3, Label: "  Nguye\u0302\u0303n Hall "}
	in.AmbassadorIDs[0] = "amb_" + in.AmbassadorIDs[0]
	if fe := in.Validate(); len(fe) > 0 {
		t.Fatal(fe)
	}
	if in.ProgramID != testProgramID || in.AmbassadorIDs[0] != ids[0] || in.Layout != DefaultPrintLayout || in.Paper != DefaultPrintPaper ||
		in.Label != "Nguye\u0302\u0303n Hall" {
		t.Fatalf("got %+v", in)
	}
	school := PrintRunCreate{ProgramID: testProgramID, School: " Yale ", Layout: " Stickers12 ", Paper: "LETTER", Count: 1}
	if fe := school.Validate(); len(fe) > 0 {
		t.Fatal(fe)
	}
	if school.School != "Yale" || school.Layout != "stickers12" || school.Paper != "letter" {
		t.Fatalf("got %+v", school)
	}
}

// A run's size is checked once a school is resolved too, with the same
// message.
func TestCheckPrintRunSize(t *testing.T) {
	for _, tc := range []struct{ ambassadors, count, want int }{{200, 5, 1000}, {201, 5, 1005}, {1, 50, 50}, {40, 30, 1200}} {
		t.Run(fmt.Sprint(tc), func(t *testing.T) {
			var fe FieldErrors
			CheckPrintRunSize(&fe, tc.ambassadors, tc.count)
			if tc.want <= MaxPrintRunPlacements {
				if len(fe) > 0 {
					t.Fatalf("refused: %v", fe)
				}
				return
			}
			if len(fe) != 1 || fe[0].Field != "count" || !strings.Contains(fe[0].Message, fmt.Sprintf("would make %d placements", tc.want)) {
				t.Fatalf("got %v, want count to say it would make %d", fe, tc.want)
			}
		})
	}
}

func TestCheckPrintRunAmbassadors(t *testing.T) {
	ids := ambIDs(4)
	ada := &Ambassador{ID: ids[0], FirstName: "Ada", LastName: "Lovelace", Status: AmbassadorActive}
	pat := &Ambassador{ID: ids[1], FirstName: "Pat", LastName: "Paused", Status: AmbassadorPaused}
	wei := &Ambassador{ID: ids[2], FirstName: "王", LastName: "Wei", Status: AmbassadorActive}
	lukasz := &Ambassador{ID: ids[3], FirstName: "Łukasz", LastName: "Nowak", Status: AmbassadorActive}
	all := []*Ambassador{ada, pat, wei, lukasz}
	plain, named := DefaultPosterDesign(testProgramID), DefaultPosterDesign(testProgramID)
	named.ShowAmbassadorName = true

	fe := CheckPrintRunAmbassadors(plain, all, AmbassadorIDField)
	if len(fe) != 1 || fe[0].Field != "ambassador_ids[1]" || !strings.Contains(fe[0].Message, ids[1]+" (Pat Paused) is paused") {
		t.Fatalf("without names: got %v, want Pat refused as paused", fe)
	}
	fe = CheckPrintRunAmbassadors(named, all, func(int) string { return "school" })
	if len(fe) != 2 || !strings.Contains(fe[0].Message, "paused") || !strings.Contains(fe[1].Message, ids[2]+" (王 Wei)") ||
		!strings.Contains(fe[1].Message, "Han") {
		t.Fatalf("with names: got %v, want Pat paused and Wei's name refused", fe)
	}
	if err := CheckPrintableName(named, wei); ErrorCode(err) != EConflict {
		t.Errorf("printing Wei's name: got %v, want a conflict", err)
	}
	if err := CheckPrintableName(named, lukasz); err != nil {
		t.Errorf("printing Łukasz's name: %v", err)
	}
	if err := CheckPrintableName(plain, wei); err != nil {
		t.Errorf("a design without names refuses Wei: %v", err)
	}
}

func TestNewPrintRun(t *testing.T) {
	in := PrintRunCreate{ProgramID: testProgramID, School: "Yale", Layout: "tearoff", Paper: "a4", Count: 2, Label: "Week 1"}
	amb, plc := ambIDs(1), []string{"plc_a", "plc_b"}
	r := NewPrintRun(in, "prn_x", amb, plc, Time{})
	if r.ID != "prn_x" || r.School != "Yale" || r.Layout != "tearoff" || r.Count != 2 || r.Placements != 2 || r.Label != "Week 1" ||
		!slices.Equal(r.AmbassadorIDs, amb) || !slices.Equal(r.PlacementIDs, plc) {
		t.Fatalf("got %+v", r)
	}
}
