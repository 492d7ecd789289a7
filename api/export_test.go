package api_test

import (
	"encoding/csv"
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
	wantProblem(t, e.call(request{Method: "GET", Path: "/v1/exports/referrals.csv?limit=5", Token: adminToken}), 400, "validation_failed")
}
