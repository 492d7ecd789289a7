package store_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/referrald/referrald/model"
	"github.com/referrald/referrald/store"
)

// moneyFixture is an ambassador with a purchase in each of programs with
// the given hold periods, each paying a flat commission of 100 USD cents.
type moneyFixture struct {
	s           *store.Store
	clk         *store.TestClock
	ambassador  *model.Ambassador
	earnings    []*model.Earning
	commissions []*model.Commission
}

func newMoneyFixture(t *testing.T, holds ...int) *moneyFixture {
	t.Helper()
	clk := &store.TestClock{T: time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC)}
	s := MustOpenStore(t, store.Options{Now: clk.Now, SweepInterval: -1})
	ctx := context.Background()
	a, _, err := s.CreateAmbassador(ctx, model.AmbassadorCreate{FirstName: "A", LastName: "B", Email: "a@x.example"}, model.Idempotency{})
	if err != nil {
		t.Fatal(err)
	}
	f := &moneyFixture{s: s, clk: clk, ambassador: a}
	for i, hold := range holds {
		p, _, err := s.CreateProgram(ctx, model.ProgramCreate{Name: "P", LandingURL: "https://x.example", HoldDays: &hold,
			Commission: &model.CommissionRule{Type: model.CommissionFlat, Amount: 100, Currency: "USD"}}, model.Idempotency{})
		if err != nil {
			t.Fatal(err)
		}
		imp, _, err := s.CreateImpression(ctx, model.ImpressionCreate{ProgramID: p.ID, AmbassadorID: a.ID}, model.Idempotency{})
		if err != nil {
			t.Fatal(err)
		}
		ref, _, err := s.CreateReferral(ctx, model.ReferralCreate{ImpressionID: imp.ID, FirstName: "J", LastName: "D",
			Email: fmt.Sprintf("j%d@x.example", i)}, model.Idempotency{})
		if err != nil {
			t.Fatal(err)
		}
		e, _, err := s.CreateEarning(ctx, model.EarningCreate{ReferralID: ref.ID, Amount: 1000, Currency: "USD"}, model.Idempotency{})
		if err != nil {
			t.Fatal(err)
		}
		page, err := s.FindCommissions(ctx, model.CommissionFilter{EarningID: e.ID})
		if err != nil || len(page.Data) != 1 {
			t.Fatalf("commission of %s: %+v %v", e.ID, page, err)
		}
		f.earnings, f.commissions = append(f.earnings, e), append(f.commissions, page.Data[0])
		clk.Add(time.Minute)
	}
	return f
}

// queue lists the whole queue, limit a page.
func (f *moneyFixture) queue(t *testing.T, onHold bool, limit int) []string {
	t.Helper()
	var ids []string
	q := model.CommissionQueueFilter{ListOptions: model.ListOptions{Limit: limit}, OnHold: onHold}
	for {
		p, err := f.s.FindCommissionQueue(context.Background(), q)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range p.Data {
			if c.Status != model.CommissionPending || c.OnHold != onHold {
				t.Errorf("%s in the queue (on hold %v) is %s, on hold %v", c.ID, onHold, c.Status, c.OnHold)
			}
			ids = append(ids, c.ID)
		}
		if !p.HasMore {
			return ids
		}
		q.Cursor = *p.NextCursor
	}
}

func (f *moneyFixture) ids(is ...int) string {
	var ids []string
	for _, i := range is {
		ids = append(ids, f.commissions[i].ID)
	}
	return fmt.Sprint(ids)
}

// The queue lists the pending commissions by the end of their hold
// period, soonest first, page by page; approved ones leave it, by hand
// or by time.
func TestCommissionQueueOrder(t *testing.T) {
	f := newMoneyFixture(t, 30, 10, 20, 0, 10)
	ctx := context.Background()
	for _, limit := range []int{1, 2, 100} {
		if got, want := fmt.Sprint(f.queue(t, false, limit)), f.ids(1, 4, 2, 0); got != want {
			t.Fatalf("limit %d: got %v, want %v (the 0-day hold is approved already)", limit, got, want)
		}
	}
	if _, err := f.s.ApproveCommission(ctx, f.commissions[4].ID); err != nil {
		t.Fatal(err)
	}
	if got, want := fmt.Sprint(f.queue(t, false, 2)), f.ids(1, 2, 0); got != want {
		t.Fatalf("after approving one: got %v, want %v", got, want)
	}
	f.clk.Add(15 * 24 * time.Hour)
	if got, want := fmt.Sprint(f.queue(t, false, 2)), f.ids(2, 0); got != want {
		t.Fatalf("after 15 days: got %v, want %v", got, want)
	}
	// A cursor whose commission the time approved since still pages on.
	p, err := f.s.FindCommissionQueue(ctx, model.CommissionQueueFilter{ListOptions: model.ListOptions{Limit: 1}})
	if err != nil || !p.HasMore {
		t.Fatalf("first page: %+v %v", p, err)
	}
	f.clk.Add(5*24*time.Hour + time.Hour)
	rest, err := f.s.FindCommissionQueue(ctx, model.CommissionQueueFilter{ListOptions: model.ListOptions{Limit: 1, Cursor: *p.NextCursor}})
	if err != nil || len(rest.Data) != 1 || rest.Data[0].ID != f.commissions[0].ID || rest.HasMore {
		t.Fatalf("page after an approved cursor: %+v %v", rest, err)
	}
	for _, bad := range []string{"nonsense", "com_01m8yqk4a5mstqtdtptfpvmbxh", f.earnings[0].ID} {
		if _, err := f.s.FindCommissionQueue(ctx, model.CommissionQueueFilter{ListOptions: model.ListOptions{Cursor: bad}}); model.ErrorCode(err) != model.EValidation {
			t.Errorf("cursor %q: got %v, want validation_failed", bad, err)
		}
	}
}

