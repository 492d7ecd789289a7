package store_test

import (
	"context"
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/referrald/referrald/model"
	"github.com/referrald/referrald/store"
)

// TestCountersMatchARecount runs a mixed workload over several days and
// checks the counters kept in the write transactions against a recount
// from the records, then reads the funnel and leaderboard from them.
func TestCountersMatchARecount(t *testing.T) {
	start := time.Date(2026, 11, 1, 23, 0, 0, 0, time.UTC)
	clk := &store.TestClock{T: start}
	s := MustOpenStore(t, store.Options{Now: clk.Now, SweepInterval: -1})
	ctx := context.Background()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	percent, _, err := s.CreateProgram(ctx, model.ProgramCreate{Name: "Pct", LandingURL: "https://x.example",
		Commission: &model.CommissionRule{Type: model.CommissionPercent, BasisPoints: 1250, Caps: map[string]int64{"USD": 300, "GBP": 300, "AUD": 300}}}, model.Idempotency{})
	must(err)
	flat, _, err := s.CreateProgram(ctx, model.ProgramCreate{Name: "Flat", LandingURL: "https://x.example",
		Commission: &model.CommissionRule{Type: model.CommissionFlat, Amount: 400, Currency: "EUR"}}, model.Idempotency{})
	must(err)
	var ambs []*model.Ambassador
	for i := range 3 {
		a, _, err := s.CreateAmbassador(ctx, model.AmbassadorCreate{FirstName: "A", LastName: "B", Email: fmt.Sprintf("a%d@x.example", i),
			Status: model.AmbassadorActive}, model.Idempotency{})
		must(err)
		ambs = append(ambs, a)
	}

	var referrals []*model.Referral
	for day := range 4 {
		for i, a := range ambs {
			prg := percent
			if (day+i)%2 == 1 {
				prg = flat
			}
			for range 3 + i { // more impressions for later ambassadors
				_, _, err := s.CreateImpression(ctx, model.ImpressionCreate{ProgramID: prg.ID, AmbassadorID: a.ID}, model.Idempotency{})
				must(err)
			}
			imp, _, err := s.CreateImpression(ctx, model.ImpressionCreate{ProgramID: prg.ID, AmbassadorID: a.ID}, model.Idempotency{})
			must(err)
			for j := range i + 1 {
				in := model.ReferralCreate{ImpressionID: imp.ID, FirstName: "R", LastName: "S", Email: fmt.Sprintf("r%d-%d-%d@x.example", day, i, j)}
				if j == 1 {
					in.Flags = model.Flags{"suspicious"}
				}
				r, _, err := s.CreateReferral(ctx, in, model.Idempotency{})
				must(err)
				referrals = append(referrals, r)
			}
		}
		clk.Add(24 * time.Hour)
	}
	// Later days: conversions, rejections, earnings and refunds land on
	// the cohorts of their referrals and earnings.
	var earnings []*model.Earning
	for i, r := range referrals {
		switch i % 5 {
		case 0:
			_, err := s.UpdateReferral(ctx, r.ID, model.ReferralUpdate{Status: ptr(model.ReferralRejected)})
			must(err)
		case 1:
			_, err := s.UpdateReferral(ctx, r.ID, model.ReferralUpdate{Status: ptr(model.ReferralConverted)})
			must(err)
		case 2, 3:
			cur := "USD"
			if i%3 == 0 {
				cur = "GBP"
			}
			e, _, err := s.CreateEarning(ctx, model.EarningCreate{ReferralID: r.ID, Amount: int64(999 + 1000*i), Currency: cur}, model.Idempotency{})
			must(err)
			earnings = append(earnings, e)
		}
		if i%7 == 0 {
			clk.Add(13 * time.Hour)
		}
	}
	// Days later, a currency that sorts before the others: a walk over the
	// days meets it last, the totals hold it first.
	clk.Add(48 * time.Hour)
	_, _, err = s.CreateEarning(ctx, model.EarningCreate{ReferralID: referrals[2].ID, Amount: 700, Currency: "AUD"}, model.Idempotency{})
	must(err)
	for i, e := range earnings {
		switch i % 3 {
		case 0:
			_, _, err := s.RefundEarning(ctx, e.ID, model.EarningRefund{Amount: e.Amount / 3}, model.Idempotency{})
			must(err)
		case 1:
			_, _, err := s.RefundEarning(ctx, e.ID, model.EarningRefund{}, model.Idempotency{})
			must(err)
		}
	}
	if err := s.VerifyCounters(ctx); err != nil {
		t.Fatal(err)
	}

	// The funnel over everything agrees with the records.
	all, err := s.Funnel(ctx, model.StatsFilter{})
	must(err)
	var converted, rejected, flagged int64
	for _, r := range referrals {
		r, _ := s.FindReferralByID(ctx, r.ID)
		switch r.Status {
		case model.ReferralConverted:
			converted++
		case model.ReferralRejected:
			rejected++
		}
		if len(r.Flags) > 0 {
			flagged++
		}
	}
	if all.Impressions != 4*(4+5+6) || all.Referrals != int64(len(referrals)) || all.Conversions != converted ||
		all.Rejected != rejected || all.FlaggedReferrals != flagged {
		t.Fatalf("funnel %+v; want %d impressions, %d referrals, %d conversions, %d rejected, %d flagged",
			all.Counts, 4*15, len(referrals), converted, rejected, flagged)
	}
	if *all.SignupToPurchaseRate != float64(converted)/float64(len(referrals)) {
		t.Fatalf("rate: %v", *all.SignupToPurchaseRate)
	}
	noFlags, _ := s.Funnel(ctx, model.StatsFilter{ExcludeFlagged: true})
	if noFlags.Referrals != all.Referrals-flagged {
		t.Fatalf("excluding flagged: %d referrals, want %d", noFlags.Referrals, all.Referrals-flagged)
	}
	// A range is read as the whole days that cover it: from the second
	// day's 23:00 to the third's midnight is the second day only; to the
	// third's 23:00, the second and third days.
	second, third := time.Date(2026, 11, 2, 23, 0, 0, 0, time.UTC), time.Date(2026, 11, 3, 0, 0, 0, 0, time.UTC)
	day2, _ := s.Funnel(ctx, model.StatsFilter{From: model.NewTime(second), To: model.NewTime(third)})
	if day2.Referrals != 1+2+3 || day2.Impressions != 15 {
		t.Fatalf("second day: %+v", day2.Counts)
	}
	days23, _ := s.Funnel(ctx, model.StatsFilter{From: model.NewTime(second), To: model.NewTime(third.Add(23 * time.Hour))})
	if days23.Referrals != 2*(1+2+3) || days23.Impressions != 2*15 {
		t.Fatalf("second and third days: %+v", days23.Counts)
	}
	// One ambassador in one program equals the sum of its days.
	pair, _ := s.Funnel(ctx, model.StatsFilter{ProgramID: percent.ID, AmbassadorID: ambs[2].ID})
	if pair.Referrals != 2*3 {
		t.Fatalf("ambassador 2 in the percent program: %d referrals, want 6", pair.Referrals)
	}
	board, err := s.Leaderboard(ctx, model.StatsFilter{}, 10)
	must(err)
	if len(board) != 3 || board[0].Conversions < board[1].Conversions || board[1].Conversions < board[2].Conversions {
		t.Fatalf("leaderboard not ranked by conversions: %+v", board)
	}
	var sumConv int64
	for _, e := range board {
		sumConv += e.Conversions
	}
	if sumConv != converted {
		t.Fatalf("leaderboard conversions sum to %d, want %d", sumConv, converted)
	}
	checkStatsRanges(t, s, []string{percent.ID, flat.ID}, ambs, clk.Now())
}

