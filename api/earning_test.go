package api_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/referrald/referrald/model"
)

// moneySetup makes a program with rule, an ambassador, an impression and
// a referral, and returns the referral's and ambassador's IDs.
func moneySetup(t *testing.T, e *env, program map[string]any) (referralID, ambassadorID string) {
	t.Helper()
	p := e.post("/v1/programs", program)
	a := e.post("/v1/ambassadors", map[string]any{"first_name": "A", "last_name": "B", "email": fmt.Sprintf("amb%d@example.com", time.Now().UnixNano())})
	i := e.post("/v1/impressions", map[string]any{"program_id": p["id"], "ambassador_id": a["id"]})
	r := e.post("/v1/referrals", validReferral(i["id"].(string)))
	return r["id"].(string), a["id"].(string)
}

func (e *env) earn(referral string, amount int64, extra map[string]any) response {
	body := map[string]any{"referral_id": referral, "amount": amount, "currency": "USD"}
	for k, v := range extra {
		body[k] = v
	}
	return e.call(request{Method: "POST", Path: "/v1/earnings", Token: e.writeToken, Body: body})
}

func (e *env) commissions(t *testing.T, query string) []map[string]any {
	t.Helper()
	res := e.call(request{Method: "GET", Path: "/v1/commissions?" + query, Token: e.readToken})
	if res.Status != 200 {
		t.Fatalf("commissions: %d %s", res.Status, res.Body)
	}
	var out []map[string]any
	for _, c := range res.JSON(t)["data"].([]any) {
		out = append(out, c.(map[string]any))
	}
	return out
}

func (e *env) balance(t *testing.T, amb string) map[string]any {
	t.Helper()
	res := e.call(request{Method: "GET", Path: "/v1/ambassadors/" + amb + "/balance", Token: e.readToken})
	if res.Status != 200 {
		t.Fatalf("balance: %d %s", res.Status, res.Body)
	}
	bs := res.JSON(t)["balances"].([]any)
	if len(bs) != 1 {
		t.Fatalf("got balances %v, want one currency", bs)
	}
	return bs[0].(map[string]any)
}

var percentProgram = map[string]any{"name": "P", "landing_url": "https://example.com", "hold_days": 0,
	"commission": map[string]any{"type": "percent", "basis_points": 1000, "caps": map[string]any{"USD": 500}}}

func TestEarningConvertsAndPaysCommission(t *testing.T) {
	e := newEnv(t)
	ref, amb := moneySetup(t, e, percentProgram)
	res := e.earn(ref, 1995, map[string]any{"external_id": "order-1", "metadata": map[string]any{"sku": "x"}})
	if res.Status != 201 {
		t.Fatalf("got %d %s", res.Status, res.Body)
	}
	ern := res.JSON(t)
	if ern["status"] != "recorded" || ern["amount"] != 1995.0 || ern["ambassador_id"] != amb || ern["external_id"] != "order-1" {
		t.Fatalf("earning: %v", ern)
	}
	if got := e.call(request{Method: "GET", Path: "/v1/referrals/" + ref, Token: e.readToken}).JSON(t)["status"]; got != "converted" {
		t.Fatalf("referral status: got %v, want converted", got)
	}
	cs := e.commissions(t, "earning_id="+ern["id"].(string))
	if len(cs) != 1 {
		t.Fatalf("got %d commissions, want 1", len(cs))
	}
	c := cs[0]
	basis := c["basis"].(map[string]any)
	// 10 % of 1995 = 199.5, rounded half to even = 200.
	if c["amount"] != 200.0 || c["currency"] != "USD" || c["status"] != "approved" || c["kind"] != "earning" ||
		basis["source"] != "rule" || basis["earning_amount"] != 1995.0 || basis["rounding"] != "half_even" {
		t.Fatalf("commission: %v", c)
	}
	// The cap applies to one earning.
	ref2, _ := moneySetup(t, e, percentProgram)
	big := e.earn(ref2, 100000, nil).JSON(t)
	if c := e.commissions(t, "earning_id="+big["id"].(string))[0]; c["amount"] != 500.0 {
		t.Fatalf("capped commission: got %v, want 500", c["amount"])
	}
	// One transaction wrote the earning's and the conversion's events.
	events, _ := e.st.FindEvents(context.Background(), "", 1000)
	var types []string
	for _, ev := range events {
		types = append(types, ev.Type)
	}
	if fmt.Sprint(types[len(types)-2:]) != "[referral.status_changed earning.created]" {
		t.Fatalf("last events: %v", types)
	}
}

