package api_test

import (
	"encoding/csv"
	"slices"
	"strings"
	"testing"
)

func TestExports(t *testing.T) {
	e := newEnv(t)
	ref, amb := moneySetup(t, e, percentProgram)
	_, _, imp := e.impression()
	e.post("/v1/referrals", map[string]any{"impression_id": imp, "first_name": "=HYPERLINK(\"evil\")", "last_name": "D", "email": "x@example.com"})
	e.earn(ref, 1234, map[string]any{"external_id": "order-7"})

	get := func(path, token string) [][]string {
		t.Helper()
		res := e.call(request{Method: "GET", Path: path, Token: token})
		if res.Status != 200 || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/csv") ||
			!strings.Contains(res.Header.Get("Content-Disposition"), "attachment") {
			t.Fatalf("GET %s: %d %v %s", path, res.Status, res.Header, res.Body)
		}
		rows, err := csv.NewReader(strings.NewReader(string(res.Body))).ReadAll()
		if err != nil {
			t.Fatal(err)
		}
		return rows
	}
	rows := get("/v1/exports/referrals.csv", adminToken)
	if len(rows) != 3 || rows[0][0] != "id" || rows[0][9] != "email" {
		t.Fatalf("referrals.csv: %v", rows)
	}
	if rows[1][7] != `'=HYPERLINK("evil")` {
		t.Fatalf("a formula in a name must be neutralised, got %q", rows[1][7])
	}
	if rows := get("/v1/exports/referrals.csv?ambassador_id="+amb+"&status=converted", adminToken); len(rows) != 2 || rows[1][0] != ref {
		t.Fatalf("filtered referrals.csv: %v", rows)
	}
	if rows := get("/v1/exports/earnings.csv?referral_id="+ref, adminToken); len(rows) != 2 || rows[1][6] != "1234" || rows[1][9] != "order-7" {
		t.Fatalf("earnings.csv: %v", rows)
	}
	if rows := get("/v1/exports/commissions.csv?ambassador_id="+amb, adminToken); len(rows) != 2 || rows[1][8] != "123" {
		t.Fatalf("commissions.csv: %v", rows)
	}
	wantProblem(t, e.call(request{Method: "GET", Path: "/v1/exports/referrals.csv", Token: e.writeToken}), 403, "forbidden")
	wantProblem(t, e.call(request{Method: "GET", Path: "/v1/exports/payouts.csv", Token: e.readToken}), 403, "forbidden")
	wantProblem(t, e.call(request{Method: "GET", Path: "/v1/exports/referrals.csv?limit=5", Token: adminToken}), 400, "validation_failed")
}