// checkStatsRanges checks that reads without a date range, which read each
// subject's total, agree with reads over a range that covers every day,
// which walk the days (from 1900, which must not wrap round), and that a
// leaderboard over any range ranks each ambassador by that ambassador's
// own funnel over it.
func checkStatsRanges(t *testing.T, s *store.Store, programs []string, ambs []*model.Ambassador, now time.Time) {
	t.Helper()
	ctx := context.Background()
	ever, after := model.NewTime(time.Date(1900, 1, 1, 0, 0, 0, 0, time.UTC)), model.NewTime(now.Add(time.Hour))
	scopes := []model.StatsFilter{{}, {ProgramID: programs[0]}, {AmbassadorID: ambs[1].ID}, {ProgramID: programs[1], AmbassadorID: ambs[2].ID}}
	for _, scope := range scopes {
		total, err := s.Funnel(ctx, scope)
		if err != nil {
			t.Fatal(err)
		}
		ranged := scope
		ranged.From, ranged.To = ever, after
		walked, err := s.Funnel(ctx, ranged)
		if err != nil {
			t.Fatal(err)
		}
		if total.Referrals == 0 || !reflect.DeepEqual(total, walked) {
			t.Fatalf("funnel %+v: total %+v, over every day %+v", scope, total.Counts, walked.Counts)
		}
	}
	second := time.Date(2026, 11, 2, 23, 0, 0, 0, time.UTC)
	ranges := []model.StatsFilter{
		{},
		{From: ever, To: after},
		{From: model.NewTime(second), To: model.NewTime(second.Add(time.Hour))}, // the second day
		{From: model.NewTime(second), To: model.NewTime(second.Add(25 * time.Hour))},
		{From: model.NewTime(second.Add(25 * time.Hour))}, // the fourth day on
		{To: model.NewTime(second)},                       // the first two days
		{To: model.NewTime(time.Date(1969, 1, 1, 0, 0, 0, 0, time.UTC))},
	}
	before1970 := model.StatsFilter{To: model.NewTime(time.Date(1969, 1, 1, 0, 0, 0, 0, time.UTC))}
	if f, err := s.Funnel(ctx, before1970); err != nil || f.Impressions != 0 || f.Referrals != 0 || len(f.Money) != 0 {
		t.Fatalf("funnel before 1970: %+v %v, want nothing", f.Counts, err)
	}
	for _, program := range []string{"", programs[0]} {
		for _, r := range ranges {
			r.ProgramID = program
			board, err := s.Leaderboard(ctx, r, 10)
			if err != nil {
				t.Fatal(err)
			}
			if r.To == before1970.To && len(board) != 0 {
				t.Fatalf("leaderboard before 1970: %+v, want none", board)
			}
			onBoard := map[string]bool{}
			for _, e := range board {
				onBoard[e.AmbassadorID] = true
				own := r
				own.AmbassadorID = e.AmbassadorID
				want, err := s.Funnel(ctx, own)
				if err != nil {
					t.Fatal(err)
				}
				if !reflect.DeepEqual(e.Funnel, want) {
					t.Fatalf("leaderboard %+v: %s has %+v, its funnel %+v", r, e.AmbassadorID, e.Counts, want.Counts)
				}
			}
			for _, a := range ambs {
				own := r
				own.AmbassadorID = a.ID
				if f, _ := s.Funnel(ctx, own); !onBoard[a.ID] && f.Impressions != 0 {
					t.Fatalf("leaderboard %+v leaves out %s, whose funnel is %+v", r, a.ID, f.Counts)
				}
			}
		}
	}
}