func TestEarningRules(t *testing.T) {
	e := newEnv(t)
	ref, _ := moneySetup(t, e, percentProgram)
	if res := e.earn(ref, 100, map[string]any{"external_id": "order-1"}); res.Status != 201 {
		t.Fatalf("first: %d %s", res.Status, res.Body)
	}
	wantProblem(t, e.earn(ref, 100, map[string]any{"external_id": "order-1"}), 409, "conflict")
	if res := e.earn(ref, 100, map[string]any{"external_id": "order-2"}); res.Status != 201 {
		t.Fatalf("second order: %d %s", res.Status, res.Body)
	}
	fields := wantProblem(t, e.call(request{Method: "POST", Path: "/v1/earnings", Token: e.writeToken,
		Body: map[string]any{"referral_id": "ref_01jdq3f7k8m2n4p6r8t0v2x4z6", "amount": -5, "currency": "usd"}}), 400, "validation_failed")
	if fields["referral_id"] != "not_found" || fields["amount"] != "invalid_value" || fields["currency"] != "invalid_value" {
		t.Fatalf("got %v", fields)
	}
	// Left out is required, not invalid; a made-up currency is invalid.
	fields = wantProblem(t, e.call(request{Method: "POST", Path: "/v1/earnings", Token: e.writeToken,
		Body: map[string]any{"referral_id": ref, "amount": nil}}), 400, "validation_failed")
	if fields["amount"] != "required" || fields["currency"] != "required" || len(fields) != 2 {
		t.Fatalf("amount null, currency left out: got %v", fields)
	}
	fields = wantProblem(t, e.call(request{Method: "POST", Path: "/v1/earnings", Token: e.writeToken,
		Body: map[string]any{"referral_id": ref, "currency": "XYZ"}}), 400, "validation_failed")
	if fields["amount"] != "required" || fields["currency"] != "invalid_value" || len(fields) != 2 {
		t.Fatalf("amount left out, currency XYZ: got %v", fields)
	}
	// A rejected referral cannot earn.
	rej, _ := moneySetup(t, e, percentProgram)
	e.call(request{Method: "PATCH", Path: "/v1/referrals/" + rej, Token: e.writeToken, Body: map[string]any{"status": "rejected"}})
	wantProblem(t, e.earn(rej, 100, nil), 409, "conflict")
	// Idempotent like every create.
	body := map[string]any{"idempotency_key": "order-9"}
	first := e.earn(ref, 700, body)
	again := e.earn(ref, 700, body)
	if again.Header.Get("Idempotent-Replayed") != "true" || again.JSON(t)["id"] != first.JSON(t)["id"] {
		t.Fatalf("replay: %d %s", again.Status, again.Body)
	}
	wantProblem(t, e.earn(ref, 701, body), 422, "idempotency_key_reused")
	// Lists filter by referral, status and time.
	list := e.call(request{Method: "GET", Path: "/v1/earnings?referral_id=" + ref + "&status=recorded", Token: e.readToken}).JSON(t)
	if n := len(list["data"].([]any)); n != 3 {
		t.Fatalf("earnings of the referral: got %d, want 3", n)
	}
	future := e.clock.Now().Add(time.Hour).Format(time.RFC3339)
	if n := len(e.call(request{Method: "GET", Path: "/v1/earnings?from=" + future, Token: e.readToken}).JSON(t)["data"].([]any)); n != 0 {
		t.Fatalf("earnings from the future: got %d", n)
	}
	past := e.clock.Now().Add(-time.Hour).Format(time.RFC3339)
	if n := len(e.call(request{Method: "GET", Path: "/v1/earnings?to=" + past, Token: e.readToken}).JSON(t)["data"].([]any)); n != 0 {
		t.Fatalf("earnings before an hour ago: got %d", n)
	}
	wantProblem(t, e.call(request{Method: "GET", Path: "/v1/earnings?from=yesterday", Token: e.readToken}), 400, "validation_failed")
}