func TestAmbassadorAndPayoutExports(t *testing.T) {
	e := newEnv(t)
	payouts, ada, bob := payoutSetup(t, e)
	carolRef, carol := moneySetup(t, e, percentProgram)
	if res := e.earn(carolRef, 1000, nil); res.Status != 201 {
		t.Fatalf("earn: %d %s", res.Status, res.Body)
	}
	odd := e.post("/v1/payouts", map[string]any{"ambassador_id": carol, "currency": "USD", "external_reference": "=HYPERLINK(\"x\")"})
	evil := e.post("/v1/ambassadors", map[string]any{"first_name": "@SUM(A1)", "last_name": "-1+2", "email": "evil@example.com",
		"school": "=cmd", "status": "paused", "metadata": map[string]any{"k": "v"}})
	get := func(path string) [][]string {
		t.Helper()
		res := e.call(request{Method: "GET", Path: path, Token: adminToken})
		if res.Status != 200 || res.Header.Get("Content-Type") != "text/csv; charset=utf-8" {
			t.Fatalf("GET %s: %d %v %s", path, res.Status, res.Header, res.Body)
		}
		kind := strings.TrimSuffix(strings.TrimPrefix(strings.SplitN(path, "?", 2)[0], "/v1/exports/"), ".csv")
		if cd := res.Header.Get("Content-Disposition"); !strings.HasPrefix(cd, `attachment; filename="`+kind+"-") {
			t.Fatalf("GET %s: Content-Disposition %q", path, cd)
		}
		rows, err := csv.NewReader(strings.NewReader(string(res.Body))).ReadAll()
		if err != nil {
			t.Fatal(err)
		}
		return rows
	}
	column := func(rows [][]string, i int) []string {
		var out []string
		for _, r := range rows[1:] {
			out = append(out, r[i])
		}
		return out
	}

	// Ambassadors: every one, newest first, or those of a status.
	rows := get("/v1/exports/ambassadors.csv")
	if want := []string{"id", "created_at", "status", "first_name", "last_name", "email", "school", "metadata"}; !slices.Equal(rows[0], want) {
		t.Fatalf("ambassadors.csv header: got %v, want %v", rows[0], want)
	}
	if got, want := column(rows, 0), []string{evil["id"].(string), carol, bob, ada}; !slices.Equal(got, want) {
		t.Fatalf("ambassadors.csv: got %v, want %v", got, want)
	}
	if want := []string{evil["id"].(string), evil["created_at"].(string), "paused", "'@SUM(A1)", "'-1+2", "evil@example.com", "'=cmd", `{"k":"v"}`}; !slices.Equal(rows[1], want) {
		t.Errorf("ambassadors.csv row: got %q, want %q", rows[1], want)
	}
	if rows := get("/v1/exports/ambassadors.csv?status=paused"); len(rows) != 2 || rows[1][0] != evil["id"] {
		t.Errorf("ambassadors.csv?status=paused: %v", rows)
	}

	// Payouts: the list's filters, newest first.
	rows = get("/v1/exports/payouts.csv")
	if want := []string{"id", "created_at", "ambassador_id", "amount", "currency", "commissions", "external_reference"}; !slices.Equal(rows[0], want) {
		t.Fatalf("payouts.csv header: got %v, want %v", rows[0], want)
	}
	if len(rows) != 6 || rows[1][0] != odd["id"] || rows[1][6] != `'=HYPERLINK("x")` {
		t.Fatalf("payouts.csv: got %v, want the 5 payouts newest first, the formula neutralised", rows)
	}
	first := payouts[0]
	if want := []string{first["id"].(string), first["created_at"].(string), ada, "400", "USD", "2", "bank-0"}; !slices.Equal(rows[5], want) {
		t.Errorf("payouts.csv row: got %q, want %q", rows[5], want)
	}
	for q, want := range map[string][]string{
		"ambassador_id=" + ada:                                        {payouts[3]["id"].(string), payouts[2]["id"].(string), payouts[0]["id"].(string)},
		"ambassador_id=" + ada + "&currency=EUR":                      {payouts[2]["id"].(string)},
		"to=" + payouts[3]["created_at"].(string):                     {payouts[2]["id"].(string), payouts[1]["id"].(string), payouts[0]["id"].(string)},
		"from=" + payouts[3]["created_at"].(string) + "&currency=USD": {odd["id"].(string), payouts[3]["id"].(string)},
	} {
		if got := column(get("/v1/exports/payouts.csv?"+q), 0); !slices.Equal(got, want) {
			t.Errorf("payouts.csv?%s: got %v, want %v", q, got, want)
		}
	}

	// Commissions: the list's payout_id filter too.
	var paid []string
	for _, c := range e.commissions(t, "payout_id="+first["id"].(string)) {
		paid = append(paid, c["id"].(string))
	}
	if got := column(get("/v1/exports/commissions.csv?payout_id="+first["id"].(string)), 0); len(paid) != 2 || !slices.Equal(got, paid) {
		t.Errorf("commissions.csv?payout_id=: got %v, want %v", got, paid)
	}

	for _, path := range []string{"/v1/exports/payouts.csv?currency=usd", "/v1/exports/payouts.csv?limit=5", "/v1/exports/payouts.csv?status=paid",
		"/v1/exports/ambassadors.csv?status=gone", "/v1/exports/ambassadors.csv?cursor=" + ada, "/v1/exports/commissions.csv?payout_id=nope"} {
		wantProblem(t, e.call(request{Method: "GET", Path: path, Token: adminToken}), 400, "validation_failed")
	}
}