// TestCountersMatchARecountUnderConcurrency writes from many goroutines
// at once, so that group commits carry several changes to the same
// counters (and writes refused for a client's reason among them), and
// checks the counters against a recount.
func TestCountersMatchARecountUnderConcurrency(t *testing.T) {
	s := MustOpenStore(t, store.Options{SweepInterval: -1})
	ctx := context.Background()
	prg, _, err := s.CreateProgram(ctx, model.ProgramCreate{Name: "P", LandingURL: "https://x.example",
		Commission: &model.CommissionRule{Type: model.CommissionPercent, BasisPoints: 1000}}, model.Idempotency{})
	if err != nil {
		t.Fatal(err)
	}
	var ambs []*model.Ambassador
	for i := range 2 {
		a, _, err := s.CreateAmbassador(ctx, model.AmbassadorCreate{FirstName: "A", LastName: "B",
			Email: fmt.Sprintf("a%d@x.example", i), Status: model.AmbassadorActive}, model.Idempotency{})
		if err != nil {
			t.Fatal(err)
		}
		ambs = append(ambs, a)
	}
	before := s.Stats()
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for g := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- func() error {
				for i := range 20 {
					imp, _, err := s.CreateImpression(ctx, model.ImpressionCreate{ProgramID: prg.ID, AmbassadorID: ambs[g%2].ID}, model.Idempotency{})
					if err != nil {
						return err
					}
					// Refused (unknown impression) in the middle of others' writes.
					if _, _, err := s.CreateReferral(ctx, model.ReferralCreate{ImpressionID: "imp_01jdq3f7k8m2n4p6r8t0v2x4z6",
						FirstName: "R", LastName: "S", Email: "x@x.example"}, model.Idempotency{}); model.ErrorCode(err) != model.EValidation {
						return fmt.Errorf("a referral from an unknown impression: %v", err)
					}
					r, _, err := s.CreateReferral(ctx, model.ReferralCreate{ImpressionID: imp.ID, FirstName: "R", LastName: "S",
						Email: fmt.Sprintf("r%d-%d@x.example", g, i)}, model.Idempotency{})
					if err != nil {
						return err
					}
					switch i % 3 {
					case 0:
						_, err = s.UpdateReferral(ctx, r.ID, model.ReferralUpdate{Status: ptr(model.ReferralConverted)})
					case 1:
						var e *model.Earning
						if e, _, err = s.CreateEarning(ctx, model.EarningCreate{ReferralID: r.ID, Amount: 1000 + int64(i), Currency: "USD"}, model.Idempotency{}); err == nil {
							_, _, err = s.RefundEarning(ctx, e.ID, model.EarningRefund{Amount: 250}, model.Idempotency{})
						}
					}
					if err != nil {
						return err
					}
				}
				return nil
			}()
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if st := s.Stats(); st.Writes-before.Writes <= st.Commits-before.Commits {
		t.Fatalf("%d writes in %d commits: no commit carried two writes, so nothing was batched", st.Writes-before.Writes, st.Commits-before.Commits)
	}
	if err := s.VerifyCounters(ctx); err != nil {
		t.Fatal(err)
	}
	f, err := s.Funnel(ctx, model.StatsFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if f.Impressions != 16*20 || f.Referrals != 16*20 {
		t.Fatalf("funnel counts %d impressions and %d referrals, want %d of each", f.Impressions, f.Referrals, 16*20)
	}
}

// TestFunnelByDay checks that each day FunnelByDay gives is the funnel of
// that day alone, that days without counts are left out, and that it
// wants a bounded range.
func TestFunnelByDay(t *testing.T) {
	start := time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC)
	clk := &store.TestClock{T: start}
	s := MustOpenStore(t, store.Options{Now: clk.Now, SweepInterval: -1})
	ctx := context.Background()
	prg, _, err := s.CreateProgram(ctx, model.ProgramCreate{Name: "P", LandingURL: "https://x.example",
		Commission: &model.CommissionRule{Type: model.CommissionFlat, Amount: 500, Currency: "USD"}}, model.Idempotency{})
	if err != nil {
		t.Fatal(err)
	}
	other, _, err := s.CreateProgram(ctx, model.ProgramCreate{Name: "Other", LandingURL: "https://x.example"}, model.Idempotency{})
	if err != nil {
		t.Fatal(err)
	}
	a, _, err := s.CreateAmbassador(ctx, model.AmbassadorCreate{FirstName: "A", LastName: "B", Email: "a@x.example"}, model.Idempotency{})
	if err != nil {
		t.Fatal(err)
	}
	// Days 0, 1 and 3 of the program have scans; day 2 has only the other
	// program's.
	for day, scans := range []int{3, 1, 0, 4} {
		for i := range scans {
			imp, _, err := s.CreateImpression(ctx, model.ImpressionCreate{ProgramID: prg.ID, AmbassadorID: a.ID}, model.Idempotency{})
			if err != nil {
				t.Fatal(err)
			}
			if i%2 == 0 {
				r, _, err := s.CreateReferral(ctx, model.ReferralCreate{ImpressionID: imp.ID, FirstName: "R", LastName: "S",
					Email: fmt.Sprintf("r%d-%d@x.example", day, i)}, model.Idempotency{})
				if err != nil {
					t.Fatal(err)
				}
				if i == 0 {
					if _, _, err := s.CreateEarning(ctx, model.EarningCreate{ReferralID: r.ID, Amount: 1999, Currency: "USD"}, model.Idempotency{}); err != nil {
						t.Fatal(err)
					}
				}
			}
		}
		if day == 2 {
			if _, _, err := s.CreateImpression(ctx, model.ImpressionCreate{ProgramID: other.ID, AmbassadorID: a.ID}, model.Idempotency{}); err != nil {
				t.Fatal(err)
			}
		}
		clk.Add(24 * time.Hour)
	}

	day := func(n int) time.Time { return time.Date(2026, 11, 1+n, 0, 0, 0, 0, time.UTC) }
	f := model.StatsFilter{ProgramID: prg.ID, From: model.NewTime(day(-5)), To: model.NewTime(clk.Now())}
	days, err := s.FunnelByDay(ctx, f)
	if err != nil {
		t.Fatal(err)
	}
	var got []time.Time
	var sum model.Counts
	for _, d := range days {
		got = append(got, d.Day.Time)
		one := f
		one.From, one.To = d.Day, model.NewTime(d.Day.Add(24*time.Hour))
		want, err := s.Funnel(ctx, one)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(d.Funnel, want) {
			t.Errorf("%s: got %+v, want that day's funnel %+v", d.Day.Format(time.DateOnly), d.Counts, want.Counts)
		}
		sum.Add(d.Counts)
	}
	if want := []time.Time{day(0), day(1), day(3)}; !reflect.DeepEqual(got, want) {
		t.Errorf("got days %v, want %v", got, want)
	}
	whole, err := s.Funnel(ctx, f)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Impressions != whole.Impressions || sum.Referrals != whole.Referrals || sum.Conversions != whole.Conversions ||
		!reflect.DeepEqual(sum.Money, whole.Money) {
		t.Errorf("the days add up to %+v, want the range's %+v", sum, whole.Counts)
	}

	for name, bad := range map[string]model.StatsFilter{
		"no from":   {To: f.To},
		"no to":     {From: f.From},
		"too long":  {From: model.NewTime(day(-model.MaxFunnelDays)), To: model.NewTime(day(1))},
		"no bounds": {},
	} {
		if _, err := s.FunnelByDay(ctx, bad); model.ErrorCode(err) != model.EValidation {
			t.Errorf("%s: got %v, want validation_failed", name, err)
		}
	}
	if days, err := s.FunnelByDay(ctx, model.StatsFilter{From: model.NewTime(day(-model.MaxFunnelDays + 1)), To: model.NewTime(day(1))}); err != nil || len(days) == 0 {
		t.Errorf("the longest range: got %d days, %v", len(days), err)
	}
	before := model.StatsFilter{From: model.NewTime(day(-9)), To: model.NewTime(day(-2))}
	if days, err := s.FunnelByDay(ctx, before); err != nil || len(days) != 0 {
		t.Errorf("a range before any record: got %+v %v, want none", days, err)
	}
}

