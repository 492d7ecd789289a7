package portal

import (
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/referrald/referrald/model"
)

// How pages show numbers, money, time and people. Amounts are integers in
// the currency's minor unit; people read them in the major unit, with the
// currency's own number of decimals (model.CurrencyDigits). The console
// has the same formatting in console/format.go.

// formatCount groups the digits of n in threes: 12,345.
func formatCount(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	if neg {
		b.WriteByte('-')
	}
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}

// formatMoney shows amount, in cur's minor unit, as "49.00 EUR".
func formatMoney(amount int64, cur string) string {
	digits := model.CurrencyDigits(cur)
	neg := amount < 0
	if neg {
		amount = -amount
	}
	scale := int64(1)
	for range digits {
		scale *= 10
	}
	s := formatCount(amount / scale)
	if digits > 0 {
		frac := strconv.FormatInt(amount%scale, 10)
		s += "." + strings.Repeat("0", digits-len(frac)) + frac
	}
	if neg {
		s = "−" + s
	}
	return s + " " + cur
}

// formatPercentBP shows basis points as a percentage: 1250 → "12.5".
func formatPercentBP(bp int64) string {
	s := strconv.FormatInt(bp/100, 10)
	if rest := bp % 100; rest != 0 {
		s += "." + strings.TrimRight(strconv.FormatInt(100+rest, 10)[1:], "0")
	}
	return s
}

// formatDate shows the day of t, in UTC as every stored time is:
// "2 Nov 2026".
func formatDate(t model.Time) string {
	if t.IsZero() {
		return "–"
	}
	return t.UTC().Format("2 Jan 2006")
}

// formatDateTime shows t to the minute: "2 Nov 2026, 14:05 UTC".
func formatDateTime(t model.Time) string {
	if t.IsZero() {
		return "–"
	}
	return t.UTC().Format("2 Jan 2006, 15:04 UTC")
}

// personName is how the portal names a person who signed up: first name
// and last initial ("Jo D."), never more, so an ambassador sees who
// joined without the portal handing out their full name or address. An
// erased referral has no name left.
func personName(ref *model.Referral) string {
	if ref.ErasedAt != nil || strings.TrimSpace(ref.FirstName) == "" {
		return "Someone (details removed)"
	}
	name := strings.TrimSpace(ref.FirstName)
	if utf8.RuneCountInString(name) > 40 {
		name = string([]rune(name)[:40]) + "…"
	}
	for _, c := range strings.TrimSpace(ref.LastName) {
		if unicode.IsLetter(c) || unicode.IsDigit(c) {
			return name + " " + string(unicode.ToUpper(c)) + "."
		}
	}
	return name
}

// referralStatus says where a referral stands, for a student.
func referralStatus(st model.ReferralStatus) string {
	switch st {
	case model.ReferralPending:
		return "Signed up"
	case model.ReferralConverted:
		return "Bought"
	case model.ReferralRejected:
		return "Not counted"
	}
	return string(st)
}

// commissionStatus is a commission's status as the portal shows it:
// pending, approved or paid, and "clawed back" for a clawback, whatever
// its own status.
func commissionStatus(c *model.Commission) string {
	if c.Kind == model.CommissionClawback {
		return "clawed back"
	}
	return string(c.Status)
}

// commissionKind says what a commission was paid for.
func commissionKind(c *model.Commission) string {
	switch c.Kind {
	case model.CommissionEarning:
		return "Purchase"
	case model.CommissionClawback:
		return "Refund"
	case model.CommissionBounty:
		return "Sign-up bonus"
	}
	return c.Kind
}

// describeBasis says in words how a commission was computed, from what
// its basis recorded: "10 % of a 49.00 EUR purchase", "flat 5.00 USD per
// purchase", "Set by the plugin bonus: first sign-up".
func describeBasis(c *model.Commission) string {
	b := c.Basis
	what := "purchase"
	switch c.Kind {
	case model.CommissionClawback:
		what = "refund"
	case model.CommissionBounty:
		what = "sign-up"
	}
	var s string
	switch {
	case b.Source == "plugin":
		name := "a plugin"
		if b.Plugin != nil && *b.Plugin != "" {
			name = "the plugin " + *b.Plugin
		}
		s = "Set by " + name
		// A plugin's note is its reason, written for people; a rule's
		// is the arithmetic in minor units, which the words above say.
		if note := strings.TrimSpace(b.Note); note != "" {
			s += ": " + note
		}
	case b.Rule != nil && b.Rule.Type == model.CommissionFlat:
		s = "Flat " + formatMoney(b.Rule.Amount, b.Rule.Currency) + " per " + what
	case b.Rule != nil && b.Rule.Type == model.CommissionPercent:
		s = formatPercentBP(b.Rule.BasisPoints) + " % of a " + formatMoney(b.EarningAmount, c.Currency) + " " + what
		if full := model.PercentOf(b.EarningAmount, b.Rule.BasisPoints); full > abs(c.Amount) && c.Kind != model.CommissionClawback {
			s += ", capped at " + formatMoney(abs(c.Amount), c.Currency)
		}
	default:
		s = "Set by the program's rule"
	}
	return s
}

func abs(v int64) int64 {
	if v < 0 {
		return -v
	}
	return v
}
