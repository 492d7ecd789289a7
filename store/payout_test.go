package store_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/referrald/referrald/model"
	"github.com/referrald/referrald/store"
)

// payoutFixture is a store on a clock the test moves, with programs that
// pay a flat commission in USD or EUR at once (no hold) or after 30 days.
type payoutFixture struct {
	t     *testing.T
	s     *store.Store
	mu    sync.Mutex
	now   time.Time
	usd   *model.Program
	eur   *model.Program
	usd30 *model.Program
	n     int
}

func newPayoutFixture(t *testing.T) *payoutFixture {
	t.Helper()
	f := &payoutFixture{t: t, now: time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)}
	f.s = MustOpenStore(t, store.Options{Now: f.clock, NoSync: true, SweepInterval: -1})
	program := func(currency string, hold int) *model.Program {
		p, _, err := f.s.CreateProgram(context.Background(), model.ProgramCreate{Name: "P " + currency, LandingURL: "https://example.com",
			Commission: &model.CommissionRule{Type: model.CommissionFlat, Amount: 500, Currency: currency}, HoldDays: &hold}, model.Idempotency{})
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	f.usd, f.eur, f.usd30 = program("USD", 0), program("EUR", 0), program("USD", 30)
	return f
}

func (f *payoutFixture) clock() time.Time { f.mu.Lock(); defer f.mu.Unlock(); return f.now }
func (f *payoutFixture) advance(d time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.now = f.now.Add(d)
}

// ambassador makes an ambassador.
func (f *payoutFixture) ambassador() *model.Ambassador {
	f.t.Helper()
	f.n++
	a, _, err := f.s.CreateAmbassador(context.Background(), model.AmbassadorCreate{FirstName: "Amb", LastName: fmt.Sprint(f.n),
		Email: fmt.Sprintf("amb%d@example.com", f.n), Status: model.AmbassadorActive}, model.Idempotency{})
	if err != nil {
		f.t.Fatal(err)
	}
	return a
}

// referral makes a referral of the ambassador in the program.
func (f *payoutFixture) referral(p *model.Program, a *model.Ambassador) *model.Referral {
	f.t.Helper()
	ctx := context.Background()
	f.n++
	imp, _, err := f.s.CreateImpression(ctx, model.ImpressionCreate{ProgramID: p.ID, AmbassadorID: a.ID}, model.Idempotency{})
	if err != nil {
		f.t.Fatal(err)
	}
	r, _, err := f.s.CreateReferral(ctx, model.ReferralCreate{ImpressionID: imp.ID, FirstName: "J", LastName: "D",
		Email: fmt.Sprintf("buyer%d@example.com", f.n)}, model.Idempotency{})
	if err != nil {
		f.t.Fatal(err)
	}
	return r
}

// earn records an earning on the referral, which pays the program's commission.
func (f *payoutFixture) earn(r *model.Referral, currency string) *model.Earning {
	f.t.Helper()
	e, _, err := f.s.CreateEarning(context.Background(), model.EarningCreate{ReferralID: r.ID, Amount: 1000, Currency: currency}, model.Idempotency{})
	if err != nil {
		f.t.Fatal(err)
	}
	return e
}

func (f *payoutFixture) pay(a *model.Ambassador, currency string) *model.Payout {
	f.t.Helper()
	p, _, err := f.s.CreatePayout(context.Background(), model.PayoutCreate{AmbassadorID: a.ID, Currency: currency, ExternalReference: "bank"}, model.Idempotency{})
	if err != nil {
		f.t.Fatal(err)
	}
	return p
}

// commissionIDs lists the IDs of every commission f picks, limit a page.
func (f *payoutFixture) commissionIDs(cf model.CommissionFilter, limit int) []string {
	f.t.Helper()
	var ids []string
	cf.Limit = limit
	for {
		p, err := f.s.FindCommissions(context.Background(), cf)
		if err != nil {
			f.t.Fatal(err)
		}
		for _, c := range p.Data {
			ids = append(ids, c.ID)
		}
		if !p.HasMore {
			return ids
		}
		cf.Cursor = *p.NextCursor
	}
}

func (f *payoutFixture) payoutIDs(pf model.PayoutFilter, limit int) []string {
	f.t.Helper()
	var ids []string
	pf.Limit = limit
	for {
		p, err := f.s.FindPayouts(context.Background(), pf)
		if err != nil {
			f.t.Fatal(err)
		}
		for _, pay := range p.Data {
			ids = append(ids, pay.ID)
		}
		if !p.HasMore {
			return ids
		}
		pf.Cursor = *p.NextCursor
	}
}

