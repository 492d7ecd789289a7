package model_test

import (
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/referrald/referrald/model"
)

func TestIDsSortByCreationAndRoundTrip(t *testing.T) {
	g := model.NewIDGenerator()
	now := time.Now()
	prev := ""
	for i := range 1000 {
		// Many IDs in one millisecond must still increase.
		id := model.FormatID(model.PrefixReferral, g.New(now.Add(time.Duration(i/100)*time.Millisecond)))
		if id != strings.ToLower(id) || !strings.HasPrefix(id, "ref_") || len(id) != 30 {
			t.Fatalf("got %q, want ref_ and 26 lowercase characters", id)
		}
		if id <= prev {
			t.Fatalf("got %s after %s, want increasing IDs", id, prev)
		}
		key, ok := model.ParseID(model.PrefixReferral, id)
		if !ok || model.FormatID(model.PrefixReferral, key) != id {
			t.Fatalf("round trip of %s failed", id)
		}
		prev = id
	}
	for _, bad := range []string{"", "ref_", "ref_123", "imp_01jdq3f7k8m2n4p6r8t0v2x4z6", "ref01jdq3f7k8m2n4p6r8t0v2x4z6", "ref_01jdq3f7k8m2n4p6r8t0v2x4zu", "ref_81jdq3f7k8m2n4p6r8t0v2x4z6"} {
		if _, ok := model.ParseID(model.PrefixReferral, bad); ok {
			t.Errorf("ParseID(%q) accepted it", bad)
		}
	}
}

func TestNormalizeEmail(t *testing.T) {
	cases := []struct{ in, want string }{
		{"john.doe@example.com", "john.doe@example.com"},
		{" John.Doe@EXAMPLE.Com ", "John.Doe@example.com"},
		{"a+tag@sub.example.co.uk", "a+tag@sub.example.co.uk"},
		{"x@xn--bcher-kva.example", "x@xn--bcher-kva.example"},
		{"o'brien@example.ie", "o'brien@example.ie"},
		{"john@example", ""},
		{"john@.example.com", ""},
		{"john@example..com", ""},
		{"john@-example.com", ""},
		{".john@example.com", ""},
		{"jo..hn@example.com", ""},
		{"john@example.c", ""},
		{"john@example.c0m", ""},
		{"\"john\"@example.com", ""},
		{"John <john@example.com>", ""},
		{"john@exa mple.com", ""},
		{"@example.com", ""},
		{strings.Repeat("a", 65) + "@example.com", ""},
	}
	for _, c := range cases {
		got, ok := model.NormalizeEmail(c.in)
		if c.want == "" && ok {
			t.Errorf("NormalizeEmail(%q) = %q, want it refused", c.in, got)
		}
		if c.want != "" && (!ok || got != c.want) {
			t.Errorf("NormalizeEmail(%q) = %q, %v; want %q", c.in, got, ok, c.want)
		}
	}
}

func TestStatusTransitions(t *testing.T) {
	all := []model.ReferralStatus{model.ReferralPending, model.ReferralConverted, model.ReferralRejected}
	allowed := map[[2]model.ReferralStatus]bool{
		{model.ReferralPending, model.ReferralPending}:     true,
		{model.ReferralPending, model.ReferralConverted}:   true,
		{model.ReferralPending, model.ReferralRejected}:    true,
		{model.ReferralConverted, model.ReferralConverted}: true,
		{model.ReferralRejected, model.ReferralRejected}:   true,
	}
	for _, from := range all {
		for _, to := range all {
			if got := from.CanBecome(to); got != allowed[[2]model.ReferralStatus{from, to}] {
				t.Errorf("%s → %s: got %v", from, to, got)
			}
		}
	}
}

