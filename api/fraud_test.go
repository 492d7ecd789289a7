package api_test

import (
	"fmt"
	"testing"
)

func TestFraudSignals(t *testing.T) {
	e := newEnv(t)
	p := e.post("/v1/programs", map[string]any{"name": "P", "landing_url": "https://example.com"})
	a := e.post("/v1/ambassadors", map[string]any{"first_name": "Ada", "last_name": "L", "email": "ada@uni.example"})
	imp := func() string {
		return e.post("/v1/impressions", map[string]any{"program_id": p["id"], "ambassador_id": a["id"]})["id"].(string)
	}
	signup := func(impression, email string) map[string]any {
		t.Helper()
		return e.post("/v1/referrals", map[string]any{"impression_id": impression, "first_name": "J", "last_name": "D", "email": email})
	}
	cases := []struct {
		name, email string
		flags       string
	}{
		{"clean", "first@example.com", "[]"},
		{"the ambassador's own email", "ADA@uni.example", "[self_referral]"},
		{"already referred in the program", "first@example.com", "[duplicate_email]"},
		{"disposable domain", "x@yopmail.com", "[disposable_email]"},
	}
	for _, c := range cases {
		if got := fmt.Sprint(signup(imp(), c.email)["flags"]); got != c.flags {
			t.Errorf("%s: got flags %s, want %s", c.name, got, c.flags)
		}
	}
	// Many signups from one scan: the ones past the limit are flagged.
	shared := imp()
	for i := range 4 {
		r := signup(shared, fmt.Sprintf("s%d@example.com", i))
		want := "[]"
		if i == 3 {
			want = "[impression_reused]"
		}
		if got := fmt.Sprint(r["flags"]); got != want || r["status"] != "pending" {
			t.Errorf("signup %d from one scan: got %s %v, want %s and pending (flags never reject by default)", i, got, r["status"], want)
		}
	}
	// The funnel can leave flagged referrals out.
	all := e.call(request{Method: "GET", Path: "/v1/stats/funnel", Token: e.readToken}).JSON(t)
	clean := e.call(request{Method: "GET", Path: "/v1/stats/funnel?exclude_flagged=true", Token: e.readToken}).JSON(t)
	if all["referrals"] != 8.0 || all["flagged_referrals"] != 4.0 || clean["referrals"] != 4.0 {
		t.Fatalf("funnel: all %v, without flagged %v", all["referrals"], clean["referrals"])
	}

	// A program that rejects on fraud records the referral as rejected.
	strict := e.post("/v1/programs", map[string]any{"name": "Strict", "landing_url": "https://example.com", "fraud_policy": "reject"})
	simp := e.post("/v1/impressions", map[string]any{"program_id": strict["id"], "ambassador_id": a["id"]})["id"].(string)
	if r := signup(simp, "ok@example.com"); r["status"] != "pending" {
		t.Fatalf("clean signup in a strict program: %v", r["status"])
	}
	if r := signup(simp, "ada@uni.example"); r["status"] != "rejected" || fmt.Sprint(r["flags"]) != "[self_referral]" {
		t.Fatalf("self referral in a strict program: %v %v", r["status"], r["flags"])
	}
	fields := wantProblem(t, e.call(request{Method: "POST", Path: "/v1/programs", Token: adminToken,
		Body: map[string]any{"name": "X", "landing_url": "https://example.com", "fraud_policy": "maybe"}}), 400, "validation_failed")
	if fields["fraud_policy"] != "invalid_value" {
		t.Fatalf("got %v", fields)
	}
}
