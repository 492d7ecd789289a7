package model

import (
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"
)

var moneyNow = time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)

// ids returns a newID that numbers what it makes.
func ids() func(prefix string) string {
	n := 0
	return func(prefix string) string { n++; return fmt.Sprintf("%s_%d", prefix, n) }
}

func TestNewEarning(t *testing.T) {
	ref := &Referral{ID: "ref_1", ProgramID: "prg_1", AmbassadorID: "amb_1", Status: ReferralPending}
	percent := &Program{ID: "prg_1", HoldDays: 30, Commission: &CommissionRule{Type: CommissionPercent, BasisPoints: 1000, Caps: map[string]int64{"EUR": 150}}}
	in := EarningCreate{ReferralID: ref.ID, Amount: 1995, Currency: "EUR", ExternalID: "order-1"}

	e, c, err := NewEarning(in, ref, percent, "ern_1", ids(), moneyNow)
	if err != nil {
		t.Fatal(err)
	}
	if e.Status != EarningRecorded || e.AmbassadorID != "amb_1" || *e.ExternalID != "order-1" {
		t.Errorf("earning: %+v", e)
	}
	// 10 % of 1995 is 199.5, capped at 150; held 30 days.
	if c.Amount != 150 || c.Currency != "EUR" || c.Status != CommissionPending || *c.EarningID != "ern_1" ||
		!c.ApprovableAt.Equal(moneyNow.AddDate(0, 0, 30)) || c.Basis.Rounding != RoundingHalfEven ||
		c.Basis.Note != "1000 basis points of 1995 EUR = 150 EUR, rounded half to even, capped at 150 EUR" {
		t.Errorf("commission: %+v", c)
	}
	if _, c, _ := NewEarning(in, ref, &Program{}, "ern_2", ids(), moneyNow); c != nil {
		t.Errorf("a program without a rule paid %+v", c)
	}
	rejected := *ref
	rejected.Status = ReferralRejected
	if _, _, err := NewEarning(in, &rejected, percent, "ern_3", ids(), moneyNow); ErrorCode(err) != EConflict {
		t.Errorf("a rejected referral earned: %v", err)
	}
	// An erased referral is a tombstone: nobody is left to have bought.
	erased := *ref
	erased.ErasedAt = &Time{moneyNow}
	if _, _, err := NewEarning(in, &erased, percent, "ern_4", ids(), moneyNow); ErrorCode(err) != EConflict {
		t.Errorf("an erased referral earned: %v", err)
	}
	if conv, ok := ref.Converted(); !ok || conv.Status != ReferralConverted || ref.Status != ReferralPending {
		t.Errorf("conversion: %+v %v (the original must stay as it was)", conv, ok)
	}
	if _, ok := (&Referral{Status: ReferralConverted}).Converted(); ok {
		t.Error("a converted referral converted again")
	}
}

// A cap is per currency: 1000 is ten dollars but ten yen. An earning in a
// currency the caps leave out has no cap anyone chose, and is refused.
func TestCommissionCapsPerCurrency(t *testing.T) {
	rule := CommissionRule{Type: CommissionPercent, BasisPoints: 1000, Caps: map[string]int64{"USD": 1000, "JPY": 150000}}
	for _, c := range []struct {
		amount   int64
		currency string
		want     int64
	}{
		{5000, "USD", 500},         // under the cap
		{20000, "USD", 1000},       // ten dollars at most
		{2000000, "JPY", 150000},   // and 150000 yen
		{1000000, "JPY", 100000},   // under it
		{10000, "EUR", -1},         // no cap in euros: refused
		{10000, "KWD", -1},         // nor in dinars
		{MaxAmount, "USD", 1000},   // the most an earning can be
		{MaxAmount, "JPY", 150000}, // in either
	} {
		got, cur, err := rule.Compute(c.amount, c.currency)
		switch {
		case c.want < 0 && ErrorCode(err) != EConflict:
			t.Errorf("%d %s: got %d %s %v, want a conflict", c.amount, c.currency, got, cur, err)
		case c.want >= 0 && (err != nil || got != c.want || cur != c.currency):
			t.Errorf("%d %s: got %d %s %v, want %d %s", c.amount, c.currency, got, cur, err, c.want, c.currency)
		}
	}
	if got, _, err := (CommissionRule{Type: CommissionPercent, BasisPoints: 1000}).Compute(1000000, "EUR"); err != nil || got != 100000 {
		t.Errorf("without caps: got %d %v, want 100000 uncapped", got, err)
	}
	// A cap stored before caps had a currency could be any of them.
	legacy := CommissionRule{Type: CommissionPercent, BasisPoints: 1000, LegacyCap: 1000}
	if _, _, err := legacy.Compute(100, "USD"); ErrorCode(err) != EConflict {
		t.Errorf("a cap without a currency was applied: %v", err)
	}

	// NewEarning refuses the earning along with its commission.
	ref := &Referral{ID: "ref_1", ProgramID: "prg_1", Status: ReferralPending}
	prg := &Program{ID: "prg_1", Commission: &rule}
	if _, _, err := NewEarning(EarningCreate{ReferralID: ref.ID, Amount: 100, Currency: "EUR"}, ref, prg, "ern_1", ids(), moneyNow); ErrorCode(err) != EConflict {
		t.Errorf("an earning in a currency without a cap: %v", err)
	}
	_, com, err := NewEarning(EarningCreate{ReferralID: ref.ID, Amount: 2000000, Currency: "JPY"}, ref, prg, "ern_2", ids(), moneyNow)
	if err != nil || com.Amount != 150000 || com.Basis.Rule.Caps["JPY"] != 150000 ||
		com.Basis.Note != "1000 basis points of 2000000 JPY = 150000 JPY, rounded half to even, capped at 150000 JPY" {
		t.Errorf("capped commission: %+v %v", com, err)
	}
}

