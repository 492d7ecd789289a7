package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/referrald/referrald/model"
	"github.com/referrald/referrald/store"
)

func TestCLIExportFromTheStore(t *testing.T) {
	dir := t.TempDir()
	st, err := store.Open(filepath.Join(dir, store.FileName), store.Options{SweepInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	p, _, _ := st.CreateProgram(ctx, model.ProgramCreate{Name: "P", LandingURL: "https://x.example"}, model.Idempotency{})
	a, _, _ := st.CreateAmbassador(ctx, model.AmbassadorCreate{FirstName: "A", LastName: "B", Email: "a@x.example"}, model.Idempotency{})
	imp, _, _ := st.CreateImpression(ctx, model.ImpressionCreate{ProgramID: p.ID, AmbassadorID: a.ID}, model.Idempotency{})
	for i := range 150 { // more than one page
		if _, _, err := st.CreateReferral(ctx, model.ReferralCreate{ImpressionID: imp.ID, FirstName: "J", LastName: "D",
			Email: fmt.Sprintf("j%d@x.example", i)}, model.Idempotency{}); err != nil {
			t.Fatal(err)
		}
	}
	st.Close()
	env := testEnv(map[string]string{"REFERRALD_DATA_DIR": dir})
	out := filepath.Join(t.TempDir(), "referrals.csv")
	var stdout, stderr bytes.Buffer
	if code := run([]string{"export", "referrals", "-o", out, "-program_id", p.ID}, env, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	b, _ := os.ReadFile(out)
	if lines := strings.Count(string(b), "\n"); lines != 151 || !strings.Contains(stderr.String(), "exported 150 referrals") {
		t.Fatalf("got %d lines and %q, want a header and 150 rows", lines, stderr.String())
	}
	if code := run([]string{"export", "placements"}, env, &stdout, &stderr); code != exitUsage {
		t.Fatalf("unknown kind: exit %d, want 2", code)
	}
}

func TestCLIExportAmbassadorsAndPayouts(t *testing.T) {
	dir := t.TempDir()
	st, err := store.Open(filepath.Join(dir, store.FileName), store.Options{SweepInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	hold := 0
	p, _, err := st.CreateProgram(ctx, model.ProgramCreate{Name: "P", LandingURL: "https://x.example", HoldDays: &hold,
		Commission: &model.CommissionRule{Type: model.CommissionFlat, Amount: 500, Currency: "USD"}}, model.Idempotency{})
	if err != nil {
		t.Fatal(err)
	}
	var payouts []string
	for i := range 2 {
		a, _, err := st.CreateAmbassador(ctx, model.AmbassadorCreate{FirstName: "=A", LastName: "B", Email: fmt.Sprintf("a%d@x.example", i),
			Status: model.AmbassadorActive}, model.Idempotency{})
		if err != nil {
			t.Fatal(err)
		}
		imp, _, err := st.CreateImpression(ctx, model.ImpressionCreate{ProgramID: p.ID, AmbassadorID: a.ID}, model.Idempotency{})
		if err != nil {
			t.Fatal(err)
		}
		r, _, err := st.CreateReferral(ctx, model.ReferralCreate{ImpressionID: imp.ID, FirstName: "J", LastName: "D",
			Email: fmt.Sprintf("j%d@x.example", i)}, model.Idempotency{})
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := st.CreateEarning(ctx, model.EarningCreate{ReferralID: r.ID, Amount: 1000, Currency: "USD"}, model.Idempotency{}); err != nil {
			t.Fatal(err)
		}
		pay, _, err := st.CreatePayout(ctx, model.PayoutCreate{AmbassadorID: a.ID, Currency: "USD", ExternalReference: "bank"}, model.Idempotency{})
		if err != nil {
			t.Fatal(err)
		}
		payouts = append(payouts, pay.ID)
	}
	st.Close()
	env := testEnv(map[string]string{"REFERRALD_DATA_DIR": dir})
	export := func(args ...string) string {
		t.Helper()
		out := filepath.Join(t.TempDir(), "out.csv")
		var stdout, stderr bytes.Buffer
		if code := run(append([]string{"export"}, append(args, "-o", out)...), env, &stdout, &stderr); code != 0 {
			t.Fatalf("export %v: exit %d: %s", args, code, stderr.String())
		}
		b, _ := os.ReadFile(out)
		return string(b)
	}
	if got := export("ambassadors", "-status", "active"); strings.Count(got, "\n") != 3 || !strings.Contains(got, ",'=A,B,") {
		t.Errorf("ambassadors: got %q, want a header and 2 rows, the formula neutralised", got)
	}
	if got := export("payouts", "-currency", "USD"); strings.Count(got, "\n") != 3 || !strings.Contains(got, payouts[0]) {
		t.Errorf("payouts: got %q, want a header and 2 rows", got)
	}
	if got := export("payouts", "-currency", "EUR"); strings.Count(got, "\n") != 1 {
		t.Errorf("payouts in EUR: got %q, want the header alone", got)
	}
	if got := export("commissions", "-payout_id", payouts[1]); strings.Count(got, "\n") != 2 || !strings.Contains(got, payouts[1]) {
		t.Errorf("commissions of a payout: got %q, want a header and 1 row", got)
	}
}
