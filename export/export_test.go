package export

import (
	"slices"
	"testing"
)

func TestTextNeutralisesFormulas(t *testing.T) {
	for in, want := range map[string]string{
		"=HYPERLINK(\"x\")": "'=HYPERLINK(\"x\")",
		"+1":                "'+1",
		"-2+3":              "'-2+3",
		"@SUM(A1)":          "'@SUM(A1)",
		"\tx":               "'\tx",
		"John":              "John",
		"":                  "",
		"a=b":               "a=b",
	} {
		if got := text(in); got != want {
			t.Errorf("text(%q) = %q, want %q", in, got, want)
		}
	}
}

// Each flag reaches the filters of the kinds that have it, and a time
// that is not RFC 3339 is refused by its flag's name.
func TestParseFilter(t *testing.T) {
	flags := map[string]string{"program_id": "prg_1", "ambassador_id": "amb_1", "status": "paid",
		"currency": "EUR", "from": "2024-09-01T00:00:00Z"}
	f, err := ParseFilter(func(name string) string { return flags[name] })
	if err != nil {
		t.Fatal(err)
	}
	if f.Referral.ProgramID != "prg_1" || f.Referral.AmbassadorID != "amb_1" || f.Referral.Status != "paid" {
		t.Errorf("got referral filter %+v", f.Referral)
	}
	if f.Earning.ProgramID != "prg_1" || f.Earning.From.IsZero() || !f.Earning.To.IsZero() {
		t.Errorf("got earning filter %+v, want the program and from only", f.Earning)
	}
	if f.Payout.Currency != "EUR" || f.Payout.AmbassadorID != "amb_1" || f.Payout.From != f.Earning.From {
		t.Errorf("got payout filter %+v", f.Payout)
	}
	if f.Ambassador.Status != "paid" || f.Commission.Status != "paid" {
		t.Errorf("got ambassador %+v and commission %+v, want the status in both", f.Ambassador, f.Commission)
	}
	for name := range flags {
		if !slices.Contains(FilterNames, name) {
			t.Errorf("%s is not in FilterNames", name)
		}
	}

	flags["to"] = "2024-09-30"
	if _, err := ParseFilter(func(name string) string { return flags[name] }); err == nil || err.Error() != "-to must be an RFC 3339 timestamp" {
		t.Errorf("a date without a time: got %v, want -to refused", err)
	}
}
