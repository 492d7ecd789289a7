package portal

import (
	"testing"

	"github.com/referrald/referrald/model"
)

// A commission says in words how it was computed, from its basis.
func TestDescribeBasis(t *testing.T) {
	plugin, note := "bonus", "first sign-up of the term"
	percent := &model.CommissionRule{Type: model.CommissionPercent, BasisPoints: 1000}
	for _, tc := range []struct {
		name string
		c    model.Commission
		want string
	}{
		{"percent", model.Commission{Kind: model.CommissionEarning, Amount: 490, Currency: "EUR",
			Basis: model.CommissionBasis{Source: "rule", Rule: percent, EarningAmount: 4900, Note: "1000 bp of 4900"}},
			"10 % of a 49.00 EUR purchase"},
		{"capped", model.Commission{Kind: model.CommissionEarning, Amount: 2000, Currency: "USD",
			Basis: model.CommissionBasis{Source: "rule", Rule: &model.CommissionRule{Type: model.CommissionPercent, BasisPoints: 1250, Caps: map[string]int64{"USD": 2000}}, EarningAmount: 100000}},
			"12.5 % of a 1,000.00 USD purchase, capped at 20.00 USD"},
		{"flat", model.Commission{Kind: model.CommissionEarning, Amount: 500, Currency: "USD",
			Basis: model.CommissionBasis{Source: "rule", Rule: &model.CommissionRule{Type: model.CommissionFlat, Amount: 500, Currency: "USD"}}},
			"Flat 5.00 USD per purchase"},
		{"clawback", model.Commission{Kind: model.CommissionClawback, Amount: -200, Currency: "EUR",
			Basis: model.CommissionBasis{Source: "rule", Rule: percent, EarningAmount: 2000}},
			"10 % of a 20.00 EUR refund"},
		{"plugin", model.Commission{Kind: model.CommissionBounty, Amount: 300, Currency: "EUR",
			Basis: model.CommissionBasis{Source: "plugin", Plugin: &plugin, Note: note}},
			"Set by the plugin bonus: first sign-up of the term"},
		{"yen", model.Commission{Kind: model.CommissionEarning, Amount: 120, Currency: "JPY",
			Basis: model.CommissionBasis{Source: "rule", Rule: percent, EarningAmount: 1200}},
			"10 % of a 1,200 JPY purchase"},
	} {
		if got := describeBasis(&tc.c); got != tc.want {
			t.Errorf("%s: got %q, want %q", tc.name, got, tc.want)
		}
	}
}

// A referred person is their first name and last initial, never more.
func TestPersonName(t *testing.T) {
	now := model.Time{}
	for _, tc := range []struct {
		ref  model.Referral
		want string
	}{
		{model.Referral{FirstName: "Jo", LastName: "Doe"}, "Jo D."},
		{model.Referral{FirstName: "Zoë", LastName: "  élan-Smith"}, "Zoë É."},
		{model.Referral{FirstName: "Mononym", LastName: ""}, "Mononym"},
		{model.Referral{FirstName: "Jo", LastName: "'Brien"}, "Jo B."},
		{model.Referral{FirstName: "", LastName: "", ErasedAt: &now}, "Someone (details removed)"},
	} {
		if got := personName(&tc.ref); got != tc.want {
			t.Errorf("%q %q: got %q, want %q", tc.ref.FirstName, tc.ref.LastName, got, tc.want)
		}
	}
}