// TestCommissionCapsPerCurrency: a percent rule's caps name their
// currencies, and an earning in a currency they leave out is refused
// rather than paid under a cap nobody chose for it.
func TestCommissionCapsPerCurrency(t *testing.T) {
	e := newEnv(t)
	program := map[string]any{"name": "P", "landing_url": "https://example.com", "hold_days": 0,
		"commission": map[string]any{"type": "percent", "basis_points": 1000, "caps": map[string]any{"USD": 1000, "JPY": 150000}}}
	ref, _ := moneySetup(t, e, program)
	prg := e.call(request{Method: "GET", Path: "/v1/referrals/" + ref, Token: e.readToken}).JSON(t)["program_id"].(string)
	got := e.call(request{Method: "GET", Path: "/v1/programs/" + prg, Token: e.readToken})
	if !strings.Contains(string(got.Body), `"commission":{"type":"percent","basis_points":1000,"caps":{"JPY":150000,"USD":1000}}`) {
		t.Fatalf("program: %s", got.Body)
	}
	for _, c := range []struct {
		amount   int64
		currency string
		want     float64
	}{{20000, "USD", 1000}, {2000000, "JPY", 150000}, {5000, "USD", 500}} {
		res := e.earn(ref, c.amount, map[string]any{"currency": c.currency})
		if res.Status != 201 {
			t.Fatalf("%d %s: got %d %s", c.amount, c.currency, res.Status, res.Body)
		}
		com := e.commissions(t, "earning_id="+res.JSON(t)["id"].(string))[0]
		rule := com["basis"].(map[string]any)["rule"].(map[string]any)
		if com["amount"] != c.want || com["currency"] != c.currency || rule["caps"].(map[string]any)["JPY"] != 150000.0 {
			t.Fatalf("%d %s: commission %v, want %v %s", c.amount, c.currency, com, c.want, c.currency)
		}
	}
	wantProblem(t, e.earn(ref, 5000, map[string]any{"currency": "EUR"}), 409, "conflict")
	if n := len(e.call(request{Method: "GET", Path: "/v1/earnings?referral_id=" + ref, Token: e.readToken}).JSON(t)["data"].([]any)); n != 3 {
		t.Fatalf("got %d earnings, want the 3 in capped currencies", n)
	}

	// What a cap without a currency, or a cap in no currency, would be.
	for _, c := range []struct {
		commission map[string]any
		want       map[string]string
	}{
		{map[string]any{"type": "percent", "basis_points": 1000, "cap": 2000}, map[string]string{"commission.cap": "invalid_value"}},
		{map[string]any{"type": "percent", "basis_points": 1000, "caps": map[string]any{}}, map[string]string{"commission.caps": "invalid_value"}},
		{map[string]any{"type": "percent", "basis_points": 1000, "caps": map[string]any{"usd": 5, "EUR": 0, "JPY": "100"}},
			map[string]string{"commission.caps.usd": "invalid_value", "commission.caps.EUR": "invalid_value", "commission.caps.JPY": "invalid_type"}},
		{map[string]any{"type": "percent", "basis_points": 1000, "caps": []any{1000}}, map[string]string{"commission.caps": "invalid_type"}},
		{map[string]any{"type": "flat", "amount": 500, "currency": "USD", "caps": map[string]any{"USD": 100}}, map[string]string{"commission.caps": "invalid_value"}},
	} {
		res := e.call(request{Method: "POST", Path: "/v1/programs", Token: adminToken,
			Body: map[string]any{"name": "P", "landing_url": "https://example.com", "commission": c.commission}})
		got := wantProblem(t, res, 400, "validation_failed")
		if fmt.Sprint(got) != fmt.Sprint(c.want) {
			t.Errorf("%v: got %v, want %v", c.commission, got, c.want)
		}
	}
	// A cap of 0 meant no cap, and still does.
	e.post("/v1/programs", map[string]any{"name": "P", "landing_url": "https://example.com",
		"commission": map[string]any{"type": "percent", "basis_points": 1000, "cap": 0}})
}