func TestPayoutListFiltersAndPaging(t *testing.T) {
	f := newPayoutFixture(t)
	ada, bob := f.ambassador(), f.ambassador()
	adaUSD, adaEUR, bobUSD := f.referral(f.usd, ada), f.referral(f.eur, ada), f.referral(f.usd, bob)

	// Three pay runs a day apart; each pays what was earned since.
	var made []*model.Payout
	for range 3 {
		f.earn(adaUSD, "USD")
		f.earn(adaEUR, "EUR")
		f.earn(bobUSD, "USD")
		made = append(made, f.pay(ada, "USD"), f.pay(ada, "EUR"), f.pay(bob, "USD"))
		f.advance(24 * time.Hour)
	}
	ids := func(ps []*model.Payout) []string {
		var out []string
		for _, p := range slices.Backward(ps) {
			out = append(out, p.ID)
		}
		return out
	}
	pick := func(keep func(i int, p *model.Payout) bool) []string {
		var out []*model.Payout
		for i, p := range made {
			if keep(i, p) {
				out = append(out, p)
			}
		}
		return ids(out)
	}
	day2 := model.NewTime(made[3].CreatedAt.Time)
	day3 := model.NewTime(made[6].CreatedAt.Time)
	for _, c := range []struct {
		name string
		f    model.PayoutFilter
		want []string
	}{
		{"all, newest first", model.PayoutFilter{}, ids(made)},
		{"ambassador", model.PayoutFilter{AmbassadorID: ada.ID}, pick(func(_ int, p *model.Payout) bool { return p.AmbassadorID == ada.ID })},
		{"currency", model.PayoutFilter{Currency: "EUR"}, pick(func(_ int, p *model.Payout) bool { return p.Currency == "EUR" })},
		{"ambassador+currency", model.PayoutFilter{AmbassadorID: bob.ID, Currency: "EUR"}, nil},
		{"from", model.PayoutFilter{From: day2}, pick(func(i int, _ *model.Payout) bool { return i >= 3 })},
		{"to", model.PayoutFilter{To: day2}, pick(func(i int, _ *model.Payout) bool { return i < 3 })},
		{"from+to", model.PayoutFilter{From: day2, To: day3, AmbassadorID: ada.ID}, pick(func(i int, p *model.Payout) bool {
			return i >= 3 && i < 6 && p.AmbassadorID == ada.ID
		})},
		{"unknown ambassador", model.PayoutFilter{AmbassadorID: model.FormatID(model.PrefixAmbassador, [16]byte{9})}, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			for _, limit := range []int{1, 2, 100} {
				if got := f.payoutIDs(c.f, limit); !slices.Equal(got, c.want) {
					t.Errorf("limit %d: got %v, want %v", limit, got, c.want)
				}
			}
		})
	}
	if _, err := f.s.FindPayouts(context.Background(), model.PayoutFilter{ListOptions: model.ListOptions{Cursor: made[0].AmbassadorID}}); model.ErrorCode(err) != model.EValidation {
		t.Errorf("a cursor of another kind: got %v, want validation_failed", err)
	}
}