func TestCommissionCapsValidation(t *testing.T) {
	percent := func(caps map[string]int64, legacy int64) *CommissionRule {
		return &CommissionRule{Type: CommissionPercent, BasisPoints: 500, Caps: caps, LegacyCap: legacy}
	}
	for _, c := range []struct {
		name string
		rule *CommissionRule
		want string // fields with problems
	}{
		{"caps", percent(map[string]int64{"USD": 1, "JPY": MaxAmount}, 0), ""},
		{"no caps", percent(nil, 0), ""},
		{"empty", percent(map[string]int64{}, 0), "commission.caps"},
		{"bad currencies", percent(map[string]int64{"usd": 1, "XTS": 1, "a.b": 1}, 0), `commission.caps."a.b" commission.caps.XTS commission.caps.usd`},
		{"bad amounts", percent(map[string]int64{"USD": 0, "EUR": -1, "JPY": MaxAmount + 1}, 0), "commission.caps.EUR commission.caps.JPY commission.caps.USD"},
		{"a cap without currency", percent(nil, 2000), "commission.cap"},
		{"flat", &CommissionRule{Type: CommissionFlat, Amount: 1, Currency: "USD", Caps: map[string]int64{"USD": 1}}, "commission.caps"},
	} {
		in := ProgramCreate{Name: "P", LandingURL: "https://example.com", Commission: c.rule}
		var got []string
		for _, f := range in.Validate() {
			got = append(got, f.Field)
		}
		sort.Strings(got)
		if strings.Join(got, " ") != c.want {
			t.Errorf("%s: got problems with %v, want %q", c.name, got, c.want)
		}
	}
}

func TestPluginCommission(t *testing.T) {
	prg := &Program{HoldDays: 14}
	ref := &Referral{ID: "ref_1", ProgramID: "prg_1"}
	hc := HookCommission{AmbassadorID: "amb_1", Amount: 500, Currency: "USD", Reason: "bounty"}
	c, err := PluginCommission(prg, ref, nil, hc, "bounty", "1.2", "com_1", moneyNow)
	if err != nil || c.Kind != CommissionBounty || c.EarningID != nil || c.Basis.Source != "plugin" ||
		c.Basis.Rounding != RoundingHalfEven || *c.Basis.Plugin != "bounty" || !c.ApprovableAt.Equal(moneyNow.AddDate(0, 0, 14)) {
		t.Fatalf("bounty: %+v %v", c, err)
	}
	e := &Earning{ID: "ern_1", Amount: 2000}
	if c, _ := PluginCommission(prg, ref, e, hc, "p", "1", "com_2", moneyNow); c.Kind != CommissionEarning || *c.EarningID != "ern_1" {
		t.Errorf("earning commission: %+v", c)
	}
	for _, bad := range []HookCommission{{Amount: 1, Currency: "usd"}, {Amount: MaxAmount + 1, Currency: "USD"}} {
		if _, err := PluginCommission(prg, ref, nil, bad, "p", "1", "com_3", moneyNow); err == nil {
			t.Errorf("%+v was accepted", bad)
		}
	}
}