// TestExternalIDIsComparedAsGiven: order ids are the shop's, and some
// shops tell ORDER-1 from order-1, so referrald does not fold case; it
// only trims surrounding spaces, as it does every text field.
func TestExternalIDIsComparedAsGiven(t *testing.T) {
	e := newEnv(t)
	ref, _ := moneySetup(t, e, percentProgram)
	for _, id := range []string{"ORDER-1", "order-1", "Order-1"} {
		if res := e.earn(ref, 100, map[string]any{"external_id": id}); res.Status != 201 || res.JSON(t)["external_id"] != id {
			t.Fatalf("%s: got %d %s, want 201", id, res.Status, res.Body)
		}
	}
	wantProblem(t, e.earn(ref, 100, map[string]any{"external_id": " ORDER-1 "}), 409, "conflict")
	// Unique per referral: another referral's order may carry the same id.
	other, _ := moneySetup(t, e, percentProgram)
	if res := e.earn(other, 100, map[string]any{"external_id": "ORDER-1"}); res.Status != 201 {
		t.Fatalf("another referral: got %d %s, want 201", res.Status, res.Body)
	}
}

// TestErasedReferralCannotEarn: an erased referral is a tombstone kept for
// the counts; a purchase recorded on it would pay a commission for nobody.
func TestErasedReferralCannotEarn(t *testing.T) {
	e := newEnv(t)
	ref, _ := moneySetup(t, e, percentProgram)
	before := e.earn(ref, 1000, nil).JSON(t)
	if res := e.call(request{Method: "DELETE", Path: "/v1/referrals/" + ref, Token: adminToken}); res.Status != 200 {
		t.Fatalf("erase: %d %s", res.Status, res.Body)
	}
	wantProblem(t, e.earn(ref, 1000, nil), 409, "conflict")
	if n := len(e.commissions(t, "")); n != 1 {
		t.Fatalf("got %d commissions, want only the one from before the erasure", n)
	}
	// What was bought before can still be refunded.
	res := e.call(request{Method: "POST", Path: "/v1/earnings/" + before["id"].(string) + "/refund", Token: e.writeToken, Body: map[string]any{}})
	if res.Status != 200 || res.JSON(t)["status"] != "refunded" {
		t.Fatalf("refund after erasure: %d %s", res.Status, res.Body)
	}
}

