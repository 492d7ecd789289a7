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
	if code := run([]string{"export", "payouts"}, env, &stdout, &stderr); code != exitUsage {
		t.Fatalf("unknown kind: exit %d, want 2", code)
	}
}