func TestPayoutByIDCarriesWhatItPaid(t *testing.T) {
	f := newPayoutFixture(t)
	ctx := context.Background()
	ada, bob := f.ambassador(), f.ambassador()
	now, later, other := f.referral(f.usd, ada), f.referral(f.usd30, ada), f.referral(f.usd, bob)

	// The first payout pays three approved commissions, in the same
	// millisecond as they were made; it leaves the held one, the EUR one
	// and Bob's alone.
	e1 := f.earn(now, "USD")
	f.earn(now, "USD")
	f.earn(now, "USD")
	f.earn(later, "USD")
	f.earn(other, "USD")
	eurRef := f.referral(f.eur, ada)
	f.earn(eurRef, "EUR")
	first := f.pay(ada, "USD")
	if first.Commissions != 3 || first.Amount != 1500 {
		t.Fatalf("first payout: %+v, want 3 commissions of 500", first)
	}

	// The second pays two new ones and the clawback of a refund of one
	// the first paid.
	f.advance(time.Hour)
	f.earn(now, "USD")
	f.earn(now, "USD")
	if _, _, err := f.s.RefundEarning(ctx, e1.ID, model.EarningRefund{}, model.Idempotency{}); err != nil {
		t.Fatal(err)
	}
	second := f.pay(ada, "USD")
	if second.Commissions != 3 || second.Amount != 500 {
		t.Fatalf("second payout: %+v, want 3 commissions summing to 500", second)
	}

	for _, pay := range []*model.Payout{first, second} {
		d, err := f.s.FindPayoutByID(ctx, pay.ID[:4]+strings.ToUpper(pay.ID[4:]))
		if err != nil {
			t.Fatal(err)
		}
		if d.Payout != *pay {
			t.Errorf("got payout %+v, want %+v", d.Payout, *pay)
		}
		var got []string
		var sum int64
		for _, c := range d.PaidCommissions {
			got = append(got, c.ID)
			sum += c.Amount
			if c.PayoutID == nil || *c.PayoutID != pay.ID || c.Status != model.CommissionPaid || c.AmbassadorID != ada.ID || c.Currency != "USD" {
				t.Errorf("%s carries %+v, which it did not pay", pay.ID, c)
			}
		}
		if len(got) != pay.Commissions || sum != pay.Amount || !slices.IsSortedFunc(got, func(a, b string) int { return strings.Compare(b, a) }) {
			t.Errorf("%s: got commissions %v summing to %d, want %d newest first summing to %d", pay.ID, got, sum, pay.Commissions, pay.Amount)
		}
		for _, limit := range []int{1, 2, 100} {
			if list := f.commissionIDs(model.CommissionFilter{PayoutID: pay.ID}, limit); !slices.Equal(list, got) {
				t.Errorf("%s: commissions listed by payout_id, %d a page: %v, want %v", pay.ID, limit, list, got)
			}
		}
	}
	if got := f.commissionIDs(model.CommissionFilter{PayoutID: first.ID, AmbassadorID: bob.ID}, 10); len(got) != 0 {
		t.Errorf("payout and another ambassador: got %v, want none", got)
	}
	if got := f.commissionIDs(model.CommissionFilter{PayoutID: first.ID, EarningID: e1.ID}, 10); len(got) != 1 {
		t.Errorf("payout and earning: got %v, want the earning's own commission", got)
	}
	if got := f.commissionIDs(model.CommissionFilter{PayoutID: model.FormatID(model.PrefixPayout, [16]byte{1})}, 10); len(got) != 0 {
		t.Errorf("unknown payout: got %v, want none", got)
	}
	for _, id := range []string{model.FormatID(model.PrefixPayout, [16]byte{1}), "pay_nope", first.AmbassadorID, ""} {
		if _, err := f.s.FindPayoutByID(ctx, id); model.ErrorCode(err) != model.ENotFound {
			t.Errorf("FindPayoutByID(%q): got %v, want not_found", id, err)
		}
	}
}

// A payout of more commissions than a read by ID carries lists the
// newest of them; the list by payout_id has them all.
func TestPayoutByIDIsCapped(t *testing.T) {
	f := newPayoutFixture(t)
	ada := f.ambassador()
	r := f.referral(f.usd, ada)
	const n = model.MaxPayoutCommissions + 5
	for range n {
		f.earn(r, "USD")
	}
	pay := f.pay(ada, "USD")
	d, err := f.s.FindPayoutByID(context.Background(), pay.ID)
	if err != nil {
		t.Fatal(err)
	}
	all := f.commissionIDs(model.CommissionFilter{PayoutID: pay.ID}, model.MaxListLimit)
	if d.Commissions != n || len(d.PaidCommissions) != model.MaxPayoutCommissions || len(all) != n {
		t.Fatalf("got %d commissions counted, %d carried and %d listed; want %d, %d and %d",
			d.Commissions, len(d.PaidCommissions), len(all), n, model.MaxPayoutCommissions, n)
	}
	for i, c := range d.PaidCommissions {
		if c.ID != all[i] {
			t.Fatalf("carried commission %d is %s, want the newest first (%s)", i, c.ID, all[i])
		}
	}
}

// A list from a time stops at it: more older payouts than a page may
// examine do not leave it with has_more and pages to come that are empty.
func TestPayoutListStopsAtTheStartOfItsRange(t *testing.T) {
	f := newPayoutFixture(t)
	ada := f.ambassador()
	r := f.referral(f.usd, ada)
	for range 115 { // more than a page of one examines (10 × 1 + 100)
		f.earn(r, "USD")
		f.pay(ada, "USD")
	}
	f.advance(24 * time.Hour)
	from := model.NewTime(f.clock())
	f.earn(r, "USD")
	last := f.pay(ada, "USD")
	p, err := f.s.FindPayouts(context.Background(), model.PayoutFilter{ListOptions: model.ListOptions{Limit: 1}, From: from})
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Data) != 1 || p.Data[0].ID != last.ID || p.HasMore || p.NextCursor != nil {
		t.Fatalf("got %d payouts, has_more %v; want only %s and no more", len(p.Data), p.HasMore, last.ID)
	}
}
