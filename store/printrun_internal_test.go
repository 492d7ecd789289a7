package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/referrald/referrald/model"
)

// Past the bound of active ambassadors a school look-up reads, a run by
// school and the list of schools are refused with a way on; a run that
// names its ambassadors is not bounded by it.
func TestSchoolLookUpIsBounded(t *testing.T) {
	s := openTestStore(t, Options{SweepInterval: -1})
	ctx := context.Background()
	defer func(n int) { schoolScanLimit = n }(schoolScanLimit)
	schoolScanLimit = 3
	prg, _, err := s.CreateProgram(ctx, model.ProgramCreate{Name: "Spring", LandingURL: "https://example.com"}, model.Idempotency{})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for i := range 4 {
		a, _, err := s.CreateAmbassador(ctx, model.AmbassadorCreate{FirstName: "A", LastName: fmt.Sprint(i), Email: fmt.Sprintf("a%d@uni.example", i),
			School: "Yale", Status: model.AmbassadorActive}, model.Idempotency{})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, a.ID)
	}
	refused := func(what string, err error) {
		t.Helper()
		var me *model.Error
		if !errors.As(err, &me) || len(me.Fields) != 1 || me.Fields[0].Field != "school" ||
			!strings.Contains(me.Fields[0].Message, "more than 3 active ambassadors") {
			t.Errorf("%s: got %v, want school refused past 3 active ambassadors", what, err)
		}
	}
	_, err = s.Schools(ctx)
	refused("schools", err)
	_, _, err = s.CreatePrintRun(ctx, model.PrintRunCreate{ProgramID: prg.ID, School: "Yale", Count: 1}, model.Idempotency{})
	refused("a run by school", err)
	if _, _, err := s.CreatePrintRun(ctx, model.PrintRunCreate{ProgramID: prg.ID, AmbassadorIDs: ids, Count: 1}, model.Idempotency{}); err != nil {
		t.Errorf("a run naming all four: %v", err)
	}
	schoolScanLimit = 4
	if schools, err := s.Schools(ctx); err != nil || len(schools) != 1 || schools[0].Ambassadors != 4 {
		t.Errorf("at the bound: got %v, %v; want Yale with 4", schools, err)
	}
}
