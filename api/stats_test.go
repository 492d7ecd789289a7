package api_test

import (
	"testing"
	"time"
)

func TestFunnelAndLeaderboard(t *testing.T) {
	e := newEnv(t)
	ref, amb := moneySetup(t, e, percentProgram)
	e.earn(ref, 2000, nil) // converts, 10 % = 200 commission
	prgOf := e.call(request{Method: "GET", Path: "/v1/referrals/" + ref, Token: e.readToken}).JSON(t)["program_id"].(string)
	// A second ambassador with a referral that does not convert.
	_, amb2 := moneySetup(t, e, percentProgram)

	f := e.call(request{Method: "GET", Path: "/v1/stats/funnel?program_id=" + prgOf, Token: e.readToken}).JSON(t)
	money := f["earnings"].([]any)[0].(map[string]any)
	if f["impressions"] != 1.0 || f["referrals"] != 1.0 || f["conversions"] != 1.0 || f["scan_to_signup_rate"] != 1.0 ||
		f["signup_to_purchase_rate"] != 1.0 || money["amount"] != 2000.0 || money["commissions"] != 200.0 {
		t.Fatalf("funnel: %v", f)
	}
	all := e.call(request{Method: "GET", Path: "/v1/stats/funnel", Token: e.readToken}).JSON(t)
	if all["referrals"] != 2.0 || all["signup_to_purchase_rate"] != 0.5 {
		t.Fatalf("funnel of everything: %v", all)
	}
	tomorrow := e.clock.Now().Add(24 * time.Hour).Format(time.RFC3339)
	if later := e.call(request{Method: "GET", Path: "/v1/stats/funnel?from=" + tomorrow, Token: e.readToken}).JSON(t); later["referrals"] != 0.0 || later["signup_to_purchase_rate"] != nil {
		t.Fatalf("funnel from tomorrow: %v", later)
	}
	board := e.call(request{Method: "GET", Path: "/v1/stats/leaderboard", Token: e.readToken}).JSON(t)["data"].([]any)
	if len(board) != 2 || board[0].(map[string]any)["ambassador_id"] != amb || board[1].(map[string]any)["ambassador_id"] != amb2 {
		t.Fatalf("leaderboard: %v", board)
	}
	// Each entry names its ambassador as the record has it now.
	e.call(request{Method: "PATCH", Path: "/v1/ambassadors/" + amb2, Token: adminToken, Body: map[string]any{"first_name": "Grace", "last_name": "Hopper"}})
	board = e.call(request{Method: "GET", Path: "/v1/stats/leaderboard?limit=2&program_id=" + prgOf, Token: e.readToken}).JSON(t)["data"].([]any)
	if len(board) != 1 || board[0].(map[string]any)["ambassador_name"] != "A B" {
		t.Fatalf("the program's leaderboard: %v", board)
	}
	board = e.call(request{Method: "GET", Path: "/v1/stats/leaderboard?limit=2", Token: e.readToken}).JSON(t)["data"].([]any)
	if len(board) != 2 || board[1].(map[string]any)["ambassador_name"] != "Grace Hopper" {
		t.Fatalf("leaderboard after a rename: %v", board)
	}
	wantProblem(t, e.call(request{Method: "GET", Path: "/v1/stats/funnel?exclude_flagged=yes", Token: e.readToken}), 400, "validation_failed")
}

// A second signup from one scan is a second referral, not a second
// converted scan: the rates stay between 0 and 1.
func TestFunnelRatesStayWithinOne(t *testing.T) {
	e := newEnv(t)
	prg, _, imp := e.impression()
	for _, email := range []string{"jo@example.com", "sam@example.com"} {
		e.call(request{Method: "POST", Path: "/v1/referrals", Token: e.writeToken,
			Body: map[string]any{"impression_id": imp, "first_name": "J", "last_name": "D", "email": email}})
	}
	f := e.call(request{Method: "GET", Path: "/v1/stats/funnel?program_id=" + prg, Token: e.readToken}).JSON(t)
	if f["impressions"] != 1.0 || f["referrals"] != 2.0 || f["impressions_with_referral"] != 1.0 ||
		f["scan_to_signup_rate"] != 1.0 || f["signup_to_purchase_rate"] != 0.0 {
		t.Fatalf("funnel: %v; want 1 scan, 2 signups, a rate of 1", f)
	}
}
