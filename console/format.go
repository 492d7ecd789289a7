package console

import (
	"strconv"
	"strings"
	"time"

	"github.com/referrald/referrald/model"
)

// How pages show numbers, money and time. Amounts are integers in the
// currency's minor unit everywhere else; people read and type them in
// the major unit ("19.99"), so the console converts both ways here, with
// the currency's own number of decimals (model.CurrencyDigits).

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

// formatMoney shows amount, in cur's minor unit, as "USD 1,234.56".
func formatMoney(amount int64, cur string) string { return model.FormatMoney(amount, cur) }

// parseAmount reads a non-negative amount in cur's major unit ("19.99",
// "20", "1,000.50") into its minor unit, or reports false. It takes no
// more decimals than the currency has, so nothing is rounded away.
func parseAmount(s, cur string) (int64, bool) {
	return parseDecimal(strings.ReplaceAll(strings.TrimSpace(s), ",", ""), model.CurrencyDigits(cur))
}

// parseDecimal reads a non-negative decimal with at most digits decimals
// into an integer scaled by 10^digits.
func parseDecimal(s string, digits int) (int64, bool) {
	whole, frac, hasFrac := strings.Cut(s, ".")
	if whole == "" && !hasFrac || len(frac) > digits || hasFrac && frac == "" || len(whole) > 15 {
		return 0, false
	}
	if whole == "" {
		whole = "0"
	}
	for _, part := range []string{whole, frac} {
		for i := 0; i < len(part); i++ {
			if part[i] < '0' || part[i] > '9' {
				return 0, false
			}
		}
	}
	frac += strings.Repeat("0", digits-len(frac))
	n, err := strconv.ParseInt(whole+frac, 10, 64)
	return n, err == nil
}

// formatPercentBP shows basis points as a percentage: 1250 → "12.5".
func formatPercentBP(bp int64) string {
	s := strconv.FormatInt(bp/100, 10)
	if rest := bp % 100; rest != 0 {
		s += "." + strings.TrimRight(strconv.FormatInt(100+rest, 10)[1:], "0")
	}
	return s
}

// formatRate shows a rate between 0 and 1 as a percentage with one
// decimal, or a dash when there is none (nothing to divide by).
func formatRate(r *float64) string {
	if r == nil {
		return "–"
	}
	return strconv.FormatFloat(*r*100, 'f', 1, 64) + "%"
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

// dateValue is a date input's value: "2026-11-02".
func dateValue(t time.Time) string { return t.UTC().Format(time.DateOnly) }

// inWords says a duration in its largest whole unit: "12 hours",
// "7 days", "90 minutes".
func inWords(d time.Duration) string {
	unit := func(n int64, name string) string {
		if n == 1 {
			return "1 " + name
		}
		return strconv.FormatInt(n, 10) + " " + name + "s"
	}
	switch {
	case d >= 24*time.Hour && d%(24*time.Hour) == 0:
		return unit(int64(d/(24*time.Hour)), "day")
	case d >= time.Hour && d%time.Hour == 0:
		return unit(int64(d/time.Hour), "hour")
	case d >= time.Minute:
		return unit(int64(d/time.Minute), "minute")
	}
	return unit(int64(d/time.Second), "second")
}