func TestRefundsClawBackExactly(t *testing.T) {
	e := newEnv(t)
	ref, amb := moneySetup(t, e, map[string]any{"name": "P", "landing_url": "https://example.com",
		"commission": map[string]any{"type": "percent", "basis_points": 333}})
	ern := e.earn(ref, 1001, nil).JSON(t) // 3.33 % of 1001 = 33.33 → 33
	id := ern["id"].(string)
	refund := func(body any) response {
		return e.call(request{Method: "POST", Path: "/v1/earnings/" + id + "/refund", Token: e.writeToken, Body: body})
	}
	// Three partial refunds, then the rest: clawbacks sum to exactly the
	// commission, whatever the rounding of each.
	for _, amount := range []int64{333, 333, 1} {
		if res := refund(map[string]any{"amount": amount}); res.Status != 200 || res.JSON(t)["status"] != "partially_refunded" {
			t.Fatalf("refund %d: %d %s", amount, res.Status, res.Body)
		}
	}
	fields := wantProblem(t, refund(map[string]any{"amount": 1000}), 400, "validation_failed")
	if fields["amount"] != "invalid_value" {
		t.Fatalf("over-refund: %v", fields)
	}
	last := refund(map[string]any{})
	if got := last.JSON(t); last.Status != 200 || got["status"] != "refunded" || got["refunded_amount"] != 1001.0 {
		t.Fatalf("final refund: %d %v", last.Status, got)
	}
	wantProblem(t, refund(map[string]any{}), 409, "conflict")
	var sum float64
	kinds := map[string]int{}
	for _, c := range e.commissions(t, "earning_id="+id) {
		sum += c["amount"].(float64)
		kinds[c["kind"].(string)]++
	}
	// Refunding 1 of 1001 claws back 0.03 of 33, which rounds to nothing
	// and is not recorded; the final refund takes what is left.
	if sum != 0 || kinds["earning"] != 1 || kinds["clawback"] != 3 {
		t.Fatalf("commissions sum to %v with %v; want 0 from one commission and three clawbacks", sum, kinds)
	}
	if b := e.balance(t, amb); b["approved"] != 0.0 || b["pending"] != 0.0 {
		t.Fatalf("balance after a full refund: %v", b)
	}
}

func TestHoldApprovalAndPayout(t *testing.T) {
	e := newEnv(t)
	ref, amb := moneySetup(t, e, map[string]any{"name": "P", "landing_url": "https://example.com", "hold_days": 14,
		"commission": map[string]any{"type": "flat", "amount": 500, "currency": "USD"}})
	e.earn(ref, 5000, nil)
	e.earn(ref, 7000, nil)
	if b := e.balance(t, amb); b["pending"] != 1000.0 || b["approved"] != 0.0 {
		t.Fatalf("during the hold: %v", b)
	}
	payout := func() response {
		return e.call(request{Method: "POST", Path: "/v1/payouts", Token: adminToken,
			Body: map[string]any{"ambassador_id": amb, "currency": "USD", "external_reference": "bank-1"}})
	}
	wantProblem(t, payout(), 409, "conflict")

	// A manager approves one early; the hold ends for the other.
	cs := e.commissions(t, "ambassador_id="+amb)
	res := e.call(request{Method: "POST", Path: "/v1/commissions/" + cs[0]["id"].(string) + "/approve", Token: adminToken})
	if res.Status != 200 || res.JSON(t)["status"] != "approved" {
		t.Fatalf("approve: %d %s", res.Status, res.Body)
	}
	if b := e.balance(t, amb); b["pending"] != 500.0 || b["approved"] != 500.0 {
		t.Fatalf("after approving one: %v", b)
	}
	e.clock.Add(14 * 24 * time.Hour)
	if b := e.balance(t, amb); b["pending"] != 0.0 || b["approved"] != 1000.0 {
		t.Fatalf("after the hold: %v", b)
	}
	res = payout()
	if p := res.JSON(t); res.Status != 201 || p["amount"] != 1000.0 || p["commissions"] != 2.0 || p["external_reference"] != "bank-1" {
		t.Fatalf("payout: %d %v", res.Status, p)
	}
	if b := e.balance(t, amb); b["paid"] != 1000.0 || b["approved"] != 0.0 {
		t.Fatalf("after the payout: %v", b)
	}
	wantProblem(t, e.call(request{Method: "POST", Path: "/v1/commissions/" + cs[0]["id"].(string) + "/approve", Token: adminToken}), 409, "conflict")

	// A refund after payment claws back at once, against the next payout.
	ern := e.call(request{Method: "GET", Path: "/v1/earnings?referral_id=" + ref, Token: e.readToken}).JSON(t)["data"].([]any)[0].(map[string]any)
	e.call(request{Method: "POST", Path: "/v1/earnings/" + ern["id"].(string) + "/refund", Token: e.writeToken, Body: map[string]any{}})
	if b := e.balance(t, amb); b["approved"] != -500.0 || b["paid"] != 1000.0 {
		t.Fatalf("after refunding a paid earning: %v", b)
	}
	wantProblem(t, payout(), 409, "conflict") // nothing positive to pay
	if c, _ := e.st.FindCommissions(context.Background(), model.CommissionFilter{AmbassadorID: amb, Status: model.CommissionPaid}); len(c.Data) != 2 {
		t.Fatalf("paid commissions: %d", len(c.Data))
	}
}