// The leaderboard names the ambassadors it ranks, as their records hold
// them now, in the program's board and the overall one alike.
func TestLeaderboardNamesTheRankedAmbassadors(t *testing.T) {
	s := MustOpenStore(t, store.Options{SweepInterval: -1})
	ctx := context.Background()
	prg, _, err := s.CreateProgram(ctx, model.ProgramCreate{Name: "P", LandingURL: "https://x.example"}, model.Idempotency{})
	if err != nil {
		t.Fatal(err)
	}
	var ambs []*model.Ambassador
	for i, name := range []string{"Ada", "Grace", "Hedy"} {
		a, _, err := s.CreateAmbassador(ctx, model.AmbassadorCreate{FirstName: name, LastName: "Lastname", Email: fmt.Sprintf("a%d@x.example", i),
			Status: model.AmbassadorActive}, model.Idempotency{})
		if err != nil {
			t.Fatal(err)
		}
		ambs = append(ambs, a)
		for range i + 1 { // Hedy leads with three impressions
			if _, _, err := s.CreateImpression(ctx, model.ImpressionCreate{ProgramID: prg.ID, AmbassadorID: a.ID}, model.Idempotency{}); err != nil {
				t.Fatal(err)
			}
		}
	}
	if _, err := s.UpdateAmbassador(ctx, ambs[1].ID, model.AmbassadorUpdate{LastName: ptr("Hopper")}); err != nil {
		t.Fatal(err)
	}
	for _, f := range []model.StatsFilter{{}, {ProgramID: prg.ID}} {
		board, err := s.Leaderboard(ctx, f, 2)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, e := range board {
			got = append(got, e.AmbassadorID+" "+e.AmbassadorName)
		}
		want := []string{ambs[2].ID + " Hedy Lastname", ambs[1].ID + " Grace Hopper"}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%+v: got %v, want %v", f, got, want)
		}
	}
}