// A held commission leaves the queue for the held list and stays pending
// past the end of its hold period, with the clawbacks a refund adds to
// it; no payout pays it. Released, it is approved at once, clawbacks and
// all, and the next payout pays it.
func TestHoldCommission(t *testing.T) {
	f := newMoneyFixture(t, 10, 10)
	ctx := context.Background()
	held := f.commissions[0]
	got, err := f.s.HoldCommission(ctx, held.ID)
	if err != nil || !got.OnHold || got.Status != model.CommissionPending {
		t.Fatalf("hold: %+v %v", got, err)
	}
	if again, err := f.s.HoldCommission(ctx, held.ID); err != nil || !again.OnHold || !again.UpdatedAt.Equal(got.UpdatedAt.Time) {
		t.Fatalf("holding twice: %+v %v, want no change", again, err)
	}
	if q, h := fmt.Sprint(f.queue(t, false, 10)), fmt.Sprint(f.queue(t, true, 10)); q != f.ids(1) || h != f.ids(0) {
		t.Fatalf("queue %v and held %v; want %v and %v", q, h, f.ids(1), f.ids(0))
	}
	f.clk.Add(11 * 24 * time.Hour)
	if c, err := f.s.FindCommissionByID(ctx, held.ID); err != nil || c.Status != model.CommissionPending || !c.OnHold {
		t.Fatalf("held past its hold period: %+v %v, want pending", c, err)
	}
	if _, _, err := f.s.RefundEarning(ctx, f.earnings[0].ID, model.EarningRefund{Amount: 500}, model.Idempotency{}); err != nil {
		t.Fatal(err)
	}
	all, err := f.s.FindCommissions(ctx, model.CommissionFilter{EarningID: f.earnings[0].ID})
	if err != nil || len(all.Data) != 2 {
		t.Fatalf("commissions after the refund: %+v %v", all, err)
	}
	claw := all.Data[0]
	if claw.Kind != model.CommissionClawback || !claw.OnHold || claw.Status != model.CommissionPending {
		t.Fatalf("clawback of a held commission: %+v, want it held and pending", claw)
	}
	if _, err := f.s.HoldCommission(ctx, claw.ID); model.ErrorCode(err) != model.EConflict {
		t.Errorf("holding a clawback: %v, want conflict", err)
	}
	pay, _, err := f.s.CreatePayout(ctx, model.PayoutCreate{AmbassadorID: f.ambassador.ID, Currency: "USD", ExternalReference: "run 1"}, model.Idempotency{})
	if err != nil || pay.Amount != 100 || pay.Commissions != 1 {
		t.Fatalf("payout with one held: %+v %v, want only the other commission paid", pay, err)
	}
	if _, err := f.s.HoldCommission(ctx, f.commissions[1].ID); model.ErrorCode(err) != model.EConflict {
		t.Errorf("holding a paid commission: %v, want conflict", err)
	}

	rel, err := f.s.ReleaseCommission(ctx, held.ID)
	if err != nil || rel.OnHold || rel.Status != model.CommissionApproved {
		t.Fatalf("release past the hold period: %+v %v, want approved", rel, err)
	}
	if c, err := f.s.FindCommissionByID(ctx, claw.ID); err != nil || c.OnHold || c.Status != model.CommissionApproved {
		t.Fatalf("its clawback after release: %+v %v, want approved", c, err)
	}
	if q, h := f.queue(t, false, 10), f.queue(t, true, 10); len(q) != 0 || len(h) != 0 {
		t.Fatalf("queue %v and held %v after release, want both empty", q, h)
	}
	pay, _, err = f.s.CreatePayout(ctx, model.PayoutCreate{AmbassadorID: f.ambassador.ID, Currency: "USD", ExternalReference: "run 2"}, model.Idempotency{})
	if err != nil || pay.Amount != 50 || pay.Commissions != 2 {
		t.Fatalf("payout after release: %+v %v, want the commission less its clawback", pay, err)
	}
	if _, err := f.s.ReleaseCommission(ctx, "com_01m8yqk4a5mstqtdtptfpvmbxh"); model.ErrorCode(err) != model.ENotFound {
		t.Errorf("releasing an unknown commission: %v, want not_found", err)
	}
}

// Approving a held commission by hand takes it and its clawbacks off hold.
func TestApproveHeldCommission(t *testing.T) {
	f := newMoneyFixture(t, 10)
	ctx := context.Background()
	c := f.commissions[0]
	if _, err := f.s.HoldCommission(ctx, c.ID); err != nil {
		t.Fatal(err)
	}
	if _, _, err := f.s.RefundEarning(ctx, f.earnings[0].ID, model.EarningRefund{Amount: 100}, model.Idempotency{}); err != nil {
		t.Fatal(err)
	}
	got, err := f.s.ApproveCommission(ctx, c.ID)
	if err != nil || got.OnHold || got.Status != model.CommissionApproved {
		t.Fatalf("approve a held commission: %+v %v", got, err)
	}
	all, err := f.s.FindCommissions(ctx, model.CommissionFilter{EarningID: f.earnings[0].ID})
	if err != nil {
		t.Fatal(err)
	}
	for _, cm := range all.Data {
		if cm.OnHold || cm.Status != model.CommissionApproved {
			t.Errorf("%s %s after approval: %s, on hold %v", cm.Kind, cm.ID, cm.Status, cm.OnHold)
		}
	}
	if h := f.queue(t, true, 10); len(h) != 0 {
		t.Errorf("held after approval: %v", h)
	}
}