func TestPartialRefundsNeverClawBackMoreThanTheCommission(t *testing.T) {
	e := newEnv(t)
	ref, _ := moneySetup(t, e, map[string]any{"name": "P", "landing_url": "https://example.com",
		"commission": map[string]any{"type": "flat", "amount": 3, "currency": "USD"}})
	id := e.earn(ref, 5, nil).JSON(t)["id"].(string)
	clawed := func() (sum float64) {
		for _, c := range e.commissions(t, "earning_id="+id) {
			if c["kind"] == "clawback" {
				sum += c["amount"].(float64)
			}
		}
		return sum
	}
	// Each refund of 1 is 0.6 of the commission; rounded on its own, each
	// would claw back 1, and four of them 4 of the 3.
	for i, want := range []float64{-1, -1, -2, -2, -3} {
		res := e.call(request{Method: "POST", Path: "/v1/earnings/" + id + "/refund", Token: e.writeToken, Body: map[string]any{"amount": 1}})
		if res.Status != 200 {
			t.Fatalf("refund %d: %d %s", i+1, res.Status, res.Body)
		}
		if got := clawed(); got != want {
			t.Fatalf("after %d of 5 refunded: clawed back %v, want %v", i+1, got, want)
		}
	}
}

func TestLargeRefundClawsBackItsShare(t *testing.T) {
	e := newEnv(t)
	ref, _ := moneySetup(t, e, map[string]any{"name": "P", "landing_url": "https://example.com",
		"commission": map[string]any{"type": "percent", "basis_points": 5000}})
	// 10,000,000,000 minor units (about 96 million rupiah): the commission
	// times the refund is 1e19, past int64.
	id := e.earn(ref, 10_000_000_000, nil).JSON(t)["id"].(string)
	res := e.call(request{Method: "POST", Path: "/v1/earnings/" + id + "/refund", Token: e.writeToken, Body: map[string]any{"amount": 2_000_000_000}})
	if res.Status != 200 {
		t.Fatalf("refund: %d %s", res.Status, res.Body)
	}
	amounts := map[string]float64{}
	for _, c := range e.commissions(t, "earning_id="+id) {
		amounts[c["kind"].(string)] = c["amount"].(float64)
	}
	if amounts["earning"] != 5_000_000_000 || amounts["clawback"] != -1_000_000_000 {
		t.Fatalf("commissions %v, want 5,000,000,000 and a clawback of -1,000,000,000", amounts)
	}
}

func TestApprovingACommissionApprovesItsClawbacks(t *testing.T) {
	e := newEnv(t)
	ref, amb := moneySetup(t, e, map[string]any{"name": "P", "landing_url": "https://example.com", "hold_days": 30,
		"commission": map[string]any{"type": "flat", "amount": 100, "currency": "USD"}})
	id := e.earn(ref, 5000, nil).JSON(t)["id"].(string)
	if res := e.call(request{Method: "POST", Path: "/v1/earnings/" + id + "/refund", Token: e.writeToken, Body: map[string]any{}}); res.Status != 200 {
		t.Fatalf("refund: %d %s", res.Status, res.Body)
	}
	var commission string
	for _, c := range e.commissions(t, "earning_id="+id) {
		if c["kind"] == "earning" {
			commission = c["id"].(string)
		}
	}
	if res := e.call(request{Method: "POST", Path: "/v1/commissions/" + commission + "/approve", Token: adminToken}); res.Status != 200 {
		t.Fatalf("approve: %d %s", res.Status, res.Body)
	}
	// Approved with its clawback, the refunded commission nets to nothing
	// to pay; alone, it would have paid 100 for a refunded sale.
	if b := e.balance(t, amb); b["approved"] != 0.0 || b["pending"] != 0.0 {
		t.Fatalf("balance: %v", b)
	}
	wantProblem(t, e.call(request{Method: "POST", Path: "/v1/payouts", Token: adminToken,
		Body: map[string]any{"ambassador_id": amb, "currency": "USD", "external_reference": "bank-1"}}), 409, "conflict")
}