// Refunds claw back the share refunded so far, never more than the
// commission over several refunds, and a clawback of an approved
// commission is approved at once.
func TestRefundAndClawbacks(t *testing.T) {
	e := &Earning{ID: "ern_1", Amount: 1000, Currency: "USD", Status: EarningRecorded}
	earningID := e.ID
	orig := &Commission{ID: "com_1", EarningID: &earningID, Kind: CommissionEarning, Amount: 333, Currency: "USD",
		Status: CommissionPending, ApprovableAt: NewTime(moneyNow.Add(time.Hour))}
	all := []*Commission{orig}
	newID := ids()
	var clawed int64
	for i, amount := range []int64{333, 333, 0} {
		got, err := e.Refund(amount, moneyNow)
		if err != nil {
			t.Fatalf("refund %d: %v", i, err)
		}
		cbs := Clawbacks(e, got, all, newID, moneyNow)
		if len(cbs) != 1 || cbs[0].Status != CommissionPending || cbs[0].Basis.Note != "clawback of com_1" {
			t.Fatalf("refund %d: clawbacks %+v", i, cbs)
		}
		clawed += cbs[0].Amount
		all = append(all, cbs...)
	}
	if clawed != -333 || e.Status != EarningRefunded || e.RefundedAmount != 1000 {
		t.Fatalf("clawed %d, earning %+v; want the whole commission back and the earning refunded", clawed, e)
	}
	if _, err := e.Refund(0, moneyNow); ErrorCode(err) != EConflict {
		t.Errorf("refund of nothing left: %v", err)
	}
	e2 := &Earning{ID: "ern_2", Amount: 100}
	if _, err := e2.Refund(101, moneyNow); ErrorCode(err) != EValidation {
		t.Errorf("refund of more than is left: %v", err)
	}
	later := moneyNow.Add(2 * time.Hour) // past the hold: the original counts as approved
	e3 := &Earning{ID: "ern_3", Amount: 1000}
	if _, err := e3.Refund(500, later); err != nil {
		t.Fatal(err)
	}
	if cbs := Clawbacks(e3, 500, []*Commission{orig}, ids(), later); len(cbs) != 1 || cbs[0].Status != CommissionApproved {
		t.Errorf("clawback of an approved commission: %+v", cbs)
	}
}

func TestApproveAndPayout(t *testing.T) {
	c := &Commission{ID: "com_1", Kind: CommissionEarning, Amount: 500, Currency: "USD", Status: CommissionPending,
		ApprovableAt: NewTime(moneyNow.Add(time.Hour))}
	cb := &Commission{ID: "com_2", Kind: CommissionClawback, Amount: -100, Currency: "USD", Status: CommissionPending,
		ApprovableAt: c.ApprovableAt, Basis: CommissionBasis{Note: "clawback of com_1"}}
	if !cb.ReversesPending(c, moneyNow) {
		t.Error("the pending clawback is not approved along with its commission")
	}
	if changed, err := c.Approve(moneyNow); !changed || err != nil || c.Status != CommissionApproved {
		t.Fatalf("approve: %v %v %+v", changed, err, c)
	}
	if changed, err := c.Approve(moneyNow); changed || err != nil {
		t.Errorf("approving twice: %v %v", changed, err)
	}
	cb.Status = CommissionApproved
	other := &Commission{ID: "com_3", Amount: 700, Currency: "EUR", Status: CommissionApproved}
	p, paid, err := NewPayout(PayoutCreate{AmbassadorID: "amb_1", Currency: "USD", ExternalReference: "wire 1"},
		[]*Commission{c, cb, other}, "pay_1", moneyNow)
	if err != nil || p.Amount != 400 || p.Commissions != 2 || len(paid) != 2 || c.Status != CommissionPaid || *c.PayoutID != "pay_1" ||
		other.Status != CommissionApproved {
		t.Fatalf("payout: %+v %v %v", p, paid, err)
	}
	if _, err := c.Approve(moneyNow); ErrorCode(err) != EConflict {
		t.Errorf("approving a paid commission: %v", err)
	}
	if _, _, err := NewPayout(PayoutCreate{AmbassadorID: "amb_1", Currency: "USD"}, []*Commission{c}, "pay_2", moneyNow); ErrorCode(err) != EConflict {
		t.Errorf("a payout with nothing approved: %v", err)
	}
}

