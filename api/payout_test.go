package api_test

import (
	"fmt"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"
)

// payoutSetup pays out two ambassadors, one of them in two currencies and
// twice, an hour apart, and returns the payouts oldest first and the
// ambassadors.
func payoutSetup(t *testing.T, e *env) (payouts []map[string]any, ada, bob string) {
	t.Helper()
	usdRef, ada := moneySetup(t, e, percentProgram)
	bobRef, bob := moneySetup(t, e, percentProgram)
	eurProgram := map[string]any{"name": "EUR", "landing_url": "https://example.com", "hold_days": 0,
		"commission": map[string]any{"type": "flat", "amount": 300, "currency": "EUR"}}
	prg := e.post("/v1/programs", eurProgram)
	imp := e.post("/v1/impressions", map[string]any{"program_id": prg["id"], "ambassador_id": ada})
	eurRef := e.post("/v1/referrals", validReferral(imp["id"].(string)))["id"].(string)
	pay := func(amb, currency string) {
		t.Helper()
		payouts = append(payouts, e.post("/v1/payouts", map[string]any{"ambassador_id": amb, "currency": currency,
			"external_reference": fmt.Sprintf("bank-%d", len(payouts))}))
	}
	for _, r := range []string{usdRef, usdRef, bobRef, eurRef} {
		if res := e.earn(r, 2000, nil); res.Status != 201 {
			t.Fatalf("earn: %d %s", res.Status, res.Body)
		}
	}
	pay(ada, "USD")
	pay(bob, "USD")
	pay(ada, "EUR")
	e.clock.Add(time.Hour)
	e.earn(usdRef, 3000, nil)
	pay(ada, "USD")
	return payouts, ada, bob
}

func TestPayoutList(t *testing.T) {
	e := newEnv(t)
	payouts, ada, bob := payoutSetup(t, e)
	ids := func(which ...int) []string {
		var out []string
		for _, i := range slices.Backward(which) {
			out = append(out, payouts[i]["id"].(string))
		}
		return out
	}
	list := func(q string) (got []string, page map[string]any) {
		t.Helper()
		res := e.call(request{Method: "GET", Path: "/v1/payouts?" + q, Token: e.readToken})
		if res.Status != 200 {
			t.Fatalf("GET /v1/payouts?%s: got %d %s", q, res.Status, res.Body)
		}
		page = res.JSON(t)
		for _, p := range page["data"].([]any) {
			got = append(got, p.(map[string]any)["id"].(string))
		}
		return got, page
	}
	all, page := list("")
	if want := ids(0, 1, 2, 3); !slices.Equal(all, want) || page["has_more"] != false || page["next_cursor"] != nil {
		t.Fatalf("got %v %v, want %v newest first and no more", all, page, want)
	}
	if first := page["data"].([]any)[3].(map[string]any); first["amount"] != 400.0 || first["commissions"] != 2.0 ||
		first["currency"] != "USD" || first["ambassador_id"] != ada || first["external_reference"] != "bank-0" {
		t.Errorf("the first payout reads %v", first)
	}
	var walked []string
	for q := "limit=1"; ; {
		got, page := list(q)
		walked = append(walked, got...)
		if page["has_more"] != true {
			break
		}
		q = "limit=1&cursor=" + page["next_cursor"].(string)
	}
	if !slices.Equal(walked, all) {
		t.Fatalf("paged: got %v, want %v", walked, all)
	}
	// The last payout came an hour after the others.
	last, err := time.Parse(time.RFC3339Nano, payouts[3]["created_at"].(string))
	if err != nil {
		t.Fatal(err)
	}
	split := url.QueryEscape(last.Add(-30 * time.Minute).Format(time.RFC3339))
	for q, want := range map[string][]string{
		"ambassador_id=" + ada:                               ids(0, 2, 3),
		"ambassador_id=" + bob:                               ids(1),
		"currency=EUR":                                       ids(2),
		"ambassador_id=" + bob + "&currency=EUR":             nil,
		"ambassador_id=amb_01jdq3f7k8m2n4p6r8t0v2x4z6":       nil,
		"from=" + split:                                      ids(3),
		"to=" + split:                                        ids(0, 1, 2),
		"to=" + split + "&currency=USD&ambassador_id=" + ada: ids(0),
		"from=2000-01-01T00:00:00Z&to=" + split:              ids(0, 1, 2),
	} {
		if got, _ := list(q); !slices.Equal(got, want) {
			t.Errorf("?%s: got %v, want %v", q, got, want)
		}
	}
	if got, _ := list("ambassador_id=amb_" + strings.ToUpper(ada[4:])); !slices.Equal(got, ids(0, 2, 3)) {
		t.Errorf("an ambassador ID in upper case: got %v, want %v", got, ids(0, 2, 3))
	}

	for q, fields := range map[string][]string{
		"limit=0":       {"limit"},
		"limit=101":     {"limit"},
		"cursor=nope":   {"cursor"},
		"cursor=" + ada: {"cursor"},
		"ambassador_id=nope&currency=usd&from=yesterday": {"ambassador_id", "currency", "from"},
		"currency=XYZ": {"currency"},
		"to=2026-01-01T00:00:00Z&from=2026-01-02T00:00:00Z": {"to"},
		"from=2026-01-01T00:00:00Z&to=2026-01-01T00:00:00Z": {"to"},
		"status=paid":               {"status"},
		"currency=USD&currency=EUR": {"currency"},
	} {
		got := wantProblem(t, e.call(request{Method: "GET", Path: "/v1/payouts?" + q, Token: e.readToken}), 400, "validation_failed")
		if len(got) != len(fields) {
			t.Errorf("?%s: got field errors %v, want %v", q, got, fields)
		}
		for _, f := range fields {
			if got[f] == "" {
				t.Errorf("?%s: got field errors %v, want one for %s", q, got, f)
			}
		}
	}
}