// A held commission stays pending past its hold period, out of payouts,
// until it is released; only an admin key holds and releases, and the
// conflicts are 409s.
func TestHoldAndReleaseCommission(t *testing.T) {
	e := newEnv(t)
	ref, amb := moneySetup(t, e, map[string]any{"name": "P", "landing_url": "https://example.com", "hold_days": 7,
		"commission": map[string]any{"type": "flat", "amount": 500, "currency": "USD"}})
	e.earn(ref, 5000, nil)
	id := e.commissions(t, "ambassador_id="+amb)[0]["id"].(string)
	act := func(action, token string) response {
		return e.call(request{Method: "POST", Path: "/v1/commissions/" + id + "/" + action, Token: token})
	}
	wantProblem(t, act("hold", e.writeToken), 403, "forbidden")
	res := act("hold", adminToken)
	if c := res.JSON(t); res.Status != 200 || c["on_hold"] != true || c["status"] != "pending" {
		t.Fatalf("hold: %d %s", res.Status, res.Body)
	}
	e.clock.Add(8 * 24 * time.Hour)
	if b := e.balance(t, amb); b["pending"] != 500.0 || b["approved"] != 0.0 {
		t.Fatalf("held past its hold period: %v, want it pending", b)
	}
	wantProblem(t, e.call(request{Method: "POST", Path: "/v1/payouts", Token: adminToken,
		Body: map[string]any{"ambassador_id": amb, "currency": "USD", "external_reference": "bank-1"}}), 409, "conflict")
	res = act("release", adminToken)
	if c := res.JSON(t); res.Status != 200 || c["on_hold"] != false || c["status"] != "approved" {
		t.Fatalf("release: %d %s", res.Status, res.Body)
	}
	if res := act("release", adminToken); res.Status != 200 {
		t.Fatalf("releasing twice: %d %s, want a no-op 200", res.Status, res.Body)
	}
	wantProblem(t, act("hold", adminToken), 409, "conflict")
	wantProblem(t, e.call(request{Method: "POST", Path: "/v1/commissions/com_01jdq3f7k8m2n4p6r8t0v2x4z6/hold", Token: adminToken}), 404, "not_found")
}

// A refund's reason goes to the audit log with the refund; one too long
// is refused with the request's other problems.
func TestRefundReasonIsAudited(t *testing.T) {
	e := newEnv(t)
	ref, _ := moneySetup(t, e, percentProgram)
	id := e.earn(ref, 5000, nil).JSON(t)["id"].(string)
	refund := func(body map[string]any) response {
		return e.call(request{Method: "POST", Path: "/v1/earnings/" + id + "/refund", Token: adminToken, Body: body})
	}
	fields := wantProblem(t, refund(map[string]any{"amount": 0, "reason": strings.Repeat("x", 201)}), 400, "validation_failed")
	if fields["amount"] != "invalid_value" || fields["reason"] != "too_long" {
		t.Fatalf("bad refund: %v, want amount and reason", fields)
	}
	if res := refund(map[string]any{"amount": 1000, "reason": "order returned"}); res.Status != 200 {
		t.Fatalf("refund: %d %s", res.Status, res.Body)
	}
	p := e.audit(t, "?subject="+id+"&action=earning.refunded")
	if len(p.Data) != 1 || !strings.HasSuffix(p.Data[0].Summary, ": order returned") {
		t.Fatalf("audit of the refund: %+v, want its reason", p.Data)
	}
}
