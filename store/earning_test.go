package store_test

import (
	"context"
	"sync"
	"testing"

	"github.com/referrald/referrald/model"
)

// An earning created with a reference is found by it; another earning
// cannot take the same reference, and one without a reference is found by
// none.
func TestEarningReference(t *testing.T) {
	f := newMoneyFixture(t, 0, 0)
	ctx := context.Background()
	s := f.s
	const pi = "stripe:payment_intent:pi_123"
	ref := f.earnings[0].ReferralID
	e, _, err := s.CreateEarning(ctx, model.EarningCreate{ReferralID: ref, Amount: 4900, Currency: "USD", ExternalID: "cs_1", Reference: pi}, model.Idempotency{})
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.FindEarningByReference(ctx, pi)
	if err != nil || got.ID != e.ID || got.Amount != 4900 {
		t.Fatalf("FindEarningByReference: got %+v, %v; want %s", got, err, e.ID)
	}
	for _, other := range []string{"stripe:payment_intent:pi_124", "", "pi_123"} {
		if _, err := s.FindEarningByReference(ctx, other); model.ErrorCode(err) != model.ENotFound {
			t.Errorf("FindEarningByReference(%q): got %v, want not_found", other, err)
		}
	}
	// On another referral too: a reference is unique among all earnings.
	_, _, err = s.CreateEarning(ctx, model.EarningCreate{ReferralID: f.earnings[1].ReferralID, Amount: 100, Currency: "USD", Reference: pi}, model.Idempotency{})
	if model.ErrorCode(err) != model.EConflict {
		t.Fatalf("a second earning with the reference: got %v, want conflict", err)
	}
	if got, err := s.FindEarningByReference(ctx, pi); err != nil || got.ID != e.ID {
		t.Fatalf("after the refused second: got %+v, %v; want %s", got, err, e.ID)
	}
}

// UpTo refunds what brings the earning's refunded total up to it: a
// running total of 1500 then 4900 refunds 1500 then 3400; the same total
// again, or a smaller one, refunds nothing (conflict).
func TestRefundUpTo(t *testing.T) {
	f := newMoneyFixture(t, 0)
	ctx := context.Background()
	s := f.s
	e, _, err := s.CreateEarning(ctx, model.EarningCreate{ReferralID: f.earnings[0].ReferralID, Amount: 4900, Currency: "USD"}, model.Idempotency{})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		upTo, wantRefunded int64
		wantCode           string
		wantStatus         model.EarningStatus
	}{
		{1500, 1500, "", model.EarningPartiallyRefunded},
		{1500, 1500, model.EConflict, model.EarningPartiallyRefunded},
		{1000, 1500, model.EConflict, model.EarningPartiallyRefunded},
		{4900, 4900, "", model.EarningRefunded},
		{4900, 4900, model.EConflict, model.EarningRefunded},
	} {
		got, _, err := s.RefundEarning(ctx, e.ID, model.EarningRefund{UpTo: c.upTo}, model.Idempotency{})
		if model.ErrorCode(err) != c.wantCode && (c.wantCode != "" || err != nil) {
			t.Fatalf("up to %d: got %v, want %q", c.upTo, err, c.wantCode)
		}
		if err == nil && (got.RefundedAmount != c.wantRefunded || got.Status != c.wantStatus) {
			t.Fatalf("up to %d: got refunded %d %s, want %d %s", c.upTo, got.RefundedAmount, got.Status, c.wantRefunded, c.wantStatus)
		}
		now, err := s.FindEarningByID(ctx, e.ID)
		if err != nil || now.RefundedAmount != c.wantRefunded {
			t.Fatalf("up to %d: stored refunded %d, %v; want %d", c.upTo, now.RefundedAmount, err, c.wantRefunded)
		}
	}
	// More than the earning is refused as a refund of more than is left.
	e2, _, err := s.CreateEarning(ctx, model.EarningCreate{ReferralID: f.earnings[0].ReferralID, Amount: 100, Currency: "USD"}, model.Idempotency{})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.RefundEarning(ctx, e2.ID, model.EarningRefund{UpTo: 101}, model.Idempotency{}); model.ErrorCode(err) != model.EValidation {
		t.Fatalf("up to more than the earning: got %v, want validation_failed", err)
	}
}

// Running totals handled at once count what they share once: totals
// 1000, 2000 and 3000 arriving together refund 3000 in all, whatever the
// order, never 6000.
func TestRefundUpToConcurrent(t *testing.T) {
	f := newMoneyFixture(t, 0)
	ctx := context.Background()
	s := f.s
	e, _, err := s.CreateEarning(ctx, model.EarningCreate{ReferralID: f.earnings[0].ReferralID, Amount: 10000, Currency: "USD"}, model.Idempotency{})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for _, upTo := range []int64{1000, 2000, 3000, 3000, 2000, 1000} {
		wg.Go(func() {
			if _, _, err := s.RefundEarning(ctx, e.ID, model.EarningRefund{UpTo: upTo}, model.Idempotency{}); err != nil && model.ErrorCode(err) != model.EConflict {
				t.Errorf("up to %d: %v", upTo, err)
			}
		})
	}
	wg.Wait()
	got, err := s.FindEarningByID(ctx, e.ID)
	if err != nil || got.RefundedAmount != 3000 {
		t.Fatalf("got refunded %d, %v; want 3000", got.RefundedAmount, err)
	}
}