func TestPayoutGet(t *testing.T) {
	e := newEnv(t)
	payouts, ada, _ := payoutSetup(t, e)
	for _, p := range payouts {
		id := p["id"].(string)
		res := e.call(request{Method: "GET", Path: "/v1/payouts/" + id, Token: e.readToken})
		if res.Status != 200 {
			t.Fatalf("GET /v1/payouts/%s: got %d %s", id, res.Status, res.Body)
		}
		got := res.JSON(t)
		for k, v := range p {
			if got[k] != v {
				t.Errorf("%s: got %s %v, want %v as POST answered", id, k, got[k], v)
			}
		}
		paid := got["paid_commissions"].([]any)
		var sum float64
		var listed []string
		for _, c := range paid {
			c := c.(map[string]any)
			sum += c["amount"].(float64)
			listed = append(listed, c["id"].(string))
			if c["payout_id"] != id || c["status"] != "paid" || c["currency"] != p["currency"] || c["ambassador_id"] != p["ambassador_id"] {
				t.Errorf("%s carries a commission it did not pay: %v", id, c)
			}
		}
		if float64(len(paid)) != p["commissions"] || sum != p["amount"] {
			t.Errorf("%s: got %d commissions summing to %v, want %v summing to %v", id, len(paid), sum, p["commissions"], p["amount"])
		}
		var byList []string
		for _, c := range e.commissions(t, "payout_id="+id) {
			byList = append(byList, c["id"].(string))
		}
		if !slices.Equal(byList, listed) {
			t.Errorf("%s: GET /v1/commissions?payout_id= gives %v, want %v", id, byList, listed)
		}
	}
	if got := e.commissions(t, "payout_id="+payouts[0]["id"].(string)+"&ambassador_id="+ada+"&status=pending"); len(got) != 0 {
		t.Errorf("paid commissions filtered by pending: got %v", got)
	}
	if got := e.commissions(t, "payout_id=pay_01jdq3f7k8m2n4p6r8t0v2x4z6"); len(got) != 0 {
		t.Errorf("an unknown payout paid %v", got)
	}
	fields := wantProblem(t, e.call(request{Method: "GET", Path: "/v1/commissions?payout_id=nope", Token: e.readToken}), 400, "validation_failed")
	if fields["payout_id"] != "invalid_value" {
		t.Errorf("a malformed payout_id filter: got %v, want invalid_value", fields)
	}

	// As every GET by ID: an unknown or malformed ID is a 404, and the
	// ULID part may come in upper case.
	for _, id := range []string{"pay_01jdq3f7k8m2n4p6r8t0v2x4z6", "nonsense", "pay_", ada} {
		wantProblem(t, e.call(request{Method: "GET", Path: "/v1/payouts/" + id, Token: e.readToken}), 404, "not_found")
	}
	id := payouts[0]["id"].(string)
	if res := e.call(request{Method: "GET", Path: "/v1/payouts/pay_" + strings.ToUpper(id[4:]), Token: e.readToken}); res.Status != 200 || res.JSON(t)["id"] != id {
		t.Errorf("an ID in upper case: got %d %s", res.Status, res.Body)
	}
	// Reading payouts takes scope read, like the other money reads;
	// recording one still takes admin.
	wantProblem(t, e.call(request{Method: "GET", Path: "/v1/payouts/" + id}), 401, "unauthorized")
	if res := e.call(request{Method: "GET", Path: "/v1/payouts", Token: e.writeToken}); res.Status != 200 {
		t.Errorf("GET /v1/payouts with a write key: got %d", res.Status)
	}
	wantProblem(t, e.call(request{Method: "POST", Path: "/v1/payouts", Token: e.writeToken, Body: map[string]any{}}), 403, "forbidden")
	if res := e.call(request{Method: "DELETE", Path: "/v1/payouts", Token: adminToken}); res.Status != 405 || res.Header.Get("Allow") != "GET, POST" {
		t.Errorf("DELETE /v1/payouts: got %d, Allow %q; want 405 allowing GET, POST", res.Status, res.Header.Get("Allow"))
	}
}
