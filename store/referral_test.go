package store_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/referrald/referrald/model"
	"github.com/referrald/referrald/store"
)

// The filters no index serves directly: placement, flagged and a time
// range, alone and with the others, each listing exactly its matches
// page by page.
func TestReferralListByPlacementFlaggedAndTime(t *testing.T) {
	start := time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC)
	clk := &store.TestClock{T: start}
	s := MustOpenStore(t, store.Options{Now: clk.Now, SweepInterval: -1})
	ctx := context.Background()
	f1 := mustFixture(t, s, "a1@example.com")
	f2 := mustFixture(t, s, "a2@example.com")
	poster := func(f fixture) *model.Placement {
		plc, _, err := s.CreatePlacement(ctx, model.PlacementCreate{ProgramID: f.program.ID, AmbassadorID: f.ambassador.ID}, model.Idempotency{})
		if err != nil {
			t.Fatal(err)
		}
		return plc
	}
	plcA, plcB := poster(f1), poster(f2)
	type made struct {
		id         string
		placement  *model.Placement
		ambassador string
		flagged    bool
		day        int
		status     model.ReferralStatus
	}
	var all []made
	for i := range 30 {
		// One day each, placements in turn: A, B, none.
		var plc *model.Placement
		fx := f1
		imp := f1.impression
		switch i % 3 {
		case 0:
			plc = plcA
		case 1:
			plc, fx = plcB, f2
		default:
			fx, imp = f2, f2.impression
		}
		if plc != nil {
			var err error
			if imp, _, err = s.CreateImpression(ctx, model.ImpressionCreate{PlacementID: plc.ID}, model.Idempotency{}); err != nil {
				t.Fatal(err)
			}
			clk.Add(time.Minute) // not a fast signup
		}
		// Every fourth signs up again with an email already referred.
		email := fmt.Sprintf("p%d@example.com", i)
		if i%4 == 3 {
			email = fmt.Sprintf("p%d@example.com", i-1)
		}
		r, _, err := s.CreateReferral(ctx, model.ReferralCreate{ImpressionID: imp.ID, FirstName: "J", LastName: "D", Email: email}, model.Idempotency{})
		if err != nil {
			t.Fatal(err)
		}
		status := model.ReferralPending
		if i%5 == 0 {
			status = model.ReferralRejected
			if _, err := s.UpdateReferral(ctx, r.ID, model.ReferralUpdate{Status: &status}); err != nil {
				t.Fatal(err)
			}
		}
		all = append(all, made{id: r.ID, placement: plc, ambassador: fx.ambassador.ID, flagged: len(r.Flags) > 0, day: i, status: status})
		clk.Add(24 * time.Hour)
	}
	day := func(n int) model.Time { return model.NewTime(start.AddDate(0, 0, n)) }
	want := func(keep func(m made) bool) []string {
		var ids []string
		for i := len(all) - 1; i >= 0; i-- {
			if keep(all[i]) {
				ids = append(ids, all[i].id)
			}
		}
		return ids
	}
	flagged := 0
	for _, m := range all {
		if m.flagged {
			flagged++
		}
	}
	if flagged == 0 || flagged == len(all) {
		t.Fatalf("%d of %d flagged; the test wants some of each", flagged, len(all))
	}
	cases := []struct {
		name string
		f    model.ReferralFilter
		keep func(m made) bool
	}{
		{"placement", model.ReferralFilter{PlacementID: plcA.ID}, func(m made) bool { return m.placement == plcA }},
		{"placement in upper case", model.ReferralFilter{PlacementID: "plc_" + strings.ToUpper(plcB.ID[4:])},
			func(m made) bool { return m.placement == plcB }},
		{"placement+status", model.ReferralFilter{PlacementID: plcA.ID, Status: model.ReferralRejected},
			func(m made) bool { return m.placement == plcA && m.status == model.ReferralRejected }},
		{"placement of another ambassador", model.ReferralFilter{PlacementID: plcA.ID, AmbassadorID: f2.ambassador.ID},
			func(m made) bool { return false }},
		{"unknown placement", model.ReferralFilter{PlacementID: "plc_01m8yqk4a5mstqtdtptfpvmbxh"}, func(m made) bool { return false }},
		{"flagged", model.ReferralFilter{Flagged: true}, func(m made) bool { return m.flagged }},
		{"flagged+ambassador", model.ReferralFilter{Flagged: true, AmbassadorID: f2.ambassador.ID},
			func(m made) bool { return m.flagged && m.ambassador == f2.ambassador.ID }},
		{"from", model.ReferralFilter{From: day(20)}, func(m made) bool { return m.day >= 20 }},
		{"to", model.ReferralFilter{To: day(5)}, func(m made) bool { return m.day < 5 }},
		{"from+to", model.ReferralFilter{From: day(10), To: day(15)}, func(m made) bool { return m.day >= 10 && m.day < 15 }},
		{"from+to+placement+flagged", model.ReferralFilter{From: day(3), To: day(27), PlacementID: plcB.ID, Flagged: true},
			func(m made) bool { return m.day >= 3 && m.day < 27 && m.placement == plcB && m.flagged }},
		{"from+to+program+status", model.ReferralFilter{From: day(3), To: day(27), ProgramID: f2.program.ID, Status: model.ReferralPending},
			func(m made) bool {
				return m.day >= 3 && m.day < 27 && m.ambassador == f2.ambassador.ID && m.status == model.ReferralPending
			}},
		{"empty range", model.ReferralFilter{From: day(40)}, func(m made) bool { return false }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			for _, limit := range []int{1, 4, 100} {
				if got, want := fmt.Sprint(store.ListAllReferrals(t, s, c.f, limit)), fmt.Sprint(want(c.keep)); got != want {
					t.Fatalf("limit %d: got %v, want %v", limit, got, want)
				}
			}
		})
	}
}

