package console

import (
	"time"

	"github.com/referrald/referrald/model"
)

// moneySamples are views of the referral, money and leaderboard pages,
// for TestPagesRender.
func moneySamples() map[string]any {
	now := model.NewTime(time.Date(2026, 11, 20, 14, 5, 0, 0, time.UTC))
	later := model.NewTime(now.AddDate(0, 0, 30))
	plc, earningID, payoutID := "plc_01m8yqk4a5mstqtdtptfpvmbxk", "ern_01m8yqk4a5mstqtdtptfpvmbxm", "pay_01m8yqk4a5mstqtdtptfpvmbxn"
	prg := &model.Program{ID: "prg_01m8yqk4a5mstqtdtptfpvmbxh", Name: "Spring 2027 campus launch", Status: model.ProgramActive,
		Commission: &model.CommissionRule{Type: model.CommissionPercent, BasisPoints: 1250, Caps: map[string]int64{"USD": 2000}}}
	amb := &model.Ambassador{ID: "amb_01m8yqk4a5mstqtdtptfpvmbxh", FirstName: "Ada", LastName: "Lovelace", Email: "ada@uni.example"}
	ref := &model.Referral{ID: "ref_01m8yqk4a5mstqtdtptfpvmbxh", ImpressionID: "imp_01m8yqk4a5mstqtdtptfpvmbxh", FirstName: "Grace",
		LastName: "Hopper", Email: "grace@mail.example", Status: model.ReferralPending, ProgramID: prg.ID, AmbassadorID: amb.ID,
		PlacementID: &plc, Flags: model.Flags{model.FlagFastSignup, "crm_duplicate"}, Metadata: model.Metadata(`{"campus":"north"}`),
		CreatedAt: now, UpdatedAt: now}
	erased := *ref
	erased.ID, erased.FirstName, erased.LastName, erased.Email, erased.ErasedAt, erased.Flags = "ref_01m8yqk4a5mstqtdtptfpvmbxj", "", "", "", &now, nil
	label := "Library, 2nd floor"
	earning := &model.Earning{ID: earningID, ReferralID: ref.ID, ProgramID: prg.ID, AmbassadorID: amb.ID, Amount: 1999, Currency: "USD",
		Status: model.EarningPartiallyRefunded, RefundedAmount: 500, CreatedAt: now, UpdatedAt: now}
	commission := &model.Commission{ID: "com_01m8yqk4a5mstqtdtptfpvmbxh", AmbassadorID: amb.ID, ProgramID: prg.ID, ReferralID: ref.ID,
		EarningID: &earningID, Kind: model.CommissionEarning, Amount: 250, Currency: "USD", Status: model.CommissionPending, OnHold: true,
		ApprovableAt: later, Basis: model.CommissionBasis{Source: "rule", Rule: prg.Commission, EarningAmount: 1999, Rounding: model.RoundingHalfEven,
			Note: "1250 basis points of 1999 USD = 250 USD, rounded half to even"}, CreatedAt: now, UpdatedAt: now}
	clawback := *commission
	clawback.ID, clawback.Kind, clawback.Amount, clawback.OnHold, clawback.Status = "com_01m8yqk4a5mstqtdtptfpvmbxj", model.CommissionClawback, -63, false, model.CommissionPaid
	clawback.PayoutID = &payoutID
	lines := []commissionLine{{Commission: commission, AmbassadorName: "Ada Lovelace", ProgramName: prg.Name}, {Commission: &clawback}}
	refundForm := newForm(refundFields...)
	refundForm.AddError("amount", "must be at most USD 14.99, what is left of the earning")
	payoutForm := newForm(payoutFields...)
	payoutForm.Set("currency", "USD")
	payoutForm.Fail("Ambassador amb_1 has no approved commissions in USD to pay.")
	balance := model.Balance{Currency: "USD", Pending: 250, Approved: 1200, Paid: 900}
	rate := 0.25
	leaders := []leaderRow{{Rank: 1, LeaderboardEntry: model.LeaderboardEntry{AmbassadorID: amb.ID, AmbassadorName: "Ada Lovelace",
		Funnel: model.Funnel{Counts: model.Counts{Impressions: 120, Referrals: 12, Conversions: 3,
			Money: []model.MoneyCounts{{Currency: "USD", Commissions: 750}}}, SignupToPurchaseRate: &rate}}}}
	board := leaderboardView{Form: newForm(leaderboardFields...), Programs: []*model.Program{prg}, Program: prg,
		From: now.AddDate(0, 0, -29), To: now.Time, Leaders: leaders}
	board.Form.Set("period", "30")
	return map[string]any{
		"referrals": referralListView{Form: newForm(referralFilterFields...), Programs: []*model.Program{prg},
			Rows:      []referralListRow{{Referral: ref, AmbassadorName: "Ada Lovelace", ProgramName: prg.Name}, {Referral: &erased}},
			listLinks: listLinks{Filtered: true, Next: "/console/referrals?cursor=x", First: "/console/referrals", Export: "/console/exports/referrals.csv", Short: true}},
		"referral": referralView{Referral: ref, Person: "Grace Hopper", Program: prg, Ambassador: amb, Flags: flagNotes(ref.Flags),
			Placement: &model.Placement{ID: plc, Code: "abcdefghjk", Label: &label}, Metadata: "{\n  \"campus\": \"north\"\n}",
			Impression: &model.Impression{ID: ref.ImpressionID, CreatedAt: now, Flags: model.Flags{"repeat_scan"}},
			Earnings:   []referralEarning{{Earning: earning, Commissions: []*model.Commission{commission, &clawback}}}, Problem: "Referral is converted."},
		"referral_erase": referralView{Referral: &erased},
		"commissions": commissionListView{Form: newForm(commissionFilterFields...), View: commissionsQueue, Lines: lines,
			listLinks: listLinks{Export: "/console/exports/commissions.csv"}},
		"commission": commissionView{Commission: commission, AmbassadorName: "Ada Lovelace", Program: prg, Earning: earning,
			Related: []*model.Commission{&clawback}, Problem: "Commission is already paid."},
		"earnings": earningListView{Form: newForm(earningFilterFields...), Programs: []*model.Program{prg},
			Lines: []earningLine{{Earning: earning, AmbassadorName: "Ada Lovelace", ProgramName: prg.Name}}},
		"earning": earningView{Earning: earning, Referral: ref, Person: "Grace Hopper", AmbassadorName: "Ada Lovelace", Program: prg,
			Commissions: []*model.Commission{commission, &clawback}, Form: refundForm,
			Refunds: []refundLine{{At: now, By: "manager@uni.example", Summary: "refunded 500 USD, 1 clawbacks: order returned"}}},
		"payouts": payoutListView{Form: newForm(payoutFilterFields...),
			Lines: []payoutLine{{Payout: &model.Payout{ID: payoutID, AmbassadorID: amb.ID, Amount: 1200, Currency: "USD", Commissions: 4,
				ExternalReference: "SEPA 2026-11-20", CreatedAt: now}, AmbassadorName: "Ada Lovelace"}}},
		"payout": payoutView{Payout: &model.PayoutDetail{Payout: model.Payout{ID: payoutID, AmbassadorID: amb.ID, Amount: 187, Currency: "USD",
			Commissions: 120, ExternalReference: "SEPA 2026-11-20", CreatedAt: now}, PaidCommissions: []*model.Commission{&clawback}},
			AmbassadorName: "Ada Lovelace", More: true},
		"payout_form": payoutFormView{Form: payoutForm, Ambassador: amb, Balances: []model.Balance{balance}},
		"balances": balanceListView{Lines: []balanceLine{{Ambassador: amb, Balance: &balance, Span: 1}, {Ambassador: amb, Span: 1}},
			Next: "/console/money/balances?cursor=x"},
		"leaderboard": board,
	}
}
