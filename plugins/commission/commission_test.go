package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/referrald/referrald/hooks"
)

func TestPercentOfRoundsHalfToEven(t *testing.T) {
	cases := []struct{ amount, bp, want int64 }{
		{1999, 1000, 200},   // 199.9 → 200
		{1995, 1000, 200},   // 199.5 → 200 (even)
		{1985, 1000, 198},   // 198.5 → 198 (even)
		{1005, 5000, 502},   // 502.5 → 502
		{1015, 5000, 508},   // 507.5 → 508
		{1, 4999, 0},        // 0.4999 → 0
		{-1995, 1000, -200}, // refunds round the same way
		{-1985, 1000, -198},
		{0, 1000, 0},
	}
	for _, c := range cases {
		if got := percentOf(c.amount, c.bp); got != c.want {
			t.Errorf("percentOf(%d, %d) = %d, want %d", c.amount, c.bp, got, c.want)
		}
	}
}

func TestOnEvent(t *testing.T) {
	p := &plugin{cfg: Config{
		Default: Rule{SignupBounty: &Money{Amount: 200, Currency: "USD"}},
		Programs: map[string]Rule{"prg_a": {SignupBounty: &Money{Amount: 500, Currency: "EUR"},
			EarningBasisPoints: 1000, EarningCap: 2000}},
	}}
	ctx := context.Background()
	cases := []struct {
		name, typ, data string
		amount          int64
		currency        string
	}{
		{"bounty by program", hooks.EventReferralCreated, `{"id":"ref_1","program_id":"prg_a","ambassador_id":"amb_1"}`, 500, "EUR"},
		{"default bounty", hooks.EventReferralCreated, `{"id":"ref_2","program_id":"prg_b","ambassador_id":"amb_1"}`, 200, "USD"},
		{"percent of an earning", hooks.EventEarningCreated, `{"id":"ern_1","program_id":"prg_a","ambassador_id":"amb_1","amount":1995,"currency":"EUR"}`, 200, "EUR"},
		{"capped", hooks.EventEarningCreated, `{"id":"ern_2","program_id":"prg_a","ambassador_id":"amb_1","amount":50000,"currency":"EUR"}`, 2000, "EUR"},
		{"no percent by default", hooks.EventEarningCreated, `{"id":"ern_3","program_id":"prg_b","ambassador_id":"amb_1","amount":50000,"currency":"USD"}`, 0, ""},
	}
	for _, c := range cases {
		res, err := p.OnEvent(ctx, hooks.Event{ID: "evt_1", Type: c.typ, Data: []byte(c.data)})
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		switch {
		case c.amount == 0 && res.Commission != nil:
			t.Errorf("%s: got %+v, want no commission", c.name, res.Commission)
		case c.amount != 0 && (res.Commission == nil || res.Commission.Amount != c.amount || res.Commission.Currency != c.currency ||
			res.Commission.AmbassadorID != "amb_1" || res.Commission.Reason == ""):
			t.Errorf("%s: got %+v, want %d %s for amb_1 with a reason", c.name, res.Commission, c.amount, c.currency)
		}
	}
	if _, err := p.OnEvent(ctx, hooks.Event{Type: hooks.EventReferralCreated, Data: []byte("{")}); err == nil {
		t.Error("a malformed payload must be an error, to be retried and dead-lettered")
	}
}

func TestLoadConfig(t *testing.T) {
	dir := t.TempDir()
	write := func(s string) string {
		p := filepath.Join(dir, "c.yaml")
		os.WriteFile(p, []byte(s), 0o600)
		return p
	}
	if _, err := loadConfig(write("default:\n  signup_bounty: {amount: 100, currency: USD}\n")); err != nil {
		t.Fatal(err)
	}
	for body, want := range map[string]string{
		"default:\n  bounty: 5\n":                                "bounty",
		"programs:\n  prg_a:\n    earning_basis_points: 20000\n": "programs.prg_a",
	} {
		if _, err := loadConfig(write(body)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: got %v, want an error naming %s", body, err, want)
		}
	}
}