func TestFraudFlags(t *testing.T) {
	clean := model.SignupFacts{Email: "j@example.com", AmbassadorEmail: "a@uni.example", SinceScan: time.Minute}
	cases := []struct {
		name  string
		edit  func(*model.SignupFacts)
		flags string
	}{
		{"clean", func(*model.SignupFacts) {}, "[]"},
		{"self referral", func(f *model.SignupFacts) { f.Email = "A@Uni.example" }, "[self_referral]"},
		{"impression reused", func(f *model.SignupFacts) { f.ReferralsFromImpression = model.MaxReferralsPerImpression }, "[impression_reused]"},
		{"impression shared a little", func(f *model.SignupFacts) { f.ReferralsFromImpression = model.MaxReferralsPerImpression - 1 }, "[]"},
		{"duplicate email", func(f *model.SignupFacts) { f.EmailReferredInProgram = true }, "[duplicate_email]"},
		{"disposable email", func(f *model.SignupFacts) { f.Email = "x@Mailinator.com" }, "[disposable_email]"},
		{"fast signup", func(f *model.SignupFacts) { f.SinceScan = 3 * time.Second }, "[fast_signup]"},
		{"not a scan", func(f *model.SignupFacts) { f.SinceScan = -1 }, "[]"},
		{"several", func(f *model.SignupFacts) { f.Email = "a@uni.example"; f.EmailReferredInProgram = true }, "[self_referral duplicate_email]"},
	}
	for _, c := range cases {
		f := clean
		c.edit(&f)
		if got := fmt.Sprint(model.FraudFlags(f)); got != c.flags {
			t.Errorf("%s: got %s, want %s", c.name, got, c.flags)
		}
	}
}

// FuzzParseID: whatever ParseID accepts must format back to the same ID
// (lower-cased) and never panic.
func FuzzParseID(f *testing.F) {
	for _, s := range []string{"ref_01jdq3f7k8m2n4p6r8t0v2x4z6", "ref_01JDQ3F7K8M2N4P6R8T0V2X4Z6", "ref_", "ref_81jdq3f7k8m2n4p6r8t0v2x4z6", "imp_123abc", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		key, ok := model.ParseID(model.PrefixReferral, s)
		if !ok {
			return
		}
		if got := model.FormatID(model.PrefixReferral, key); got != strings.ToLower(s) {
			t.Fatalf("ParseID(%q) formats back as %q", s, got)
		}
	})
}

func TestMulDiv(t *testing.T) {
	for _, c := range []struct{ a, b, d, want int64 }{
		{1001, 333, 10000, 33}, // 33.33
		{5, 1, 2, 2},           // 2.5, half to even
		{7, 1, 2, 4},           // 3.5
		{-7, 1, 2, -4},
		{-5, 1, 2, -2},
		{3, -4, 5, -2}, // -2.4
		// A clawback's share of a large commission: the product is 1e19,
		// past int64.
		{5_000_000_000, 2_000_000_000, 10_000_000_000, 1_000_000_000},
		{-model.MaxAmount, model.MaxAmount, model.MaxAmount, -model.MaxAmount},
		{math.MaxInt64, math.MaxInt64, 1, math.MaxInt64}, // saturates
		{math.MinInt64, 1, 1, -math.MaxInt64},
	} {
		if got := model.MulDiv(c.a, c.b, c.d); got != c.want {
			t.Errorf("MulDiv(%d, %d, %d) = %d, want %d", c.a, c.b, c.d, got, c.want)
		}
	}
}

func TestValidCurrency(t *testing.T) {
	for s, want := range map[string]bool{
		"USD": true, "EUR": true, "JPY": true, "CHF": true, "BHD": true,
		"VES": true, "MRU": true, "SLE": true, "ZWG": true, "XCG": true, // new since 2017
		"BGN": true, "HRK": true, // withdrawn, for what was recorded in them
		"XYZ": false, // the right shape, but no such currency
		"XXX": false, // "no currency"
		"XTS": false, // reserved for testing
		"DEM": false, // withdrawn long ago
		"usd": false, "US": false, "USDD": false, "": false, "U$D": false,
	} {
		if got := model.ValidCurrency(s); got != want {
			t.Errorf("model.ValidCurrency(%q) = %v, want %v", s, got, want)
		}
	}
}