// A commission on hold stays pending past the end of its hold period,
// and so do the clawbacks a refund adds to it, until it is released (then
// the hold period's end approves it at once) or approved by hand. Only a
// pending commission can be held, and a clawback only with its own.
func TestHoldAndRelease(t *testing.T) {
	end := moneyNow.Add(time.Hour)
	after := end.Add(time.Minute)
	newCommission := func() *Commission {
		earningID := "ern_1"
		return &Commission{ID: "com_1", EarningID: &earningID, Kind: CommissionEarning, Amount: 500, Currency: "USD",
			Status: CommissionPending, ApprovableAt: NewTime(end)}
	}
	c := newCommission()
	if changed, err := c.Hold(moneyNow); !changed || err != nil || !c.OnHold || !c.UpdatedAt.Equal(moneyNow) {
		t.Fatalf("hold: %v %v %+v", changed, err, c)
	}
	if changed, err := c.Hold(moneyNow); changed || err != nil {
		t.Errorf("holding twice: %v %v, want no change", changed, err)
	}
	if c.Settle(after).Status != CommissionPending {
		t.Fatalf("a held commission past its hold period reads as %s, want pending", c.Status)
	}
	// A refund while it is held adds a clawback held with it.
	e := &Earning{ID: "ern_1", Amount: 1000, Currency: "USD", Status: EarningRecorded}
	if _, err := e.Refund(400, after); err != nil {
		t.Fatal(err)
	}
	cbs := Clawbacks(e, 400, []*Commission{c}, ids(), after)
	if len(cbs) != 1 || !cbs[0].OnHold || cbs[0].Settle(after).Status != CommissionPending || !cbs[0].ReversesPending(c, after) {
		t.Fatalf("clawback of a held commission: %+v, want it pending and held", cbs)
	}
	if _, err := cbs[0].Hold(after); ErrorCode(err) != EConflict {
		t.Errorf("holding a clawback: %v, want conflict", err)
	}
	if _, err := cbs[0].Release(after); ErrorCode(err) != EConflict {
		t.Errorf("releasing a clawback: %v, want conflict", err)
	}
	if changed, err := c.Release(after); !changed || err != nil || c.OnHold || c.Status != CommissionApproved {
		t.Fatalf("release past the hold period: %v %v %+v, want approved at once", changed, err, c)
	}
	if changed, err := c.Release(after); changed || err != nil {
		t.Errorf("releasing twice: %v %v, want no change", changed, err)
	}
	if _, err := c.Hold(after); ErrorCode(err) != EConflict {
		t.Errorf("holding an approved commission: %v, want conflict", err)
	}

	// Released before its hold period ends, it waits for the end as usual.
	early := newCommission()
	early.Hold(moneyNow)
	if changed, err := early.Release(moneyNow); !changed || err != nil || early.Status != CommissionPending || early.Settle(after).Status != CommissionApproved {
		t.Errorf("release within the hold period: %v %v %+v", changed, err, early)
	}
	// Approving by hand takes it off hold.
	held := newCommission()
	held.Hold(moneyNow)
	if changed, err := held.Approve(after); !changed || err != nil || held.OnHold || held.Status != CommissionApproved {
		t.Errorf("approving a held commission: %v %v %+v", changed, err, held)
	}
	paid := newCommission()
	paid.Status = CommissionPaid
	if _, err := paid.Hold(moneyNow); ErrorCode(err) != EConflict {
		t.Errorf("holding a paid commission: %v, want conflict", err)
	}
}

// A signup that raises a fraud signal is flagged; a program that rejects
// fraud creates it rejected.
func TestNewReferralFraudPolicy(t *testing.T) {
	imp := &Impression{ID: "imp_1", ProgramID: "prg_1", AmbassadorID: "amb_1"}
	in := ReferralCreate{ImpressionID: imp.ID, FirstName: "Ada", LastName: "L", Email: "ada@uni.example", Flags: Flags{"from_plugin"}}
	self := SignupFacts{Email: in.Email, AmbassadorEmail: "Ada@uni.example", SinceScan: -1}
	now := NewTime(moneyNow)
	for policy, want := range map[string]ReferralStatus{FraudFlag: ReferralPending, FraudReject: ReferralRejected} {
		r := NewReferral(in, imp, &Program{FraudPolicy: policy}, self, "ref_1", now)
		if r.Status != want || len(r.Flags) != 2 || r.Flags[0] != "from_plugin" || r.Flags[1] != FlagSelfReferral || r.AmbassadorID != "amb_1" {
			t.Errorf("policy %s: %+v", policy, r)
		}
	}
	clean := NewReferral(in, imp, &Program{FraudPolicy: FraudReject}, SignupFacts{Email: in.Email, AmbassadorEmail: "x@y.example", SinceScan: -1}, "ref_2", now)
	if clean.Status != ReferralPending {
		t.Errorf("a clean signup under reject: %+v", clean)
	}
}

// A placement decides an impression's program and ambassador; ones the
// request names as well must agree.
func TestImpressionAgreesWithItsPlacement(t *testing.T) {
	p := &Placement{ID: "plc_1", ProgramID: "prg_1", AmbassadorID: "amb_1"}
	for _, c := range []struct {
		in   ImpressionCreate
		want []string
	}{
		{ImpressionCreate{PlacementID: p.ID}, nil},
		{ImpressionCreate{PlacementID: p.ID, ProgramID: "prg_1", AmbassadorID: "amb_1"}, nil},
		{ImpressionCreate{PlacementID: p.ID, ProgramID: "prg_2", AmbassadorID: "amb_2"}, []string{"program_id", "ambassador_id"}},
	} {
		var got []string
		for _, f := range c.in.AgreesWith(p) {
			got = append(got, f.Field)
		}
		if fmt.Sprint(got) != fmt.Sprint(c.want) {
			t.Errorf("%+v: field errors on %v, want %v", c.in, got, c.want)
		}
	}
}