// A placement's referrals are read among its ambassador's, and flagged
// ones among all: when few match, a page still reads a bounded number of
// records, and paging on finds every match once.
func TestSparsePlacementAndFlaggedPagesAreBounded(t *testing.T) {
	s := MustOpenStore(t, store.Options{})
	ctx := context.Background()
	f := mustFixture(t, s, "a1@example.com")
	plc, _, err := s.CreatePlacement(ctx, model.PlacementCreate{ProgramID: f.program.ID, AmbassadorID: f.ambassador.ID}, model.Idempotency{})
	if err != nil {
		t.Fatal(err)
	}
	scan, _, err := s.CreateImpression(ctx, model.ImpressionCreate{PlacementID: plc.ID}, model.Idempotency{})
	if err != nil {
		t.Fatal(err)
	}
	create := func(imp, email string) string {
		r, _, err := s.CreateReferral(ctx, model.ReferralCreate{ImpressionID: imp, FirstName: "J", LastName: "D", Email: email}, model.Idempotency{})
		if err != nil {
			t.Fatal(err)
		}
		return r.ID
	}
	// The scan's signup is flagged as fast; the crowd after it, each from
	// a visit of its own, is not.
	oldest := create(scan.ID, "first@example.com")
	for i := range 300 {
		imp, _, err := s.CreateImpression(ctx, model.ImpressionCreate{ProgramID: f.program.ID, AmbassadorID: f.ambassador.ID}, model.Idempotency{})
		if err != nil {
			t.Fatal(err)
		}
		create(imp.ID, fmt.Sprintf("x%d@example.com", i))
	}
	for name, filter := range map[string]model.ReferralFilter{
		"placement": {PlacementID: plc.ID, ListOptions: model.ListOptions{Limit: 1}},
		"flagged":   {Flagged: true, ListOptions: model.ListOptions{Limit: 1}},
	} {
		t.Run(name, func(t *testing.T) {
			var got []string
			pages := 0
			for {
				p, err := s.FindReferrals(ctx, filter)
				if err != nil {
					t.Fatal(err)
				}
				pages++
				for _, r := range p.Data {
					got = append(got, r.ID)
				}
				if !p.HasMore {
					break
				}
				filter.Cursor = *p.NextCursor
			}
			if fmt.Sprint(got) != fmt.Sprint([]string{oldest}) {
				t.Fatalf("got %v, want %v", got, oldest)
			}
			if pages < 3 {
				t.Fatalf("walked 301 entries in %d pages; want the budget to split the walk", pages)
			}
		})
	}
}
